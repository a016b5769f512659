#include "driver/inside_tree.hpp"

#include "container/path_in_root.hpp"
#include "graph/key_encoder.hpp"
#include "util/file_tree.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <dirent.h>
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

struct stat stat_at(int dir, const char* name) {
    struct stat st {};
    if (::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) throw SysError("stat", name);
    return st;
}

void copy_file(int dir, const char* name, const struct stat& st, const fs::path& to) {
    UniqueFd in(::openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in) throw SysError("open", name);
    fs::path partial = to.string() + ".partial";
    UniqueFd out(::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!out) throw SysError("open", partial.string());
    char buffer[65536];
    for (ssize_t n; (n = ::read(in.get(), buffer, sizeof buffer)) != 0;) {
        if (n < 0) {
            if (errno == EINTR) continue;
            throw SysError("read", name);
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = ::write(out.get(), buffer + done, static_cast<size_t>(n - done));
            if (w < 0) throw SysError("write", partial.string());
            done += w;
        }
    }
    ::fchmod(out.get(), st.st_mode & 07777);
    timespec times[2] = {st.st_atim, st.st_mtim};
    ::futimens(out.get(), times);
    if (::rename(partial.c_str(), to.c_str()) != 0) throw SysError("rename", partial.string());
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
    UniqueFd dir(::openat(source, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) throw SysError("open", destination.string() + " (source)");
    std::map<std::string, struct stat> entries;
    {
        DIR* stream = ::fdopendir(::dup(dir.get()));
        if (!stream) throw SysError("opendir", destination.string());
        while (dirent* entry = ::readdir(stream)) {
            std::string name = entry->d_name;
            if (name == "." || name == "..") continue;
            entries.emplace(name, stat_at(dir.get(), name.c_str()));
        }
        ::closedir(stream);
    }
    std::error_code error;
    for (const auto& existing : fs::directory_iterator(destination)) {
        std::string name = existing.path().filename().string();
        auto it = entries.find(name);
        bool keep = it != entries.end() && ((S_ISDIR(it->second.st_mode) && existing.is_directory(error) && !existing.is_symlink(error)) ||
                                            (S_ISREG(it->second.st_mode) && existing.is_regular_file(error) && !existing.is_symlink(error)) ||
                                            (S_ISLNK(it->second.st_mode) && existing.is_symlink(error)));
        if (!keep) remove_tree(existing.path());
    }
    for (const auto& [name, st] : entries) {
        fs::path to = destination / name;
        if (S_ISDIR(st.st_mode)) {
            // Writable while it is filled; its own mode afterwards.
            if (::mkdir(to.c_str(), 0700) != 0 && (errno != EEXIST || ::chmod(to.c_str(), 0700) != 0))
                throw SysError("mkdir", to.string());
            UniqueFd child(::openat(dir.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!child) throw SysError("open", name);
            sync_tree(child.get(), to);
            ::chmod(to.c_str(), st.st_mode & 07777);
        } else if (S_ISREG(st.st_mode)) {
            struct stat mine {};
            bool same = ::lstat(to.c_str(), &mine) == 0 && mine.st_size == st.st_size &&
                        mine.st_mtim.tv_sec == st.st_mtim.tv_sec && mine.st_mtim.tv_nsec == st.st_mtim.tv_nsec;
            if (!same) copy_file(dir.get(), name.c_str(), st, to);
            else if ((mine.st_mode & 07777) != (st.st_mode & 07777)) ::chmod(to.c_str(), st.st_mode & 07777);
        } else if (S_ISLNK(st.st_mode)) {
            std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
            ssize_t n = ::readlinkat(dir.get(), name.c_str(), target.data(), target.size());
            if (n < 0) throw SysError("readlink", name);
            target.resize(static_cast<size_t>(n));
            std::error_code ignored;
            if (fs::is_symlink(to, ignored) && fs::read_symlink(to, ignored).string() == target) continue;
            fs::remove(to, ignored);
            if (::symlink(target.c_str(), to.c_str()) != 0) throw SysError("symlink", to.string());
        }
    }
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
