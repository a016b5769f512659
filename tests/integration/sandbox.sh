#!/bin/sh
# Black-box tests of `bincastle sandbox`, as TAP. Needs BINCASTLE (the static binary) and
# BUSYBOX_ROOTFS (tools/busybox-rootfs) in the environment; runs as root or as an
# unprivileged user (see run-as.sh). Every case has its own rootfs and temp dir ($T),
# and every sandbox call is bounded by `timeout`.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/web.sh"
. "$here/processes.sh"

if [ -z "${BINCASTLE:-}" ] || [ -z "${BUSYBOX_ROOTFS:-}" ]; then
    echo "Bail out! BINCASTLE and BUSYBOX_ROOTFS must be set"
    exit 1
fi
B=$BINCASTLE
# The driver nested runs bind at /bincastle: the busybox system has no libc, so it must
# be static, which a sanitizer build's own is not (it passes a static one here).
NESTED=${BINCASTLE_NESTED:-$B}
DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ME_UID=$(id -u)
ME_GID=$(id -g)
export LC_ALL=C

# Shared, read-only material for all cases: a pristine rootfs and the static helper.
SUITE=$(mktemp -d "${TMPDIR:-/tmp}/bincastle-suite.XXXXXX") || {
    echo "Bail out! mktemp failed"
    exit 1
}
# On the way out (also when interrupted): end a running case, which cleans up after
# itself, then remove the shared material and tap.sh's log.
suite_cleanup() {
    [ -z "${_tap_pid:-}" ] || kill -TERM "$_tap_pid" 2>/dev/null
    chmod -R u+rwX "$SUITE" 2>/dev/null
    rm -rf "$SUITE"
    [ -z "${_tap_log:-}" ] || rm -f "$_tap_log" "$_tap_log.skip"
}
trap suite_cleanup EXIT
trap 'exit 130' INT TERM HUP
sh "$BUSYBOX_ROOTFS" "$SUITE/rootfs" >"$SUITE/rootfs.log" 2>&1
cc -static -O2 -o "$SUITE/helper" "$here/helper.c" >"$SUITE/helper.log" 2>&1

# ---------------------------------------------------------------------------------------
# Helpers

# rootfs DIR: a fresh copy of the busybox rootfs.
rootfs() {
    [ -x "$SUITE/rootfs/bin/busybox" ] || fail "busybox-rootfs failed: $(cat "$SUITE/rootfs.log")"
    cp -a "$SUITE/rootfs" "$1" || fail "cannot copy the rootfs to $1"
}

# helper_into ROOTFS: the static helper as ROOTFS/bin/bchelper (a failure, not a skip,
# when it cannot be built).
need_helper() {
    [ -x "$SUITE/helper" ] || fail "cannot build the static helper (cc -static): $(cat "$SUITE/helper.log")"
}
helper_into() {
    need_helper
    cp "$SUITE/helper" "$1/bin/bchelper" || fail "cannot copy the helper"
}

SB_TIMEOUT=20
sb() { timeout -k 3 "$SB_TIMEOUT" "$B" sandbox "$@"; }

# run CMD...: stdout to $T/out ($out), stderr to $T/err ($err), status in $rc, which is
# "timeout" when the call ran into the time limit of sb (so that timeout's own 124 or
# 137 is never taken for the command's).
run() {
    run_stdin /dev/null "$@"
}
# run_stdin FILE CMD...: the same with stdin from FILE.
run_stdin() {
    _in=$1
    shift
    _last="$*"
    [ "$_in" = /dev/null ] || _last="$_last <$_in"
    _start=$(date +%s)
    "$@" >"$T/out" 2>"$T/err" <"$_in"
    rc=$?
    [ $(($(date +%s) - _start)) -lt "$SB_TIMEOUT" ] || rc="timeout (status $rc after $(($(date +%s) - _start))s)"
    out=$(cat "$T/out")
    err=$(cat "$T/err")
}

show() {
    echo "command: $_last"
    echo "exit status: $rc"
    echo "--- stdout:"
    head -c 4000 "$T/out"
    echo "--- stderr:"
    head -c 4000 "$T/err"
    echo "---"
}
failshow() {
    show >&2
    fail "$*"
}

expect_rc() {
    [ "$rc" = "$1" ] || failshow "expected exit status $1, got $rc${2:+ ($2)}"
}
expect_out() {
    [ "$out" = "$1" ] || failshow "expected stdout to be exactly:
$1"
}
expect_out_has() {
    grep -q -e "$1" "$T/out" || failshow "expected stdout to match: $1"
}
expect_err_has() {
    grep -q -F -e "$1" "$T/err" || failshow "expected stderr to contain: $1"
}
# A sandbox set-up failure: 125, one line on stderr starting "bincastle: " that names $1.
expect_setup_error() {
    expect_rc 125
    [ "$(wc -l <"$T/err")" -eq 1 ] || failshow "expected exactly one line on stderr"
    grep -q '^bincastle: ' "$T/err" || failshow "expected stderr to start with 'bincastle: '"
    [ -z "${1:-}" ] || expect_err_has "$1"
}
# A usage error: 125 and a message on stderr starting "bincastle: " that names $1.
expect_usage_error() {
    expect_rc 125
    grep -q '^bincastle: ' "$T/err" || failshow "expected a line on stderr starting with 'bincastle: '"
    [ -z "${1:-}" ] || expect_err_has "$1"
}
# The limits notice: one line, required where cgroups are v1/hybrid (not a pure v2 host).
expect_limits_notice() {
    if grep -q '^bincastle: limits:' "$T/err"; then
        [ "$(grep -c '^bincastle: limits:' "$T/err")" -eq 1 ] || failshow "the limits notice is more than one line"
        return 0
    fi
    if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ]; then
        failshow "cgroups here are v1/hybrid: expected a notice line starting 'bincastle: limits:' on stderr"
    fi
}

# mount_field MOUNTINFO MOUNTPOINT: "FSTYPE OPTIONS" of the topmost mount at MOUNTPOINT.
mount_field() {
    awk -v mp="$2" '$5 == mp { for (i = 7; i <= NF; i++) if ($i == "-") { r = $(i + 1) " " $6; break } } END { print r }' "$1"
}

# alive PID: the process exists and is not a zombie.
alive() {
    [ -r "/proc/$1/stat" ] || return 1
    case $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) in
    Z* | X* | '') return 1 ;;
    esac
    return 0
}
# wait_exit PID SECONDS: wait for a background child; its status in $rc. Kills it and
# returns 1 when it is still running after SECONDS.
wait_exit() {
    _n=0
    while alive "$1"; do
        if [ "$_n" -ge $(($2 * 10)) ]; then
            kill -KILL "$1" 2>/dev/null
            wait "$1"
            rc=killed
            return 1
        fi
        sleep 0.1
        _n=$((_n + 1))
    done
    wait "$1"
    rc=$?
    return 0
}
# wait_file PATH SECONDS
wait_file() {
    _n=0
    while [ ! -e "$1" ]; do
        [ "$_n" -lt $(($2 * 10)) ] || return 1
        sleep 0.1
        _n=$((_n + 1))
    done
}

