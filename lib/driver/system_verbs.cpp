#include "driver/system_verbs.hpp"

#include "store/store.hpp"

#include <bincastle/error.hpp>
#include <bincastle/systems.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <unistd.h>
#include <ctime>

namespace bincastle::driver {

namespace {

const char* const systems_usage = R"(usage: bincastle systems

Lists every system in the store (${BINCASTLE_HOME:-$HOME/.bincastle}): its name
(what 'run --system NAME' enters), whether it runs, when it was last entered, the
size of its own files (what it wrote, and its copies of wrapped layers; '>' when
some could not be read), and where its definition came from.
)";

const char* const rm_usage = R"(usage: bincastle rm NAME...

Removes each system NAME: its own files (what it wrote, its copies of wrapped
layers) and its record, so that 'bincastle gc' may remove the layers only it
needed. Refused while the system runs. Its definition and layers stay.
)";

const char* const fork_usage = R"(usage: bincastle fork NAME NEW

Copies the system NAME's own files (what it wrote, its copies of wrapped layers) to
a new system NEW, which 'bincastle run --system NEW DIR' enters with the same
definition: try something there, and 'bincastle rm NEW' throws it away. Refused
while NAME runs, or when NEW exists.
)";

const char* const ps_usage = R"(usage: bincastle ps

Lists the systems that run: name, the pid of the bincastle that started and waits
for each, when it was entered, and the command it runs.
)";

const char* const stop_usage = R"(usage: bincastle stop [--timeout SECONDS] NAME...

Ends each running system NAME: SIGTERM to the bincastle that started it, which
passes it on to the system's command; SIGKILL after SECONDS (default 10) if the
system has not ended, which ends everything in it.
)";

const char* const exec_usage = R"(usage: bincastle exec [--system NAME] [--tty|--no-tty] -- CMD [ARG...]

Runs CMD in a running system: in its namespaces, root, working directory and
environment, under its seccomp filter, as its root; with a pty from the system when
stdin is a terminal (or --tty). Without --system, the one system that runs. The exit
status is CMD's; bincastle's own failures are one line and 125. On the host only.
)";

std::string human_size(std::uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
        value /= 1024;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
    return text;
}

std::string local_time(const std::optional<std::time_t>& when) {
    if (!when) return "-";
    std::tm parts{};
    ::localtime_r(&*when, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M", &parts);
    return text;
}

int list(const Caller& caller) {
    const auto systems = list_systems(Store::default_root());
    std::size_t width = 4;
    for (const auto& system : systems) width = std::max(width, system.name.size());
    const int name_width = static_cast<int>(width);
    ::dprintf(caller.stdio[1], "%-*s  %-7s  %-16s  %10s  %s\n", name_width, "NAME", "RUNNING", "LAST USED", "SIZE",
              "ORIGIN");
    for (const auto& system : systems) {
        const std::string size = (system.bytes_partial ? ">" : "") + human_size(system.bytes);
        ::dprintf(caller.stdio[1], "%-*s  %-7s  %-16s  %10s  %s\n", name_width, system.name.c_str(),
                  system.running ? "yes" : "no", local_time(system.last_used).c_str(), size.c_str(),
                  system.origin.empty() ? "-" : system.origin.c_str());
    }
    return 0;
}

int list_running(const Caller& caller) {
    std::vector<SystemInfo> running;
    for (auto& system : list_systems(Store::default_root()))
        if (system.running) running.push_back(std::move(system));
    std::size_t width = 4;
    for (const auto& system : running) width = std::max(width, system.name.size());
    const int name_width = static_cast<int>(width);
    ::dprintf(caller.stdio[1], "%-*s  %8s  %-16s  %s\n", name_width, "NAME", "PID", "SINCE", "COMMAND");
    for (const auto& system : running)
        ::dprintf(caller.stdio[1], "%-*s  %8s  %-16s  %s\n", name_width, system.name.c_str(),
                  system.pid ? std::to_string(*system.pid).c_str() : "-", local_time(system.last_used).c_str(),
                  system.command.c_str());
    return 0;
}

int stop(const std::vector<std::string>& args, const Caller& caller) {
    std::chrono::milliseconds grace = std::chrono::seconds(10);
    std::vector<std::string> names;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--timeout" || args[i].starts_with("--timeout=")) {
            std::string value = args[i] == "--timeout" ? (i + 1 < args.size() ? args[++i] : "") : args[i].substr(10);
            double seconds = -1;
            auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
            if (error != std::errc() || end != value.data() + value.size() || seconds < 0 || seconds > 86400)
                throw Error("--timeout " + value + ": expected seconds", "see 'bincastle stop --help'");
            grace = std::chrono::milliseconds(static_cast<long>(seconds * 1000));
        } else if (args[i].starts_with('-')) {
            throw Error("unknown option " + args[i] + " to stop", "see 'bincastle stop --help'");
        } else {
            names.push_back(args[i]);
        }
    }
    if (names.empty()) throw Error("stop: which system? (bincastle stop NAME...)", "see 'bincastle ps'");
    for (const auto& name : names) {
        bool graceful = stop_system(Store::default_root(), name, grace);
        ::dprintf(caller.stdio[2], graceful ? "bincastle: stopped %s\n" : "bincastle: killed %s (it outlived --timeout)\n",
                  name.c_str());
    }
    return 0;
}

