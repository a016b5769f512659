#include <bincastle/sandbox_command.hpp>

#include "util/shared_names.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <optional>
#include <csignal>
#include <sys/prctl.h>
#include <unistd.h>

namespace bincastle::cli {

const char* const sandbox_usage = R"(usage: bincastle sandbox [OPTIONS] [ROOTFS] -- CMD [ARG...]

Runs CMD in a rootless container: new user, mount, pid, uts, ipc, cgroup and
network namespaces, over ROOTFS or an overlay of --layer directories.

  ROOTFS               a directory used as / (or give --layer instead)
  --layer DIR          an overlay lower layer, lowest first; repeatable
  --upper DIR          keep writes here (with --layer); default: writes are discarded
  --fuse-overlay       merge the layers with fuse-overlayfs, not only where the
                       kernel refuses its overlay (also BINCASTLE_OVERLAY=fuse)
  --bind SRC:DST       read-write bind mount; --ro-bind SRC:DST read-only
  --tmpfs DST          a fresh tmpfs
  --hostname NAME      default: bincastle
  --setenv KEY=VALUE   the environment is empty but for these (and a default PATH)
  --chdir DIR          working directory inside (default /)
  --uid N --gid N      ids inside (default 0: the caller maps to root)
  --subids             map a full id range through newuidmap and /etc/subuid
  --net none|user|bridge|host  default none (loopback only); user: user-mode
                       networking through slirp4netns (tap0 10.0.2.100, gateway
                       10.0.2.2, DNS 10.0.2.3), no root needed; bridge (root): eth0
                       on the host's bridge bincastle0 (10.89.0.1/24), an address of
                       its own and a default route; host: the caller's network
  -p, --publish [ADDR:]HOST:CONTAINER  (with --net user) a TCP port on the host
                       (ADDR, default 127.0.0.1) forwarded to one inside; repeatable
  --net-host-loopback  (with --net user) 10.0.2.2 reaches the host's 127.0.0.1 too
  --pids-max N  --memory-max BYTES[K|M|G]  --cpus N
  --tty / --no-tty     default: a pty when stdin is a terminal
  --init               a minimal init as pid 1 that reaps orphans and forwards signals
  --no-leftovers       (with --init) CMD exiting with 0 while processes it started
                       still run (a daemon) is an error: 125, and they are killed
  --boot               CMD is the system's own init (/sbin/init, say): the status
                       is 129 when it rebooted, 130 when it powered off or halted
  --seccomp default|off  default: a seccomp filter refuses (EPERM) the kernel
                       keyrings, bpf, perf_event_open, userfaultfd, modules, kexec,
                       open_by_handle_at, swap, setting the clock, and every call
                       through another architecture's ABI; off: no filter
  --die-with-parent[=PID]  end (and the container with it) when the calling process
                       dies; with PID, also when the caller is not PID (already gone)
  --quiet              no notices (such as which limit mechanism was used)
  --args-fd FD         (alone) read the arguments from FD instead, each ended by a
                       NUL, up to its end; none: exit 0. How the driver starts a
                       sandbox before it knows them.
  -h, --help           this text

Signals bincastle receives (INT TERM HUP QUIT USR1 USR2) go to the container; a
second INT or TERM kills it. A command running as pid 1 without --init ignores
signals it has no handler for.

Exit status: the command's, 128+N if it was killed by signal N, 125 if the
sandbox could not be set up, 126 if CMD cannot be executed, 127 if not found.
)";

namespace {

[[noreturn]] void usage_error(const std::string& message) {
    throw Error(message, "see 'bincastle sandbox --help'");
}

template <typename T>
T parse_number(const std::string& option, const std::string& text) {
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size())
        usage_error(option + ": '" + text + "' is not a valid number");
    return value;
}

std::uint64_t parse_bytes(const std::string& option, const std::string& text) {
    std::string digits = text;
    std::uint64_t scale = 1;
    if (!digits.empty()) {
        switch (digits.back()) {
        case 'k': case 'K': scale = 1ULL << 10; break;
        case 'm': case 'M': scale = 1ULL << 20; break;
        case 'g': case 'G': scale = 1ULL << 30; break;
        default: break;
        }
        if (scale != 1) digits.pop_back();
    }
    return parse_number<std::uint64_t>(option, digits) * scale;
}

