// bincastle::build: from a plan to a system whose layers are all in the store.

#include "build/build_record.hpp"
#include "exec/job_runner.hpp"
#include "exec/layer_builder.hpp"
#include "exec/remote_executor.hpp"
#include "plan/plan_graph.hpp"
#include "remote/remote_cache.hpp"
#include "source/source_dir.hpp"
#include "source/source_key.hpp"
#include "store/store.hpp"

#include <bincastle/build.hpp>
#include <bincastle/error.hpp>

#include <functional>
#include <map>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

SourceContentKey source_key_of(const BuildOptions& options, const Store& store) {
    return make_source_key(options.definition_dir, options.overrides, store, options.sources.dpkg_admin_dir,
                           options.insecure_registry);
}

// The system's run closure and what each layer `descend` says yes to is built on, in turn.
std::vector<bool> closure_from_system(const Graph& graph, const std::vector<std::vector<Placement>>& closures,
                                      const std::function<bool(std::size_t)>& descend) {
    std::vector<bool> in(graph.size(), false);
    std::vector<std::size_t> pending;
    for (const auto& placement : graph.run_closure(graph.root())) pending.push_back(placement.node);
    while (!pending.empty()) {
        std::size_t node = pending.back();
        pending.pop_back();
        if (in[node]) continue;
        in[node] = true;
        if (!descend(node)) continue;
        for (const auto& placement : closures[node]) pending.push_back(placement.node);
    }
    return in;
}

// Every layer the system needs: its run closure, and what each of those is built on,
// in turn (what gc keeps for it).
std::vector<bool> needed_layers(const Graph& graph, const std::vector<std::vector<Placement>>& closures) {
    return closure_from_system(graph, closures, [](std::size_t) { return true; });
}

// What this build must make or find: the system's run closure and, for each of those
// the store lacks (or rebuilds on every run), what it is built on, in turn. What the
// system was only built on is not made again while what was built on it is here (it
// may live in a cache only, after a cluster build).
std::vector<bool> wanted_layers(const Graph& graph, const std::vector<std::vector<Placement>>& closures,
                                const std::vector<Key>& keys, const Store& store) {
    return closure_from_system(graph, closures, [&](std::size_t node) {
        return graph.node(node).layer->always_run || !store.find(keys[node]);
    });
}

std::vector<std::vector<Placement>> build_closures(const Graph& graph) {
    std::vector<std::vector<Placement>> closures(graph.size());
    for (std::size_t node = 0; node < graph.size(); ++node) closures[node] = graph.build_closure(node);
    return closures;
}

std::vector<Key> needed_keys(const std::vector<Key>& keys, const std::vector<bool>& needed) {
    std::vector<Key> out;
    for (std::size_t node = 0; node < keys.size(); ++node)
        if (needed[node]) out.push_back(keys[node]);
    return out;
}

remote::CacheLayer cache_layer(const Graph& graph, const std::vector<Key>& keys,
                               const std::vector<std::vector<Placement>>& closures, std::size_t node) {
    remote::CacheLayer layer{graph.name(node), keys[node], {}};
    for (const auto& placement : closures[node]) layer.build_deps.push_back(keys[placement.node]);
    return layer;
}

// The remote caches' part of a build: every needed layer that is not in the store
// (nor rebuilt on every run) and that a cache has is pulled. Returns which were.
std::vector<bool> pull_from_caches(const Graph& graph, const std::vector<Key>& keys,
                                   const std::vector<std::vector<Placement>>& closures,
                                   const std::vector<bool>& needed, const Store& store, const BuildOptions& options,
                                   ProgressSink& progress) {
    std::vector<bool> pulled(graph.size(), false);
    if (options.import_caches.empty()) return pulled;
    std::vector<std::size_t> nodes;
    std::vector<remote::CacheLayer> wanted;
    for (std::size_t node = 0; node < graph.size(); ++node) {
        if (!needed[node] || graph.node(node).layer->always_run || store.find(keys[node])) continue;
        nodes.push_back(node);
        wanted.push_back(cache_layer(graph, keys, closures, node));
    }
    std::vector<bool> present =
        remote::import_layers(options.import_caches, options.insecure_registry, wanted, store, progress, stderr);
    for (std::size_t i = 0; i < nodes.size(); ++i) pulled[nodes[i]] = present[i];
    return pulled;
}