# sleepers N: host pids of processes whose command line is exactly "sleep N".
sleepers() {
    for _f in $(grep -l -a -F -e "$1" /proc/[0-9]*/cmdline 2>/dev/null); do
        [ "$(tr '\0' ' ' 2>/dev/null <"$_f")" = "sleep $1 " ] || continue
        _p=${_f#/proc/}
        echo "${_p%/cmdline}"
    done
}
kill_sleepers() {
    for _p in $(sleepers "$1"); do kill -KILL "$_p" 2>/dev/null; done
}
# wait_sleepers N SECONDS: until some "sleep N" runs on the host.
wait_sleepers() {
    _n=0
    while [ -z "$(sleepers "$1")" ]; do
        [ "$_n" -lt $(($2 * 10)) ] || return 1
        sleep 0.1
        _n=$((_n + 1))
    done
}

# start_sleeper WHAT [SANDBOX OPTIONS...]: runs `sandbox OPTIONS ROOT -- sleep $m` in
# the background as $bpid (m: a fresh unique number), cleaned up when the case ends,
# and waits until the sleep runs. WHAT says what the case then does, for diagnostics.
start_sleeper() {
    _what=$1
    shift
    m=$(unique_number)
    "$B" sandbox "$@" "$T/root" -- sleep "$m" </dev/null >"$T/out" 2>"$T/err" &
    bpid=$!
    on_exit "kill -KILL $bpid 2>/dev/null; kill_sleepers $m"
    _last="bincastle sandbox $* ROOT -- sleep $m, then $_what"
    wait_sleepers "$m" 10 || { wait_exit "$bpid" 1; failshow "sleep $m did not start"; }
}

# wait_no_sleepers N SECONDS: until no "sleep N" runs on the host.
wait_no_sleepers() {
    _n=0
    while [ -n "$(sleepers "$1")" ]; do
        [ "$_n" -lt $(($2 * 10)) ] || return 1
        sleep 0.1
        _n=$((_n + 1))
    done
}

is_root() { [ "$ME_UID" -eq 0 ]; }

# ---------------------------------------------------------------------------------------
# Command line and exit statuses

t_help() {
    run "$B" sandbox --help
    expect_rc 0
    grep -qi 'usage' "$T/out" || failshow "expected usage text on stdout"
    expect_out_has '--layer'
}

t_missing_rootfs() {
    run sb "$T/no-such-rootfs" -- true
    expect_setup_error "$T/no-such-rootfs"
}

t_missing_layer() {
    rootfs "$T/root"
    run sb --layer "$T/root" --layer "$T/no-such-layer" -- true
    expect_setup_error "$T/no-such-layer"
}

t_rootfs_not_dir() {
    echo not-a-dir >"$T/file"
    run sb "$T/file" -- true
    expect_setup_error "$T/file"
}

t_missing_bind_source() {
    rootfs "$T/root"
    mkdir "$T/root/data"
    run sb --bind "$T/no-such-source:/data" "$T/root" -- true
    expect_setup_error "$T/no-such-source"
    run sb --ro-bind "$T/no-such-ro-source:/data" "$T/root" -- true
    expect_setup_error "$T/no-such-ro-source"
}

t_bad_option() {
    rootfs "$T/root"
    run sb --frobnicate "$T/root" -- true
    expect_usage_error "frobnicate"
}

t_bad_option_values() {
    rootfs "$T/root"
    for args in "--net bogus" "--pids-max many" "--uid someone" "--memory-max lots" "--cpus fast"; do
        # shellcheck disable=SC2086
        run sb $args "$T/root" -- true
        expect_usage_error
    done
}

t_missing_dashdash() {
    rootfs "$T/root"
    run sb "$T/root" true
    expect_usage_error
}

t_missing_command() {
    rootfs "$T/root"
    run sb "$T/root" --
    expect_usage_error
}

t_rootfs_and_layer() {
    rootfs "$T/root"
    run sb --layer "$T/root" "$T/root" -- true
    expect_usage_error
    run sb -- true
    expect_usage_error
}

t_upper_without_layer() {
    rootfs "$T/root"
    run sb --upper "$T/up" "$T/root" -- true
    expect_usage_error
}

t_exit_status() {
    rootfs "$T/root"
    for s in 0 1 42 255; do
        run sb "$T/root" -- sh -c "exit $s"
        expect_rc "$s"
    done
}

t_command_not_found() {
    rootfs "$T/root"
    run sb "$T/root" -- no-such-command-bc
    expect_rc 127
    run sb "$T/root" -- /no/such/program
    expect_rc 127
}

t_not_executable() {
    rootfs "$T/root"
    printf '#!/bin/sh\necho should-not-run\n' >"$T/root/bin/noexec"
    chmod 644 "$T/root/bin/noexec"
    run sb "$T/root" -- /bin/noexec
    expect_rc 126
    run sb "$T/root" -- /bin
    expect_rc 126
}

t_signal_status() {
    rootfs "$T/root"
    run sb --init "$T/root" -- sh -c 'kill -KILL $$; sleep 5'
    expect_rc 137
    run sb --init "$T/root" -- sh -c 'kill -TERM $$; sleep 5'
    expect_rc 143
}

t_signal_status_pid1() {
    rootfs "$T/root"
    start_sleeper "kill -KILL of the sleep from the host"
    kill -KILL $(sleepers "$m")
    wait_exit "$bpid" 10 || failshow "bincastle still runs 10s after its command was killed"
    expect_rc 137
}

t_stdio() {
    rootfs "$T/root"
    printf 'hello\nworld\n' >"$T/in"
    run_stdin "$T/in" sb "$T/root" -- sh -c 'cat; echo to-stderr >&2'
    expect_rc 0
    expect_out "hello
world"
    expect_err_has to-stderr
}

# ---------------------------------------------------------------------------------------
# Namespaces and identity

t_hostname_default() {
    rootfs "$T/root"
    run sb "$T/root" -- hostname
    expect_rc 0
    expect_out bincastle
}

t_hostname_option() {
    rootfs "$T/root"
    run sb --hostname box-one "$T/root" -- sh -c 'hostname; cat /proc/sys/kernel/hostname'
    expect_rc 0
    expect_out "box-one
box-one"
}

t_hostname_isolated() {
    rootfs "$T/root"
    before=$(hostname)
    run sb "$T/root" -- sh -c 'hostname changed-inside && hostname'
    after=$(hostname)
    if [ "$after" != "$before" ]; then
        is_root && hostname "$before"
        fail "the host's hostname changed from $before to $after"
    fi
    expect_rc 0
    expect_out changed-inside
}

t_pid_one() {
    rootfs "$T/root"
    run sb "$T/root" -- sh -c 'echo $$'
    expect_rc 0
    expect_out 1
}

t_proc_only_container() {
    rootfs "$T/root"
    # Only the shell itself may be listed (the glob runs without a child process).
    run sb "$T/root" -- sh -c 'cd /proc && echo [0-9]*'
    expect_rc 0
    expect_out 1
    run sb "$T/root" -- ps -o pid,comm
    expect_rc 0
    [ "$(grep -c . "$T/out")" -eq 2 ] || failshow "expected ps to list only itself"
}

t_uid_root_inside() {
    rootfs "$T/root"
    run sb "$T/root" -- sh -c 'id -u; id -g'
    expect_rc 0
    expect_out "0
0"
}

t_uid_maps_to_caller() {
    rootfs "$T/root"
    mkdir "$T/root/shared" "$T/shared"
    echo host >"$T/shared/from-host"
    run sb --bind "$T/shared:/shared" "$T/root" -- sh -c 'touch /shared/made-inside && stat -c %u:%g /shared/from-host'
    expect_rc 0
    expect_out "0:0"
    owner=$(stat -c %u:%g "$T/shared/made-inside") || fail "the file made inside is not on the host"
    [ "$owner" = "$ME_UID:$ME_GID" ] || fail "a file made by root inside is owned by $owner on the host, not by the caller $ME_UID:$ME_GID"
}

t_uid_gid_option() {
    rootfs "$T/root"
    mkdir "$T/root/shared" "$T/shared"
    chmod 777 "$T/shared"
    run sb --uid 1000 --gid 1000 --bind "$T/shared:/shared" "$T/root" -- \
        sh -c 'id -u; id -g; touch /shared/f && stat -c %u:%g /shared/f'
    expect_rc 0
    expect_out "1000
1000
1000:1000"
}

t_subids() {
    rootfs "$T/root"
    mkdir "$T/root/shared" "$T/shared"
    name=$(id -un)
    range=$(awk -F: -v u="$name" -v id="$ME_UID" '($1 == u || $1 == id) { print $2, $3; exit }' /etc/subuid)
    [ -n "$range" ] || fail "no /etc/subuid range for $name"
    run sb --subids --bind "$T/shared:/shared" "$T/root" -- \
        sh -c 'cat /proc/self/uid_map; touch /shared/f && chown 1000:1000 /shared/f && stat -c %u:%g /shared/f'
    expect_rc 0
    total=$(awk 'NF == 3 { n += $3 } END { print n + 0 }' "$T/out")
    [ "$total" -gt 65535 ] || failshow "expected a full uid range inside, got $total ids"
    [ "$(tail -n 1 "$T/out")" = "1000:1000" ] || failshow "chown to 1000:1000 inside did not work"
    host_uid=$(stat -c %u "$T/shared/f")
    set -- $range
    if [ "$host_uid" -lt "$1" ] || [ "$host_uid" -ge $(($1 + $2)) ]; then
        fail "uid 1000 inside is $host_uid on the host, outside the subordinate range $1+$2"
    fi
}

t_host_files_invisible() {
    rootfs "$T/root"
    echo secret >"$T/host-marker"
    home_marker=$(mktemp "$HOME/.bincastle-marker.XXXXXX") || fail "cannot write to \$HOME ($HOME)"
    on_exit "rm -f '$home_marker'"
    tmp_marker=$(mktemp /tmp/bincastle-marker.XXXXXX) || fail "cannot write to /tmp"
    on_exit "rm -f '$tmp_marker'"
    run sb "$T/root" -- sh -c 'for f; do [ -e "$f" ] && echo "visible: $f"; done; ls -A /etc' \
        _ "$T/host-marker" "$home_marker" "$tmp_marker" "$T/root/etc/passwd" /etc/os-release
    expect_rc 0
    expect_out "$(ls -A "$T/root/etc")"
}

t_old_root_unreachable() {
    rootfs "$T/root"
    echo secret >"$T/host-marker"
    run sb "$T/root" -- sh -c '
        [ "$(ls -A /proc/1/root/)" = "$(ls -A /)" ] || echo "/proc/1/root differs from /"
        for f in "/proc/1/root$1" "/proc/self/root$1" "/proc/1/cwd$1"; do [ -e "$f" ] && echo "visible: $f"; done
        while read -r id parent dev root mp rest; do echo "$mp"; done </proc/self/mountinfo >/tmp/mps
        grep -v -E "^/\$|^/(proc|sys|dev|tmp)(/|\$)" /tmp/mps | sed "s/^/unexpected mount point: /"
        echo done' _ "$T/host-marker"
    expect_rc 0
    expect_out done
}

t_no_leaked_fds() {
    rootfs "$T/root"
    mkdir "$T/hostdir"
    exec 7<"$T/hostdir"
    exec 8>"$T/hostfile"
    # "; true" keeps sh from exec'ing ls as pid 1 (it would list its own directory fd).
    run sb "$T/root" -- sh -c 'ls /proc/$$/fd; true'
    exec 7<&- 8>&-
    expect_rc 0
    expect_out "0
1
2"
}

t_no_new_privs() {
    rootfs "$T/root"
    run sb "$T/root" -- grep '^NoNewPrivs:' /proc/self/status
    expect_rc 0
    printf '%s\n' "$out" | grep -q '^NoNewPrivs:[[:space:]]*1$' || failshow "no_new_privs is not set"
}

t_cannot_signal_host() {
    rootfs "$T/root"
    m=$(unique_number)
    sleep "$m" &
    hpid=$!
    on_exit "kill -KILL $hpid 2>/dev/null"
    run sb "$T/root" -- sh -c 'kill -TERM "$1" 2>/dev/null; echo kill=$?; [ -e "/proc/$1" ]; echo proc=$?' _ "$hpid"
    expect_rc 0
    expect_out "kill=1
proc=1"
    alive "$hpid" || fail "the host process $hpid was killed from inside the sandbox"
}

t_mount_not_on_host() {
    rootfs "$T/root"
    mkdir "$T/root/mnt" "$T/root/shared" "$T/shared"
    "$B" sandbox --bind "$T/shared:/shared" "$T/root" -- sh -c '
        mount -t tmpfs none /mnt || exit 3
        touch /mnt/inside || exit 4
        echo ready >/shared/ready
        n=0; while [ ! -e /shared/go ] && [ $n -lt 200 ]; do sleep 0.1; n=$((n+1)); done' \
        </dev/null >"$T/out" 2>"$T/err" &
    bpid=$!
    # Should the mount leak to the host after all, take it away with the case.
    on_exit "kill -KILL $bpid 2>/dev/null; ! grep -q -F ' $T/root/mnt ' /proc/self/mountinfo || umount -l '$T/root/mnt'"
    _last="bincastle sandbox --bind SHARED:/shared ROOT -- sh -c 'mount -t tmpfs none /mnt; ...'"
    if ! wait_file "$T/shared/ready" 10; then
        wait_exit "$bpid" 1
        failshow "the container did not get to mount its tmpfs"
    fi
    leaked=$(grep -F -e "$T" /proc/self/mountinfo)
    [ ! -e "$T/root/mnt/inside" ] || leaked="$leaked
$T/root/mnt/inside exists on the host"
    echo go >"$T/shared/go"
    wait_exit "$bpid" 10 || failshow "the container did not finish"
    [ -z "$leaked" ] || fail "mounts made inside are visible on the host: $leaked"
    expect_rc 0
}

t_net_none() {
    rootfs "$T/root"
    run sb "$T/root" -- cat /proc/net/dev
    expect_rc 0
    names=$(awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' "$T/out" | sort | tr '\n' ' ')
    [ "$names" = "lo " ] || failshow "expected only lo, got: $names"
    run sb --net none "$T/root" -- ip -o link show
    expect_rc 0
    [ "$(grep -c . "$T/out")" -eq 1 ] || failshow "expected only lo in ip link"
    expect_out_has '^1: lo: <[A-Z_,]*[<,]UP[,>]'
}

t_sys_net() {
    rootfs "$T/root"
    # /sys is the container's own: its network class has the container's lo only.
    run sb "$T/root" -- sh -c 'ls /sys/class/net; cat /sys/class/net/lo/flags'
    expect_rc 0
    [ "$(head -n 1 "$T/out")" = lo ] && [ "$(grep -c . "$T/out")" -eq 2 ] || failshow "expected only lo in /sys/class/net"
    flags=$(tail -n 1 "$T/out")
    [ $((flags & 1)) -eq 1 ] || failshow "lo is not up in sysfs (flags $flags)"
}

t_net_host() {
    rootfs "$T/root"
    run sb --net host "$T/root" -- cat /proc/net/dev
    expect_rc 0
    inside=$(awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' "$T/out" | sort | tr '\n' ' ')
    host=$(awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' /proc/net/dev | sort | tr '\n' ' ')
    [ "$inside" = "$host" ] || failshow "interfaces inside: $inside; on the host: $host"
}

# ---------------------------------------------------------------------------------------
# Mounts and files

t_bind_ro() {
    rootfs "$T/root"
    mkdir "$T/root/data" "$T/ro"
    echo original >"$T/ro/file"
    run sb --ro-bind "$T/ro:/data" "$T/root" -- sh -c '
        cat /data/file
        echo changed >/data/file 2>/dev/null && echo "wrote file"
        touch /data/new 2>/dev/null && echo "created file"
        mkdir /data/dir 2>/dev/null && echo "made dir"
        exit 0'
    expect_rc 0
    expect_out original
    [ "$(cat "$T/ro/file")" = original ] || fail "the read-only file changed on the host"
    [ ! -e "$T/ro/new" ] || fail "a file appeared in the read-only bind on the host"
}

t_bind_rw() {
    rootfs "$T/root"
    mkdir "$T/root/data" "$T/rw"
    echo from-host >"$T/rw/file"
    run sb --bind "$T/rw:/data" "$T/root" -- sh -c 'cat /data/file; echo from-inside >/data/new && mkdir /data/dir && echo x >>/data/file'
    expect_rc 0
    expect_out from-host
    [ "$(cat "$T/rw/new" 2>/dev/null)" = from-inside ] || fail "the write inside is not on the host"
    [ -d "$T/rw/dir" ] || fail "the directory made inside is not on the host"
    [ "$(cat "$T/rw/file")" = "from-host
x" ] || fail "the append inside is not on the host"
}

t_bind_file() {
    rootfs "$T/root"
    echo "bound file" >"$T/file"
    touch "$T/root/etc/motd"
    run sb --ro-bind "$T/file:/etc/motd" "$T/root" -- cat /etc/motd
    expect_rc 0
    expect_out "bound file"
}

t_tmpfs() {
    rootfs "$T/root"
    mkdir "$T/root/data"
    echo hidden >"$T/root/data/existing"
    run sb --tmpfs /data "$T/root" -- sh -c 'ls -A /data; echo written >/data/new && cat /data/new; cat /proc/self/mountinfo >/data/mi; cat /data/mi >&2'
    expect_rc 0
    expect_out written
    cp "$T/err" "$T/mountinfo"
    set -- $(mount_field "$T/mountinfo" /data)
    [ "${1:-}" = tmpfs ] || failshow "/data is not a tmpfs (${1:-no mount})"
    [ ! -e "$T/root/data/new" ] || fail "the tmpfs write reached the host"
    [ "$(cat "$T/root/data/existing")" = hidden ] || fail "the host directory under the tmpfs changed"
}

t_tmp_is_tmpfs() {
    rootfs "$T/root"
    echo on-host >"$T/root/tmp/host-file"
    run sb "$T/root" -- sh -c 'ls -A /tmp; echo hi >/tmp/new && cat /tmp/new && grep " /tmp " /proc/self/mountinfo >&2'
    expect_rc 0
    expect_out hi
    cp "$T/err" "$T/mountinfo"
    set -- $(mount_field "$T/mountinfo" /tmp)
    [ "${1:-}" = tmpfs ] || failshow "/tmp is not a tmpfs (${1:-no mount})"
    [ ! -e "$T/root/tmp/new" ] || fail "a write to /tmp reached the rootfs on the host"
}

t_proc_sys_readonly() {
    rootfs "$T/root"
    run sb "$T/root" -- sh -c 'echo hacked >/proc/sys/kernel/hostname 2>/dev/null && echo "write worked"; hostname; grep " /proc/sys " /proc/self/mountinfo >&2'
    expect_rc 0
    expect_out bincastle
    cp "$T/err" "$T/mountinfo"
    set -- $(mount_field "$T/mountinfo" /proc/sys)
    case ",${2:-}," in *,ro,*) ;; *) failshow "/proc/sys is not mounted read-only (${2:-no mount})" ;; esac
}

t_sys_readonly() {
    rootfs "$T/root"
    run sb "$T/root" -- sh -c 'mkdir /sys/bincastle-test 2>/dev/null && echo "mkdir worked"; echo x >/sys/kernel/uevent_helper 2>/dev/null && echo "write worked"; ls /sys/class >/dev/null || echo "no /sys/class"; cat /proc/self/mountinfo >&2'
    expect_rc 0
    expect_out ""
    cp "$T/err" "$T/mountinfo"
    set -- $(mount_field "$T/mountinfo" /sys)
    [ "${1:-}" = sysfs ] || failshow "/sys is not a sysfs (${1:-no mount})"
    case ",${2:-}," in *,ro,*) ;; *) failshow "/sys is not mounted read-only (${2:-})" ;; esac
}

# ---------------------------------------------------------------------------------------
# /dev and terminals

t_dev_nodes() {
    rootfs "$T/root"
    run sb "$T/root" -- sh -c 'for d in null zero full random urandom tty; do stat -c "%n %F %t:%T" /dev/$d; done'
    expect_rc 0
    expect_out "/dev/null character special file 1:3
/dev/zero character special file 1:5
/dev/full character special file 1:7
/dev/random character special file 1:8
/dev/urandom character special file 1:9
/dev/tty character special file 5:0"
}

t_dev_usable() {
    rootfs "$T/root"
    run sb "$T/root" -- sh -c '
        echo discard >/dev/null || echo "/dev/null: write failed"
        [ "$(head -c 8 /dev/zero | od -An -tx1 | tr -d " ")" = 0000000000000000 ] || echo "/dev/zero: not zeros"
        [ "$(head -c 64 /dev/urandom | wc -c)" -eq 64 ] || echo "/dev/urandom: short read"
        [ "$(head -c 16 /dev/random | wc -c)" -eq 16 ] || echo "/dev/random: short read"
        echo done'
    expect_rc 0
    expect_out done
}

t_dev_full() {
    rootfs "$T/root"
    run sb "$T/root" -- sh -c 'echo x >/dev/full'
    [ "$rc" -ne 0 ] || failshow "writing to /dev/full succeeded"
    expect_err_has "No space left on device"
}

t_dev_pts() {
    rootfs "$T/root"
    run sb --no-tty "$T/root" -- sh -c 'readlink /dev/ptmx; ls /dev/pts; exec 3<>/dev/ptmx || exit 9; ls /dev/pts; cat /proc/self/mountinfo >&2'
    expect_rc 0
    expect_out "pts/ptmx
ptmx
0
ptmx"
    cp "$T/err" "$T/mountinfo"
    set -- $(mount_field "$T/mountinfo" /dev/pts)
    [ "${1:-}" = devpts ] || failshow "/dev/pts is not a devpts (${1:-no mount})"
}

t_dev_links_shm() {
    rootfs "$T/root"
    run sb "$T/root" -- sh -c 'for l in fd stdin stdout stderr; do readlink /dev/$l; done; (echo via-dev-stdout >/dev/stdout) | cat; echo x >/dev/shm/f && cat /dev/shm/f; cat /proc/self/mountinfo >&2'
    expect_rc 0
    expect_out "/proc/self/fd
/proc/self/fd/0
/proc/self/fd/1
/proc/self/fd/2
via-dev-stdout
x"
    cp "$T/err" "$T/mountinfo"
    set -- $(mount_field "$T/mountinfo" /dev/shm)
    [ "${1:-}" = tmpfs ] || failshow "/dev/shm is not a tmpfs (${1:-no mount})"
}

t_dev_minimal() {
    rootfs "$T/root"
    run sb "$T/root" -- sh -c 'ls -A /dev; find /dev -type b >&2'
    expect_rc 0
    [ ! -s "$T/err" ] || failshow "block devices in /dev"
    extra=$(grep -v -x -E 'null|zero|full|random|urandom|tty|pts|ptmx|shm|fd|stdin|stdout|stderr|console|core|mqueue' "$T/out")
    [ -z "$extra" ] || failshow "unexpected entries in /dev: $extra"
}

# in_pty OUTFILE COMMAND: runs the shell COMMAND on a fresh terminal of 33x77 (script(1));
# its status in $rc. Fails unless the terminal is back in its cooked mode (icanon,
# echo) after the COMMAND. script's stdin is a FIFO opened read-write: it never reaches
# end of file, so script types no end-of-file character into the terminal (which its
# echo would show as ^@).
in_pty() {
    command -v script >/dev/null || fail "script(1) (util-linux) is needed for the pty cases"
    [ -p "$T/pty-stdin" ] || mkfifo "$T/pty-stdin" || fail "mkfifo"
    _last="script -qec \"stty rows 33 cols 77; $2\" /dev/null"
    rm -f "$T/stty-after"
    script -qec "stty rows 33 cols 77; $2
        rc=\$?; stty -a >'$T/stty-after'; exit \$rc" /dev/null 0<>"$T/pty-stdin" >"$1.raw" 2>"$T/err"
    rc=$?
    tr -d '\r' <"$1.raw" >"$1"
    out=$(cat "$1")
    for _mode in icanon echo; do
        tr ' ;' '\n\n' <"$T/stty-after" 2>/dev/null | grep -qx "$_mode" ||
            failshow "the terminal was not restored ($_mode): $(cat "$T/stty-after" 2>/dev/null)"
    done
}

t_pty() {
    rootfs "$T/root"
    in_pty "$T/out" "timeout --foreground -k 5 30 '$B' sandbox --tty '$T/root' -- sh -c 'tty; stty size; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-tty; exit 3'"
    expect_rc 3
    expect_out "/dev/pts/0
33 77
all-tty"
}

t_pty_default() {
    rootfs "$T/root"
    in_pty "$T/out" "timeout --foreground -k 5 30 '$B' sandbox '$T/root' -- tty"
    expect_rc 0
    expect_out /dev/pts/0
    in_pty "$T/out" "timeout --foreground -k 5 30 '$B' sandbox --no-tty '$T/root' -- tty"
    expect_rc 1
    expect_out "not a tty"
    run sb "$T/root" -- tty
    expect_rc 1
    expect_out "not a tty"
}

t_pty_resize() {
    rootfs "$T/root"
    mkdir "$T/root/shared" "$T/shared"
    # The container reports its size, then waits (up to 5s) for it to change; the outer
    # terminal is resized once the first report is out.
    cat >"$T/root/inner" <<'EOF'
stty size
echo ready >/shared/ready
n=0
while [ "$(stty size)" = "33 77" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
stty size
EOF
    in_pty "$T/out" "timeout --foreground -k 5 30 '$B' sandbox --tty --bind '$T/shared:/shared' '$T/root' -- sh /inner </dev/tty &
        pid=\$!; n=0; while [ ! -e '$T/shared/ready' ] && [ \$n -lt 100 ]; do sleep 0.1; n=\$((n + 1)); done
        stty rows 40 cols 100; wait \$pid"
    expect_rc 0
    expect_out "33 77
40 100"
}

# A closed terminal (its tmux server killed) ends the session, as it ends a plain
# shell's: a shell as pid 1 reads the end of its input; a command that neither reads
# its terminal nor handles SIGHUP is killed after a grace period, with a pty or without.
t_pty_hangup() {
    command -v tmux >/dev/null || fail "tmux is needed for the hangup case"
    rootfs "$T/root"
    shell=$(unique_number)
    quiet=$(unique_number)
    notty=$(unique_number)
    socket=$T/tmux.sock
    on_exit "tmux -S '$socket' kill-server 2>/dev/null; kill_with_arg $shell $quiet $notty '$T/root'"
    _last="three sandboxes in tmux (a shell, sleep $quiet, sleep $notty with --no-tty), then tmux kill-server"
    tmux -S "$socket" new-session -d "'$B' sandbox '$T/root' -- sh -c 'sleep $shell & exec sh'" &&
        tmux -S "$socket" new-session -d "'$B' sandbox '$T/root' -- sleep $quiet" &&
        tmux -S "$socket" new-session -d "'$B' sandbox --no-tty '$T/root' -- sleep $notty" ||
        fail "tmux failed"
    for m in "$shell" "$quiet" "$notty"; do
        wait_sleepers "$m" 10 || fail "sleep $m did not start: $(tmux -S "$socket" list-panes -a -F '#{pane_dead} #{pane_start_command}')"
    done
    tmux -S "$socket" kill-server || fail "tmux kill-server failed"
    # Bounded by the grace period (5 s) and then some.
    wait_gone 20 "$shell" "$quiet" "$notty" "$T/root" || fail "20 s after the terminal closed, the run is still there"
}

# pending_input TTY: how many bytes the terminal TTY holds that no one has read yet.
pending_input() {
    python3 -c 'import array, fcntl, os, sys, termios
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
count = array.array("i", [0])
fcntl.ioctl(fd, termios.FIONREAD, count)
print(count[0])' "$1"
}

# Keys typed while the container ends are the caller's: restoring the terminal keeps
# them for the shell that reads it next. Made deterministic: once the relay has made
# the terminal raw, bincastle is stopped, a command is typed (and waits, unread, in
# the terminal), its command is killed, and it goes on: it sees its command gone
# before it would read the keys.
t_pty_keys_after_exit() {
    command -v tmux >/dev/null || fail "tmux is needed for this case"
    command -v python3 >/dev/null || fail "python3 is needed for this case"
    rootfs "$T/root"
    m=$(unique_number)
    socket=$T/tmux.sock
    on_exit "tmux -S '$socket' kill-server 2>/dev/null; kill_sleepers $m"
    _last="bincastle sandbox ROOT -- sleep $m in tmux, a command typed while it ends"
    tmux -S "$socket" new-session -d -x 80 -y 24 "'$B' sandbox '$T/root' -- sleep $m; echo \"left with \$?\"; PS1='after> ' exec sh" ||
        fail "tmux failed"
    screen() { tmux -S "$socket" capture-pane -p; }
    # wait_until CONDITION WHAT: until the shell CONDITION holds (10 s at most).
    wait_until() {
        n=0
        until eval "$1"; do
            [ $n -lt 100 ] || fail "never saw $2; the screen: $(screen)"
            sleep 0.1
            n=$((n + 1))
        done
    }
    pane=$(tmux -S "$socket" display -p '#{pane_tty}')
    wait_sleepers "$m" 10 || fail "sleep $m did not start: $(screen)"
    pid1=$(sleepers "$m")
    bpid=$(sed 's/.*) [A-Z] \([0-9]*\) .*/\1/' "/proc/$pid1/stat")
    wait_until 'stty -a <"$pane" | grep -q -- -icanon' "the terminal in raw mode"
    kill -STOP "$bpid" || fail "cannot stop bincastle ($bpid)"
    wait_until 'grep -q "^State:.*T" "/proc/$bpid/status"' "bincastle stopped"
    typed='echo "typed $((6 * 7))"'
    tmux -S "$socket" send-keys "$typed" || fail "tmux send-keys failed"
    wait_until '[ "$(pending_input "$pane")" -ge ${#typed} ]' "the keys waiting in the terminal"
    kill -KILL "$pid1"
    wait_until '! alive "$pid1"' "sleep $m (pid $pid1) ended"
    kill -CONT "$bpid"
    wait_until 'screen | grep -q "^after>"' "the shell after it"
    tmux -S "$socket" send-keys Enter
    # The shell's next prompt: the typed line (or, when the keys were lost, an empty one) ran.
    wait_until '[ "$(screen | grep -c "^after>")" -ge 2 ]' "the shell's next prompt"
    screen | grep -q "^left with 137" || fail "bincastle's command was not killed: $(screen)"
    screen | grep -q "typed 42" || fail "the command typed as the container ended did not run in the shell after it: $(screen)"
}

# ---------------------------------------------------------------------------------------
# Environment and working directory

t_env_clean() {
    rootfs "$T/root"
    BINCASTLE_TEST_SECRET=leaked
    export BINCASTLE_TEST_SECRET
    run sb "$T/root" -- env
    expect_rc 0
    expect_out "PATH=$DEFAULT_PATH"
}

t_setenv() {
    rootfs "$T/root"
    run sb --setenv FOO=bar --setenv "SPACED=a b=c" --setenv EMPTY= "$T/root" -- env
    expect_rc 0
    out=$(sort "$T/out")
    expect_out "EMPTY=
FOO=bar
PATH=$DEFAULT_PATH
SPACED=a b=c"
    run sb --setenv PATH=/bin:/usr/bin "$T/root" -- env
    expect_rc 0
    expect_out "PATH=/bin:/usr/bin"
}

t_chdir() {
    rootfs "$T/root"
    run sb --chdir /home/user "$T/root" -- pwd
    expect_rc 0
    expect_out /home/user
    run sb "$T/root" -- pwd
    expect_rc 0
    expect_out /
}

t_chdir_missing() {
    rootfs "$T/root"
    run sb --chdir /no-such-dir "$T/root" -- pwd
    expect_setup_error /no-such-dir
}

# ---------------------------------------------------------------------------------------
# Overlay

t_overlay_one_layer() {
    rootfs "$T/root"
    run sb --layer "$T/root" -- sh -c 'echo new >/newfile && cat /newfile && rm /etc/group && cat /proc/self/mountinfo >&2'
    expect_rc 0
    expect_out new
    cp "$T/err" "$T/mountinfo"
    set -- $(mount_field "$T/mountinfo" /)
    [ "${1:-}" = overlay ] || failshow "/ is not a kernel overlay (${1:-no mount})"
    [ ! -e "$T/root/newfile" ] || fail "a write went into the lower layer"
    [ -f "$T/root/etc/group" ] || fail "a deletion went into the lower layer"
    run sb --layer "$T/root" -- sh -c '[ -e /newfile ] && echo "/newfile survived"; cat /etc/group >/dev/null && echo kept'
    expect_rc 0
    expect_out kept
}

t_overlay_order() {
    rootfs "$T/root"
    mkdir -p "$T/l1/data" "$T/l2/data"
    echo 1 >"$T/l1/data/a"
    echo 1 >"$T/l1/data/b"
    echo 2 >"$T/l2/data/b"
    echo 2 >"$T/l2/data/c"
    run sb --layer "$T/root" --layer "$T/l1" --layer "$T/l2" -- sh -c 'cd /data && for f in a b c; do echo $f=$(cat $f); done'
    expect_rc 0
    expect_out "a=1
b=2
c=2"
    run sb --layer "$T/root" --layer "$T/l2" --layer "$T/l1" -- cat /data/b
    expect_rc 0
    expect_out 1
}

t_overlay_upper() {
    rootfs "$T/root"
    mkdir -p "$T/l1/data" "$T/state"
    echo lower >"$T/l1/data/a"
    run sb --layer "$T/root" --layer "$T/l1" --upper "$T/state/up" -- sh -c 'echo upper >/data/new && echo changed >/data/a'
    expect_rc 0
    [ "$(cat "$T/state/up/data/new" 2>/dev/null)" = upper ] || fail "the new file is not in the upper dir"
    [ "$(cat "$T/state/up/data/a" 2>/dev/null)" = changed ] || fail "the changed file is not in the upper dir"
    [ "$(cat "$T/l1/data/a")" = lower ] || fail "the lower layer changed"
    [ -d "$T/state/.up.work" ] || fail "no hidden work dir $T/state/.up.work"
    run sb --layer "$T/root" --layer "$T/l1" --upper "$T/state/up" -- sh -c 'cat /data/new /data/a'
    expect_rc 0
    expect_out "upper
changed"
}

t_overlay_whiteout() {
    rootfs "$T/root"
    mkdir -p "$T/l1/data"
    echo a >"$T/l1/data/a"
    echo b >"$T/l1/data/b"
    run sb --layer "$T/root" --layer "$T/l1" --upper "$T/up" -- sh -c 'rm /data/a && ls /data'
    expect_rc 0
    expect_out b
    [ "$(stat -c '%F %t:%T' "$T/up/data/a" 2>&1)" = "character special file 0:0" ] ||
        fail "no 0/0 character device whiteout: $(stat -c '%F %t:%T' "$T/up/data/a" 2>&1)"
    [ -f "$T/l1/data/a" ] || fail "the file was deleted from the lower layer"
    run sb --layer "$T/root" --layer "$T/l1" --upper "$T/up" -- ls /data
    expect_rc 0
    expect_out b
}

t_overlay_rm_lower_dir() {
    need_helper
    rootfs "$T/root"
    mkdir -p "$T/l1/data/dir/sub"
    echo x >"$T/l1/data/dir/x"
    echo y >"$T/l1/data/dir/sub/y"
    run sb --layer "$T/root" --layer "$T/l1" --upper "$T/up" -- sh -c 'rm -rf /data/dir && [ ! -e /data/dir ] && echo removed'
    expect_rc 0
    expect_out removed
    [ "$(stat -c '%F %t:%T' "$T/up/data/dir" 2>&1)" = "character special file 0:0" ] ||
        fail "no 0/0 character device whiteout for the directory: $(stat -c '%F %t:%T' "$T/up/data/dir" 2>&1)"
    [ -f "$T/l1/data/dir/sub/y" ] || fail "the lower layer changed"
    run sb --layer "$T/root" --layer "$T/l1" --upper "$T/up" -- sh -c 'mkdir /data/dir && touch /data/dir/new && ls -A /data/dir'
    expect_rc 0
    expect_out new
    [ -d "$T/up/data/dir" ] || fail "the recreated directory is not in the upper dir"
    opaque=$("$SUITE/helper" getxattr "$T/up/data/dir" user.overlay.opaque 2>&1)
    [ "$opaque" = y ] || fail "the recreated directory is not opaque (user.overlay.opaque: $opaque)"
}

t_overlay_with_mounts() {
    rootfs "$T/root"
    mkdir "$T/root/data" "$T/root/scratch" "$T/rw"
    run sb --layer "$T/root" --upper "$T/up" --bind "$T/rw:/data" --tmpfs /scratch -- \
        sh -c 'echo bound >/data/f && echo temp >/scratch/f && echo root >/f && cat /data/f /scratch/f /f'
    expect_rc 0
    expect_out "bound
temp
root"
    [ "$(cat "$T/rw/f" 2>/dev/null)" = bound ] || fail "the bind write is not on the host"
    [ ! -e "$T/up/data/f" ] || fail "the bind write went into the upper dir"
    [ ! -e "$T/up/scratch/f" ] || fail "the tmpfs write went into the upper dir"
    [ "$(cat "$T/up/f" 2>/dev/null)" = root ] || fail "the root write is not in the upper dir"
}

# many_layers N: the rootfs and N-1 layers with long paths; each layer i has
# /layers/f<i> and overrides /layers/top.
many_layers() {
    n=$1
    rootfs "$T/root"
    long=this-is-a-rather-long-layer-directory-name-so-that-a-page-of-mount-options-overflows-early
    set -- --layer "$T/root"
    i=1
    while [ "$i" -lt "$n" ]; do
        d="$T/layers/$long-$i"
        mkdir -p "$d/layers" || fail "mkdir $d"
        echo "$i" >"$d/layers/f$i"
        echo "$i" >"$d/layers/top"
        set -- "$@" --layer "$d"
        i=$((i + 1))
    done
    run sb "$@" --upper "$T/up" -- sh -c 'cat /layers/top; ls /layers | wc -l; cat /layers/f1; echo upper >/layers/new'
    expect_rc 0
    expect_out "$((n - 1))
$n
1"
    [ "$(cat "$T/up/layers/new" 2>/dev/null)" = upper ] || fail "the write is not in the upper dir"
}

t_overlay_50_layers() {
    many_layers 50
}

t_overlay_500_layers() {
    many_layers 500
}

t_overlay_fuse() {
    [ -e /dev/fuse ] || skip "this kernel has no /dev/fuse"
    command -v fuse-overlayfs >/dev/null || fail "fuse-overlayfs is not installed"
    rootfs "$T/root"
    mkdir -p "$T/l1/data" "$T/l2/data"
    echo 1 >"$T/l1/data/a"
    echo 1 >"$T/l1/data/b"
    echo 2 >"$T/l2/data/b"
    run env BINCASTLE_OVERLAY=fuse timeout -k 5 30 "$B" sandbox --layer "$T/root" --layer "$T/l1" --layer "$T/l2" --upper "$T/up" -- \
        sh -c 'cat /data/a /data/b; echo new >/data/c; cat /proc/self/mountinfo >&2'
    if [ "$rc" != 0 ] && { [ ! -r /dev/fuse ] || [ ! -w /dev/fuse ]; }; then
        echo "note: /dev/fuse is not read-writable here (mode $(stat -c %a /dev/fuse)); CI makes it 0666" >&2
    fi
    expect_rc 0
    expect_out "1
2"
    cp "$T/err" "$T/mountinfo"
    set -- $(mount_field "$T/mountinfo" /)
    case ${1:-} in fuse*) ;; *) failshow "/ is not a fuse mount (${1:-no mount})" ;; esac
    [ "$(cat "$T/up/data/c" 2>/dev/null)" = new ] || fail "the write is not in the upper dir"
}

