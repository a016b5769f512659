#pragma once

// The distro's programs, each built from its upstream release (pinned by sha256) with
// musl, linked statically. Where Debian's source archive repacks a release (a "dfsg"
// tarball), the recipe names Debian's .orig tarball instead, and says so.

#include "distro/toolchain.hpp"

namespace distro {

// ---- sources ------------------------------------------------------------------------

// `strip`: the leading path components of the archive's members to drop (its top directory).
inline Layer source(const std::string& name, const std::string& url, const std::string& sha256, int strip = 1) {
    return Layer(Name(name + "-src"), HttpArchive(url, sha256, strip), LocalOverride());
}

inline Layer busybox_source() {
    return source("busybox", "https://busybox.net/downloads/busybox-1.35.0.tar.bz2",
                  "faeeb244c35a348a334f4a59e44626ee870fb07b6884d68c10ae8bc19f83a694");
}
inline Layer hello_source() {
    return source("hello", "https://ftp.gnu.org/gnu/hello/hello-2.10.tar.gz",
                  "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b");
}
// Debian's repack of make 4.3 (without the GFDL manual, and without the generated
// configure script, which the recipe makes with autoreconf).
inline Layer make_source() {
    return source("make", "http://deb.debian.org/debian/pool/main/m/make-dfsg/make-dfsg_4.3.orig.tar.gz",
                  "be4c17542578824e745f83bcd2a9ba264206187247cb6a5f5df99b0a9d1f9047");
}
// Debian's repack of zlib 1.2.13 (without the contrib/ directory).
inline Layer zlib_source() {
    return source("zlib", "http://deb.debian.org/debian/pool/main/z/zlib/zlib_1.2.13.dfsg.orig.tar.bz2",
                  "71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1");
}
inline Layer lua_source() {
    return source("lua", "https://www.lua.org/ftp/lua-5.4.4.tar.gz",
                  "164c7849653b80ae67bec4b7473b884bf5cc8d2dca05653475ec2ed27b9ebf61");
}
inline Layer ncurses_source() {
    return source("ncurses", "https://invisible-island.net/archives/ncurses/ncurses-6.4.tar.gz",
                  "6931283d9ac87c5073f30b6290c4c75f21632bb4fc3603ac8100812bed248159");
}
inline Layer nano_source() {
    return source("nano", "https://www.nano-editor.org/dist/v7/nano-7.2.tar.xz",
                  "86f3442768bd2873cec693f83cdf80b4b444ad3cc14760b74361474fc87a4526");
}
// Debian's bash 5.2.15 tarball (upstream ships 5.2 and patches; Debian's has them applied).
inline Layer bash_source() {
    return source("bash", "http://deb.debian.org/debian/pool/main/b/bash/bash_5.2.15.orig.tar.gz",
                  "7a315bc0e9d90713159e4390ec1096a41e4f33cd8cc3d1a749a8e5ad56600f51");
}
// Debian's TinyCC tarball, a git snapshot: upstream has made no release since 0.9.27
// (2017) and develops in git. The tarball has no top directory.
inline Layer tcc_source() {
    return source("tcc", "http://deb.debian.org/debian/pool/main/t/tcc/tcc_0.9.27+git20200814.62c30a4a.orig.tar.bz2",
                  "d63c113bcdd657f51c8ee197a0b0a24203603313e19a52b5f678d40ab7f5df35", 0);
}

// ---- programs -----------------------------------------------------------------------

// The shell and the core tools: every applet of busybox's defconfig but tc (which does
// not build against newer kernel headers), linked statically.
struct Busybox {
    Layer spec() const {
        // Busybox's Makefile sets its own CFLAGS and LDFLAGS; the environment's would
        // replace them.
        std::string make = "env -u CFLAGS -u LDFLAGS make CC=musl-gcc HOSTCC=gcc";
        return musl_program("busybox", busybox_source(),
                            {"cp -R /src/busybox src", "cd src", make + " defconfig",
                             "sed -i -e 's/^# CONFIG_STATIC is not set/CONFIG_STATIC=y/' "
                             "-e 's/^CONFIG_TC=y/# CONFIG_TC is not set/' .config",
                             make, make + " CONFIG_PREFIX=/out install"});
    }
};

struct Hello {
    Layer spec() const {
        return musl_program("hello", hello_source(),
                            {"/src/hello/configure --prefix=/usr --disable-nls", "make", "make DESTDIR=/out install"});
    }
};

struct Make {
    Layer spec() const {
        return musl_program("make", make_source(),
                            {"cp -R /src/make src", "cd src",
                             // automake names its programs through alternatives, not in its file list.
                             // The repack lists Makefile twice (where doc/Makefile was), and
                             // still names the manual page it removed.
                             "sed -i 's|po/Makefile.in Makefile |po/Makefile.in |' configure.ac",
                             "sed -i '/^man_MANS/d' Makefile.am",
                             "ACLOCAL=aclocal-1.16 AUTOMAKE=automake-1.16 autoreconf -fi",
                             "./configure --prefix=/usr --disable-nls --without-guile", "make",
                             "make DESTDIR=/out install-binPROGRAMS"},
                            {HostAutotools{}.spec()});
    }
};

struct Zlib {
    Layer spec() const {
        return musl_program("zlib", zlib_source(),
                            {"cp -R /src/zlib src", "cd src", "./configure --prefix=/usr --static", "make",
                             "make DESTDIR=/out install"});
    }
};

struct Lua {
    Layer spec() const {
        return musl_program("lua", lua_source(),
                            {"cp -R /src/lua src", "cd src", "make posix CC=musl-gcc MYLDFLAGS=-static",
                             "make install INSTALL_TOP=/out/usr"});
    }
};

// The terminal library and the terminfo database, for the editor (a run dependency
// of it: terminfo is read at run time).
struct Ncurses {
    Layer spec() const {
        return musl_program("ncurses", ncurses_source(),
                            {"/src/ncurses/configure --prefix=/usr --enable-widec --without-shared --without-cxx "
                             "--without-cxx-binding --without-ada --without-tests --without-manpages "
                             "--without-debug --disable-stripping --disable-overwrite --with-terminfo-dirs=/usr/share/terminfo "
                             "--with-default-terminfo-dir=/usr/share/terminfo",
                             "make", "make DESTDIR=/out install"});
    }
};

struct Nano {
    Layer spec() const {
        return musl_program("nano", nano_source(),
                            {// ncurses' headers include <ncursesw/...>: a directory with only that
                             // in it, since /usr/include also holds the bootstrap's glibc headers.
                             "mkdir inc", "ln -s /usr/include/ncursesw inc/ncursesw",
                             "/src/nano/configure --prefix=/usr --disable-nls --disable-libmagic "
                             "'CPPFLAGS=-I/build/inc -I/usr/include/ncursesw' 'LDFLAGS=-static -L/usr/lib'",
                             "make", "make DESTDIR=/out install"},
                            {Ncurses{}.spec()}, {Ncurses{}.spec()});
    }
};

struct Bash {
    Layer spec() const {
        return musl_program("bash", bash_source(),
                            {// 5.2's configure adds its own strtoimax when the libc's is usable
                             // (the test is inverted), which a static link then finds twice.
                             "/src/bash/configure --prefix=/usr --without-bash-malloc --disable-nls "
                             "--enable-static-link bash_cv_func_strtoimax=no",
                             "make", "make DESTDIR=/out install"});
    }
};

// A C compiler for the system itself: TinyCC, itself static, compiling against musl's
// headers and linking its libc.a at /usr/local/musl, where the musl layer installs
// them: musl and the kernel headers are run dependencies for that.
struct Tcc {
    Layer spec() const {
        std::string musl = "/usr/local/musl";
        return musl_program("tcc", tcc_source(),
                            {"/src/tcc/configure --prefix=/usr --cc=musl-gcc --extra-ldflags=-static --config-musl "
                             "--sysincludepaths={B}/include:" + musl + "/include --libpaths=" + musl + "/lib "
                             "--crtprefix=" + musl + "/lib",
                             "make", "make DESTDIR=/out install",
                             // musl is static-only: without -static, tcc links a program
                             // dynamically, for an ld-musl that does not exist.
                             "printf '#!/bin/sh\\nexec tcc -static \"$@\"\\n' >/out/usr/bin/cc",
                             "chmod 755 /out/usr/bin/cc"},
                            {}, {Musl{}.spec(), KernelHeaders{}.spec()});
    }
};

}  // namespace distro
