#!/bin/sh
# Crash trials (crash-trials.sh): the test definition program ($DEFINITION) is killed
# with SIGKILL at random moments of a build, a run, an import from a registry, a push
# to one, an export (OCI, tar, dir) and gc, 124 trials in all; after each, nothing of
# it runs, nothing partial is visible, and the operation run again completes. A real
# registry (Debian's docker-registry on 127.0.0.1) for the import and the push. TAP on
# stdout; run by run-as.sh as root and as an unprivileged user. bench/crash counts
# the same trials.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/remote-registry.sh"
. "$here/crash-trials.sh"

[ -x "${DEFINITION:-}" ] || { echo "Bail out! DEFINITION must name the test definition program"; exit 1; }

# trials OP N: N trials of OP on a fresh work directory, failing at the first failure.
trials() {
    W=$T/work
    mkdir "$W"
    crash_setup || fail "setting up the trials failed"
    crash_calibrate "$1" || fail "calibrating $1 failed"
    killed=0 recovery=0
    for n in $(seq "$2"); do
        crash_trial "$1" "$n" || fail "trial $n of $1 (killed mid-way: $crash_killed) failed"
        killed=$((killed + crash_killed))
        recovery=$((recovery + crash_recovery_ms))
    done
    echo "$1: $2 trials, $killed killed mid-way (it takes $crash_reference_ms ms), mean recovery $((recovery / $2)) ms"
}

t_crash_build() {
    export BC_HOSTILE=1 BC_WHITEOUT=1
    trials build 25
}

t_crash_run() {
    export BC_WHITEOUT=1
    trials run 20
}

t_crash_import() {
    start_registry
    export BC_HOSTILE=1 BC_WHITEOUT=1
    trials import 20
}

t_crash_push() {
    start_registry
    export BC_HOSTILE=1 BC_WHITEOUT=1
    trials push 15
}

t_crash_export() {
    # Without BC_HOSTILE: a torn dir export is found by diff, which cannot read a
    # mode-000 directory as the user (export.sh exports those).
    export BC_WHITEOUT=1
    trials export 24
}

t_crash_gc() {
    export BC_HOSTILE=1 BC_WHITEOUT=1
    trials gc 20
}

tap_case t_crash_build "a build killed at random moments: nothing partial, nothing left running, the rerun completes"
tap_case t_crash_run "a run killed at random moments: its system dies with it, the next run starts"
tap_case t_crash_import "an import killed at random moments: no half-pulled layer, the rerun pulls the rest"
tap_case t_crash_push "a push killed at random moments: the rerun completes, and what the registry holds pulls whole"
tap_case t_crash_export "an export (OCI, tar, dir) killed at random moments: its output is whole or absent, no partial stays"
tap_case t_crash_gc "gc killed at random moments: no half layer, verify finds nothing damaged, needed layers stay"

tap_main
