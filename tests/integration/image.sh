#!/bin/sh
# Integration tests of Image() sources: OCI images made by umoci (with whiteouts) and
# by bincastle's own export, pushed to a real registry (Debian's docker-registry on
# 127.0.0.1) with skopeo, or read from an OCI layout, as layers of the core's test
# definition ($DEFINITION). TAP on stdout; run by run-as.sh as root and as an
# unprivileged user.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/remote-registry.sh"

[ -x "${DEFINITION:-}" ] || { echo "Bail out! DEFINITION must name the test definition program"; exit 1; }

# An OCI layout $D/$1 holding the image tagged t: a first layer with /img/a, /img/gone
# and /img/dir/old, and a second layer $2 (a directory) on it. Sets DIGEST to its
# manifest's digest.
make_image() {
    layout=$D/$1
    [ -d "$layout" ] || {
        umoci init --layout "$layout" && umoci new --image "$layout:t" || fail "umoci init/new failed"
        mkdir -p "$T/base/img/dir"
        echo a >"$T/base/img/a"
        echo gone >"$T/base/img/gone"
        echo old >"$T/base/img/dir/old"
        # umoci gives each blob a timestamp: one tar, so both images share the blob.
        [ -f "$T/base.tar" ] || tar -C "$T/base" -cf "$T/base.tar" img || fail "tar of the base failed"
        umoci raw add-layer --image "$layout:t" "$T/base.tar" >/dev/null || fail "umoci add-layer (base) failed"
    }
    tar -C "$2" -cf "$T/top.tar" img || fail "tar of $2 failed"
    umoci raw add-layer --image "$layout:t" "$T/top.tar" >/dev/null || fail "umoci add-layer ($2) failed"
    DIGEST=$(sed -n 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' "$layout/index.json")
    [ -n "$DIGEST" ] || fail "no digest in $layout/index.json: $(cat "$layout/index.json")"
}

# A second layer that deletes /img/gone and makes /img/dir opaque: OCI whiteouts.
whiteout_layer() {
    mkdir -p "$T/top/img/dir"
    : >"$T/top/img/.wh.gone"
    : >"$T/top/img/dir/.wh..wh..opq"
    echo new >"$T/top/img/dir/new"
    echo "$T/top"
}

push() {
    skopeo copy --quiet --dest-tls-verify=false --digestfile "$T/pushed" "oci:$1:t" "docker://$REG/$2" >"$T/skopeo" 2>&1 ||
        fail "skopeo copy to $REG/$2 failed: $(cat "$T/skopeo")"
    [ "$(cat "$T/pushed")" = "$DIGEST" ] || fail "the registry's digest $(cat "$T/pushed") is not the layout's $DIGEST"
}

show_image() { def "$1" run -- sh -c 'ls /img; ls /img/dir; cat /img/a'; }

t_registry_image_with_whiteouts() {
    setup_definition
    start_registry
    make_image layout "$(whiteout_layer)"
    push "$D/layout" img:t
    export BC_IMAGE="$REG/img:t@$DIGEST"
    out=$(show_image A 2>"$T/a") || fail "run failed: $(cat "$T/a")"
    [ "$out" = "a
dir
new
a" ] || fail "the system shows: $out"
    # Each image layer is in the store once, keyed by its digest, and a second build
    # pulls nothing.
    [ "$(grep -l '^name=image-layer-' "$T"/A/layers/*/meta | wc -l)" -eq 2 ] ||
        fail "image layers in the store: $(grep -h '^name=' "$T"/A/layers/*/meta)"
    def A build --progress=json 2>"$T/a2" || fail "second build failed: $(cat "$T/a2")"
    [ "$(layers_with built "$T/a2")" = "" ] || fail "rebuilt: $(layers_with built "$T/a2")"
    [ "$(layers_with cached "$T/a2")" = "$(echo "$ALL image " | tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' ')" ] ||
        fail "cached: $(layers_with cached "$T/a2")"
}

t_layout_image_is_the_same_layer() {
    setup_definition
    start_registry
    make_image layout "$(whiteout_layer)"
    push "$D/layout" img:t
    BC_IMAGE="$REG/img:t@$DIGEST" def A keys >"$T/from-registry" || fail "keys failed"
    export BC_IMAGE="oci:layout:t@$DIGEST"
    def B keys >"$T/from-layout" || fail "keys of the layout image failed"
    cmp -s "$T/from-registry" "$T/from-layout" || fail "the keys differ: $(diff "$T/from-registry" "$T/from-layout")"
    out=$(show_image B 2>"$T/b") || fail "run from the layout failed: $(cat "$T/b")"
    [ "$(echo $out)" = "a dir new a" ] || fail "the system shows: $out"
}

t_shared_base_is_pulled_once() {
    setup_definition
    start_registry
    make_image one "$(whiteout_layer)"
    push "$D/one" one:t
    first=$DIGEST
    mkdir -p "$T/other/img"
    echo other >"$T/other/img/other"
    make_image two "$T/other"
    push "$D/two" two:t
    BC_IMAGE="$REG/one:t@$first" def A build --progress=json 2>"$T/a" || fail "build of one failed: $(cat "$T/a")"
    BC_IMAGE="$REG/two:t@$DIGEST" def A build -v --progress=json 2>"$T/b" || fail "build of two failed: $(cat "$T/b")"
    grep -q 'layer 1 of 2 ([^)]*): in the store' "$T/b" || fail "the shared base was not found in the store: $(grep output "$T/b")"
    grep -q 'layer 2 of 2 ([^)]*): pulled' "$T/b" || fail "the new layer was not pulled: $(grep output "$T/b")"
    out=$(BC_IMAGE="$REG/two:t@$DIGEST" def A run -- ls /img /img/dir 2>"$T/c") || fail "run failed: $(cat "$T/c")"
    [ "$(echo $out)" = "/img: a dir gone other /img/dir: old" ] || fail "the second image shows: $out"
}

t_unpinned_tag_is_refused_with_its_digest() {
    setup_definition
    start_registry
    make_image layout "$(whiteout_layer)"
    push "$D/layout" img:t
    BC_IMAGE="$REG/img:t" def A build 2>"$T/a"
    rc=$?
    [ $rc -eq 125 ] || fail "exit status $rc: $(cat "$T/a")"
    grep -q "Image(\"$REG/img:t\") is not pinned by a digest" "$T/a" || fail "no clear line: $(cat "$T/a")"
    grep -q "pin that with Image(\"$REG/img:t@$DIGEST\")" "$T/a" || fail "no digest to pin: $(cat "$T/a")"
    [ -z "$(ls "$T/A/layers" 2>/dev/null)" ] || fail "layers were built: $(ls "$T/A/layers")"
}

t_tampered_image_blob_refused() {
    setup_definition
    start_registry
    make_image layout "$(whiteout_layer)"
    push "$D/layout" img:t
    # The top layer's blob: the manifest's last digest.
    blob=$(grep -o '"digest":"sha256:[0-9a-f]*"' "$D/layout/blobs/sha256/${DIGEST#sha256:}" | tail -n 1 |
        sed 's/.*sha256:\([0-9a-f]*\)"/\1/')
    data=$(find "$REG_DATA" -path "*/blobs/sha256/*/$blob/data")
    [ -f "$data" ] || fail "blob $blob not found in $REG_DATA"
    head -c "$(wc -c <"$data")" /dev/zero >"$data"
    BC_IMAGE="$REG/img:t@$DIGEST" def A build 2>"$T/a"
    rc=$?
    [ $rc -eq 125 ] || fail "exit status $rc: $(cat "$T/a")"
    grep -q "sha256:$blob.*does not match its digest" "$T/a" || fail "the error does not say why: $(cat "$T/a")"
    grep -q "digest=sha256:$blob" "$T"/A/layers/*/meta 2>/dev/null && fail "the tampered layer entered the store"
    grep -qx 'name=image' "$T"/A/layers/*/meta 2>/dev/null && fail "the image layer entered the store"
    [ -z "$(ls "$T/A/building")" ] || fail "leftovers: $(ls "$T/A/building")"
}

t_system_from_its_own_export() {
    setup_definition
    start_registry
    def A export --push "$REG/sys:v1" -o "$D/exported" 2>"$T/a" || fail "export --push failed: $(cat "$T/a")"
    digest=$(sed -n 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' "$D/exported/index.json")
    for ref in "$REG/sys:v1@$digest" "oci:exported@$digest"; do
        rm -rf "$T/B"
        out=$(BC_IMAGE_SYSTEM=$ref def B run --progress=json 2>"$T/b") || fail "run of $ref failed: $(cat "$T/b")"
        [ "$out" = "first version" ] || fail "the system from $ref shows '$out'"
        [ "$(layers_with built "$T/b")" = "image system " ] || fail "built from $ref: $(layers_with built "$T/b")"
    done
}

ALL="app base slow-a slow-b src system tool"

tap_case t_registry_image_with_whiteouts "an image from a registry: its files, whiteouts applied; each layer stored once"
tap_case t_layout_image_is_the_same_layer "an OCI layout image is the same layer as the registry's, by digest"
tap_case t_shared_base_is_pulled_once "two images on one base: the base is pulled once"
tap_case t_unpinned_tag_is_refused_with_its_digest "a tag without a digest: one line, with the digest to pin"
tap_case t_tampered_image_blob_refused "a tampered image blob is refused; the store is unchanged"
tap_case t_system_from_its_own_export "a system exported, then run from its image (registry and layout)"
tap_main
