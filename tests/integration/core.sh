#!/bin/sh
# Integration tests of the core: a definition program (tests/core/definition.cpp,
# $DEFINITION) builds a small graph from a busybox rootfs into a store, in real
# containers. TAP on stdout; run by run-as.sh as root and as an unprivileged user.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"

[ -x "${DEFINITION:-}" ] || { echo "Bail out! DEFINITION must name the test definition program"; exit 1; }

# A definition directory (rootfs/, src/) and a store, fresh for each case.
setup() {
    D=$T/def
    mkdir -p "$D/src"
    sh "$BUSYBOX_ROOTFS" "$D/rootfs" >/dev/null || fail "busybox-rootfs failed"
    echo "first version" >"$D/src/a.txt"
    export BINCASTLE_HOME="$T/store" BINCASTLE_DEFINITION_DIR="$D"
}

# Less than the case's watchdog allows, so that a step that hangs fails as itself.
def() { timeout -k 5 90 "$DEFINITION" "$@"; }

# Waits (up to 10 s) until `pgrep ARGS...` finds a process.
wait_for_process() {
    n=0
    while ! pgrep "$@" >/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    pgrep "$@" >/dev/null
}

# A duration no other process sleeps (other runs of these tests included), far longer
# than any case: a sleep that ends when the case says so, with end_sleeps.
long_sleep="600.$$"

# Kills the processes running exactly `sleep SECONDS`.
end_sleeps() {
    for p in $(pgrep -xf "sleep $1"); do kill -9 "$p"; done
}

# The names of the layers with EVENT in a JSON progress file, sorted, on one line.
layers_with() {
    grep "\"event\": \"$1\"" "$2" | sed 's/.*"layer": "\([^"]*\)".*/\1/' | sort | tr '\n' ' '
}

t_first_build() {
    setup
    def build --progress=json 2>"$T/events" || fail "build failed: $(cat "$T/events")"
    [ "$(layers_with built "$T/events")" = "app base slow-a slow-b src system tool " ] ||
        fail "built: $(layers_with built "$T/events")"
    [ "$(layers_with cached "$T/events")" = "" ] || fail "cached on a first build: $(layers_with cached "$T/events")"
}

t_second_build_cached() {
    setup
    def build 2>/dev/null || fail "first build failed"
    def build --progress=json 2>"$T/events" || fail "second build failed"
    [ "$(layers_with built "$T/events")" = "" ] || fail "rebuilt: $(layers_with built "$T/events")"
    [ "$(layers_with cached "$T/events")" = "app base slow-a slow-b src system tool " ] ||
        fail "cached: $(layers_with cached "$T/events")"
}

t_source_edit_rebuilds_downstream() {
    setup
    def build 2>/dev/null || fail "first build failed"
    echo "second version" >"$D/src/a.txt"
    def build --progress=json 2>"$T/events" || fail "rebuild failed"
    [ "$(layers_with built "$T/events")" = "app src tool " ] || fail "rebuilt: $(layers_with built "$T/events")"
    out=$(def run 2>/dev/null) || fail "run failed"
    [ "$out" = "second version" ] || fail "the system shows '$out'"
}

