#pragma once

#include "util/unique_fd.hpp"

#include <filesystem>
#include <string>

namespace bincastle {

// Removes a tree that a rootless build wrote, where directories may lack write or
// search permission for their owner. Nothing to do when it does not exist. Symlinks
// are never followed: when `path` is one, the link itself is removed.
void remove_tree(const std::filesystem::path& path);

// Copies the directory tree `from` to `to` (which must not exist): files with their
// modes, symlinks as symlinks, directories with their own permission bits (not the
// umask's), so that the copy hashes like the original.
void copy_tree(const std::filesystem::path& from, const std::filesystem::path& to);

// $TMPDIR, or /tmp.
std::filesystem::path temp_base();

// A new private directory `prefix`.held-XXXXXX under `parent`, removed with its
// contents when dropped. It is flocked while it lives, so that a later TempDir of the
// same prefix and parent removes the ones whose process was killed before it could
// (and only those: never a directory another program, or an older bincastle, made).
class TempDir {
public:
    explicit TempDir(const std::string& prefix, const std::filesystem::path& parent = temp_base());
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir();

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    UniqueFd lock_;
};

}  // namespace bincastle
