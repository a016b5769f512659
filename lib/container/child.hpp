#pragma once

// The container's first process: sets up the namespaces it was cloned into, then
// becomes the command (or its init). Everything it needs is prepared by the parent
// before the clone.

#include "util/channel.hpp"
#include "container/mount_plan.hpp"

#include <bincastle/container.hpp>

#include <string>
#include <vector>

namespace bincastle::container {

struct ChildPlan {
    const Spec* spec;
    std::vector<MountOp> mounts;
    std::vector<std::string> env;
    bool switch_ids;     // setresuid/setresgid to the spec's ids (identity or subordinate maps)
    bool apply_rlimits;  // no cgroup took the limits
    bool lock_mounts;    // the container's root is the host's root: see lock_mounts()
};

// Protocol on `channel`: waits for "go" (the id maps are written); sends "pty" with
// the pty master when the spec asks for a tty and waits for "go" (its window size is
// set); sends "fuse" with /dev/fuse when it needs fuse-overlayfs and waits for "go"
// (the daemon is up); then "ready" before the exec, or "error\n<message>\n<hint>"
// and exits 125.
[[noreturn]] void container_main(const ChildPlan& plan, Channel& channel) noexcept;

}  // namespace bincastle::container