// --export-cache: every needed layer that the build made or found.
void push_to_cache(const Graph& graph, const std::vector<Key>& keys, const std::vector<std::vector<Placement>>& closures,
                   const std::vector<bool>& needed, const Store& store, const BuildOptions& options,
                   ProgressSink& progress) {
    std::vector<remote::CacheLayer> layers;
    for (std::size_t node = 0; node < graph.size(); ++node)
        if (needed[node] && !graph.node(node).layer->always_run && store.find(keys[node]))
            layers.push_back(cache_layer(graph, keys, closures, node));
    remote::export_layers(*options.export_cache, options.insecure_registry, layers, store, progress, stderr);
}

// What a layer's key is made of now, as a record will keep it.
BuildRecord record_of(const Plan& plan, const Graph& graph, const std::vector<Key>& keys,
                      const std::vector<std::vector<Placement>>& closures, const std::map<std::string, Key>& source_keys,
                      std::size_t node) {
    BuildRecord record{keys[node], plan.layers[node], std::nullopt, {}};
    if (auto source = source_keys.find(graph.name(node)); source != source_keys.end()) record.source = source->second;
    for (const auto& placement : closures[node]) record.deps[graph.name(placement.node)] = keys[placement.node];
    return record;
}

// --explain: for a layer about to be built, what changed since it was last built here.
void explain(const Plan& plan, const Graph& graph, const std::vector<Key>& keys,
             const std::vector<std::vector<Placement>>& closures, const std::map<std::string, Key>& source_keys,
             const Store& store, const BuildOptions& options, std::size_t node) {
    const std::string& name = graph.name(node);
    auto before = read_build_record(store.root(), name);
    if (!before) return options.explain(name, {"it was never built in this store"});
    BuildRecord now = record_of(plan, graph, keys, closures, source_keys, node);
    const LayerData& layer = *graph.node(node).layer;
    std::optional<fs::path> source_dir;
    if (layer.source && (layer.source->kind == SourceSpec::Kind::local_dir || overridden(layer, options.overrides)))
        source_dir = local_source_dir(layer, options.definition_dir, options.overrides);
    options.explain(name, explain_change(*before, now, store.find(before->key), source_dir));
}

bool build_missing(const Plan& plan, const Graph& graph, const std::vector<Key>& keys,
                   const std::vector<std::vector<Placement>>& closures, const std::map<std::string, Key>& source_keys,
                   const std::vector<bool>& needed, const Store& store, const BuildOptions& options,
                   ProgressSink& progress, std::vector<std::optional<fs::path>>& cached) {
    // Scheduled in topological order, so that ties start in declaration order.
    std::vector<std::size_t> order = graph.topological_order();
    std::vector<std::size_t> position(graph.size());
    for (std::size_t i = 0; i < order.size(); ++i) position[order[i]] = i;

    std::vector<bool> pulled = pull_from_caches(graph, keys, closures, needed, store, options, progress);
    std::vector<std::vector<std::size_t>> prerequisites(graph.size());
    std::vector<bool> to_build(graph.size(), false);
    for (std::size_t i = 0; i < order.size(); ++i) {
        std::size_t node = order[i];
        for (const auto& placement : closures[node]) prerequisites[i].push_back(position[placement.node]);
        if (!needed[node] || pulled[node]) continue;
        const LayerData& layer = *graph.node(node).layer;
        if (!layer.always_run) cached[node] = store.find(keys[node]);
        if (!cached[node]) {
            to_build[i] = true;
            progress.event({ProgressEvent::Kind::queued, layer.name, keys[node], 0, ""});
            if (options.explain) explain(plan, graph, keys, closures, source_keys, store, options, node);
        } else {
            progress.event({ProgressEvent::Kind::cached, layer.name, keys[node], 0, ""});
        }
    }
    progress.flush();  // the queued and cached lines, before a build may wait on a lock
    BuildSetup setup{&graph,           &keys,        &store,   options.sandbox_program, options.jobs,
                     options.definition_dir, &options.overrides, &progress, options.sources,
                     options.insecure_registry};
    std::vector<bool> made = to_build;
    Scheduler scheduler(std::move(prerequisites), std::move(to_build));
    bool ok = run_jobs(scheduler, options.jobs, [&](std::size_t i) { return build_layer(setup, order[i]); });
    // What was built or pulled is what a later --explain compares with.
    for (std::size_t i = 0; i < order.size(); ++i) {
        std::size_t node = order[i];
        if ((made[i] || pulled[node]) && store.find(keys[node]))
            write_build_record(store.root(), record_of(plan, graph, keys, closures, source_keys, node));
    }
    // Every layer ends with an event: those never started say why.
    for (std::size_t i = 0; i < order.size(); ++i) {
        if (scheduler.state(i) == Scheduler::State::skipped)
            progress.event({ProgressEvent::Kind::skipped, graph.name(order[i]), keys[order[i]], 0,
                            "a layer it is built on failed"});
    }
    return ok;
}

