#pragma once

// Resource limits: a cgroup v2 subtree when the host delegates one to the caller,
// rlimits and CPU affinity otherwise (with a notice saying so).

#include <bincastle/container.hpp>

#include "util/unique_fd.hpp"

#include <optional>
#include <string>

namespace bincastle::container {

bool has_limits(const Limits& limits);

// The caller's own cgroup v2 directory, from /proc/self/mountinfo and /proc/self/cgroup.
std::optional<std::string> cgroup2_dir(const std::string& mountinfo, const std::string& proc_cgroup);
// The cpu.max value for `cpus` CPUs: "<quota> <period>".
std::string cpu_max(double cpus);
// The controllers `limits` needs, as cgroup.subtree_control words.
std::vector<std::string> needed_controllers(const Limits& limits);

// A child cgroup with the limits written, removed when dropped.
class LimitCgroup {
public:
    // Nullopt, with the reason in `why_not`, when no delegated subtree can take them.
    static std::optional<LimitCgroup> create(const Limits& limits, std::string& why_not);
    LimitCgroup(LimitCgroup&&) = default;
    LimitCgroup& operator=(LimitCgroup&&) = default;
    ~LimitCgroup();

    int fd() const { return dir_.get(); }  // for clone3's CLONE_INTO_CGROUP
    const std::string& path() const { return path_; }

private:
    LimitCgroup(std::string path, UniqueFd dir) : path_(std::move(path)), dir_(std::move(dir)) {}
    std::string path_;
    UniqueFd dir_;
};

// In the container's first process: RLIMIT_NPROC (counted per user namespace, so it
// bounds the container alone), RLIMIT_AS, and CPU affinity for `cpus`.
void apply_rlimits(const Limits& limits);

std::string rlimit_notice(const Limits& limits, const std::string& why_no_cgroup);

}  // namespace bincastle::container
