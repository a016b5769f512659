#pragma once

// The bootstrap: the only part of the distro not built from source. Like Linux From
// Scratch, the first compiler is the host's: a declared layer of the host's installed
// Debian packages (HostPackages), whose key names their versions (the compiler's and
// the libc's identities). Every distro layer takes it as a BuildDep only, so no file of
// it is ever part of a running system.

#include <bincastle/layer.hpp>

namespace distro {

using namespace bincastle;

// gcc and binutils, glibc's headers and crt files (to build musl and host tools),
// the kernel's UAPI headers (linux-libc-dev: musl-gcc needs them beside musl's), and
// what build scripts run: a shell, coreutils, sed, grep, an awk, make, perl.
struct HostToolchain {
    Layer spec() const {
        return Layer(Name("host-toolchain"),
                     HostPackages({"gcc-12", "gcc", "binutils", "make", "libc6-dev", "linux-libc-dev", "dash",
                                   "coreutils", "sed", "grep", "mawk", "findutils", "diffutils", "patch",
                                   "perl-base", "tar", "gzip", "bzip2", "xz-utils"}));
    }
};

// The names build scripts expect that Debian gives through alternatives (not in any
// package's file list): awk and cc.
struct Bootstrap {
    Layer spec() const {
        return Layer(Name("bootstrap"), Dep(HostToolchain{}),
                     BuildScript({"mkdir -p /out/usr/bin", "ln -s mawk /out/usr/bin/awk", "ln -s gcc /out/usr/bin/cc"}),
                     OutputDir("/out"));
    }
};

// autoconf, automake, autopoint and pkg.m4 (pkgconf), for a source released without its generated
// configure script (Debian's repack of GNU make).
struct HostAutotools {
    Layer spec() const { return Layer(Name("host-autotools"), HostPackages({"autoconf", "automake", "autopoint", "pkgconf"})); }
};

}  // namespace distro
