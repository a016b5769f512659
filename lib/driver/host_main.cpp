#include "driver/host_main.hpp"

#include "driver/host_verbs.hpp"
#include "driver/supervisor.hpp"

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <signal.h>

namespace bincastle::driver {

int host_main(const std::string& verb, const std::vector<std::string>& args) {
    // Blocked before any thread starts, so that only the supervisor's signalfd sees
    // them; the programs it starts get the default dispositions back (spawn).
    sigset_t signals = supervisor_signals();
    ::sigprocmask(SIG_BLOCK, &signals, nullptr);
    Caller caller;
    caller.origin.cwd = std::filesystem::current_path();
    caller.stop_signals = signals;
    if (const char* term = std::getenv("TERM")) caller.origin.term = term;
    std::optional<Supervisor> supervisor;
    // The system that run starts is waited for here, serving what runs inside it.
    if (verb == "run") {
        supervisor.emplace();
        caller.socket_path = supervisor->socket_path();
        caller.wait = [&](ChildProcess& system) { return supervisor->serve_until(system); };
    }
    return run_host_verb(verb, args, caller);
}

}  // namespace bincastle::driver
