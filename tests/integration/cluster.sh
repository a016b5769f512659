#!/bin/sh
# Integration tests of `bincastle build --executor slurm`: a definition built through
# a real Slurm cluster (local-slurm.sh starts one on this machine, and this script
# runs inside its network namespace, as root or as the unprivileged user) with a real
# registry (docker-registry) as the data plane. Slurm's job records ($SLURM_JOBCOMP)
# say what ran as a job. TAP on stdout.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/remote-registry.sh"

[ -x "${PREFIX:-}/bin/bincastle" ] || { echo "Bail out! PREFIX must hold an installed bincastle"; exit 1; }
[ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_JOBCOMP" ] || { echo "Bail out! run through local-slurm.sh"; exit 1; }
B=$PREFIX/bin/bincastle

# A definition: two source layers (base, msg), two layers with scripts (greeting on
# base, shout on greeting) and the system. EXTRA_LAYER adds a layer with that script,
# on EXTRA_ON (default base), rebuilt on every build with EXTRA_ALWAYS=1.
setup() {
    R=$T/repo
    mkdir -p "$R/sys" "$R/msg"
    echo "first message" >"$R/msg/greeting.txt"
    extra=""
    [ -z "${EXTRA_LAYER:-}" ] ||
        extra="extra.push_back(Layer(Name(\"extra\"), Dep(${EXTRA_ON:-base}), BuildScript({$EXTRA_LAYER})${EXTRA_ALWAYS:+, AlwaysRun()}));"
    cat >"$R/sys/main.cpp" <<CPP
#include <bincastle/main.hpp>
using namespace bincastle;
int main(int argc, char** argv) {
    Layer base(Name("base"), LocalDir("../rootfs"));
    Layer msg(Name("msg"), LocalDir("../msg"));
    Layer greeting(Name("greeting"), Dep(base), BuildDep(Wrap(msg, MountDir("/msg"))),
                   BuildScript({"mkdir -p /opt", "cp /msg/greeting.txt /opt/greeting"}));
    Layer shout(Name("shout"), Dep(greeting), BuildScript({"tr a-z A-Z </opt/greeting >/opt/shout"}));
    std::vector<Layer> extra;
    $extra
    return bincastle::main(argc, argv, Layer(Name("sys"), RunDep(base), RunDep(shout), RunDeps(extra),
                                             RunArgs({"/bin/cat", "/opt/shout"})));
}
CPP
    sh "$BUSYBOX_ROOTFS" "$R/rootfs" >/dev/null || fail "busybox-rootfs failed"
    export BINCASTLE_HOME="$T/store"
    start_registry
}

bc() { timeout -k 5 300 "$B" "$@"; }
on_slurm() { bc build --executor slurm --export-cache "$REG/cache" --slurm-node-store "$T/node" --progress=json "$@"; }

# The names of this case's jobs that Slurm recorded as STATE, sorted, on one line.
jobs_with() {
    grep " UserId=$(id -un)(" "$SLURM_JOBCOMP" | grep " WorkDir=$T " | grep " JobState=$1 " |
        sed 's/.* Name=bincastle:\([^ ]*\) .*/\1/' | sort | tr '\n' ' '
}
events() { grep "\"event\": \"$1\"" "$2" | sed 's/.*"layer": "\([^"]*\)".*/\1/' | sort | tr '\n' ' '; }
my_queue() { squeue -h -u "$(id -un)" -o '%i %j %T' 2>&1; }
# Waits (up to 30 s) until the build writing $T/a says its job for LAYER started.
wait_for_start() {
    n=0
    until grep -q "\"event\": \"started\", \"layer\": \"$1\"" "$T/a"; do
        [ $n -lt 300 ] || fail "the job for $1 never started: $(cat "$T/a"); $(my_queue)"
        sleep 0.1
        n=$((n + 1))
    done
}

t_layers_built_as_jobs() {
    setup
    cd "$T" || fail "cd"
    on_slurm "$R" sys 2>"$T/a" || fail "the build failed: $(cat "$T/a")"
    [ "$(jobs_with COMPLETED)" = "greeting shout " ] || fail "jobs: $(jobs_with COMPLETED); $(cat "$SLURM_JOBCOMP")"
    [ "$(events submitted "$T/a")" = "greeting shout " ] || fail "submitted: $(events submitted "$T/a")"
    grep -q '"event": "started", "layer": "shout", .*"text": "on node1 (slurm job [0-9]*)"' "$T/a" ||
        fail "no 'started on node1' for shout: $(grep shout "$T/a")"
    # Built by the jobs, pulled here: nothing with a script was built by the driver.
    for layer in greeting shout; do
        grep -l "^name=$layer\$" "$T"/store/layers/*/meta | xargs grep -q "^pulled-from=$REG/cache" ||
            fail "$layer was not pulled from the cache: $(grep -h . "$T"/store/layers/*/meta)"
    done
    # The system runs, and nothing is built again for it: not here, not as a job.
    out=$(bc run --progress=json "$R" sys 2>"$T/r") || fail "run failed: $(cat "$T/r")"
    [ "$out" = "FIRST MESSAGE" ] || fail "the system shows '$out'"
    [ "$(events built "$T/r")" = "" ] || fail "a plain run built: $(events built "$T/r")"
    out=$(bc run --executor slurm --export-cache "$REG/cache" --progress=json "$R" sys 2>"$T/b") ||
        fail "run --executor slurm failed: $(cat "$T/b")"
    [ "$out" = "FIRST MESSAGE" ] || fail "run --executor slurm shows '$out'"
    [ "$(events submitted "$T/b")$(events built "$T/b")" = "" ] ||
        fail "submitted again: $(events submitted "$T/b"); built: $(events built "$T/b")"
    [ "$(jobs_with COMPLETED)" = "greeting shout " ] || fail "jobs after the second build: $(jobs_with COMPLETED)"
}

