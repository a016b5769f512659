#pragma once

// The container's root as an overlay of layer directories: the kernel's overlayfs
// inside the user namespace, or fuse-overlayfs where the kernel cannot.

#include "container/id_map.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/container.hpp>

#include <functional>
#include <string>
#include <vector>

namespace bincastle::container {

// The kernel's limit on lower layers.
inline constexpr std::size_t max_overlay_layers = 500;

struct OverlayDirs {
    std::vector<UniqueFd> lowers;  // lowest first, opened O_PATH
    UniqueFd upper;
    UniqueFd work;
};

enum class OverlayBackend { kernel, fuse };

// With fuse, the container mounts /dev/fuse itself and this serves it from outside
// (the daemon must not live where the container can see or ptrace it); it returns
// once the daemon is up.
using FuseServer = std::function<void(int fuse_device)>;

// Mounts the overlay on the directory `target_fd` (`target` names it in messages).
// Falls back to fuse-overlayfs when the kernel has no overlayfs for user namespaces.
void mount_overlay(OverlayDirs& dirs, int target_fd, const std::string& target,
                   OverlayBackend backend, const FuseServer& serve_fuse);

// An upper dir's work dir: a hidden sibling, on the same filesystem and outside it.
std::string work_dir_for(const std::string& upper);

// The "lowerdir=" list of a classic overlay mount, top layer first, with the
// separators in each path escaped.
std::string lowerdir_option(const std::vector<std::string>& lowest_first);

// The fuse-overlayfs command that serves the /dev/fuse fd `fuse_device` for a
// container whose ids map as `ids`: host paths, and the container's id maps so that
// files show their owners inside.
std::vector<std::string> fuse_overlayfs_command(const std::vector<std::string>& lowers,
                                                const std::string& upper, const std::string& work,
                                                const IdMapPlan& ids, int fuse_device);

}  // namespace bincastle::container
