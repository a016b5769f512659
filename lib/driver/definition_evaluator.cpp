#include "driver/definition_evaluator.hpp"

#include "util/file_io.hpp"
#include "util/file_tree.hpp"
#include "util/spawn.hpp"

#include <bincastle/error.hpp>

#include <sys/stat.h>

namespace fs = std::filesystem;

namespace bincastle::driver {

namespace {

// Far above any real plan (the demo's is 30 KiB); a runaway program is not read whole.
constexpr off_t max_plan_bytes = 256 << 20;

std::string describe_status(int status) {
    if (status > 128) return "was killed by signal " + std::to_string(status - 128);
    return "exited with status " + std::to_string(status);
}

}  // namespace

Plan evaluate_definition(const ProgramLaunch& launch, const std::array<int, 3>& stdio) {
    TempDir scratch("bincastle-plan");
    fs::path plan_file = scratch.path() / "plan.json";
    std::vector<std::string> argv = launch.argv;
    argv.insert(argv.end(), {"-o", plan_file.string()});
    auto program = spawn({argv, launch.env, launch.definition_dir, stdio[0], stdio[1], stdio[2]});
    int status = program.wait();
    if (status != 0) throw Error("the definition " + describe_status(status) + " while it was evaluated");
    struct stat info {};
    if (::stat(plan_file.c_str(), &info) != 0) throw Error("the definition wrote no plan", "does its main() return bincastle::main(...)?");
    if (info.st_size > max_plan_bytes) throw Error("the definition's plan is larger than 256 MiB");
    return plan_from_json(read_file(plan_file.string()));
}

}  // namespace bincastle::driver
