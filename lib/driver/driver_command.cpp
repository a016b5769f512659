#include "driver/driver_command.hpp"

#include "driver/definition_compiler.hpp"
#include "driver/host_tool_sandbox.hpp"
#include "util/shared_names.hpp"

#include <bincastle/error.hpp>
#include <bincastle/sandbox_command.hpp>

#include <charconv>
#include <cstdlib>
#include <stdlib.h>
#include <unistd.h>

extern char** environ;

namespace fs = std::filesystem;

namespace bincastle::driver {

namespace {

const char* const run_usage = R"(usage: bincastle run [OPTIONS] DIR [SUBDIR] [-- CMD [ARG...]]
       bincastle run [OPTIONS] GIT-URL REF [SUBDIR] [-- CMD [ARG...]]

Compiles the system definition in DIR (or SUBDIR of it), or in a git repository at
REF (a branch, tag or commit; https, ssh, file:// or a local path), builds the layers
that are missing and enters the system: its RunArgs, or CMD. The exit status is the
command's own; 125 when bincastle failed.

Options:
  --system NAME          the system to enter (its files persist between runs);
                         default: named after the source and SUBDIR
  --trust-inside         as root: let processes in the system build and start
                         systems through /bincastle (on for other users; see below)
  --net none|user|bridge|host  the system's network. none (the default): its own
                         loopback only. user: user-mode networking through slirp4netns,
                         for ordinary users (tap0 10.0.2.100; the host is 10.0.2.2, DNS
                         10.0.2.3). bridge (root): eth0 on the host's bridge bincastle0
                         (10.89.0.1/24). host: the host's network. Builds have loopback
                         only.
  -p [ADDR:]HOST:PORT    (--net user) forward the host's TCP port HOST (on ADDR,
                         default 127.0.0.1) to PORT inside; repeatable
  --net-host-loopback    (--net user) let 10.0.2.2 reach the host's 127.0.0.1
  --boot                 start the system's own /sbin/init as pid 1 instead of its
                         RunArgs, its console on this terminal; 'bincastle stop'
                         sends it SIGTERM to shut down. The exit status is 129 when
                         it rebooted, 130 when it powered off or halted
  --evaluation-timeout S how long the definition may take to evaluate (default 60)
  -j N                   build N layers at once (default: the number of CPUs)
  -v, --verbose          show build output, each line prefixed with its layer
  --explain              say why each layer is built: what changed since it was
                         last built in this store (its script, an env value, a file
                         of its source, which dependency)
  --progress=FORMAT      auto, tty, plain, or json (one JSON object per line)
  --import-cache REF     pull layers from an OCI registry (repeatable)
  --export-cache REF     push built layers to an OCI registry
  --insecure-registry    plain http to registries beyond loopback
  --executor local|slurm where layers with a build script are built: here (the
                         default), or each as a job of the Slurm cluster that sbatch
                         reaches, running 'bincastle build-layer' on a node; the
                         layers travel through --export-cache, which must be given
  --slurm-partition P    (slurm) submit to partition P
  --slurm-option ARG     (slurm) pass ARG to sbatch, e.g. --slurm-option=--cpus-per-task=4;
                         repeatable
  --slurm-node-store DIR (slurm) the jobs' store on the nodes (default: their
                         ${BINCASTLE_HOME:-$HOME/.bincastle})
  -h, --help             this text

Inside the system, /bincastle asks this bincastle, which stays behind, to compile,
build and start further systems: code running as the system's root can thereby run
code on the host as you. That is the point of the loop, and the reason root must say
--trust-inside to allow it.
)";

const char* const build_usage = R"(usage: bincastle build [OPTIONS] DIR [SUBDIR]
       bincastle build [OPTIONS] GIT-URL REF [SUBDIR]

Compiles the definition and builds the layers that are missing, without entering
the system. Options as for 'bincastle run --help'.
)";

const char* const graph_usage = R"(usage: bincastle graph DIR [SUBDIR]
       bincastle graph GIT-URL REF [SUBDIR]

Prints the definition's layer graph in Graphviz dot: solid edges are Dep, dashed
BuildDep, dotted RunDep; a label is a MountDir.
)";

const char* const plan_usage = R"(usage: bincastle plan DIR [SUBDIR]
       bincastle plan GIT-URL REF [SUBDIR]

Prints the definition's plan: every layer the system reaches, dependencies first,
with its source, dependencies (build, run, mount dir), env, script, scratch and
output dirs, run args and working dir, and flags, as JSON (schema: the comment at the
top of include/bincastle/plan.hpp). Nothing is built.
)";

