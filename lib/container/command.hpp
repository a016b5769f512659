#pragma once

// Starting the container's command: its environment and the exec itself.

#include <bincastle/container.hpp>

#include <string>
#include <vector>

namespace bincastle::container {

inline constexpr const char* default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// The spec's environment, plus PATH when the spec gives none.
std::vector<std::string> command_environment(const Spec& spec);

// Replaces this process with the command, looking args[0] up in the PATH of `env`.
// On failure writes "bincastle: NAME: reason" to stderr and exits 127 (not found)
// or 126 (cannot be executed).
[[noreturn]] void exec_command(const std::vector<std::string>& args,
                               const std::vector<std::string>& env);

// Restores default dispositions and an empty signal mask, as a new program expects.
void reset_signals();

}  // namespace bincastle::container