t_parallel() {
    setup
    BC_SLOW="$long_sleep" "$DEFINITION" build -j2 --progress=json 2>"$T/events" &
    build=$!
    # Whatever the outcome, nothing of this case outlives it (its builds die with it).
    on_exit "kill -9 $build 2>/dev/null"
    on_exit 'end_sleeps "$long_sleep"'
    # Both slow layers run at once (each sleeps until it is ended).
    n=0
    while [ "$(pgrep -cxf "sleep $long_sleep")" -lt 2 ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
    [ "$(pgrep -cxf "sleep $long_sleep")" -eq 2 ] || fail "the slow layers did not overlap: $(cat "$T/events")"
    end_sleeps "$long_sleep"
    wait $build || fail "build failed: $(cat "$T/events")"
    first_done=$(grep -n '"event": "built", "layer": "slow-' "$T/events" | head -1 | cut -d: -f1)
    for layer in slow-a slow-b; do
        started=$(grep -n "\"event\": \"started\", \"layer\": \"$layer\"" "$T/events" | cut -d: -f1)
        [ -n "$started" ] && [ "$started" -lt "$first_done" ] || fail "$layer did not overlap: $(cat "$T/events")"
    done
    grep -q '"layer": "tool"' "$T/events" || fail "no event for tool"
    out=$(def run -- cat /opt/tool/makeflags 2>/dev/null)
    [ "$out" = "-j2" ] || fail "MAKEFLAGS in the build was '$out'"
}

t_failure() {
    setup
    BC_FAIL=1 def build -j1 --progress=json 2>"$T/events"
    rc=$?
    [ "$rc" -eq 125 ] || fail "exit status $rc, expected 125"
    line=$(grep '"event": "failed"' "$T/events")
    case $line in *'"layer": "broken"'*) ;; *) fail "no failed event for broken: $(cat "$T/events")" ;; esac
    case $line in *"$T/store/logs/"*".log"*) ;; *) fail "the failure does not give the log path: $line" ;; esac
    case $line in *"about to fail"*) ;; *) fail "the failure does not show the log's last lines: $line" ;; esac
    key=$(BC_FAIL=1 def keys | awk '$2 == "broken" { print $1 }')
    [ ! -e "$T/store/layers/$key" ] || fail "a failed build left a layer"
    [ -z "$(ls "$T/store/building")" ] || fail "a failed build left $(ls "$T/store/building")"
    # Independent branches finished and are cached (system only composes: it is
    # built on nothing).
    [ "$(layers_with built "$T/events")" = "app base slow-a slow-b src system tool " ] ||
        fail "built: $(layers_with built "$T/events")"
}

t_kill_and_rerun() {
    setup
    export BC_SLOW="3.$$"  # a duration no other process here sleeps
    keys_before=$(def keys)
    "$DEFINITION" build -j2 --progress=json 2>"$T/events" &
    pid=$!
    n=0
    # Killed while a slow layer's build is really running.
    while ! pgrep -xf "sleep $BC_SLOW" >/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    pgrep -xf "sleep $BC_SLOW" >/dev/null || fail "the slow build never started: $(cat "$T/events")"
    kill -9 $pid
    wait $pid 2>/dev/null
    grep -q '"built", "layer": "slow-' "$T/events" && fail "the build finished before it was killed"
    # Its builds die with it (t_builds_die_with_builder); wait for that before the rerun.
    n=0
    while pgrep -xf "sleep $BC_SLOW" >/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    def build --progress=json 2>"$T/events2" || fail "the rerun failed: $(cat "$T/events2")"
    [ "$(def keys)" = "$keys_before" ] || fail "keys changed"
    for layer in slow-a slow-b; do
        grep -q "\"built\", \"layer\": \"$layer\"" "$T/events2" || fail "$layer was not built by the rerun"
    done
    [ -z "$(ls "$T/store/building")" ] || fail "leftovers: $(ls "$T/store/building")"
}

t_builds_die_with_builder() {
    setup
    export BC_SLOW="$long_sleep"
    "$DEFINITION" build -j2 2>"$T/err" &
    pid=$!
    # Whatever the outcome, nothing of this case outlives it.
    on_exit "kill -9 $pid 2>/dev/null"
    on_exit 'end_sleeps "$long_sleep"'
    wait_for_process -xf "sleep $BC_SLOW" || fail "the slow builds never started: $(cat "$T/err")"
    kill -9 $pid
    wait $pid 2>/dev/null
    # Its builds die with it, rather than go on writing into the store.
    n=0
    while pgrep -xf "sleep $BC_SLOW" >/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    ! pgrep -xf "sleep $BC_SLOW" >/dev/null || fail "builds outlived the killed builder: $(pgrep -af "sleep $BC_SLOW")"
}

