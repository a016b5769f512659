#pragma once

// `bincastle systems`, `rm`, `fork`, `ps` and `stop`: the systems the store keeps.

#include "driver/host_verbs.hpp"

#include <string>
#include <vector>

namespace bincastle::driver {

bool is_system_verb(const std::string& verb);

// Runs one of them; returns the exit status, throws Error for a refusal.
int run_system_verb(const std::string& verb, const std::vector<std::string>& args, const Caller& caller);

}  // namespace bincastle::driver
