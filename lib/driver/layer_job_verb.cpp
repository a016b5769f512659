#include "driver/layer_job_verb.hpp"

#include "build/layer_job.hpp"
#include "cli/build_options_parser.hpp"
#include "util/file_io.hpp"
#include "util/signal_scope.hpp"

#include <bincastle/build.hpp>
#include <bincastle/error.hpp>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle::driver {

namespace {

const char* const usage = R"(usage: bincastle build-layer [OPTIONS] --export-cache REF RECIPE

Builds one layer of a plan, as a job of a cluster runs it ('bincastle build
--executor slurm' submits these): checks that the recipe's key is what its layer and
the keys of its dependencies give (and refuses it otherwise), pulls the layers it is
built on from the caches, builds it in a sandbox and pushes it to --export-cache.
Needs only this program, the recipe, and the registry.

RECIPE is the job's recipe (JSON, from the driver): a file, or - for standard input.

Options:
  --recipe RECIPE        the same, as an option
  --export-cache REF     push the layer here; also pulled from
  --import-cache REF     pull from here too, first (repeatable)
  --insecure-registry    plain http to registries beyond loopback
  --store DIR            the store to build in (default: ${BINCASTLE_HOME:-$HOME/.bincastle})
  -j N                   MAKEFLAGS=-jN (default: the CPUs the job was given)
  -v, --verbose          show build output
  --progress=FORMAT      auto, tty, plain, or json
)";

std::string read_fd(int fd, const std::string& what) {
    std::string text;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SysError("read", what);
        if (n == 0) return text;
        text.append(buffer, static_cast<std::size_t>(n));
    }
}

}  // namespace

int build_layer_verb(const std::vector<std::string>& args, const Caller& caller) {
    // A job is ended with SIGTERM (scancel): it must end this, and its sandbox with it.
    std::optional<UnblockedSignals> interruptible;
    if (caller.stop_signals) interruptible.emplace(*caller.stop_signals);
    cli::BuildCommandLine command;
    // The CPUs Slurm gave the job, when it says.
    if (const char* cpus = std::getenv("SLURM_CPUS_ON_NODE"); cpus && std::atoi(cpus) > 0)
        command.jobs = static_cast<unsigned>(std::atoi(cpus));
    std::optional<std::string> recipe_file;
    fs::path store_root = default_store_root();
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "-h" || arg == "--help") {
            ::dprintf(caller.stdio[1], "%s", usage);
            return 0;
        }
        if ((arg == "--recipe" || arg == "--store") && i + 1 >= args.size())
            throw Error(arg + " needs a value", "see 'bincastle build-layer --help'");
        if (arg == "--recipe") recipe_file = args[++i];
        else if (arg == "--store") store_root = args[++i];
        else if (cli::parse_build_option(args, i, false, command)) continue;
        else if (arg.starts_with("-") && arg != "-")
            throw Error("build-layer: unknown option '" + arg + "'", "see 'bincastle build-layer --help'");
        else if (recipe_file) throw Error("build-layer takes one RECIPE", "see 'bincastle build-layer --help'");
        else recipe_file = arg;
    }
    if (!recipe_file) throw Error("build-layer needs a RECIPE (a file, or - for standard input)");
    if (!command.export_cache) throw Error("build-layer needs --export-cache REF: the layer is pushed there");
    const std::string text =
        *recipe_file == "-" ? read_fd(caller.stdio[0], "the recipe on standard input") : read_file(*recipe_file);
    const JobRecipe recipe = job_recipe_from_json(text);

    LayerJobOptions options;
    options.store_root = store_root;
    options.sandbox_program = fs::canonical("/proc/self/exe").string();
    options.jobs = command.jobs;
    options.import_caches = command.import_caches;
    options.export_cache = *command.export_cache;
    options.insecure_registry = command.insecure_registry;
    auto progress = make_progress_view(command.progress_on(caller.stdio[2]), command.verbose, stderr);
    return build_layer_job(recipe, options, *progress) ? 0 : 1;
}

}  // namespace bincastle::driver
