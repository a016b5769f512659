// bincastle::list_systems, remove_system, fork_system: the systems a store keeps.

#include "build/running_lock.hpp"
#include "container/join.hpp"
#include "container/owner_access.hpp"
#include "store/store.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"
#include "util/process.hpp"
#include "util/tree_walk.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>
#include <bincastle/systems.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <csignal>
#include <string_view>
#include <sys/syscall.h>
#include <cerrno>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

fs::path system_dir(const fs::path& store_root, const std::string& name) {
    if (name.empty() || name.find('/') != std::string::npos || name.starts_with('.'))
        throw Error("'" + name + "' is not a system name", "see 'bincastle systems'");
    return store_root / "systems" / name;
}

// The system's `running` lock, taken exclusively (so that it does not start while it is
// removed or copied), or nullopt while it runs.
std::optional<UniqueFd> lock_stopped(const fs::path& dir) {
    const fs::path path = dir / "running";
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) throw SysError("open", path.string());
    if (!try_lock_running(fd.get(), path.string())) return std::nullopt;
    return fd;
}

fs::path existing_stopped(const fs::path& store_root, const std::string& name, const std::string& doing,
                          std::optional<UniqueFd>& lock) {
    const fs::path dir = system_dir(store_root, name);
    std::error_code error;
    if (!fs::is_directory(dir, error)) throw Error("no system '" + name + "' in " + store_root.string(), "see 'bincastle systems'");
    lock = lock_stopped(dir);
    if (!lock) throw Error("system '" + name + "' is running: leave it before you " + doing);
    return dir;
}

// Bytes allocated under a tree, not following symlinks. A directory its owner may not
// read or search is left out, and the sum is then partial.
class DiskUsage : public TreeVisitor {
public:
    explicit DiskUsage(SystemInfo& info) : info_(info) {}
    void directory(const TreeDir&) override {}
    bool entry(TreeEntry& entry) override {
        // A running system changes its tree: what went since it was listed is not counted.
        struct stat st {};
        if (::fstatat(entry.dir().fd, entry.name().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            info_.bytes_partial = info_.bytes_partial || errno != ENOENT;
            return false;
        }
        info_.bytes += static_cast<std::uint64_t>(st.st_blocks) * 512;
        if (!S_ISDIR(st.st_mode)) return false;
        if (::faccessat(entry.dir().fd, entry.name().c_str(), R_OK | X_OK, AT_SYMLINK_NOFOLLOW) == 0) return true;
        info_.bytes_partial = true;
        return false;
    }

private:
    SystemInfo& info_;
};

void add_disk_usage(const fs::path& dir, SystemInfo& info) {
    UniqueFd top(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!top) {
        info.bytes_partial = info.bytes_partial || errno != ENOENT;
        return;
    }
    DiskUsage usage(info);
    try {
        walk_tree(top.get(), dir.string(), usage);
    } catch (const Error&) {
        info.bytes_partial = true;  // an entry went away, or could not be read
    }
}

// The holder's record (system_entry.cpp): "pid N", "system N", then "command ARGS..."
// to the end (its arguments may hold anything, newlines too: nothing after it counts).
void read_running_record(const fs::path& file, SystemInfo& info) {
    auto record = read_file_if_exists(file.string());
    if (!record) return;
    auto number = [](std::string_view text) -> std::optional<int> {
        int value = 0;
        auto [next, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc() || next != text.data() + text.size() || value <= 0) return std::nullopt;
        return value;
    };
    std::string_view rest = *record;
    while (!rest.empty()) {
        if (rest.starts_with("command")) {
            std::string command(rest.substr(rest.size() > 7 ? 8 : 7));
            while (!command.empty() && command.back() == '\n') command.pop_back();
            // Shown on one line, whatever it holds.
            for (char& c : command)
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
            info.command = std::move(command);
            return;
        }
        const std::size_t end = rest.find('\n');
        std::string_view line = rest.substr(0, end);
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
        if (line.starts_with("pid ") && !info.pid) info.pid = number(line.substr(4));
        else if (line.starts_with("system ") && !info.system_pid) info.system_pid = number(line.substr(7));
    }
}

bool held(const fs::path& running) {
    UniqueFd fd(::open(running.c_str(), O_RDONLY | O_CLOEXEC));
    return fd && ::flock(fd.get(), LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
}

// Waits up to `limit` for the system's lock to be released.
bool released_within(const fs::path& running, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (held(running)) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        ::usleep(20'000);
    }
    return true;
}

std::string pid_namespace_of(pid_t pid) {
    char target[64];
    const std::string link = "/proc/" + std::to_string(pid) + "/ns/pid";
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target);
    return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string();
}

// The container's pid 1: the first process below `holder` (the process that waits for
// the system) in a pid namespace of its own.
std::optional<pid_t> container_init_below(pid_t holder) {
    std::map<pid_t, std::vector<pid_t>> children;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator("/proc", error)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        auto stat = read_file_if_exists((entry.path() / "stat").string());
        if (!stat) continue;
        // "pid (comm) state ppid ...": the comm may hold spaces and parentheses.
        const std::size_t close = stat->rfind(')');
        if (close == std::string::npos) continue;
        int ppid = 0;
        if (std::sscanf(stat->c_str() + close + 1, " %*c %d", &ppid) != 1) continue;
        children[ppid].push_back(std::stoi(name));
    }
    const std::string own = pid_namespace_of(holder);
    std::vector<pid_t> pending{holder};
    for (std::size_t i = 0; i < pending.size(); ++i) {
        for (pid_t child : children[pending[i]]) {
            const std::string ns = pid_namespace_of(child);
            if (!ns.empty() && ns != own) return child;
            pending.push_back(child);
        }
    }
    return std::nullopt;
}

}  // namespace

