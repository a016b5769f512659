#pragma once

// Small file helpers the unit tests share.

#include "util/file_tree.hpp"
#include "util/unique_fd.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bincastle::testing {

// Writes `content` to `path` (making its parents) with `mode`.
inline void write(const std::filesystem::path& path, const std::string& content, mode_t mode = 0644) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
    REQUIRE(::chmod(path.c_str(), mode) == 0);
}

inline std::string read(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// The bottom directory of make_deep_tree's tree under `root`, open.
inline UniqueFd open_deep_dir(const std::filesystem::path& root) {
    UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(dir);
    const std::string name(200, 'd');
    for (int i = 0; i < 25; ++i) dir = open_dir_at(dir.get(), name, name);
    return dir;
}

// 25 directories of 200 characters below the directory `root`, made with relative
// steps (the whole path is longer than PATH_MAX, so it cannot be used), and a file
// "file" at the bottom that holds "deep\n".
inline void make_deep_tree(const std::filesystem::path& root) {
    const std::string name(200, 'd');
    UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(dir);
    for (int i = 0; i < 25; ++i) {
        REQUIRE(::mkdirat(dir.get(), name.c_str(), 0755) == 0);
        dir = open_dir_at(dir.get(), name, name);
    }
    UniqueFd file(::openat(dir.get(), "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    REQUIRE(file);
    REQUIRE(::write(file.get(), "deep\n", 5) == 5);
}

// What the file at the bottom of make_deep_tree's tree under `root` holds.
inline std::string read_deep_file(const std::filesystem::path& root) {
    UniqueFd file(::openat(open_deep_dir(root).get(), "file", O_RDONLY | O_CLOEXEC));
    REQUIRE(file);
    char buffer[16];
    const ssize_t n = ::read(file.get(), buffer, sizeof buffer);
    REQUIRE(n >= 0);
    return std::string(buffer, static_cast<std::size_t>(n));
}

// While alive, a write past `bytes` into a file fails (EFBIG), as one on a full disk
// does (ENOSPC), with no disk to fill.
class FileSizeLimit {
public:
    explicit FileSizeLimit(rlim_t bytes) : handler_(std::signal(SIGXFSZ, SIG_IGN)) {
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_) == 0);
        rlimit limit = saved_;
        limit.rlim_cur = bytes;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
    }
    FileSizeLimit(const FileSizeLimit&) = delete;
    FileSizeLimit& operator=(const FileSizeLimit&) = delete;
    ~FileSizeLimit() {
        ::setrlimit(RLIMIT_FSIZE, &saved_);
        std::signal(SIGXFSZ, handler_);
    }

private:
    void (*handler_)(int);
    rlimit saved_{};
};

// Runs `body` in a child process as an ordinary user (as nobody, handed `owned`, when
// the tests run as root, since root reads anything) and returns its exit status: 0
// when `body` returned true. The child is killed after `seconds`, so that a body that
// hangs fails (status 128 + the signal).
inline int exit_status_as_ordinary_user(const std::filesystem::path& owned, const std::function<bool()>& body,
                                        unsigned seconds = 30) {
    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child == 0) {
        ::alarm(seconds);
        if (::geteuid() == 0) {
            for (const auto& entry : std::filesystem::recursive_directory_iterator(owned))
                if (::lchown(entry.path().c_str(), 65534, 65534) != 0) ::_exit(2);
            if (::chown(owned.c_str(), 65534, 65534) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
            // As a process started by that user would be: its /proc/self is its own.
            if (::prctl(PR_SET_DUMPABLE, 1) != 0) ::_exit(2);
        }
        try {
            ::_exit(body() ? 0 : 1);
        } catch (const std::exception& error) {
            std::fprintf(stderr, "as an ordinary user: %s\n", error.what());
            ::_exit(1);
        }
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// While alive, the environment variable `name` is `value`; then as it was.
class ScopedEnv {
public:
    ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
        if (const char* old = std::getenv(name_.c_str())) old_ = old;
        ::setenv(name_.c_str(), value.c_str(), 1);
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;
    ~ScopedEnv() {
        if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
        else ::unsetenv(name_.c_str());
    }

private:
    std::string name_;
    std::optional<std::string> old_;
};

}  // namespace bincastle::testing
