# A web server on the host for the network cases (POSIX sh, python3), sourced by the
# integration scripts after tap.sh.

# serve_http DIR PORTFILE [ADDRESS]: serves DIR on the host's ADDRESS (127.0.0.1), on a
# free port that it writes to PORTFILE once it listens; stopped when the case ends.
serve_http() {
    python3 -c 'import functools, http.server, os, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
handler.log_message = lambda *args: None
server = http.server.HTTPServer((sys.argv[3], 0), handler)
open(sys.argv[2] + ".new", "w").write(str(server.server_port))
os.rename(sys.argv[2] + ".new", sys.argv[2])
server.serve_forever()' "$1" "$2" "${3:-127.0.0.1}" &
    on_exit "kill $! 2>/dev/null"
    wait_for_file "$2" "the test's web server's start"
}

# wait_for_http URL TEXT WHAT: until URL answers TEXT (10 s at most); else fails saying
# WHAT never happened.
wait_for_http() {
    _n=0
    until _got=$(curl -s -m 2 "$1") && [ "$_got" = "$2" ]; do
        _n=$((_n + 1))
        [ $_n -lt 100 ] || fail "$3 never happened"
        sleep 0.1
    done
}

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
