#!/bin/sh
# Integration tests of the driver: `bincastle run/build/graph` on definitions that the
# cases write as directories and git repositories, compiled by the installed driver
# ($PREFIX/bin/bincastle, a DESTDIR install of the build), with systems entered and
# re-entered, and runs nested from inside. TAP on stdout; run by run-as.sh as root
# and as an unprivileged user.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/processes.sh"
. "$here/web.sh"

[ -x "${PREFIX:-}/bin/bincastle" ] || { echo "Bail out! PREFIX must hold an installed bincastle"; exit 1; }
B=$PREFIX/bin/bincastle

# A repository $R: rootfs/ (busybox), msg/ (a source the system wraps and may
# override), lib/layers.hpp (the repository's own layer library) and sys/main.cpp.
# Every case gets its own store; the compiler is wrapped so that its calls are counted.
setup() {
    R=$T/repo
    mkdir -p "$R/sys" "$R/lib" "$R/msg"
    echo "first message" >"$R/msg/greeting.txt"
    cat >"$R/lib/layers.hpp" <<'CPP'
#pragma once
#include <bincastle/layer.hpp>

namespace layers {
using namespace bincastle;
struct Base { Layer spec() const { return Layer(Name("base"), LocalDir("../rootfs")); } };
struct Msg { Layer spec() const { return Layer(Name("msg"), LocalDir("../msg"), LocalOverride()); } };
struct Repo { Layer spec() const { return Layer(Name("repo"), LocalDir(".."), LocalOverride()); } };
struct Greeting {
    Layer spec() const {
        return Layer(Name("greeting"), Dep(Base{}), BuildDep(Wrap(Msg{}, MountDir("/msg"))),
                     BuildScript({"mkdir -p /opt", "cp /msg/greeting.txt /opt/greeting"}));
    }
};
struct Shout {
    Layer spec() const {
        return Layer(Name("shout"), Dep(Greeting{}), BuildScript({"tr a-z A-Z </opt/greeting >/opt/shout"}));
    }
};
struct Extra {
    Layer spec() const { return Layer(Name("extra"), Dep(Base{}), BuildScript({"mkdir -p /opt", "echo extra >/opt/extra"})); }
};
}  // namespace layers
CPP
    cat >"$R/sys/main.cpp" <<'CPP'
#include <bincastle/main.hpp>
#include "lib/layers.hpp"

using namespace layers;

int main(int argc, char** argv) {
    Layer system(Name("sys"), RunDep(Base{}), RunDep(Shout{}), RunDep(Wrap(Msg{}, MountDir("/msg"))),
                 RunDep(Wrap(Repo{}, MountDir("/src"))),
                 // EXTRA
                 Env("HOME", "/root"), RunArgs({"/bin/sh"}));
    return bincastle::main(argc, argv, system);
}
CPP
    # The compiler runs sandboxed, where only its stdout and stderr reach the host: it
    # says on stderr that it was called.
    cat >"$T/cxx" <<EOF2
#!/bin/sh
echo "cxx: called" >&2
exec c++ "\$@"
EOF2
    chmod +x "$T/cxx"
    # Last: a source written just before a compile starts is compiled but not cached.
    sh "$BUSYBOX_ROOTFS" "$R/rootfs" >/dev/null || fail "busybox-rootfs failed"
    export BINCASTLE_HOME="$T/store" CXX="$T/cxx"
}

bc() { timeout -k 5 300 "$B" "$@"; }
# Root lets a system reach the host only when it says so.
TRUST=
[ "$(id -u)" -ne 0 ] || TRUST=--trust-inside

# How many times the compiler (or linker) was called, by what the driver wrote in FILE.
compiles() { grep -c "^cxx: called" "$1"; }

# The names of the layers with EVENT in a JSON progress file, sorted, on one line.
layers_with() {
    grep "\"event\": \"$1\"" "$2" | sed 's/.*"layer": "\([^"]*\)".*/\1/' | sort | tr '\n' ' '
}

make_git_repo() {
    git -C "$R" init -q -b main && git -C "$R" add -A &&
        git -C "$R" -c user.name=t -c user.email=t@t commit -q -m first || fail "git init failed"
}

t_run_dir() {
    setup
    out=$(bc run "$R" sys -- sh -c 'cat /opt/shout; exit 3' 2>"$T/err")
    rc=$?
    [ "$rc" -eq 3 ] || fail "exit status $rc, expected 3: $(cat "$T/err")"
    [ "$out" = "FIRST MESSAGE" ] || fail "output '$out'"
    grep -q "compiling sys/main.cpp" "$T/err" || fail "no compile progress: $(cat "$T/err")"
}

t_run_git() {
    setup
    make_git_repo
    out=$(bc run "file://$R" main sys -- cat /opt/shout 2>"$T/err") || fail "run failed: $(cat "$T/err")"
    [ "$out" = "FIRST MESSAGE" ] || fail "output '$out'"
    # The ref moves: the next run fetches it.
    echo "second message" >"$R/msg/greeting.txt"
    git -C "$R" -c user.name=t -c user.email=t@t commit -q -am second
    out=$(bc run "file://$R" main sys -- cat /opt/shout 2>"$T/err") || fail "second run failed: $(cat "$T/err")"
    [ "$out" = "SECOND MESSAGE" ] || fail "after the ref moved: '$out'"
    # A local path to the repository, and a bare clone, at a tag and a commit.
    git -C "$R" tag v1
    commit=$(git -C "$R" rev-parse HEAD~1)
    out=$(bc run "$R" v1 sys -- cat /opt/shout 2>"$T/err") || fail "run of a local work tree at a tag failed: $(cat "$T/err")"
    [ "$out" = "SECOND MESSAGE" ] || fail "at v1: '$out'"
    git clone -q --bare "$R" "$T/bare.git" || fail "git clone --bare failed"
    out=$(bc run "$T/bare.git" "$commit" sys -- cat /opt/shout 2>"$T/err") || fail "run of a bare repo failed: $(cat "$T/err")"
    [ "$out" = "FIRST MESSAGE" ] || fail "at the first commit: '$out'"
}

