#pragma once

// The rootless container runner: one function, one spec.
//
// run() starts the spec's command in new user, mount, pid, uts, ipc and cgroup
// namespaces (and a network namespace unless the spec asks for the host's), over a
// root that is either a directory or an overlay of layer directories, after
// pivot_root. It works for an unprivileged caller with no setuid helper (the
// caller's ids map to one id inside) and for root.

#include <bincastle/export.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace bincastle::container {

// Exit statuses of run() besides the command's own (0-255, or 128+N for signal N).
inline constexpr int exit_setup_failed = 125;   // bincastle could not set the sandbox up
inline constexpr int exit_cannot_execute = 126; // the command exists but cannot run
inline constexpr int exit_not_found = 127;      // the command was not found

enum class Network {
    none,  // a new network namespace with only loopback, up
    host,  // the caller's network
    // A new network namespace with user-mode networking through slirp4netns (no root,
    // no setuid helper): tap0 10.0.2.100/24, the gateway 10.0.2.2 and DNS 10.0.2.3.
    user,
    // For root: a veth pair into the host's bridge bincastle0 (10.89.0.1/24), eth0 with
    // an address of its own and a default route through the bridge.
    bridge,
};

// With Network::user: connections to `host_address`:`host_port` on the host reach
// `container_port` inside (TCP).
struct PortForward {
    std::string host_address = "127.0.0.1";
    std::uint16_t host_port = 0;
    std::uint16_t container_port = 0;
};

// A seccomp filter that the command and all it starts run under.
enum class Seccomp {
    // EPERM from calls that reach past the user namespace or that exploits lean on
    // (the kernel keyrings, bpf, perf_event_open, userfaultfd, kernel modules, kexec,
    // open_by_handle_at, swap, the clock, ...) and from every call made through
    // another architecture's ABI. A container nested inside still works.
    default_filter,
    off,  // none of its own (one the caller runs under stays: filters only add up)
};

struct Mount {
    enum class Kind { bind, ro_bind, tmpfs };
    Kind kind = Kind::bind;
    std::string source;  // host path; empty for tmpfs
    std::string target;  // absolute path inside the container
};

struct Limits {
    std::optional<std::uint64_t> pids_max;
    std::optional<std::uint64_t> memory_max;  // bytes
    std::optional<double> cpus;               // may be fractional with cgroups
};

struct Spec {
    // The root: either a directory used as / ...
    std::string rootfs;
    // ... or an overlay of these directories, lowest first.
    std::vector<std::string> layers;
    // With layers: writes land here (created if missing; its work dir is a hidden
    // sibling). Empty: writes go to a tmpfs and are discarded.
    std::string upper;

    // Applied in order, after /proc, /sys, /dev and /tmp, so they may cover those.
    std::vector<Mount> mounts;

    std::vector<std::string> args;  // args[0] is looked up in PATH inside
    std::vector<std::string> env;   // KEY=VALUE; nothing is inherited
    std::string cwd = "/";
    std::string hostname = "bincastle";
    std::uint32_t uid = 0;  // inside
    std::uint32_t gid = 0;
    // Map a full range of ids through newuidmap/newgidmap and /etc/sub[ug]id
    // (non-root callers); otherwise the caller's id maps to `uid` only.
    bool subids = false;

    Network network = Network::none;
    std::vector<PortForward> ports;  // Network::user only
    // Network::user only: 10.0.2.2 reaches the host's loopback (127.0.0.1) too.
    bool host_loopback = false;
    Limits limits;
    Seccomp seccomp = Seccomp::default_filter;

    // Allocate a pty inside and relay it to the caller's terminal (stdin must be one).
    bool tty = false;
    // A minimal init as pid 1 that reaps orphans and forwards signals to the command;
    // otherwise the command itself is pid 1.
    bool init = false;
    // With init: a command that exits with status 0 while processes it started still
    // run (a daemon) fails, 125 and one line, and they are killed with the container.
    // For a command that must leave nothing behind: a definition being evaluated.
    bool no_leftovers = false;
    // Merge --layer directories with fuse-overlayfs even where the kernel's overlay
    // works (without it, fuse-overlayfs is only the fallback where the kernel refuses).
    bool fuse_overlay = false;
    // The command is the system's own init (its /sbin/init, say), which ends the
    // system by reboot(2): the status is then 129 for a reboot and 130 for a power-off
    // or halt, as the kernel reports them. As root, where the mounts are locked by one
    // more user namespace, the init gets a pid namespace of that one, so that its
    // reboot() is allowed.
    bool boot = false;
    // Forward SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 that the calling
    // process receives to the container; a second SIGINT or SIGTERM kills it.
    // Only for a single-threaded caller that owns its signals (a CLI).
    bool forward_signals = false;

    // The command's stdio when not a tty.
    int stdin_fd = 0;
    int stdout_fd = 1;
    int stderr_fd = 2;

    // One-line notices (which limit mechanism was used, ...). Default: stderr.
    std::function<void(const std::string&)> notice;
};

// Runs the command and returns its exit status: its own code, 128+N when killed by
// signal N, 126 when it cannot be executed and 127 when it is not found (the reason
// is written to the command's stderr). Throws bincastle::Error, with a hint where
// one helps, when the sandbox cannot be set up.
//
// The container is killed if the calling thread dies. The caller must not have
// other threads that could hold locks (the child is a copy of the caller).
BINCASTLE_API int run(const Spec& spec);

}  // namespace bincastle::container
