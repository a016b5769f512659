# Sourced by remote.sh and export.sh (POSIX sh, after tap.sh): a real registry for a
# case, Debian's docker-registry with its own config on 127.0.0.1 and its storage in
# the case's directory, and a small fault-injecting proxy in front of it.

# A port that is probably free: nothing answers on it now.
random_port() {
    while :; do
        p=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000))
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/" || { echo "$p"; return 0; }
    done
}

# Waits until http://127.0.0.1:PORT/v2/ answers, or PID is gone.
wait_http() {
    n=0
    while [ $n -lt 100 ]; do
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/v2/" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

# Starts a registry; sets REG (127.0.0.1:PORT) and REG_DATA (its storage).
start_registry() {
    command -v docker-registry >/dev/null || fail "docker-registry is not installed (apt-get install docker-registry)"
    mkdir -p "$T/registry"
    REG_DATA=$T/registry/data
    for attempt in 1 2 3 4 5; do
        port=$(random_port)
        cat >"$T/registry/config.yml" <<EOF2
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REG_DATA
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF2
        docker-registry serve "$T/registry/config.yml" >"$T/registry/log" 2>&1 &
        reg_pid=$!
        if wait_http "$port" "$reg_pid"; then
            REG=127.0.0.1:$port
            on_exit "kill $reg_pid 2>/dev/null; wait $reg_pid 2>/dev/null"
            return 0
        fi
        kill "$reg_pid" 2>/dev/null
        wait "$reg_pid" 2>/dev/null
    done
    fail "docker-registry did not start (attempt $attempt): $(cat "$T/registry/log")"
}

# Starts a proxy to $REG that answers the first FAILS requests with 500 and logs every
# request to $T/proxy.log; sets PROXY (127.0.0.1:PORT).
start_fault_proxy() {
    cat >"$T/proxy.py" <<'PY'
import http.client, http.server, socketserver, sys, threading
port, upstream, fails, log = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
lock, seen = threading.Lock(), [0]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        with lock:
            seen[0] += 1
            n = seen[0]
            with open(log, "a") as f:
                f.write("%s %s %s\n" % (self.command, self.path, 500 if n <= fails else "fwd"))
        if n <= fails:
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        conn = http.client.HTTPConnection(upstream)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() in ("transfer-encoding", "connection", "content-length", "date"):
                continue
            self.send_header(k, v.replace(upstream, "127.0.0.1:%d" % port))
        self.send_header("Content-Length", r.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = any
    def log_message(self, *args):
        pass
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
Server(("127.0.0.1", port), Handler).serve_forever()
PY
    port=$(random_port)
    : >"$T/proxy.log"
    python3 "$T/proxy.py" "$port" "$REG" "$1" "$T/proxy.log" >"$T/proxy.err" 2>&1 &
    proxy_pid=$!
    on_exit "kill $proxy_pid 2>/dev/null; wait $proxy_pid 2>/dev/null"
    # An HTTP probe would count as a request: wait on a bare connect instead.
    n=0
    while ! python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do
        kill -0 "$proxy_pid" 2>/dev/null || fail "the proxy died: $(cat "$T/proxy.err")"
        [ $n -lt 100 ] || fail "the proxy did not start"
        sleep 0.1
        n=$((n + 1))
    done
    PROXY=127.0.0.1:$port
}

# The names of the layers with EVENT in a JSON progress file, sorted, on one line.
layers_with() {
    grep "\"event\": \"$1\"" "$2" | sed 's/.*"layer": "\([^"]*\)".*/\1/' | sort | tr '\n' ' '
}

# A definition directory (rootfs/, src/) for $DEFINITION; a store per name.
setup_definition() {
    D=$T/def
    mkdir -p "$D/src"
    sh "$BUSYBOX_ROOTFS" "$D/rootfs" >/dev/null || fail "busybox-rootfs failed"
    echo "first version" >"$D/src/a.txt"
    export BINCASTLE_DEFINITION_DIR="$D"
}

# def STORE ARGS...: the test definition program on the store $T/STORE.
def() {
    store=$1
    shift
    BINCASTLE_HOME="$T/$store" timeout -k 5 120 "$DEFINITION" "$@"
}
