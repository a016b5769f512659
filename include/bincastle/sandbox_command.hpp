#pragma once

// `bincastle sandbox`: the runner on the command line. In the library, so that every
// program linking it (the driver, a definition program) can start containers by
// running itself with this verb: a fresh process, safe to clone from, where a
// multi-threaded builder is not.

#include <bincastle/container.hpp>
#include <bincastle/export.hpp>

#include <optional>
#include <string>
#include <vector>

namespace bincastle::cli {

BINCASTLE_API extern const char* const sandbox_usage;

struct SandboxCommand {
    bool help = false;
    bool die_with_parent = false;  // this process dies with the one that started it
    std::optional<int> expected_parent;  // ... which must be this pid (--die-with-parent=PID)
    bool quiet = false;                  // no notices (--quiet)
    container::Spec spec;
};

// Parses the arguments after "sandbox". Throws bincastle::Error on a usage error.
BINCASTLE_API SandboxCommand parse_sandbox_args(const std::vector<std::string>& args, bool stdin_is_tty);

// The arguments that parse_sandbox_args turns back into `command` (its spec's stdio,
// notice and forward_signals aside: the verb sets those itself).
BINCASTLE_API std::vector<std::string> sandbox_args(const SandboxCommand& command);

// --net's NONE|USER|HOST, and -p's [ADDRESS:]HOST_PORT:CONTAINER_PORT (for `option`);
// each throws Error on a mistake.
BINCASTLE_API container::Network parse_network(const std::string& text);
BINCASTLE_API container::PortForward parse_port_forward(const std::string& option, const std::string& text);

// Runs the verb; returns the exit status.
BINCASTLE_API int sandbox_main(const std::vector<std::string>& args);

}  // namespace bincastle::cli
