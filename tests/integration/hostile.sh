#!/bin/sh
# Integration tests of hostile layer contents: what a build may leave in a layer (the
# test definition's BC_ODD and BC_HOSTILE layers: fifos, sockets, names with newlines,
# paths longer than PATH_MAX, hard links, sparse files, symlinks to host paths,
# directories their owner cannot read) through build, export (dir, tar, oci), push,
# pull, gc and clean; and layers made by hand and pushed to a real registry under a
# cache tag (device nodes, escapes through symlinks, hard links and `..`). Each
# succeeds or refuses in one line, and nothing outside the output is read or written.
# TAP on stdout; run by run-as.sh as root and as an unprivileged user.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/remote-registry.sh"

[ -x "${DEFINITION:-}" ] || { echo "Bail out! DEFINITION must name the test definition program"; exit 1; }
command -v python3 >/dev/null || { echo "Bail out! python3 is not installed (apt-get install python3)"; exit 1; }

# 200 characters: 25 of them in a row make the BC_ODD layer's path of 5025.
long=$(printf '%200s' '' | tr ' ' d)
deep=$(for _ in $(seq 25); do printf '%s/' "$long"; done)
nl='
'

# read_deep ROOT: the file at the bottom of ROOT/opt/odd/deep, read with relative steps.
read_deep() {
    (
        cd "$1/opt/odd/deep" || exit 1
        for _ in $(seq 25); do cd -P "$long" || exit 1; done
        cat file
    )
}

# A directory outside every output and store, which the BC_ODD layer points at; it
# must stay as it is.
make_outside() {
    mkdir "$T/outside" && echo keep >"$T/outside/keep" && chmod 0700 "$T/outside" || fail "cannot make $T/outside"
    export BC_ODD="$T/outside"
}
check_outside() {
    [ "$(ls -A "$T/outside")" = "keep" ] || fail "$1 wrote outside: $(ls -lA "$T/outside")"
    [ "$(cat "$T/outside/keep")" = "keep" ] && [ "$(stat -c %a "$T/outside")" = "700" ] ||
        fail "$1 changed $T/outside: $(ls -ld "$T/outside")"
}

# check_odd_tree ROOT WHAT: ROOT/opt/odd as the BC_ODD layers (and odd-over) leave it.
check_odd_tree() {
    o=$1/opt/odd
    [ -p "$o/fifo" ] || fail "$2: no fifo"
    [ ! -e "$o/socket" ] || fail "$2: a socket was exported"
    [ "$(cat "$o/dir new${nl}line/file new${nl}line")" = "newline" ] || fail "$2: the names with a newline"
    [ "$(read_deep "$1")" = "deep" ] || fail "$2: the file deeper than PATH_MAX"
    [ "$(cat "$o/hard1" "$o/hard2" "$o/links/hard3")" = "linked${nl}linked${nl}linked" ] &&
        [ "$(stat -c %h "$o/hard1")" = 3 ] || fail "$2: the hard links: $(ls -li "$o")"
    [ "$(stat -c %s "$o/sparse")" = "16777220" ] && [ "$(tail -c 4 "$o/sparse")" = "end" ] ||
        fail "$2: the sparse file: $(stat -c '%s %b' "$o/sparse")"
    [ "$(readlink "$o/shadow")" = "/etc/shadow" ] && [ "$(readlink "$o/up")" = "../../../../../../../etc/passwd" ] &&
        [ "$(readlink "$o/root")" = "/" ] || fail "$2: the symlinks: $(ls -l "$o")"
    [ ! -L "$o/outside" ] && [ "$(cat "$o/outside/file")" = "inside" ] || fail "$2: odd-over's directory over the symlink"
}