container::Mount parse_bind(const std::string& option, const std::string& value,
                            container::Mount::Kind kind) {
    // The target is absolute, so the last ":/" separates it even when SRC has a ':'.
    size_t separator = value.rfind(":/");
    if (separator == std::string::npos || separator == 0)
        usage_error(option + " " + value + ": expected SRC:DST with an absolute DST");
    return {kind, value.substr(0, separator), value.substr(separator + 1)};
}

}  // namespace

// [ADDRESS:]HOST_PORT:CONTAINER_PORT; the address is 127.0.0.1 unless given.
container::PortForward parse_port_forward(const std::string& option, const std::string& text) {
    container::PortForward port;
    std::string rest = text;
    const std::size_t last = rest.rfind(':');
    if (last == std::string::npos) usage_error(option + " " + text + ": expected [ADDRESS:]HOST_PORT:CONTAINER_PORT");
    const std::size_t middle = rest.rfind(':', last - 1);
    if (last > 0 && middle != std::string::npos) {
        port.host_address = rest.substr(0, middle);
        rest = rest.substr(middle + 1);
    }
    const std::size_t colon = rest.find(':');
    port.host_port = parse_number<std::uint16_t>(option, rest.substr(0, colon));
    port.container_port = parse_number<std::uint16_t>(option, rest.substr(colon + 1));
    in_addr address{};
    if (port.host_port == 0 || port.container_port == 0 || ::inet_pton(AF_INET, port.host_address.c_str(), &address) != 1)
        usage_error(option + " " + text + ": expected [ADDRESS:]HOST_PORT:CONTAINER_PORT, an IPv4 address, ports from 1");
    return port;
}

container::Network parse_network(const std::string& text) {
    if (text == "none") return container::Network::none;
    if (text == "host") return container::Network::host;
    if (text == "user") return container::Network::user;
    if (text == "bridge") return container::Network::bridge;
    usage_error("--net " + text + ": expected none, user, bridge or host");
}

