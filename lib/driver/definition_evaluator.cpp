#include "driver/definition_evaluator.hpp"

#include "util/file_io.hpp"
#include "util/file_tree.hpp"
#include "util/spawn.hpp"

#include <bincastle/error.hpp>
#include <bincastle/sandbox_command.hpp>

#include <cerrno>
#include <csignal>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle::driver {

namespace {

// Far above any real plan (the demo's is 30 KiB); a runaway program is not read whole.
constexpr off_t max_plan_bytes = 256 << 20;

// The host directories a dynamically linked program needs to start: the loader and
// libc live under /usr, or under /lib* on hosts without merged /usr.
constexpr const char* system_dirs[] = {"/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin"};

cli::SandboxCommand evaluation_sandbox(const ProgramLaunch& launch, const fs::path& root, const fs::path& out_dir,
                                       const EvaluationLimits& limits) {
    cli::SandboxCommand command;
    command.die_with_parent = true;
    command.expected_parent = static_cast<int>(::getpid());
    // Which limit mechanism holds the program is not news at every run.
    command.quiet = true;
    container::Spec& spec = command.spec;
    spec.rootfs = root.string();
    for (const char* dir : system_dirs)
        if (fs::is_directory(dir)) spec.mounts.push_back({container::Mount::Kind::ro_bind, dir, dir});
    fs::path program_dir = fs::path(launch.argv[0]).parent_path();
    spec.mounts.push_back({container::Mount::Kind::ro_bind, program_dir.string(), program_dir.string()});
    spec.mounts.push_back({container::Mount::Kind::ro_bind, launch.source_root.string(), launch.source_root.string()});
    spec.mounts.push_back({container::Mount::Kind::bind, out_dir.string(), out_dir.string()});
    spec.args = launch.argv;
    spec.args.insert(spec.args.end(), {"-o", (out_dir / "plan.json").string()});
    spec.env = launch.env;
    spec.cwd = launch.definition_dir.string();
    spec.network = container::Network::none;
    spec.limits.memory_max = limits.memory;
    spec.limits.pids_max = 1024;
    spec.tty = false;
    // Not pid 1: a program's own signals (abort) then act as they do anywhere.
    spec.init = true;
    return command;
}

// Waits for the program until `timeout`; then kills it (and so its sandbox).
int wait_at_most(container::ChildProcess& program, std::chrono::seconds timeout, bool& timed_out) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd fd{program.pidfd(), POLLIN, 0};
        int ready = ::poll(&fd, 1, static_cast<int>(std::max<long>(0, left.count())));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) throw SysError("poll", "definition program");
        if (ready == 0) {
            timed_out = true;
            program.signal(SIGKILL);
        }
        return program.wait();
    }
}

}  // namespace

std::optional<Plan> evaluate_definition(const ProgramLaunch& launch, const std::array<int, 3>& stdio, const fs::path& sandbox_program,
                         const EvaluationLimits& limits) {
    TempDir scratch("bincastle-eval");
    fs::create_directory(scratch.path() / "root");
    fs::create_directory(scratch.path() / "out");
    cli::SandboxCommand sandbox = evaluation_sandbox(launch, scratch.path() / "root", scratch.path() / "out", limits);
    std::vector<std::string> argv = {sandbox_program.string(), "sandbox"};
    for (auto& arg : cli::sandbox_args(sandbox)) argv.push_back(std::move(arg));
    auto program = spawn({argv, std::vector<std::string>{}, {}, stdio[0], stdio[1], stdio[2]});
    bool timed_out = false;
    int status = wait_at_most(program, limits.time, timed_out);
    if (timed_out)
        throw Error("the definition did not finish evaluating within " + std::to_string(limits.time.count()) + " s",
                    "does it loop? (--evaluation-timeout SECONDS gives it longer)");
    // The program (or its sandbox) said what failed, on the caller's stderr.
    if (status == container::exit_setup_failed) return std::nullopt;
    if (status == 128 + SIGKILL)
        throw Error("the definition was killed while it was evaluated",
                    "its memory limit is " + std::to_string(limits.memory >> 20) + " MiB");
    if (status > 128)
        throw Error("the definition was killed by signal " + std::to_string(status - 128) + " while it was evaluated");
    if (status != 0) throw Error("the definition exited with status " + std::to_string(status) + " while it was evaluated");
    fs::path plan_file = scratch.path() / "out" / "plan.json";
    struct stat info {};
    if (::stat(plan_file.c_str(), &info) != 0)
        throw Error("the definition wrote no plan", "does its main() return bincastle::main(argc, argv, system)?");
    if (info.st_size > max_plan_bytes) throw Error("the definition's plan is larger than 256 MiB");
    return plan_from_json(read_file(plan_file.string()));
}

}  // namespace bincastle::driver
