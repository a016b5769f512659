#include "driver/host_verbs.hpp"

#include "cli/verify_command.hpp"
#include "driver/definition_compiler.hpp"
#include "driver/definition_evaluator.hpp"
#include "driver/layer_job_verb.hpp"
#include "driver/plan_cache.hpp"
#include "driver/prestarted_sandbox.hpp"
#include "driver/source_confinement.hpp"
#include "driver/system_verbs.hpp"
#include "driver/toolchain.hpp"
#include "store/store.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"
#include "util/shared_names.hpp"
#include "util/signal_scope.hpp"

#include <bincastle/build.hpp>
#include <bincastle/error.hpp>
#include <bincastle/sandbox_command.hpp>

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle::driver {

namespace {

// A stdio stream on a duplicate of `fd`, closed when dropped (fd stays open).
class OutputFile {
public:
    explicit OutputFile(int fd) {
        int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0) throw SysError("fcntl(F_DUPFD_CLOEXEC)", "progress output");
        file_ = ::fdopen(copy, "w");
        if (!file_) {
            ::close(copy);
            throw SysError("fdopen", "progress output");
        }
    }
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;
    ~OutputFile() { std::fclose(file_); }
    std::FILE* get() const { return file_; }

private:
    std::FILE* file_;
};

int export_and_deliver(const BuiltSystem& built, const DefinitionCommand& command, const ProgramLaunch& launch,
                       const Caller& caller) {
    ExportRequest request = command.build.export_request;
    request.output = launch.export_output;
    try {
        export_system(built, request);
        if (launch.staged_output) caller.origin.write_back(launch.staged_output->first, launch.staged_output->second);
    } catch (...) {
        if (launch.staged_output) remove_tree(launch.staged_output->first.parent_path());
        throw;
    }
    if (launch.staged_output) remove_tree(launch.staged_output->first.parent_path());
    return 0;
}

const char* const gc_usage = R"(usage: bincastle gc

Removes every layer that no system built with this store needs any more, and every
build that was left unfinished. The store is ${BINCASTLE_HOME:-$HOME/.bincastle}.
)";

const char* const clean_usage = R"(usage: bincastle clean

Removes the whole store (${BINCASTLE_HOME:-$HOME/.bincastle}): every layer, log,
compiled definition, git clone and system, with the files written in them.
)";

bool wants_help(const std::vector<std::string>& args) {
    for (const auto& arg : args)
        if (arg == "-h" || arg == "--help") return true;
    return false;
}

void refuse_arguments(const std::string& verb, const std::vector<std::string>& args) {
    if (!args.empty()) throw Error("unexpected argument " + args[0] + " to " + verb, "see 'bincastle " + verb + " --help'");
}

int store_verb(const std::string& verb, const std::vector<std::string>& args, const Caller& caller) {
    if (wants_help(args)) {
        ::dprintf(caller.stdio[1], "%s", verb == "gc" ? gc_usage : clean_usage);
        return 0;
    }
    refuse_arguments(verb, args);
    Store store(Store::default_root());
    if (verb == "clean") {
        store.clean();
        ::dprintf(caller.stdio[2], "bincastle: removed %s\n", store.root().c_str());
        return 0;
    }
    std::size_t removed = store.gc();
    ::dprintf(caller.stdio[2], "bincastle: removed %zu layers\n", removed);
    return 0;
}

// The definition's plan: cached (a warm run evaluates nothing), or evaluated by its
// program. A program found in the cache that cannot be started (damaged where its
// entry's check does not sample) is dropped and compiled again, once.
std::optional<Plan> plan_of(ProgramLaunch& launch, const DefinitionCommand& command, const Caller& caller,
                            const Toolchain& toolchain, const fs::path& store_root) {
    PlanCache plans(store_root / "definitions" / "plans");
    if (auto cached = plans.find(PlanCache::key_of(launch))) return cached;
    Evaluation evaluation = evaluate_definition(launch, caller.stdio, toolchain.inside_driver, {command.evaluation_timeout});
    if (evaluation.not_started && !launch.compiled) {
        ::dprintf(caller.stdio[2], "bincastle: the compiled definition in the cache cannot be started: compiling it again\n");
        const fs::path program = launch.argv.at(0);
        launch.program_lock.reset();
        discard_compiled(program);
        if (launch.staged_output) remove_tree(launch.staged_output->first.parent_path());
        launch = prepare_program(command, caller.origin, toolchain, store_root, caller.stdio[2]);
        evaluation = evaluate_definition(launch, caller.stdio, toolchain.inside_driver, {command.evaluation_timeout});
    }
    if (evaluation.not_started)
        throw Error("the compiled definition cannot be started (status " + std::to_string(*evaluation.not_started) +
                        "; the line above says why)",
                    "is " + store_root.string() + " on a filesystem mounted noexec?");
    if (evaluation.plan) plans.store(PlanCache::key_of(launch), *evaluation.plan);
    return evaluation.plan;
}

}  // namespace

