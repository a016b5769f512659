#pragma once

// What overlayfs writes into an upper directory besides files: a deleted entry is a
// whiteout (a 0/0 character device, or from kernel 6.7 an empty file marked with the
// overlay.whiteout xattr), a directory that hides the one below is opaque (the
// overlay.opaque xattr "y"). The xattrs are in the user. namespace where the overlay
// was mounted in a user namespace (userxattr), else in trusted.

#include <string>
#include <sys/stat.h>

namespace bincastle::container {

// Of the entry `name` in the directory `dirfd`, whose fstatat is `st` (an empty file
// is opened for its xattr; `shown` is its path in errors), and of the open directory
// `dir`: by directory fd, for walks that no path length stops.
bool is_whiteout(int dirfd, const std::string& name, const struct stat& st, const std::string& shown);
bool is_opaque_dir(int dir);

}  // namespace bincastle::container
