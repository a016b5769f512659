// bincastle::main: the verbs of a definition program.

#include "exec/job_runner.hpp"
#include "exec/layer_builder.hpp"
#include "exec/progress.hpp"
#include "export/image_export.hpp"
#include "graph/graph.hpp"
#include "graph/key_encoder.hpp"
#include "plan/plan_graph.hpp"
#include "remote/remote_cache.hpp"
#include "source/source_key.hpp"
#include "store/store.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/container.hpp>
#include <bincastle/error.hpp>
#include <bincastle/main.hpp>
#include <bincastle/plan.hpp>
#include <bincastle/sandbox_command.hpp>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <thread>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

// Where a system reaches the supervisor that started it (bincastle run).
constexpr const char* inside_socket = "/run/bincastle.sock";

const char* const usage = R"(usage: %s [VERB] [OPTIONS] [-- CMD [ARG...]]

Builds the system this program defines, as cached layers, and runs it.

Verbs:
  run        build what is missing, then run the system (the default); CMD replaces
             the system's RunArgs
  build      build what is missing
  export     build what is missing, then write the system out: --format oci (an OCI
             image layout, one layer per layer), tar (one tarball of the merged
             system) or dir (the merged system); -o PATH; --push REF
  plan       print the plan: every layer's recipe, as JSON
  keys       print each layer's key and name
  graph      print the layer graph in Graphviz dot
  sources    print "URL SHA256" for each pinned archive the graph fetches (for a mirror)
  gc         remove every layer that no system built with this store needs
  clean      remove the whole store
  sandbox    run a command in a rootless container (see 'sandbox --help')

Options:
  -j N                   build N layers at once (default: the number of CPUs)
  -v, --verbose          show build output, each line prefixed with its layer
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

ProgressFormat auto_progress() {
    return ::isatty(STDERR_FILENO) == 1 ? ProgressFormat::tty : ProgressFormat::plain;
}

struct Options {
    std::string verb = "run";
    unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
    bool verbose = false;
    ProgressFormat progress = auto_progress();
    std::vector<std::string> command;
    std::vector<std::string> import_caches;
    std::optional<std::string> export_cache;
    bool insecure_registry = false;
    std::string format = "oci";                // export
    std::optional<std::string> output;         // export -o
    std::optional<std::string> compression;    // export
    std::optional<std::string> push;           // export --push
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
        if (arg == "-h" || arg == "--help") {
            options.help = true;
        } else if (arg == "-v" || arg == "--verbose") {
            options.verbose = true;
        } else if (arg.rfind("-j", 0) == 0) {
            std::string value = arg.size() > 2 ? arg.substr(2) : (i + 1 < args.size() ? args[++i] : "");
            unsigned jobs = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), jobs);
            if (ec != std::errc() || end != value.data() + value.size() || jobs == 0)
                throw Error("-j " + value + ": expected a number of jobs above 0");
            options.jobs = jobs;
        } else if (arg == "--import-cache" || arg == "--export-cache" || arg.starts_with("--import-cache=") ||
                   arg.starts_with("--export-cache=")) {
            auto equals = arg.find('=');
            std::string value = equals != std::string::npos ? arg.substr(equals + 1) : i + 1 < args.size() ? args[++i] : "";
            if (value.empty()) throw Error(arg.substr(0, equals) + " needs a registry REF (host[:port]/repo[:tag])");
            if (arg.starts_with("--import-cache")) options.import_caches.push_back(value);
            else options.export_cache = value;
        } else if (arg == "--insecure-registry") {
            options.insecure_registry = true;
        } else if (arg == "--format" || arg == "-o" || arg == "--output" || arg == "--compression" || arg == "--push") {
            if (i + 1 >= args.size()) throw Error(arg + " needs a value", "see --help");
            const std::string& value = args[++i];
            if (arg == "--format") options.format = value;
            else if (arg == "--compression") options.compression = value;
            else if (arg == "--push") options.push = value;
            else options.output = value;
        } else if (arg.rfind("--progress=", 0) == 0) {
            std::string format = arg.substr(11);
            if (format == "json") options.progress = ProgressFormat::json;
            else if (format == "plain") options.progress = ProgressFormat::plain;
            else if (format == "tty") options.progress = ProgressFormat::tty;
            else if (format == "auto") options.progress = auto_progress();
            else throw Error("--progress=" + format + ": expected auto, tty, plain or json");
        } else {
            throw Error("unknown option " + arg, "see --help");
        }
    }
    if (!options.command.empty() && options.verb != "run")
        throw Error("a command after '--' goes with 'run' only");
    return options;
}