# ---------------------------------------------------------------------------------------
# Processes and signals

t_sigterm_forwarded() {
    rootfs "$T/root"
    mkdir "$T/root/shared" "$T/shared"
    "$B" sandbox --bind "$T/shared:/shared" "$T/root" -- sh -c '
        trap "echo got-term >/shared/marker; exit 7" TERM
        echo ready >/shared/ready
        n=0; while [ $n -lt 200 ]; do sleep 0.1; n=$((n+1)); done' </dev/null >"$T/out" 2>"$T/err" &
    bpid=$!
    on_exit "kill -KILL $bpid 2>/dev/null"
    _last="bincastle sandbox ROOT -- sh -c 'trap ... TERM', then kill -TERM bincastle"
    wait_file "$T/shared/ready" 10 || { wait_exit "$bpid" 1; failshow "the container did not start"; }
    kill -TERM "$bpid"
    wait_exit "$bpid" 10 || failshow "bincastle still runs 10s after SIGTERM"
    expect_rc 7
    [ "$(cat "$T/shared/marker" 2>/dev/null)" = got-term ] || fail "the command's TERM trap did not run"
}

t_sigterm_forwarded_init() {
    rootfs "$T/root"
    mkdir "$T/root/shared" "$T/shared"
    "$B" sandbox --init --bind "$T/shared:/shared" "$T/root" -- sh -c '
        trap "echo got-term >/shared/marker; exit 7" TERM
        echo $$ >/shared/ready
        n=0; while [ $n -lt 200 ]; do sleep 0.1; n=$((n+1)); done' </dev/null >"$T/out" 2>"$T/err" &
    bpid=$!
    on_exit "kill -KILL $bpid 2>/dev/null"
    _last="bincastle sandbox --init ROOT -- sh -c 'trap ... TERM', then kill -TERM bincastle"
    wait_file "$T/shared/ready" 10 || { wait_exit "$bpid" 1; failshow "the container did not start"; }
    sleep 0.2
    kill -TERM "$bpid"
    wait_exit "$bpid" 10 || failshow "bincastle still runs 10s after SIGTERM"
    expect_rc 7
    [ "$(cat "$T/shared/marker" 2>/dev/null)" = got-term ] || fail "the command's TERM trap did not run"
    [ "$(cat "$T/shared/ready")" != 1 ] || fail "with --init the command is pid 1"
}

