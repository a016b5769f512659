#pragma once

// `bincastle build-layer`: the command a cluster job runs (see build/layer_job.hpp).

#include "driver/host_verbs.hpp"

#include <string>
#include <vector>

namespace bincastle::driver {

int build_layer_verb(const std::vector<std::string>& args, const Caller& caller);

}  // namespace bincastle::driver
