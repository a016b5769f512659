#pragma once

// The driver's verbs as they run on the host: for the driver's own command line, and
// for each command a client inside a system sends the supervisor.

#include "util/child_process.hpp"
#include "driver/driver_command.hpp"

#include <array>
#include <csignal>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace bincastle::driver {

struct Caller {
    Origin origin;
    std::array<int, 3> stdio = {0, 1, 2};
    // The supervisor's socket for systems started by `run`; empty: none.
    std::string socket_path;
    // Waits for the started system; returns its exit status.
    std::function<int(ChildProcess&)> wait;
    // Signals that end the process while a definition is evaluated and built (the
    // outermost driver's, which it otherwise reads from a signalfd); none from inside.
    std::optional<sigset_t> stop_signals;
};

// `verb` is run, build, export, plan, graph, gc, clean, systems, rm, fork, ps or stop; `args` follow it. Returns the exit status;
// throws an Error for bincastle's own failures.
int run_host_verb(const std::string& verb, const std::vector<std::string>& args, const Caller& caller);

}  // namespace bincastle::driver
