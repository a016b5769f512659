#!/bin/sh
# Integration tests of a full disk and of too few file descriptors: a build, a pull
# from a real registry, an export and a compile of a definition (by the installed
# driver, $PREFIX/bin/bincastle) on $SMALL_FS, a small tmpfs that run-as.sh mounts for
# the user the cases run as, filled by a ballast file up to what a case leaves free.
# Each failure is one line that names the path and the reason, exits 125, leaves
# nothing partial, and the same command succeeds once there is room again. TAP on
# stdout; run by run-as.sh as root and as an unprivileged user.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/remote-registry.sh"

[ -x "${DEFINITION:-}" ] || { echo "Bail out! DEFINITION must name the test definition program"; exit 1; }
[ -x "${PREFIX:-}/bin/bincastle" ] || { echo "Bail out! PREFIX must hold an installed bincastle"; exit 1; }
[ -d "${SMALL_FS:-}" ] || { echo "Bail out! SMALL_FS must name a small filesystem (run-as.sh with SMALL_FS_SIZE)"; exit 1; }

nospace="No space left on device"

# leave_free KIB: a ballast file on $SMALL_FS so that about KIB KiB stay free.
leave_free() {
    rm -f "$SMALL_FS/ballast"
    avail=$(df -k --output=avail "$SMALL_FS" | tail -n 1)
    [ "$avail" -gt "$1" ] || fail "only $avail KiB free on $SMALL_FS, $1 wanted"
    fallocate -l $(((avail - $1) * 1024)) "$SMALL_FS/ballast" || fail "fallocate on $SMALL_FS failed"
}

# Each case starts with $SMALL_FS empty, and leaves it so.
use_small_fs() {
    [ -z "$(ls -A "$SMALL_FS")" ] || fail "$SMALL_FS is not empty: $(ls -A "$SMALL_FS")"
    on_exit "chmod -R u+rwX '$SMALL_FS' 2>/dev/null; rm -rf '$SMALL_FS'/* '$SMALL_FS'/.[!.]*"
}

# The test definition on the store $SMALL_FS/store.
small() {
    BINCASTLE_HOME="$SMALL_FS/store" timeout -k 5 120 "$DEFINITION" "$@"
}

# one_line FILE PATTERN WHAT: FILE has exactly one line matching PATTERN.
one_line() {
    [ "$(grep -c -- "$2" "$1")" -eq 1 ] || fail "$3: not one line matching '$2': $(cat "$1")"
}

# no_partial STORE: nothing half made in STORE: no build directory, no file being
# replaced (NAME.held-XXXXXX, or an older NAME.XXXXXX), no compile in progress.
no_partial() {
    [ -z "$(ls -A "$1/building" 2>/dev/null)" ] || fail "left in building/: $(ls -A "$1/building")"
    left=$(find "$1" -name '*.??????' -o -name '*.held-??????' -o -name '*partial*' -o -name '.compiling.*')
    [ -z "$left" ] || fail "left behind: $left"
}

t_build_full_disk() {
    setup_definition
    use_small_fs
    small build 2>"$T/log" || fail "the first build failed: $(cat "$T/log")"
    export BC_FILL=4096
    key=$(small keys | awk '$2 == "fill" { print $1 }')
    leave_free 2048
    small build 2>"$T/log"
    rc=$?
    [ $rc -eq 125 ] || fail "exit status $rc: $(cat "$T/log")"
    one_line "$T/log" "$nospace" "the build"
    grep -q "dd: error writing '/opt/fill': $nospace" "$T/log" || fail "the line does not say what: $(cat "$T/log")"
    [ ! -e "$SMALL_FS/store/layers/$key" ] || fail "the failed layer is in the store"
    no_partial "$SMALL_FS/store"
    rm "$SMALL_FS/ballast"
    small build 2>"$T/log" || fail "the build with room failed: $(cat "$T/log")"
    [ -d "$SMALL_FS/store/layers/$key" ] || fail "no fill layer after the build"
}

