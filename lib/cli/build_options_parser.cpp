#include "cli/build_options_parser.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <thread>
#include <unistd.h>

namespace bincastle::cli {

BuildCommandLine::BuildCommandLine() : jobs(std::max(1u, std::thread::hardware_concurrency())) {}

ProgressFormat BuildCommandLine::progress_on(int fd) const {
    if (progress) return *progress;
    return ::isatty(fd) == 1 ? ProgressFormat::tty : ProgressFormat::plain;
}

std::function<void(const std::string&, const std::vector<std::string>&)> BuildCommandLine::explainer(int fd) const {
    if (!explain) return {};
    return [fd](const std::string& layer, const std::vector<std::string>& reasons) {
        std::string line = "bincastle: building " + layer + ": ";
        for (std::size_t i = 0; i < reasons.size(); ++i) line += (i ? "; " : "") + reasons[i];
        ::dprintf(fd, "%s\n", line.c_str());
    };
}

namespace {

// "--name VALUE" or "--name=VALUE" ("-jN" too, for -j); nothing when `arg` is neither.
std::optional<std::string> value_of(const std::vector<std::string>& args, std::size_t& i, const std::string& name) {
    const std::string& arg = args[i];
    if (arg == name) {
        if (i + 1 >= args.size()) throw Error(name + " needs a value", "see --help");
        return args[++i];
    }
    std::string glued = name.starts_with("--") ? name + "=" : name;
    if (arg.size() > glued.size() && arg.starts_with(glued)) return arg.substr(glued.size());
    return std::nullopt;
}

}  // namespace

bool parse_build_option(const std::vector<std::string>& args, std::size_t& i, bool with_export, BuildCommandLine& out) {
    const std::string& arg = args[i];
    if (arg == "-v" || arg == "--verbose") {
        out.verbose = true;
    } else if (arg == "--explain") {
        out.explain = true;
    } else if (auto jobs = value_of(args, i, "-j")) {
        unsigned n = 0;
        auto [end, ec] = std::from_chars(jobs->data(), jobs->data() + jobs->size(), n);
        if (ec != std::errc() || end != jobs->data() + jobs->size() || n == 0)
            throw Error("-j " + *jobs + ": expected a number of jobs above 0");
        out.jobs = n;
    } else if (arg.starts_with("--progress=")) {
        std::string format = arg.substr(11);
        if (format == "json") out.progress = ProgressFormat::json;
        else if (format == "plain") out.progress = ProgressFormat::plain;
        else if (format == "tty") out.progress = ProgressFormat::tty;
        else if (format == "auto") out.progress.reset();
        else throw Error("--progress=" + format + ": expected auto, tty, plain or json");
    } else if (auto ref = value_of(args, i, "--import-cache")) {
        if (ref->empty()) throw Error("--import-cache needs a registry REF (host[:port]/repo[:tag])");
        out.import_caches.push_back(*ref);
    } else if (auto ref = value_of(args, i, "--export-cache")) {
        if (ref->empty()) throw Error("--export-cache needs a registry REF (host[:port]/repo[:tag])");
        out.export_cache = *ref;
    } else if (auto executor = value_of(args, i, "--executor")) {
        if (*executor != "local" && *executor != "slurm") throw Error("--executor " + *executor + ": expected local or slurm");
        out.slurm = *executor == "slurm";
    } else if (auto partition = value_of(args, i, "--slurm-partition")) {
        out.slurm_partition = *partition;
    } else if (auto option = value_of(args, i, "--slurm-option")) {
        out.sbatch_options.push_back(*option);
    } else if (auto store = value_of(args, i, "--slurm-node-store")) {
        out.node_store = *store;
    } else if (arg == "--insecure-registry") {
        out.insecure_registry = true;
        out.export_request.insecure_registry = true;
    } else if (!with_export) {
        return false;
    } else if (auto format = value_of(args, i, "--format")) {
        out.export_request.format = *format;
    } else if (auto compression = value_of(args, i, "--compression")) {
        out.export_request.compression = *compression;
    } else if (auto push = value_of(args, i, "--push")) {
        out.export_request.push = *push;
    } else if (arg == "-o" || arg == "--output" || arg.starts_with("--output=")) {
        out.export_request.output = arg == "-o" ? *value_of(args, i, "-o") : *value_of(args, i, "--output");
    } else {
        return false;
    }
    return true;
}

}  // namespace bincastle::cli
