#include "util/process.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <spawn.h>
#include <unistd.h>
#include <sys/wait.h>

extern char** environ;

namespace bincastle {

int run_program(const std::vector<std::string>& argv, const std::string& root) {
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    if (root.empty()) {
        int error = ::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ);
        if (error == ENOENT) return program_not_found;
        if (error != 0) throw SysError(error, "posix_spawn", argv[0]);
    } else {
        // posix_spawn cannot chroot; the caller is single-threaded when it asks for a root.
        pid = ::fork();
        if (pid < 0) throw SysError("fork", argv[0]);
        if (pid == 0) {
            if (::chroot(root.c_str()) == 0 && ::chdir("/") == 0) ::execvp(args[0], args.data());
            ::_exit(program_not_found);
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) throw SysError("waitpid", argv[0]);
    }
    return shell_status(status);
}

int shell_status(int wait_status) {
    return WIFSIGNALED(wait_status) ? 128 + WTERMSIG(wait_status) : WEXITSTATUS(wait_status);
}

}  // namespace bincastle
