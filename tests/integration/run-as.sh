#!/bin/sh
# run-as.sh MODE SCRIPT: runs an integration SCRIPT (TAP on stdout) as root or as the
# unprivileged user bincastle-test, with BINCASTLE and BUSYBOX_ROOTFS (and
# BINCASTLE_NESTED, when given) from the environment. With INSTALL_FROM (a meson
# build directory) and INSTALL_PREFIX, the build is first installed into a staging
# directory (meson install --destdir) and PREFIX names the installed tree. With
# SMALL_FS_SIZE (a tmpfs size: 64m), root mounts a tmpfs of that size for the script,
# owned by the user it runs as, and SMALL_FS names it: a disk the cases can fill. A
# tmpfs the script mounted in a user namespace of its own would make it uid 0 there,
# and bincastle would take root's paths, not an ordinary user's.
#
#   root   run the script as is (the caller must be root).
#   user   (started as root) stage copies of the binary, busybox-rootfs and the test
#          scripts in a fresh directory the user can read, then run the script as
#          bincastle-test with a clean environment and its own HOME and TMPDIR; the
#          staging directory goes away afterwards.
#
# Prints nothing on stdout but the script's TAP stream.
set -u

TEST_USER=${BINCASTLE_TEST_USER:-bincastle-test}

bail() {
    echo "Bail out! run-as.sh: $*"
    exit 1
}

[ $# -eq 2 ] || bail "usage: run-as.sh root|user SCRIPT"
mode=$1
script=$2
[ -f "$script" ] || bail "no script $script"
[ -n "${BINCASTLE:-}" ] && [ -x "$BINCASTLE" ] || bail "BINCASTLE must name the bincastle binary"
[ -n "${BUSYBOX_ROOTFS:-}" ] && [ -f "$BUSYBOX_ROOTFS" ] || bail "BUSYBOX_ROOTFS must name tools/busybox-rootfs"

# A DESTDIR install, readable by the test user.
install_into() {
    [ -n "${INSTALL_FROM:-}" ] || return 0
    meson install -C "$INSTALL_FROM" --destdir "$1" --no-rebuild --quiet >/dev/null 2>&1 ||
        bail "meson install --destdir $1 failed"
    chmod -R a+rX "$1"
    PREFIX=$1$INSTALL_PREFIX
    export PREFIX
}

# mount_small_fs DIR UID GID: the tmpfs of SMALL_FS_SIZE at DIR, for UID; sets SMALL_FS.
mount_small_fs() {
    [ -n "${SMALL_FS_SIZE:-}" ] || return 0
    mkdir -p "$1" && mount -t tmpfs -o "size=$SMALL_FS_SIZE,mode=0700,uid=$2,gid=$3" bincastle-small "$1" ||
        bail "cannot mount a tmpfs at $1"
    SMALL_FS=$1
    export SMALL_FS
}

# Lazily: a process a case left behind must not keep the tmpfs mounted.
unmount_small_fs() {
    [ -z "${SMALL_FS:-}" ] || umount -l "$SMALL_FS"
}

case $mode in
root)
    [ "$(id -u)" -eq 0 ] || bail "mode root needs to be started as root"
    if [ -z "${INSTALL_FROM:-}" ] && [ -z "${SMALL_FS_SIZE:-}" ]; then exec sh "$script"; fi
    install_dir=$(mktemp -d /tmp/bincastle-install.XXXXXX) || bail "mktemp failed"
    trap 'unmount_small_fs; rm -rf "$install_dir"' EXIT
    trap 'exit 130' INT TERM HUP
    install_into "$install_dir"
    mount_small_fs "$install_dir/small" 0 0
    sh "$script"
    exit $?
    ;;
user) ;;
*) bail "unknown mode $mode (root or user)" ;;
esac

[ "$(id -u)" -eq 0 ] || bail "mode user needs to be started as root (it switches to $TEST_USER)"
id "$TEST_USER" >/dev/null 2>&1 || bail "no user $TEST_USER (useradd --create-home $TEST_USER)"
command -v runuser >/dev/null || bail "runuser (util-linux) is needed"

stage=$(mktemp -d /tmp/bincastle-it.XXXXXX) || bail "mktemp failed"
cleanup() {
    unmount_small_fs
    rm -rf "$stage"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
chmod 755 "$stage"

mkdir "$stage/bin" "$stage/tests" "$stage/home" || bail "cannot populate $stage"
cp "$BINCASTLE" "$stage/bin/bincastle" || bail "cannot copy $BINCASTLE"
cp "$BUSYBOX_ROOTFS" "$stage/bin/busybox-rootfs" || bail "cannot copy $BUSYBOX_ROOTFS"
# The static driver for nested runs, when BINCASTLE is not one (a sanitizer build).
if [ -n "${BINCASTLE_NESTED:-}" ]; then
    cp "$BINCASTLE_NESTED" "$stage/bin/bincastle-nested" || bail "cannot copy $BINCASTLE_NESTED"
    chmod 755 "$stage/bin/bincastle-nested"
fi
# The core's test definition program, for the scripts that drive one.
if [ -n "${DEFINITION:-}" ]; then
    cp "$DEFINITION" "$stage/bin/definition" || bail "cannot copy $DEFINITION"
    chmod 755 "$stage/bin/definition"
fi
script_dir=$(cd "$(dirname "$script")" && pwd)
for f in "$script_dir"/*.sh "$script_dir"/*.c; do
    [ -f "$f" ] && cp "$f" "$stage/tests/"
done
chmod 755 "$stage/bin" "$stage/tests" "$stage/bin/bincastle" "$stage/bin/busybox-rootfs"
install_into "$stage/install"
chmod 644 "$stage/tests/"*
mkdir "$stage/home/tmp"
chown -R "$TEST_USER:" "$stage/home"
chmod 700 "$stage/home"
mount_small_fs "$stage/small" "$(id -u "$TEST_USER")" "$(id -g "$TEST_USER")"

set -- PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    HOME="$stage/home" TMPDIR="$stage/home/tmp" USER="$TEST_USER" LOGNAME="$TEST_USER" \
    LANG=C.UTF-8 SHELL=/bin/sh \
    BINCASTLE="$stage/bin/bincastle" BUSYBOX_ROOTFS="$stage/bin/busybox-rootfs"
[ -z "${DEFINITION:-}" ] || set -- "$@" DEFINITION="$stage/bin/definition"
[ -z "${BINCASTLE_NESTED:-}" ] || set -- "$@" BINCASTLE_NESTED="$stage/bin/bincastle-nested"
[ -z "${PREFIX:-}" ] || set -- "$@" PREFIX="$PREFIX"
[ -z "${SMALL_FS:-}" ] || set -- "$@" SMALL_FS="$SMALL_FS"
[ -z "${TAP_VERBOSE:-}" ] || set -- "$@" TAP_VERBOSE="$TAP_VERBOSE"
[ -z "${TAP_ONLY:-}" ] || set -- "$@" TAP_ONLY="$TAP_ONLY"
# A cluster's, for the scripts that submit jobs (local-slurm.sh).
[ -z "${SLURM_CONF:-}" ] || set -- "$@" SLURM_CONF="$SLURM_CONF" SLURM_JOBCOMP="$SLURM_JOBCOMP"
runuser -u "$TEST_USER" -- env -i "$@" sh "$stage/tests/$(basename "$script")" </dev/null
status=$?
exit "$status"
