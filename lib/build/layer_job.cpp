#include "build/layer_job.hpp"

#include "exec/layer_builder.hpp"
#include "graph/key_encoder.hpp"
#include "plan/plan_graph.hpp"
#include "remote/remote_cache.hpp"
#include "store/store.hpp"

#include <bincastle/error.hpp>

namespace bincastle {

namespace {

std::size_t node_named(const Graph& graph, const std::string& name) {
    for (std::size_t node = 0; node < graph.size(); ++node)
        if (graph.name(node) == name) return node;
    throw Error("the job's recipe has no layer " + name);
}

remote::CacheLayer cache_layer(const Graph& graph, const std::vector<Key>& keys, std::size_t node) {
    remote::CacheLayer layer{graph.name(node), keys[node], {}};
    for (const auto& placement : graph.build_closure(node)) layer.build_deps.push_back(keys[placement.node]);
    return layer;
}

}  // namespace

bool build_layer_job(const JobRecipe& recipe, const LayerJobOptions& options, ProgressSink& progress) {
    const Graph graph = graph_of(recipe.plan);
    const std::size_t node = node_named(graph, recipe.layer);
    const LayerData& layer = *graph.node(node).layer;
    if (layer.source) throw Error("layer " + layer.name + " has a source: the driver makes it, not a job");
    // The key from the recipe and its dependencies' keys: a job builds what it says.
    const Key computed = hash_bytes(layer_key_encoding(graph, node, recipe.keys, [](const LayerData&) -> Key {
        throw Error("a layer with a source is not built by a job");
    }));
    if (computed != recipe.key || recipe.keys[node] != recipe.key)
        throw Error("the job's recipe says layer " + layer.name + " has key " + recipe.key.hex() +
                        ", but its recipe and dependencies give " + computed.hex(),
                    "refused: the recipe was changed, or made by another version of bincastle");

    Store store(options.store_root);
    const auto closure = graph.build_closure(node);
    std::vector<Key> kept = {recipe.key};
    for (const auto& placement : closure) kept.push_back(recipe.keys[placement.node]);
    const Store::LiveRoot live = store.register_live_root(kept);
    const remote::CacheLayer self = cache_layer(graph, recipe.keys, node);
    if (!layer.always_run && store.find(recipe.key)) {
        progress.event({ProgressEvent::Kind::cached, layer.name, recipe.key, 0, ""});
    } else {
        std::vector<remote::CacheLayer> wanted;
        for (const auto& placement : closure)
            if (!store.find(recipe.keys[placement.node])) wanted.push_back(cache_layer(graph, recipe.keys, placement.node));
        std::vector<std::string> caches = options.import_caches;
        caches.push_back(options.export_cache);
        const std::vector<bool> present =
            remote::import_layers(caches, options.insecure_registry, wanted, store, progress, stderr);
        for (std::size_t i = 0; i < wanted.size(); ++i)
            if (!present[i])
                throw Error("layer " + wanted[i].name + ", which " + layer.name + " is built on, is in none of the caches",
                            "the driver pushes every layer before it submits what is built on it");
        const SourceOverrides no_overrides;
        BuildSetup setup{&graph, &recipe.keys, &store, options.sandbox_program, options.jobs, {}, &no_overrides,
                         &progress, {}, options.insecure_registry};
        if (!build_layer(setup, node)) return false;
    }
    remote::export_layers(options.export_cache, options.insecure_registry, {self}, store, progress, stderr);
    return true;
}

}  // namespace bincastle
