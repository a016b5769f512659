#pragma once

// A child process owned until it is waited for: killed and reaped when dropped.

#include "util/unique_fd.hpp"

#include <sys/types.h>

namespace bincastle {

class ChildProcess {
public:
    ChildProcess(pid_t pid, int pidfd) : pid_(pid), pidfd_(pidfd) {}
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess();

    int pidfd() const { return pidfd_.get(); }
    pid_t pid() const { return pid_; }
    void signal(int sig) const;
    // Waits for it to exit; returns its shell status.
    int wait();

private:
    pid_t pid_;
    UniqueFd pidfd_;
};

}  // namespace bincastle
