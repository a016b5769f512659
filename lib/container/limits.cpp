#include "container/limits.hpp"

#include "util/file_io.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fcntl.h>
#include <sched.h>
#include <sstream>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bincastle::container {

namespace {

std::vector<std::string> words(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> result;
    for (std::string word; in >> word;) result.push_back(word);
    return result;
}

bool contains(const std::vector<std::string>& list, const std::string& word) {
    return std::find(list.begin(), list.end(), word) != list.end();
}

}  // namespace

bool has_limits(const Limits& limits) {
    return limits.pids_max || limits.memory_max || limits.cpus;
}

namespace {

// The directory of the cgroup `own` under the first mount whose filesystem fields
// (after " - ": type, source, super options) `accepts`. A cgroup namespace or a bind
// may mount a subtree: its root is stripped from `own`.
template <typename Accepts>
std::optional<std::string> cgroup_dir_in(const std::string& mountinfo, const std::string& own, Accepts accepts) {
    std::istringstream mounts(mountinfo);
    for (std::string line; std::getline(mounts, line);) {
        size_t separator = line.find(" - ");
        if (separator == std::string::npos) continue;
        if (!accepts(words(line.substr(separator + 3)))) continue;
        auto before = words(line.substr(0, separator));
        if (before.size() < 5) continue;
        const std::string& root = before[3];
        std::string relative = own;
        if (root != "/") {
            if (relative.rfind(root, 0) != 0) continue;
            relative = relative.substr(root.size());
        }
        if (relative == "/") relative.clear();
        return before[4] + relative;
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> cgroup2_dir(const std::string& mountinfo, const std::string& proc_cgroup) {
    std::string own;
    std::istringstream cgroups(proc_cgroup);
    for (std::string line; std::getline(cgroups, line);) {
        if (line.rfind("0::", 0) == 0) own = line.substr(3);
    }
    if (own.empty()) return std::nullopt;
    return cgroup_dir_in(mountinfo, own, [](const std::vector<std::string>& fs) {
        return !fs.empty() && fs[0] == "cgroup2";
    });
}

std::string cpu_max(double cpus) {
    constexpr long period = 100000;
    long quota = std::max(1000L, std::lround(cpus * period));
    return std::to_string(quota) + " " + std::to_string(period);
}

std::vector<std::string> needed_controllers(const Limits& limits) {
    std::vector<std::string> controllers;
    if (limits.pids_max) controllers.push_back("pids");
    if (limits.memory_max) controllers.push_back("memory");
    if (limits.cpus) controllers.push_back("cpu");
    return controllers;
}

namespace {

std::string unique_name() { return "bincastle-" + std::to_string(::getpid()); }

// Creates `dir`/bincastle-PID and writes `files`; returns its path.
std::string make_limited_cgroup(const std::string& dir,
                                const std::vector<std::pair<std::string, std::string>>& files) {
    std::string path = dir + "/" + unique_name();
    if (::mkdir(path.c_str(), 0755) != 0) throw SysError("mkdir", path);
    try {
        for (const auto& [name, value] : files) write_file(path + "/" + name, value);
    } catch (...) {
        ::rmdir(path.c_str());
        throw;
    }
    return path;
}

std::vector<std::pair<std::string, std::string>> v2_files(const Limits& limits) {
    std::vector<std::pair<std::string, std::string>> files;
    if (limits.pids_max) files.emplace_back("pids.max", std::to_string(*limits.pids_max));
    if (limits.memory_max) files.emplace_back("memory.max", std::to_string(*limits.memory_max));
    if (limits.cpus) files.emplace_back("cpu.max", cpu_max(*limits.cpus));
    return files;
}

std::vector<std::pair<std::string, std::string>> v1_files(const std::string& controller,
                                                         const Limits& limits) {
    if (controller == "pids") return {{"pids.max", std::to_string(*limits.pids_max)}};
    if (controller == "memory") return {{"memory.limit_in_bytes", std::to_string(*limits.memory_max)}};
    auto quota = words(cpu_max(*limits.cpus));
    return {{"cpu.cfs_period_us", quota[1]}, {"cpu.cfs_quota_us", quota[0]}};
}

}  // namespace

std::optional<std::string> cgroup1_dir(const std::string& mountinfo, const std::string& proc_cgroup,
                                       const std::string& controller) {
    auto has_controller = [&](const std::string& list) {
        std::istringstream items(list);
        for (std::string item; std::getline(items, item, ',');)
            if (item == controller) return true;
        return false;
    };
    std::string own;
    std::istringstream cgroups(proc_cgroup);
    for (std::string line; std::getline(cgroups, line);) {
        size_t first = line.find(':'), second = line.find(':', first + 1);
        if (first == std::string::npos || second == std::string::npos) continue;
        if (has_controller(line.substr(first + 1, second - first - 1))) own = line.substr(second + 1);
    }
    if (own.empty()) return std::nullopt;
    return cgroup_dir_in(mountinfo, own, [&](const std::vector<std::string>& fs) {
        return fs.size() >= 3 && fs[0] == "cgroup" && has_controller(fs[2]);
    });
}

std::optional<LimitCgroup> LimitCgroup::create(const Limits& limits, std::string& why_not) {
    const std::string mountinfo = read_file("/proc/self/mountinfo");
    const std::string proc_cgroup = read_file("/proc/self/cgroup");
    const auto controllers = needed_controllers(limits);

    std::string why_not_v2;
    if (auto dir = cgroup2_dir(mountinfo, proc_cgroup)) {
        auto enabled = read_file_if_exists(*dir + "/cgroup.subtree_control");
        if (!enabled || ::access(dir->c_str(), W_OK) != 0) {
            why_not_v2 = "cgroup " + *dir + " is not delegated to you";
        } else {
            for (const auto& controller : controllers) {
                if (why_not_v2.empty() && !contains(words(*enabled), controller))
                    why_not_v2 = "controller '" + controller + "' is not enabled in " + *dir +
                                 "/cgroup.subtree_control";
            }
        }
        if (why_not_v2.empty()) {
            try {
                LimitCgroup cgroup;
                cgroup.v2_ = true;
                cgroup.paths_.push_back(make_limited_cgroup(*dir, v2_files(limits)));
                cgroup.v2_dir_.reset(::open(cgroup.paths_[0].c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
                if (!cgroup.v2_dir_) throw SysError("open", cgroup.paths_[0]);
                return cgroup;
            } catch (const Error& error) {
                why_not_v2 = error.what();
            }
        }
    } else {
        why_not_v2 = "no cgroup v2 hierarchy";
    }

    // Root on a v1 or hybrid host owns the v1 controllers. (Root also escapes
    // RLIMIT_NPROC, which the kernel never applies to uid 0.)
    LimitCgroup cgroup;
    std::string why_not_v1;
    for (const auto& controller : controllers) {
        auto dir = cgroup1_dir(mountinfo, proc_cgroup, controller);
        if (!dir || ::access(dir->c_str(), W_OK) != 0) {
            why_not_v1 = "no writable cgroup v1 '" + controller + "' controller";
            break;
        }
        try {
            cgroup.paths_.push_back(make_limited_cgroup(*dir, v1_files(controller, limits)));
        } catch (const Error& error) {
            why_not_v1 = error.what();
            break;
        }
    }
    if (why_not_v1.empty()) return cgroup;
    why_not = why_not_v2 + ", " + why_not_v1;
    return std::nullopt;
}

void LimitCgroup::add(pid_t pid) const {
    if (v2_) return;
    for (const auto& path : paths_) write_file(path + "/cgroup.procs", std::to_string(pid));
}

std::string LimitCgroup::description() const {
    std::string text = v2_ ? "cgroup v2" : "cgroup v1";
    for (const auto& path : paths_) text += " " + path;
    return text;
}

LimitCgroup::~LimitCgroup() {
    v2_dir_.reset();
    for (const auto& path : paths_) {
        // The container's last processes may still be on their way out.
        for (int attempt = 0; attempt < 100 && ::rmdir(path.c_str()) != 0 && errno == EBUSY; ++attempt)
            ::usleep(10000);
    }
}

void apply_rlimits(const Limits& limits) {
    auto set = [](int resource, const char* name, std::uint64_t value) {
        rlimit limit{value, value};
        if (::setrlimit(resource, &limit) != 0) throw SysError("setrlimit", name);
    };
    if (limits.pids_max) set(RLIMIT_NPROC, "RLIMIT_NPROC", *limits.pids_max);
    if (limits.memory_max) set(RLIMIT_AS, "RLIMIT_AS", *limits.memory_max);
    if (limits.cpus) {
        cpu_set_t allowed;
        CPU_ZERO(&allowed);
        if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) throw SysError("sched_getaffinity", "");
        long keep = std::max(1L, static_cast<long>(std::ceil(*limits.cpus)));
        cpu_set_t chosen;
        CPU_ZERO(&chosen);
        for (int cpu = 0; cpu < CPU_SETSIZE && keep > 0; ++cpu) {
            if (CPU_ISSET(cpu, &allowed)) {
                CPU_SET(cpu, &chosen);
                --keep;
            }
        }
        if (::sched_setaffinity(0, sizeof chosen, &chosen) != 0) throw SysError("sched_setaffinity", "");
    }
}

std::string rlimit_notice(const Limits& limits, const std::string& why_no_cgroup) {
    std::string used;
    auto add = [&](const char* what) { used += used.empty() ? what : std::string(", ") + what; };
    if (limits.pids_max) add("RLIMIT_NPROC");
    if (limits.memory_max) add("RLIMIT_AS (per process)");
    if (limits.cpus) add("CPU affinity (whole CPUs)");
    // RLIMIT_NPROC binds the container alone only on Linux >= 5.14 (per user
    // namespace); before, it counts the caller's every process. Affinity can be
    // widened from inside. Say so rather than promise a limit.
    return "limits: " + why_no_cgroup + "; using " + used + " instead (weaker than a cgroup)";
}

}  // namespace bincastle::container
