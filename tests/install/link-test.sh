#!/bin/sh
# Installs the build into a scratch prefix, builds consumer.cpp against it with nothing
# but `pkg-config --cflags --libs bincastle`, shared and static, and runs both.
set -eu
build_root=$1
source_dir=$2
busybox_rootfs=$3

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
DESTDIR="$scratch/dest" meson install -C "$build_root" --no-rebuild --quiet >/dev/null
pc=$(find "$scratch/dest" -name bincastle.pc)
[ -n "$pc" ] || { echo "no bincastle.pc installed"; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")"
export PKG_CONFIG_SYSROOT_DIR="$scratch/dest"
libdir=$(pkg-config --variable=libdir bincastle)

c++ -o "$scratch/consumer" "$source_dir/consumer.cpp" $(pkg-config --cflags --libs bincastle) \
    -Wl,-rpath,"$scratch/dest$libdir"
c++ -static -o "$scratch/consumer-static" "$source_dir/consumer.cpp" \
    $(pkg-config --cflags --libs --static bincastle)

sh "$busybox_rootfs" "$scratch/rootfs" >/dev/null
for consumer in consumer consumer-static; do
    status=0
    out=$("$scratch/$consumer" "$scratch/rootfs" sh -c 'echo pid $$; exit 7') || status=$?
    [ "$status" -eq 7 ] || { echo "$consumer: exit status $status, expected 7 ($out)"; exit 1; }
    [ "$out" = "pid 1" ] || { echo "$consumer: printed '$out', expected 'pid 1'"; exit 1; }
    echo "$consumer: ok"
done
