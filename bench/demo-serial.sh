#!/bin/sh
# bench/demo-serial.sh WORK MIRROR: the demo's build steps (distro/*.hpp), one after
# another, as a plain shell script on the host: the same sources (from MIRROR), the
# same bootstrap (the host's own toolchain, which the bootstrap layer copies), the same
# commands and MAKEFLAGS=-j$(nproc), without containers, layers or a scheduler (and
# without the host's pkg-config and ncursesw5-config, which the bootstrap lacks). Prints
# "STEP SECONDS" per step on stdout.
set -eu
W=$1
M=$2
export MAKEFLAGS=-j${JOBS:-$(nproc)}
rm -rf "$W" && mkdir -p "$W/src" "$W/out"
P=$W/musl
SYS=$W/out/sysroot  # what the libraries install, for the programs built on them

now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }
step() {
    name=$1
    shift
    start=$(now)
    (cd "$W" && mkdir -p "build-$name" && cd "build-$name" && eval "$@") >"$W/$name.log" 2>&1 ||
        { echo "step $name failed; see $W/$name.log" >&2; exit 1; }
    echo "$name $(since "$start")"
}
unpack() { mkdir -p "$W/src/$1" && tar -C "$W/src/$1" --strip-components=1 -xf "$M/$2"; }

t0=$(now)
start=$t0
unpack musl musl-1.2.3.tar.gz
unpack busybox busybox-1.35.0.tar.bz2
unpack ncurses ncurses-6.4.tar.gz
unpack nano nano-7.2.tar.xz
unpack make make-dfsg_4.3.orig.tar.gz
unpack hello hello-2.10.tar.gz
unpack zlib zlib_1.2.13.dfsg.orig.tar.bz2
unpack lua lua-5.4.4.tar.gz
# (Debian's tcc tarball has no top directory.)
mkdir -p "$W/src/tcc" && tar -C "$W/src/tcc" -xf "$M/tcc_0.9.27+git20200814.62c30a4a.orig.tar.bz2"
echo "unpack $(since "$start")"

step musl "CFLAGS=-O2 $W/src/musl/configure --prefix=$P --disable-shared CC=gcc && make && make install"
step kernel-headers "cp -R /usr/include/linux /usr/include/asm-generic /usr/include/mtd $P/include/ &&
    cp -R /usr/include/x86_64-linux-gnu/asm $P/include/asm"
export PATH="$P/bin:$PATH" CC="musl-gcc -static" CFLAGS=-O2 LDFLAGS=-static
step busybox "cp -R $W/src/busybox src && cd src &&
    env -u CFLAGS -u LDFLAGS make CC=musl-gcc HOSTCC=gcc defconfig &&
    sed -i -e 's/^# CONFIG_STATIC is not set/CONFIG_STATIC=y/' -e 's/^CONFIG_TC=y/# CONFIG_TC is not set/' .config &&
    env -u CFLAGS -u LDFLAGS make CC=musl-gcc HOSTCC=gcc &&
    env -u CFLAGS -u LDFLAGS make CC=musl-gcc HOSTCC=gcc CONFIG_PREFIX=$W/out/busybox install"
step ncurses "$W/src/ncurses/configure --prefix=/usr --enable-widec --without-shared --without-cxx \
    --without-cxx-binding --without-ada --without-tests --without-manpages --without-debug --disable-stripping \
    --disable-overwrite --with-terminfo-dirs=/usr/share/terminfo --with-default-terminfo-dir=/usr/share/terminfo &&
    make && make DESTDIR=$SYS install"
step nano "mkdir inc && ln -s $SYS/usr/include/ncursesw inc/ncursesw &&
    PKG_CONFIG=false NCURSESW_CONFIG=no $W/src/nano/configure --prefix=/usr --disable-nls --disable-libmagic \
    'CPPFLAGS=-I$W/build-nano/inc -I$SYS/usr/include/ncursesw' 'LDFLAGS=-static -L$SYS/usr/lib' &&
    make && make DESTDIR=$W/out/nano install"
step make "cp -R $W/src/make src && cd src &&
    sed -i 's|po/Makefile.in Makefile |po/Makefile.in |' configure.ac && sed -i '/^man_MANS/d' Makefile.am &&
    ACLOCAL=aclocal-1.16 AUTOMAKE=automake-1.16 autoreconf -fi &&
    ./configure --prefix=/usr --disable-nls --without-guile && make && make DESTDIR=$W/out/make install-binPROGRAMS"
step hello "$W/src/hello/configure --prefix=/usr --disable-nls && make && make DESTDIR=$W/out/hello install"
step zlib "cp -R $W/src/zlib src && cd src && ./configure --prefix=/usr --static && make && make DESTDIR=$SYS install"
step lua "cp -R $W/src/lua src && cd src && make posix CC=musl-gcc MYLDFLAGS=-static &&
    make install INSTALL_TOP=$W/out/lua/usr"
step tcc "$W/src/tcc/configure --prefix=/usr --cc=musl-gcc --extra-ldflags=-static --config-musl \
    --sysincludepaths={B}/include:$P/include --libpaths=$P/lib --crtprefix=$P/lib &&
    make && make DESTDIR=$W/out/tcc install &&
    printf '#!/bin/sh\nexec tcc -static \"\$@\"\n' >$W/out/tcc/usr/bin/cc && chmod 755 $W/out/tcc/usr/bin/cc"
echo "total $(since "$t0")"
