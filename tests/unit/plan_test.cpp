#include "graph/graph.hpp"
#include "graph/key_encoder.hpp"
#include "plan/plan_graph.hpp"
#include "test_files.hpp"

#include <bincastle/error.hpp>
#include <bincastle/plan.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <map>

using namespace bincastle;

namespace {

// Every option and every kind of source, once.
Layer every_option() {
    Layer base(Name("base"), LocalDir("rootfs", Exclude({"build", ".git"})));
    Layer src(Name("src"), Git("https://example.org/src.git", "v1.0"), LocalOverride());
    Layer archive(Name("archive"), HttpArchive("https://example.org/a.tar.gz", std::string(64, 'a'), 1));
    Layer host(Name("host"), HostPackages({"gcc-12", "make"}));
    Layer image(Name("image"), Image("registry.example/debian:12@sha256:" + std::string(64, 'b')));
    Layer tool(Name("tool"), Dep(base), BuildDep(host), BuildDep(Wrap(src, MountDir("/src"))),
               BuildDep(Wrap(archive, MountDir("/archive"))), Env("CFLAGS", "-O2"), Env("CFLAGS", "-g \"quoted\""),
               BuildScript({"cd /src", "make install DESTDIR=/out"}), BuildScratch("/tmp/work"), OutputDir("/out"),
               AlwaysRun());
    return Layer(Name("system"), RunDep(image), RunDep(base), RunDep(tool), RunDep(Wrap(src, MountDir("/home/src"))),
                 Env("PATH", "/bin"), RunArgs({"/bin/sh", "-l"}), RunWorkingDir("/home"));
}

std::filesystem::path golden(const char* name) { return std::filesystem::path(BINCASTLE_GOLDEN_DIR) / name; }

// BINCASTLE_UPDATE_GOLDEN=1 rewrites the golden file instead (then review the diff).
void check_golden(const char* name, const std::string& text) {
    if (const char* update = std::getenv("BINCASTLE_UPDATE_GOLDEN"); update && *update == '1') {
        testing::write(golden(name), text);
        return;
    }
    CHECK(text == testing::read(golden(name)));
}

std::map<std::string, Key> keys_by_name(const Graph& graph) {
    SourceContentKey source_key = [](const LayerData& layer) { return hash_bytes("content of " + layer.name); };
    std::vector<Key> keys = compute_keys(graph, source_key);
    std::map<std::string, Key> by_name;
    for (std::size_t node = 0; node < graph.size(); ++node) by_name[graph.name(node)] = keys[node];
    return by_name;
}

std::string refusal(const std::string& text) {
    try {
        graph_of(plan_from_json(text));
    } catch (const Error& error) {
        return error.what();
    }
    return "accepted";
}

const std::string minimal_layer =
    R"({"name":"a","source":null,"overridable":false,"deps":[],"env":[],"build_script":[],"build_scratch":[],)"
    R"("output_dir":null,"run_args":[],"run_working_dir":null,"always_run":false})";

std::string plan_text(const std::string& layers, const std::string& system = "a", const std::string& version = "1") {
    return R"({"bincastle_plan":)" + version + R"(,"system":")" + system + R"(","layers":[)" + layers + "]}";
}

std::string with(std::string text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("the plan's JSON is pinned by a golden file") {
    // If this fails, the plan's format changed: bump plan_schema_version when what it
    // means changed, and regenerate with BINCASTLE_UPDATE_GOLDEN=1.
    Plan plan = make_plan(every_option());
    check_golden("plan.json", plan_to_json(plan, PlanStyle::indented));
    check_golden("plan.compact.json", plan_to_json(plan) + "\n");
}

TEST_CASE("a plan lists each layer once, dependencies first, the system last") {
    Plan plan = make_plan(every_option());
    std::vector<std::string> names;
    for (const auto& layer : plan.layers) names.push_back(layer.name);
    REQUIRE(names == std::vector<std::string>{"image", "base", "host", "src", "archive", "tool", "system"});
    CHECK(plan.system == "system");
    CHECK(plan.layers[5].deps[2] == PlanDependency{"src", true, false, "/src"});
    CHECK(plan.layers[5].env.size() == 2);
}

TEST_CASE("a plan reads back as itself, in either style") {
    Plan plan = make_plan(every_option());
    CHECK(plan_from_json(plan_to_json(plan)) == plan);
    CHECK(plan_from_json(plan_to_json(plan, PlanStyle::indented)) == plan);
}

TEST_CASE("the graph of a plan has the keys of the graph of its layers") {
    Layer system = every_option();
    Graph direct = Graph::from(system);
    Graph planned = graph_of(plan_from_json(plan_to_json(make_plan(system))));
    CHECK(planned.size() == direct.size());
    CHECK(keys_by_name(planned) == keys_by_name(direct));
    CHECK(planned.name(planned.root()) == "system");
}

TEST_CASE("a plan that is not canonical is refused, saying where") {
    CHECK(refusal(plan_text(minimal_layer)) == "accepted");
    CHECK(refusal("{") .find("plan: not JSON") == 0);
    CHECK(refusal(plan_text(minimal_layer, "a", "2")) == "plan.bincastle_plan: this bincastle reads plans of schema 1");
    CHECK(refusal(with(plan_text(minimal_layer), R"("always_run":false)", R"("always_run":0)")) ==
          "plan.layers[0].always_run: expected true or false");
    CHECK(refusal(with(plan_text(minimal_layer), R"(,"always_run":false)", "")) ==
          "plan.layers[0]: no member 'always_run'");
    CHECK(refusal(with(plan_text(minimal_layer), R"("always_run":false)", R"("always_run":false,"x":1)")) ==
          "plan.layers[0]: unknown member 'x'");
    CHECK(refusal(with(plan_text(minimal_layer), R"("source":null)", R"("source":{"kind":"ftp"})")) ==
          "plan.layers[0].source.kind: unknown source kind 'ftp'");
    CHECK(refusal(with(plan_text(minimal_layer), R"("env":[])", R"("env":[["K"]])")) ==
          "plan.layers[0].env[0]: expected [KEY, VALUE]");
    CHECK(refusal(plan_text(minimal_layer + "," + minimal_layer)) == "plan: layer 'a' is given twice");
    std::string b_on_a = with(with(minimal_layer, R"("name":"a")", R"("name":"b")"), R"("deps":[])",
                              R"("deps":[{"layer":"a","build":true,"run":true,"mount_dir":null}])");
    CHECK(refusal(plan_text(minimal_layer + "," + b_on_a, "b")) == "accepted");
    CHECK(refusal(plan_text(b_on_a + "," + minimal_layer, "b")) ==
          "plan: layer 'b' depends on 'a', which does not come before it");
    CHECK(refusal(plan_text(minimal_layer + "," + b_on_a, "a")).find("plan: the system 'a' is not the last layer") == 0);
    CHECK(refusal(plan_text(minimal_layer, "nothing")) == "plan: the system 'nothing' is not one of its layers");
    std::string c = with(minimal_layer, R"("name":"a")", R"("name":"c")");
    CHECK(refusal(plan_text(minimal_layer + "," + c + "," + b_on_a, "b"))
              .find("plan: layer 'c' is out of order, or not reached by the system") == 0);
}