namespace {

// The arguments --args-fd names: each ended by a NUL, read to the end of `fd`.
std::vector<std::string> arguments_from(const std::string& fd_text) {
    const int number = parse_number<int>("--args-fd", fd_text);
    if (number < 3) usage_error("--args-fd " + fd_text + ": not stdin, stdout or stderr");
    const UniqueFd fd(number);
    std::string text;
    char buffer[16384];
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SysError("read", "--args-fd " + fd_text);
        if (n == 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
    }
    if (!text.empty() && text.back() != '\0') usage_error("--args-fd " + fd_text + ": the last argument has no NUL");
    std::vector<std::string> args;
    for (std::size_t start = 0; start < text.size();) {
        std::size_t end = text.find('\0', start);
        args.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return args;
}

}  // namespace

SandboxCommand parse_sandbox_args(const std::vector<std::string>& args, bool stdin_is_tty) {
    SandboxCommand command;
    auto& spec = command.spec;
    std::optional<bool> tty;
    bool saw_separator = false;
    size_t i = 0;
    for (; i < args.size(); ++i) {
        std::string arg = args[i];
        if (arg == "--") {
            saw_separator = true;
            ++i;
            break;
        }
        if (arg == "-h" || arg == "--help") {
            command.help = true;
            return command;
        }
        if (arg.size() < 2 || arg[0] != '-') {
            if (!spec.rootfs.empty()) usage_error("unexpected argument '" + arg + "' (is '--' missing?)");
            spec.rootfs = arg;
            continue;
        }
        std::optional<std::string> inline_value;
        if (size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            inline_value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
        }
        auto value = [&]() -> std::string {
            if (inline_value) return *inline_value;
            if (i + 1 >= args.size()) usage_error(arg + " needs a value");
            return args[++i];
        };
        auto flag = [&] {
            if (inline_value) usage_error(arg + " takes no value");
        };

        if (arg == "--layer") spec.layers.push_back(value());
        else if (arg == "--upper") spec.upper = value();
        else if (arg == "--bind") spec.mounts.push_back(parse_bind(arg, value(), container::Mount::Kind::bind));
        else if (arg == "--ro-bind") spec.mounts.push_back(parse_bind(arg, value(), container::Mount::Kind::ro_bind));
        else if (arg == "--tmpfs") spec.mounts.push_back({container::Mount::Kind::tmpfs, "", value()});
        else if (arg == "--hostname") spec.hostname = value();
        else if (arg == "--setenv") {
            std::string entry = value();
            if (entry.find('=') == std::string::npos || entry[0] == '=')
                usage_error("--setenv " + entry + ": expected KEY=VALUE");
            spec.env.push_back(entry);
        } else if (arg == "--chdir") spec.cwd = value();
        else if (arg == "--uid") spec.uid = parse_number<std::uint32_t>(arg, value());
        else if (arg == "--gid") spec.gid = parse_number<std::uint32_t>(arg, value());
        else if (arg == "--subids") { flag(); spec.subids = true; }
        else if (arg == "--net") {
            spec.network = parse_network(value());
        } else if (arg == "-p" || arg == "--publish") {
            spec.ports.push_back(parse_port_forward(arg, value()));
        } else if (arg == "--net-host-loopback") {
            flag();
            spec.host_loopback = true;
        } else if (arg == "--pids-max") {
            auto n = parse_number<std::uint64_t>(arg, value());
            if (n == 0) usage_error("--pids-max must be at least 1");
            spec.limits.pids_max = n;
        } else if (arg == "--memory-max") {
            auto n = parse_bytes(arg, value());
            if (n == 0) usage_error("--memory-max must be more than 0");
            spec.limits.memory_max = n;
        } else if (arg == "--cpus") {
            std::string text = value();
            char* end = nullptr;
            double cpus = std::strtod(text.c_str(), &end);
            if (text.empty() || *end != '\0' || !(cpus > 0) || !std::isfinite(cpus))
                usage_error("--cpus " + text + ": expected a number above 0");
            spec.limits.cpus = cpus;
        } else if (arg == "--tty") { flag(); tty = true; }
        else if (arg == "--no-tty") { flag(); tty = false; }
        else if (arg == "--init") { flag(); spec.init = true; }
        else if (arg == "--no-leftovers") { flag(); spec.no_leftovers = true; }
        else if (arg == "--fuse-overlay") { flag(); spec.fuse_overlay = true; }
        else if (arg == "--boot") { flag(); spec.boot = true; }
        else if (arg == "--quiet") { flag(); command.quiet = true; }
        else if (arg == "--seccomp") {
            std::string mode = value();
            if (mode == "default") spec.seccomp = container::Seccomp::default_filter;
            else if (mode == "off") spec.seccomp = container::Seccomp::off;
            else usage_error("--seccomp " + mode + ": expected default or off");
        } else if (arg == "--die-with-parent") {
            command.die_with_parent = true;
            if (inline_value) command.expected_parent = parse_number<int>(arg, *inline_value);
        }
        else usage_error("unknown option " + arg);
    }
    if (!saw_separator) usage_error("missing '--' before the command");
    for (; i < args.size(); ++i) spec.args.push_back(args[i]);
    if (spec.args.empty()) usage_error("no command after '--'");
    if (spec.rootfs.empty() && spec.layers.empty()) usage_error("give a ROOTFS directory or --layer");
    if (!spec.rootfs.empty() && !spec.layers.empty()) usage_error("give a ROOTFS directory or --layer, not both");
    if (!spec.upper.empty() && spec.layers.empty()) usage_error("--upper needs --layer");
    if (spec.no_leftovers && !spec.init) usage_error("--no-leftovers needs --init");
    if (spec.boot && spec.init) usage_error("--boot runs the system's own init: not with --init");
    if (spec.network != container::Network::user && (!spec.ports.empty() || spec.host_loopback))
        usage_error("-p and --net-host-loopback need --net user");
    spec.tty = tty.value_or(stdin_is_tty);
    spec.forward_signals = true;
    return command;
}

std::vector<std::string> sandbox_args(const SandboxCommand& command) {
    const container::Spec& spec = command.spec;
    std::vector<std::string> args;
    auto add = [&](std::initializer_list<std::string> words) { args.insert(args.end(), words); };
    if (command.die_with_parent)
        args.push_back(command.expected_parent ? "--die-with-parent=" + std::to_string(*command.expected_parent)
                                               : "--die-with-parent");
    for (const auto& layer : spec.layers) add({"--layer", layer});
    if (!spec.upper.empty()) add({"--upper", spec.upper});
    for (const auto& mount : spec.mounts) {
        switch (mount.kind) {
        case container::Mount::Kind::bind: add({"--bind", mount.source + ":" + mount.target}); break;
        case container::Mount::Kind::ro_bind: add({"--ro-bind", mount.source + ":" + mount.target}); break;
        case container::Mount::Kind::tmpfs: add({"--tmpfs", mount.target}); break;
        }
    }
    add({"--hostname", spec.hostname});
    for (const auto& entry : spec.env) add({"--setenv", entry});
    add({"--chdir", spec.cwd, "--uid", std::to_string(spec.uid), "--gid", std::to_string(spec.gid)});
    if (spec.subids) args.push_back("--subids");
    add({"--net", spec.network == container::Network::host     ? "host"
                  : spec.network == container::Network::user   ? "user"
                  : spec.network == container::Network::bridge ? "bridge"
                                                               : "none"});
    for (const auto& port : spec.ports)
        add({"-p", port.host_address + ":" + std::to_string(port.host_port) + ":" + std::to_string(port.container_port)});
    if (spec.host_loopback) args.push_back("--net-host-loopback");
    if (spec.limits.pids_max) add({"--pids-max", std::to_string(*spec.limits.pids_max)});
    if (spec.limits.memory_max) add({"--memory-max", std::to_string(*spec.limits.memory_max)});
    if (spec.limits.cpus) {
        char text[64];
        auto end = std::to_chars(text, text + sizeof text, *spec.limits.cpus).ptr;
        add({"--cpus", std::string(text, end)});
    }
    args.push_back(spec.tty ? "--tty" : "--no-tty");
    if (spec.init) args.push_back("--init");
    if (spec.no_leftovers) args.push_back("--no-leftovers");
    if (spec.fuse_overlay) args.push_back("--fuse-overlay");
    if (spec.boot) args.push_back("--boot");
    args.push_back(spec.seccomp == container::Seccomp::off ? "--seccomp=off" : "--seccomp=default");
    if (command.quiet) args.push_back("--quiet");
    if (!spec.rootfs.empty()) args.push_back(spec.rootfs);
    args.push_back("--");
    args.insert(args.end(), spec.args.begin(), spec.args.end());
    return args;
}

int sandbox_main(const std::vector<std::string>& given) {
    pid_t parent = ::getppid();
    std::vector<std::string> args = given;
    if (given.size() == 2 && given[0] == "--args-fd") {
        args = arguments_from(given[1]);
        if (args.empty()) return 0;
    }
    SandboxCommand command = parse_sandbox_args(args, ::isatty(STDIN_FILENO) == 1);
    // Also for every build a definition or the driver starts through this verb.
    if (const char* overlay = std::getenv(names::overlay_variable); overlay && std::string_view(overlay) == "fuse")
        command.spec.fuse_overlay = true;
    if (command.help) {
        std::fputs(sandbox_usage, stdout);
        return 0;
    }
    if (command.die_with_parent) {
        // A builder killed with -9 must not leave builds writing into its store. It
        // may die before this line runs: the pid it gives says whether it did.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != command.expected_parent.value_or(parent)) return container::exit_setup_failed;
    }
    if (command.quiet) command.spec.notice = [](const std::string&) {};
    return container::run(command.spec);
}

}  // namespace bincastle::cli
