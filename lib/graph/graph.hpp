#pragma once

// The graph of a system's layers, evaluated from its root Layer: one node per
// distinct layer (by name), edges in declaration order. Checks that names are unique
// per recipe and that there is no cycle before anything runs.

#include <bincastle/key.hpp>
#include <bincastle/layer.hpp>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace bincastle {

struct GraphEdge {
    std::size_t to;
    bool build;
    bool run;
    std::optional<std::string> mount_dir;
};

struct GraphNode {
    std::shared_ptr<const LayerData> layer;
    std::vector<GraphEdge> deps;  // in declaration order
};

// A layer as it appears in a container: merged into the overlay, or bound at mount_dir.
struct Placement {
    std::size_t node;
    std::optional<std::string> mount_dir;
    bool operator==(const Placement&) const = default;
};

class Graph {
public:
    // Throws bincastle::Error for an unnamed layer, two different layers with one
    // name, a cycle (naming its path), or a path option that would not mean what it
    // says (naming the layer): a MountDir, OutputDir, BuildScratch or RunWorkingDir
    // that is relative or has '..', a MountDir on /, or on or under /proc, /dev, /sys.
    static Graph from(const Layer& root);
    // For tests and tools that assemble nodes themselves; checks as from() does.
    static Graph from_nodes(std::vector<GraphNode> nodes, std::size_t root);

    std::size_t size() const { return nodes_.size(); }
    std::size_t root() const { return root_; }
    const GraphNode& node(std::size_t index) const { return nodes_[index]; }
    const std::string& name(std::size_t index) const { return nodes_[index].layer->name; }

    // Every node, dependencies before dependents; ties in declaration order.
    std::vector<std::size_t> topological_order() const;
    // What is present while `node` builds, lowest first: its build deps, each with
    // everything it runs with.
    std::vector<Placement> build_closure(std::size_t node) const;
    // `node` and everything it runs with, lowest first: the running system's stack.
    std::vector<Placement> run_closure(std::size_t node) const;

private:
    void check_acyclic() const;
    void add_run_closure(std::size_t node, std::optional<std::string> mount_dir,
                         std::vector<bool>& seen, std::vector<Placement>& out) const;

    std::vector<GraphNode> nodes_;
    std::size_t root_ = 0;
};

// What a source's content is, for its key: a tree hash, a commit id, a sha256.
using SourceContentKey = std::function<Key(const LayerData& layer)>;

// The content key of every node (indexed like the graph): the layer's recipe and
// the keys of its build closure, with their mount points.
std::vector<Key> compute_keys(const Graph& graph, const SourceContentKey& source_key);

// The bytes a layer's key hashes, for the golden tests and `keys --explain`.
std::string layer_key_encoding(const Graph& graph, std::size_t node, const std::vector<Key>& keys,
                               const SourceContentKey& source_key);

}  // namespace bincastle