// A cluster build (--executor slurm): what a cache has is not built, what is here and not there is pushed
// (the jobs pull it), and every other needed layer is built through the executor.
bool build_on_cluster(const Plan& plan, const Graph& graph, const std::vector<Key>& keys,
                      const std::vector<std::vector<Placement>>& closures, const std::vector<bool>& needed,
                      const Store& store, const BuildOptions& options, ProgressSink& progress) {
    const ClusterOptions& cluster = *options.cluster;
    if (!options.export_cache)
        throw Error("--executor " + cluster.engine->name() + " needs --export-cache REF",
                    "the layers travel between the nodes and here through that registry");
    std::vector<std::size_t> order = graph.topological_order();
    std::vector<std::size_t> position(graph.size());
    for (std::size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
    std::vector<std::string> caches = options.import_caches;
    caches.push_back(*options.export_cache);

    std::vector<std::size_t> missing, here;
    std::vector<remote::CacheLayer> wanted, local;
    for (std::size_t node : order) {
        if (!needed[node]) continue;
        const bool always = graph.node(node).layer->always_run;
        if (!always && store.find(keys[node])) {
            here.push_back(node);
            local.push_back(cache_layer(graph, keys, closures, node));
        } else {
            missing.push_back(node);
            if (!always) wanted.push_back(cache_layer(graph, keys, closures, node));
        }
    }
    std::vector<bool> in_cache = remote::cached_layers(caches, options.insecure_registry, wanted, stderr);
    remote::export_layers(*options.export_cache, options.insecure_registry, local, store, progress, stderr);

    std::vector<std::vector<std::size_t>> prerequisites(graph.size());
    std::vector<bool> to_build(graph.size(), false);
    for (std::size_t i = 0; i < order.size(); ++i)
        for (const auto& placement : closures[order[i]]) prerequisites[i].push_back(position[placement.node]);
    for (std::size_t node : here) progress.event({ProgressEvent::Kind::cached, graph.name(node), keys[node], 0, ""});
    for (std::size_t m = 0, w = 0; m < missing.size(); ++m) {
        const std::size_t node = missing[m];
        const bool cached = !graph.node(node).layer->always_run && in_cache[w++];
        if (cached) {
            progress.event({ProgressEvent::Kind::cached, graph.name(node), keys[node], 0, "in " + *options.export_cache});
        } else {
            to_build[position[node]] = true;
            progress.event({ProgressEvent::Kind::queued, graph.name(node), keys[node], 0, ""});
        }
    }
    progress.flush();
    BuildSetup setup{&graph,           &keys,        &store,   options.sandbox_program, options.jobs,
                     options.definition_dir, &options.overrides, &progress, options.sources,
                     options.insecure_registry};
    Scheduler scheduler(std::move(prerequisites), std::move(to_build));
    bool ok;
    {
        RemoteExecutor executor(setup, plan, *cluster.engine,
                                {cluster.node_program, options.import_caches, *options.export_cache,
                                 options.insecure_registry, cluster.node_store});
        ok = run_jobs(scheduler, RemoteExecutor::parallelism, [&](std::size_t i) { return executor.build(order[i]); });
    }
    for (std::size_t i = 0; i < order.size(); ++i) {
        if (scheduler.state(i) == Scheduler::State::skipped)
            progress.event({ProgressEvent::Kind::skipped, graph.name(order[i]), keys[order[i]], 0,
                            "a layer it is built on failed"});
    }
    if (!ok) return false;
    // What the system runs on comes here; what it was only built on stays in the cache.
    std::vector<remote::CacheLayer> run_layers;
    for (const auto& placement : graph.run_closure(graph.root()))
        if (!store.find(keys[placement.node])) run_layers.push_back(cache_layer(graph, keys, closures, placement.node));
    const std::vector<bool> present = remote::import_layers(caches, options.insecure_registry, run_layers, store, progress, stderr);
    for (std::size_t i = 0; i < run_layers.size(); ++i)
        if (!present[i])
            throw Error("layer " + run_layers[i].name + " was built, but none of the caches has it now: " +
                            *options.export_cache + (caches.size() > 1 ? " and the import caches" : ""),
                        "is the registry up, and does it keep what it was sent?");
    return true;
}

}  // namespace

