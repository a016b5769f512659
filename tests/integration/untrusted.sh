#!/bin/sh
# Definitions the driver runs are untrusted: each case writes a hostile definition and
# runs it through the installed driver ($PREFIX/bin/bincastle). Compiling and
# evaluating it must not reach the host (home, files outside the store, the network),
# must end (time and memory limits) and leave nothing running; a LocalDir must stay inside its repository;
# a killed driver must leave no process behind. TAP on stdout; run by run-as.sh as root
# and as an unprivileged user.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"

[ -x "${PREFIX:-}/bin/bincastle" ] || { echo "Bail out! PREFIX must hold an installed bincastle"; exit 1; }
B=$PREFIX/bin/bincastle

# A repository $R with rootfs/ (busybox) and sys/main.cpp, whose main runs BODY (C++
# statements) before handing a one-layer system to bincastle::main. A private home
# with a secret beside it, and an empty store.
definition() {
    R=$T/repo
    mkdir -p "$R/sys" "$T/home/private"
    [ -d "$R/rootfs" ] || sh "$BUSYBOX_ROOTFS" "$R/rootfs" >/dev/null || fail "busybox-rootfs failed"
    cat >"$R/sys/main.cpp" <<CPP
#include <bincastle/main.hpp>
#include <arpa/inet.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <netinet/in.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

using namespace bincastle;

std::string env(const char* name) { const char* value = std::getenv(name); return value ? value : ""; }

int main(int argc, char** argv) {
$1
    return bincastle::main(argc, argv, Layer(Name("sys"), LocalDir("${2:-../rootfs}"), RunArgs({"/bin/sh"})));
}
CPP
    echo "SECRET-$$-KEY" >"$T/home/private/key"
    chmod 700 "$T/home/private"
    export HOME="$T/home" BINCASTLE_HOME="$T/store"
}

bc() { timeout -k 5 300 "$B" "$@"; }

# The command failed with 125 and said so in exactly one line on stderr (besides the
# notice that the definition was compiled), matching PATTERN.
expect_one_line() {
    [ "$rc" -eq 125 ] || fail "exit status $rc, not 125; stderr: $(cat "$T/err")"
    grep -v "^bincastle: compiling " "$T/err" >"$T/said"
    [ "$(grep -c . "$T/said")" -eq 1 ] || fail "not one line: $(cat "$T/err")"
    grep -q "$1" "$T/said" || fail "no '$1' in: $(cat "$T/err")"
}

# Nothing was built: the store has no layer.
expect_no_layers() {
    [ -z "$(ls "$T/store/layers" 2>/dev/null)" ] || fail "layers were built: $(ls "$T/store/layers")"
}

# Waits (up to 10 s) until no process's command line contains TEXT.
expect_gone() {
    for _ in $(seq 100); do
        pgrep -f -- "$1" >/dev/null || return 0
        sleep 0.1
    done
    fail "still running: $(pgrep -a -f -- "$1")"
}

t_reads_home() {
    # The driver's environment does not reach the definition either.
    definition '
    std::printf("token: %s\n", env("SECRET_TOKEN").c_str());
    std::ifstream in("'"$T"'/home/private/key");
    std::string key;
    if (!std::getline(in, key)) throw std::runtime_error("cannot read the key in the home directory");
    std::printf("%s\n", key.c_str());'
    SECRET_TOKEN="TOKEN-$$" bc plan "$R" sys >"$T/out" 2>"$T/err"
    rc=$?
    expect_one_line "cannot read the key in the home directory"
    ! grep -q "SECRET-$$" "$T/out" "$T/err" || fail "the secret got out"
    grep -qx "token: " "$T/out" || fail "the environment got in: $(cat "$T/out")"
}

t_include_host_file() {
    definition ''
    sed -i "1i #include \"$T/home/private/key\"" "$R/sys/main.cpp"
    bc plan "$R" sys >"$T/out" 2>"$T/err"
    rc=$?
    [ "$rc" -eq 125 ] || fail "exit status $rc, not 125: $(cat "$T/err")"
    grep -q "sys/main.cpp:1:10: fatal error: $T/home/private/key: No such file or directory" "$T/err" ||
        fail "not the compiler's own message: $(cat "$T/err")"
    ! grep -q "SECRET-$$" "$T/out" "$T/err" || fail "the secret got out"
    [ -z "$(ls "$T/store/definitions/bin" 2>/dev/null | grep -v '\.lock$')" ] ||
        fail "a program was cached: $(ls "$T/store/definitions/bin")"
}

