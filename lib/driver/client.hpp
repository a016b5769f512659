#pragma once

// `bincastle` inside a system: hands its command line, working directory, overrides
// and terminal to the supervisor that started the system (see request.hpp), waits,
// and returns the exit status the supervisor reports.

#include <string>
#include <vector>

namespace bincastle::driver {

int forward_to_supervisor(const std::string& socket_path, const std::vector<std::string>& args);

}  // namespace bincastle::driver