t_run_git_submodule() {
    setup
    # The repository's layer library is a submodule.
    mkdir "$T/layers" && mv "$R/lib/layers.hpp" "$T/layers/" && rmdir "$R/lib"
    git -C "$T/layers" init -q -b main && git -C "$T/layers" add -A &&
        git -C "$T/layers" -c user.name=t -c user.email=t@t commit -q -m layers || fail "git init of the library failed"
    git -C "$R" init -q -b main || fail "git init failed"
    git -C "$R" -c protocol.file.allow=always submodule -q add "$T/layers" lib || fail "git submodule add failed"
    git -C "$R" add -A && git -C "$R" -c user.name=t -c user.email=t@t commit -q -m first || fail "git commit failed"
    out=$(bc run "$R" main sys -- cat /opt/shout 2>"$T/err") || fail "run failed: $(cat "$T/err")"
    [ "$out" = "FIRST MESSAGE" ] || fail "output '$out'"
}

t_second_run_cached() {
    setup
    bc build "$R" sys 2>"$T/err" || fail "build failed: $(cat "$T/err")"
    [ "$(compiles "$T/err")" -eq 2 ] || fail "the compiler was not called to compile and link: $(cat "$T/err")"
    bc run --progress=json "$R" sys -- true 2>"$T/events" || fail "run failed: $(cat "$T/events")"
    [ "$(compiles "$T/events")" -eq 0 ] || fail "the compiler ran again: $(cat "$T/events")"
    [ "$(layers_with built "$T/events")" = "" ] || fail "rebuilt: $(layers_with built "$T/events")"
    [ "$(layers_with cached "$T/events")" = "base greeting msg repo shout sys " ] ||
        fail "cached: $(layers_with cached "$T/events")"
    # A header of the repository's library is an input too.
    echo "// edited" >>"$R/lib/layers.hpp"
    bc build "$R" sys 2>"$T/err" || fail "build after a header edit failed: $(cat "$T/err")"
    [ "$(compiles "$T/err")" -eq 2 ] || fail "a header edit did not recompile: $(cat "$T/err")"
}

