#include "container/init.hpp"

#include "util/process.hpp"

#include <cerrno>
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

namespace bincastle::container {

void run_init(pid_t command) {
    sigset_t all;
    sigfillset(&all);
    for (;;) {
        siginfo_t info{};
        int sig = ::sigwaitinfo(&all, &info);
        if (sig < 0) continue;
        if (sig != SIGCHLD) {
            ::kill(command, sig);
            continue;
        }
        for (;;) {
            int status = 0;
            pid_t pid = ::waitpid(-1, &status, WNOHANG);
            if (pid <= 0) break;
            if (pid == command) {
                // Leaving as pid 1 makes the kernel kill whatever is left.
                ::_exit(shell_status(status));
            }
        }
    }
}

}  // namespace bincastle::container
