#pragma once

// The systems a store keeps: each one's own files (its upper directory and its copies
// of wrapped layers, under systems/<name>/), where its definition came from, and
// whether it runs. `bincastle systems`, `rm` and `fork` are these calls.

#include <bincastle/export.hpp>

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bincastle {

struct SystemInfo {
    std::string name;
    std::string origin;           // where its definition came from; empty if never entered
    std::uint64_t bytes = 0;      // its own files, as allocated on disk
    bool bytes_partial = false;   // some of them could not be read (counted as 0)
    std::optional<std::time_t> last_used;  // last entered
    bool running = false;
};

// Every system in the store at `store_root`, by name.
BINCASTLE_API std::vector<SystemInfo> list_systems(const std::filesystem::path& store_root);

// Removes the system `name`: its own files and its record, so that gc may remove the
// layers only it needed. Throws Error if it does not exist or while it runs.
BINCASTLE_API void remove_system(const std::filesystem::path& store_root, const std::string& name);

// Copies the system `from`'s own files to a new system `to` (whiteouts, xattrs, modes
// and links as they are), which `bincastle run --system TO` then enters with the same
// definition. Throws Error if `from` does not exist or runs, or `to` exists.
BINCASTLE_API void fork_system(const std::filesystem::path& store_root, const std::string& from,
                               const std::string& to);

}  // namespace bincastle
