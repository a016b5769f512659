#pragma once

#include <filesystem>

namespace bincastle {

// Extracts the tar archive (ustar, pax or GNU; plain or compressed with gzip, bzip2, xz,
// lzma or zstd) at `archive` into `destination`, an existing directory, keeping modes and
// times but not owners. The first `strip_components` components of every path (and of
// every hard link's target) are dropped, and entries left with none are skipped.
//
// An entry with an absolute path, a `..` component, or a path that would be written
// through a symlink is refused with an Error naming it; nothing is then written outside
// `destination`, though what was extracted before it stays.
void extract_archive(const std::filesystem::path& archive, const std::filesystem::path& destination,
                     int strip_components);

}  // namespace bincastle
