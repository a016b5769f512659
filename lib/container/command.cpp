#include "container/command.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string_view>
#include <unistd.h>

namespace bincastle::container {

std::vector<std::string> command_environment(const Spec& spec) {
    std::vector<std::string> env = spec.env;
    bool has_path = false;
    for (const auto& entry : env) has_path |= entry.rfind("PATH=", 0) == 0;
    if (!has_path) env.push_back(std::string("PATH=") + default_path);
    return env;
}

void reset_signals() {
    for (int sig = 1; sig < NSIG; ++sig) {
        if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

namespace {

[[noreturn]] void fail(const std::string& name, int error_number) {
    std::string line = "bincastle: " + name + ": " + std::strerror(error_number) + "\n";
    (void)!::write(2, line.data(), line.size());
    ::_exit(error_number == ENOENT || error_number == ENOTDIR ? exit_not_found : exit_cannot_execute);
}

}  // namespace

void exec_command(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    std::vector<char*> argv;
    for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    std::string_view path = default_path;
    for (const auto& entry : env) {
        envp.push_back(const_cast<char*>(entry.c_str()));
        if (entry.rfind("PATH=", 0) == 0) path = std::string_view(entry).substr(5);
    }
    envp.push_back(nullptr);

    const std::string& name = args.front();
    if (name.find('/') != std::string::npos) {
        ::execve(name.c_str(), argv.data(), envp.data());
        fail(name, errno);
    }
    // As execvp does, but with the container's PATH rather than the caller's, and
    // remembering EACCES so that a found but unrunnable file says so.
    int error = ENOENT;
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find(':', start);
        if (end == std::string_view::npos) end = path.size();
        std::string dir(path.substr(start, end - start));
        std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        ::execve(candidate.c_str(), argv.data(), envp.data());
        if (errno != ENOENT && errno != ENOTDIR) error = errno;
        start = end + 1;
    }
    fail(name, error);
}

}  // namespace bincastle::container
