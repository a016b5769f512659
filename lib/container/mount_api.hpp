#pragma once

// The kernel's fd-based mount API (fsopen, fsconfig, fsmount, open_tree, move_mount,
// mount_setattr), with errors that carry the kernel's own explanation.

#include "util/unique_fd.hpp"

#include <string>
#include <utility>
#include <vector>

namespace bincastle::container {

// An fsopen() context; configure it, then mount() it.
class FsContext {
public:
    explicit FsContext(const std::string& type);

    void set_flag(const std::string& key);
    void set_string(const std::string& key, const std::string& value);
    // Returns false, without throwing, when the kernel rejects the key with EINVAL
    // (an option this kernel does not know); other errors throw.
    bool try_set_fd(const std::string& key, int fd);
    bool try_set_string(const std::string& key, const std::string& value);
    // Creates the superblock and returns a detached mount with `attributes` (MOUNT_ATTR_*).
    UniqueFd mount(unsigned attributes);


private:
    [[noreturn]] void fail(const std::string& operation, const std::string& detail) const;
    std::string kernel_messages() const;

    std::string type_;
    UniqueFd fd_;
};

// A detached recursive copy of the mount tree at `path` (relative to `dirfd`).
UniqueFd clone_tree(int dirfd, const std::string& path);
// Sets MOUNT_ATTR_RDONLY on a detached or attached tree, recursively.
void make_read_only(int mount_fd, const std::string& what);
// Attaches the detached mount `mount_fd` on the directory or file `target_fd`.
void attach(int mount_fd, int target_fd, const std::string& target);

}  // namespace bincastle::container