t_writes_outside() {
    marker=bincastle-untrusted-$$
    mkdir -p "$T/store"
    # Each write fails, or lands in the sandbox's own /tmp, never on the host.
    definition '
    for (std::string path : {"'"$T/home/written"'", "'"$T/store/written"'", "'"$T/next-to-repo"'",
                             "/tmp/'"$marker"'"})
        std::ofstream(path) << "x";
    throw std::runtime_error("done writing");'
    bc plan "$R" sys >"$T/out" 2>"$T/err"
    rc=$?
    expect_one_line "the definition failed: done writing"
    [ ! -e "$T/home/written" ] && [ ! -e "$T/store/written" ] && [ ! -e "$T/next-to-repo" ] ||
        fail "a file was written outside: $(ls "$T/home" "$T/store" "$T")"
    [ ! -e "/tmp/$marker" ] || { rm -f "/tmp/$marker"; fail "the host's /tmp was written"; }
    expect_no_layers
}

t_network() {
    # A listener on the host's loopback that records every connection it accepts.
    python3 -c '
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
s.settimeout(60)
try:
    while True:
        c, _ = s.accept()
        open(sys.argv[2], "a").write("connected\n")
        c.close()
except socket.timeout:
    pass
' "$T/port" "$T/connections" &
    listener=$!
    on_exit "kill $listener 2>/dev/null"
    for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
    port=$(cat "$T/port") || fail "the listener did not start"
    # The listener answers from the host, so the test can tell a refusal from a dead listener.
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5).close()' "$port" ||
        fail "the host cannot reach its own listener"
    definition '
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons('"$port"');
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        throw std::runtime_error("no network");'
    bc plan "$R" sys >"$T/out" 2>"$T/err"
    rc=$?
    expect_one_line "no network"
    [ "$(grep -c connected "$T/connections")" -eq 1 ] || fail "the definition reached the host: $(cat "$T/connections")"
}

t_daemon() {
    marker="4242.$$"
    definition '
    if (fork() == 0) {
        setsid();
        if (fork() == 0) execl("/bin/sleep", "sleep", "'"$marker"'", static_cast<char*>(nullptr));
        _exit(0);
    }'
    bc build "$R" sys >"$T/out" 2>"$T/err"
    rc=$?
    expect_one_line "exited but left processes running (a daemon?)"
    expect_gone "sleep $marker"
    expect_no_layers
}

t_endless_loop() {
    definition '
    for (volatile bool forever = true; forever;) {
    }'
    bc build --evaluation-timeout 2 "$R" sys >"$T/out" 2>"$T/err"
    rc=$?
    expect_one_line "did not finish evaluating within 2 s"
    expect_gone "$T/store/definitions"
    expect_no_layers
}

t_huge_allocation() {
    definition '
    std::vector<char> big(std::size_t{10} << 30);
    std::printf("%d\n", big[12345]);'
    bc build "$R" sys >"$T/out" 2>"$T/err"
    rc=$?
    expect_one_line "memory"
    expect_gone "$T/store/definitions"
    expect_no_layers
}

t_local_dir_leaves() {
    mkdir -p "$T/outside"
    echo "host file" >"$T/outside/file"
    # From a directory definition: a path out of DIR.
    definition '' "../../outside"
    bc build "$R" sys >"$T/out" 2>"$T/err"
    rc=$?
    expect_one_line "layer 'sys': LocalDir(\"../../outside\") is .*outside the definition's"
    # Through a symlink in the repository.
    ln -s "$T/outside" "$R/escape"
    definition '' "../escape"
    bc build "$R" sys >"$T/out" 2>"$T/err"
    rc=$?
    expect_one_line "LocalDir(\"../escape\") is .*outside"
    # From a git repository: out of its checkout.
    definition '' "../../outside"
    rm "$R/escape"
    git -C "$R" init -q && git -C "$R" add -A && git -C "$R" -c user.name=t -c user.email=t@t commit -qm t ||
        fail "git failed"
    bc build "file://$R" "$(git -C "$R" rev-parse HEAD)" sys >"$T/out" 2>"$T/err"
    rc=$?
    expect_one_line "LocalDir(\"../../outside\") is .*outside the definition's"
    expect_no_layers
    # Inside is fine.
    definition ''
    bc build "$R" sys 2>"$T/err" || fail "a LocalDir inside the repository was refused: $(cat "$T/err")"
}