t_init_reaps() {
    rootfs "$T/root"
    # The inner sh leaves an orphan behind: it must be reparented to pid 1 (the init),
    # and once it exits, reaped (gone from /proc, not a zombie).
    run sb --init "$T/root" -- sh -c '
        sh -c "sleep 0.6 & echo \$! >/tmp/orphan"
        read -r o </tmp/orphan
        sleep 0.2
        read -r l <"/proc/$o/stat" || exit 3
        set -- $l
        [ "$4" = 1 ] && echo reparented
        sleep 1.5
        [ -e "/proc/$o" ] && echo "not reaped: $(cat "/proc/$o/stat")"
        for s in /proc/[0-9]*/stat; do
            read -r l <"$s" || continue
            set -- $l
            [ "$3" = Z ] && echo "zombie: $l"
        done
        echo "pid=$$"'
    expect_rc 0
    [ "$(head -n 1 "$T/out")" = reparented ] || failshow "the orphan was not reparented to pid 1"
    [ "$(grep -c . "$T/out")" -eq 2 ] || failshow "the orphan was not reaped"
    expect_out_has '^pid=[0-9]*$'
    [ "$(tail -n 1 "$T/out")" != "pid=1" ] || failshow "with --init the command is pid 1"
    run sb --init "$T/root" -- sh -c 'exit 42'
    expect_rc 42
}

