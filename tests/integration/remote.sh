#!/bin/sh
# Integration tests of the remote cache: the core's test definition ($DEFINITION)
# exports its layers to a real registry (Debian's docker-registry on 127.0.0.1, its
# storage in the case's directory) and imports them into another store. TAP on
# stdout; run by run-as.sh as root and as an unprivileged user.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/remote-registry.sh"

[ -x "${DEFINITION:-}" ] || { echo "Bail out! DEFINITION must name the test definition program"; exit 1; }

ALL="app base slow-a slow-b src system tool "

t_pull_instead_of_build() {
    setup_definition
    start_registry
    def A build --progress=json --export-cache "$REG/cache" 2>"$T/a" || fail "build A failed: $(cat "$T/a")"
    [ "$(layers_with pushed "$T/a")" = "$ALL" ] || fail "pushed: $(layers_with pushed "$T/a")"
    out=$(def B run --progress=json --import-cache "$REG/cache" -- cat /opt/app/content 2>"$T/b") ||
        fail "run B failed: $(cat "$T/b")"
    [ "$out" = "first version" ] || fail "the system shows '$out'"
    [ "$(layers_with pulled "$T/b")" = "$ALL" ] || fail "pulled: $(layers_with pulled "$T/b")"
    [ "$(layers_with built "$T/b")" = "" ] || fail "built in B: $(layers_with built "$T/b")"
    # The keys are the same, and the store says where the layers came from.
    [ "$(def A keys)" = "$(def B keys)" ] || fail "keys differ"
    grep -q "pulled-from=$REG/cache" "$T"/B/layers/*/meta || fail "no pulled-from in the meta files"
    # A second run of B has everything.
    def B build --progress=json --import-cache "$REG/cache" 2>"$T/b2" || fail "second build B failed"
    [ "$(layers_with cached "$T/b2")" = "$ALL" ] || fail "cached: $(layers_with cached "$T/b2")"
}

t_reexport_uploads_nothing() {
    setup_definition
    start_registry
    def A build --export-cache "$REG/cache" 2>"$T/a" || fail "build A failed: $(cat "$T/a")"
    def A build --progress=json --export-cache "$REG/cache" 2>"$T/a2" || fail "re-export failed: $(cat "$T/a2")"
    grep -q '"event": "pushed"' "$T/a2" && fail "pushed again: $(cat "$T/a2")"
    grep -q "0 of 7 layers pushed (0 blobs, 0.0 MB uploaded" "$T/a2" || fail "summary: $(grep cache "$T/a2")"
    # An edit pushes exactly what it rebuilt, and the blobs the registry has are not sent.
    echo "second version" >"$D/src/a.txt"
    def A build --progress=json --export-cache "$REG/cache" 2>"$T/a3" || fail "export after an edit failed"
    [ "$(layers_with pushed "$T/a3")" = "app src tool " ] || fail "pushed after an edit: $(layers_with pushed "$T/a3")"
}

t_retries_500() {
    setup_definition
    start_registry
    def A build --export-cache "$REG/cache" 2>"$T/a" || fail "build A failed: $(cat "$T/a")"
    start_fault_proxy 3
    def B build --progress=json --import-cache "$PROXY/cache" 2>"$T/b" || fail "import through the proxy failed: $(cat "$T/b")"
    [ "$(grep -c ' 500$' "$T/proxy.log")" -eq 3 ] || fail "the proxy failed $(grep -c ' 500$' "$T/proxy.log") requests"
    [ "$(layers_with pulled "$T/b")" = "$ALL" ] || fail "pulled: $(layers_with pulled "$T/b"); $(cat "$T/b")"
}

t_registry_down_import_goes_on() {
    setup_definition
    port=$(random_port)
    def B build --progress=json --import-cache "127.0.0.1:$port/cache" 2>"$T/b" || fail "the build failed: $(cat "$T/b")"
    grep -q "the cache 127.0.0.1:$port/cache cannot be used" "$T/b" || fail "no notice: $(cat "$T/b")"
    grep -q "Connection refused" "$T/b" || fail "the notice does not say why: $(grep cache "$T/b")"
    [ "$(layers_with built "$T/b")" = "$ALL" ] || fail "built: $(layers_with built "$T/b")"
    # Exporting to it is an error.
    def B build --export-cache "127.0.0.1:$port/cache" 2>"$T/e"
    [ $? -eq 125 ] || fail "export to a registry that is down did not fail: $(cat "$T/e")"
}

t_tampered_blob_refused() {
    setup_definition
    start_registry
    def A build --export-cache "$REG/cache" 2>"$T/a" || fail "build A failed: $(cat "$T/a")"
    # The app layer's blob, changed in the registry's storage, same size.
    key=$(def A keys | awk '$2 == "app" { print $1 }')
    manifest=$(curl -fsS -H "Accept: application/vnd.oci.image.manifest.v1+json" "http://$REG/v2/cache/manifests/key-$key") ||
        fail "no manifest for app"
    blob=$(echo "$manifest" | sed 's/.*"layers":\[{[^}]*"digest":"sha256:\([0-9a-f]*\)".*/\1/')
    data=$(find "$REG_DATA" -path "*/blobs/sha256/*/$blob/data")
    [ -f "$data" ] || fail "blob $blob not found in $REG_DATA"
    size=$(wc -c <"$data")
    head -c "$size" /dev/zero >"$data"
    def B build --progress=json --import-cache "$REG/cache" 2>"$T/b"
    rc=$?
    [ $rc -eq 125 ] || fail "exit status $rc: $(cat "$T/b")"
    grep -q "pulling layer app from $REG/cache: blob sha256:$blob" "$T/b" || fail "the error does not name the layer: $(cat "$T/b")"
    grep -q "does not match its digest" "$T/b" || fail "the error does not say why: $(cat "$T/b")"
    [ ! -e "$T/B/layers/$key" ] || fail "the tampered layer entered the store"
    [ -z "$(ls "$T/B/building")" ] || fail "leftovers: $(ls "$T/B/building")"
}

