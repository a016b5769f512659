#pragma once

// Resource limits: a cgroup v2 subtree when the host delegates one to the caller,
// else cgroup v1 controllers the caller may write (root on a v1 or hybrid host),
// else rlimits and CPU affinity. A notice says which.

#include <bincastle/container.hpp>

#include "util/unique_fd.hpp"

#include <optional>
#include <string>

namespace bincastle::container {

bool has_limits(const Limits& limits);

// The caller's own cgroup v2 directory, from /proc/self/mountinfo and /proc/self/cgroup.
std::optional<std::string> cgroup2_dir(const std::string& mountinfo, const std::string& proc_cgroup);
// The caller's own cgroup v1 directory for `controller`, likewise.
std::optional<std::string> cgroup1_dir(const std::string& mountinfo, const std::string& proc_cgroup,
                                       const std::string& controller);
// The cpu.max value for `cpus` CPUs: "<quota> <period>".
std::string cpu_max(double cpus);
// The controllers `limits` needs, as cgroup.subtree_control words.
std::vector<std::string> needed_controllers(const Limits& limits);

// Child cgroups with the limits written, removed when dropped.
class LimitCgroup {
public:
    // Nullopt, with the reasons in `why_not`, when no cgroup the caller may write
    // has the controllers.
    static std::optional<LimitCgroup> create(const Limits& limits, std::string& why_not);
    LimitCgroup(LimitCgroup&&) = default;
    LimitCgroup& operator=(LimitCgroup&&) = default;
    ~LimitCgroup();

    // A cgroup v2 directory for clone3's CLONE_INTO_CGROUP, or -1 with v1.
    int fd() const { return v2_dir_.get(); }
    // Moves `pid` into the v1 cgroups (v2 places it at clone time).
    void add(pid_t pid) const;
    // For the notice: "cgroup v2 /sys/fs/cgroup/...".
    std::string description() const;

private:
    LimitCgroup() = default;
    bool v2_ = false;
    std::vector<std::string> paths_;
    UniqueFd v2_dir_;
};

// In the container's first process: RLIMIT_NPROC (counted per user namespace, so it
// bounds the container alone), RLIMIT_AS, and CPU affinity for `cpus`.
void apply_rlimits(const Limits& limits);

std::string rlimit_notice(const Limits& limits, const std::string& why_no_cgroup);

}  // namespace bincastle::container
