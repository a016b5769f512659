#pragma once

#include <string>
#include <vector>

namespace bincastle {

// As a shell says it.
inline constexpr int program_not_found = 127;

// A shell's view of how a process ended: its exit code, or 128+N for signal N.
int shell_status(int wait_status);

// Runs a helper program (looked up in PATH) with the caller's stdio and environment,
// chrooted to `root` when one is given, waits for it, and returns its exit status
// (128+N when killed by signal N, `program_not_found` when it could not be started).
int run_program(const std::vector<std::string>& argv, const std::string& root = {});

}  // namespace bincastle
