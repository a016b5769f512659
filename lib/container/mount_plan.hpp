#pragma once

// A container's mounts, compiled from its Spec into a flat list of operations that
// child.cpp applies inside the new mount namespace. Plain data, so that what gets
// mounted where can be tested without privileges.

#include <bincastle/container.hpp>

#include <string>
#include <vector>

namespace bincastle::container {

struct MountOp {
    enum class Kind {
        proc,        // a fresh procfs
        sysfs,       // a fresh, read-only sysfs (needs the container's own network namespace)
        bind,        // a recursive bind of the host path `source` (file or directory)
        tmpfs,       // a fresh tmpfs with `mode`
        devpts,      // a new devpts instance
        symlink,     // `target` becomes a symlink to `source`
        remount_ro,  // what is mounted at `target` becomes read-only (bound over itself)
    };
    Kind kind;
    std::string source;
    std::string target;  // absolute, inside the container
    bool read_only = false;
    bool optional = false;        // skip when the source or target does not exist
    unsigned mode = 0755;

    bool operator==(const MountOp&) const = default;
};

inline MountOp mount_op(MountOp::Kind kind, std::string source, std::string target,
                        bool read_only = false, unsigned mode = 0755, bool optional = false) {
    return MountOp{kind, std::move(source), std::move(target), read_only, optional, mode};
}

// Every mount except the root itself: /proc (with its kernel knobs read-only), /sys,
// a minimal /dev, /tmp, then the spec's own mounts in order.
std::vector<MountOp> plan_mounts(const Spec& spec);

// Procfs paths made read-only over a fresh /proc.
const std::vector<std::string>& read_only_proc_paths();

}  // namespace bincastle::container
