#pragma once

// Running a helper program for what it prints: a job engine's client (sbatch,
// scontrol), whose answers are parsed and whose errors are shown to the user.

#include <string>
#include <vector>

namespace bincastle {

struct CommandOutput {
    int status = 0;      // the shell's view: exit code, or 128+N for signal N
    std::string out;     // its standard output
    std::string err;     // its standard error
};

// Runs `argv` (argv[0] looked up in PATH) with stdin from /dev/null and waits for it.
// A program that is not found is an Error naming it.
CommandOutput run_for_output(const std::vector<std::string>& argv);

}  // namespace bincastle
