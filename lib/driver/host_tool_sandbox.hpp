#pragma once

// Host programs that handle a definition's code, the compiler and the definition's own
// program, run in a sandbox (the static driver's sandbox verb): new user, mount, pid,
// net (loopback only), ipc and uts namespaces over an empty root that holds the host's
// system directories (/usr, the /lib*, /bin and /sbin beside it, /etc/alternatives)
// read-only, the paths asked for read-only or writable at their own places, and a
// private /tmp; nothing else of the host (no home, no rest of /etc). The tool ends
// with the driver.

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bincastle::driver {

struct HostToolRun {
    std::vector<std::string> argv;  // argv[0]: an absolute path, or found in the sandbox's PATH
    std::vector<std::string> env;   // KEY=VALUE; TMPDIR is made /tmp
    std::filesystem::path cwd;
    std::vector<std::filesystem::path> read_only;  // besides the system directories
    std::vector<std::filesystem::path> writable;
    std::array<int, 3> stdio = {0, 1, 2};
    std::optional<std::uint64_t> memory;         // bytes
    std::optional<std::chrono::seconds> timeout;  // then it is killed
    bool no_leftovers = false;                    // a daemon it leaves fails it (125, one line)
};

struct HostToolResult {
    int status;  // the tool's, as a shell reports it; 125 when the sandbox failed (and said why)
    bool timed_out = false;
};

// `sandbox_program` has the sandbox verb (the static driver).
HostToolResult run_host_tool(const HostToolRun& run, const std::filesystem::path& sandbox_program);

}  // namespace bincastle::driver
