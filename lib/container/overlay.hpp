#pragma once

// The container's root as an overlay of layer directories: the kernel's overlayfs
// inside the user namespace, or fuse-overlayfs where the kernel cannot.

#include "util/unique_fd.hpp"

#include <string>
#include <vector>

namespace bincastle::container {

struct OverlayDirs {
    std::vector<UniqueFd> lowers;  // lowest first, opened O_PATH
    UniqueFd upper;
    UniqueFd work;
    // The directory holding both upper and work, and their names in it: what the
    // fuse backend binds, since its upper and work must share one mount.
    UniqueFd upper_parent;
    std::string upper_name;
    std::string work_name;
    std::string description;  // for messages: the upper dir, or "discarded writes"
};

enum class OverlayBackend { kernel, fuse };

// Which backend to use: the kernel's, unless BINCASTLE_OVERLAY=fuse asks otherwise.
OverlayBackend overlay_backend_from_environment();

// Mounts the overlay on the directory `target` (a path in the caller's current
// view; `target_fd` refers to it). Falls back to fuse-overlayfs when the kernel
// refuses an unprivileged overlay; that one takes paths, so the layers are bound
// under the empty directory `scratch` first (their host paths may be hidden).
void mount_overlay(OverlayDirs& dirs, int target_fd, const std::string& target,
                   const std::string& scratch, OverlayBackend backend);

// The "lowerdir=" list of a classic overlay mount, top layer first, with the
// separators in each path escaped.
std::string lowerdir_option(const std::vector<std::string>& lowest_first);

}  // namespace bincastle::container
