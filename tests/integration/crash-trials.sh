# Crash trials, sourced (POSIX sh) by crash.sh, the integration suite, and by
# bench/crash, which counts them. A trial starts one operation of the test definition
# program ($DEFINITION, tests/core/definition.cpp: "bincastle" here) in the background,
# SIGKILLs it after a random delay (uniform over about the time the operation takes,
# so some land before it starts its work and some after it is done), and checks:
#   - no process of it is left (its sandboxes and build scripts die with it);
#   - nothing partial is visible: every layers/<key> has its fs/, meta and contents,
#     and `verify` finds nothing damaged; an export's output is whole or absent;
#   - the operation, run again, completes (its time is the recovery time), and then
#     the store verifies, no export leaves a partial file behind, and nothing is left
#     in $TMPDIR (what a killed push left there goes with the next push).
# A failed check prints why and returns 1. The caller gives:
#   DEFINITION, BUSYBOX_ROOTFS; W, an empty work directory; REG (host:port of a
#   registry) for import and push; the definition's BC_* settings, exported.
# After crash_setup, crash_trial OP N runs trial N of OP (build run import push export
# gc) and sets crash_killed (1: the operation was still running when it was killed)
# and crash_recovery_ms.

# A number in [0, $1).
crash_random() {
    echo $(($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % $1))
}

crash_now_ms() { date +%s%3N; }

crash_sleep_ms() {
    sleep "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"
}

# The definition program on the store STORE (a directory under $W).
crash_def() {
    store=$1
    shift
    BINCASTLE_HOME="$W/$store" timeout -k 5 120 "$DEFINITION" "$@"
}

# Removes a store or an output, whatever modes a build left in it.
crash_remove() {
    [ -e "$1" ] || return 0
    chmod -R u+rwX "$1" 2>/dev/null
    rm -rf "$1"
}

# The definition's directory, the main store built whole (and, with REG, pushed to
# $REG/crash), and a reference export per format.
crash_setup() {
    mkdir -p "$W/def/src" "$W/tmp" "$W/out" "$W/ref"
    sh "$BUSYBOX_ROOTFS" "$W/def/rootfs" >/dev/null || { echo "busybox-rootfs failed"; return 1; }
    echo "version 0" >"$W/def/src/a.txt"
    export BINCASTLE_DEFINITION_DIR="$W/def" TMPDIR="$W/tmp"
    crash_def store build -j2 2>"$W/setup.log" || { echo "the first build failed: $(cat "$W/setup.log")"; return 1; }
    if [ -n "${REG:-}" ]; then
        crash_def store build --export-cache "$REG/crash" 2>"$W/setup.log" ||
            { echo "the first push failed: $(cat "$W/setup.log")"; return 1; }
    fi
    for format in oci tar dir; do
        crash_def store export --format $format -o "$W/ref/$format" 2>"$W/setup.log" ||
            { echo "the reference export ($format) failed: $(cat "$W/setup.log")"; return 1; }
    done
    crash_layers=$(crash_def store keys | wc -l)
}

# What a trial may leave running, by what its command line holds: the program itself
# (and a container it runs, before its command's exec), its sandboxes (which run
# /proc/self/exe with paths in the store), and its build scripts' or system's sleeps.
crash_processes() {
    {
        pgrep -f -- "^$DEFINITION"
        pgrep -f -- "$W/store"
        pgrep -f -- "sleep $crash_marker"
    } | sort -u
}

crash_no_processes_left() {
    crash_waited=0
    while [ -n "$(crash_processes)" ]; do
        crash_waited=$((crash_waited + 1))
        if [ $crash_waited -ge 50 ]; then
            echo "processes left 5 s after the kill:"
            for pid in $(crash_processes); do ps -o pid=,args= -p "$pid"; done
            return 1
        fi
        sleep 0.1
    done
}

