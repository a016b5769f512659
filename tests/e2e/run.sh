#!/bin/sh
# run.sh: the e2e suite's runner, started as root by meson test. It installs the host
# packages the distro's bootstrap declares (when missing), fills the source mirror once
# (in the build directory, from Debian's source archive: upstream hosts may be out of
# reach), installs the build into a staging directory (meson install --destdir), copies
# the repository there as the user's clone, and runs demo.sh as the unprivileged user
# bincastle-test. TAP on stdout.
#
# Environment: E2E_SOURCE_ROOT, E2E_BUILD_ROOT, INSTALL_PREFIX (from meson);
# E2E_STORE=DIR keeps the user's store there between runs (for development; CI starts
# cold).
set -u
TEST_USER=${BINCASTLE_TEST_USER:-bincastle-test}

bail() {
    echo "Bail out! e2e/run.sh: $*"
    exit 1
}

src=${E2E_SOURCE_ROOT:?}
build=${E2E_BUILD_ROOT:?}
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || bail "start it as root (it installs packages and switches to $TEST_USER)"
id "$TEST_USER" >/dev/null 2>&1 || bail "no user $TEST_USER (scripts/test creates it)"

# What the bootstrap copies (distro/bootstrap.hpp) and what the test drives.
packages="gcc-12 gcc binutils make libc6-dev linux-libc-dev autoconf automake autopoint pkgconf tmux"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "# installing:$missing" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 ||
        bail "apt-get install$missing failed"
fi

# The mirror, filled once per build directory with every source the distro defines.
cache=$build/e2e-cache
mkdir -p "$cache" || bail "cannot make $cache"
PKG_CONFIG_PATH=$build/meson-uninstalled "$src/tools/bincastle-mirror" --cache "$cache/apt" "$cache/mirror" \
    "$src" distro/all >"$cache/mirror.log" 2>&1 || bail "filling the mirror failed: $(cat "$cache/mirror.log")"
chmod -R a+rX "$cache/mirror"

stage=$(mktemp -d /tmp/bincastle-e2e.XXXXXX) || bail "mktemp failed"
cleanup() {
    # The user's processes first (a tmux server, systems still running).
    pkill -u "$TEST_USER" -f "$stage" 2>/dev/null
    rm -rf "$stage"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
chmod 755 "$stage"
meson install -C "$build" --destdir "$stage/install" --no-rebuild --quiet >/dev/null 2>&1 ||
    bail "meson install --destdir failed"
chmod -R a+rX "$stage/install"
mkdir -p "$stage/home/tmp" "$stage/tests"
# The user's clone: the tree without its build directory and git objects.
build_rel=$(realpath --relative-to="$src" "$build")
tar -C "$src" --exclude=./.git --exclude="./$build_rel" --exclude=./build -cf - . | tar -C "$stage/home" --one-top-level=bincastle -xf - ||
    bail "cannot copy the repository"
cp "$here/demo.sh" "$stage/tests/" && chmod 644 "$stage/tests/demo.sh"
store=$stage/home/store
if [ -n "${E2E_STORE:-}" ]; then
    mkdir -p "$E2E_STORE" && chown "$TEST_USER:" "$E2E_STORE"
    store=$E2E_STORE
fi
chown -R "$TEST_USER:" "$stage/home"
chmod 700 "$stage/home"

runuser -u "$TEST_USER" -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME="$stage/home" TMPDIR="$stage/home/tmp" USER="$TEST_USER" LOGNAME="$TEST_USER" LANG=C.UTF-8 SHELL=/bin/sh \
    PREFIX="$stage/install$INSTALL_PREFIX" REPO="$stage/home/bincastle" MIRROR="$cache/mirror" \
    BINCASTLE_HOME="$store" E2E_WARM="${E2E_STORE:+1}" \
    sh "$stage/tests/demo.sh" </dev/null
