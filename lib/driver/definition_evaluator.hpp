#pragma once

// Evaluating a definition: its program runs with the verb `plan` and writes the plan to
// a file the driver gives it; its own output reaches the caller. The driver builds and
// runs what the plan says; the program does nothing else.

#include "driver/driver_command.hpp"

#include <bincastle/plan.hpp>

#include <array>
#include <functional>

namespace bincastle::driver {

// Throws bincastle::Error when the program fails (its status named) or writes no valid
// plan. `stdio` is what the program gets as its stdin, stdout and stderr.
Plan evaluate_definition(const ProgramLaunch& launch, const std::array<int, 3>& stdio);

}  // namespace bincastle::driver