# STORE: every layer whole, and verify finds nothing damaged.
crash_store_whole() {
    for layer in "$W/$1"/layers/*; do
        [ -e "$layer" ] || continue
        [ -d "$layer/fs" ] && [ -f "$layer/meta" ] && [ -f "$layer/contents" ] ||
            { echo "a half layer in $1: $layer holds: $(ls -A "$layer")"; return 1; }
    done
    crash_def "$1" verify 2>"$W/verify.log" ||
        { echo "verify of $1 failed: $(cat "$W/verify.log")"; return 1; }
    grep -q "layers checked, 0 damaged" "$W/verify.log" || { echo "verify of $1 said: $(cat "$W/verify.log")"; return 1; }
}

# OUTPUT FORMAT: absent, or the same as the reference export.
crash_output_whole_or_absent() {
    [ -e "$1" ] || return 0
    if [ "$2" = tar ]; then
        cmp -s "$1" "$W/ref/tar" || { echo "a torn tar export: $(ls -l "$1")"; return 1; }
    else
        diff -r "$1" "$W/ref/$2" >"$W/diff.log" 2>&1 || { echo "a torn $2 export: $(head -5 "$W/diff.log")"; return 1; }
    fi
}

# What trial N of OP needs first. $1 OP, $2 N.
crash_prepare() {
    case $1 in
    # A new version of the source, new slow layers: five layers to build.
    build) echo "version $2" >"$W/def/src/a.txt" ;;
    import) crash_remove "$W/store-import" ;;
    gc)
        # Garbage to collect: a new base (some 400 entries) and everything on it.
        echo "$2" >"$W/def/rootfs/etc/trial"
        crash_def store build -j2 2>"$W/op.log" || { echo "the build before gc failed: $(cat "$W/op.log")"; return 1; }
        ;;
    esac
}

# Starts the operation in the background: sets crash_pid. $1 OP, $2 N.
crash_start() {
    case $1 in
    build) BC_SLOW=$crash_marker BINCASTLE_HOME="$W/store" "$DEFINITION" build -j2 >/dev/null 2>"$W/op.log" & ;;
    run)
        BINCASTLE_HOME="$W/store" "$DEFINITION" run -- sh -c "echo $2 >>/root/log; sleep $crash_marker" \
            >/dev/null 2>"$W/op.log" &
        ;;
    import)
        BINCASTLE_HOME="$W/store-import" "$DEFINITION" build -j2 --import-cache "$REG/crash" >/dev/null 2>"$W/op.log" &
        ;;
    push) BINCASTLE_HOME="$W/store" "$DEFINITION" build --export-cache "$REG/push$2" >/dev/null 2>"$W/op.log" & ;;
    export)
        BINCASTLE_HOME="$W/store" "$DEFINITION" export --format "$crash_format" -o "$W/out/$2.$crash_format" \
            >/dev/null 2>"$W/op.log" &
        ;;
    gc) BINCASTLE_HOME="$W/store" "$DEFINITION" gc >/dev/null 2>"$W/op.log" & ;;
    esac
    crash_pid=$!
}

# The operation again, to the end. $1 OP, $2 N.
crash_rerun() {
    case $1 in
    build) BC_SLOW=$crash_marker crash_def store build -j2 ;;
    run) crash_def store run -- cat /root/log >/dev/null ;;
    import) crash_def store-import build -j2 --import-cache "$REG/crash" ;;
    push) crash_def store build --export-cache "$REG/push$2" ;;
    export)
        # A whole output from before the kill stays: export refuses to overwrite it.
        crash_remove "$W/out/$2.$crash_format"
        crash_def store export --format "$crash_format" -o "$W/out/$2.$crash_format"
        ;;
    gc) crash_def store gc ;;
    esac
}

# What the rerun must have left. $1 OP, $2 N.
crash_after_rerun() {
    case $1 in
    import)
        crash_store_whole store-import || return 1
        # Everything came from the registry or the store.
        ! grep -q '^built ' "$W/rerun.log" || { echo "the import's rerun built layers: $(cat "$W/rerun.log")"; return 1; }
        ;;
    push)
        # What the registry holds now is whole: a fresh store pulls every layer of it.
        crash_remove "$W/store-check"
        crash_def store-check build --progress=json --import-cache "$REG/push$2" 2>"$W/check.log" ||
            { echo "pulling what the push left failed: $(cat "$W/check.log")"; return 1; }
        [ "$(grep -c '"event": "pulled"' "$W/check.log")" -eq "$crash_layers" ] ||
            { echo "the push left other than $crash_layers layers to pull: $(grep '"event"' "$W/check.log")"; return 1; }
        crash_store_whole store-check || return 1
        ;;
    export)
        crash_output_whole_or_absent "$W/out/$2.$crash_format" "$crash_format" || return 1
        [ -e "$W/out/$2.$crash_format" ] || { echo "the rerun wrote no export"; return 1; }
        leftovers=$(ls -A "$W/out" | grep -v "^[0-9]*\.\(oci\|tar\|dir\)$" || true)
        [ -z "$leftovers" ] || { echo "the exports left: $leftovers"; return 1; }
        ;;
    gc)
        crash_def store build --progress=json 2>"$W/check.log" || { echo "the build after gc failed: $(cat "$W/check.log")"; return 1; }
        ! grep -q '"event": "built"' "$W/check.log" || { echo "gc removed what the system needs: $(grep built "$W/check.log")"; return 1; }
        ;;
    esac
    crash_store_whole store
}

# How long OP takes uninterrupted, in ms (trial 0 of it, which also warms the store).
crash_calibrate() {
    crash_marker=0.1$$0
    crash_format=tar
    crash_prepare "$1" 0 || return 1
    started=$(crash_now_ms)
    crash_start "$1" 0
    wait "$crash_pid" || { echo "$1, not killed, failed: $(cat "$W/op.log")"; return 1; }
    crash_reference_ms=$(($(crash_now_ms) - started))
    [ "$1" != export ] || crash_remove "$W/out/0.tar"
}

crash_trial() {
    crash_op=$1
    crash_n=$2
    # What the trial's sleeps (build scripts, the system) are found by: unique to it.
    crash_marker=0.1$$$crash_n
    set -- oci tar dir
    shift $((crash_n % 3))
    crash_format=$1
    crash_killed=0
    crash_prepare "$crash_op" "$crash_n" || return 1
    crash_start "$crash_op" "$crash_n"
    crash_sleep_ms "$(crash_random $((crash_reference_ms * 5 / 4 + 1)))"
    if kill -0 "$crash_pid" 2>/dev/null; then
        crash_killed=1
        kill -9 "$crash_pid"
    fi
    wait "$crash_pid" 2>/dev/null
    crash_no_processes_left || return 1
    [ "$crash_op" != import ] || crash_store_whole store-import || return 1
    [ "$crash_op" != export ] || crash_output_whole_or_absent "$W/out/$crash_n.$crash_format" "$crash_format" || return 1
    crash_store_whole store || return 1
    started=$(crash_now_ms)
    crash_rerun "$crash_op" "$crash_n" >"$W/rerun.log" 2>&1 || { echo "the rerun of $crash_op failed: $(cat "$W/rerun.log")"; return 1; }
    crash_recovery_ms=$(($(crash_now_ms) - started))
    crash_no_processes_left || return 1
    [ -z "$(ls -A "$W/tmp")" ] || { echo "left in TMPDIR: $(ls -A "$W/tmp")"; return 1; }
    crash_after_rerun "$crash_op" "$crash_n"
}