// Every layer the system needs built: its run closure, and what each of those, and
// their build closures in turn, is built on.
// `closures`, when given, holds every node's build closure, computed once by the caller.
std::vector<bool> needed_layers(const Graph& graph, const std::vector<std::vector<Placement>>* closures = nullptr) {
    std::vector<bool> needed(graph.size(), false);
    std::vector<std::size_t> pending;
    for (const auto& placement : graph.run_closure(graph.root())) pending.push_back(placement.node);
    while (!pending.empty()) {
        std::size_t node = pending.back();
        pending.pop_back();
        if (needed[node]) continue;
        needed[node] = true;
        for (const auto& placement : closures ? (*closures)[node] : graph.build_closure(node))
            pending.push_back(placement.node);
    }
    return needed;
}

remote::CacheLayer cache_layer(const Graph& graph, const std::vector<Key>& keys, std::size_t node) {
    remote::CacheLayer layer{graph.name(node), keys[node], {}};
    for (const auto& placement : graph.build_closure(node)) layer.build_deps.push_back(keys[placement.node]);
    return layer;
}

// The remote caches' part of a build: every needed layer that is not in the store
// (nor rebuilt on every run) and that a cache has is pulled. Returns which were.
std::vector<bool> pull_from_caches(const Graph& graph, const std::vector<Key>& keys, const std::vector<bool>& needed,
                                   const Store& store, const Options& options, ProgressSink& progress) {
    std::vector<bool> pulled(graph.size(), false);
    if (options.import_caches.empty()) return pulled;
    std::vector<std::size_t> nodes;
    std::vector<remote::CacheLayer> wanted;
    for (std::size_t node = 0; node < graph.size(); ++node) {
        if (!needed[node] || graph.node(node).layer->always_run || store.find(keys[node])) continue;
        nodes.push_back(node);
        wanted.push_back(cache_layer(graph, keys, node));
    }
    std::vector<bool> present =
        remote::import_layers(options.import_caches, options.insecure_registry, wanted, store, progress, stderr);
    for (std::size_t i = 0; i < nodes.size(); ++i) pulled[nodes[i]] = present[i];
    return pulled;
}

// --export-cache: every needed layer that the build made or found.
void push_to_cache(const Graph& graph, const std::vector<Key>& keys, const std::vector<bool>& needed,
                   const Store& store, const Options& options, ProgressSink& progress) {
    std::vector<remote::CacheLayer> layers;
    for (std::size_t node = 0; node < graph.size(); ++node)
        if (needed[node] && !graph.node(node).layer->always_run && store.find(keys[node]))
            layers.push_back(cache_layer(graph, keys, node));
    remote::export_layers(*options.export_cache, options.insecure_registry, layers, store, progress, stderr);
}

