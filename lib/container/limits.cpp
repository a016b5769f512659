#include "container/limits.hpp"

#include "util/file_io.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
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

std::optional<std::string> cgroup2_dir(const std::string& mountinfo, const std::string& proc_cgroup) {
    std::string own;
    std::istringstream cgroups(proc_cgroup);
    for (std::string line; std::getline(cgroups, line);) {
        if (line.rfind("0::", 0) == 0) own = line.substr(3);
    }
    if (own.empty()) return std::nullopt;

    std::istringstream mounts(mountinfo);
    for (std::string line; std::getline(mounts, line);) {
        size_t separator = line.find(" - ");
        if (separator == std::string::npos) continue;
        auto after = words(line.substr(separator + 3));
        if (after.empty() || after[0] != "cgroup2") continue;
        auto before = words(line.substr(0, separator));
        if (before.size() < 5) continue;
        const std::string& root = before[3];
        const std::string& mount_point = before[4];
        // A cgroup namespace or bind may mount a subtree: strip its root from our path.
        std::string relative = own;
        if (root != "/") {
            if (relative.rfind(root, 0) != 0) continue;
            relative = relative.substr(root.size());
        }
        if (relative == "/") relative.clear();
        return mount_point + relative;
    }
    return std::nullopt;
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

std::optional<LimitCgroup> LimitCgroup::create(const Limits& limits, std::string& why_not) {
    auto dir = cgroup2_dir(read_file("/proc/self/mountinfo"), read_file("/proc/self/cgroup"));
    if (!dir) {
        why_not = "no cgroup v2 hierarchy";
        return std::nullopt;
    }
    auto enabled = read_file_if_exists(*dir + "/cgroup.subtree_control");
    if (!enabled || ::access(dir->c_str(), W_OK) != 0) {
        why_not = "cgroup " + *dir + " is not delegated to you";
        return std::nullopt;
    }
    for (const auto& controller : needed_controllers(limits)) {
        if (!contains(words(*enabled), controller)) {
            why_not = "controller '" + controller + "' is not enabled in " + *dir +
                      "/cgroup.subtree_control";
            return std::nullopt;
        }
    }
    std::string path = *dir + "/bincastle-" + std::to_string(::getpid());
    if (::mkdir(path.c_str(), 0755) != 0) {
        why_not = SysError("mkdir", path).what();
        return std::nullopt;
    }
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    LimitCgroup cgroup(path, std::move(fd));
    try {
        if (!cgroup.dir_) throw SysError("open", path);
        if (limits.pids_max) write_file(path + "/pids.max", std::to_string(*limits.pids_max));
        if (limits.memory_max) write_file(path + "/memory.max", std::to_string(*limits.memory_max));
        if (limits.cpus) write_file(path + "/cpu.max", cpu_max(*limits.cpus));
    } catch (const Error& error) {
        why_not = error.what();
        return std::nullopt;
    }
    return cgroup;
}

LimitCgroup::~LimitCgroup() {
    if (!path_.empty() && dir_) {
        dir_.reset();
        ::rmdir(path_.c_str());
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
    return "limits: " + why_no_cgroup + "; using " + used + " instead";
}

}  // namespace bincastle::container
