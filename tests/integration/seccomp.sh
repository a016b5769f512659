#!/bin/sh
# Black-box tests of the containers' default seccomp filter, as TAP: `bincastle
# sandbox` with and without it, nested, and the builds and systems of `bincastle
# run`. Needs BINCASTLE (the static binary), BUSYBOX_ROOTFS and PREFIX (an installed
# bincastle); runs as root or as an unprivileged user (see run-as.sh).
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"

if [ -z "${BINCASTLE:-}" ] || [ -z "${BUSYBOX_ROOTFS:-}" ] || [ ! -x "${PREFIX:-}/bin/bincastle" ]; then
    echo "Bail out! BINCASTLE, BUSYBOX_ROOTFS and PREFIX (an installed bincastle) must be set"
    exit 1
fi
B=$BINCASTLE
export LC_ALL=C

# root: $T/root, a busybox rootfs with the probe as /bin/probe (and /bincastle, where
# a nested case mounts the driver).
root() {
    sh "$BUSYBOX_ROOTFS" "$T/root" >"$T/rootfs.log" 2>&1 || fail "busybox-rootfs failed: $(cat "$T/rootfs.log")"
    cc -static -O2 -o "$T/root/bin/probe" "$here/seccomp_probe.c" >"$T/probe.log" 2>&1 ||
        fail "cannot build the probe (cc -static): $(cat "$T/probe.log")"
    touch "$T/root/bincastle"
}

# What the default filter must refuse, as the probe names them (iopl and ioperm are
# x86 calls; the probe makes them on x86 only).
REFUSED="add_key keyctl request_key bpf perf_event_open lookup_dcookie kexec_load kexec_file_load
init_module finit_module delete_module userfaultfd open_by_handle_at swapon swapoff acct quotactl
quotactl_fd settimeofday clock_settime"
case $(uname -m) in x86_64 | i?86) REFUSED="$REFUSED iopl ioperm" ;; esac
# Calls the kernel answers with something other than EPERM in any container without
# the filter (bad pointers, an unknown keyctl operation).
NOT_EPERM_UNFILTERED="add_key keyctl request_key perf_event_open clock_settime"

sb() { timeout -k 3 30 "$B" sandbox "$@"; }

# run CMD...: stdout in $T/out, stderr in $T/err, status in $rc.
run() {
    _last="$*"
    "$@" >"$T/out" 2>"$T/err" </dev/null
    rc=$?
}
failshow() {
    fail "$* (from: $_last; status $rc; stdout: $(head -c 3000 "$T/out"); stderr: $(head -c 3000 "$T/err"))"
}
expect_rc() {
    [ "$rc" = "$1" ] || failshow "expected exit status $1, got $rc"
}
# errno_of NAME: what the probe's line for NAME says, in $T/out.
errno_of() {
    sed -n "s/^$1 //p" "$T/out"
}
expect_refused() {
    for _name in "$@"; do
        [ "$(errno_of "$_name")" = EPERM ] || failshow "$_name: expected EPERM, got '$(errno_of "$_name")'"
    done
}
expect_not_refused() {
    for _name in "$@"; do
        _got=$(errno_of "$_name")
        [ -n "$_got" ] || failshow "$_name: the probe did not report it"
        [ "$_got" != EPERM ] || failshow "$_name: refused (EPERM) without the filter"
    done
}
# The seccomp mode and filter count of the command, from /proc/self/status.
STATUS='grep "^Seccomp" /proc/self/status | tr -s "\t" " "'

is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------------------------------

t_default_refuses() {
    root
    run sb "$T/root" -- sh -c "$STATUS; probe"
    expect_rc 0
    grep -qx "Seccomp: 2" "$T/out" || failshow "the command does not run under a seccomp filter"
    # shellcheck disable=SC2086 # a list of names
    expect_refused $REFUSED
}

t_off() {
    root
    run sb --seccomp=off "$T/root" -- sh -c "$STATUS; probe"
    expect_rc 0
    grep -qx "Seccomp: 0" "$T/out" || failshow "--seccomp=off still runs the command under a filter"
    # shellcheck disable=SC2086 # a list of names
    expect_not_refused $NOT_EPERM_UNFILTERED
    # The option takes its value as a separate word too.
    run sb --seccomp default "$T/root" -- probe
    expect_rc 0
    expect_refused keyctl
}

t_foreign_abi() {
    root
    run sb "$T/root" -- probe
    expect_rc 0
    expect_refused int80_getpid x32_getpid
    # Without the filter getpid works through int 0x80 (this kernel has the 32-bit ABI)
    # and x32 calls are the kernel's own ENOSYS.
    run sb --seccomp=off "$T/root" -- probe
    expect_rc 0
    [ "$(errno_of int80_getpid)" = ok ] || failshow "getpid through int 0x80 failed without the filter"
    expect_not_refused x32_getpid
}

t_init() {
    root
    run sb --init "$T/root" -- sh -c "$STATUS; probe"
    expect_rc 0
    grep -qx "Seccomp: 2" "$T/out" || failshow "the command under --init runs without the filter"
    expect_refused keyctl bpf
}

