# Finding a run's processes on the host by their command lines (POSIX sh), sourced by
# the integration scripts that check what is left once a run has ended.

# A number no other process on the host has as an argument.
unique_number() {
    echo "1$(od -An -N4 -tu4 /dev/urandom | tr -d ' \n')"
}

# with_arg TEXT: pids of processes with TEXT in their command line (but for the grep
# that looks, gone by the time the loop runs).
with_arg() {
    for _f in $(grep -l -a -F -e "$1" /proc/[0-9]*/cmdline 2>/dev/null); do
        [ -e "$_f" ] || continue
        _p=${_f#/proc/}
        echo "${_p%/cmdline}"
    done
}

# wait_gone SECONDS TEXT...: until no process has any TEXT in its command line; else
# says which are left and returns 1.
wait_gone() {
    _limit=$(($1 * 10))
    shift
    _n=0
    while :; do
        _left=$(for _text in "$@"; do with_arg "$_text"; done)
        [ -n "$_left" ] || return 0
        if [ "$_n" -ge "$_limit" ]; then
            echo "still running:" >&2
            ps -o pid,args -p "$(echo $_left | tr ' ' ,)" >&2
            return 1
        fi
        sleep 0.1
        _n=$((_n + 1))
    done
}

# kill_with_arg TEXT...: kills what wait_gone waits for (cleanup after a failure).
kill_with_arg() {
    for _text in "$@"; do
        for _p in $(with_arg "$_text"); do kill -KILL "$_p" 2>/dev/null; done
    done
}