t_concurrent_builds() {
    setup
    BC_SLOW=1 def build -j2 --progress=json 2>"$T/one" &
    first=$!
    BC_SLOW=1 def build -j2 --progress=json 2>"$T/two" || fail "the second build failed: $(cat "$T/two")"
    wait $first || fail "the first build failed: $(cat "$T/one")"
    built=$(cat "$T/one" "$T/two" | grep -c '"event": "built"')
    [ "$built" -eq 7 ] || fail "$built builds for 7 layers: $(cat "$T/one" "$T/two")"
}

t_four_builds_and_gc() {
    setup
    # Four systems with overlapping graphs (they share base, src, tool and app; slow-a
    # and slow-b differ), built at once on one store while gc runs again and again.
    set -- "BC_SLOW=0.3" "BC_SLOW=0.4 BC_WHITEOUT=1" "BC_SLOW=0.3 BC_HOSTILE=1" "BC_SLOW=0.5"
    i=0
    for settings in "$@"; do
        i=$((i + 1))
        env $settings BINCASTLE_SYSTEM="s$i" "$DEFINITION" build -j2 --progress=json 2>"$T/$i" &
        eval "p$i=\$!"
    done
    while kill -0 $p1 2>/dev/null || kill -0 $p2 2>/dev/null || kill -0 $p3 2>/dev/null || kill -0 $p4 2>/dev/null; do
        def gc 2>>"$T/gc" || fail "gc failed: $(cat "$T/gc")"
    done
    for i in 1 2 3 4; do
        eval "wait \$p$i" || fail "build $i failed: $(cat "$T/$i")"
    done
    # Every key was built once, whichever process built it.
    dup=$(cat "$T/1" "$T/2" "$T/3" "$T/4" | grep '"event": "built"' | sed 's/.*"key": "\([0-9a-f]*\)".*/\1/' | sort | uniq -d)
    [ -z "$dup" ] || fail "keys built twice: $dup"
    # gc took nothing that a system needs.
    def gc 2>>"$T/gc" || fail "gc failed: $(cat "$T/gc")"
    i=0
    for settings in "$@"; do
        i=$((i + 1))
        env $settings BINCASTLE_SYSTEM="s$i" "$DEFINITION" build --progress=json 2>"$T/again" || fail "$settings failed again"
        ! grep -q '"event": "built"' "$T/again" || fail "gc removed a layer of s$i: $(grep built "$T/again")"
    done
}

