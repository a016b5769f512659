#include "driver/host_tool_sandbox.hpp"

#include "util/file_tree.hpp"
#include "util/spawn.hpp"

#include <bincastle/error.hpp>
#include <bincastle/sandbox_command.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <poll.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle::driver {

namespace {

// Where a dynamically linked program finds its loader and libraries: under /usr, or
// under /lib* on hosts without merged /usr; the tools a compiler runs; and where
// Debian's alternatives point (/usr/bin/c++ -> /etc/alternatives/c++ -> g++).
constexpr const char* system_dirs[] = {"/usr",  "/lib", "/lib64", "/lib32",
                                       "/libx32", "/bin", "/sbin",  "/etc/alternatives"};

bool under_system_dir(const fs::path& path) {
    for (const char* name : system_dirs) {
        const fs::path dir(name);
        if (std::mismatch(dir.begin(), dir.end(), path.begin(), path.end()).first == dir.end()) return true;
    }
    return false;
}

// Waits until `timeout`, then kills the sandbox (and so the tool).
int wait_until(ChildProcess& child, std::chrono::seconds timeout, bool& timed_out) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd fd{child.pidfd(), POLLIN, 0};
        int ready = ::poll(&fd, 1, static_cast<int>(std::max<long>(0, left.count())));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) throw SysError("poll", "a sandboxed tool");
        if (ready == 0) {
            timed_out = true;
            child.signal(SIGKILL);
        }
        return child.wait();
    }
}

}  // namespace

HostToolResult run_host_tool(const HostToolRun& run, const fs::path& sandbox_program) {
    TempDir root("bincastle-tool");
    cli::SandboxCommand command;
    command.die_with_parent = true;
    command.expected_parent = static_cast<int>(::getpid());
    // Which limit mechanism holds the tool is not news at every run.
    command.quiet = true;
    container::Spec& spec = command.spec;
    spec.rootfs = root.path().string();
    for (const char* dir : system_dirs)
        if (fs::is_directory(dir)) spec.mounts.push_back({container::Mount::Kind::ro_bind, dir, dir});
    for (const auto& path : run.read_only)
        if (!under_system_dir(path)) spec.mounts.push_back({container::Mount::Kind::ro_bind, path.string(), path.string()});
    for (const auto& path : run.writable) spec.mounts.push_back({container::Mount::Kind::bind, path.string(), path.string()});
    spec.args = run.argv;
    for (const auto& variable : run.env)
        if (!variable.starts_with("TMPDIR=")) spec.env.push_back(variable);
    spec.env.push_back("TMPDIR=/tmp");
    spec.cwd = run.cwd.string();
    spec.network = container::Network::none;
    spec.limits.memory_max = run.memory;
    spec.limits.pids_max = 1024;
    spec.tty = false;
    // Not pid 1: a tool's own signals (abort) then act as they do anywhere.
    spec.init = true;
    spec.no_leftovers = run.no_leftovers;

    std::vector<std::string> argv = {sandbox_program.string(), "sandbox"};
    for (auto& arg : cli::sandbox_args(command)) argv.push_back(std::move(arg));
    auto child = spawn({argv, std::vector<std::string>{}, {}, run.stdio[0], run.stdio[1], run.stdio[2]});
    HostToolResult result{0, false};
    result.status = run.timeout ? wait_until(child, *run.timeout, result.timed_out) : child.wait();
    return result;
}

}  // namespace bincastle::driver
