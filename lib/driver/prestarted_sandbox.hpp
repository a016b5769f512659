#pragma once

// A `bincastle-inside sandbox` started before the system it runs is known: its start
// (a static glibc program, some 1 ms of probing the CPU under a hypervisor) overlaps
// the driver's own work, on another CPU where there is one. It waits for its
// arguments on a pipe; dropped unused, it sees the pipe close and exits, doing nothing.

#include "util/child_process.hpp"
#include "util/unique_fd.hpp"

#include <array>
#include <filesystem>
#include <string>
#include <vector>

namespace bincastle::driver {

class PrestartedSandbox {
public:
    PrestartedSandbox(const std::filesystem::path& inside_driver, const std::array<int, 3>& stdio);

    // Sends the sandbox its arguments (those after "sandbox"), once; the process stays
    // this object's, killed and reaped if dropped before it is waited for.
    ChildProcess& start(const std::vector<std::string>& args);

private:
    PrestartedSandbox(const std::filesystem::path& inside_driver, const std::array<int, 3>& stdio,
                      std::array<UniqueFd, 2> pipe);

    UniqueFd args_;
    ChildProcess process_;
};

}  // namespace bincastle::driver