t_source_copy_full_disk() {
    setup_definition
    use_small_fs
    leave_free 1024
    # One layer at a time: the base layer's copy of rootfs/ fails (busybox alone is
    # larger than what is free), the others are small.
    small build -j 1 2>"$T/log"
    rc=$?
    [ $rc -eq 125 ] || fail "exit status $rc: $(cat "$T/log")"
    one_line "$T/log" "$nospace" "the copy"
    grep -q "^write($SMALL_FS/store/building/[0-9a-f]*\.[0-9]*/fs/bin/busybox): $nospace$" "$T/log" ||
        fail "the line does not say where: $(cat "$T/log")"
    no_partial "$SMALL_FS/store"
    rm "$SMALL_FS/ballast"
    small build 2>"$T/log" || fail "the build with room failed: $(cat "$T/log")"
}

t_pull_full_disk() {
    setup_definition
    use_small_fs
    start_registry
    BC_FILL=4096 def A build --export-cache "$REG/cache" 2>"$T/a" || fail "build and push failed: $(cat "$T/a")"
    # All but the fill layer, built here: only that one is pulled.
    small build 2>"$T/log" || fail "the first build failed: $(cat "$T/log")"
    export BC_FILL=4096
    key=$(small keys | awk '$2 == "fill" { print $1 }')
    # Its blob does not fit, then its files do not.
    for free in 2048 6144; do
        leave_free $free
        small build --import-cache "$REG/cache" 2>"$T/log"
        rc=$?
        [ $rc -eq 125 ] || fail "$free KiB free: exit status $rc: $(cat "$T/log")"
        one_line "$T/log" "$nospace" "$free KiB free"
        case $free in
        2048) where="write($SMALL_FS/store/building/$key\.[0-9]*/scratch/blob): $nospace" ;;
        *) where="write($SMALL_FS/store/building/$key\.[0-9]*/fs/opt/fill): $nospace" ;;
        esac
        grep -q "^pulling layer fill from $REG/cache: .*$where; nothing of it entered the store$" "$T/log" ||
            fail "$free KiB free: the line does not say what and where: $(cat "$T/log")"
        [ ! -e "$SMALL_FS/store/layers/$key" ] || fail "$free KiB free: the layer entered the store"
        no_partial "$SMALL_FS/store"
    done
    rm "$SMALL_FS/ballast"
    small build --progress=json --import-cache "$REG/cache" 2>"$T/log" || fail "the pull with room failed: $(cat "$T/log")"
    [ "$(layers_with pulled "$T/log")" = "fill " ] || fail "pulled: $(layers_with pulled "$T/log")"
}

t_export_full_disk() {
    setup_definition
    use_small_fs
    def A build 2>"$T/log" || fail "build failed: $(cat "$T/log")"
    for format in dir tar oci; do
        leave_free 1024
        def A export --format $format -o "$SMALL_FS/out" 2>"$T/log"
        rc=$?
        [ $rc -eq 125 ] || fail "$format: exit status $rc: $(cat "$T/log")"
        one_line "$T/log" "($SMALL_FS/out[^)]*): $nospace$" "$format"
        [ "$(ls -A "$SMALL_FS")" = "ballast" ] || fail "$format: left on the disk: $(ls -A "$SMALL_FS")"
        rm "$SMALL_FS/ballast"
        def A export --format $format -o "$SMALL_FS/out" 2>"$T/log" || fail "$format with room failed: $(cat "$T/log")"
        chmod -R u+rwX "$SMALL_FS/out" && rm -rf "$SMALL_FS/out"
    done
}

t_run_full_disk() {
    setup_definition
    use_small_fs
    # A wrapped source larger than what will be free: the system's own copy of it.
    head -c 4194304 /dev/urandom >"$D/src/big"
    small build 2>"$T/log" || fail "the build failed: $(cat "$T/log")"
    leave_free 2048
    small run -- true 2>"$T/log"
    rc=$?
    [ $rc -eq 125 ] || fail "exit status $rc: $(cat "$T/log")"
    one_line "$T/log" "($SMALL_FS/store/systems/[^)]*/mounts/[^)]*): $nospace$" "the run"
    no_partial "$SMALL_FS/store"
    rm "$SMALL_FS/ballast"
    out=$(small run -- cat /home/src/a.txt 2>"$T/log") || fail "the run with room failed: $(cat "$T/log")"
    [ "$out" = "first version" ] || fail "the system shows '$out'"
}

