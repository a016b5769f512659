#include "util/spawn.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace bincastle {

namespace {

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
    std::vector<char*> result;
    for (const auto& s : strings) result.push_back(const_cast<char*>(s.c_str()));
    result.push_back(nullptr);
    return result;
}

// posix_spawn's attributes and file actions, destroyed when dropped.
struct SpawnActions {
    posix_spawn_file_actions_t actions{};
    posix_spawnattr_t attributes{};
    SpawnActions() {
        ::posix_spawn_file_actions_init(&actions);
        ::posix_spawnattr_init(&attributes);
    }
    ~SpawnActions() {
        ::posix_spawnattr_destroy(&attributes);
        ::posix_spawn_file_actions_destroy(&actions);
    }
};

}  // namespace

ChildProcess spawn(const SpawnSpec& spec) {
    SpawnActions file_actions;
    auto& actions = file_actions.actions;
    // What a supervisor blocks or ignores for itself is not the child's business.
    sigset_t none, defaults;
    sigemptyset(&none);
    sigfillset(&defaults);
    ::posix_spawnattr_setsigmask(&file_actions.attributes, &none);
    ::posix_spawnattr_setsigdefault(&file_actions.attributes, &defaults);
    ::posix_spawnattr_setflags(&file_actions.attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int target = 0;
    for (int fd : {spec.stdin_fd, spec.stdout_fd, spec.stderr_fd}) {
        // dup2 onto itself would keep FD_CLOEXEC; posix_spawn clears it for target==fd.
        ::posix_spawn_file_actions_adddup2(&actions, fd, target);
        ++target;
    }
    // Sources that a lower target would overwrite first are moved out of the way.
    std::vector<UniqueFd> moved;
    for (std::size_t i = 0; i < spec.extra_fds.size(); ++i) {
        int fd = spec.extra_fds[i];
        if (fd < 3 + static_cast<int>(spec.extra_fds.size())) {
            moved.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, 3 + static_cast<int>(spec.extra_fds.size())));
            if (!moved.back()) throw SysError("fcntl(F_DUPFD_CLOEXEC)", "fd " + std::to_string(fd));
            fd = moved.back().get();
        }
        ::posix_spawn_file_actions_adddup2(&actions, fd, 3 + static_cast<int>(i));
    }
    if (!spec.cwd.empty()) ::posix_spawn_file_actions_addchdir_np(&actions, spec.cwd.c_str());
    std::vector<char*> argv = c_strings(spec.argv);
    std::vector<char*> env = spec.env ? c_strings(*spec.env) : std::vector<char*>{};
    pid_t pid = 0;
    int error = ::posix_spawnp(&pid, argv[0], &actions, &file_actions.attributes, argv.data(), spec.env ? env.data() : environ);
    if (error == ENOENT && !spec.cwd.empty() && ::access(spec.cwd.c_str(), X_OK) != 0)
        throw SysError(ENOENT, "chdir", spec.cwd.string());
    if (error == ENOENT) throw Error("program not found: " + spec.argv[0], "install it, or put it in PATH");
    if (error != 0) throw SysError(error, "posix_spawn", spec.argv[0] + (spec.cwd.empty() ? "" : " in " + spec.cwd.string()));
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
        int saved = errno;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        throw SysError(saved, "pidfd_open", spec.argv[0]);
    }
    return ChildProcess(pid, pidfd);
}

}  // namespace bincastle
