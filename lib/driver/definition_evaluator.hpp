#pragma once

// Evaluating a definition: its program runs in a sandbox (host_tool_sandbox.hpp) with
// the verb `plan` and writes the plan to a file the driver gives it; its own output
// reaches the caller. The driver builds and runs what the plan says; the program does
// nothing else. Besides the system directories it sees its own compiled program and
// its repository, read-only, and the directory it writes the plan into; it is killed
// at its time limit and held to its memory limit.

#include "driver/driver_command.hpp"

#include <bincastle/plan.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>

namespace bincastle::driver {

struct EvaluationLimits {
    std::chrono::seconds time{60};
    std::uint64_t memory = std::uint64_t{4} << 30;  // bytes of address space
};

struct Evaluation {
    // Nothing when the program reported its own failure (exit 125: it said why on
    // `stdio[2]`), or when it never started.
    std::optional<Plan> plan;
    // The sandbox's 126 (it cannot be executed) or 127 (it, or its loader, was not
    // found), after the sandbox or the loader said why: a program damaged past what
    // its cache entry checks, or a store on a noexec mount.
    std::optional<int> not_started;
};

// Throws bincastle::Error when the program fails otherwise (killed, another status),
// exceeds its time limit, or writes no valid plan. `stdio` is what the program gets as
// its stdin, stdout and stderr; `sandbox_program` runs `sandbox` (the static driver).
Evaluation evaluate_definition(const ProgramLaunch& launch, const std::array<int, 3>& stdio,
                               const std::filesystem::path& sandbox_program, const EvaluationLimits& limits);

}  // namespace bincastle::driver
