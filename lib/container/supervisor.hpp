#pragma once

// The parent's side of a running container: the signals the caller forwards to its
// first process, and the terminal relay.

#include "util/child_process.hpp"
#include "util/signal_scope.hpp"
#include "util/unique_fd.hpp"

#include <csignal>
#include <sys/types.h>

namespace bincastle::container {

// Forwarded to the container when the spec asks; a second INT or TERM kills it.
inline constexpr int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

// Relays between the caller's terminal and the pty `master` (when there is one),
// forwards the signals read from `signals` (when given), ends the container when the
// caller's terminal hangs up (the pty hung up, then SIGKILL after a grace period), and
// returns the container's exit status once its first process has exited.
int supervise(ChildProcess& child, const BlockedSignals* signals, UniqueFd master);

}  // namespace bincastle::container
