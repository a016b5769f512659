#include "plan/plan_graph.hpp"

#include <bincastle/error.hpp>

#include <memory>
#include <set>
#include <unordered_map>

namespace bincastle {

Plan make_plan(const Layer& system) {
    Graph graph = Graph::from(system);
    Plan plan;
    plan.system = graph.name(graph.root());
    for (std::size_t node : graph.topological_order()) {
        const LayerData& data = *graph.node(node).layer;
        PlanLayer layer;
        static_cast<LayerRecipe&>(layer) = data;
        layer.name = data.name;
        layer.source = data.source;
        for (const auto& edge : graph.node(node).deps)
            layer.deps.push_back({graph.name(edge.to), edge.build, edge.run, edge.mount_dir});
        plan.layers.push_back(std::move(layer));
    }
    return plan;
}

Graph graph_of(const Plan& plan) {
    std::unordered_map<std::string, std::size_t> index;
    std::vector<GraphNode> nodes;
    for (const PlanLayer& layer : plan.layers) {
        auto where = "plan: layer '" + layer.name + "'";
        if (layer.name.empty()) throw Error("plan: a layer without a name");
        if (index.count(layer.name)) throw Error(where + " is given twice");
        auto data = std::make_shared<LayerData>();
        static_cast<LayerRecipe&>(*data) = layer;
        data->name = layer.name;
        data->source = layer.source;
        GraphNode node;
        for (const PlanDependency& dep : layer.deps) {
            auto found = index.find(dep.layer);
            if (found == index.end())
                throw Error(where + " depends on '" + dep.layer + "', which does not come before it");
            data->deps.push_back({nodes[found->second].layer, dep.build, dep.run, dep.mount_dir});
            node.deps.push_back({found->second, dep.build, dep.run, dep.mount_dir});
        }
        node.layer = std::move(data);
        index[layer.name] = nodes.size();
        nodes.push_back(std::move(node));
    }
    auto root = index.find(plan.system);
    if (root == index.end()) throw Error("plan: the system '" + plan.system + "' is not one of its layers");
    if (root->second + 1 != index.size())
        throw Error("plan: the system '" + plan.system + "' is not the last layer", "list layers as 'bincastle plan' writes them");
    Graph graph = Graph::from_nodes(std::move(nodes), root->second);
    // One plan, one text: the layers must be exactly those the system reaches, in
    // the order make_plan lists them.
    std::vector<std::size_t> order = graph.topological_order();
    for (std::size_t i = 0; i < order.size(); ++i) {
        if (order[i] != i)
            throw Error("plan: layer '" + graph.name(i) + "' is out of order, or not reached by the system",
                        "list layers as 'bincastle plan' writes them");
    }
    return graph;
}

std::string plan_to_dot(const Plan& plan) {
    std::string out = "digraph bincastle {\n";
    for (const PlanLayer& layer : plan.layers) {
        out += "  \"" + layer.name + "\";\n";
        for (const PlanDependency& dep : layer.deps) {
            const char* style = dep.build && dep.run ? "solid" : dep.build ? "dashed" : "dotted";
            out += "  \"" + layer.name + "\" -> \"" + dep.layer + "\" [style=" + style +
                   (dep.mount_dir ? ", label=\"" + *dep.mount_dir + "\"" : "") + "];\n";
        }
    }
    return out + "}\n";
}

std::string plan_archives(const Plan& plan) {
    std::set<std::pair<std::string, std::string>> listed;
    std::string out;
    for (const PlanLayer& layer : plan.layers) {
        if (!layer.source || layer.source->kind != SourceSpec::Kind::http_archive) continue;
        if (listed.insert({layer.source->location, layer.source->revision}).second)
            out += layer.source->location + " " + layer.source->revision + "\n";
    }
    return out;
}

}  // namespace bincastle