const char* const export_usage = R"(usage: bincastle export [OPTIONS] DIR [SUBDIR]
       bincastle export [OPTIONS] GIT-URL REF [SUBDIR]

Compiles the definition, builds the layers that are missing, and writes the system
out. Two exports of the same system are byte-identical.

Options (and those of 'bincastle run --help'):
  --format oci|tar|dir   an OCI image layout with one layer per bincastle layer and
                         the system's RunArgs, env and working directory in its config
                         (default); one tarball of the merged system; or the merged
                         system as a directory
  -o, --output PATH      where to write it (it must not exist)
  --compression TYPE     gzip (the OCI default: what every OCI tool reads), zstd, or
                         none (the tar default)
  --push REF             push the OCI image to a registry (host[:port]/repo[:tag]);
                         plain http for loopback, or with --insecure-registry
)";

// A directory the caller named, as the host reaches it.
std::string host_path(const Origin& origin, const std::string& path) {
    fs::path absolute = (fs::path(path).is_absolute() ? fs::path(path) : origin.cwd / path).lexically_normal();
    return origin.host_dir ? origin.host_dir(absolute.string()).string() : absolute.string();
}

constexpr std::string_view file_scheme = "file://";

}  // namespace

const char* definition_command_usage(const std::string& verb) {
    return verb == "build" ? build_usage : verb == "graph" ? graph_usage : verb == "plan" ? plan_usage : verb == "export" ? export_usage : run_usage;
}

// The sandbox's parsers, with this command's help in their errors.
container::Network network_option(const std::string& text) {
    try {
        return cli::parse_network(text);
    } catch (const Error& error) {
        throw Error(error.what(), "see 'bincastle run --help'");
    }
}

container::PortForward port_option(const std::string& option, const std::string& text) {
    try {
        return cli::parse_port_forward(option, text);
    } catch (const Error& error) {
        throw Error(error.what(), "see 'bincastle run --help'");
    }
}

DefinitionCommand parse_definition_command(const std::string& verb, const std::vector<std::string>& args) {
    DefinitionCommand command;
    command.verb = verb;
    auto value = [&](std::size_t& i, const std::string& option) {
        if (i + 1 >= args.size()) throw Error(option + " needs a value", "see 'bincastle " + verb + " --help'");
        return args[++i];
    };
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--") {
            if (verb != "run") throw Error("a command after '--' goes with 'run' only");
            command.command.assign(args.begin() + static_cast<long>(i) + 1, args.end());
            if (command.command.empty()) throw Error("no command after '--'");
            break;
        }
        if (arg == "-h" || arg == "--help") {
            command.help = true;
        } else if (arg == "--trust-inside") {
            command.trust_inside = true;
        } else if (arg == "--evaluation-timeout" || arg.starts_with("--evaluation-timeout=")) {
            std::string text = arg == "--evaluation-timeout" ? value(i, arg) : arg.substr(arg.find('=') + 1);
            unsigned seconds = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
            if (ec != std::errc() || end != text.data() + text.size() || seconds == 0)
                throw Error("--evaluation-timeout " + text + ": expected a number of seconds above 0");
            command.evaluation_timeout = std::chrono::seconds(seconds);
        } else if (verb == "run" && (arg == "--net" || arg.starts_with("--net="))) {
            command.network = network_option(arg == "--net" ? value(i, arg) : arg.substr(6));
        } else if (verb == "run" && (arg == "-p" || arg == "--publish")) {
            command.ports.push_back(port_option(arg, value(i, arg)));
        } else if (verb == "run" && arg == "--net-host-loopback") {
            command.host_loopback = true;
        } else if (verb == "run" && arg == "--boot") {
            command.boot = true;
        } else if (arg == "--system") {
            command.system = value(i, arg);
        } else if (arg.starts_with("--system=")) {
            command.system = arg.substr(9);
        } else if (cli::parse_build_option(args, i, verb == "export", command.build)) {
            continue;
        } else if (arg.starts_with("-") && arg.size() > 1) {
            throw Error("unknown option " + arg, "see 'bincastle " + verb + " --help'");
        } else {
            command.positionals.push_back(arg);
        }
    }
    if (command.boot && !command.command.empty())
        throw Error("--boot starts the system's own /sbin/init: not with a command", "see 'bincastle run --help'");
    if (command.network != container::Network::user && (!command.ports.empty() || command.host_loopback))
        throw Error("-p and --net-host-loopback need --net user", "see 'bincastle run --help'");
    if (command.system) {
        const std::string& name = *command.system;
        if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
            throw Error("--system " + name + ": a name, not a path");
    }
    return command;
}

