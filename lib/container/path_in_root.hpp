#pragma once

// Paths inside the new root, resolved by the kernel as if it were already `/`
// (RESOLVE_IN_ROOT): a symlink in a rootfs or layer cannot send a mount to the host.

#include "util/unique_fd.hpp"

#include <string>

namespace bincastle::container {

// Opens `path` (absolute inside the root). Returns an invalid fd with errno set
// when it fails.
UniqueFd open_in_root(int root_fd, const std::string& path, int flags);

enum class NodeType { directory, file };

// Creates `path` and its missing parents inside the root, and returns an O_PATH fd
// of it, to mount on. An existing node of either type is reused.
UniqueFd make_mount_point(int root_fd, const std::string& path, NodeType type);

// Creates the symlink `path` -> `target` inside the root, unless `path` exists.
void make_symlink(int root_fd, const std::string& path, const std::string& target);

}  // namespace bincastle::container
