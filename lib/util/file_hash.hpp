#pragma once

// A file's content hashed with xxh3-128 (AVX2 where the CPU has it): the tree hash of
// a source, the recorded contents of a layer.

#include <bincastle/key.hpp>

#include <cstdint>
#include <string>
#include <sys/stat.h>

namespace bincastle {

struct FileHash {
    Key content;
    struct stat opened {};  // of the file that was read
    std::uint64_t bytes = 0;
};

// Opens `name` in the directory `dirfd` (AT_FDCWD for a path) without following a
// symlink or blocking on a fifo: what is not a regular file by the time it is opened is
// an Error, never followed or waited on. `shown` is its path in errors.
FileHash hash_file(int dirfd, const std::string& name, const std::string& shown);
// hash_file of the file at the relative path `relative` under the directory `root`,
// reached a directory at a time, never through a symlink (one swapped in for a
// directory since the tree was walked does not lead out of it), also past PATH_MAX.
FileHash hash_file_under(int root, const std::string& relative, const std::string& shown);

}  // namespace bincastle