t_whiteouts_survive() {
    setup_definition
    start_registry
    export BC_WHITEOUT=1
    def A build --export-cache "$REG/cache" 2>"$T/a" || fail "build A failed: $(cat "$T/a")"
    out=$(def B run --import-cache "$REG/cache" -- sh -c 'ls /etc; test -e /bin/vi && echo vi-is-back; test -e /bin/ls && echo ls' 2>"$T/b") ||
        fail "run B failed: $(cat "$T/b")"
    [ "$out" = "marker
ls" ] || fail "B's system shows: $out"
}

t_unreadable_layer_travels() {
    setup_definition
    start_registry
    # A mode-000 directory, a mode-0555 one and an unreadable file, as a rootless
    # build leaves them: pushed as they are, pulled back with the same modes.
    export BC_HOSTILE=1
    def A build --export-cache "$REG/cache" 2>"$T/a" || fail "build A with an unreadable layer failed: $(cat "$T/a")"
    def B build --progress=json --import-cache "$REG/cache" 2>"$T/b" || fail "build B failed: $(cat "$T/b")"
    [ "$(layers_with built "$T/b")" = "" ] || fail "built in B: $(layers_with built "$T/b")"
    hostile=$(def B keys | awk '$2 == "hostile" { print $1 }')
    [ "$(stat -c %a "$T/B/layers/$hostile/fs/opt/hostile/closed" "$T/B/layers/$hostile/fs/opt/hostile/readonly" \
        "$T/B/layers/$hostile/fs/opt/hostile/unreadable" | tr '\n' ' ')" = "0 555 0 " ] ||
        fail "modes after the pull: $(ls -lR "$T/B/layers/$hostile/fs/opt/hostile" 2>&1)"
    def B verify 2>"$T/v" || fail "verify of B: $(cat "$T/v")"
}

t_insecure_registry_option() {
    setup_definition
    start_registry
    def A build --insecure-registry --export-cache "$REG/cache" 2>"$T/a" || fail "build A failed: $(cat "$T/a")"
    def B build --progress=json --insecure-registry --import-cache "$REG/cache" 2>"$T/b" || fail "build B failed"
    [ "$(layers_with pulled "$T/b")" = "$ALL" ] || fail "pulled: $(layers_with pulled "$T/b")"
}

t_blob_larger_than_manifest_refused() {
    setup_definition
    start_registry
    def A build --export-cache "$REG/cache" 2>"$T/a" || fail "build A failed: $(cat "$T/a")"
    # The app layer's manifest, rewritten to give its blob a size of 10 bytes.
    key=$(def A keys | awk '$2 == "app" { print $1 }')
    type=application/vnd.oci.image.manifest.v1+json
    manifest=$(curl -fsS -H "Accept: $type" "http://$REG/v2/cache/manifests/key-$key") || fail "no manifest for app"
    echo "$manifest" | sed 's/\("layers":\[{[^}]*"size":\)[0-9]*/\110/' >"$T/manifest"
    grep -q '"layers":\[{[^}]*"size":10[,}]' "$T/manifest" || fail "could not rewrite the manifest: $(cat "$T/manifest")"
    curl -fsS -X PUT -H "Content-Type: $type" --data-binary "@$T/manifest" "http://$REG/v2/cache/manifests/key-$key" ||
        fail "could not push the rewritten manifest"
    def B build --progress=json --import-cache "$REG/cache" 2>"$T/b"
    rc=$?
    [ $rc -eq 125 ] || fail "exit status $rc: $(cat "$T/b")"
    grep -q "pulling layer app from $REG/cache: .*more than the 10 expected" "$T/b" || fail "the error does not say why: $(cat "$T/b")"
    [ ! -e "$T/B/layers/$key" ] || fail "the layer entered the store"
}

tap_case t_pull_instead_of_build "an empty store pulls every layer a registry has and builds none"
tap_case t_reexport_uploads_nothing "re-exporting uploads nothing; an edit pushes what changed"
tap_case t_retries_500 "a registry that answers 500, then recovers, is retried"
tap_case t_registry_down_import_goes_on "a registry that is down: a notice, and the build goes on"
tap_case t_tampered_blob_refused "a tampered blob is refused, naming the layer; the store is unchanged"
tap_case t_whiteouts_survive "deleted files and replaced directories stay so through the cache"
tap_case t_unreadable_layer_travels "a layer with unreadable modes is pushed and pulled with them, as an ordinary user too"
tap_case t_insecure_registry_option "--insecure-registry is accepted (plain http beyond loopback: the unit tests)"
tap_case t_blob_larger_than_manifest_refused "a blob larger than its manifest says is refused before it is read"
tap_main