t_usage() {
    run "$B" sandbox --seccomp=strict / -- true
    expect_rc 125
    [ "$(grep -c '^bincastle: ' "$T/err")" -eq 1 ] && grep -q -- "--seccomp strict" "$T/err" ||
        failshow "expected one line naming the bad value"
    run "$B" sandbox --help
    expect_rc 0
    grep -q -- "--seccomp default|off" "$T/out" || failshow "--help does not list --seccomp"
}

# Under a runtime whose own filter refuses nested filters: one line that says what to do.
t_filter_refused() {
    root
    run "$T/root/bin/probe" deny-seccomp "$B" sandbox "$T/root" -- true
    expect_rc 125
    [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "^bincastle: seccomp_load: .*--seccomp=off" "$T/err" ||
        failshow "expected one line naming seccomp_load and --seccomp=off"
    run "$T/root/bin/probe" deny-seccomp "$B" sandbox --seccomp=off "$T/root" -- true
    expect_rc 0
}

# Nesting needs a sandbox started by an ordinary user (see sandbox.sh).
t_nested_under_filter() {
    root
    run sb --ro-bind "$B:/bincastle" "$T/root" -- sh -c "
        /bincastle sandbox / -- sh -c 'echo pid \$\$; $STATUS; probe; exit 7'"
    expect_rc 7
    grep -qx "pid 1" "$T/out" || failshow "the nested command is not pid 1"
    # Its own filter on top of the outer one.
    grep -qx "Seccomp_filters: 2" "$T/out" || failshow "expected the outer and the nested filter"
    # shellcheck disable=SC2086 # a list of names
    expect_refused $REFUSED
}

t_nested_off_keeps_outer() {
    root
    run sb --ro-bind "$B:/bincastle" "$T/root" -- sh -c "
        /bincastle sandbox --seccomp=off / -- sh -c '$STATUS; probe'"
    expect_rc 0
    grep -qx "Seccomp_filters: 1" "$T/out" || failshow "expected the outer filter alone"
    expect_refused keyctl bpf userfaultfd
}

t_nested_overlay_under_filter() {
    root
    # The nested overlay goes through fsopen, fsconfig and fsmount, the nested root
    # through pivot_root: all allowed.
    run sb --ro-bind "$B:/bincastle" --ro-bind "$T/root:/layer" "$T/root" -- sh -c '
        /bincastle sandbox --layer /layer --upper /tmp/up -- sh -c "echo nested >/new" && cat /tmp/up/new'
    expect_rc 0
    [ "$(cat "$T/out")" = nested ] || failshow "the nested overlay did not work"
}

# Builds run `bincastle sandbox`, systems run through the library's runner: both get
# the filter without asking.
t_builds_and_systems() {
    root
    R=$T/repo
    mkdir -p "$R/sys"
    cp -a "$T/root" "$R/rootfs" || fail "cannot copy the rootfs"
    cat >"$R/sys/main.cpp" <<'CPP'
#include <bincastle/main.hpp>
using namespace bincastle;

int main(int argc, char** argv) {
    Layer base(Name("base"), LocalDir("../rootfs"));
    Layer built(Name("built"), Dep(base),
                BuildScript({"mkdir -p /opt", "probe >/opt/build-probe"}));
    return bincastle::main(argc, argv, Layer(Name("sys"), RunDep(base), RunDep(built)));
}
CPP
    export BINCASTLE_HOME="$T/store"
    run timeout -k 5 300 "$PREFIX/bin/bincastle" run "$R" sys -- sh -c 'cat /opt/build-probe; echo system; probe'
    expect_rc 0
    sed -n '1,/^system$/p' "$T/out" >"$T/build"
    sed -n '/^system$/,$p' "$T/out" >"$T/system"
    for part in build system; do
        cp "$T/$part" "$T/out"
        # shellcheck disable=SC2086 # a list of names
        expect_refused $REFUSED
    done
}

# ---------------------------------------------------------------------------------------

tap_case t_default_refuses "by default every call of the filter's list fails with EPERM"
tap_case t_off "--seccomp=off installs no filter: the same calls fail otherwise"
# The probe makes these calls on x86-64 only.
[ "$(uname -m)" != x86_64 ] || tap_case t_foreign_abi "calls through the 32-bit and x32 ABIs fail with EPERM"
tap_case t_init "the command under --init runs under the filter"
tap_case t_usage "a bad --seccomp value is one line and 125; --help lists the option"
tap_case t_filter_refused "a filter the system refuses is one line naming --seccomp=off, and 125"
tap_case t_builds_and_systems "builds and systems of bincastle run get the filter"
if ! is_root; then
    tap_case t_nested_under_filter "a nested sandbox runs under the outer filter and its own"
    tap_case t_nested_off_keeps_outer "--seccomp=off in a nested sandbox cannot lift the outer filter"
    tap_case t_nested_overlay_under_filter "a nested sandbox mounts an overlay under the filter"
fi

tap_main
