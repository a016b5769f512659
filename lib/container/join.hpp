#pragma once

// Joining a running container: a command started in its namespaces, root, working
// directory and environment, as `docker exec` and `runc exec` do.

#include <string>
#include <sys/types.h>
#include <vector>

namespace bincastle::container {

struct JoinSpec {
    pid_t init = 0;                 // the container's pid 1, as the caller's pid namespace numbers it
    std::vector<std::string> args;  // the command
    bool tty = false;               // a pty from the container's devpts, relayed to the caller's terminal
};

// Runs the command in the container of `spec.init` (user, mount, pid, uts, ipc, net and
// cgroup namespaces, through a pidfd; its root, working directory and environment;
// the default seccomp filter) with the caller's stdio, or a pty; forwards the signals
// the caller gets (INT, TERM, HUP, QUIT, USR1, USR2) to it, and returns its exit status.
// Throws Error when the container cannot be joined (it ended, or is not the caller's).
// Call it from a process with no other thread.
int join(const JoinSpec& spec);

}  // namespace bincastle::container
