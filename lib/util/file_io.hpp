#pragma once

#include "util/unique_fd.hpp"

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace bincastle {

// Whole-file helpers for small kernel files (/proc, /sys, cgroupfs) and configs.
// Writes are one write(2), as those files require.
std::string read_file(const std::string& path);
std::optional<std::string> read_file_if_exists(const std::string& path);
void write_file(const std::string& path, std::string_view content);
// Creates (or truncates) `path` and writes all of `content`.
void write_new_file(const std::string& path, std::string_view content);
// Replaces `path` by a file of `content` (mode 0644) with one rename: readers see the
// old file or the new one, never a part, and a failure (a full disk) leaves nothing.
// What a writer killed meanwhile left goes at the next write of `path`.
void replace_file(const std::string& path, std::string_view content);
// A pipe, close-on-exec: [0] its read end, [1] its write end; `what` names it in errors.
std::array<UniqueFd, 2> make_pipe(const std::string& what);
// Writes all of `content` to `fd`, retrying short writes; `what` names it in errors.
void write_all(int fd, std::string_view content, const std::string& what);

}  // namespace bincastle
