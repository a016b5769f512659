#include "graph/graph.hpp"

#include "graph/key_encoder.hpp"

#include <bincastle/error.hpp>

#include <cstdio>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/depth_first_search.hpp>

#include <filesystem>
#include <unordered_map>

namespace bincastle {

namespace {

// What a layer's build does: its env, script, scratch dirs and output dir.
void encode_build_recipe(KeyEncoder& encoder, const LayerData& layer) {
    std::vector<std::string> env;
    for (const auto& [key, value] : layer.env) env.push_back(key + "=" + value);
    encoder.field('E', env)
        .field('B', layer.build_script)
        .field('C', layer.build_scratch)
        .field('o', layer.output_dir.value_or(""))
        .field('p', static_cast<std::uint64_t>(layer.output_dir.has_value()));
}

// A structural fingerprint of a layer's declaration (not of any source content), to
// tell whether two layers with one name are the same layer declared twice.
class Fingerprints {
public:
    Key of(const LayerData& layer) {
        if (auto it = memo_.find(&layer); it != memo_.end()) return it->second;
        KeyEncoder encoder("declaration");
        encoder.field('n', layer.name);
        if (layer.source) {
            encoder.field('S', static_cast<std::uint64_t>(layer.source->kind))
                .field('L', layer.source->location)
                .field('R', layer.source->revision)
                .field('T', static_cast<std::uint64_t>(layer.source->strip_components));
            if (!layer.source->exclude.empty()) encoder.field('X', layer.source->exclude);
            if (!layer.source->packages.empty()) encoder.field('P', layer.source->packages);
        }
        encoder.field('O', static_cast<std::uint64_t>(layer.overridable));
        for (const auto& dep : layer.deps) {
            encoder.field('D', of(*dep.layer))
                .field('b', static_cast<std::uint64_t>(dep.build))
                .field('r', static_cast<std::uint64_t>(dep.run))
                .field('m', dep.mount_dir.value_or(""))
                .field('M', static_cast<std::uint64_t>(dep.mount_dir.has_value()));
        }
        encode_build_recipe(encoder, layer);
        encoder.field('A', layer.run_args)
            .field('W', layer.run_working_dir.value_or(""))
            .field('a', static_cast<std::uint64_t>(layer.always_run));
        return memo_[&layer] = encoder.finish();
    }

private:
    std::unordered_map<const LayerData*, Key> memo_;
};

// Refuses a path option (`what`, as the definition wrote it) that is relative or has
// '..': the build or the container would read it as another directory than it says.
void check_path(const LayerData& layer, const std::string& what, const std::string& path) {
    std::string problem;
    if (!path.starts_with('/')) problem = "is not an absolute path";
    for (const auto& part : std::filesystem::path(path))
        if (part == "..") problem = "has '..' in it";
    if (!problem.empty())
        throw Error("layer '" + layer.name + "': " + what + " " + problem, "give an absolute path without '..'");
}

// The DSL's own misuse, refused before anything runs.
void check_options(const LayerData& layer) {
    for (const auto& dep : layer.deps) {
        if (!dep.mount_dir) continue;
        const std::string& dir = *dep.mount_dir;
        const std::string what = "MountDir(\"" + dir + "\") of '" + dep.layer->name + "'";
        check_path(layer, what, dir);
        // The container makes these itself: a layer bound there would hide them, or be hidden.
        const auto inside = std::filesystem::path(dir).lexically_normal().relative_path();
        const std::string top = inside.empty() ? std::string() : inside.begin()->string();
        if (top.empty() || top == "proc" || top == "dev" || top == "sys")
            throw Error("layer '" + layer.name + "': " + what + " would shadow /" + top,
                        "the container provides /, /proc, /dev and /sys: mount it elsewhere");
    }
    for (const auto& scratch : layer.build_scratch) check_path(layer, "BuildScratch(\"" + scratch + "\")", scratch);
    if (layer.output_dir) check_path(layer, "OutputDir(\"" + *layer.output_dir + "\")", *layer.output_dir);
    if (layer.run_working_dir)
        check_path(layer, "RunWorkingDir(\"" + *layer.run_working_dir + "\")", *layer.run_working_dir);
}

// `text` with control characters shown as \xNN, for an error message of one line.
std::string printable(const std::string& text) {
    std::string out;
    for (unsigned char c : text) {
        if (c >= 0x20 && c != 0x7f) {
            out += static_cast<char>(c);
        } else {
            char escaped[5];
            std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
            out += escaped;
        }
    }
    return out;
}

class Builder {
public:
    std::size_t add(const std::shared_ptr<const LayerData>& layer, const std::string& needed_by) {
        if (layer->name.empty())
            throw Error("a layer without a Name" +
                        (needed_by.empty() ? std::string() : " (a dependency of '" + needed_by + "')"),
                        "give every layer Name(\"...\")");
        // A name reaches file names, job names and the scripts a cluster runs: nothing in
        // it may be read as anything else.
        if (layer->name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-") !=
                std::string::npos ||
            layer->name.front() == '-' || layer->name.front() == '.')
            throw Error("the layer name '" + printable(layer->name) + "' has other characters than letters, digits, "
                        "'.', '_', '+' and '-', or starts with '-' or '.'",
                        "rename it");
        check_options(*layer);
        if (layer->source && !layer->build_script.empty())
            throw Error("layer '" + layer->name + "' has both a source and a BuildScript",
                        "a source layer is its files; build from it in another layer that "
                        "depends on it");
        Key fingerprint = fingerprints_.of(*layer);
        if (auto it = by_name_.find(layer->name); it != by_name_.end()) {
            if (fingerprint != fingerprint_of_[it->second])
                throw Error("two different layers are named '" + layer->name + "'",
                            "give one of them another Name, or make their definitions the same");
            return it->second;
        }
        std::size_t index = nodes.size();
        by_name_[layer->name] = index;
        nodes.push_back({layer, {}});
        fingerprint_of_.push_back(fingerprint);
        std::vector<GraphEdge> deps;
        for (const auto& dep : layer->deps)
            deps.push_back({add(dep.layer, layer->name), dep.build, dep.run, dep.mount_dir});
        nodes[index].deps = std::move(deps);
        return index;
    }