t_net_user() {
    rootfs "$T/root"
    mkdir -p "$T/www"
    echo "from the host" >"$T/www/f.txt"
    serve_http "$T/www" "$T/port"
    port=$(cat "$T/port")
    run sb --net user "$T/root" -- sh -c 'ip -4 addr show tap0 | grep -o "inet [0-9./]*"; ip route | grep default'
    expect_rc 0
    expect_out_has '^inet 10.0.2.100/24$'
    expect_out_has '^default via 10.0.2.2 dev tap0'
    # The host's loopback only when asked.
    run sb --net user --net-host-loopback "$T/root" -- wget -q -O- "http://10.0.2.2:$port/f.txt"
    expect_rc 0
    expect_out "from the host"
    run sb --net user "$T/root" -- wget -q -T 5 -O- "http://10.0.2.2:$port/f.txt"
    [ "$rc" != 0 ] || failshow "the host's loopback was reachable without --net-host-loopback"
    # A server inside, reached from the host through a forwarded port.
    hport=$(free_port)
    mkdir -p "$T/inside"
    echo "from inside" >"$T/inside/g.txt"
    sb --net user -p "$hport:8080" --ro-bind "$T/inside:/www" "$T/root" -- httpd -f -p 8080 -h /www \
        >"$T/httpd.out" 2>&1 &
    server=$!
    on_exit "kill $server 2>/dev/null"
    wait_for_http "http://127.0.0.1:$hport/g.txt" "from inside" "an answer through the forwarded port ($(cat "$T/httpd.out"))"
    kill "$server"
    wait "$server"
    run sb -p "$hport:8080" "$T/root" -- true
    expect_rc 125 "-p without --net user"
}