t_damaged_program() {
    setup
    bc build "$R" sys 2>"$T/err" || fail "build failed: $(cat "$T/err")"
    program=$(ls "$T"/store/definitions/bin/*/program)
    # run_healed WHAT NOTICE: the next run (which evaluates the definition again)
    # compiles again, says NOTICE, and runs the system.
    run_healed() {
        rm -rf "$T/store/definitions/plans"
        out=$(bc run "$R" sys -- cat /opt/shout 2>"$T/err") || fail "run with a program $1 failed: $(cat "$T/err")"
        [ "$out" = "FIRST MESSAGE" ] || fail "run with a program $1 shows '$out'"
        grep -qF "$2" "$T/err" && [ "$(compiles "$T/err")" -eq 2 ] || fail "a program $1: $(cat "$T/err")"
    }
    # Cut short, as a crash or a full disk leaves it: its entry's check sees it.
    truncate -s 4096 "$program"
    run_healed "cut short" "is damaged (its program is not the one compiled): compiling it again"
    chmod a-x "$program"
    run_healed "not executable" "is damaged (its program is not executable): compiling it again"
    # Damaged past the samples its check reads: it passes, and then cannot be started.
    dd if=/dev/zero of="$program" bs=4096 seek=1 count=16 conv=notrunc 2>/dev/null
    "$program" --help >/dev/null 2>&1
    [ $? -ge 126 ] || fail "the damage left the program able to start: the case needs other damage"
    run_healed "that cannot start" "the compiled definition in the cache cannot be started: compiling it again"
    # Healed: found in the cache again.
    rm -r "$T/store/definitions/plans"
    bc run "$R" sys -- true 2>"$T/err" || fail "the run after healing failed: $(cat "$T/err")"
    [ "$(compiles "$T/err")" -eq 0 ] || fail "compiled once more: $(cat "$T/err")"
}

t_nested_run_adds_a_layer() {
    setup
    out=$(bc run $TRUST "$R" sys -- sh -c '
        sed -i "s|// EXTRA|RunDep(Extra{}),|" /src/sys/main.cpp &&
        /bincastle run --progress=json /src sys -- cat /opt/extra 2>/tmp/events
        echo "inner status $?"
        cat /tmp/events >&2
        /bincastle run --progress=json /src sys -- true 2>/tmp/again
        echo "again status $?"
        grep -c "\"built\"" /tmp/again
        exit 0' 2>"$T/events")
    rc=$?
    case $out in *"
again status 0
0") ;; *) fail "a second nested run failed or built layers: $out" ;; esac
    # The outer definition and the edited one were compiled (and linked) once each.
    [ "$(compiles "$T/events")" -eq 4 ] || fail "compiler calls: $(cat "$T/events")"
    [ "$rc" -eq 0 ] || fail "outer run: $rc: $(cat "$T/events")"
    case $out in *extra*"inner status 0"*) ;; *) fail "inner run said: $out; $(cat "$T/events")" ;; esac
    [ "$(layers_with built "$T/events")" = "extra repo " ] || fail "built inside: $(layers_with built "$T/events")"
    [ "$(layers_with cached "$T/events")" = "base greeting msg shout sys " ] ||
        fail "cached inside: $(layers_with cached "$T/events")"
    # The host's repository is untouched: the system edited its own copy.
    grep -q "// EXTRA" "$R/sys/main.cpp" || fail "the host's main.cpp changed"
}

t_nested_git_and_home() {
    setup
    make_git_repo
    # From inside, a local repository at a ref; the nested system keeps its files
    # between entries, and the clone is made once.
    out=$(bc run $TRUST "$R" sys -- sh -c '
        /bincastle run /src main sys -- sh -c "mkdir -p /root; echo kept >/root/nested-note"
        /bincastle run /src main sys -- cat /root/nested-note' 2>"$T/err")
    [ "$out" = "kept" ] || fail "the nested system's file: '$out'; $(cat "$T/err")"
    [ "$(ls "$T/store/git" | grep -vc lock)" -eq 1 ] || fail "git clones: $(ls "$T/store/git")"
}

t_nested_cannot_reach_host_files() {
    setup
    mkdir "$T/secret" && echo "host secret" >"$T/secret/greeting.txt"
    # An absolute symlink inside resolves inside, whatever the host has at that path.
    out=$(bc run $TRUST "$R" sys -- sh -c "
        ln -s '$T/secret' /peek
        BINCASTLE_OVERRIDE_msg=/peek /bincastle run /src sys -- cat /opt/shout
        echo \"status \$?\"
        /bincastle run /nowhere 2>/tmp/err; echo \"status \$?\"; cat /tmp/err" 2>"$T/err")
    case $out in *"HOST SECRET"*) fail "a nested run read a host file: $out" ;; esac
    case $out in "status 125"*"status 125"*) ;; *) fail "said: $out; $(cat "$T/err")" ;; esac
    # One line, in the system's own terms: no host path.
    last=$(printf '%s\n' "$out" | tail -1)
    case $last in *"/nowhere"*) ;; *) fail "the error does not name /nowhere: $last" ;; esac
    case $last in *"$T"* | *"/proc/"*) fail "the error shows a host path: $last" ;; esac
}

t_root_needs_trust() {
    setup
    [ "$(id -u)" -eq 0 ] || { bc run "$R" sys -- /bincastle build /src sys 2>"$T/err" || fail "a user's system cannot build from inside: $(cat "$T/err")"; return 0; }
    bc run "$R" sys -- /bincastle build /src sys 2>"$T/err"
    rc=$?
    [ "$rc" -eq 125 ] || fail "root without --trust-inside gave $rc"
    grep -q -- "--trust-inside" "$T/err" || fail "no hint: $(cat "$T/err")"
}

t_nested_override_rebuilds_downstream() {
    setup
    out=$(bc run $TRUST "$R" sys -- sh -c '
        echo "$BINCASTLE_OVERRIDE_msg"
        echo "edited inside" >/msg/greeting.txt
        /bincastle run --progress=json /src sys -- cat /opt/shout 2>/tmp/events
        cat /tmp/events >&2' 2>"$T/events") || fail "run failed: $(cat "$T/events")"
    case $out in "/msg"*"EDITED INSIDE") ;; *) fail "inside: $out" ;; esac
    [ "$(layers_with built "$T/events")" = "greeting msg shout " ] || fail "rebuilt: $(layers_with built "$T/events")"
    [ "$(layers_with cached "$T/events")" = "base repo sys " ] || fail "cached: $(layers_with cached "$T/events")"
}

t_nested_leaves_outer_running() {
    setup
    out=$(bc run $TRUST "$R" sys -- sh -c '
        sleep 300 & sleeper=$!
        /bincastle run /src sys -- sh -c "exit 4"
        echo "inner $?"
        kill -0 $sleeper && echo "outer alive"
        kill $sleeper
        exit 6' 2>"$T/err")
    rc=$?
    [ "$rc" -eq 6 ] || fail "outer status $rc: $(cat "$T/err")"
    [ "$out" = "inner 4
outer alive" ] || fail "said: $out; $(cat "$T/err")"
}

t_home_survives() {
    setup
    bc run "$R" sys -- sh -c 'mkdir -p /root && echo kept >/root/note' 2>"$T/err" || fail "first run: $(cat "$T/err")"
    out=$(bc run "$R" sys -- cat /root/note 2>"$T/err") || fail "second run: $(cat "$T/err")"
    [ "$out" = "kept" ] || fail "the note is '$out'"
    # Another system of the same definition starts fresh.
    bc run --system other "$R" sys -- test ! -e /root/note 2>"$T/err" || fail "--system other sees the note"
}

t_systems_rm_fork() {
    setup
    # A note, a deleted file (a whiteout in its upper) and a directory without permissions.
    bc run "$R" sys -- sh -c 'mkdir -p /root/locked && echo mine >/root/note && rm /opt/shout &&
        echo secret >/root/locked/f && chmod 000 /root/locked' 2>"$T/err" || fail "first run: $(cat "$T/err")"
    bc systems >"$T/list" 2>"$T/err" || fail "systems: $(cat "$T/err")"
    name=$(awk 'NR == 2 { print $1 }' "$T/list")
    [ -n "$name" ] && [ "$(grep -c . "$T/list")" -eq 2 ] || fail "not one system listed: $(cat "$T/list")"
    grep -q "^$name  *no  *20[0-9-]* [0-9:]*  *>*[0-9.]* [KMG]*i*B  *$R sys\$" "$T/list" ||
        fail "name, not running, last used, size, origin: $(cat "$T/list")"

    # While it runs: listed as running, neither removed nor forked.
    # pid 1 of the system: it ends on TERM only through its own trap.
    "$B" run "$R" sys -- sh -c 'trap "exit 0" TERM; touch /root/up; sleep 60 & wait' >/dev/null 2>"$T/run-err" &
    runner=$!
    on_exit "kill $runner 2>/dev/null"
    wait_for_file "$T/store/systems/$name/upper/root/up" "the system's start ($(cat "$T/run-err"))"
    bc systems | grep -q "^$name  *yes " || fail "not listed as running: $(bc systems 2>&1)"
    bc rm "$name" >"$T/out" 2>"$T/err"
    rc=$?
    [ "$rc" -eq 125 ] && [ "$(grep -c . "$T/err")" -eq 1 ] && grep -q "is running" "$T/err" ||
        fail "rm of a running system: status $rc, $(cat "$T/err")"
    bc fork "$name" copy 2>"$T/err" && fail "fork of a running system succeeded"
    grep -q "is running" "$T/err" || fail "fork of a running system: $(cat "$T/err")"
    kill "$runner"
    wait "$runner"

    # A fork has the system's files, deletions included, and goes its own way.
    bc fork "$name" copy 2>"$T/err" || fail "fork: $(cat "$T/err")"
    out=$(bc run --system copy "$R" sys -- sh -c 'cat /root/note; test -e /opt/shout || echo gone;
        cat /root/locked/f; echo fork >/root/note' 2>"$T/err") || fail "run of the fork: $(cat "$T/err")"
    [ "$out" = "mine
gone
secret" ] || fail "the fork sees '$out'"
    out=$(bc run "$R" sys -- cat /root/note 2>"$T/err") || fail "rerun: $(cat "$T/err")"
    [ "$out" = "mine" ] || fail "the fork's write reached the original: '$out'"
    bc fork "$name" copy 2>"$T/err" && fail "fork over an existing system succeeded"
    grep -q "exists already" "$T/err" || fail "fork over copy: $(cat "$T/err")"

    # rm removes the files and the record; gc may then remove what only it needed.
    bc rm copy 2>"$T/err" || fail "rm: $(cat "$T/err")"
    [ ! -e "$T/store/systems/copy" ] || fail "systems/copy is still there"
    bc systems | grep -q "^copy " && fail "copy is still listed"
    bc rm copy 2>"$T/err" && fail "rm of a missing system succeeded"
    grep -q "no system 'copy'" "$T/err" || fail "rm of a missing system: $(cat "$T/err")"
    bc rm ../x 2>"$T/err" && fail "rm ../x succeeded"
    layers=$(ls "$T/store/layers" | wc -l)
    bc rm "$name" 2>"$T/err" || fail "rm $name: $(cat "$T/err")"
    bc gc 2>"$T/err" || fail "gc: $(cat "$T/err")"
    [ "$(ls "$T/store/layers" | wc -l)" -lt "$layers" ] || fail "gc kept the layers of the removed system"
}

t_ps_stop() {
    setup
    bc run "$R" sys -- true 2>"$T/err" || fail "first run: $(cat "$T/err")"
    name=$(ls "$T/store/systems")
    [ "$(bc ps | grep -c .)" -eq 1 ] || fail "ps lists a system that does not run: $(bc ps 2>&1)"
    bc stop "$name" 2>"$T/err" && fail "stop of a system that does not run succeeded"
    grep -q "is not running" "$T/err" || fail "stop of a stopped system: $(cat "$T/err")"

    # A system whose command ends on TERM: stop passes TERM on, and it ends by itself.
    "$B" run "$R" sys -- sh -c 'trap "echo term >/root/term; exit 7" TERM; mkdir -p /root; touch /root/up; sleep 60 & wait' \
        >/dev/null 2>"$T/run-err" &
    runner=$!
    on_exit "kill -KILL $runner 2>/dev/null"
    wait_for_file "$T/store/systems/$name/upper/root/up" "the system's start ($(cat "$T/run-err"))"
    bc ps >"$T/ps" 2>"$T/err" || fail "ps: $(cat "$T/err")"
    grep -q "^$name  *$runner  *20[0-9-]* [0-9:]*  *sh -c trap" "$T/ps" || fail "ps: $(cat "$T/ps")"
    bc stop "$name" 2>"$T/err" || fail "stop: $(cat "$T/err")"
    grep -q "stopped $name" "$T/err" || fail "stop said: $(cat "$T/err")"
    wait "$runner"
    rc=$?
    [ "$rc" -eq 7 ] || fail "the run ended with $rc, not its command's 7"
    [ -e "$T/store/systems/$name/upper/root/term" ] || fail "the command never saw TERM"

    # One that ignores TERM (pid 1 without a handler) is killed after --timeout, and
    # nothing of it is left.
    rm -f "$T/store/systems/$name/upper/root/up"
    m=$(unique_number)
    on_exit "kill_with_arg 'sleep $m'"
    # An argument that would forge a line of the system's record is only an argument.
    "$B" run "$R" sys -- sh -c 'touch /root/up; exec sleep "$1"' _ "$m" "$(printf 'x\nsystem 999999')" \
        >/dev/null 2>"$T/run-err" &
    runner=$!
    wait_for_file "$T/store/systems/$name/upper/root/up" "the second start ($(cat "$T/run-err"))"
    [ "$(bc ps | grep -c .)" -eq 2 ] || fail "ps shows more than one line for one system: $(bc ps 2>&1)"
    bc stop --timeout 0.5 "$name" 2>"$T/err" || fail "stop --timeout: $(cat "$T/err")"
    grep -q "killed $name" "$T/err" || fail "stop --timeout said: $(cat "$T/err")"
    wait "$runner"
    [ "$(bc ps | grep -c .)" -eq 1 ] || fail "ps still lists it: $(bc ps 2>&1)"
    wait_gone 5 "$m" || fail "the system's command outlived stop"

    # stop of a system nested in another ends that one only.
    "$B" run $TRUST "$R" sys -- sh -c '/bincastle run --system inner /src sys -- sh -c "trap \"exit 0\" TERM;
        touch /root/up; sleep 60 & wait"; echo "inner ended with $?" >/root/inner-ended; sleep 60 & wait' \
        >/dev/null 2>"$T/run-err" &
    runner=$!
    wait_for_file "$T/store/systems/inner/upper/root/up" "the nested system's start ($(cat "$T/run-err"))"
    bc stop inner 2>"$T/err" || fail "stop inner: $(cat "$T/err")"
    wait_for_file "$T/store/systems/$name/upper/root/inner-ended" "the return to the outer system"
    grep -q "inner ended with 0" "$T/store/systems/$name/upper/root/inner-ended" ||
        fail "the nested run: $(cat "$T/store/systems/$name/upper/root/inner-ended")"
    bc ps | grep -q "^$name " || fail "the outer system ended too: $(bc ps 2>&1)"
    bc stop --timeout 1 "$name" 2>"$T/err" || fail "stop of the outer system: $(cat "$T/err")"
    wait "$runner"
}

# tmux_session COMMAND: a detached tmux session (its own server, 100x30) running the
# shell COMMAND with this case's store and compiler; `screen` prints it, `keys` types,
# `wait_for TEXT` and `wait_prompt PROMPT` wait (30 s at most) until it shows TEXT, or
# until its last line is PROMPT (a shell waiting for input there).
tmux_session() {
    socket=$T/tmux.sock
    tmux -S "$socket" new-session -d -x 100 -y 30 \
        "env BINCASTLE_HOME='$BINCASTLE_HOME' CXX='$CXX' $1" || fail "tmux failed"
    on_exit "tmux -S '$socket' kill-server 2>/dev/null"
}
screen() { tmux -S "$socket" capture-pane -p; }
keys() { tmux -S "$socket" send-keys "$@"; }
# wait_until CONDITION WHAT: until the shell CONDITION holds (it sees $want).
wait_until() {
    n=0
    until eval "$1"; do
        n=$((n + 1))
        [ $n -lt 300 ] || fail "never saw $2; the screen: $(screen)"
        sleep 0.1
    done
}
wait_for() {
    want=$1
    wait_until 'screen | grep -q -e "$want"' "'$want'"
}
wait_prompt() {
    want=$1
    wait_until '[ "$(screen | grep -v "^$" | tail -1)" = "$want" ]' "the prompt '$want'"
}

t_killed_supervisor_leaves_no_socket() {
    setup
    mkdir "$T/tmp" && export TMPDIR="$T/tmp"
    bc run "$R" sys -- true 2>"$T/err" || fail "first run: $(cat "$T/err")"
    name=$(ls "$T/store/systems")
    m=$(unique_number)
    on_exit "kill_with_arg 'sleep $m'"
    "$B" run "$R" sys -- sh -c 'mkdir -p /root; touch /root/up; exec sleep "$1"' _ "$m" >/dev/null 2>"$T/run-err" &
    runner=$!
    on_exit "kill -KILL $runner 2>/dev/null"
    wait_for_file "$T/store/systems/$name/upper/root/up" "the system's start ($(cat "$T/run-err"))"
    kill -KILL "$runner"
    wait "$runner"
    wait_gone 10 "sleep $m" || fail "the system outlived its killed driver"
    # Its socket, and the file it held beside it.
    [ "$(ls "$T/tmp" | grep -c '^bincastle-supervisor\.held-')" -eq 2 ] || fail "the killed run left: $(ls -A "$T/tmp")"
    bc run "$R" sys -- true 2>"$T/err" || fail "the next run: $(cat "$T/err")"
    [ -z "$(ls "$T/tmp" | grep '^bincastle-supervisor')" ] || fail "left after the next run: $(ls -A "$T/tmp")"
}

t_interactive() {
    setup
    bc build "$R" sys 2>"$T/err" || fail "build failed: $(cat "$T/err")"
    # A prompt of its own at each level, so that keys are typed only once the shell
    # meant to read them waits for input.
    tmux_session "'$B' run $TRUST '$R' sys -- env PS1='outer> ' /bin/sh; echo \"left with \$?\"; stty -a | grep -o -- '-*icanon'; sleep 30"
    wait_prompt 'outer>'
    keys 'echo "sum $((40 + 2))"' Enter
    wait_for 'sum 42'
    # A nested system on the same terminal, and back.
    wait_prompt 'outer>'
    keys "/bincastle run /src sys -- env PS1='inner> ' /bin/sh" Enter
    wait_prompt 'inner>'
    keys 'echo "inner $((6 * 7))"; exit 5' Enter
    wait_prompt 'outer>'
    screen | grep -q 'inner 42' || fail "the inner system did not run the command: $(screen)"
    keys 'echo "back with $?"' Enter
    wait_for 'back with 5'
    wait_prompt 'outer>'
    keys 'exit 7' Enter
    wait_for 'left with 7'
    screen | grep -q -- '-icanon' && fail "the terminal was left raw: $(screen)"
    screen | grep -q 'icanon' || fail "no stty output: $(screen)"
}

t_boot() {
    setup
    ln -s ../bin/busybox "$R/rootfs/sbin/init"
    cat >"$R/rootfs/etc/inittab" <<'EOF2'
::sysinit:/bin/sh -c 'mkdir -p /root && echo booted >/root/booted'
::respawn:/bin/sh -c 'echo up >/root/service; exec sleep 1000'
::shutdown:/bin/sh -c 'echo down >/root/down'
EOF2
    bc run --boot "$R" sys -- true 2>"$T/err" && fail "--boot with a command succeeded"
    grep -q "not with a command" "$T/err" || fail "--boot with a command: $(cat "$T/err")"
    bc build "$R" sys 2>"$T/err" || fail "build: $(cat "$T/err")"
    : >"$T/run-err"
    "$B" run --boot "$R" sys </dev/null >"$T/console" 2>"$T/run-err" &
    runner=$!
    on_exit "kill -KILL $runner 2>/dev/null"
    name=$(ls "$T/store/systems" 2>/dev/null)
    n=0
    until name=$(ls "$T/store/systems" 2>/dev/null) && [ -e "$T/store/systems/$name/upper/root/service" ]; do
        n=$((n + 1))
        [ $n -lt 300 ] || fail "the system never booted its service ($(cat "$T/run-err"))"
        sleep 0.1
    done
    [ -e "$T/store/systems/$name/upper/root/booted" ] || fail "no sysinit action ran"
    bc ps | grep -q "^$name .* /sbin/init$" || fail "ps: $(bc ps 2>&1)"
    # stop: TERM to the init, which shuts down (busybox: a reboot) and ends the system.
    bc stop "$name" 2>"$T/err" || fail "stop: $(cat "$T/err")"
    wait "$runner"
    rc=$?
    [ "$rc" -eq 129 ] || fail "a rebooted system ended with $rc, not 129 ($(cat "$T/run-err"))"
    [ -e "$T/store/systems/$name/upper/root/down" ] || fail "the init's shutdown action did not run"
    cat "$T/console" "$T/run-err" | grep -q "Requesting system reboot" || fail "the init's console: $(cat "$T/console" "$T/run-err")"
}

t_run_net() {
    setup
    mkdir -p "$T/www"
    echo "from the host" >"$T/www/f.txt"
    serve_http "$T/www" "$T/port"
    port=$(cat "$T/port")
    out=$(bc run --net user --net-host-loopback "$R" sys -- wget -q -O- "http://10.0.2.2:$port/f.txt" 2>"$T/err") ||
        fail "run --net user: $(cat "$T/err")"
    [ "$out" = "from the host" ] || fail "run --net user fetched '$out'"
    out=$(bc run "$R" sys -- sh -c 'ip -4 addr | grep -c "inet "' 2>"$T/err") || fail "run: $(cat "$T/err")"
    [ "$out" = 1 ] || fail "the default network is not loopback only: $out addresses"
    bc run -p 8080:80 "$R" sys -- true 2>"$T/err" && fail "-p without --net user succeeded"
    grep -q "need --net user" "$T/err" || fail "-p without --net user: $(cat "$T/err")"
}

t_exec() {
    setup
    bc run "$R" sys -- true 2>"$T/err" || fail "first run: $(cat "$T/err")"
    name=$(ls "$T/store/systems")
    bc exec -- true 2>"$T/err"
    rc=$?
    [ "$rc" -eq 125 ] && grep -q "no system is running" "$T/err" || fail "exec with none running: $rc, $(cat "$T/err")"
    : >"$T/run-err"
    "$B" run "$R" sys -- env MARK=outer sh -c 'trap "exit 0" TERM; mkdir -p /root/w; cd /root/w; touch /root/up;
        sleep 60 & wait' >/dev/null 2>"$T/run-err" &
    runner=$!
    on_exit "kill -KILL $runner 2>/dev/null"
    wait_for_file "$T/store/systems/$name/upper/root/up" "the system's start ($(cat "$T/run-err"))"

    # Its working directory, environment, pid namespace, hostname, filter and files.
    out=$(bc exec -- sh -c 'echo "$(pwd) $MARK $HOME $(hostname) $(id -u)"; [ $$ -ne 1 ] && [ $PPID -eq 0 ] && echo own-pid;
        grep Seccomp: /proc/self/status;
        cat /opt/shout; echo joined >/root/joined; exit 6' </dev/null 2>"$T/err")
    rc=$?
    [ "$rc" -eq 6 ] || fail "exec: status $rc, not 6: $(cat "$T/err")"
    [ "$(echo "$out" | head -1)" = "/root/w outer /root bincastle 0" ] || fail "exec saw: $out"
    echo "$out" | grep -q "^own-pid$" || fail "exec is not in the system's pid namespace: $out"
    echo "$out" | grep -q "Seccomp:.2" || fail "exec ran without the seccomp filter: $out"
    echo "$out" | grep -q "^FIRST MESSAGE$" || fail "exec did not see the system's files: $out"
    [ -e "$T/store/systems/$name/upper/root/joined" ] || fail "what exec wrote is not in the system's upper"
    # Signals bincastle exec gets reach the command (here TERM, which it traps).
    "$B" exec -- sh -c 'trap "exit 9" TERM; touch /root/exec-up; sleep 60 & wait' </dev/null >/dev/null 2>"$T/exec-err" &
    execer=$!
    wait_for_file "$T/store/systems/$name/upper/root/exec-up" "exec's start ($(cat "$T/exec-err"))"
    kill -TERM "$execer"
    wait "$execer"
    rc=$?
    [ "$rc" -eq 9 ] || fail "exec after TERM ended with $rc, not its command's 9: $(cat "$T/exec-err")"
    bc exec --system nosuch -- true 2>"$T/err" && fail "exec into a missing system succeeded"
    grep -q "is not running" "$T/err" || fail "exec --system nosuch: $(cat "$T/err")"

    # On a terminal: a pty of the system's own.
    tmux_session "'$B' exec --system '$name' -- sh -c 'tty; exit 4'; echo \"exec left with \$?\"; sleep 30"
    wait_for 'exec left with 4'
    screen | grep -q '^/dev/pts/[0-9]' || fail "no pty from the system: $(screen)"
    bc stop "$name" 2>"$T/err" || fail "stop: $(cat "$T/err")"
    wait "$runner"
}

# A closed terminal ends the run: the systems (outer and nested, each with a command
# that neither reads its terminal nor handles SIGHUP), their programs and the driver.
t_interactive_hangup() {
    setup
    bc build "$R" sys 2>"$T/err" || fail "build failed: $(cat "$T/err")"
    m=$(unique_number)
    tmux_session "'$B' run $TRUST '$R' sys -- env PS1='outer> ' /bin/sh"
    on_exit "kill_with_arg '$T/' $m"
    wait_prompt 'outer>'
    keys "sleep 1$m & /bincastle run /src sys -- env PS1='inner> ' /bin/sh" Enter
    wait_prompt 'inner>'
    keys "sleep 2$m" Enter
    wait_until '[ -n "$(with_arg "2$m")" ]' "sleep 2$m running"
    tmux -S "$socket" kill-session || fail "tmux kill-session failed"
    # The grace periods of the nested and the outer system, and then some.
    wait_gone 30 "$T/" "$m" || fail "30 s after the terminal closed, the run is still there"
}

t_bad_input() {
    setup
    expect_125() {
        bc "$@" >"$T/out" 2>"$T/err"
        rc=$?
        [ "$rc" -eq 125 ] || fail "'$*' gave $rc, expected 125: $(cat "$T/err")"
        [ "$(wc -l <"$T/err")" -eq 1 ] || fail "'$*' said more than one line: $(cat "$T/err")"
    }
    expect_125 run "$T/nowhere"
    grep -q "no such directory" "$T/err" || fail "missing dir: $(cat "$T/err")"
    expect_125 run "$R" nosubdir
    grep -q "nosubdir" "$T/err" || fail "missing subdir: $(cat "$T/err")"
    expect_125 run "$R" lib
    grep -q "no main.cpp" "$T/err" || fail "no main.cpp: $(cat "$T/err")"
    make_git_repo
    expect_125 run "file://$R" nosuchref sys
    grep -q "nosuchref" "$T/err" || fail "missing ref: $(cat "$T/err")"
    expect_125 run "file://$T/nothere" main
    grep -q "nothere" "$T/err" || fail "bad URL: $(cat "$T/err")"
    expect_125 run "file://$R"
    grep -q "REF" "$T/err" || fail "URL without ref: $(cat "$T/err")"
    expect_125 run --frobnicate "$R" sys
    grep -q "frobnicate" "$T/err" || fail "unknown option: $(cat "$T/err")"
    expect_125 nosuchverb
    grep -q "unknown command 'nosuchverb'" "$T/err" || fail "unknown verb: $(cat "$T/err")"
    # A definition that does not compile: the compiler's own message, file as in the repo.
    echo "this is not C++" >>"$R/sys/main.cpp"
    bc run "$R" sys -- true >"$T/out" 2>"$T/err"
    rc=$?
    [ "$rc" -eq 125 ] || fail "a compile error gave $rc"
    grep -q "^sys/main.cpp:[0-9]*:[0-9]*: error" "$T/err" || fail "no compiler message naming sys/main.cpp: $(cat "$T/err")"
}

t_verbs() {
    setup
    for verb in run build plan graph gc verify clean sandbox; do
        bc "$verb" --help >"$T/out" 2>&1 || fail "$verb --help failed"
        grep -q "usage" "$T/out" || fail "$verb --help: $(cat "$T/out")"
    done
    bc --version | grep -q "^bincastle [0-9]" || fail "--version"
    bc graph "$R" sys >"$T/dot" 2>"$T/err" || fail "graph failed: $(cat "$T/err")"
    grep -q '"shout" -> "greeting"' "$T/dot" || fail "graph: $(cat "$T/dot")"
    # The plan: the layers, dependencies first, the system last; nothing built.
    bc plan "$R" sys >"$T/plan" 2>"$T/err" || fail "plan failed: $(cat "$T/err")"
    names=$(sed -n 's/^      "name": "\(.*\)",$/\1/p' "$T/plan" | tr '\n' ' ')
    [ "$names" = "base msg greeting shout repo sys " ] || fail "plan's layers: $names $(cat "$T/plan")"
    grep -q '"bincastle_plan": 1' "$T/plan" || fail "plan without its schema version"
    [ ! -e "$T/store/layers" ] || [ -z "$(ls "$T/store/layers")" ] || fail "plan built layers: $(ls "$T/store/layers")"
    bc build "$R" sys 2>"$T/err" || fail "build failed: $(cat "$T/err")"
    bc gc 2>"$T/err" || fail "gc failed: $(cat "$T/err")"
    bc run --progress=json "$R" sys -- true 2>"$T/events" || fail "run after gc failed"
    [ "$(layers_with built "$T/events")" = "" ] || fail "gc removed what the system needs: $(layers_with built "$T/events")"
    bc verify 2>"$T/err" || fail "verify failed: $(cat "$T/err")"
    shout=$(grep -lx "name=shout" "$T"/store/layers/*/meta | xargs dirname)
    echo "EDITED" >"$shout/fs/opt/shout"
    bc verify 2>"$T/err"
    [ $? -eq 1 ] && grep -q "^bincastle: damaged layer shout (.*): 1 changed (first: opt/shout, another content)$" "$T/err" ||
        fail "verify of a damaged layer: $(cat "$T/err")"
    bc verify --repair 2>"$T/err" || fail "verify --repair failed: $(cat "$T/err")"
    bc run --progress=json "$R" sys -- cat /opt/shout 2>"$T/events" >"$T/out" || fail "run after the repair failed"
    [ "$(layers_with built "$T/events")" = "shout " ] && [ "$(cat "$T/out")" = "FIRST MESSAGE" ] ||
        fail "after the repair: $(layers_with built "$T/events"), $(cat "$T/out")"
    bc clean 2>"$T/err" || fail "clean failed: $(cat "$T/err")"
    [ ! -e "$T/store/layers" ] || fail "clean left layers"
    # Inside a system, the same verbs go to the supervisor.
    out=$(bc run $TRUST "$R" sys -- sh -c '/bincastle graph /src sys | grep -c greeting; /bincastle --version; /bincastle verify 2>&1' 2>"$T/err") ||
        fail "verbs inside failed: $(cat "$T/err")"
    case $out in [1-9]*"bincastle "[0-9]*"bincastle: verify: "*" layers checked, 0 damaged, "*) ;; *) fail "inside: $out" ;; esac
}

