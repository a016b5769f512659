// bincastle::main: the verbs of a definition program.

#include "cli/build_options_parser.hpp"
#include "cli/verify_command.hpp"
#include "store/store.hpp"
#include "util/file_io.hpp"
#include "util/shared_names.hpp"

#include <bincastle/build.hpp>
#include <bincastle/container.hpp>
#include <bincastle/error.hpp>
#include <bincastle/main.hpp>
#include <bincastle/plan.hpp>
#include <bincastle/progress.hpp>
#include <bincastle/sandbox_command.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <exception>
#include <new>
#include <set>
#include <unistd.h>

namespace fs = std::filesystem;

// A definition's own code runs before bincastle::main, where nothing catches what it
// throws: say it in one line and exit as bincastle's own failures do, instead of
// std::terminate's abort. The driver links every definition with this symbol named
// (-u), so that even a program that never reaches bincastle::main has it.
extern "C" [[noreturn]] void bincastle_report_uncaught() noexcept {
    // What the definition printed comes first, as it would at a normal exit.
    std::fflush(nullptr);
    try {
        if (auto exception = std::current_exception()) std::rethrow_exception(exception);
        std::fputs("bincastle: the definition ended through std::terminate\n", stderr);
    } catch (const std::bad_alloc&) {
        std::fputs("bincastle: the definition ran out of memory\n", stderr);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "bincastle: the definition failed: %s\n", error.what());
    } catch (...) {
        std::fputs("bincastle: the definition threw something that is not a std::exception\n", stderr);
    }
    std::fflush(stderr);
    std::_Exit(bincastle::container::exit_setup_failed);
}

namespace {
const auto installed_terminate_handler = std::set_terminate(bincastle_report_uncaught);
}  // namespace

namespace bincastle {

namespace {

using cli::BuildCommandLine;
using cli::parse_build_option;

const char* const usage = R"(usage: %s [VERB] [OPTIONS] [-- CMD [ARG...]]

Builds the system this program defines, as cached layers, and runs it.

Verbs:
  run        build what is missing, then run the system (the default); CMD replaces
             the system's RunArgs
  build      build what is missing
  export     build what is missing, then write the system out: --format oci (an OCI
             image layout, one layer per layer), tar (one tarball of the merged
             system) or dir (the merged system); -o PATH; --push REF
  plan       print the plan: every layer's recipe, as JSON (-o FILE: write it there)
  keys       print each layer's key and name
  graph      print the layer graph in Graphviz dot
  sources    print "URL SHA256" for each pinned archive the graph fetches (for a mirror)
  gc         remove every layer that no system built with this store needs
  verify     check every layer in the store against what it held when it was
             committed; --repair removes the damaged ones (see 'verify --help')
  clean      remove the whole store
  sandbox    run a command in a rootless container (see 'sandbox --help')

Options:
  -j N                   build N layers at once (default: the number of CPUs)
  -v, --verbose          show build output, each line prefixed with its layer
  --explain              say why each layer is built: what changed since it was
                         last built in this store
  --progress=FORMAT      auto (tty on a terminal, else plain), tty, plain, or json
                         (one JSON object per line)
  --import-cache REF     pull layers from an OCI registry (repeatable)
  --export-cache REF     push built layers to an OCI registry
  --insecure-registry    plain http to registries that are not on loopback
  --format FORMAT        export: oci (default), tar or dir
  -o, --output PATH      export: where to write it
  --compression TYPE     export: gzip (the OCI default), zstd, or none (the tar default)
  --push REF             export: push the OCI image to a registry (host[:port]/repo[:tag])
  -h, --help             this text

The store is ${BINCASTLE_HOME:-$HOME/.bincastle}. Exit status: the system command's
own; 125 when a build or the container set-up failed.
)";

struct Options {
    std::string verb = "run";
    BuildCommandLine build;
    std::vector<std::string> command;
    bool help = false;
};

Options parse(const std::vector<std::string>& args) {
    Options options;
    size_t i = 0;
    if (!args.empty() && args[0][0] != '-') options.verb = args[i++];
    for (; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--") {
            options.command.assign(args.begin() + static_cast<long>(i) + 1, args.end());
            break;
        }
        if (arg == "-h" || arg == "--help") options.help = true;
        else if (!parse_build_option(args, i, true, options.build)) throw Error("unknown option " + arg, "see --help");
    }
    if (!options.command.empty() && options.verb != "run")
        throw Error("a command after '--' goes with 'run' only");
    return options;
}

// What a definition program is told by whoever started it, read once.
struct Environment {
    fs::path definition_dir;
    std::string system_name;
    std::string inside_driver;
    std::string supervisor_socket;
    std::optional<std::string> term;
    SourceSettings sources;
    bool fuse_overlay = false;
};

std::string variable(const char* name) {
    const char* value = std::getenv(name);
    return value ? value : "";
}

Environment read_environment(const std::source_location& caller, const std::string& root_name) {
    Environment environment;
    environment.definition_dir = variable(names::definition_dir_variable);
    if (environment.definition_dir.empty()) environment.definition_dir = fs::absolute(caller.file_name()).parent_path();
    // BINCASTLE_SYSTEM names the system (inside a system, the one it runs in);
    // otherwise it is named after its root layer.
    environment.system_name = variable(names::system_variable);
    if (environment.system_name.empty()) environment.system_name = root_name;
    environment.inside_driver = variable(names::inside_driver_variable);
    environment.supervisor_socket = variable(names::socket_variable);
    if (const char* term = std::getenv("TERM")) environment.term = term;
    environment.sources = source_settings_from_environment();
    environment.fuse_overlay = variable(names::overlay_variable) == "fuse";
    return environment;
}