t_compile_full_disk() {
    use_small_fs
    R=$T/repo
    mkdir -p "$R/sys"
    sh "$BUSYBOX_ROOTFS" "$R/rootfs" >/dev/null || fail "busybox-rootfs failed"
    cat >"$R/sys/main.cpp" <<'CPP'
#include <bincastle/main.hpp>
int main(int argc, char** argv) {
    using namespace bincastle;
    return bincastle::main(argc, argv, Layer(Name("sys"), LocalDir("../rootfs"), RunArgs({"/bin/sh"})));
}
CPP
    export BINCASTLE_HOME="$SMALL_FS/store"
    # Less than the program the linker writes.
    leave_free 4096
    timeout -k 5 300 "$PREFIX/bin/bincastle" run "$R" sys -- echo hi >"$T/out" 2>"$T/log"
    rc=$?
    [ $rc -eq 125 ] || fail "exit status $rc: $(cat "$T/log")"
    grep -q "$nospace" "$T/log" || fail "the compiler does not say why: $(cat "$T/log")"
    one_line "$T/log" "^bincastle: .* failed (the compiler's messages are above); the disk of $SMALL_FS/store/definitions/bin is full ([0-9]* MiB free): make room there and run again$" "the compile"
    no_partial "$SMALL_FS/store"
    rm "$SMALL_FS/ballast"
    out=$(timeout -k 5 300 "$PREFIX/bin/bincastle" run "$R" sys -- echo hi 2>"$T/log") || fail "the run with room failed: $(cat "$T/log")"
    [ "$out" = "hi" ] || fail "the system says '$out'"
}

# limited N WHAT ARGS...: the test definition on store A with at most N open files;
# fails unless it fails within 30 s, in one line that says so.
limited() {
    n=$1 what=$2
    shift 2
    (ulimit -n "$n" && BINCASTLE_HOME="$T/A" timeout -k 5 30 "$DEFINITION" "$@") 2>"$T/log"
    rc=$?
    [ $rc -eq 125 ] || fail "$what with $n files: exit status $rc (124: it hung): $(cat "$T/log")"
    grep -q "Too many open files" "$T/log" || fail "$what with $n files: no line says why: $(cat "$T/log")"
    ! grep -q "canceled\|interrupter" "$T/log" || fail "$what with $n files: the line hides why: $(cat "$T/log")"
}

t_too_many_open_files() {
    setup_definition
    limited 10 "a build"
    # What a build left in building/ (removing it takes descriptors too) is cleared by
    # the next build of its key, as a crash's is.
    def A build 2>"$T/log" || fail "the build failed: $(cat "$T/log")"
    no_partial "$T/A"
    limited 6 "an export" export --format dir -o "$T/out"
    [ ! -e "$T/out" ] && [ -z "$(find "$T" -maxdepth 1 -name 'out*')" ] || fail "the export left $(ls -d "$T"/out*)"
    start_registry
    limited 12 "a push" build --export-cache "$REG/cache"
    def A build --export-cache "$REG/cache" 2>"$T/log" || fail "the push failed: $(cat "$T/log")"
    (ulimit -n 12 && BINCASTLE_HOME="$T/B" timeout -k 5 30 "$DEFINITION" build --import-cache "$REG/cache") 2>"$T/log"
    rc=$?
    # Lookups that cannot open a socket are a notice, and the build goes on.
    [ $rc -eq 125 ] || [ $rc -eq 0 ] || fail "a pull with 12 files: exit status $rc: $(cat "$T/log")"
    grep -q "^bincastle: looking up layer .*: Too many open files; it will be built here$" "$T/log" ||
        fail "a pull with 12 files: no notice says why: $(cat "$T/log")"
    ! grep -q "canceled\|interrupter" "$T/log" || fail "a pull with 12 files: the line hides why: $(cat "$T/log")"
}

tap_case t_build_full_disk "a build that fills the disk: one line, nothing kept, builds once there is room"
tap_case t_source_copy_full_disk "a source copied onto a full disk: one line with the path and ENOSPC (not EIO)"
tap_case t_pull_full_disk "a pull onto a full disk (blob, then files): one line, nothing kept, pulls once there is room"
tap_case t_export_full_disk "dir, tar and oci exports onto a full disk: one line, no partial output"
tap_case t_run_full_disk "a system's copy of a wrapped source onto a full disk: one line, no half copy"
tap_case t_compile_full_disk "a definition compiled onto a full disk: one line naming the disk, compiles once there is room"
tap_case t_too_many_open_files "builds, exports, pushes and pulls with too few file descriptors: one line that says so, no hang"
tap_main