t_layer_rebuilt_every_run_builds_here_on_job_layers() {
    EXTRA_LAYER='"cat /opt/shout >/opt/always"' EXTRA_ON=shout EXTRA_ALWAYS=1
    setup
    cd "$T" || fail "cd"
    out=$(bc run --executor slurm --export-cache "$REG/cache" --slurm-node-store "$T/node" --progress=json "$R" sys \
        -- cat /opt/always 2>"$T/a") || fail "run failed: $(cat "$T/a")"
    [ "$out" = "FIRST MESSAGE" ] || fail "the system shows '$out'"
    [ "$(events submitted "$T/a")" = "greeting shout " ] || fail "submitted: $(events submitted "$T/a")"
    grep -q '"event": "built", "layer": "extra"' "$T/a" || fail "extra was not built here: $(grep extra "$T/a")"
}

t_same_layer_as_a_local_build() {
    setup
    cd "$T" || fail "cd"
    on_slurm "$R" sys 2>"$T/a" || fail "the slurm build failed: $(cat "$T/a")"
    BINCASTLE_HOME=$T/local bc build --export-cache "$REG/local" "$R" sys 2>"$T/l" || fail "the local build failed: $(cat "$T/l")"
    type=application/vnd.oci.image.manifest.v1+json
    for key in $(grep -h '"event": "submitted"' "$T/a" | sed 's/.*"key": "\([0-9a-f]*\)".*/\1/'); do
        remote=$(curl -fsS -H "Accept: $type" "http://$REG/v2/cache/manifests/key-$key") || fail "no job-built manifest for $key"
        local_built=$(curl -fsS -H "Accept: $type" "http://$REG/v2/local/manifests/key-$key") ||
            fail "the local build has no layer of key $key: the keys differ"
        blob() { echo "$1" | sed 's/.*"layers":\[{[^}]*"digest":"\(sha256:[0-9a-f]*\)".*/\1/'; }
        [ "$(blob "$remote")" = "$(blob "$local_built")" ] || fail "key $key: blob $(blob "$remote") from the job, $(blob "$local_built") here"
    done
}

t_failed_job_shows_its_log() {
    EXTRA_LAYER='"echo about to fail", "false"'
    setup
    cd "$T" || fail "cd"
    on_slurm "$R" sys 2>"$T/a"
    rc=$?
    [ $rc -eq 125 ] || fail "exit status $rc: $(cat "$T/a")"
    grep '"event": "failed", "layer": "extra"' "$T/a" >"$T/failed" || fail "no failed event: $(cat "$T/a")"
    grep -q 'slurm job [0-9]* on node1: FAILED' "$T/failed" || fail "no job id and state: $(cat "$T/failed")"
    grep -q 'about to fail' "$T/failed" || fail "no log tail: $(cat "$T/failed")"
    [ "$(jobs_with FAILED)" = "extra " ] || fail "failed jobs: $(jobs_with FAILED)"
}

