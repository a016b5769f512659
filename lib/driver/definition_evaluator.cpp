#include "driver/definition_evaluator.hpp"

#include "driver/host_tool_sandbox.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"

#include <bincastle/container.hpp>
#include <bincastle/error.hpp>

#include <csignal>
#include <sys/stat.h>

namespace fs = std::filesystem;

namespace bincastle::driver {

namespace {

// Far above any real plan (the demo's is 30 KiB); a runaway program is not read whole.
constexpr off_t max_plan_bytes = 256 << 20;

}  // namespace

Evaluation evaluate_definition(const ProgramLaunch& launch, const std::array<int, 3>& stdio,
                               const fs::path& sandbox_program, const EvaluationLimits& limits) {
    TempDir out("bincastle-plan");
    HostToolRun run;
    run.argv = launch.argv;
    run.argv.insert(run.argv.end(), {"-o", (out.path() / "plan.json").string()});
    run.env = launch.env;
    run.cwd = launch.definition_dir;
    run.read_only = {fs::path(launch.argv[0]).parent_path(), launch.source_root};
    run.writable = {out.path()};
    run.stdio = stdio;
    run.memory = limits.memory;
    run.timeout = limits.time;
    // Evaluation only describes the system: nothing it starts may outlive it.
    run.no_leftovers = true;
    auto [status, timed_out] = run_host_tool(run, sandbox_program);
    if (timed_out)
        throw Error("the definition did not finish evaluating within " + std::to_string(limits.time.count()) + " s",
                    "does it loop? (--evaluation-timeout SECONDS gives it longer)");
    // The program (or its sandbox) said what failed, on the caller's stderr.
    if (status == container::exit_setup_failed) return {};
    if (status == container::exit_cannot_execute || status == container::exit_not_found) return {std::nullopt, status};
    if (status == 128 + SIGKILL)
        throw Error("the definition was killed while it was evaluated",
                    "its memory limit is " + std::to_string(limits.memory >> 20) + " MiB");
    if (status > 128)
        throw Error("the definition was killed by signal " + std::to_string(status - 128) + " while it was evaluated");
    if (status != 0) throw Error("the definition exited with status " + std::to_string(status) + " while it was evaluated");
    fs::path plan_file = out.path() / "plan.json";
    struct stat info {};
    if (::stat(plan_file.c_str(), &info) != 0)
        throw Error("the definition wrote no plan", "does its main() return bincastle::main(argc, argv, system)?");
    if (info.st_size > max_plan_bytes) throw Error("the definition's plan is larger than 256 MiB");
    return {plan_from_json(read_file(plan_file.string())), std::nullopt};
}

}  // namespace bincastle::driver
