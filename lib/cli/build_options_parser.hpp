#pragma once

// The options that the driver's build verbs and a definition program's verbs share:
// -j, -v, --progress, the remote caches, the executor, and export's.

#include <bincastle/build.hpp>
#include <bincastle/progress.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace bincastle::cli {

struct BuildCommandLine {
    unsigned jobs;  // default: the number of CPUs
    bool verbose = false;
    bool explain = false;  // --explain: why each layer is built
    std::optional<ProgressFormat> progress;  // none: auto (tty on a terminal, else plain)
    std::vector<std::string> import_caches;
    std::optional<std::string> export_cache;
    bool insecure_registry = false;
    bool slurm = false;                       // --executor slurm
    std::string slurm_partition;              // --slurm-partition
    std::vector<std::string> sbatch_options;  // --slurm-option, each
    std::string node_store;                   // --slurm-node-store
    ExportRequest export_request;  // --format, -o, --compression, --push

    BuildCommandLine();
    // The view on `fd`: the chosen one, or tty when `fd` is a terminal, else plain.
    ProgressFormat progress_on(int fd) const;
    // With --explain, a BuildOptions::explain that writes one line per layer to `fd`.
    std::function<void(const std::string&, const std::vector<std::string>&)> explainer(int fd) const;
};

// Takes args[i] (and its value, moving i past it) when it is one of these options;
// export's only when `with_export`. Returns false for any other argument. Throws
// bincastle::Error for a missing or bad value.
bool parse_build_option(const std::vector<std::string>& args, std::size_t& i, bool with_export, BuildCommandLine& out);

}  // namespace bincastle::cli