t_net_bridge() {
    rootfs "$T/root"
    if [ "$(id -u)" -ne 0 ]; then
        run sb --net bridge "$T/root" -- true
        expect_rc 125 "--net bridge as an ordinary user"
        grep -q "needs root" "$T/err" || failshow "no line saying why"
        return 0
    fi
    mkdir -p "$T/shared" "$T/www" "$T/inside"
    echo "from the host" >"$T/www/f.txt"
    echo "from inside" >"$T/inside/g.txt"
    # A container on the bridge (made on first use), with a server; its address told.
    sb --net bridge --bind "$T/shared:/shared" --ro-bind "$T/inside:/www" "$T/root" -- sh -c '
        ip -4 addr show eth0 | grep -o "inet [0-9.]*" | cut -d" " -f2 >/shared/address.new
        ip route | grep default >/shared/route
        mv /shared/address.new /shared/address
        exec httpd -f -p 8080 -h /www' >"$T/bridge.out" 2>&1 &
    server=$!
    on_exit "kill $server 2>/dev/null"
    n=0
    until [ -s "$T/shared/address" ]; do
        n=$((n + 1))
        [ $n -lt 100 ] || fail "the container never told its address ($(cat "$T/bridge.out"))"
        sleep 0.1
    done
    address=$(cat "$T/shared/address")
    case $address in 10.89.0.*) ;; *) fail "eth0 has '$address'" ;; esac
    grep -q "default via 10.89.0.1 dev eth0" "$T/shared/route" || fail "route: $(cat "$T/shared/route")"
    # The host reaches it at its address; it reaches the host at the bridge's.
    wait_for_http "http://$address:8080/g.txt" "from inside" "the host reaching $address:8080 ($(cat "$T/bridge.out"))"
    serve_http "$T/www" "$T/port" 10.89.0.1
    run sb --net bridge "$T/root" -- wget -q -O- "http://10.89.0.1:$(cat "$T/port")/f.txt"
    expect_rc 0
    expect_out "from the host"
    kill "$server"
    wait "$server"
}

