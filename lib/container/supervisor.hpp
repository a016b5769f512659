#pragma once

// The parent's side of a running container: its first process (killed and reaped
// unless waited for), the signals the caller forwards to it, and the terminal relay.

#include "util/unique_fd.hpp"

#include <csignal>
#include <sys/types.h>

namespace bincastle::container {

// Forwarded to the container when the spec asks; a second INT or TERM kills it.
inline constexpr int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

class ChildProcess {
public:
    ChildProcess(pid_t pid, int pidfd) : pid_(pid), pidfd_(pidfd) {}
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess();

    int pidfd() const { return pidfd_.get(); }
    void signal(int sig) const;
    // Waits for it to exit; returns its shell status.
    int wait();

private:
    pid_t pid_;
    UniqueFd pidfd_;
};

// Blocks `set` while alive (restoring the caller's mask after); a signalfd reads them.
class BlockedSignals {
public:
    explicit BlockedSignals(const sigset_t& set);
    BlockedSignals(const BlockedSignals&) = delete;
    BlockedSignals& operator=(const BlockedSignals&) = delete;
    ~BlockedSignals();
    int fd() const { return fd_.get(); }

private:
    sigset_t saved_{};
    UniqueFd fd_;
};

// Relays between the caller's terminal and the pty `master` (when there is one),
// forwards the signals read from `signals` (when given), ends the container when the
// caller's terminal hangs up (the pty hung up, then SIGKILL after a grace period), and
// returns the container's exit status once its first process has exited.
int supervise(ChildProcess& child, const BlockedSignals* signals, UniqueFd master);

}  // namespace bincastle::container