t_run_status_env_cwd() {
    setup
    out=$(def run 2>/dev/null) || fail "run failed"
    [ "$out" = "first version" ] || fail "RunArgs printed '$out'"
    def run -- /bin/sh -c 'exit 42' 2>/dev/null
    rc=$?
    [ "$rc" -eq 42 ] || fail "exit status $rc, expected 42"
    out=$(def run -- /bin/sh -c 'echo $GREETING; pwd; echo $$' 2>/dev/null)
    [ "$out" = "hello
/opt
1" ] || fail "env, cwd or pid 1 wrong: $out"
}

t_system_keeps_its_files() {
    setup
    def run -- /bin/sh -c 'echo kept >/root/note' 2>/dev/null || fail "first run failed"
    out=$(def run -- cat /root/note 2>/dev/null)
    [ "$out" = "kept" ] || fail "the system lost /root/note ('$out')"
}

t_overrides() {
    setup
    out=$(def run -- /bin/sh -c 'echo $BINCASTLE_OVERRIDE_src; cat /home/src/a.txt' 2>/dev/null)
    [ "$out" = "/home/src
first version" ] || fail "the wrapped source is not announced and mounted: $out"
    mkdir "$T/edited"
    echo "overridden" >"$T/edited/a.txt"
    BINCASTLE_OVERRIDE_src="$T/edited" def build --progress=json 2>"$T/events" || fail "build failed"
    [ "$(layers_with built "$T/events")" = "app src tool " ] || fail "rebuilt: $(layers_with built "$T/events")"
    out=$(BINCASTLE_OVERRIDE_src="$T/edited" def run 2>/dev/null)
    [ "$out" = "overridden" ] || fail "the override was not used: $out"
}

t_keys_and_graph() {
    setup
    [ "$(def keys | wc -l)" -eq 7 ] || fail "keys: $(def keys)"
    def keys | grep -Eq '^[0-9a-f]{32} tool$' || fail "no key for tool"
    def graph >"$T/dot" || fail "graph failed"
    grep -q '"tool" -> "src" \[style=dashed, label="/src"\]' "$T/dot" || fail "graph: $(cat "$T/dot")"
}

t_bad_input() {
    setup
    def build --bogus 2>"$T/err"
    rc=$?
    [ "$rc" -eq 125 ] || fail "exit status $rc for an unknown option"
    grep -q "unknown option --bogus" "$T/err" || fail "message: $(cat "$T/err")"
    def frobnicate 2>"$T/err"
    [ $? -eq 125 ] || fail "an unknown verb did not fail"
    grep -q "unknown verb 'frobnicate'" "$T/err" || fail "message: $(cat "$T/err")"
    rm -r "$D/src"
    def keys 2>"$T/err"
    [ $? -eq 125 ] || fail "a missing source directory did not fail"
    grep -q "src" "$T/err" || fail "the message does not name the source: $(cat "$T/err")"
    def clean 2>/dev/null || fail "clean does not work while a source is missing"
    # The DSL's own misuse: one line naming the layer, before anything runs.
    for dir in home/src /proc/x; do
        BC_MOUNT_DIR=$dir def build 2>"$T/err"
        [ $? -eq 125 ] || fail "MountDir(\"$dir\") did not fail"
        [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "layer 'system': MountDir(\"$dir\")" "$T/err" ||
            fail "message: $(cat "$T/err")"
        [ ! -e "$T/store" ] || fail "MountDir(\"$dir\") was refused only after the store was opened"
    done
}

t_one_run_per_system() {
    setup
    def build 2>/dev/null || fail "build failed"
    def run -- sleep "$long_sleep" 2>/dev/null &
    first=$!
    on_exit 'end_sleeps "$long_sleep"'
    wait_for_process -xf "sleep $long_sleep" || fail "the first run never started"
    def run -- true 2>"$T/err"
    rc=$?
    end_sleeps "$long_sleep"
    wait $first
    [ "$rc" -eq 125 ] || fail "a second run of a running system gave $rc"
    grep -q "already running" "$T/err" || fail "message: $(cat "$T/err")"
}

# A repository with one file on main, made with the git command line.
make_repo() {
    export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
    git init -q -b main "$1" && echo "$2" >"$1/file" && git -C "$1" add file && git -C "$1" commit -qm one ||
        fail "git could not make a repository"
}

t_git_source() {
    setup
    make_repo "$T/repo" "from git"
    export BC_GIT_URL="$T/repo" BC_GIT_REF=main
    def build --progress=json 2>"$T/events" || fail "build failed: $(cat "$T/events")"
    out=$(def run -- cat /opt/git/file 2>/dev/null)
    [ "$out" = "from git" ] || fail "the system shows '$out'"
    echo "moved on" >"$T/repo/file"
    git -C "$T/repo" commit -qam two
    def build --progress=json 2>"$T/events" || fail "rebuild failed"
    [ "$(layers_with built "$T/events")" = "git-copy git-src " ] || fail "rebuilt: $(layers_with built "$T/events")"
    out=$(def run -- cat /opt/git/file 2>/dev/null)
    [ "$out" = "moved on" ] || fail "after the branch moved the system shows '$out'"
    BC_GIT_REF=nope def build 2>"$T/err"
    [ $? -eq 125 ] || fail "an unknown ref did not fail"
    grep -q "ref 'nope' not found" "$T/err" || fail "message: $(cat "$T/err")"
}

t_http_source() {
    setup
    mkdir -p "$T/www" "$T/pkg/pkg-1.0"
    echo "from an archive" >"$T/pkg/pkg-1.0/hello.txt"
    tar -C "$T/pkg" -czf "$T/www/pkg-1.0.tar.gz" pkg-1.0
    sha=$(sha256sum "$T/www/pkg-1.0.tar.gz" | cut -d' ' -f1)
    port=$((20000 + $$ % 20000))
    busybox httpd -f -p "127.0.0.1:$port" -h "$T/www" &
    server=$!
    on_exit "kill $server"
    n=0
    until busybox wget -q -O /dev/null "http://127.0.0.1:$port/pkg-1.0.tar.gz" 2>/dev/null || [ $n -ge 100 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    export BC_HTTP_URL="http://127.0.0.1:$port/pkg-1.0.tar.gz"
    BC_HTTP_SHA=$(printf '%064d' 0) def build 2>"$T/err"
    [ $? -eq 125 ] || fail "a wrong sha256 was not refused"
    grep -q "$sha" "$T/err" || fail "the refusal does not give the actual digest: $(cat "$T/err")"
    export BC_HTTP_SHA="$sha"
    def build --progress=json 2>"$T/events" || fail "build failed: $(cat "$T/events")"
    out=$(def run -- cat /opt/archive/hello.txt 2>/dev/null)
    [ "$out" = "from an archive" ] || fail "the system shows '$out'"
    # Pinned and cached: the server is not needed again.
    kill $server
    wait $server 2>/dev/null
    rm -r "$T/store/layers/$(def keys | awk '$2 == "archive-src" { print $1 }')"
    def build --progress=json 2>"$T/events" || fail "a rebuild needed the server: $(cat "$T/events")"
}

t_gc_and_clean() {
    setup
    def build 2>/dev/null || fail "first build failed"
    echo "second version" >"$D/src/a.txt"
    def build 2>/dev/null || fail "second build failed"
    [ "$(ls "$T/store/layers" | wc -l)" -eq 10 ] || fail "expected 7 + 3 superseded layers: $(ls "$T/store/layers")"
    def gc 2>"$T/err" || fail "gc failed: $(cat "$T/err")"
    grep -q "removed 3 layers" "$T/err" || fail "gc said: $(cat "$T/err")"
    def build --progress=json 2>"$T/events" || fail "build after gc failed"
    [ "$(layers_with built "$T/events")" = "" ] || fail "gc removed a needed layer: $(layers_with built "$T/events")"
    def clean 2>/dev/null || fail "clean failed"
    [ ! -e "$T/store" ] || fail "clean left $(ls "$T/store")"
}


t_gc_keeps_what_a_running_system_uses() {
    setup
    def build 2>/dev/null || fail "first build failed"
    first_keys=$(def keys | awk '{ print $1 }')
    def run -- sleep "$long_sleep" 2>/dev/null &
    running=$!
    on_exit 'end_sleeps "$long_sleep"'
    # The command itself (the definition's command line holds the same words).
    wait_for_process -xf "sleep $long_sleep" || fail "the system never started"
    # The system's root now names the second version only.
    echo "second version" >"$D/src/a.txt"
    def build 2>/dev/null || fail "second build failed"
    def gc 2>"$T/err" || fail "gc failed: $(cat "$T/err")"
    grep -q "removed 0 layers" "$T/err" || fail "gc while the first version runs: $(cat "$T/err")"
    for key in $first_keys; do
        [ -d "$T/store/layers/$key/fs" ] || fail "gc removed $key, which the running system uses"
    done
    end_sleeps "$long_sleep"
    wait $running
    [ $? -eq 137 ] || fail "the running system did not end with its command (killed: 137)"
    def gc 2>"$T/err" || fail "gc failed: $(cat "$T/err")"
    grep -q "removed 3 layers" "$T/err" || fail "gc after the run: $(cat "$T/err")"
}

t_gc_keeps_what_a_build_is_about_to_use() {
    setup
    def build 2>/dev/null || fail "first build failed"
    # A process that has found app, src and tool built and will run them once its
    # slow layers are built...
    BC_SLOW="$long_sleep" def run -j2 2>"$T/err" >"$T/out" &
    running=$!
    on_exit 'end_sleeps "$long_sleep"'
    wait_for_process -xf "sleep $long_sleep" || fail "the slow builds never started: $(cat "$T/err")"
    # ...while another process of a system by the same name replaces the system's root
    # with layers of another version, and gc runs.
    echo "second version" >"$D/src/a.txt"
    def build 2>/dev/null || fail "the other build failed"
    def gc 2>"$T/gc" || fail "gc failed: $(cat "$T/gc")"
    # Then its slow layers are done.
    end_sleeps "$long_sleep"
    wait $running || fail "the first process failed after gc: $(cat "$T/err")"
    [ "$(cat "$T/out")" = "first version" ] || fail "the first process ran '$(cat "$T/out")'"
}

t_jobs_do_not_change_keys() {
    setup
    def build -j1 2>/dev/null || fail "build with -j1 failed"
    def build -j2 --progress=json 2>"$T/events" || fail "build with -j2 failed"
    [ "$(layers_with built "$T/events")" = "" ] || fail "-j2 rebuilt: $(layers_with built "$T/events")"
    out=$(def run -- cat /opt/tool/makeflags 2>/dev/null)
    [ "$out" = "-j1" ] || fail "MAKEFLAGS in the cached build was '$out'"
}

t_source_edited_during_build() {
    setup
    # Replaced without a pause, each time by a new version (renamed in whole, so that
    # no reader sees it empty): whatever the key hashed, the copy differs from it.
    (
        n=0
        while :; do
            n=$((n + 1))
            echo "version $n" >"$T/a.new" && mv "$T/a.new" "$D/src/a.txt"
        done
    ) &
    writer=$!
    on_exit "kill $writer"
    # Three tries, in case the writer was descheduled through a whole build.
    for attempt in 1 2 3; do
        rm -rf "$T/store"
        def build -j1 --progress=json 2>"$T/events" || break
    done
    grep -q "\"layer\": \"src\".*source $D/src changed while it was being built; build again" "$T/events" ||
        fail "no such failure for src: $(cat "$T/events")"
    ! grep -qx "name=src" "$T"/store/layers/*/meta 2>/dev/null || fail "a layer was stored for the edited source"
    [ -z "$(ls "$T/store/building")" ] || fail "leftovers: $(ls "$T/store/building")"
    kill $writer
    wait $writer 2>/dev/null
    def build 2>/dev/null || fail "a build after the edits failed"
}

# cd_deep DIR: into the directory 25 levels of $long below DIR, by relative steps (the
# whole path is longer than PATH_MAX); with MAKE, making them.
long=$(printf '%200s' '' | tr ' ' d)
cd_deep() {
    cd "$1" || return 1
    for _ in $(seq 25); do
        if [ "${2:-}" = make ]; then mkdir "$long" || return 1; fi
        cd -P "$long" || return 1
    done
}

t_deep_source() {
    setup
    mkdir "$D/src/.deep"  # not in the tool's /src/*
    (cd_deep "$D/src/.deep" make && echo deep >file) || fail "cannot make the deep tree"
    def build 2>"$T/err" || fail "build failed: $(tail -5 "$T/err")"
    out=$(def run 2>/dev/null) || fail "run failed"
    [ "$out" = "first version" ] || fail "the system shows '$out'"
    # A change at the bottom is a change of the source.
    (cd_deep "$D/src/.deep" && echo deeper >file) || fail "cannot change the deep file"
    def build --progress=json 2>"$T/events" || fail "rebuild failed: $(tail -5 "$T/events")"
    [ "$(layers_with built "$T/events")" = "app src tool " ] || fail "rebuilt: $(layers_with built "$T/events")"
    def verify 2>"$T/err" || fail "verify failed: $(cat "$T/err")"
}

t_verify() {
    setup
    export BC_HOSTILE=1 BC_WHITEOUT=1
    def build 2>/dev/null || fail "build failed"
    def verify 2>"$T/err" || fail "verify of a whole store failed: $(cat "$T/err")"
    # Mode-000 directories, unreadable files, whiteouts and opaque directories are whole.
    grep -qx "bincastle: verify: 9 layers checked, 0 damaged, [0-9.]* s" "$T/err" || fail "verify said: $(cat "$T/err")"
    key() { def keys | awk -v name="$1" '$2 == name { print $1 }'; }
    app=$(key app) base=$(key base) hostile=$(key hostile)
    echo "edited" >"$T/store/layers/$app/fs/opt/app/content"
    rm "$T/store/layers/$base/fs/bin/busybox"
    chmod 700 "$T/store/layers/$hostile/fs/opt/hostile/closed"
    def verify 2>"$T/err"
    rc=$?
    [ "$rc" -eq 1 ] || fail "verify of a damaged store gave $rc: $(cat "$T/err")"
    grep -qxF "bincastle: damaged layer app ($app): 1 changed (first: opt/app/content, another content)" "$T/err" &&
        grep -qxF "bincastle: damaged layer base ($base): 1 missing (first: bin/busybox, missing)" "$T/err" &&
        grep -qxF "bincastle: damaged layer hostile ($hostile): 1 changed (first: opt/hostile/closed, another mode)" "$T/err" &&
        grep -qx "bincastle: verify: 9 layers checked, 3 damaged, [0-9.]* s" "$T/err" || fail "verify said: $(cat "$T/err")"
    def verify --repair 2>"$T/err" || fail "verify --repair failed: $(cat "$T/err")"
    [ "$(grep -c "^bincastle: damaged layer .*; removed$" "$T/err")" -eq 3 ] &&
        grep -qx "bincastle: verify: 9 layers checked, 3 damaged, 3 repaired, [0-9.]* s" "$T/err" ||
        fail "verify --repair said: $(cat "$T/err")"
    def verify 2>"$T/err" || fail "verify after the repair: $(cat "$T/err")"
    # The next build makes again what was removed, and nothing else.
    def build --progress=json 2>"$T/events" || fail "build after the repair failed: $(cat "$T/events")"
    [ "$(layers_with built "$T/events")" = "app base hostile " ] || fail "rebuilt: $(layers_with built "$T/events")"
    [ "$(def run 2>/dev/null)" = "first version" ] || fail "the repaired system does not run"
    # A layer committed before contents were recorded: checked against nothing.
    sed -i '/^contents=/d' "$T/store/layers/$app/meta"
    def verify 2>"$T/err" || fail "an unverifiable layer made verify fail: $(cat "$T/err")"
    grep -qx "bincastle: verify: 9 layers checked, 0 damaged, 1 unverifiable (from before contents were recorded), [0-9.]* s" "$T/err" ||
        fail "verify said: $(cat "$T/err")"
    def verify --bogus 2>"$T/err"
    [ $? -eq 125 ] && grep -q "unexpected argument --bogus to verify" "$T/err" || fail "a bad option: $(cat "$T/err")"
}

t_stat_cache_heals() {
    setup
    def build 2>/dev/null || fail "build failed"
    caches=$(ls "$T"/store/cache/trees/*)
    [ "$(echo "$caches" | wc -l)" -eq 2 ] || fail "a stat cache per local source expected: $caches"
    for damage in garbage empty unreadable directory; do
        for cache in $caches; do
            rm -rf "$cache"
            case $damage in
            garbage) head -c 300 /dev/urandom >"$cache" ;;
            empty) : >"$cache" ;;
            unreadable) echo "bincastle-stat-cache-v2" >"$cache" && chmod 000 "$cache" ;;
            directory) mkdir -p "$cache/inside" ;;
            esac
        done
        def build --progress=json 2>"$T/events" || fail "build with $damage stat caches failed: $(cat "$T/events")"
        [ "$(layers_with built "$T/events")" = "" ] || fail "rebuilt with $damage stat caches: $(layers_with built "$T/events")"
        for cache in $caches; do
            [ -f "$cache" ] && [ -r "$cache" ] && head -c 24 "$cache" | grep -q "^bincastle-stat-cache-v2$" ||
                fail "the $damage stat cache $cache was not rewritten"
        done
    done
}

tap_case t_first_build "a first build builds every layer"
tap_case t_second_build_cached "a second build builds nothing (all cached)"
t_explain() {
    setup
    def build --explain 2>"$T/err" >/dev/null || fail "first build failed: $(cat "$T/err")"
    grep -q "^bincastle: building src: it was never built in this store$" "$T/err" || fail "first: $(cat "$T/err")"
    echo "second version" >"$D/src/a.txt"
    echo "new" >"$D/src/b.txt"
    BC_SLOW=0.1 def build --explain 2>"$T/err" >/dev/null || fail "second build failed: $(cat "$T/err")"
    for line in "src: file a.txt changed; file b.txt is new" "tool: dependency src changed" \
        "app: dependency tool changed" "slow-a: its BuildScript changed" "slow-b: its BuildScript changed"; do
        grep -qxF "bincastle: building $line" "$T/err" || fail "no '$line' in: $(cat "$T/err")"
    done
    [ "$(grep -c "^bincastle: building" "$T/err")" -eq 5 ] || fail "other layers explained: $(cat "$T/err")"
}

tap_case t_source_edit_rebuilds_downstream "editing a local source rebuilds exactly what is downstream"
tap_case t_parallel "two independent slow layers overlap under -j2, and MAKEFLAGS says -j2"
tap_case t_failure "a failing script names the layer, its log and last lines, and leaves no layer"
tap_case t_kill_and_rerun "kill -9 during a build, then a rerun completes with the same keys"
tap_case t_builds_die_with_builder "the builds of a builder killed with -9 die with it"
tap_case t_concurrent_builds "two processes building one store build each layer once"
tap_case t_four_builds_and_gc "four overlapping builds on one store with gc alongside: each key built once, nothing used removed"
tap_case t_run_status_env_cwd "run passes the exit status through, with the system's env and cwd"
tap_case t_system_keeps_its_files "a system keeps its files between runs"
tap_case t_overrides "wrapped sources are mounted and announced; BINCASTLE_OVERRIDE_* replaces a source"
tap_case t_keys_and_graph "keys and graph describe the layers"
tap_case t_verify "verify names damaged layers and what differs, --repair removes them, a build makes them again"
tap_case t_stat_cache_heals "a stat cache that is garbage, empty, unreadable or a directory is ignored and written anew"
tap_case t_gc_and_clean "gc removes superseded layers and keeps what the system needs; clean removes the store"
tap_case t_git_source "a git source is built at its branch, and again when the branch moves; a bad ref says so"
tap_case t_http_source "an http archive is pinned by sha256 (a wrong one is refused) and cached in the store"
tap_case t_one_run_per_system "a system runs once at a time from one store (its upper dir is its own)"
tap_case t_bad_input "bad options and missing sources give 125 and say what"
tap_case t_gc_keeps_what_a_running_system_uses "gc keeps the layers of a running system whose root a newer build replaced"
tap_case t_gc_keeps_what_a_build_is_about_to_use "gc keeps what a process building the system found built and will run"
tap_case t_jobs_do_not_change_keys "-j changes MAKEFLAGS, not keys: a build with another -j is cached"
tap_case t_explain "--explain names what changed for each layer built: a file, a script, a dependency"
tap_case t_source_edited_during_build "a local source edited while it builds fails the build and stores nothing"
tap_case t_deep_source "a local source deeper than PATH_MAX builds, and a change at its bottom rebuilds"

tap_main
