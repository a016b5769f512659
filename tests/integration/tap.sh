# A tiny TAP producer, sourced by the integration scripts (POSIX sh).
#
#   . "$here/tap.sh"
#   t_example() { run true; expect_rc 0; }   # a case is a shell function
#   tap_case t_example "what it checks"      # register it (the plan is counted)
#   tap_main                                 # prints 1..N, runs every case
#
# Each case runs in its own subshell, stdin from /dev/null, with $T a fresh private
# directory that is removed when the case ends; `on_exit CMD` adds cleanup (run first,
# in order). `fail MSG` ends the case as "not ok", `skip MSG` as "ok ... # SKIP" (only
# for a host that lacks a kernel feature). Everything a case writes to stdout or stderr
# becomes `# ` diagnostics, shown for failed cases (and for all with TAP_VERBOSE=1), so
# stdout stays pure TAP; a failed case's diagnostics also go to stderr, which is what
# `meson test --print-errorlogs` shows. A watchdog ends a case after TAP_CASE_TIMEOUT
# seconds, first noting the processes the case left running and what each waits in.
# TAP_ONLY=PATTERN runs only the cases whose function name matches the shell PATTERN.

TAP_CASE_TIMEOUT=${TAP_CASE_TIMEOUT:-120}
_tap_count=0

tap_case() {
    # TAP_ONLY=PATTERN (a shell pattern) keeps only the matching cases, for development.
    # shellcheck disable=SC2254 # a pattern on purpose
    case $1 in ${TAP_ONLY:-*}) ;; *) return 0 ;; esac
    _tap_count=$((_tap_count + 1))
    eval "_tap_func_$_tap_count=\$1 _tap_name_$_tap_count=\$2"
}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# wait_for_file FILE WHAT: until FILE exists (30 s at most); else fails saying WHAT never
# happened.
wait_for_file() {
    _w=0
    until [ -e "$1" ]; do
        _w=$((_w + 1))
        [ $_w -lt 300 ] || fail "$2 never happened"
        sleep 0.1
    done
}

skip() {
    echo "$*" >"$_tap_skip_file"
    exit 77
}

on_exit() {
    _tap_cleanup="$_tap_cleanup
$*"
}

# _tap_processes_under PID: PID's descendants, one line each with the kernel function
# each sleeps in, for a case that hung.
_tap_processes_under() {
    ps -e -o pid=,ppid=,stat=,wchan:24=,args= 2>/dev/null | awk -v top="$1" '
        { pid[NR] = $1; ppid[NR] = $2; line[NR] = $0 }
        END {
            keep[top] = 1
            for (changed = 1; changed;) {
                changed = 0
                for (i = 1; i <= NR; i++)
                    if ((ppid[i] in keep) && !(pid[i] in keep)) { keep[pid[i]] = 1; changed = 1 }
            }
            for (i = 1; i <= NR; i++) if (pid[i] in keep) print line[i]
        }'
}

_tap_finish_case() {
    _tap_rc=$?
    trap '' EXIT INT TERM HUP
    eval "$_tap_cleanup"
    if [ -n "${T:-}" ] && [ -d "$T" ]; then
        chmod -R u+rwX "$T" 2>/dev/null
        rm -rf "$T" 2>/dev/null || echo "cleanup: could not remove $T" >&2
    fi
    exit "$_tap_rc"
}

_tap_run_case() {
    _tap_cleanup=""
    T=$(mktemp -d "${TMPDIR:-/tmp}/bincastle-case.XXXXXX") || exit 1
    trap _tap_finish_case EXIT
    trap 'echo "interrupted (case timeout?)" >&2; exit 1' INT TERM HUP
    "$1"
    exit 0
}

tap_main() {
    echo "1..$_tap_count"
    _tap_failed=0
    _tap_log=$(mktemp "${TMPDIR:-/tmp}/bincastle-tap.XXXXXX") || exit 1
    _tap_skip_file=$_tap_log.skip
    _tap_i=1
    while [ "$_tap_i" -le "$_tap_count" ]; do
        eval "_tap_func=\$_tap_func_$_tap_i _tap_name=\$_tap_name_$_tap_i"
        rm -f "$_tap_skip_file"
        _tap_started=$(date +%s)
        : >"$_tap_log"
        # Appending, so that the watchdog's lines are not overwritten by the case's.
        (_tap_run_case "$_tap_func") >>"$_tap_log" 2>&1 </dev/null &
        _tap_pid=$!
        # The watchdog polls, so it leaves nothing behind once the case is over.
        (
            n=0
            while [ "$n" -lt $((TAP_CASE_TIMEOUT * 10)) ]; do
                sleep 0.1
                kill -0 "$_tap_pid" 2>/dev/null || exit 0
                n=$((n + 1))
            done
            _tap_hung=$(_tap_processes_under "$_tap_pid")
            printf 'watchdog: case exceeded %ss; its processes:\n%s\n' "$TAP_CASE_TIMEOUT" "$_tap_hung" >>"$_tap_log"
            _tap_pids="$_tap_pid $(echo "$_tap_hung" | awk '{ print $1 }')"
            # All of them: a shell runs its TERM trap only once its foreground child is gone.
            # shellcheck disable=SC2086 # one pid per word
            kill -TERM $_tap_pids 2>/dev/null
            # What ignores TERM (bincastle blocks it to relay it) is killed 10 s later.
            n=0
            while [ "$n" -lt 100 ]; do
                _tap_alive=
                for p in $_tap_pids; do kill -0 "$p" 2>/dev/null && _tap_alive=1; done
                [ -n "$_tap_alive" ] || break
                sleep 0.1
                n=$((n + 1))
            done
            # shellcheck disable=SC2086
            kill -KILL $_tap_pids 2>/dev/null
        ) </dev/null >/dev/null 2>&1 &
        wait "$_tap_pid"
        _tap_rc=$?
        _tap_secs=$(($(date +%s) - _tap_started))
        case $_tap_rc in
        0) echo "ok $_tap_i - $_tap_name" ;;
        77) echo "ok $_tap_i - $_tap_name # SKIP $(cat "$_tap_skip_file" 2>/dev/null)" ;;
        *)
            echo "not ok $_tap_i - $_tap_name"
            _tap_failed=$((_tap_failed + 1))
            ;;
        esac
        if [ "$_tap_rc" -ne 0 ] && [ "$_tap_rc" -ne 77 ] || [ -n "${TAP_VERBOSE:-}" ]; then
            sed 's/^/# /' "$_tap_log"
            echo "# (case $_tap_func, exit $_tap_rc, ${_tap_secs}s)"
            if [ "$_tap_rc" -ne 0 ] && [ "$_tap_rc" -ne 77 ]; then
                echo "not ok $_tap_i - $_tap_name (case $_tap_func, exit $_tap_rc, ${_tap_secs}s):"
                sed 's/^/    /' "$_tap_log"
            fi >&2
        fi
        _tap_i=$((_tap_i + 1))
    done
    rm -f "$_tap_log" "$_tap_skip_file"
    [ "$_tap_failed" -eq 0 ] || echo "# $_tap_failed of $_tap_count failed"
    [ "$_tap_failed" -eq 0 ]
}
