#pragma once

// The driver's verbs that take a definition (run, build, export, plan, graph): their
// command line, and turning one into the definition program's invocation (fetch,
// compile, cached), which evaluates the definition into its plan.

#include "cli/build_options_parser.hpp"
#include "driver/definition_source.hpp"
#include "driver/toolchain.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/container.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bincastle::driver {

struct DefinitionCommand {
    std::string verb;                          // run, build, export, plan or graph
    std::vector<std::string> positionals;      // SOURCE [REF] [SUBDIR]
    cli::BuildCommandLine build;               // -j, -v, --progress, caches; export's options
    std::optional<std::string> system;         // --system NAME
    bool trust_inside = false;                 // --trust-inside
    std::chrono::seconds evaluation_timeout{60};  // --evaluation-timeout SECONDS
    std::vector<std::string> command;          // after --
    // run: the system's network (--net, -p, --net-host-loopback)
    container::Network network = container::Network::none;
    std::vector<container::PortForward> ports;
    bool host_loopback = false;
    bool boot = false;  // run --boot
    bool help = false;
};

// `args` follow the verb. Throws an Error for an unknown or incomplete option.
DefinitionCommand parse_definition_command(const std::string& verb, const std::vector<std::string>& args);
const char* definition_command_usage(const std::string& verb);

// Where a command comes from: the host, or a system whose directories the host reaches
// through `host_dir` (a mirror of the directory at that path inside; see inside_tree).
struct Origin {
    std::filesystem::path cwd;             // in the caller's view
    std::function<std::filesystem::path(const std::string&)> host_dir;  // null on the host
    std::string parent_system;             // empty on the host
    std::vector<std::string> overrides;    // BINCASTLE_OVERRIDE_*=PATH, in the caller's view
    std::optional<std::string> term;
    // Puts a file or tree written on the host at a path inside; null on the host.
    std::function<void(const std::filesystem::path& host, const std::string& inside)> write_back;
};

// The definition program to start, and how; and what the build of its plan needs.
struct ProgramLaunch {
    std::vector<std::string> argv;  // PROGRAM plan: it evaluates, and writes the plan
    std::vector<std::string> env;  // a fixed one: evaluation is pure
    std::filesystem::path source_root;     // the repository or DIR the definition is in
    std::filesystem::path definition_dir;  // the program's cwd, and what LocalDir paths start from
    std::string system;
    std::string origin;  // where the definition came from, as `bincastle systems` shows it
    UniqueFd program_lock;  // see CompiledDefinition::lock
    bool compiled = false;  // just now, rather than found in the cache
    // BINCASTLE_OVERRIDE_<name> -> the directory on the host, from the caller.
    std::map<std::string, std::filesystem::path> overrides;
    // export -o, as the host reaches it.
    std::optional<std::filesystem::path> export_output;
    // From inside a system: where export writes on the host, and where it goes inside.
    std::optional<std::pair<std::filesystem::path, std::string>> staged_output;
};

// Resolves the source, compiles (or finds) the program, and says how to start it.
// The compiler's messages go to `output_fd`.
ProgramLaunch prepare_program(const DefinitionCommand& command, const Origin& origin, const Toolchain& toolchain,
                              const std::filesystem::path& store_root, int output_fd);

}  // namespace bincastle::driver
