// The definition program of bench/graph: a system of many small layers read from a
// graph file, so that bincastle, ninja and nix-build are given the same DAG.
//
//   BENCH_GRAPH=FILE    one layer a line: NAME SECONDS [BUILD_DEP...]; a dependency
//                       is named on an earlier line. Each layer is built on the base
//                       (Dep) and its build deps (BuildDep); its script sleeps SECONDS
//                       (when not 0) and writes /NAME.
//   BENCH_ROOTFS=DIR    the base layer: a busybox rootfs (tools/busybox-rootfs)
//
// The system runs with the layers that nothing else depends on.
#include <bincastle/main.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace bincastle;

int main(int argc, char** argv) {
    const char* graph_file = std::getenv("BENCH_GRAPH");
    const char* rootfs = std::getenv("BENCH_ROOTFS");
    if (!graph_file || !rootfs) {
        std::fprintf(stderr, "%s: set BENCH_GRAPH (the graph file) and BENCH_ROOTFS (a busybox rootfs)\n", argv[0]);
        return 2;
    }
    std::ifstream in(graph_file);
    if (!in) {
        std::fprintf(stderr, "%s: cannot read %s\n", argv[0], graph_file);
        return 2;
    }
    Layer base(Name("base"), LocalDir(rootfs));
    std::map<std::string, Layer> layers;
    std::vector<std::string> order;
    std::set<std::string> used;
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::string name, seconds;
        if (!(words >> name >> seconds) || name[0] == '#') continue;
        std::vector<Layer> deps;
        for (std::string dep; words >> dep;) {
            auto it = layers.find(dep);
            if (it == layers.end()) {
                std::fprintf(stderr, "%s: %s: %s needs %s, not defined above it\n", argv[0], graph_file,
                             name.c_str(), dep.c_str());
                return 2;
            }
            deps.push_back(it->second);
            used.insert(dep);
        }
        std::vector<std::string> script;
        if (seconds != "0") script.push_back("sleep " + seconds);
        script.push_back("echo " + name + " > /" + name);
        layers.emplace(name, Layer(Name(name), Dep(base), BuildDeps(deps), BuildScript(script)));
        order.push_back(name);
    }
    std::vector<Layer> tops;
    for (const auto& name : order)
        if (!used.count(name)) tops.push_back(layers.at(name));
    return bincastle::main(argc, argv, Layer(Name("system"), RunDep(base), RunDeps(tops)));
}
