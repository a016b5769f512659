#include "driver/inside_tree.hpp"

#include "container/path_in_root.hpp"
#include "graph/key_encoder.hpp"
#include "util/file_tree.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <fcntl.h>
#include <map>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace fs = std::filesystem;

namespace bincastle::driver {

namespace {

UniqueFd peer_pidfd(int connection) {
    int fd = -1;
    socklen_t size = sizeof fd;
    if (::getsockopt(connection, SOL_SOCKET, SO_PEERPIDFD, &fd, &size) == 0 && fd >= 0) return UniqueFd(fd);
    // Before Linux 6.5: the pid, pinned as soon as possible (the client is blocked
    // waiting for us, so it cannot have exited unless killed).
    ucred credentials{};
    size = sizeof credentials;
    if (::getsockopt(connection, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0 || credentials.pid <= 0)
        throw SysError("getsockopt(SO_PEERCRED)", "supervisor socket");
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, credentials.pid, 0)));
    if (!pidfd) throw SysError("pidfd_open", "client " + std::to_string(credentials.pid));
    return pidfd;
}

pid_t pid_of(int pidfd) {
    std::string status;
    char buffer[4096];
    UniqueFd fd(::open(("/proc/self/fdinfo/" + std::to_string(pidfd)).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw SysError("open", "/proc/self/fdinfo");
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer - 1);
    if (n <= 0) throw SysError("read", "/proc/self/fdinfo");
    status.assign(buffer, static_cast<size_t>(n));
    auto at = status.find("Pid:");
    if (at == std::string::npos) throw Error("no Pid in a pidfd's fdinfo");
    return static_cast<pid_t>(std::stol(status.substr(at + 4)));
}

bool exited(int pidfd) {
    pollfd fd{pidfd, POLLIN, 0};
    return ::poll(&fd, 1, 0) == 1;
}

struct stat stat_at(int dir, const std::string& name, const std::string& shown) {
    struct stat st {};
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw SysError("stat", shown);
    return st;
}

// The file `name` of `from` to `name` in `to`, with its mode and times, through a
// partial file renamed over it: a reader of the mirror never sees half a file.
void copy_file(int from, const std::string& name, const struct stat& st, int to, const std::string& shown) {
    const std::string partial = name + ".partial";
    remove_at(to, partial, shown + ".partial");
    copy_at(from, name, name, to, partial, shown + ".partial");
    const timespec times[2] = {st.st_atim, st.st_mtim};
    if (::utimensat(to, partial.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) throw SysError("utimensat", shown + ".partial");
    if (::renameat(to, partial.c_str(), to, name.c_str()) != 0) throw SysError("rename", shown + ".partial");
}

// sync_tree by fds on both sides, so that the mirror may be as deep as the source.
void sync_at(int source, int destination, const std::string& shown) {
    std::map<std::string, struct stat> entries;
    for (DirName& entry : sorted_entries_at(source, shown + " (source)")) {
        const struct stat st = stat_at(source, entry.name, entry.name);
        entries.emplace(std::move(entry.name), st);
    }
    for (const DirName& existing : sorted_entries_at(destination, shown)) {
        auto it = entries.find(existing.name);
        const struct stat mine = stat_at(destination, existing.name, shown + "/" + existing.name);
        const mode_t type = mine.st_mode & S_IFMT;
        const bool keep = it != entries.end() && (it->second.st_mode & S_IFMT) == type &&
                          (S_ISDIR(mine.st_mode) || S_ISREG(mine.st_mode) || S_ISLNK(mine.st_mode));
        if (!keep) remove_at(destination, existing.name, shown + "/" + existing.name);
    }
    for (const auto& [name, st] : entries) {
        const std::string to = shown + "/" + name;
        if (S_ISDIR(st.st_mode)) {
            // Writable while it is filled; its own mode afterwards.
            if (::mkdirat(destination, name.c_str(), 0700) != 0 &&
                (errno != EEXIST || ::fchmodat(destination, name.c_str(), 0700, 0) != 0))
                throw SysError("mkdir", to);
            UniqueFd from = open_dir_at(source, name, name);
            UniqueFd into = open_dir_at(destination, name, to);
            sync_at(from.get(), into.get(), to);
            if (::fchmod(into.get(), st.st_mode & 07777) != 0) throw SysError("chmod", to);
        } else if (S_ISREG(st.st_mode)) {
            struct stat mine {};
            const bool same = ::fstatat(destination, name.c_str(), &mine, AT_SYMLINK_NOFOLLOW) == 0 &&
                              mine.st_size == st.st_size && mine.st_mtim.tv_sec == st.st_mtim.tv_sec &&
                              mine.st_mtim.tv_nsec == st.st_mtim.tv_nsec;
            if (!same) copy_file(source, name, st, destination, to);
            else if ((mine.st_mode & 07777) != (st.st_mode & 07777) &&
                     ::fchmodat(destination, name.c_str(), st.st_mode & 07777, 0) != 0)
                throw SysError("chmod", to);
        } else if (S_ISLNK(st.st_mode)) {
            const std::string target = read_link_at(source, name, name);
            struct stat mine {};
            if (::fstatat(destination, name.c_str(), &mine, AT_SYMLINK_NOFOLLOW) == 0) {
                if (read_link_at(destination, name, to) == target) continue;
                remove_at(destination, name, to);
            }
            if (::symlinkat(target.c_str(), destination, name.c_str()) != 0) throw SysError("symlink", to);
        }
    }
}

}  // namespace

ClientRoot::ClientRoot(int connection) : pidfd_(peer_pidfd(connection)) {
    pid_t pid = pid_of(pidfd_.get());
    root_.reset(::open(("/proc/" + std::to_string(pid) + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root_) throw SysError("open", "/proc/" + std::to_string(pid) + "/root");
    // The root opened is that client's, not a process that took its pid since.
    if (exited(pidfd_.get())) throw Error("the client left before its request was read");
}

void sync_tree(int source, const fs::path& destination) {
    UniqueFd from(::openat(source, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!from) throw SysError("open", destination.string() + " (source)");
    UniqueFd into(::open(destination.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!into) throw SysError("open", destination.string());
    sync_at(from.get(), into.get(), destination.string());
}

void ClientRoot::write_back(const fs::path& host, const std::string& inside_path) const {
    fs::path inside(inside_path);
    UniqueFd parent = container::open_in_root(root_.get(), inside.parent_path().string(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!parent) throw SysError("open", inside.parent_path().string() + " (in this system)");
    // Never through a symlink inside, never over anything there (copy_at).
    copy_at(AT_FDCWD, host.string(), host.string(), parent.get(), inside.filename().string(), inside_path);
}

fs::path ClientRoot::mirror(const std::string& inside_path, const std::string& scope, const fs::path& store_root) const {
    UniqueFd dir = container::open_in_root(root_.get(), inside_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (!dir) throw SysError("open", inside_path + " (in this system)", "give a directory of this system");
    fs::path copy = store_root / "inside" / hash_bytes(scope + '\0' + inside_path).hex();
    fs::create_directories(copy);
    // One sync at a time per copy: nested runs started at once from one system.
    UniqueFd lock(::open((copy.string() + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock || ::flock(lock.get(), LOCK_EX) != 0) throw SysError("lock", copy.string());
    sync_tree(dir.get(), copy);
    return copy;
}

}  // namespace bincastle::driver
