#pragma once

// The driver's command line, shared by the host's `bincastle` and the static one that
// every system has at /bincastle. Inside a system (BINCASTLE_SOCK set) the verbs that
// take a definition or the store go to the supervisor; `sandbox` runs here.

#include <string>
#include <vector>

namespace bincastle::driver {

// The verbs that run on the host; null in the static driver, which has only the
// client and the sandbox.
using HostMain = int (*)(const std::string& verb, const std::vector<std::string>& args);

int driver_main(int argc, char** argv, HostMain host);

}  // namespace bincastle::driver