// The export verb, once everything is built.
int export_system(const Graph& graph, const std::vector<Key>& keys, const Store& store, const Options& options) {
    const LayerData& system = *graph.node(graph.root()).layer;
    exporting::ImageSpec image;
    image.name = system.name;
    for (const auto& placement : graph.run_closure(graph.root()))
        image.layers.push_back({graph.name(placement.node), *store.find(keys[placement.node]), placement.mount_dir});
    bool has_path = false;
    for (const auto& [key, value] : system.env) {
        image.env.push_back(key + "=" + value);
        has_path = has_path || key == "PATH";
    }
    // What the runner gives a command that sets none.
    if (!has_path) image.env.insert(image.env.begin(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    image.args = !system.run_args.empty() ? system.run_args : std::vector<std::string>{"/bin/sh"};
    image.working_dir = system.run_working_dir.value_or("/");

    exporting::ExportOptions out;
    out.format = exporting::parse_format(options.format);
    if (options.compression) out.compression = exporting::parse_compression(*options.compression);
    if (options.push && out.format != exporting::Format::oci) throw Error("--push goes with --format oci");
    std::optional<TempDir> scratch;
    if (options.output) {
        out.output = fs::absolute(*options.output);
    } else if (options.push) {
        scratch.emplace("bincastle-image");
        out.output = scratch->path() / "image";
    } else {
        throw Error("export needs -o PATH (or --push REF)");
    }
    exporting::export_image(image, out);
    if (options.output) std::fprintf(stderr, "bincastle: wrote %s\n", out.output.c_str());
    if (options.push) exporting::push_oci_layout(out.output, *options.push, options.insecure_registry, out.tag, stderr);
    return 0;
}

bool build(const Graph& graph, const std::vector<Key>& keys, const Store& store, const Options& options,
           const fs::path& definition_dir, ProgressSink& progress) {
    // Scheduled in topological order, so that ties start in declaration order.
    std::vector<std::size_t> order = graph.topological_order();
    std::vector<std::size_t> position(graph.size());
    for (std::size_t i = 0; i < order.size(); ++i) position[order[i]] = i;

    std::vector<std::vector<Placement>> closures(graph.size());
    for (std::size_t node = 0; node < graph.size(); ++node) closures[node] = graph.build_closure(node);
    std::vector<bool> needed = needed_layers(graph, &closures);
    std::vector<bool> pulled = pull_from_caches(graph, keys, needed, store, options, progress);
    std::vector<std::vector<std::size_t>> prerequisites(graph.size());
    std::vector<bool> to_build(graph.size(), false);
    for (std::size_t i = 0; i < order.size(); ++i) {
        std::size_t node = order[i];
        for (const auto& placement : closures[node]) prerequisites[i].push_back(position[placement.node]);
        if (!needed[node] || pulled[node]) continue;
        const LayerData& layer = *graph.node(node).layer;
        if (layer.always_run || !store.find(keys[node])) {
            to_build[i] = true;
            progress.event({ProgressEvent::Kind::queued, layer.name, keys[node], 0, ""});
        } else {
            progress.event({ProgressEvent::Kind::cached, layer.name, keys[node], 0, ""});
        }
    }
    progress.flush();  // the queued and cached lines, before a build may wait on a lock
    // Each build runs `sandbox`: from the static driver when the driver started this
    // program (it starts in a millisecond), else from this program (which first
    // builds its whole graph again).
    const char* inside_driver = std::getenv("BINCASTLE_INSIDE_DRIVER");
    std::string sandbox_program = inside_driver && *inside_driver ? inside_driver : "/proc/self/exe";
    BuildSetup setup{&graph, &keys, &store, sandbox_program, options.jobs, definition_dir, &progress};
    Scheduler scheduler(std::move(prerequisites), std::move(to_build));
    bool ok = run_jobs(scheduler, options.jobs, [&](std::size_t i) { return build_layer(setup, order[i]); });
    // Every layer ends with an event: those never started say why.
    for (std::size_t i = 0; i < order.size(); ++i) {
        if (scheduler.state(i) == Scheduler::State::skipped)
            progress.event({ProgressEvent::Kind::skipped, graph.name(order[i]), keys[order[i]], 0,
                            "a layer it is built on failed"});
    }
    return ok;
}

// The system's own copy of a wrapped layer: made from the layer when first entered,
// then the user's, kept across runs. When the layer changes (a new key), the old copy
// is kept beside the new one and the user is told where.
fs::path wrapped_copy(const fs::path& system_dir, const std::string& mount_dir, const fs::path& files,
                      const Key& key) {
    fs::path copy = system_dir / "mounts" / hash_bytes(mount_dir).hex();
    fs::path key_file = copy.string() + ".key";
    auto copied_from = read_file_if_exists(key_file.string());
    if (fs::exists(copy) && copied_from && *copied_from != key.hex()) {
        fs::path kept = copy.string() + ".from-" + copied_from->substr(0, 12);
        for (int n = 2; fs::exists(kept); ++n) kept = copy.string() + ".from-" + copied_from->substr(0, 12) + "." + std::to_string(n);
        fs::rename(copy, kept);
        std::fprintf(stderr, "bincastle: %s changed since this system copied it; the previous copy is in %s\n",
                     mount_dir.c_str(), kept.c_str());
    }
    if (!fs::exists(copy)) {
        fs::create_directories(copy.parent_path());
        fs::path partial = copy.string() + ".partial." + std::to_string(::getpid());
        remove_tree(partial);
        copy_tree(files, partial);
        fs::rename(partial, copy);
    }
    if (copied_from != key.hex()) {
        fs::path partial_key = key_file.string() + ".partial";
        write_new_file(partial_key.string(), key.hex());
        fs::rename(partial_key, key_file);
    }
    return copy;
}

int run(const Graph& graph, const std::vector<Key>& keys, const Store& store, const Options& options,
        const std::string& system_name) {
    const LayerData& system = *graph.node(graph.root()).layer;
    // One running instance per system: two overlay mounts must not share an upper dir.
    fs::path system_dir = store.root() / "systems" / system_name;
    fs::create_directories(system_dir);
    UniqueFd running(::open((system_dir / "running").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!running) throw SysError("open", (system_dir / "running").string());
    if (::flock(running.get(), LOCK_EX | LOCK_NB) != 0)
        throw Error("system '" + system_name + "' is already running from " + store.root().string(),
                    "leave it first, or enter another system (bincastle run --system NAME)");
    container::Spec spec;
    for (const auto& placement : graph.run_closure(graph.root())) {
        fs::path files = *store.find(keys[placement.node]);
        if (!placement.mount_dir) {
            spec.layers.push_back(files.string());
            continue;
        }
        // An overridable source says where it is, so that builds started inside use
        // the edited copy.
        const LayerData& wrapped = *graph.node(placement.node).layer;
        fs::path copy = wrapped_copy(system_dir, *placement.mount_dir, files, keys[placement.node]);
        spec.mounts.push_back({container::Mount::Kind::bind, copy.string(), *placement.mount_dir});
        if (wrapped.overridable) spec.env.push_back(override_variable(wrapped.name) + "=" + *placement.mount_dir);
    }
    // What a nested `bincastle run` needs: the driver, and the supervisor's socket.
    if (const char* driver = std::getenv("BINCASTLE_INSIDE_DRIVER"); driver && *driver)
        spec.mounts.push_back({container::Mount::Kind::ro_bind, driver, "/bincastle"});
    if (const char* socket = std::getenv("BINCASTLE_SOCK"); socket && *socket) {
        spec.mounts.push_back({container::Mount::Kind::bind, socket, inside_socket});
        spec.env.push_back(std::string("BINCASTLE_SOCK=") + inside_socket);
        spec.env.push_back("BINCASTLE_SYSTEM=" + system_name);
    }
    spec.upper = (system_dir / "upper").string();
    for (const auto& [key, value] : system.env) spec.env.push_back(key + "=" + value);
    if (const char* term = std::getenv("TERM")) spec.env.push_back(std::string("TERM=") + term);
    spec.cwd = system.run_working_dir.value_or("/");
    spec.args = !options.command.empty() ? options.command
                : !system.run_args.empty() ? system.run_args
                                           : std::vector<std::string>{"/bin/sh"};
    spec.tty = ::isatty(STDIN_FILENO) == 1;
    spec.forward_signals = true;
    return container::run(spec);
}

void print_graph(const Graph& graph) {
    std::printf("digraph bincastle {\n");
    for (std::size_t node : graph.topological_order()) {
        std::printf("  \"%s\";\n", graph.name(node).c_str());
        for (const auto& edge : graph.node(node).deps) {
            const char* style = edge.build && edge.run ? "solid" : edge.build ? "dashed" : "dotted";
            std::printf("  \"%s\" -> \"%s\" [style=%s%s];\n", graph.name(node).c_str(), graph.name(edge.to).c_str(),
                        style, edge.mount_dir ? (", label=\"" + *edge.mount_dir + "\"").c_str() : "");
        }
    }
    std::printf("}\n");
}

// What a mirror must hold: each archive once, in topological order.
void print_sources(const Graph& graph) {
    std::set<std::pair<std::string, std::string>> printed;
    for (std::size_t node : graph.topological_order()) {
        const auto& source = graph.node(node).layer->source;
        if (!source || source->kind != SourceSpec::Kind::http_archive) continue;
        if (printed.insert({source->location, source->revision}).second)
            std::printf("%s %s\n", source->location.c_str(), source->revision.c_str());
    }
}

int main_verbs(int argc, char** argv, const Layer& system, const fs::path& definition_dir) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (!args.empty() && args[0] == "sandbox") return cli::sandbox_main({args.begin() + 1, args.end()});
    Options options = parse(args);
    if (options.help) {
        std::printf(usage, argv[0]);
        return 0;
    }
    static const std::set<std::string> verbs = {"run", "build", "export", "plan", "keys", "graph", "sources", "gc", "clean"};
    if (!verbs.count(options.verb)) throw Error("unknown verb '" + options.verb + "'", "see --help");
    Plan plan = make_plan(system);
    if (options.verb == "plan") {
        std::fputs(plan_to_json(plan, PlanStyle::indented).c_str(), stdout);
        return 0;
    }
    Graph graph = graph_of(plan);
    if (options.verb == "graph") {
        print_graph(graph);
        return 0;
    }
    if (options.verb == "sources") {
        print_sources(graph);
        return 0;
    }
    Store store(Store::default_root());
    if (options.verb == "clean") {
        // Before anything reads a source: clean must work whatever state they are in.
        store.clean();
        std::fprintf(stderr, "removed %s\n", store.root().c_str());
        return 0;
    }
    std::vector<Key> keys = compute_keys(graph, make_source_key(definition_dir, store));
    // The driver names systems after their source; a program started by hand, after
    // its root layer.
    const char* named = std::getenv("BINCASTLE_SYSTEM");
    std::string system_name = named && *named ? named : system.name();

    if (options.verb == "keys") {
        for (std::size_t node : graph.topological_order())
            std::printf("%s %s\n", keys[node].hex().c_str(), graph.name(node).c_str());
        return 0;
    }
    std::vector<bool> needed = needed_layers(graph);
    std::vector<Key> needed_keys;
    for (std::size_t node = 0; node < graph.size(); ++node)
        if (needed[node]) needed_keys.push_back(keys[node]);
    if (options.verb == "gc") {
        store.record_root(system_name, needed_keys);
        std::size_t removed = store.gc();
        std::fprintf(stderr, "removed %zu layers\n", removed);
        return 0;
    }
    // Before anything asks whether a layer is built: no gc removes these meanwhile.
    auto live_root = store.register_live_root(needed_keys);
    store.record_root(system_name, needed_keys);
    {
        // Gone (its ticker thread too) before the container starts: run clones this
        // process, which must then have no other thread.
        auto progress = make_progress_view(options.progress, options.verbose, stderr);
        if (!build(graph, keys, store, options, definition_dir, *progress)) return container::exit_setup_failed;
        if (options.export_cache) push_to_cache(graph, keys, needed, store, options, *progress);
    }
    if (options.verb == "build") return 0;
    if (options.verb == "export") return export_system(graph, keys, store, options);
    return run(graph, keys, store, options, system_name);
}

}  // namespace

int main(int argc, char** argv, const Layer& system, std::source_location caller) {
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGCHLD, SIG_DFL);
    try {
        fs::path definition_dir;
        if (const char* dir = std::getenv("BINCASTLE_DEFINITION_DIR"); dir && *dir) definition_dir = dir;
        else definition_dir = fs::absolute(caller.file_name()).parent_path();
        return main_verbs(argc, argv, system, definition_dir);
    } catch (const Error& error) {
        std::fprintf(stderr, "%s: %s%s%s\n", argv[0], error.what(), error.hint().empty() ? "" : "; ",
                     error.hint().c_str());
        return container::exit_setup_failed;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "%s: %s\n", argv[0], error.what());
        return container::exit_setup_failed;
    }
}

}  // namespace bincastle