t_image_layout_leaves() {
    mkdir -p "$T/outside"
    echo '{"schemaVersion":2,"manifests":[]}' >"$T/outside/index.json"
    image='Image("oci:../../outside@sha256:'$(printf '%064d' 0)'")'
    definition "    return bincastle::main(argc, argv, Layer(Name(\"sys\"), RunDep(Layer(Name(\"img\"), $image))));"
    bc build "$R" sys >"$T/out" 2>"$T/err"
    rc=$?
    expect_one_line "layer 'img': Image(\"oci:../../outside\") is .*outside the definition's"
    expect_no_layers
}

t_killed_driver_leaves_nothing() {
    definition '
    std::vector<Layer> slow;
    for (int i = 0; i < 4; ++i)
        slow.push_back(Layer(Name("slow-" + std::to_string(i)), Dep(Layer(Name("base"), LocalDir("../rootfs"))),
                             BuildScript({"sleep 0.7", "mkdir -p /opt", "echo " + std::to_string(i) + " >/opt/" + std::to_string(i)})));
    return bincastle::main(argc, argv, Layer(Name("sys"), RunDeps(slow), RunArgs({"/bin/sh"})));'
    bc build "$R" sys 2>"$T/err" >/dev/null || fail "the first build failed: $(cat "$T/err")"
    i=0
    while [ $i -lt 20 ]; do
        i=$((i + 1))
        # Every build from scratch, with an edited script: a new key each time.
        sed -i "s/sleep 0\.[0-9]*\"/sleep 0.$((i % 9 + 1))\"/" "$R/sys/main.cpp"
        "$B" build "$R" sys >/dev/null 2>&1 &
        driver=$!
        # Anywhere from compiling to evaluating to building: 0 to 3 s.
        sleep "$((i * 37 % 30 / 10)).$((i * 53 % 10))"
        kill -9 $driver 2>/dev/null
        wait $driver 2>/dev/null
        expect_gone "$T/store"
    done
    # A running system too ends with its driver.
    marker="4343.$$"
    "$B" run "$R" sys -- sleep "$marker" >/dev/null 2>&1 &
    driver=$!
    for _ in $(seq 300); do pgrep -f "sleep $marker" >/dev/null && break; sleep 0.1; done
    pgrep -f "sleep $marker" >/dev/null || fail "the system never started"
    kill -9 $driver
    wait $driver 2>/dev/null
    expect_gone "sleep $marker"
    expect_gone "$T/store"
    bc build --progress=json "$R" sys 2>"$T/events" >/dev/null || fail "the build after the kills failed"
    for layer in slow-0 slow-1 slow-2 slow-3 sys; do
        grep -qE "\"event\": \"(built|cached)\", \"layer\": \"$layer\"" "$T/events" ||
            fail "the rerun has no $layer: $(cat "$T/events")"
    done
    # What the killed builds left unfinished is garbage, and gc takes it.
    bc gc 2>"$T/err" || fail "gc failed: $(cat "$T/err")"
    [ -z "$(ls "$T/store/building" 2>/dev/null)" ] || fail "gc left unfinished builds: $(ls "$T/store/building")"
}

tap_case t_reads_home "a definition cannot read the user's home while it is evaluated"
tap_case t_include_host_file "a definition cannot #include a host file: the compiler's own message"
tap_case t_writes_outside "a definition cannot write to the home, the store or next to its repository"
tap_case t_network "a definition cannot reach the host's network"
tap_case t_daemon "a definition that leaves a daemon fails, and the daemon ends with it"
tap_case t_endless_loop "a definition that never ends is stopped at its time limit"
tap_case t_huge_allocation "a definition that allocates 10 GB is held to its memory limit"
tap_case t_local_dir_leaves "a LocalDir that leaves the repository or DIR is refused, by path or symlink"
tap_case t_image_layout_leaves "an OCI layout Image that leaves the repository or DIR is refused"
tap_case t_killed_driver_leaves_nothing "kill -9 of the driver, 20 times during a build and once in a system, leaves no process; the rerun completes"
tap_main