# Ends the driver with signal $1 while a job sleeps: every job it submitted is cancelled.
interrupted_build_cancels_its_jobs() {
    EXTRA_LAYER='"sleep 600"'
    setup
    cd "$T" || fail "cd"
    # As a terminal's Ctrl-C: SIGINT with its default action (a background job of a
    # script starts with it ignored).
    env --default-signal=INT "$B" build --executor slurm --export-cache "$REG/cache" --slurm-node-store "$T/node" \
        --progress=json "$R" sys 2>"$T/a" &
    pid=$!
    wait_for_start extra
    kill "-$1" "$pid"
    wait "$pid"
    n=0
    while [ -n "$(my_queue)" ]; do
        [ $n -lt 100 ] || fail "jobs left after SIG$1: $(my_queue)"
        sleep 0.1
        n=$((n + 1))
    done
    # The sleeping one, and whatever else was still queued or running.
    case " $(jobs_with CANCELLED)" in *" extra "*) ;; *) fail "cancelled jobs: $(jobs_with CANCELLED)" ;; esac
}
t_ctrl_c_cancels_every_job() { interrupted_build_cancels_its_jobs INT; }
t_killed_driver_cancels_every_job() { interrupted_build_cancels_its_jobs KILL; }

t_refused_job_is_one_line() {
    setup
    cd "$T" || fail "cd"
    on_slurm --slurm-partition nosuch "$R" sys 2>"$T/a"
    rc=$?
    [ $rc -eq 125 ] || fail "exit status $rc: $(cat "$T/a")"
    grep -q '"event": "failed", "layer": "greeting", .*"text": "slurm refused the job bincastle:greeting: sbatch: error: .*[Pp]artition' "$T/a" ||
        fail "no clear line: $(cat "$T/a")"
    [ -z "$(my_queue)" ] || fail "jobs left: $(my_queue)"
}

t_no_export_cache_is_refused() {
    setup
    bc build --executor slurm "$R" sys 2>"$T/a"
    rc=$?
    [ $rc -eq 125 ] || fail "exit status $rc: $(cat "$T/a")"
    grep -q "executor slurm needs --export-cache REF" "$T/a" || fail "no clear line: $(cat "$T/a")"
}

t_job_of_a_failed_node_runs_again() {
    EXTRA_LAYER='"sleep 3", "echo done >/extra"'
    setup
    cd "$T" || fail "cd"
    "$B" build --executor slurm --export-cache "$REG/cache" --slurm-node-store "$T/node" --progress=json "$R" sys 2>"$T/a" &
    pid=$!
    wait_for_start extra
    # The node fails under the job, then comes back.
    scontrol update nodename=node1 state=down reason=bincastle-test || fail "scontrol update failed"
    n=0
    # Whatever ran there with it fails too.
    until case " $(jobs_with NODE_FAIL)" in *" extra "*) true ;; *) false ;; esac; do
        [ $n -lt 100 ] || fail "no job ended with its node: $(cat "$SLURM_JOBCOMP")"
        sleep 0.1
        n=$((n + 1))
    done
    scontrol update nodename=node1 state=resume 2>/dev/null
    wait "$pid" || fail "the build failed: $(cat "$T/a")"
    grep -q '"event": "submitted", "layer": "extra", .*"text": "slurm job [0-9]*, again: slurm job [0-9]* on node1 ended with its node (NODE_FAIL' "$T/a" ||
        fail "no second submission that says why: $(grep extra "$T/a")"
    [ "$(jobs_with COMPLETED)" = "extra greeting shout " ] || fail "completed: $(jobs_with COMPLETED)"
}

tap_case t_layers_built_as_jobs "every layer with a script is built by a job, the system runs, a second build submits nothing"
tap_case t_layer_rebuilt_every_run_builds_here_on_job_layers "a layer rebuilt on every run builds here, on layers jobs built"
tap_case t_same_layer_as_a_local_build "a layer built by a job has the key and blob of the same layer built here"
tap_case t_failed_job_shows_its_log "a failing job: its id, its state and its log's tail"
tap_case t_ctrl_c_cancels_every_job "Ctrl-C cancels every submitted job"
tap_case t_killed_driver_cancels_every_job "a driver killed with SIGKILL leaves no job either"
tap_case t_refused_job_is_one_line "a job slurm refuses is one line"
tap_case t_no_export_cache_is_refused "--executor slurm without --export-cache is one line"
# Only the cluster's admin can fail a node.
[ "$(id -u)" -ne 0 ] || tap_case t_job_of_a_failed_node_runs_again "a job whose node fails is submitted once more"
tap_main
