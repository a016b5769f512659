# Shared by scripts/demo and scripts/test: installing what is missing, building.

# Debian packages the build and the tests need. Boost is pinned to 1.81 (Debian 12's
# default libboost-dev is 1.74, which lacks Process v2). libarchive's static link names
# its compression and ACL libraries, so their -dev packages (with the .a files) are here;
# libseccomp-dev gives the containers their filter (its .a for the static driver).
build_packages="meson ninja-build g++ pkg-config libboost1.81-dev doctest-dev busybox-static libxxhash-dev libgit2-dev libarchive-dev libssl-dev libacl1-dev liblz4-dev liblzma-dev libzstd-dev libbz2-dev zlib1g-dev libxml2-dev nettle-dev libseccomp-dev"
test_packages="uidmap fuse-overlayfs util-linux procps tmux gcc libc6-dev git tar gzip bzip2 xz-utils zstd openssl ca-certificates docker-registry skopeo umoci curl python3"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the packages of $@ that are not installed yet (apt-get update only then).
install_missing() {
    missing=""
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
            missing="$missing $package"
        fi
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
}

# Configures (once) and builds into ./build.
build() {
    if [ ! -f build/build.ninja ]; then
        meson setup build "$@" >/dev/null
    elif [ $# -gt 0 ]; then
        meson configure build "$@" >/dev/null
    fi
    ninja -C build
}