ProgramLaunch prepare_program(const DefinitionCommand& command, const Origin& origin, const Toolchain& toolchain,
                              const fs::path& store_root, int output_fd) {
    std::vector<std::string> positionals = command.positionals;
    std::string inside_origin;
    if (!positionals.empty() && origin.host_dir) {
        // Paths and file:// URLs from inside a system name its files, not the host's.
        std::string& first = positionals[0];
        if (first.starts_with(file_scheme)) {
            inside_origin = first;
            first = std::string(file_scheme) + host_path(origin, first.substr(file_scheme.size()));
        } else if (!is_url(first)) {
            inside_origin = (origin.cwd / first).lexically_normal().string();
            first = host_path(origin, first);
        }
    } else if (!positionals.empty() && !is_url(positionals[0])) {
        positionals[0] = host_path(origin, positionals[0]);
    }
    DefinitionSource source = resolve_definition_source(positionals, store_root, origin.cwd);
    // Named after the source as the user inside knows it.
    if (!inside_origin.empty()) source.origin = inside_origin;
    // The compiler reads the definition's code: it runs sandboxed, with the host's
    // environment but bincastle's.
    std::vector<std::string> tool_env;
    for (char** entry = environ; *entry; ++entry)
        if (!std::string_view(*entry).starts_with("BINCASTLE_")) tool_env.emplace_back(*entry);
    auto sandboxed = [&](const CompilerCommand& compiler) {
        HostToolRun run;
        run.argv = compiler.argv;
        run.env = tool_env;
        run.cwd = compiler.cwd;
        run.read_only = compiler.read_only;
        run.writable = {compiler.writable};
        run.stdio = {STDIN_FILENO, compiler.output_fd, compiler.output_fd};
        return run_host_tool(run, toolchain.inside_driver).status;
    };
    CompiledDefinition compiled =
        compile_definition(source.root, source.subdir, toolchain, store_root / "definitions" / "bin", output_fd, sandboxed);

    ProgramLaunch launch;
    launch.system = command.system.value_or(source.default_system_name(origin.parent_system));
    launch.origin = source.origin;
    if (source.ref) launch.origin += " " + *source.ref;
    if (!source.subdir.empty()) launch.origin += " " + source.subdir;
    if (!origin.parent_system.empty()) launch.origin += " (from inside " + origin.parent_system + ")";
    launch.program_lock = std::move(compiled.lock);
    launch.compiled = compiled.compiled;
    launch.source_root = source.root;
    launch.definition_dir = source.definition_dir();
    launch.argv = {compiled.program.string(), "plan"};
    // export's output, named by the caller. From inside a system it is written on the
    // host first, then into the system (Origin::write_back).
    if (const auto& output = command.build.export_request.output) {
        fs::path path = (output->is_absolute() ? *output : origin.cwd / *output).lexically_normal();
        if (origin.write_back) {
            fs::create_directories(store_root / "inside");
            std::string staging = (store_root / "inside" / "export.XXXXXX").string();
            if (!::mkdtemp(staging.data())) throw SysError("mkdtemp", staging);
            launch.staged_output = {fs::path(staging) / path.filename(), path.string()};
            path = launch.staged_output->first;
        }
        launch.export_output = path;
    }

    // The program only evaluates, and purely: it sees no variable of the caller's, so
    // that its plan depends on nothing but the program and where it runs (and can be
    // cached on that), and nothing of the caller's leaks into it.
    launch.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/nonexistent"};
    for (char** entry = environ; *entry; ++entry) {
        std::string_view variable(*entry);
        auto equals = variable.find('=');
        if (!origin.host_dir && variable.starts_with(names::override_prefix) && equals != std::string_view::npos)
            launch.overrides[std::string(variable.substr(0, equals))] = std::string(variable.substr(equals + 1));
    }
    // From inside, the caller's overrides, seen from the host.
    for (const auto& variable : origin.overrides) {
        auto equals = variable.find('=');
        if (equals == std::string::npos) continue;
        launch.overrides[variable.substr(0, equals)] = host_path(origin, variable.substr(equals + 1));
    }
    return launch;
}

}  // namespace bincastle::driver