t_no_leftovers() {
    rootfs "$T/root"
    run sb --init --no-leftovers "$T/root" -- sh -c 'sleep 30 & exit 0'
    expect_rc 125 "a command that left a daemon"
    [ "$(grep -c . "$T/err")" -eq 1 ] || failshow "not one line on stderr"
    grep -q "^bincastle: sh exited but left processes running" "$T/err" || failshow "no line naming sh"
    run sb --init --no-leftovers "$T/root" -- sh -c 'sleep 30 & exit 3'
    expect_rc 3 "a failure is the command's own"
    run sb --init --no-leftovers "$T/root" -- sh -c 'sleep 0.1 & wait; exit 0'
    expect_rc 0 "a command that waited for what it started"
    run sb --init "$T/root" -- sh -c 'sleep 30 & exit 0'
    expect_rc 0 "without --no-leftovers"
    run sb --no-leftovers "$T/root" -- true
    expect_rc 125 "--no-leftovers without --init"
}

t_kill9_kills_container() {
    rootfs "$T/root"
    start_sleeper "kill -KILL bincastle"
    kill -KILL "$bpid"
    wait "$bpid"
    wait_no_sleepers "$m" 5 || fail "sleep $m (pids $(sleepers "$m" | tr '\n' ' ')) still runs 5s after bincastle was killed"
}

t_kill9_kills_container_init() {
    rootfs "$T/root"
    m=$(unique_number)
    "$B" sandbox --init "$T/root" -- sh -c 'sleep "$1"; true' _ "$m" </dev/null >"$T/out" 2>"$T/err" &
    bpid=$!
    on_exit "kill -KILL $bpid 2>/dev/null; kill_sleepers $m"
    _last="bincastle sandbox --init ROOT -- sh -c 'sleep $m', then kill -KILL bincastle"
    wait_sleepers "$m" 10 || { wait_exit "$bpid" 1; failshow "sleep $m did not start"; }
    kill -KILL "$bpid"
    wait "$bpid"
    wait_no_sleepers "$m" 5 || fail "sleep $m (pids $(sleepers "$m" | tr '\n' ' ')) still runs 5s after bincastle was killed"
}

t_second_term_kills() {
    rootfs "$T/root"
    # pid 1 without a handler ignores SIGTERM; a second one to bincastle must end the run.
    start_sleeper "kill -TERM bincastle twice"
    kill -TERM "$bpid"
    sleep 0.3
    kill -TERM "$bpid"
    wait_exit "$bpid" 10 || failshow "bincastle still runs 10s after a second SIGTERM"
    wait_no_sleepers "$m" 5 || fail "sleep $m still runs after bincastle ended"
    [ "$rc" != 0 ] || failshow "exit status 0 for a killed container"
}

t_signals_forwarded() {
    rootfs "$T/root"
    mkdir "$T/root/shared" "$T/shared"
    # env --default-signal: a background job of sh starts with INT and QUIT ignored.
    env --default-signal=INT,QUIT "$B" sandbox --bind "$T/shared:/shared" "$T/root" -- sh -c '
        for s in HUP INT QUIT USR1 USR2; do trap "echo $s >>/shared/got" $s; done
        echo ready >/shared/ready
        n=0; while [ ! -e /shared/done ] && [ $n -lt 200 ]; do sleep 0.1; n=$((n+1)); done
        exit 5' </dev/null >"$T/out" 2>"$T/err" &
    bpid=$!
    on_exit "kill -KILL $bpid 2>/dev/null"
    _last="bincastle sandbox ROOT -- sh -c 'trap ... HUP INT QUIT USR1 USR2', then each signal to bincastle"
    wait_file "$T/shared/ready" 10 || { wait_exit "$bpid" 1; failshow "the container did not start"; }
    i=1
    for sig in HUP INT QUIT USR1 USR2; do
        kill -"$sig" "$bpid"
        n=0
        while [ "$(grep -c . "$T/shared/got" 2>/dev/null)" != "$i" ] && [ $n -lt 50 ]; do
            sleep 0.1
            n=$((n + 1))
        done
        i=$((i + 1))
    done
    echo done >"$T/shared/done"
    wait_exit "$bpid" 10 || failshow "the container did not finish"
    expect_rc 5
    got=$(cat "$T/shared/got" 2>/dev/null)
    [ "$got" = "HUP
INT
QUIT
USR1
USR2" ] || failshow "the command received: $(echo "$got" | tr '\n' ' ')"
}

# ---------------------------------------------------------------------------------------
# Limits

t_pids_max() {
    rootfs "$T/root"
    mkdir "$T/root/shared" "$T/shared"
    m=$(unique_number)
    on_exit "kill_sleepers $m"
    # A bounded bomb: up to 300 processes, so that a broken limit cannot take the host down.
    run sb --pids-max 50 --bind "$T/shared:/shared" "$T/root" -- sh -c '
        n=0
        while [ $n -lt 300 ]; do sleep "$1" & n=$((n+1)); echo $n >/shared/count; done
        echo all >/shared/done' _ "$m"
    case $rc in timeout* | killed) failshow "bincastle did not return within 30s" ;; esac
    count=$(cat "$T/shared/count" 2>/dev/null || echo 0)
    [ ! -e "$T/shared/done" ] || failshow "all 300 processes started under --pids-max 50"
    [ "$count" -le 50 ] || failshow "$count processes started under --pids-max 50"
    expect_limits_notice
    wait_no_sleepers "$m" 5 || fail "processes of the container outlive it: $(sleepers "$m" | tr '\n' ' ')"
    sh -c 'exit 0' || fail "the host cannot fork any more"
}

t_memory_max() {
    rootfs "$T/root"
    helper_into "$T/root"
    run sb "$T/root" -- /bin/bchelper memhog 512
    expect_rc 0 "without a limit"
    run sb --memory-max 104857600 "$T/root" -- /bin/bchelper memhog 512
    case $rc in 0 | timeout*) failshow "a 512 MiB allocation was not refused under --memory-max 100 MiB" ;; esac
    expect_limits_notice
    run sb --memory-max 100M "$T/root" -- /bin/bchelper memhog 512
    case $rc in 0 | 125 | timeout*) failshow "a 512 MiB allocation was not refused under --memory-max 100M" ;; esac
}

t_cpus() {
    rootfs "$T/root"
    run sb --cpus 1 "$T/root" -- sh -c 'echo ran'
    expect_rc 0
    expect_out ran
    expect_limits_notice
}

# ---------------------------------------------------------------------------------------
# Escapes

t_chroot_escape() {
    rootfs "$T/root"
    helper_into "$T/root"
    echo secret >"$T/host-marker"
    run sb "$T/root" -- /bin/bchelper escape "$T/host-marker" "$T/root/bin/busybox"
    expect_rc 0
    expect_out_has contained
}

# ---------------------------------------------------------------------------------------
# Nesting

# Root's container is the host's root: its mounts are locked, so it cannot undo them
# (and the kernel then refuses a nested procfs; nesting is for ordinary users).
t_root_mounts_locked() {
    rootfs "$T/root"
    mkdir "$T/ro"
    run sb --ro-bind "$T/ro:/data" "$T/root" -- sh -c '
        umount /proc/sys 2>/dev/null && echo "unmasked /proc/sys"
        mount -o remount,bind,rw /data 2>/dev/null && echo "remounted /data rw"
        mount -o remount,bind,rw /sys 2>/dev/null && echo "remounted /sys rw"
        (: >>/proc/sys/kernel/core_pattern) 2>/dev/null && echo "core_pattern writable"
        hostname inner && hostname'
    expect_rc 0
    expect_out inner
}

t_nested_refused_as_root() {
    nested_root
    run sb --ro-bind "$NESTED:/bincastle" "$T/root" -- /bincastle sandbox / -- true
    expect_rc 125
    [ "$(wc -l <"$T/err")" -eq 1 ] || failshow "expected one line on stderr"
    grep -q "started by root" "$T/err" || failshow "the message does not say why"
}

