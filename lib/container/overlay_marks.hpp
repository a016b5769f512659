#pragma once

// What overlayfs writes into an upper directory besides files: a deleted entry is a
// whiteout (a 0/0 character device, or from kernel 6.7 an empty file marked with the
// overlay.whiteout xattr), a directory that hides the one below is opaque (the
// overlay.opaque xattr "y"). The xattrs are in the user. namespace where the overlay
// was mounted in a user namespace (userxattr), else in trusted.

#include <string>
#include <sys/stat.h>

namespace bincastle::container {

// `path` is not followed when it is a symlink; `st` is its lstat.
bool is_whiteout(const std::string& path, const struct stat& st);
bool is_opaque_dir(const std::string& path);

}  // namespace bincastle::container
