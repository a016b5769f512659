#include "driver/toolchain.hpp"

#include "driver_config.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle::driver {

namespace {

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream stream(text);
    while (std::getline(stream, part, separator))
        if (!part.empty()) parts.push_back(part);
    return parts;
}

bool path_exists(const fs::path& path) {
    std::error_code error;
    return fs::exists(path, error);
}

}  // namespace

fs::path resolve_in_path(const std::string& program) {
    if (program.find('/') != std::string::npos) {
        std::error_code error;
        fs::path path = fs::canonical(program, error);
        if (error) throw Error("compiler not found: " + program, "set CXX to a C++20 compiler");
        return path;
    }
    const char* path_env = std::getenv("PATH");
    for (const auto& dir : split(path_env ? path_env : "/usr/local/bin:/usr/bin:/bin", ':')) {
        fs::path candidate = fs::path(dir) / program;
        if (::access(candidate.c_str(), X_OK) == 0) return fs::canonical(candidate);
    }
    throw Error("compiler not found: " + program + " (in PATH)",
                "install g++ (apt-get install g++), or set CXX to a C++20 compiler");
}

Toolchain find_toolchain() {
    Toolchain toolchain;
    const char* cxx = std::getenv("CXX");
    toolchain.compiler = split(cxx && *cxx ? cxx : "c++", ' ');
    // "ccache g++" is g++; "clang++ -stdlib=libc++" is clang++.
    auto program = std::find_if(toolchain.compiler.rbegin(), toolchain.compiler.rend(),
                                [](const std::string& word) { return !word.starts_with("-"); });
    if (program == toolchain.compiler.rend()) throw Error("CXX names no compiler: " + std::string(cxx), "set CXX to a C++20 compiler");
    toolchain.compiler_path = resolve_in_path(*program);
    toolchain.link_args = split(BINCASTLE_DEFINITION_LINK_ARGS, '\t');

    fs::path prefix = fs::canonical("/proc/self/exe").parent_path().parent_path();
    fs::path installed_include = prefix / BINCASTLE_INSTALL_INCLUDEDIR;
    fs::path installed_lib = prefix / BINCASTLE_INSTALL_LIBDIR;
    if (path_exists(installed_include / "bincastle" / "main.hpp") && path_exists(installed_lib / "libbincastle.a")) {
        toolchain.include_dirs = {installed_include};
        toolchain.library_dir = installed_lib;
        toolchain.inside_driver = prefix / BINCASTLE_INSTALL_LIBEXECDIR / "bincastle" / "bincastle-inside";
    } else {
        for (const auto& dir : split(BINCASTLE_TREE_INCLUDE_DIRS, '\t')) toolchain.include_dirs.emplace_back(dir);
        toolchain.library_dir = BINCASTLE_TREE_LIB_DIR;
        toolchain.inside_driver = BINCASTLE_TREE_INSIDE_DRIVER;
    }
    if (!path_exists(toolchain.library_dir / "libbincastle.a"))
        throw Error("libbincastle.a not found in " + toolchain.library_dir.string(),
                    "reinstall bincastle (meson install), or rebuild its build tree");
    if (!path_exists(toolchain.inside_driver))
        throw Error("the static driver is missing: " + toolchain.inside_driver.string(),
                    "reinstall bincastle (meson install), or rebuild its build tree");
    return toolchain;
}

}  // namespace bincastle::driver