int exec(const std::vector<std::string>& args, const Caller& caller) {
    std::optional<std::string> name;
    std::optional<bool> tty;
    std::vector<std::string> command;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--") {
            command.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
            break;
        }
        if (arg == "--system" && i + 1 < args.size()) name = args[++i];
        else if (arg.starts_with("--system=")) name = arg.substr(9);
        else if (arg == "--tty") tty = true;
        else if (arg == "--no-tty") tty = false;
        else if (arg.starts_with('-')) throw Error("unknown option " + arg + " to exec", "see 'bincastle exec --help'");
        else {
            command.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
            break;
        }
    }
    if (command.empty()) throw Error("exec: no command (bincastle exec [--system NAME] -- CMD...)", "see 'bincastle exec --help'");
    const auto store_root = Store::default_root();
    if (!name) {
        std::vector<std::string> running;
        for (const auto& system : list_systems(store_root))
            if (system.running) running.push_back(system.name);
        if (running.size() != 1)
            throw Error(running.empty() ? "no system is running" : "more than one system runs: which one?",
                        "bincastle exec --system NAME (see 'bincastle ps')");
        name = running.front();
    }
    if (caller.stdio != std::array<int, 3>{0, 1, 2}) throw Error("exec runs on the host only");
    const bool on_terminal = ::isatty(STDIN_FILENO) == 1;
    if (tty.value_or(false) && !on_terminal) throw Error("--tty: standard input is not a terminal");
    return exec_in_system(store_root, *name, command, tty.value_or(on_terminal));
}

}  // namespace

bool is_system_verb(const std::string& verb) {
    return verb == "systems" || verb == "rm" || verb == "fork" || verb == "ps" || verb == "stop" || verb == "exec";
}

int run_system_verb(const std::string& verb, const std::vector<std::string>& args, const Caller& caller) {
    for (const auto& arg : args) {
        if (arg == "-h" || arg == "--help") {
            const char* usage = verb == "systems" ? systems_usage
                                : verb == "rm"    ? rm_usage
                                : verb == "fork"  ? fork_usage
                                : verb == "ps"    ? ps_usage
                                : verb == "exec"  ? exec_usage
                                                  : stop_usage;
            ::dprintf(caller.stdio[1], "%s", usage);
            return 0;
        }
        if (arg == "--") break;
    }
    if (verb == "exec") return exec(args, caller);
    if (verb == "stop") return stop(args, caller);
    for (const auto& arg : args)
        if (arg.starts_with('-')) throw Error("unknown option " + arg + " to " + verb, "see 'bincastle " + verb + " --help'");
    if (verb == "ps") {
        if (!args.empty()) throw Error("unexpected argument " + args[0] + " to ps", "see 'bincastle ps --help'");
        return list_running(caller);
    }
    const auto store_root = Store::default_root();
    if (verb == "systems") {
        if (!args.empty()) throw Error("unexpected argument " + args[0] + " to systems", "see 'bincastle systems --help'");
        return list(caller);
    }
    if (verb == "rm") {
        if (args.empty()) throw Error("rm: which system? (bincastle rm NAME...)", "see 'bincastle systems'");
        for (const auto& name : args) {
            remove_system(store_root, name);
            ::dprintf(caller.stdio[2], "bincastle: removed system %s\n", name.c_str());
        }
        return 0;
    }
    if (args.size() != 2) throw Error("fork takes two names: the system, and the new one", "see 'bincastle fork --help'");
    fork_system(store_root, args[0], args[1]);
    ::dprintf(caller.stdio[2], "bincastle: system %s is a copy of %s; enter it with 'bincastle run --system %s DIR'\n",
              args[1].c_str(), args[0].c_str(), args[1].c_str());
    return 0;
}

}  // namespace bincastle::driver