t_export() {
    setup
    bc export --format dir -o "$T/out" "$R" sys 2>"$T/err" || fail "export failed: $(cat "$T/err")"
    [ "$(cat "$T/out/opt/shout")" = "FIRST MESSAGE" ] || fail "the exported system lacks /opt/shout: $(ls "$T/out")"
    [ -x "$T/out/bin/busybox" ] || fail "the exported system lacks busybox"
    # From inside: the output path is the system's own.
    out=$(bc run $TRUST "$R" sys -- sh -c '/bincastle export --format tar -o /tmp/sys.tar /src sys && tar -tf /tmp/sys.tar | grep -c "opt/shout"' 2>"$T/err") ||
        fail "export from inside failed: $out $(cat "$T/err")"
    [ "$out" = "1" ] || fail "the tar exported from inside: $out"
}

tap_case t_run_dir "run DIR SUBDIR -- CMD compiles, builds, runs and passes the status through"
tap_case t_run_git "run URL REF SUBDIR from file://, a work tree and a bare repo; a moved ref is fetched"
tap_case t_run_git_submodule "a definition whose layer library is a git submodule"
tap_case t_second_run_cached "a second run neither compiles nor builds; a header edit recompiles"
tap_case t_damaged_program "a compiled definition cut short, not executable, or unable to start is compiled again"
tap_case t_nested_run_adds_a_layer "a layer added inside and built by /bincastle run is the only new one"
tap_case t_nested_git_and_home "from inside: a local repo at a ref, cloned once; the nested system keeps its files"
tap_case t_nested_cannot_reach_host_files "from inside, a symlink or path cannot make the host read its own files"
tap_case t_root_needs_trust "a system started by root reaches the host only with --trust-inside"
tap_case t_nested_override_rebuilds_downstream "an overridable source edited inside rebuilds exactly what is downstream"
tap_case t_nested_leaves_outer_running "leaving a nested system returns to the outer one, which kept running"
tap_case t_home_survives "files written in a system survive leaving and re-entering it"
tap_case t_boot "run --boot starts the system's init, stop shuts it down through it, the status says it rebooted"
tap_case t_run_net "run --net user reaches the host's loopback when asked; the default is loopback only"
tap_case t_exec "exec joins a running system: its cwd, env, pid namespace, filter and files; a pty on a terminal"
tap_case t_ps_stop "ps lists a running system; stop ends it by TERM, or by KILL after --timeout, leaving nothing"
tap_case t_systems_rm_fork "systems lists a system (running or not), rm and fork refuse while it runs, a fork has its files"
tap_case t_interactive "an interactive session in a real terminal: type, see, exit with a status"
tap_case t_interactive_hangup "a closed terminal ends the run, its nested run, and every process of them"
tap_case t_bad_input "bad sources, refs, options and definitions give one line (or the compiler's) and 125"
tap_case t_export "bincastle export DIR SUBDIR writes the system, from the host and from inside"
tap_case t_verbs "--help for each verb, --version, graph, gc, verify, clean, and verbs from inside"
tap_case t_killed_supervisor_leaves_no_socket "a killed run's supervisor socket goes with the next run"
tap_main