std::vector<SystemInfo> list_systems(const fs::path& store_root) {
    std::vector<SystemInfo> systems;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(store_root / "systems", error)) {
        if (!entry.is_directory(error) || entry.path().filename().string().starts_with('.')) continue;
        SystemInfo info;
        info.name = entry.path().filename().string();
        if (auto origin = read_file_if_exists((entry.path() / "origin").string())) {
            info.origin = *origin;
            while (!info.origin.empty() && info.origin.back() == '\n') info.origin.pop_back();
        }
        struct stat st {};
        if (::stat((entry.path() / "running").c_str(), &st) == 0) info.last_used = st.st_mtim.tv_sec;
        info.running = held(entry.path() / "running");
        if (info.running) read_running_record(entry.path() / "running", info);
        add_disk_usage(entry.path() / "upper", info);
        add_disk_usage(entry.path() / "mounts", info);
        systems.push_back(std::move(info));
    }
    std::sort(systems.begin(), systems.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return systems;
}

void remove_system(const fs::path& store_root, const std::string& name) {
    std::optional<UniqueFd> lock;
    const fs::path dir = existing_stopped(store_root, name, "remove it", lock);
    // Out of systems/ by one rename, so that a crash leaves no half system behind.
    fs::create_directories(store_root / "trash");
    std::string trash = (store_root / "trash" / ("system-" + name + ".XXXXXX")).string();
    if (!::mkdtemp(trash.data())) throw SysError("mkdtemp", trash);
    if (::rename(dir.c_str(), trash.c_str()) != 0) {
        int saved = errno;
        ::rmdir(trash.c_str());
        throw SysError(saved, "rename", dir.string() + " -> " + trash);
    }
    Store(store_root).forget_root(name);
    // Its files are its root's: a directory it left without permissions needs the
    // owner's access to be removed by an ordinary user.
    container::with_owner_access([&] { remove_tree(trash); });
}

bool stop_system(const fs::path& store_root, const std::string& name, std::chrono::milliseconds grace) {
    const fs::path running = system_dir(store_root, name) / "running";
    SystemInfo info;
    if (held(running)) read_running_record(running, info);
    if (!info.pid) throw Error("system '" + name + "' is not running", "see 'bincastle ps'");
    // The process that runs the container passes TERM on, and takes the container with
    // it when killed; through a pidfd, taken while the lock shows it is still the one.
    const int target = info.system_pid.value_or(*info.pid);
    UniqueFd process(static_cast<int>(::syscall(SYS_pidfd_open, target, 0)));
    if (!process || !held(running)) return true;  // it ended meanwhile
    if (::syscall(SYS_pidfd_send_signal, process.get(), SIGTERM, nullptr, 0) != 0 && errno != ESRCH)
        throw SysError("kill", "process " + std::to_string(target) + " (system " + name + ")");
    if (released_within(running, grace)) return true;
    if (::syscall(SYS_pidfd_send_signal, process.get(), SIGKILL, nullptr, 0) != 0 && errno != ESRCH)
        throw SysError("kill", "process " + std::to_string(target) + " (system " + name + ")");
    if (!released_within(running, std::chrono::seconds(10)))
        throw Error("system '" + name + "' still runs 10 s after its process " + std::to_string(target) +
                    " was killed");
    return false;
}

int exec_in_system(const fs::path& store_root, const std::string& name, const std::vector<std::string>& command,
                   bool tty) {
    const fs::path running = system_dir(store_root, name) / "running";
    SystemInfo info;
    if (held(running)) read_running_record(running, info);
    if (!info.pid) throw Error("system '" + name + "' is not running", "see 'bincastle ps'");
    if (!info.system_pid) throw Error("system '" + name + "' is starting", "try again");
    const auto init = container_init_below(*info.system_pid);
    if (!init) throw Error("system '" + name + "' is starting or ending (no container below process " +
                           std::to_string(*info.system_pid) + ")", "try again");
    return container::join({*init, command, tty});
}

void fork_system(const fs::path& store_root, const std::string& from, const std::string& to) {
    const fs::path target = system_dir(store_root, to);
    std::error_code error;
    if (fs::exists(fs::symlink_status(target, error))) throw Error("system '" + to + "' exists already", "remove it first (bincastle rm " + to + ")");
    std::optional<UniqueFd> lock;
    const fs::path source = existing_stopped(store_root, from, "fork it", lock);
    // Hidden from the list of systems; the next fork to the name removes what a killed one left.
    fs::create_directories(store_root / "systems");
    TempDir work("." + to + ".partial", store_root / "systems");
    const fs::path& partial = work.path();
    if (::chmod(partial.c_str(), 0755) != 0) throw SysError("chmod", partial.string());
    try {
        // cp -a keeps what overlay's upper holds: whiteouts (0/0 character devices),
        // user.overlay xattrs, modes, hard links; with the owner's access, unreadable
        // directories too.
        container::with_owner_access([&] {
            for (const char* part : {"upper", "mounts"}) {
                if (!fs::exists(source / part)) continue;
                int status = run_program({"cp", "-a", "--", (source / part).string(), (partial / part).string()});
                if (status != 0)
                    throw Error("copying " + (source / part).string() + " failed (cp exited with " +
                                std::to_string(status) + ")");
            }
        });
        if (auto origin = read_file_if_exists((source / "origin").string()))
            write_new_file((partial / "origin").string(), *origin);
        if (!work.rename_to(target)) throw Error("system '" + to + "' appeared while it was forked");
    } catch (...) {
        container::with_owner_access([&] { remove_tree(partial); });
        throw;
    }
}

}  // namespace bincastle
