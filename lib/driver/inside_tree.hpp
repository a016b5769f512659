#pragma once

// The files of a client's system, seen from the host safely. A process inside a
// system names paths as it sees them; the supervisor opens them under that process's
// root with openat2(RESOLVE_IN_ROOT), so that no symlink or `..` inside reaches a host
// file, and mirrors the tree into the store (<store>/inside/<hash>), where the
// compiler, the definition program and git read it. The mirror is kept in step
// incrementally: unchanged files keep their inodes, so the stat caches stay warm.

#include "util/unique_fd.hpp"

#include <filesystem>
#include <string>
#include <sys/types.h>

namespace bincastle::driver {

class ClientRoot {
public:
    // Pins the peer of a connected unix socket (its pidfd) and opens its root.
    explicit ClientRoot(int connection);

    // The host copy of the directory `inside_path` (absolute inside the client's
    // system), brought up to date; `scope` (the client's system) keeps the mirrors
    // of different systems apart. An Error names the inside path when it cannot be
    // opened as a directory.
    std::filesystem::path mirror(const std::string& inside_path, const std::string& scope,
                                 const std::filesystem::path& store_root) const;

    // Copies `host` (a file or a tree) to `inside_path`, which must not exist, in the
    // client's system; its parent is resolved there as in mirror().
    void write_back(const std::filesystem::path& host, const std::string& inside_path) const;

private:
    UniqueFd pidfd_;
    UniqueFd root_;
};

// Copies the tree under `source` (a directory fd, read with O_NOFOLLOW throughout) to
// the directory `destination`, making it equal: modes, symlinks as symlinks, file
// contents and mtimes; files whose size and mtime match are left alone; what the
// source lacks is removed. Devices, fifos and sockets are skipped.
void sync_tree(int source, const std::filesystem::path& destination);

}  // namespace bincastle::driver
