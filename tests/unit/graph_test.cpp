#include "graph/graph.hpp"
#include "graph/key_encoder.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include <map>

using namespace bincastle;

namespace {

// Sources keyed by a fake content table: changing an entry is "changing a byte".
struct FakeSources {
    std::map<std::string, std::string> content;
    SourceContentKey resolver() const {
        return [this](const LayerData& layer) { return hash_bytes(content.at(layer.name)); };
    }
};

// libc-src -> libc -> {zlib, busybox} -> system; tools is a build-only dep of busybox.
struct Defs {
    std::string libc_script = "make install";
    std::string zlib_env = "1";
    Layer src() const { return Layer(Name("libc-src"), LocalDir("musl")); }
    Layer libc() const { return Layer(Name("libc"), BuildDep(Wrap(src(), MountDir("/src"))), BuildScript({"cd /src", libc_script})); }
    Layer tools() const { return Layer(Name("tools"), BuildScript({"echo tools"})); }
    Layer zlib() const { return Layer(Name("zlib"), Dep(libc()), Env("Z", zlib_env), BuildScript({"make"})); }
    Layer busybox() const { return Layer(Name("busybox"), Dep(libc()), BuildDep(tools()), BuildScript({"make"})); }
    Layer system() const { return Layer(Name("system"), RunDep(busybox()), RunDep(zlib()), RunArgs({"/bin/sh"})); }
};

std::map<std::string, std::string> keys_by_name(const Layer& root, const FakeSources& sources) {
    Graph graph = Graph::from(root);
    auto keys = compute_keys(graph, sources.resolver());
    std::map<std::string, std::string> result;
    for (std::size_t i = 0; i < graph.size(); ++i) result[graph.name(i)] = keys[i].hex();
    return result;
}

std::vector<std::string> changed(const std::map<std::string, std::string>& a,
                                 const std::map<std::string, std::string>& b) {
    std::vector<std::string> names;
    for (const auto& [name, key] : a)
        if (b.at(name) != key) names.push_back(name);
    return names;
}

std::vector<std::string> names(const Graph& graph, const std::vector<Placement>& placements) {
    std::vector<std::string> result;
    for (const auto& p : placements) result.push_back(graph.name(p.node) + (p.mount_dir ? "@" + *p.mount_dir : ""));
    return result;
}

}  // namespace

TEST_CASE("a layer declared twice is one node; overlay orders are deterministic") {
    Graph graph = Graph::from(Defs{}.system());
    CHECK(graph.size() == 6);
    std::vector<std::string> order;
    for (auto node : graph.topological_order()) order.push_back(graph.name(node));
    CHECK(order == std::vector<std::string>{"libc-src", "libc", "tools", "busybox", "zlib", "system"});
    CHECK(names(graph, graph.run_closure(graph.root())) ==
          std::vector<std::string>{"libc", "busybox", "zlib", "system"});
    auto busybox = graph.topological_order()[3];
    CHECK(names(graph, graph.build_closure(busybox)) == std::vector<std::string>{"libc", "tools"});
    auto libc = graph.topological_order()[1];
    CHECK(names(graph, graph.build_closure(libc)) == std::vector<std::string>{"libc-src@/src"});
}

// The root only composes (RunDeps, no build): its own key does not move when what it
// runs with does; its run closure does.
TEST_CASE("keys are stable, and a change rebuilds exactly what is downstream of it") {
    FakeSources sources{{{"libc-src", "musl 1.2.3"}}};
    Defs defs;
    auto base = keys_by_name(defs.system(), sources);
    CHECK(keys_by_name(defs.system(), sources) == base);

    SUBCASE("a source byte") {
        FakeSources edited{{{"libc-src", "musl 1.2.3 patched"}}};
        CHECK(changed(base, keys_by_name(defs.system(), edited)) ==
              std::vector<std::string>{"busybox", "libc", "libc-src", "zlib"});
    }
    SUBCASE("a script line") {
        Defs edited;
        edited.libc_script = "make install-headers install";
        CHECK(changed(base, keys_by_name(edited.system(), sources)) ==
              std::vector<std::string>{"busybox", "libc", "zlib"});
    }
    SUBCASE("an env value") {
        Defs edited;
        edited.zlib_env = "2";
        CHECK(changed(base, keys_by_name(edited.system(), sources)) ==
              std::vector<std::string>{"zlib"});
    }
    SUBCASE("a build dep") {
        Layer other(Name("system"), RunDep(Layer(Name("busybox"), Dep(defs.libc()), BuildScript({"make"}))),
                    RunDep(defs.zlib()));
        auto keys = keys_by_name(other, sources);
        CHECK(keys.at("busybox") != base.at("busybox"));
        CHECK(keys.at("zlib") == base.at("zlib"));
    }
    SUBCASE("what does not change files does not change keys") {
        Layer renamed_args(Name("system"), RunDep(defs.busybox()), RunDep(defs.zlib()), RunArgs({"/bin/ash"}));
        CHECK(changed(base, keys_by_name(renamed_args, sources)).empty());
    }
}

