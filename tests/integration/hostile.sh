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
    [ "$(cat "$o/hard1" "$o/hard2" "$o/links/hard3")" = "linked${nl}linked${nl}linked" ] || fail "$2: the hard links"
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
    # Copies in a merged tree, links in a layer.
    [ "$(tar -xOf "$1" opt/odd/hard1)" = "linked" ] && grep -q '^[-h].* opt/odd/hard2' "$T/list" &&
        grep -q '^[-h].* opt/odd/links/hard3' "$T/list" || fail "$2: the hard links"
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
    grep -q '^h.* opt/odd/hard2 link to opt/odd/hard1$' "$T/list" || fail "no hard link in the layer: $(grep hard "$T/list")"
    check_outside export
}

tap_case t_odd_tree_exported "fifos, sockets, newlines, paths past PATH_MAX, hard links, holes, host symlinks: run and exported"
tap_main