int run_host_verb(const std::string& verb, const std::vector<std::string>& args, const Caller& caller) {
    if (verb == "gc" || verb == "clean") return store_verb(verb, args, caller);
    if (verb == "verify") return cli::verify_main("bincastle", args, Store::default_root(), caller.stdio[1], caller.stdio[2]);
    if (verb == "build-layer") return build_layer_verb(args, caller);
    if (is_system_verb(verb)) return run_system_verb(verb, args, caller);
    DefinitionCommand command = parse_definition_command(verb, args);
    if (command.help) {
        ::dprintf(caller.stdio[1], "%s", definition_command_usage(verb));
        return 0;
    }
    Toolchain toolchain = find_toolchain();
    std::optional<PrestartedSandbox> sandbox_process;
    if (verb == "run") sandbox_process.emplace(toolchain.inside_driver, caller.stdio);
    fs::path store_root = default_store_root();
    std::optional<UnblockedSignals> interruptible;
    if (caller.stop_signals) interruptible.emplace(*caller.stop_signals);
    ProgramLaunch launch = prepare_program(command, caller.origin, toolchain, store_root, caller.stdio[2]);
    std::optional<Plan> evaluated = plan_of(launch, command, caller, toolchain, store_root);
    launch.program_lock.reset();
    if (!evaluated) return container::exit_setup_failed;
    const Plan& plan = *evaluated;
    if (verb == "plan" || verb == "graph") {
        write_all(caller.stdio[1], verb == "plan" ? plan_to_json(plan, PlanStyle::indented) : plan_to_dot(plan),
                  "standard output");
        return 0;
    }

    BuildOptions options;
    options.store_root = store_root;
    options.definition_dir = launch.definition_dir;
    for (const PlanLayer& layer : plan.layers) {
        auto dir = launch.overrides.find(names::override_variable(layer.name));
        if (layer.overridable && dir != launch.overrides.end()) options.overrides[layer.name] = dir->second;
    }
    check_local_sources(plan, launch.source_root, launch.definition_dir, options.overrides);
    options.jobs = command.build.jobs;
    options.sandbox_program = toolchain.inside_driver.string();
    options.import_caches = command.build.import_caches;
    options.export_cache = command.build.export_cache;
    options.insecure_registry = command.build.insecure_registry;
    if (command.build.slurm) {
        // The nodes run this driver from where it is here (a shared install).
        options.cluster = ClusterOptions{make_slurm_engine(command.build.slurm_partition, command.build.sbatch_options),
                                         fs::canonical("/proc/self/exe").string(), command.build.node_store};
    }
    options.sources = source_settings_from_environment();
    options.system_name = launch.system;
    options.explain = command.build.explainer(caller.stdio[2]);
    std::optional<BuiltSystem> built;
    {
        // Gone (its ticker thread too) before the system starts.
        OutputFile progress_out(caller.stdio[2]);
        auto progress =
            make_progress_view(command.build.progress_on(caller.stdio[2]), command.build.verbose, progress_out.get());
        built = build(plan, options, *progress);
    }
    if (!built) return container::exit_setup_failed;
    if (verb == "build") return 0;
    if (verb == "export") return export_and_deliver(*built, command, launch, caller);

    // Root's systems reach the host only when root says so; a system started from a
    // trusted one is trusted too.
    bool trusted = ::geteuid() != 0 || command.trust_inside || caller.origin.host_dir;
    EntryOptions entry_options;
    entry_options.command = command.command;
    entry_options.inside_driver = toolchain.inside_driver.string();
    if (trusted) entry_options.supervisor_socket = caller.socket_path;
    entry_options.term = caller.origin.term;
    entry_options.tty = ::isatty(caller.stdio[0]) == 1;
    entry_options.origin = launch.origin;
    entry_options.network = command.network;
    entry_options.ports = command.ports;
    entry_options.host_loopback = command.host_loopback;
    entry_options.boot = command.boot;
    SystemEntry entry = prepare_entry(*built, entry_options);
    cli::SandboxCommand sandbox;
    sandbox.spec = std::move(entry.spec);
    // Nothing outlives the driver, even one killed with SIGKILL.
    sandbox.die_with_parent = true;
    sandbox.expected_parent = static_cast<int>(::getpid());
    interruptible.reset();
    ChildProcess& system = sandbox_process->start(cli::sandbox_args(sandbox));
    entry.started(system.pid());
    return caller.wait(system);
}

}  // namespace bincastle::driver
