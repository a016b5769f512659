#pragma once

// Telling the kernel which ids of the caller appear in the container.

#include "container/id_map.hpp"

#include <sys/types.h>

#include <optional>

namespace bincastle::container {

Caller current_caller();

// The caller's subordinate ids from /etc/subuid and /etc/subgid; throws with a hint
// when there are none or newuidmap is missing.
SubIds find_sub_ids(const Caller& caller);

// Writes the maps of the process `pid`, which has just entered its new user
// namespace, from outside it: directly, or through newuidmap/newgidmap.
void write_id_maps(pid_t pid, const IdMapPlan& plan);

}  // namespace bincastle::container
