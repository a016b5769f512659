#pragma once

// The content key of a local directory source.

#include <bincastle/key.hpp>

#include "source/stat_cache.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace bincastle {

// What one hash_tree call did, for tests and benchmarks.
struct TreeHashStats {
    std::size_t files = 0;       // regular files in the tree
    std::size_t files_read = 0;  // of them, the ones whose content was read (cache misses)
    std::uint64_t bytes_read = 0;
    std::size_t links_checked = 0;  // symlinks stat'ed (not known from an unchanged directory)
    std::size_t links_read = 0;     // of them, the ones whose target was read (cache misses)
};

// The key of everything under `root` (not of `root` itself): per entry, in byte order
// of the relative path, the path, the type (file, directory or symlink), the permission
// bits, and a file's xxh3-128 or a symlink's target (not followed). Owners, timestamps
// and inode numbers are left out, so a copy of the tree has the same key. Anything
// else in the tree (a fifo, a socket, a device) is an Error naming it.
//
// File contents are read on `threads` threads (0: one per CPU). With a `cache`, files
// whose stat it knows are not read, and afterwards it holds exactly this tree's files
// (so use one cache per root). `stats`, when given, is filled in. Entries whose
// relative path is in `exclude` are left out with everything under them, as if absent.
Key hash_tree(const std::filesystem::path& root, StatCache* cache, unsigned threads,
              TreeHashStats* stats = nullptr, const std::vector<std::string>& exclude = {});

}  // namespace bincastle
