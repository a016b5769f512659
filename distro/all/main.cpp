// Every layer the distro defines, in one system: `bincastle build . distro/all` checks
// that each builds, and `bincastle-mirror MIRROR . distro/all` fetches every source
// the demo may enable.

#include <bincastle/main.hpp>

#include "distro/musl.hpp"
#include "distro/programs.hpp"
#include "distro/system.hpp"

using namespace bincastle;
using namespace distro;

int main(int argc, char** argv) {
    Layer all(Name("distro-all"), RunDep(Skeleton{}), RunDep(User{}), RunDep(Busybox{}), RunDep(Nano{}),
              RunDep(Make{}), RunDep(Hello{}), RunDep(Zlib{}), RunDep(Lua{}), RunDep(Bash{}), RunDep(Tcc{}),
              RunDep(Wrap(MuslSource{}, MountDir("/home/user/musl"))), Env("HOME", "/home/user"),
              RunWorkingDir("/home/user"), RunArgs({"/bin/sh", "-l"}));
    return bincastle::main(argc, argv, all);
}
