// The demo system: a shell and core tools (busybox), an editor (nano), a C compiler
// (tcc, as cc), GNU make and hello, zlib and lua, all built from source on musl and
// linked statically, with this repository mounted at /home/user/bincastle so that
// this file can be edited from inside and the system rebuilt with
//
//     /bincastle run /home/user/bincastle demo
//
// The README's "The demo" walks through it.

#include <bincastle/main.hpp>

#include "distro/musl.hpp"
#include "distro/programs.hpp"
#include "distro/system.hpp"

using namespace bincastle;
using namespace distro;

// The definition's own repository, without its build tree and git objects.
struct Repository {
    Layer spec() const {
        return Layer(Name("bincastle-src"), LocalDir("..", Exclude({"build", ".git"})), LocalOverride());
    }
};

int main(int argc, char** argv) {
    Layer demo(Name("demo"),
               RunDep(Skeleton{}),
               RunDep(User{}),
               RunDep(Init{}),  // for bincastle run --boot
               RunDep(Busybox{}),
               RunDep(Nano{}),
               RunDep(Tcc{}),
               RunDep(Make{}),
               RunDep(Hello{}),
               RunDep(Zlib{}),
               RunDep(Lua{}),
               // More layers: uncomment some, save, and rebuild from inside.
               // RunDep(Bash{}),
               RunDep(Wrap(Repository{}, MountDir("/home/user/bincastle"))),
               // The libc's source, to edit: uncomment, rebuild, then edit it there.
               // RunDep(Wrap(MuslSource{}, MountDir("/home/user/musl"))),
               Env("HOME", "/home/user"),
               Env("USER", "user"),
               RunWorkingDir("/home/user"),
               RunArgs({"/bin/sh", "-l"}));
    return bincastle::main(argc, argv, demo);
}