# check_odd_listing TARBALL WHAT: the same, in the `tar -tv` listing of TARBALL (GNU
# tar cannot unpack a path longer than PATH_MAX).
check_odd_listing() {
    tar -tvf "$1" >"$T/list" || fail "$2: tar cannot read it"
    for entry in '^p.* opt/odd/fifo$' '^-.* 16777220 .* opt/odd/sparse$' '^l.* opt/odd/shadow -> /etc/shadow$' \
        '^l.* opt/odd/up -> \.\./\.\./\.\./\.\./\.\./\.\./\.\./etc/passwd$' '^l.* opt/odd/root -> /$' \
        '^d.* opt/odd/outside/$' '^-.* opt/odd/outside/file$' '^-.* opt/odd/dir new\\nline/file new\\nline$'; do
        grep -q "$entry" "$T/list" || fail "$2: no entry like $entry: $(grep opt/odd "$T/list" | cut -c1-200)"
    done
    ! grep -q 'opt/odd/socket' "$T/list" || fail "$2: a socket"
    [ "$(tar -xOf "$1" "opt/odd/deep/${deep}file")" = "deep" ] || fail "$2: the file deeper than PATH_MAX"
    [ "$(tar -xOf "$1" opt/odd/hard1)" = "linked" ] && grep -q '^h.* opt/odd/hard2 link to opt/odd/hard1$' "$T/list" &&
        grep -q '^h.* opt/odd/links/hard3 link to opt/odd/hard1$' "$T/list" || fail "$2: the hard links"
}

# The blocks a file takes, in KiB.
allocated_kib() {
    echo $(($(stat -c '%b * %B' "$1") / 1024))
}

