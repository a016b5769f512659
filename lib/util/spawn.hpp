#pragma once

// Starting a helper program (the compiler, a definition program) with its own
// arguments, environment, working directory and stdio, owned until it is waited for.

#include "util/child_process.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bincastle {

struct SpawnSpec {
    std::vector<std::string> argv;                 // argv[0] is looked up in PATH
    std::optional<std::vector<std::string>> env;   // KEY=VALUE; default: the caller's
    std::filesystem::path cwd;                     // default: the caller's
    int stdin_fd = 0;
    int stdout_fd = 1;
    int stderr_fd = 2;
    std::vector<int> extra_fds = {};  // passed on as the child's fds 3, 4, ...
};

// Starts it; the returned process is killed and reaped if dropped before wait().
// A program that is not found is an Error naming it.
ChildProcess spawn(const SpawnSpec& spec);

}  // namespace bincastle
