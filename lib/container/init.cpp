#include "container/init.hpp"

#include "util/process.hpp"

#include <bincastle/container.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <sys/wait.h>
#include <unistd.h>

namespace bincastle::container {

namespace {

// After the command was reaped: every process it left is init's child now (orphans
// are handed to pid 1), and the ones that had exited are reaped here.
bool processes_left() {
    pid_t reaped;
    while ((reaped = ::waitpid(-1, nullptr, WNOHANG)) > 0) {
    }
    // 0: children that have not exited; -1 (ECHILD): none left.
    return reaped == 0;
}

}  // namespace

void run_init(pid_t command, int leftovers_report, const std::string& name) {
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
                if (leftovers_report >= 0 && shell_status(status) == 0 && processes_left()) {
                    ::dprintf(leftovers_report,
                              "bincastle: %s exited but left processes running (a daemon?), which it may not; they "
                              "were killed\n",
                              name.c_str());
                    ::_exit(exit_setup_failed);
                }
                // Leaving as pid 1 makes the kernel kill whatever is left.
                ::_exit(shell_status(status));
            }
        }
    }
}

}  // namespace bincastle::container