t_odd_tree_exported() {
    setup_definition
    make_outside
    def A build 2>"$T/log" || fail "build failed: $(cat "$T/log")"
    out=$(def A run -- sh -c 'test -p /opt/odd/fifo && cat /opt/odd/outside/file' 2>"$T/log") || fail "run failed: $(cat "$T/log")"
    [ "$out" = "inside" ] || fail "the system shows '$out'"
    for format in dir tar oci; do
        def A export --format $format -o "$T/$format" 2>"$T/log" || fail "export --format $format failed: $(cat "$T/log")"
    done
    check_odd_tree "$T/dir" "dir export"
    [ "$(allocated_kib "$T/dir/opt/odd/sparse")" -lt 1024 ] || fail "the dir export filled the sparse file's holes"
    check_odd_listing "$T/tar" "tar export"
    # The OCI layers of odd and odd-over, odd's with its hard links as such.
    odd="" over=""
    for blob in "$T"/oci/blobs/sha256/*; do
        list=$(tar -tzf "$blob" 2>/dev/null) || continue
        case $list in *opt/odd/fifo*) odd=$blob ;; *opt/odd/outside/file*) over=$blob ;; esac
    done
    [ -n "$odd" ] && [ -n "$over" ] || fail "no OCI layers hold opt/odd"
    gzip -dc "$odd" >"$T/odd.tar" && gzip -dc "$over" >"$T/over.tar" || fail "gzip cannot read the layers"
    tar -Af "$T/odd.tar" "$T/over.tar" || fail "tar cannot join the layers"
    check_odd_listing "$T/odd.tar" "the OCI layers"
    check_outside export
}

t_odd_tree_through_the_cache() {
    setup_definition
    make_outside
    export BC_HOSTILE=1
    start_registry
    def A build --export-cache "$REG/cache" 2>"$T/a" || fail "build and push failed: $(cat "$T/a")"
    out=$(def B run --progress=json --import-cache "$REG/cache" -- cat /opt/hostile/closed/inner/file 2>"$T/b") ||
        fail "pull and run failed: $(cat "$T/b")"
    [ "$out" = "secret" ] || fail "B's system shows '$out'"
    [ "$(layers_with built "$T/b")" = "" ] || fail "built in B: $(layers_with built "$T/b")"
    key=$(def A keys | awk '$2 == "odd" { print $1 }')
    # The same layer, but the socket, which no tar holds.
    for store in A B; do
        (cd "$T/$store/layers/$key/fs" && find . ! -name socket -printf '%y %m %s %p %l\n' | LC_ALL=C sort) >"$T/$store.list" ||
            fail "cannot list $store's layer"
    done
    diff "$T/A.list" "$T/B.list" >"$T/diff" || fail "the pulled layer differs: $(cat "$T/diff")"
    # What both stores recorded at commit is what they hold.
    for store in A B; do
        def $store verify 2>"$T/verify" || fail "verify of $store failed: $(cat "$T/verify")"
        grep -q ", 0 damaged," "$T/verify" || fail "verify of $store: $(cat "$T/verify")"
    done
    files=$T/B/layers/$key/fs
    [ "$(stat -c %i "$files/opt/odd/hard1")" = "$(stat -c %i "$files/opt/odd/hard2")" ] || fail "the pull broke a hard link"
    [ "$(allocated_kib "$files/opt/odd/sparse")" -lt 1024 ] || fail "the pull filled the sparse file's holes"
    def B export --format dir -o "$T/dir" 2>"$T/log" || fail "export of the pulled system failed: $(cat "$T/log")"
    check_odd_tree "$T/dir" "the pulled system's export"
    # Neither gc nor clean follows a symlink out of the store.
    (unset BC_ODD BC_HOSTILE && def B gc 2>"$T/log") || fail "gc failed: $(cat "$T/log")"
    grep -q "removed 3 layers" "$T/log" || fail "gc: $(cat "$T/log")"
    def A clean 2>"$T/log" && def B clean 2>>"$T/log" || fail "clean failed: $(cat "$T/log")"
    [ ! -e "$T/A" ] && [ ! -e "$T/B" ] || fail "clean left $(ls -R "$T/A" "$T/B" 2>&1 | head)"
    check_outside "gc or clean"
}

# A layer made by hand, pushed under a cache tag: see `push_crafted`.
craft() {
    cat >"$T/craft.py" <<'PY'
import io, sys, tarfile
kind, out, outside = sys.argv[1:4]
tar = tarfile.open(out, "w:gz", format=tarfile.PAX_FORMAT)
def add(name, type=tarfile.REGTYPE, data=b"", mode=0o644, **fields):
    entry = tarfile.TarInfo(name)
    entry.type, entry.mode = type, mode
    entry.size = len(data) if type == tarfile.REGTYPE else 0
    for key, value in fields.items():
        setattr(entry, key, value)
    tar.addfile(entry, io.BytesIO(data) if type == tarfile.REGTYPE else None)
add("opt/", tarfile.DIRTYPE, mode=0o755)
if kind == "char-device":
    add("opt/mem", tarfile.CHRTYPE, devmajor=1, devminor=1)
elif kind == "block-device":
    add("opt/sda", tarfile.BLKTYPE, devmajor=8, devminor=0)
elif kind == "absolute":
    add(outside + "/evil", data=b"evil\n")
elif kind == "dotdot":
    add("opt/../../../../../../../../../.." + outside + "/evil", data=b"evil\n")
elif kind == "through-symlink":
    add("opt/link", tarfile.SYMTYPE, linkname=outside)
    add("opt/link/evil", data=b"evil\n")
elif kind == "hard-link-out":
    add("opt/passwd", tarfile.LNKTYPE, linkname="/etc/passwd")
elif kind == "hard-link-up":
    add("opt/passwd", tarfile.LNKTYPE, linkname="../../../../../../../../../../etc/passwd")
elif kind == "hard-link-through-symlink":
    add("opt/link", tarfile.SYMTYPE, linkname=outside)
    add("opt/keep", tarfile.LNKTYPE, linkname="opt/link/keep")
elif kind == "whiteout-through-symlink":
    add("opt/link", tarfile.SYMTYPE, linkname=outside)
    add("opt/link/.wh.keep")
elif kind == "odd":
    add("opt/app/", tarfile.DIRTYPE, mode=0o755)
    add("opt/app/content", data=b"crafted\n")
    add("opt/fifo", tarfile.FIFOTYPE, mode=0o600)
    add("opt/closed/", tarfile.DIRTYPE, mode=0o000)
    add("opt/closed/file", data=b"secret\n", mode=0o000)
    add("opt/readonly/", tarfile.DIRTYPE, mode=0o555)
    add("opt/readonly/file", data=b"kept\n")
    add("opt/new\nline", data=b"newline\n")
    add("opt/" + "/".join(["d" * 200] * 25) + "/file", data=b"deep\n")
    add("opt/su", data=b"#!/bin/sh\n", mode=0o6755)
    add("opt/hard1", data=b"linked\n")
    add("opt/hard2", tarfile.LNKTYPE, linkname="opt/hard1")
    add("opt/shadow", tarfile.SYMTYPE, linkname="/etc/shadow")
    add("opt/outside", tarfile.SYMTYPE, linkname=outside)
    add("opt/sparse", data=b"\0" * (16 << 20) + b"end\n")
tar.close()
PY
    python3 "$T/craft.py" "$1" "$T/crafted.tgz" "$T/outside" || fail "cannot craft the $1 layer"
}

# push_blob FILE: uploads FILE to $REG/cache; prints its digest.
push_blob() {
    digest=sha256:$(sha256sum "$1" | cut -d' ' -f1)
    location=$(curl -fsS -X POST -D - -o /dev/null "http://$REG/v2/cache/blobs/uploads/" | tr -d '\r' |
        sed -n 's/^[Ll]ocation: //p') || return 1
    case $location in http*) ;; *) location=http://$REG$location ;; esac
    case $location in *\?*) separator='&' ;; *) separator='?' ;; esac
    curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" \
        "$location${separator}digest=$digest" >/dev/null || return 1
    echo "$digest"
}

# push_crafted KEY: $T/crafted.tgz as the cache's layer of KEY, as remote_cache.cpp
# names it: one layer, a config with its diff id, the key in an annotation, tag key-KEY.
push_crafted() {
    layer=$(push_blob "$T/crafted.tgz") || fail "cannot push the crafted layer"
    diff_id=sha256:$(gzip -dc "$T/crafted.tgz" | sha256sum | cut -d' ' -f1)
    printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' "$diff_id" >"$T/config"
    config=$(push_blob "$T/config") || fail "cannot push the crafted config"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}],"annotations":{"dev.bincastle.key":"%s"}}' \
        "$config" "$(wc -c <"$T/config")" "$layer" "$(wc -c <"$T/crafted.tgz")" "$1" >"$T/manifest"
    curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$T/manifest" \
        "http://$REG/v2/cache/manifests/key-$1" >/dev/null || fail "cannot push the crafted manifest"
}

# The app layer's key, with every layer pushed to $REG/cache; the crafted layers take
# the app layer's place there.
push_system() {
    setup_definition
    mkdir "$T/outside" && echo keep >"$T/outside/keep" || fail "cannot make $T/outside"
    start_registry
    def A build --export-cache "$REG/cache" 2>"$T/a" || fail "build and push failed: $(cat "$T/a")"
    app=$(def A keys | awk '$2 == "app" { print $1 }')
}

t_pulled_layers_refused() {
    push_system
    # KIND and what the one line says about it.
    while read -r kind reason; do
        craft "$kind"
        push_crafted "$app"
        rm -rf "$T/B"
        def B build --import-cache "$REG/cache" 2>"$T/b"
        rc=$?
        [ $rc -eq 125 ] || fail "$kind: exit status $rc: $(cat "$T/b")"
        [ "$(grep -c "pulling layer app from $REG/cache: extracting .*$reason" "$T/b")" -eq 1 ] ||
            fail "$kind: not one line that says '$reason': $(cat "$T/b")"
        [ ! -e "$T/B/layers/$app" ] || fail "$kind: the layer entered the store"
        [ -z "$(ls -A "$T/B/building")" ] || fail "$kind: leftovers: $(ls -A "$T/B/building")"
        [ "$(ls -A "$T/outside")" = "keep" ] && [ "$(cat "$T/outside/keep")" = "keep" ] ||
            fail "$kind: written outside: $(ls -lA "$T/outside")"
    done <<EOF2
char-device refusing entry 'opt/mem': a character device 1:1
block-device refusing entry 'opt/sda': a block device 8:0
absolute refusing entry '$T/outside/evil': absolute path
dotdot '..' in the path
through-symlink Cannot extract through symlink
hard-link-out refusing hard link target '/etc/passwd': absolute path
hard-link-up '..' in the path
hard-link-through-symlink Cannot extract through symlink
whiteout-through-symlink refusing 'opt/link/.wh.keep': .* is not a directory
EOF2
    # Built here instead, the system runs.
    out=$(def B run -- cat /opt/app/content 2>"$T/b") || fail "B without the cache failed: $(cat "$T/b")"
    [ "$out" = "first version" ] || fail "B shows '$out'"
}

t_pulled_odd_layer() {
    push_system
    craft odd
    push_crafted "$app"
    out=$(def B run --import-cache "$REG/cache" -- cat /opt/app/content /opt/readonly/file 2>"$T/b") ||
        fail "pull and run failed: $(cat "$T/b")"
    [ "$out" = "crafted${nl}kept" ] || fail "B shows '$out'"
    files=$T/B/layers/$app/fs/opt
    [ -p "$files/fifo" ] || fail "no fifo"
    [ "$(stat -c %a "$files/closed" "$files/readonly" "$files/su")" = "0${nl}555${nl}755" ] ||
        fail "modes: $(stat -c '%a %n' "$files/closed" "$files/readonly" "$files/su")"
    [ "$(stat -c %i "$files/hard1")" = "$(stat -c %i "$files/hard2")" ] || fail "the hard link was not kept"
    [ "$(cat "$files/new${nl}line")" = "newline" ] || fail "the name with a newline"
    [ "$(allocated_kib "$files/sparse")" -lt 1024 ] || fail "the sparse file's zeros were written out"
    [ "$(readlink "$files/outside")" = "$T/outside" ] || fail "the symlink to the host"
    for format in dir tar oci; do
        def B export --format $format -o "$T/$format" 2>"$T/log" || fail "export --format $format failed: $(cat "$T/log")"
    done
    (
        cd "$T/dir/opt" || exit 1
        for _ in $(seq 25); do cd -P "$long" || exit 1; done
        [ "$(cat file)" = "deep" ]
    ) || fail "the dir export lost the file deeper than PATH_MAX"
    [ "$(tar -xOf "$T/tar" opt/readonly/file)" = "kept" ] || fail "the tar export lost opt/readonly/file"
    # A changed source makes the pulled layer garbage: gc removes it, mode-000 directory
    # and all, without following its symlink.
    echo "second version" >"$T/def/src/a.txt"
    def B gc 2>"$T/log" || fail "gc failed: $(cat "$T/log")"
    [ ! -e "$T/B/layers/$app" ] || fail "gc kept the pulled layer: $(cat "$T/log")"
    def B clean 2>"$T/log" || fail "clean failed: $(cat "$T/log")"
    [ ! -e "$T/B" ] || fail "clean left $(ls -R "$T/B" | head)"
    [ "$(ls -A "$T/outside")" = "keep" ] && [ "$(cat "$T/outside/keep")" = "keep" ] ||
        fail "written outside: $(ls -lA "$T/outside")"
}

tap_case t_odd_tree_exported "fifos, sockets, newlines, paths past PATH_MAX, hard links, holes, host symlinks: run and exported"
tap_case t_odd_tree_through_the_cache "the same and unreadable directories: pushed, pulled whole, verified, exported, gc and clean stay inside"
tap_case t_pulled_layers_refused "pulled layers with device nodes or escapes (/, .., symlinks, hard links) are refused in one line"
tap_case t_pulled_odd_layer "a pulled layer of odd entries: run, exported, gc and clean; setuid stripped, holes kept"
tap_main
