#pragma once

// How a distro program is built: on the bootstrap, with musl-gcc, linked statically,
// from a source mounted read-only at /src/NAME, into DESTDIR=/out (the layer).

#include "distro/musl.hpp"

#include <string>
#include <vector>

namespace distro {

// The compiler environment every program layer gets.
inline std::vector<Env> musl_env() {
    return {Env("PATH", "/usr/local/musl/bin:/usr/bin:/usr/sbin"), Env("CC", "musl-gcc -static"),
            Env("CFLAGS", "-O2"), Env("LDFLAGS", "-static")};
}

// A program built with musl: `script` runs in /build (a scratch directory) with its
// source at /src/NAME; what it installs under /out is the layer. `deps` are more
// BuildDeps (libraries), `run_deps` RunDeps (data read at run time).
template <LayerLike Source>
Layer musl_program(const std::string& name, const Source& source, std::vector<std::string> script,
                   std::vector<Layer> deps = {}, std::vector<Layer> run_deps = {}) {
    std::vector<std::string> lines = {"cd /build"};
    lines.insert(lines.end(), script.begin(), script.end());
    // Manuals and info pages stay out: the system has no reader for them.
    lines.push_back("rm -rf /out/usr/share/man /out/usr/share/info /out/usr/share/doc");
    auto env = musl_env();
    return Layer(Name(name), BuildDep(Bootstrap{}), BuildDep(Musl{}), BuildDep(KernelHeaders{}), BuildDeps(deps), RunDeps(run_deps),
                 BuildDep(Wrap(source, MountDir("/src/" + name))), BuildScratch("/build"), env[0], env[1], env[2],
                 env[3], BuildScript(std::move(lines)), OutputDir("/out"));
}

}  // namespace distro
