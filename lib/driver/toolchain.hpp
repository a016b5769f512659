#pragma once

// What compiling a definition needs: the host's C++ compiler ($CXX, else c++), and
// libbincastle's headers and static library, found beside the running driver when it
// is installed (PREFIX/bin/bincastle) and in the build tree otherwise.

#include <filesystem>
#include <string>
#include <vector>

namespace bincastle::driver {

struct Toolchain {
    std::vector<std::string> compiler;            // $CXX split on spaces, e.g. {"ccache", "g++"}
    std::filesystem::path compiler_path;          // the executable it resolves to
    std::vector<std::filesystem::path> include_dirs;
    std::filesystem::path library_dir;            // holds libbincastle.a
    std::vector<std::string> link_args;
    std::filesystem::path inside_driver;          // the static driver bound at /bincastle
};

// Throws an Error with a hint when the compiler or the library cannot be found.
Toolchain find_toolchain();

// The file that, in its size and time, stands for the compiler's identity: the
// executable after every symlink.
std::filesystem::path resolve_in_path(const std::string& program);

}  // namespace bincastle::driver
