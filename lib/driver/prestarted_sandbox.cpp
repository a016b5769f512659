#include "driver/prestarted_sandbox.hpp"

#include "util/file_io.hpp"
#include "util/spawn.hpp"

#include <bincastle/error.hpp>

#include <fcntl.h>
#include <unistd.h>

namespace bincastle::driver {

namespace {

ChildProcess spawn_waiting(const std::filesystem::path& inside_driver, const std::array<int, 3>& stdio,
                           UniqueFd read_end) {
    return spawn({{inside_driver.string(), "sandbox", "--args-fd", "3"}, std::nullopt, {}, stdio[0], stdio[1],
                  stdio[2], {read_end.get()}});
}

}  // namespace

PrestartedSandbox::PrestartedSandbox(const std::filesystem::path& inside_driver, const std::array<int, 3>& stdio)
    : PrestartedSandbox(inside_driver, stdio, make_pipe("the sandbox's arguments")) {}

PrestartedSandbox::PrestartedSandbox(const std::filesystem::path& inside_driver, const std::array<int, 3>& stdio,
                                     std::array<UniqueFd, 2> pipe)
    : args_(std::move(pipe[1])), process_(spawn_waiting(inside_driver, stdio, std::move(pipe[0]))) {}

ChildProcess& PrestartedSandbox::start(const std::vector<std::string>& args) {
    if (!args_) throw Error("internal error: a prestarted sandbox started twice");
    std::string text;
    for (const auto& arg : args) {
        text += arg;
        text += '\0';
    }
    // A sandbox that is gone already (EPIPE: the driver ignores SIGPIPE) says why when waited for.
    try {
        write_all(args_.get(), text, "the sandbox's arguments");
    } catch (const SysError& error) {
        if (error.error_number() != EPIPE) throw;
    }
    args_.reset();
    return process_;
}

}  // namespace bincastle::driver