// BINCASTLE_OVERRIDE_<name> of each overridable layer that has one.
std::map<std::string, fs::path> read_overrides(const Plan& plan) {
    std::map<std::string, fs::path> overrides;
    for (const PlanLayer& layer : plan.layers) {
        if (!layer.overridable) continue;
        std::string dir = variable(names::override_variable(layer.name).c_str());
        if (!dir.empty()) overrides[layer.name] = dir;
    }
    return overrides;
}

int main_verbs(int argc, char** argv, const Layer& system, const std::source_location& caller) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (!args.empty() && args[0] == "sandbox") return cli::sandbox_main({args.begin() + 1, args.end()});
    // The store's own verb: no plan, no source read.
    if (!args.empty() && args[0] == "verify")
        return cli::verify_main(argv[0], {args.begin() + 1, args.end()}, default_store_root(), STDOUT_FILENO, STDERR_FILENO);
    Options options = parse(args);
    if (options.help) {
        std::printf(usage, argv[0]);
        return 0;
    }
    static const std::set<std::string> verbs = {"run", "build", "export", "plan", "keys", "graph", "sources", "gc", "clean"};
    if (!verbs.count(options.verb)) throw Error("unknown verb '" + options.verb + "'", "see --help");
    Plan plan = make_plan(system);
    if (options.verb == "plan") {
        // With -o, for the driver: the program's stdout stays the user's.
        if (const auto& output = options.build.export_request.output) write_new_file(output->string(), plan_to_json(plan));
        else std::fputs(plan_to_json(plan, PlanStyle::indented).c_str(), stdout);
        return 0;
    }
    if (options.verb == "graph") {
        std::fputs(plan_to_dot(plan).c_str(), stdout);
        return 0;
    }
    if (options.verb == "sources") {
        std::fputs(plan_archives(plan).c_str(), stdout);
        return 0;
    }
    if (options.verb == "clean") {
        // Before anything reads a source: clean must work whatever state they are in.
        Store store(default_store_root());
        store.clean();
        std::fprintf(stderr, "removed %s\n", store.root().c_str());
        return 0;
    }
    Environment environment = read_environment(caller, plan.system);
    BuildOptions build_options;
    build_options.store_root = default_store_root();
    build_options.definition_dir = environment.definition_dir;
    build_options.overrides = read_overrides(plan);
    build_options.jobs = options.build.jobs;
    // Each build runs `sandbox`: from the static driver when BINCASTLE_INSIDE_DRIVER
    // names it (it starts in a millisecond; bench/graph does so), else from this
    // program (which first builds its whole graph again).
    build_options.sandbox_program = !environment.inside_driver.empty() ? environment.inside_driver : "/proc/self/exe";
    build_options.import_caches = options.build.import_caches;
    build_options.export_cache = options.build.export_cache;
    build_options.insecure_registry = options.build.insecure_registry;
    if (options.build.slurm)
        throw Error("--executor slurm is the driver's: bincastle build --executor slurm DIR",
                    "a cluster job runs 'bincastle build-layer', which a definition program has not");
    build_options.system_name = environment.system_name;
    build_options.sources = environment.sources;
    build_options.explain = options.build.explainer(STDERR_FILENO);

    if (options.verb == "keys") {
        std::vector<Key> keys = plan_keys(plan, build_options);
        for (std::size_t i = 0; i < plan.layers.size(); ++i)
            std::printf("%s %s\n", keys[i].hex().c_str(), plan.layers[i].name.c_str());
        return 0;
    }
    if (options.verb == "gc") {
        std::size_t removed = collect_garbage(build_options, &plan);
        std::fprintf(stderr, "removed %zu layers\n", removed);
        return 0;
    }
    std::optional<BuiltSystem> built;
    {
        // Gone (its ticker thread too) before the container starts: run clones this
        // process, which must then have no other thread.
        auto progress = make_progress_view(options.build.progress_on(STDERR_FILENO), options.build.verbose, stderr);
        built = build(plan, build_options, *progress);
    }
    if (!built) return container::exit_setup_failed;
    if (options.verb == "build") return 0;
    if (options.verb == "export") {
        export_system(*built, options.build.export_request);
        return 0;
    }
    EntryOptions entry_options{options.command, environment.inside_driver, environment.supervisor_socket,
                               environment.term, ::isatty(STDIN_FILENO) == 1,
                               environment.definition_dir.string() + " (its program run directly)"};
    SystemEntry entry = prepare_entry(*built, entry_options);
    entry.spec.forward_signals = true;
    entry.started(static_cast<int>(::getpid()));
    entry.spec.fuse_overlay = environment.fuse_overlay;
    return container::run(entry.spec);
}

}  // namespace

int main(int argc, char** argv, const Layer& system, std::source_location caller) {
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGCHLD, SIG_DFL);
    try {
        return main_verbs(argc, argv, system, caller);
    } catch (const Error& error) {
        std::fprintf(stderr, "%s: %s%s%s\n", argv[0], error.what(), error.hint().empty() ? "" : "; ",
                     error.hint().c_str());
        return container::exit_setup_failed;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "%s: out of memory\n", argv[0]);
        return container::exit_setup_failed;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "%s: %s\n", argv[0], error.what());
        return container::exit_setup_failed;
    }
}

}  // namespace bincastle
