#include "util/child_process.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <csignal>
#include <string>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bincastle {

namespace {

// waitid's P_PIDFD (linux/wait.h, which clashes with glibc's sys/wait.h).
constexpr int p_pidfd = 3;

}  // namespace

ChildProcess::~ChildProcess() {
    if (pid_ > 0) {
        signal(SIGKILL);
        try {
            wait();
        } catch (const Error&) {
        }
    }
}

void ChildProcess::signal(int sig) const { ::syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0); }

// Through the pidfd and with no exit signal, so that a caller that ignores SIGCHLD
// (and so has its children reaped by the kernel) still learns the status.
int ChildProcess::wait() {
    siginfo_t info{};
    while (::waitid(static_cast<idtype_t>(p_pidfd), static_cast<id_t>(pidfd_.get()), &info, WEXITED | __WALL) != 0) {
        if (errno != EINTR) throw SysError("waitid", "process " + std::to_string(pid_));
    }
    pid_ = -1;
    return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
}

}  // namespace bincastle
