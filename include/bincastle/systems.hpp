#pragma once

// The systems a store keeps: each one's own files (its upper directory and its copies
// of wrapped layers, under systems/<name>/), where its definition came from, and
// whether it runs. `bincastle systems`, `rm`, `fork`, `ps` and `stop` are these calls.

#include <bincastle/export.hpp>

#include <chrono>
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
    // While it runs: the process that started it and waits for it (a `bincastle run`),
    // and the command the system runs.
    std::optional<int> pid;
    std::optional<int> system_pid;  // the process that runs its container, once started
    std::string command;
};

// Every system in the store at `store_root`, by name.
BINCASTLE_API std::vector<SystemInfo> list_systems(const std::filesystem::path& store_root);

// Removes the system `name`: its own files and its record, so that gc may remove the
// layers only it needed. Throws Error if it does not exist or while it runs.
BINCASTLE_API void remove_system(const std::filesystem::path& store_root, const std::string& name);

// Ends the running system `name`: SIGTERM to the process that started it, which passes
// it on to the system; SIGKILL to that process when the system has not ended after
// `grace` (everything it started dies with it). Returns false if it took the SIGKILL.
// Throws Error if there is no such system or it does not run.
BINCASTLE_API bool stop_system(const std::filesystem::path& store_root, const std::string& name,
                               std::chrono::milliseconds grace);

// Runs `command` in the running system `name` (its namespaces, root, working
// directory, environment and seccomp filter), with a pty from the system when `tty`;
// returns its exit status. Throws Error if there is no such system or it does not run.
// Call it from a process with no other thread.
BINCASTLE_API int exec_in_system(const std::filesystem::path& store_root, const std::string& name,
                                 const std::vector<std::string>& command, bool tty);

// Copies the system `from`'s own files to a new system `to` (whiteouts, xattrs, modes
// and links as they are), which `bincastle run --system TO` then enters with the same
// definition. Throws Error if `from` does not exist or runs, or `to` exists.
BINCASTLE_API void fork_system(const std::filesystem::path& store_root, const std::string& from,
                               const std::string& to);

}  // namespace bincastle