    std::vector<GraphNode> nodes;

private:
    Fingerprints fingerprints_;
    std::unordered_map<std::string, std::size_t> by_name_;
    std::vector<Key> fingerprint_of_;
};

using BoostGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;

// Reports the first back edge, with the path that closes the cycle.
struct CycleFinder : boost::default_dfs_visitor {
    std::vector<std::size_t>* stack;
    std::optional<std::vector<std::size_t>>* cycle;

    void discover_vertex(std::size_t v, const BoostGraph&) const { stack->push_back(v); }
    void finish_vertex(std::size_t, const BoostGraph&) const { stack->pop_back(); }
    void back_edge(const BoostGraph::edge_descriptor& edge, const BoostGraph& graph) const {
        if (cycle->has_value()) return;
        std::size_t target = boost::target(edge, graph);
        std::vector<std::size_t> path;
        bool in_cycle = false;
        for (std::size_t v : *stack) {
            in_cycle |= v == target;
            if (in_cycle) path.push_back(v);
        }
        path.push_back(target);
        *cycle = path;
    }
};

}  // namespace

Graph Graph::from(const Layer& root) {
    Builder builder;
    std::size_t root_index = builder.add(root.shared(), "");
    return from_nodes(std::move(builder.nodes), root_index);
}

Graph Graph::from_nodes(std::vector<GraphNode> nodes, std::size_t root) {
    Graph graph;
    graph.nodes_ = std::move(nodes);
    graph.root_ = root;
    graph.check_acyclic();
    return graph;
}

void Graph::check_acyclic() const {
    BoostGraph graph(nodes_.size());
    for (std::size_t from = 0; from < nodes_.size(); ++from)
        for (const auto& edge : nodes_[from].deps) boost::add_edge(from, edge.to, graph);
    std::vector<std::size_t> stack;
    std::optional<std::vector<std::size_t>> cycle;
    CycleFinder finder;
    finder.stack = &stack;
    finder.cycle = &cycle;
    boost::depth_first_search(graph, boost::visitor(finder));
    if (!cycle) return;
    std::string path;
    for (std::size_t v : *cycle) path += (path.empty() ? "" : " -> ") + name(v);
    throw Error("the layers depend on each other in a cycle: " + path);
}

std::vector<std::size_t> Graph::topological_order() const {
    std::vector<std::size_t> order;
    std::vector<bool> seen(nodes_.size(), false);
    // Post-order from the root, then from any node not reached (none, for a graph
    // made by from()), each in declaration order.
    std::function<void(std::size_t)> visit = [&](std::size_t node) {
        if (seen[node]) return;
        seen[node] = true;
        for (const auto& edge : nodes_[node].deps) visit(edge.to);
        order.push_back(node);
    };
    visit(root_);
    for (std::size_t node = 0; node < nodes_.size(); ++node) visit(node);
    return order;
}

void Graph::add_run_closure(std::size_t node, std::optional<std::string> mount_dir,
                            std::vector<bool>& seen, std::vector<Placement>& out) const {
    if (mount_dir) {
        // A wrapped layer is bound where it is asked for, whatever it runs with.
        out.push_back({node, std::move(mount_dir)});
        return;
    }
    if (seen[node]) return;
    seen[node] = true;
    for (const auto& edge : nodes_[node].deps)
        if (edge.run) add_run_closure(edge.to, edge.mount_dir, seen, out);
    out.push_back({node, std::nullopt});
}

std::vector<Placement> Graph::build_closure(std::size_t node) const {
    std::vector<Placement> out;
    std::vector<bool> seen(nodes_.size(), false);
    for (const auto& edge : nodes_[node].deps)
        if (edge.build) add_run_closure(edge.to, edge.mount_dir, seen, out);
    return out;
}

std::vector<Placement> Graph::run_closure(std::size_t node) const {
    std::vector<Placement> out;
    std::vector<bool> seen(nodes_.size(), false);
    add_run_closure(node, std::nullopt, seen, out);
    return out;
}

namespace {

KeyEncoder layer_encoder(const Graph& graph, std::size_t node, const std::vector<Key>& keys,
                         const SourceContentKey& source_key) {
    const LayerData& layer = *graph.node(node).layer;
    // What changes the layer's files, and nothing else: the name, RunArgs and
    // RunWorkingDir are left out (they do not change what a build writes).
    KeyEncoder encoder("layer");
    if (layer.source) encoder.field('S', source_key(layer));
    encode_build_recipe(encoder, layer);
    encoder.field('a', static_cast<std::uint64_t>(layer.always_run));
    for (const auto& placement : graph.build_closure(node)) {
        encoder.field('D', keys[placement.node])
            .field('m', placement.mount_dir.value_or(""))
            .field('M', static_cast<std::uint64_t>(placement.mount_dir.has_value()));
    }
    return encoder;
}

}  // namespace

std::vector<Key> compute_keys(const Graph& graph, const SourceContentKey& source_key) {
    std::vector<Key> keys(graph.size());
    for (std::size_t node : graph.topological_order())
        keys[node] = layer_encoder(graph, node, keys, source_key).finish();
    return keys;
}

std::string layer_key_encoding(const Graph& graph, std::size_t node, const std::vector<Key>& keys,
                               const SourceContentKey& source_key) {
    return layer_encoder(graph, node, keys, source_key).bytes();
}

}  // namespace bincastle