TEST_CASE("the key of a fixed graph is pinned") {
    // A changed value here means every cached layer would be rebuilt: bump
    // key_format_version when that is intended.
    FakeSources sources{{{"libc-src", "musl 1.2.3"}}};
    auto keys = keys_by_name(Defs{}.system(), sources);
    CHECK(keys.at("libc-src") == "3016a85f2e7c272b686533721e48c2c9");
}

TEST_CASE("two different layers with one name are rejected") {
    Layer a(Name("x"), BuildScript({"one"}));
    Layer b(Name("x"), BuildScript({"two"}));
    Layer root(Name("root"), Dep(a), Dep(b));
    CHECK_THROWS_WITH_AS(Graph::from(root), "two different layers are named 'x'", Error);
}

TEST_CASE("an unnamed layer is rejected with the layer that needs it") {
    Layer root(Name("root"), Dep(Layer(BuildScript({"x"}))));
    CHECK_THROWS_WITH_AS(Graph::from(root), "a layer without a Name (a dependency of 'root')", Error);
}

TEST_CASE("a cycle is rejected with its path") {
    auto layer = [](const char* name) {
        return Layer(Name(name)).shared();
    };
    std::vector<GraphNode> nodes = {
        {layer("a"), {{1, true, true, {}}}},
        {layer("b"), {{2, true, true, {}}}},
        {layer("c"), {{1, true, false, {}}}},
    };
    CHECK_THROWS_WITH_AS(Graph::from_nodes(nodes, 0),
                         "the layers depend on each other in a cycle: b -> c -> b", Error);
}

TEST_CASE("the DSL's own misuse is refused before anything runs, naming the layer") {
    Layer src(Name("src"), LocalDir("src"));
    auto message = [](const Layer& layer) {
        try {
            Graph::from(layer);
        } catch (const Error& error) {
            return std::string(error.what());
        }
        return std::string("accepted");
    };
    auto wrapped = [&](const char* dir) { return Layer(Name("tool"), BuildDep(Wrap(src, MountDir(dir))), BuildScript({"x"})); };
    CHECK(message(wrapped("src")) == "layer 'tool': MountDir(\"src\") of 'src' is not an absolute path");
    CHECK(message(wrapped("/src/../etc")) == "layer 'tool': MountDir(\"/src/../etc\") of 'src' has '..' in it");
    CHECK(message(wrapped("/proc")) == "layer 'tool': MountDir(\"/proc\") of 'src' would shadow /proc");
    CHECK(message(wrapped("/dev/shm")) == "layer 'tool': MountDir(\"/dev/shm\") of 'src' would shadow /dev");
    CHECK(message(wrapped("//sys/")) == "layer 'tool': MountDir(\"//sys/\") of 'src' would shadow /sys");
    CHECK(message(wrapped("/")) == "layer 'tool': MountDir(\"/\") of 'src' would shadow /");
    CHECK(message(wrapped("/process/x")) == "accepted");
    CHECK(message(wrapped("/home/src")) == "accepted");

    // Refused wherever the layer sits in the graph.
    Layer deep(Name("root"), RunDep(Layer(Name("mid"), Dep(wrapped("/sys/x")))));
    CHECK(message(deep) == "layer 'tool': MountDir(\"/sys/x\") of 'src' would shadow /sys");

    CHECK(message(Layer(Name("x"), BuildScript({"x"}), OutputDir("out"))) ==
          "layer 'x': OutputDir(\"out\") is not an absolute path");
    CHECK(message(Layer(Name("x"), BuildScript({"x"}), OutputDir("/out/../.."))) ==
          "layer 'x': OutputDir(\"/out/../..\") has '..' in it");
    CHECK(message(Layer(Name("x"), BuildScript({"x"}), OutputDir("/out"))) == "accepted");
    CHECK(message(Layer(Name("x"), BuildScript({"x"}), BuildScratch("build"))) ==
          "layer 'x': BuildScratch(\"build\") is not an absolute path");
    CHECK(message(Layer(Name("x"), BuildScript({"x"}), BuildScratch("/build/.."))) ==
          "layer 'x': BuildScratch(\"/build/..\") has '..' in it");
    CHECK(message(Layer(Name("x"), BuildScript({"x"}), BuildScratch("/build"))) == "accepted");
    CHECK(message(Layer(Name("x"), RunWorkingDir("home/user"))) ==
          "layer 'x': RunWorkingDir(\"home/user\") is not an absolute path");
    CHECK(message(Layer(Name("x"), RunWorkingDir("/home/user"))) == "accepted");
    CHECK(message(Layer(Name(""), RunWorkingDir("/"))) == "a layer without a Name");
    CHECK(message(Layer(Name("root"), Dep(Layer(Name(""))))) == "a layer without a Name (a dependency of 'root')");
}