fs::path default_store_root() { return Store::default_root(); }

std::vector<Key> plan_keys(const Plan& plan, const BuildOptions& options) {
    Store store(options.store_root);
    return compute_keys(graph_of(plan), source_key_of(options, store));
}

std::optional<BuiltSystem> build(const Plan& plan, const BuildOptions& options, ProgressSink& progress) {
    Graph graph = graph_of(plan);
    Store store(options.store_root);
    // Each source's content key, kept for the build records.
    std::map<std::string, Key> source_keys;
    SourceContentKey source_key = source_key_of(options, store);
    std::vector<Key> keys = compute_keys(graph, [&](const LayerData& layer) {
        return source_keys[layer.name] = source_key(layer);
    });
    std::vector<std::vector<Placement>> closures = build_closures(graph);
    std::vector<bool> needed = needed_layers(graph, closures);
    // Before anything asks whether a layer is built: no gc removes these meanwhile.
    std::vector<Key> kept = needed_keys(keys, needed);
    auto live_root = std::make_shared<Store::LiveRoot>(store.register_live_root(kept));
    store.record_root(options.system_name, kept);
    // The layers found built, by node: what was not is looked up once built.
    std::vector<std::optional<fs::path>> files(keys.size());
    const std::vector<bool> wanted = wanted_layers(graph, closures, keys, store);
    if (options.cluster) {
        if (!build_on_cluster(plan, graph, keys, closures, wanted, store, options, progress)) return std::nullopt;
    } else {
        if (!build_missing(plan, graph, keys, closures, source_keys, wanted, store, options, progress, files))
            return std::nullopt;
        if (options.export_cache) push_to_cache(graph, keys, closures, needed, store, options, progress);
    }
    // What the system runs on is here now; what it was built on may be in a cache only.
    std::vector<bool> here(graph.size(), false);
    for (const auto& placement : graph.run_closure(graph.root())) here[placement.node] = true;
    BuiltSystem built{plan, keys, {}, options.store_root, options.system_name, std::move(live_root)};
    built.files.resize(keys.size());
    for (std::size_t node = 0; node < keys.size(); ++node) {
        if (!here[node]) continue;
        if (!files[node]) files[node] = store.find(keys[node]);
        if (!files[node]) throw Error("layer " + graph.name(node) + " is not in the store after its build");
        built.files[node] = *files[node];
    }
    return built;
}

std::size_t collect_garbage(const BuildOptions& options, const Plan* keep) {
    Store store(options.store_root);
    if (keep) {
        Graph graph = graph_of(*keep);
        std::vector<Key> keys = compute_keys(graph, source_key_of(options, store));
        store.record_root(options.system_name, needed_keys(keys, needed_layers(graph, build_closures(graph))));
    }
    return store.gc();
}

}  // namespace bincastle
