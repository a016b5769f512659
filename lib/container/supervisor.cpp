#include "container/supervisor.hpp"

#include "container/linux_api.hpp"
#include "container/pty.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bincastle::container {

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
    while (::waitid(static_cast<idtype_t>(linux_api::p_pidfd), static_cast<id_t>(pidfd_.get()), &info,
                    WEXITED | __WALL) != 0) {
        if (errno != EINTR) throw SysError("waitid", "container process " + std::to_string(pid_));
    }
    pid_ = -1;
    return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
}

BlockedSignals::BlockedSignals(const sigset_t& set) {
    ::sigprocmask(SIG_BLOCK, &set, &saved_);
    fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd_) throw SysError("signalfd", "");
}

BlockedSignals::~BlockedSignals() { ::sigprocmask(SIG_SETMASK, &saved_, nullptr); }

namespace {

// Bytes waiting to be written to a non-blocking fd.
struct Pending {
    std::string bytes;
    bool flush(int fd) {
        while (!bytes.empty()) {
            ssize_t n = ::write(fd, bytes.data(), bytes.size());
            if (n < 0) return errno == EAGAIN || errno == EINTR;
            bytes.erase(0, static_cast<size_t>(n));
        }
        return true;
    }
};

}  // namespace

int supervise(ChildProcess& child, const BlockedSignals* signals, UniqueFd master) {
    std::optional<RawTerminal> raw;
    bool relay_input = false;
    if (master) {
        raw.emplace(STDIN_FILENO);
        ::fcntl(master.get(), F_SETFL, ::fcntl(master.get(), F_GETFL) | O_NONBLOCK);
        relay_input = true;
    }
    Pending to_master;
    bool asked_to_stop = false;
    char buffer[65536];

    // Copies what the pty has for the caller; false once it reports its end (EIO
    // when no process holds the slave side any more).
    auto drain_master = [&]() -> bool {
        for (;;) {
            ssize_t n = ::read(master.get(), buffer, sizeof buffer);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) return true;
            if (n <= 0) return false;
            for (ssize_t done = 0; done < n;) {
                ssize_t w = ::write(STDOUT_FILENO, buffer + done, static_cast<size_t>(n - done));
                if (w < 0 && errno == EINTR) continue;
                if (w < 0) return true;  // the caller's terminal went away; keep the container's output flowing
                done += w;
            }
        }
    };
    bool master_open = static_cast<bool>(master);

    for (;;) {
        pollfd fds[4];
        nfds_t count = 0;
        fds[count++] = {child.pidfd(), POLLIN, 0};
        int signal_index = -1, master_index = -1, input_index = -1;
        if (signals) {
            signal_index = static_cast<int>(count);
            fds[count++] = {signals->fd(), POLLIN, 0};
        }
        if (master_open) {
            master_index = static_cast<int>(count);
            fds[count++] = {master.get(), static_cast<short>(POLLIN | (to_master.bytes.empty() ? 0 : POLLOUT)), 0};
            if (relay_input && to_master.bytes.size() < sizeof buffer) {
                input_index = static_cast<int>(count);
                fds[count++] = {STDIN_FILENO, POLLIN, 0};
            }
        }
        if (::poll(fds, count, -1) < 0) {
            if (errno == EINTR) continue;
            throw SysError("poll", "container");
        }
        if (fds[0].revents) {
            int status = child.wait();
            if (master_open) drain_master();
            return status;
        }
        if (signal_index >= 0 && fds[signal_index].revents) {
            signalfd_siginfo info{};
            while (::read(signals->fd(), &info, sizeof info) == sizeof info) {
                int sig = static_cast<int>(info.ssi_signo);
                if (sig == SIGWINCH) {
                    if (master) copy_window_size(STDIN_FILENO, master.get());
                    continue;
                }
                // A command running as pid 1 ignores signals it has no handler for;
                // asking twice means it must go.
                if ((sig == SIGINT || sig == SIGTERM) && asked_to_stop) {
                    child.signal(SIGKILL);
                    continue;
                }
                if (sig == SIGINT || sig == SIGTERM) asked_to_stop = true;
                child.signal(sig);
            }
        }
        if (master_index >= 0) {
            short events = fds[master_index].revents;
            if (events & POLLOUT) to_master.flush(master.get());
            if ((events & (POLLIN | POLLHUP | POLLERR)) && !drain_master()) master_open = false;
        }
        if (input_index >= 0 && fds[input_index].revents) {
            ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
            if (n <= 0) {
                relay_input = false;  // the caller's input ended; the container keeps running
            } else {
                to_master.bytes.append(buffer, static_cast<size_t>(n));
                to_master.flush(master.get());
            }
        }
    }
}

}  // namespace bincastle::container
