#pragma once

// Carries out a mount plan inside the container's mount namespace.

#include "container/mount_plan.hpp"
#include "util/unique_fd.hpp"

#include <vector>

namespace bincastle::container {

struct PreparedMounts {
    std::vector<MountOp> ops;
    // For bind ops, a detached copy of the host tree (read-only when asked), taken
    // before the staging mount can hide host paths; invalid for the other ops.
    std::vector<UniqueFd> sources;
};

PreparedMounts prepare_mounts(std::vector<MountOp> ops);

// Applies every op under the new root `root_fd`, in order.
void apply_mounts(int root_fd, PreparedMounts& mounts);

}  // namespace bincastle::container
