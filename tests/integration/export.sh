#!/bin/sh
# Integration tests of export: the core's test definition ($DEFINITION) written out
# as an OCI image layout (read by skopeo and umoci, run by the sandbox), a tarball and
# a directory, pushed to a real registry (Debian's docker-registry on 127.0.0.1) and
# copied back by skopeo. TAP on stdout; run by run-as.sh as root and as an
# unprivileged user.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/remote-registry.sh"

[ -x "${DEFINITION:-}" ] || { echo "Bail out! DEFINITION must name the test definition program"; exit 1; }
for tool in skopeo umoci; do
    command -v $tool >/dev/null || { echo "Bail out! $tool is not installed (apt-get install $tool)"; exit 1; }
done

t_oci_runs() {
    setup_definition
    def A export -o "$T/img" 2>"$T/log" || fail "export failed: $(cat "$T/log")"
    skopeo inspect "oci:$T/img" >"$T/inspect" 2>&1 || fail "skopeo inspect: $(cat "$T/inspect")"
    [ "$(grep -c '"sha256:' "$T/inspect")" -ge 8 ] || fail "expected 7 layers and a digest: $(cat "$T/inspect")"
    skopeo inspect --config "oci:$T/img" >"$T/config" 2>&1 || fail "skopeo inspect --config: $(cat "$T/config")"
    grep -q '"GREETING=hello"' "$T/config" || fail "no env in the config: $(cat "$T/config")"
    grep -q '"WorkingDir": "/opt"' "$T/config" || fail "no working dir in the config: $(cat "$T/config")"
    tr -d ' \n' <"$T/config" | grep -q '"Cmd":\["/bin/cat","/opt/app/content"\]' || fail "no Cmd in the config: $(cat "$T/config")"
    umoci unpack --rootless --image "$T/img:latest" "$T/bundle" >"$T/umoci" 2>&1 || fail "umoci unpack: $(cat "$T/umoci")"
    out=$("$BINCASTLE" sandbox --chdir /opt "$T/bundle/rootfs" -- /bin/cat /opt/app/content 2>&1) || fail "sandbox: $out"
    [ "$out" = "first version" ] || fail "the unpacked system shows '$out'"
    # The wrapped source sits at its MountDir.
    [ "$(cat "$T/bundle/rootfs/home/src/a.txt")" = "first version" ] || fail "no /home/src in the image"
}

t_reproducible() {
    setup_definition
    def A export -o "$T/one" 2>/dev/null || fail "export 1 failed"
    def A export -o "$T/two" 2>/dev/null || fail "export 2 failed"
    diff -r "$T/one" "$T/two" >/dev/null || fail "two OCI exports differ"
    # Both may fall in one second: check that nothing in them tells the time.
    gzipped=0
    for blob in "$T"/one/blobs/sha256/*; do
        [ "$(od -An -tx1 -N2 "$blob" | tr -d ' ')" = "1f8b" ] || continue
        gzipped=$((gzipped + 1))
        [ "$(od -An -tx1 -j4 -N4 "$blob" | tr -d ' ')" = "00000000" ] || fail "a gzip MTIME in $blob"
        tar -tvzf "$blob" >"$T/entries" || fail "tar cannot read $blob"
        ! grep -v ' 1970-01-01 00:00 ' "$T/entries" || fail "entries with a time in $blob"
    done
    [ "$gzipped" -eq 7 ] || fail "$gzipped gzip layers, expected 7"
    [ "$(cat "$T"/one/blobs/sha256/* | grep -ao '"created":"[^"]*"' | sort -u)" = '"created":"1970-01-01T00:00:00Z"' ] ||
        fail "the config's times: $(cat "$T"/one/blobs/sha256/* | grep -ao '"created":"[^"]*"' | sort -u)"
    def A export --compression zstd -o "$T/z1" 2>/dev/null || fail "zstd export 1 failed"
    def A export --compression zstd -o "$T/z2" 2>/dev/null || fail "zstd export 2 failed"
    diff -r "$T/z1" "$T/z2" >/dev/null || fail "two zstd exports differ"
    grep -q 'tar+zstd' "$T"/z1/blobs/sha256/* || fail "no zstd layers"
    def A export --format tar -o "$T/one.tar" 2>/dev/null || fail "tar export 1 failed"
    # Another store builds the same system: same bytes.
    def B export --format tar -o "$T/two.tar" 2>/dev/null || fail "tar export 2 failed"
    cmp "$T/one.tar" "$T/two.tar" || fail "two tar exports differ"
    tar -tvf "$T/one.tar" >"$T/list" || fail "tar cannot read it"
    grep -q ' 0/0 .* 1970-01-01 00:00 opt/app/content$' "$T/list" || fail "entries: $(grep content "$T/list")"
    ! grep -v ' 0/0 .* 1970-01-01 00:00 ' "$T/list" || fail "entries with an owner or a time"
}

t_tar_and_dir() {
    setup_definition
    export BC_WHITEOUT=1
    def A export --format tar -o "$T/sys.tar" 2>/dev/null || fail "tar export failed"
    def A export --format dir -o "$T/dir" 2>/dev/null || fail "dir export failed"
    mkdir "$T/untar" && tar -xf "$T/sys.tar" -C "$T/untar" || fail "tar -x failed"
    for root in "$T/untar" "$T/dir"; do
        [ "$(cat "$root/opt/app/content")" = "first version" ] || fail "$root: no /opt/app/content"
        [ ! -e "$root/bin/vi" ] && [ -L "$root/bin/ls" ] || fail "$root: /bin/vi came back, or /bin/ls is gone"
        [ "$(ls "$root/etc")" = "marker" ] || fail "$root: /etc has $(ls "$root/etc")"
    done
    ! tar -tf "$T/sys.tar" | grep -q '\.wh\.' || fail "whiteouts in a merged tarball"
}

t_hard_links() {
    setup_definition
    export BC_LINKS=1
    out=$(def A run -- cat /opt/links/one /opt/links/two /opt/links/three 2>"$T/log") || fail "run failed: $(cat "$T/log")"
    [ "$out" = "$(printf 'linked\nlinked\nover')" ] || fail "the system shows '$out'"
    def A export --format dir -o "$T/dir" 2>"$T/log" || fail "dir export failed: $(cat "$T/log")"
    def A export --format tar -o "$T/sys.tar" 2>"$T/log" || fail "tar export failed: $(cat "$T/log")"
    o=$T/dir/opt/links
    [ "$(cat "$o/one" "$o/two" "$o/three")" = "$out" ] || fail "the dir export holds $(cat "$o/one" "$o/two" "$o/three")"
    [ "$(stat -c %i "$o/one")" = "$(stat -c %i "$o/two")" ] || fail "one and two are copies: $(ls -li "$o")"
    [ "$(stat -c %i "$o/one")" != "$(stat -c %i "$o/three")" ] || fail "three is still a link of one: $(ls -li "$o")"
    tar -tvf "$T/sys.tar" >"$T/list" || fail "tar cannot read it"
    grep -q '^h.* opt/links/two link to opt/links/one$' "$T/list" && grep -q '^-.* opt/links/three$' "$T/list" ||
        fail "the tar entries: $(grep opt/links/ "$T/list")"
    mkdir "$T/untar" && tar -xf "$T/sys.tar" -C "$T/untar" opt/links || fail "tar -x failed"
    [ "$(cat "$T/untar/opt/links/one" "$T/untar/opt/links/two" "$T/untar/opt/links/three")" = "$out" ] ||
        fail "the tarball holds $(cat "$T/untar/opt/links/one" "$T/untar/opt/links/two" "$T/untar/opt/links/three")"
}

t_whiteouts_in_oci() {
    setup_definition
    export BC_WHITEOUT=1
    def A export -o "$T/img" 2>/dev/null || fail "export failed"
    # The prune layer says so the OCI way.
    found=""
    for blob in "$T"/img/blobs/sha256/*; do
        list=$(tar -tzf "$blob" 2>/dev/null) || continue
        case $list in *bin/.wh.vi*) found=$blob ;; esac
    done
    [ -n "$found" ] || fail "no bin/.wh.vi in any layer"
    tar -tzf "$found" | grep -qx 'etc/.wh..wh..opq' || fail "no opaque marker for /etc: $(tar -tzf "$found")"
    umoci unpack --rootless --image "$T/img:latest" "$T/bundle" >"$T/umoci" 2>&1 || fail "umoci unpack: $(cat "$T/umoci")"
    [ ! -e "$T/bundle/rootfs/bin/vi" ] || fail "umoci unpacked /bin/vi"
    [ "$(ls "$T/bundle/rootfs/etc")" = "marker" ] || fail "umoci's /etc has $(ls "$T/bundle/rootfs/etc")"
}

t_push_and_skopeo_round_trip() {
    setup_definition
    start_registry
    def A export --push "$REG/sys:v1" -o "$T/img" 2>"$T/log" || fail "export --push failed: $(cat "$T/log")"
    skopeo inspect --tls-verify=false "docker://$REG/sys:v1" >"$T/remote" 2>&1 || fail "skopeo inspect: $(cat "$T/remote")"
    skopeo inspect "oci:$T/img" >"$T/local" 2>&1 || fail "skopeo inspect of the layout: $(cat "$T/local")"
    local_digest=$(grep -E '"Digest": "sha256:[0-9a-f]{64}"' "$T/local") || fail "no digest: $(cat "$T/local")"
    [ "$(grep '"Digest"' "$T/remote")" = "$local_digest" ] || fail "pushed digest differs: $(grep Digest "$T/remote") vs $local_digest"
    # skopeo to the registry and back: the same manifest.
    skopeo copy --quiet --dest-tls-verify=false "oci:$T/img:latest" "docker://$REG/copy:v1" >"$T/c1" 2>&1 ||
        fail "skopeo copy up: $(cat "$T/c1")"
    skopeo copy --quiet --src-tls-verify=false "docker://$REG/copy:v1" "oci:$T/back:latest" >"$T/c2" 2>&1 ||
        fail "skopeo copy down: $(cat "$T/c2")"
    for image in img back; do
        skopeo inspect --raw "oci:$T/$image" >"$T/$image.json" 2>&1 || fail "skopeo inspect --raw: $(cat "$T/$image.json")"
        # A manifest: its config and 7 layers.
        grep -q '"schemaVersion":2' "$T/$image.json" && [ "$(grep -o '"sha256:[0-9a-f]\{64\}"' "$T/$image.json" | wc -l)" -eq 8 ] ||
            fail "the $image manifest: $(cat "$T/$image.json")"
    done
    cmp -s "$T/img.json" "$T/back.json" || fail "the manifest changed on the round trip"
    umoci unpack --rootless --image "$T/back:latest" "$T/bundle" >"$T/umoci" 2>&1 || fail "umoci unpack: $(cat "$T/umoci")"
    [ "$(cat "$T/bundle/rootfs/opt/app/content")" = "first version" ] || fail "the copy lost /opt/app/content"
    # A second push sends no blob.
    def A export --push "$REG/sys:v2" 2>"$T/log2" || fail "second push failed: $(cat "$T/log2")"
    grep -q ": 0 of 8 blobs uploaded" "$T/log2" || fail "second push: $(grep pushed "$T/log2")"
}

t_refuses_existing_output() {
    setup_definition
    mkdir -p "$T/out" && touch "$T/out/keep"
    def A export -o "$T/out" 2>"$T/log"
    [ $? -eq 125 ] || fail "export over a non-empty directory did not fail"
    grep -q "exists" "$T/log" || fail "the error does not say why: $(cat "$T/log")"
    [ -e "$T/out/keep" ] || fail "the directory was touched"
}

# "MODE NAME" for each path under opt/hostile in a `tar -tv` listing, sorted.
hostile_modes() {
    grep 'opt/hostile/' | awk '{ print $1, $NF }' | LC_ALL=C sort
}

expected_modes="---------- opt/hostile/unreadable
-rw-r--r-- opt/hostile/closed/inner/file
-rw-r--r-- opt/hostile/readonly/file
d--------- opt/hostile/closed/
dr-xr-xr-x opt/hostile/readonly/
drwxr-xr-x opt/hostile/
drwxr-xr-x opt/hostile/closed/inner/"

t_unreadable_modes() {
    setup_definition
    export BC_HOSTILE=1
    def A build 2>"$T/log" || fail "build failed: $(cat "$T/log")"
    out=$(def A run -- cat /opt/hostile/closed/inner/file 2>"$T/log") || fail "run failed: $(cat "$T/log")"
    [ "$out" = "secret" ] || fail "the system shows '$out'"
    for format in oci tar dir; do
        def A export --format $format -o "$T/$format" 2>"$T/log" || fail "export --format $format failed: $(cat "$T/log")"
    done
    # The modes are the build's, and the files whole.
    [ "$(tar -tvf "$T/tar" | hostile_modes)" = "$expected_modes" ] ||
        fail "tar modes: $(tar -tvf "$T/tar" | hostile_modes)"
    [ "$(tar -xOf "$T/tar" opt/hostile/closed/inner/file opt/hostile/unreadable)" = "secret
hidden" ] || fail "tar contents: $(tar -xOf "$T/tar" opt/hostile/closed/inner/file opt/hostile/unreadable)"
    found=""
    for blob in "$T"/oci/blobs/sha256/*; do
        tar -tzf "$blob" 2>/dev/null | grep -q '^opt/hostile/unreadable$' && found=$blob
    done
    [ -n "$found" ] || fail "no layer holds opt/hostile"
    [ "$(tar -tvzf "$found" | hostile_modes)" = "$expected_modes" ] ||
        fail "OCI layer modes: $(tar -tvzf "$found" | hostile_modes)"
    [ "$(tar -xzOf "$found" opt/hostile/closed/inner/file)" = "secret" ] || fail "the OCI layer lost closed/inner/file"
    h=$T/dir/opt/hostile
    [ "$(stat -c '%a' "$h/closed" "$h/readonly" "$h/unreadable")" = "0
555
0" ] || fail "dir modes: $(stat -c '%a %n' "$h/closed" "$h/readonly" "$h/unreadable")"
    chmod 0700 "$h/closed" "$h/unreadable"
    [ "$(cat "$h/closed/inner/file" "$h/unreadable" "$h/readonly/file")" = "secret
hidden
kept" ] || fail "dir contents differ"
    # gc removes the layer once nothing needs it, and clean removes the store.
    (unset BC_HOSTILE && def A gc 2>"$T/log") || fail "gc failed: $(cat "$T/log")"
    grep -q "removed 1 layers" "$T/log" || fail "gc: $(cat "$T/log")"
    def A build 2>"$T/log" || fail "second build failed: $(cat "$T/log")"
    def A clean 2>"$T/log" || fail "clean failed: $(cat "$T/log")"
    [ ! -e "$T/A" ] || fail "clean left $(ls -R "$T/A" | head)"
}

tap_case t_oci_runs "an OCI export: skopeo inspects it, umoci unpacks it, the sandbox runs its command"
tap_case t_reproducible "two exports (oci gzip and zstd, tar from two stores) are byte-identical"
tap_case t_tar_and_dir "tar and dir exports hold the merged system, whiteouts applied"
tap_case t_hard_links "dir and tar exports keep a layer's hard links; a later layer's write to one name is its own file"
tap_case t_whiteouts_in_oci "whiteouts become .wh. entries that umoci honours"
tap_case t_push_and_skopeo_round_trip "--push to a registry; skopeo copies it up and back unchanged"
tap_case t_unreadable_modes "a layer with mode-000 and 0555 directories and an unreadable file: run, exported with its modes, gc, clean"
tap_case t_refuses_existing_output "an existing output is refused, untouched"
tap_main