# The --init process is pid 1 of the container: it must hold nothing of the caller's.
t_init_holds_nothing() {
    rootfs "$T/root"
    mkdir "$T/secret"
    echo topsecret >"$T/secret/file"
    run sb --init --layer "$T/root" --upper "$T/secret/up" -- sh -c '
        ls /proc/1/fd | tr "\n" " "; echo
        cat /proc/1/fd/*/file 2>/dev/null; cat /proc/1/root/etc/hostname 2>/dev/null; true'
    expect_rc 0
    grep -q topsecret "$T/out" && failshow "pid 1 reaches a host directory"
    # Its fds are stdio alone, or not even listable (it is not dumpable).
    case $(head -1 "$T/out") in
    "0 1 2 ") ;;
    "") grep -q "Permission denied" "$T/err" || failshow "pid 1's fds neither listed nor refused" ;;
    *) failshow "pid 1 holds more than stdio" ;;
    esac
}

# The fuse-overlayfs daemon runs outside: nothing in the container sees it, though
# its root is the fuse mount the daemon serves.
t_fuse_daemon_outside() {
    [ -e /dev/fuse ] || skip "this kernel has no /dev/fuse"
    rootfs "$T/root"
    run env BINCASTLE_OVERLAY=fuse timeout -k 5 30 "$B" sandbox --layer "$T/root" -- sh -c '
        cat /etc/hostname; ps -o comm | grep -c fuse; cat /proc/self/mountinfo >&2'
    expect_rc 0
    [ "$(head -1 "$T/out")" = bincastle ] || failshow "the fuse overlay did not show the layer"
    [ "$(tail -1 "$T/out")" = 0 ] || failshow "a fuse daemon is visible inside"
    cp "$T/err" "$T/mountinfo"
    set -- $(mount_field "$T/mountinfo" /)
    case ${1:-} in fuse*) ;; *) failshow "/ is not a fuse mount (${1:-no mount})" ;; esac
}

nested_root() {
    rootfs "$T/root"
    touch "$T/root/bincastle"
}

t_nested_pid1() {
    nested_root
    run sb --ro-bind "$NESTED:/bincastle" "$T/root" -- /bincastle sandbox / -- sh -c 'echo $$; id -u'
    expect_rc 0
    expect_out "1
0"
}

t_nested_hostname() {
    nested_root
    run sb --hostname outer --ro-bind "$NESTED:/bincastle" "$T/root" -- sh -c '
        /bincastle sandbox --hostname inner / -- hostname
        hostname
        /bincastle sandbox / -- hostname'
    expect_rc 0
    expect_out "inner
outer
bincastle"
}

t_nested_status() {
    nested_root
    run sb --ro-bind "$NESTED:/bincastle" "$T/root" -- /bincastle sandbox / -- sh -c 'exit 3'
    expect_rc 3
    run sb --ro-bind "$NESTED:/bincastle" "$T/root" -- /bincastle sandbox / -- no-such-command-bc
    expect_rc 127
}

t_nested_overlay() {
    nested_root
    cp -a "$T/root" "$T/layer"
    mv "$T/layer" "$T/root/layer"
    echo layer >"$T/root/layer/etc/hostname"
    # Inside, an overlay of a directory of the outer root, writes kept in the outer /tmp.
    run sb --ro-bind "$NESTED:/bincastle" "$T/root" -- sh -c '
        /bincastle sandbox --layer /layer --upper /tmp/up -- sh -c "echo nested >/new && cat /etc/hostname" || exit
        cat /tmp/up/new'
    expect_rc 0
    expect_out "layer
nested"
    [ ! -e "$T/root/layer/new" ] || fail "the nested overlay wrote into its lower layer"
}

t_nested_in_overlay() {
    nested_root
    run sb --layer "$T/root" --upper "$T/up" --ro-bind "$NESTED:/bincastle" -- \
        /bincastle sandbox / -- sh -c 'echo $$; echo nested >/new'
    expect_rc 0
    expect_out 1
    [ "$(cat "$T/up/new" 2>/dev/null)" = nested ] || fail "the nested write is not in the outer upper dir"
}

# ---------------------------------------------------------------------------------------

tap_case t_help "--help exits 0 and prints usage"
tap_case t_missing_rootfs "a missing rootfs gives 125 and names the path"
tap_case t_missing_layer "a missing layer gives 125 and names the path"
tap_case t_rootfs_not_dir "a rootfs that is not a directory gives 125 and names it"
tap_case t_missing_bind_source "a missing bind source gives 125 and names it"
tap_case t_bad_option "an unknown option gives 125 with a message"
tap_case t_bad_option_values "bad option values give 125"
tap_case t_missing_dashdash "a missing -- gives 125"
tap_case t_missing_command "no command after -- gives 125"
tap_case t_rootfs_and_layer "both ROOTFS and --layer, or neither, gives 125"
tap_case t_upper_without_layer "--upper without --layer gives 125"
tap_case t_exit_status "exit statuses 0 1 42 255 pass through"
tap_case t_command_not_found "a command not found gives 127"
tap_case t_not_executable "a command not executable gives 126"
tap_case t_signal_status "a command killed by SIGKILL/SIGTERM gives 137/143"
tap_case t_signal_status_pid1 "pid 1 killed from the host gives 137"
tap_case t_stdio "stdin, stdout and stderr pass through"
tap_case t_hostname_default "the default hostname is bincastle"
tap_case t_hostname_option "--hostname sets the hostname"
tap_case t_hostname_isolated "a hostname set inside does not change the host's"
tap_case t_pid_one "the command is pid 1"
tap_case t_proc_only_container "/proc shows only the container's processes"
tap_case t_uid_root_inside "the caller is uid and gid 0 inside"
tap_case t_uid_maps_to_caller "root inside is the caller outside"
tap_case t_uid_gid_option "--uid and --gid set the ids inside"
if ! is_root; then
    tap_case t_subids "--subids maps a full range through the subordinate ids"
fi
tap_case t_host_files_invisible "host files not given are invisible"
tap_case t_old_root_unreachable "the old root is unreachable (/proc/1/root, mountinfo)"
tap_case t_no_leaked_fds "no file descriptors of the caller leak inside"
tap_case t_no_new_privs "no_new_privs is set"
tap_case t_cannot_signal_host "host processes cannot be signalled"
tap_case t_mount_not_on_host "a mount made inside is not visible on the host"
tap_case t_net_none "--net none: only lo, and it is up"
tap_case t_sys_net "/sys/class/net shows the container's lo only"
tap_case t_net_host "--net host: the host's interfaces"
tap_case t_bind_ro "--ro-bind is read-only"
tap_case t_bind_rw "--bind is writable and writes show on the host"
tap_case t_bind_file "--ro-bind of a single file"
tap_case t_tmpfs "--tmpfs is a fresh empty tmpfs"
tap_case t_tmp_is_tmpfs "/tmp is a writable tmpfs"
tap_case t_proc_sys_readonly "/proc/sys is read-only"
tap_case t_sys_readonly "/sys is a read-only sysfs"
tap_case t_dev_nodes "/dev has the minimal device nodes"
tap_case t_dev_usable "/dev/null, zero, random, urandom work"
tap_case t_dev_full "/dev/full gives ENOSPC"
tap_case t_dev_pts "/dev/pts is a new devpts instance and /dev/ptmx opens"
tap_case t_dev_links_shm "/dev/fd and std links, /dev/shm tmpfs"
tap_case t_dev_minimal "/dev holds nothing else"
tap_case t_pty "--tty gives a pty with the caller's window size"
tap_case t_pty_default "a pty by default only when stdin is a terminal"
tap_case t_pty_resize "window size changes reach the pty"
tap_case t_pty_hangup "a closed terminal ends the session and everything in it"
tap_case t_pty_keys_after_exit "keys typed as the container ends reach the caller's next program"
tap_case t_env_clean "the environment is clean"
tap_case t_setenv "--setenv sets exactly the given variables"
tap_case t_chdir "--chdir sets the working directory (default /)"
tap_case t_chdir_missing "a missing --chdir directory gives 125"
tap_case t_overlay_one_layer "overlay of one layer; writes discarded without --upper"
tap_case t_overlay_order "overlay layers merge in order, the higher wins"
tap_case t_overlay_upper "overlay writes land in --upper, created if missing"
tap_case t_overlay_whiteout "deleting a lower file leaves a 0/0 whiteout in upper"
tap_case t_overlay_rm_lower_dir "removing a lower directory works, whiteout and opaque dir"
tap_case t_overlay_with_mounts "binds and tmpfs over an overlay root bypass the upper dir"
tap_case t_overlay_50_layers "overlay of 50 layers with long paths"
tap_case t_overlay_500_layers "overlay of 500 layers with long paths"
tap_case t_overlay_fuse "BINCASTLE_OVERLAY=fuse merges layers with fuse-overlayfs"
tap_case t_sigterm_forwarded "SIGTERM to bincastle reaches the command"
tap_case t_sigterm_forwarded_init "SIGTERM to bincastle reaches the command under --init"
tap_case t_init_reaps "--init reaps orphans"
tap_case t_net_user "--net user: an address and a route, the host's loopback only when asked, a forwarded port"
tap_case t_net_bridge "--net bridge (root): an address on bincastle0, reached from the host and reaching it; refused to others"
tap_case t_no_leftovers "--init --no-leftovers: a command that leaves a daemon fails, one that waits does not"
tap_case t_kill9_kills_container "killing bincastle with SIGKILL kills the container"
tap_case t_kill9_kills_container_init "killing bincastle with SIGKILL kills the container (--init)"
tap_case t_second_term_kills "a second SIGTERM to bincastle ends a command that ignores it"
tap_case t_signals_forwarded "HUP INT QUIT USR1 USR2 to bincastle reach the command"
tap_case t_pids_max "a fork bomb under --pids-max 50 is contained"
tap_case t_memory_max "--memory-max makes a large allocation fail"
tap_case t_cpus "--cpus runs the command"
tap_case t_chroot_escape "the chroot escape does not reach the host"
tap_case t_init_holds_nothing "--init's pid 1 holds no fd or path of the caller's"
tap_case t_fuse_daemon_outside "the fuse-overlayfs daemon is out of the container's sight"
if is_root; then
    tap_case t_root_mounts_locked "root's container cannot unmask /proc/sys or remount binds and /sys rw"
    tap_case t_nested_refused_as_root "nesting in a root-started sandbox is refused in one clear line"
else
    tap_case t_nested_pid1 "a nested sandbox runs its command as pid 1"
    tap_case t_nested_hostname "a nested sandbox has its own hostname"
    tap_case t_nested_status "a nested sandbox passes exit statuses through"
    tap_case t_nested_overlay "a nested sandbox can overlay a directory"
    tap_case t_nested_in_overlay "a nested sandbox runs inside an overlay root"
fi

tap_main
