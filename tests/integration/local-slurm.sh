#!/bin/sh
# A Slurm cluster of one node on this machine, from Debian's packages (slurm-wlm,
# munge): munged, slurmctld and slurmd in a network namespace of their own, whose
# loopback also has 10.254.0.1 (Slurm's daemons need an address other than 127.0.0.1
# to find each other by), with their configuration, state and munge key in a
# directory of their own; nothing of the machine's /etc or /run is used.
#
#   local-slurm.sh run MODE SCRIPT [ARGS...]
#       (as root) starts the cluster, runs `run-as.sh MODE SCRIPT` (or, for MODE
#       "none", `sh SCRIPT ARGS...` as root) in the namespace with SLURM_CONF set, so
#       that sbatch and the jobs reach the cluster, stops it, and exits with the
#       script's status. Finished jobs are recorded in $SLURM_JOBCOMP (one line each:
#       JobId, UserId, Name, JobState, NodeList, ...).
set -u
here=$(cd "$(dirname "$0")" && pwd)

bail() {
    echo "Bail out! local-slurm.sh: $*"
    exit 1
}

[ $# -ge 3 ] && [ "$1" = run ] || bail "usage: local-slurm.sh run root|user|none SCRIPT [ARGS...]"
mode=$2
script=$3
shift 3
[ "$(id -u)" -eq 0 ] || bail "needs root (it starts the cluster's daemons)"
for tool in munged slurmctld slurmd sbatch ip setpriv; do
    command -v "$tool" >/dev/null || bail "$tool is missing (apt-get install slurm-wlm munge iproute2 util-linux)"
done

addr=10.254.0.1
ns=bincastle-slurm-$$
dir=$(mktemp -d /tmp/bincastle-slurm.XXXXXX) || bail "mktemp failed"
chmod 755 "$dir"
stop() {
    for pid_file in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        [ -f "$pid_file" ] && kill "$(cat "$pid_file")" 2>/dev/null
    done
    # The daemons remove their pid files as they end.
    n=0
    while [ $n -lt 50 ] && { [ -f "$dir/slurmd.pid" ] || [ -f "$dir/slurmctld.pid" ]; }; do
        sleep 0.1
        n=$((n + 1))
    done
    ip netns delete "$ns" 2>/dev/null
    rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM HUP

mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
# munged refuses a key or a socket directory others could change.
chown munge:munge "$dir/munge"
chmod 711 "$dir/munge"
head -c 1024 /dev/urandom >"$dir/munge/munge.key"
chown munge:munge "$dir/munge/munge.key"
chmod 400 "$dir/munge/munge.key"
ip netns add "$ns" || bail "ip netns add $ns failed"
ip -n "$ns" link set lo up && ip -n "$ns" addr add "$addr/32" dev lo || bail "cannot set up lo in $ns"

SLURM_CONF=$dir/slurm.conf
SLURM_JOBCOMP=$dir/jobcomp.txt
export SLURM_CONF SLURM_JOBCOMP
cat >"$SLURM_CONF" <<EOF
ClusterName=bincastle
SlurmctldHost=$(hostname -s)($addr)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobCompType=jobcomp/filetxt
JobCompLoc=$SLURM_JOBCOMP
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
# Schedule a job as it is submitted: by default slurmctld batches submissions for up
# to 3 s (batch_sched_delay), which a graph of many short jobs pays on every layer.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MinJobAge=300
NodeName=node1 NodeAddr=$addr NodeHostname=node1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
# Debian's kernel here has cgroup v1 and v2 side by side, which slurmd's autodetection
# refuses; nothing of the cgroup plugin is used (no cgroup proctrack or task plugin).
printf 'CgroupPlugin=cgroup/v1\nCgroupMountpoint=/sys/fs/cgroup\n' >"$dir/cgroup.conf"
chmod 644 "$dir/slurm.conf" "$dir/cgroup.conf"

in_ns() { ip netns exec "$ns" "$@"; }
in_ns setpriv --reuid munge --regid munge --init-groups munged --key-file="$dir/munge/munge.key" \
    --socket="$dir/munge/munge.sock" --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/seed" || bail "munged did not start: $(cat "$dir/munge/munged.log" 2>/dev/null)"
in_ns slurmctld -f "$SLURM_CONF" || bail "slurmctld did not start: $(cat "$dir/log/slurmctld.log")"
in_ns slurmd -f "$SLURM_CONF" -N node1 || bail "slurmd did not start: $(cat "$dir/log/slurmd.log")"
# Ready when the node takes jobs.
n=0
until in_ns sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle; do
    [ $n -lt 100 ] || bail "the node did not become idle: $(in_ns sinfo -N 2>&1); $(tail -n 5 "$dir/log/slurmd.log")"
    sleep 0.1
    n=$((n + 1))
done
: >"$SLURM_JOBCOMP"
chmod 644 "$SLURM_JOBCOMP"

if [ "$mode" = none ]; then
    in_ns sh "$script" "$@"
else
    in_ns sh "$here/run-as.sh" "$mode" "$script"
fi
status=$?
[ $status -eq 0 ] || [ -z "${TAP_VERBOSE:-}" ] || tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2
exit $status
