#pragma once

// `bincastle sandbox`: the runner on the command line.

#include <bincastle/container.hpp>

#include <string>
#include <vector>

namespace bincastle::cli {

extern const char* const sandbox_usage;

struct SandboxCommand {
    bool help = false;
    container::Spec spec;
};

// Parses the arguments after "sandbox". Throws bincastle::Error on a usage error.
SandboxCommand parse_sandbox_args(const std::vector<std::string>& args, bool stdin_is_tty);

// Runs the verb; returns the exit status.
int sandbox_main(const std::vector<std::string>& args);

}  // namespace bincastle::cli
