#pragma once

// The host's side of the driver's verbs: run (with its supervisor), build, graph, gc
// and clean, for driver_main.

#include <string>
#include <vector>

namespace bincastle::driver {

int host_main(const std::string& verb, const std::vector<std::string>& args);

}  // namespace bincastle::driver
