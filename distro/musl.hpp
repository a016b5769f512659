#pragma once

// musl, the distro's libc, built static-only into /usr/local/musl with its musl-gcc
// wrapper, and the kernel's UAPI headers beside its own. Programs build with
// `musl-gcc -static` (see toolchain.hpp) and need no libc file at run time.

#include "distro/bootstrap.hpp"

namespace distro {

// Upstream's release, byte-identical to Debian's musl_1.2.3.orig.tar.gz.
// Overridable: a system that mounts it (Wrap(MuslSource{}, MountDir(...))) and sets
// nothing else lets a build started inside use the edited copy.
struct MuslSource {
    Layer spec() const {
        return Layer(Name("musl-src"),
                     HttpArchive("https://musl.libc.org/releases/musl-1.2.3.tar.gz",
                                 "7d5b0b6062521e4627e099e4c9dc8248d32a30285e959b7eecaa780cf8cfd4a4", 1),
                     LocalOverride());
    }
};

// linux, asm, asm-generic and mtd from the bootstrap's linux-libc-dev: musl-gcc puts
// only musl's include directory on the path, so programs that use kernel interfaces
// (busybox) find these there.
struct KernelHeaders {
    Layer spec() const {
        return Layer(Name("kernel-headers"), BuildDep(Bootstrap{}),
                     BuildScript({"mkdir -p /out/usr/local/musl/include",
                                  "cp -R /usr/include/linux /usr/include/asm-generic /usr/include/mtd "
                                  "/out/usr/local/musl/include/",
                                  "cp -R /usr/include/x86_64-linux-gnu/asm /out/usr/local/musl/include/asm"}),
                     OutputDir("/out"));
    }
};

struct Musl {
    Layer spec() const {
        return Layer(Name("musl"), BuildDep(Bootstrap{}), BuildDep(Wrap(MuslSource{}, MountDir("/src/musl"))),
                     BuildScratch("/build"), Env("CFLAGS", "-O2"),
                     BuildScript({"cd /build", "/src/musl/configure --prefix=/usr/local/musl --disable-shared CC=gcc",
                                  "make", "make DESTDIR=/out install"}),
                     OutputDir("/out"));
    }
};

}  // namespace distro
