#include "container/join.hpp"

#include "container/command.hpp"
#include "container/init.hpp"
#include "container/pty.hpp"
#include "container/seccomp.hpp"
#include "container/supervisor.hpp"
#include "util/file_io.hpp"
#include "util/process.hpp"
#include "util/signal_scope.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/container.hpp>
#include <bincastle/error.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bincastle::container {

namespace {

constexpr int all_namespaces =
    CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;

UniqueFd open_pidfd(pid_t pid) {
    UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!fd) throw SysError("pidfd_open", "process " + std::to_string(pid), "has the system ended?");
    return fd;
}

UniqueFd open_in_proc(pid_t pid, const char* what) {
    const std::string path = "/proc/" + std::to_string(pid) + "/" + what;
    UniqueFd fd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) throw SysError("open", path, "is the system yours, and still running?");
    return fd;
}

std::vector<std::string> environment_of(pid_t pid) {
    const std::string text = read_file("/proc/" + std::to_string(pid) + "/environ");
    std::vector<std::string> env;
    for (std::size_t start = 0; start < text.size();) {
        std::size_t end = text.find('\0', start);
        if (end == std::string::npos) end = text.size();
        if (end > start) env.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return env;
}

[[noreturn]] void fail(const std::string& message) {
    const std::string line = "bincastle: " + message + "\n";
    (void)!::write(STDERR_FILENO, line.data(), line.size());
    ::_exit(exit_setup_failed);
}

// In the forked child: into the namespaces, then a grandchild (the first process of
// the container's pid namespace that it starts) runs the command.
[[noreturn]] void enter_and_run(const JoinSpec& spec, int pidfd, int root, int cwd, const std::vector<std::string>& env,
                                int tty_slave) noexcept {
    // Not dumpable before it is in the system: nothing there may ptrace it or open its
    // /proc files (its exe is bincastle's binary on the host).
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || ::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        fail("prctl: " + std::string(std::strerror(errno)));
    if (::setns(pidfd, all_namespaces) != 0)
        fail("setns into the system's namespaces: " + std::string(std::strerror(errno)));
    if (::fchdir(root) != 0 || ::chroot(".") != 0 || ::fchdir(cwd) != 0)
        fail("entering the system's root: " + std::string(std::strerror(errno)));
    // Blocked before the fork, so that no signal is lost before run_init relays them.
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_BLOCK, &all, nullptr);
    const pid_t command = ::fork();
    if (command < 0) fail("fork: " + std::string(std::strerror(errno)));
    if (command == 0) {
        try {
            if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) throw SysError("prctl(PR_SET_PDEATHSIG)", "");
            if (::setsid() < 0) throw SysError("setsid", "");
            if (tty_slave >= 0) become_terminal_owner(tty_slave);
            // Nothing of the caller's but stdio reaches the system.
            if (::close_range(3, ~0U, 0) != 0) throw SysError("close_range", "fds from 3");
            install_default_filter();
        } catch (const Error& error) {
            fail(error.what());
        }
        reset_signals();
        exec_command(spec.args, env);
    }
    if (tty_slave >= 0) ::close(tty_slave);
    // Passes the signals bincastle relays on to the command, and its status back.
    run_init(command, -1, spec.args[0]);
}

}  // namespace

int join(const JoinSpec& spec) {
    if (spec.args.empty()) throw Error("no command to run in the system");
    // Through a pidfd taken first: what is read below is of this very process.
    const UniqueFd pidfd = open_pidfd(spec.init);
    const UniqueFd root = open_in_proc(spec.init, "root");
    const UniqueFd cwd = open_in_proc(spec.init, "cwd");
    const std::vector<std::string> env = environment_of(spec.init);
    std::optional<Pty> pty;
    if (spec.tty) pty = open_pty(root.get());

    sigset_t handled;
    sigemptyset(&handled);
    for (int sig : forwarded_signals) sigaddset(&handled, sig);
    if (spec.tty) sigaddset(&handled, SIGWINCH);
    BlockedSignals signals(handled);

    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child < 0) throw SysError("fork", "joining the system");
    if (child == 0) enter_and_run(spec, pidfd.get(), root.get(), cwd.get(), env, pty ? pty->slave.get() : -1);
    int child_pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
    if (child_pidfd < 0) {
        const int error = errno;
        ::kill(child, SIGKILL);
        ::waitpid(child, nullptr, 0);
        throw SysError(error, "pidfd_open", "process " + std::to_string(child));
    }
    ChildProcess process(child, child_pidfd);
    UniqueFd master;
    if (pty) {
        pty->slave.reset();
        copy_window_size(STDIN_FILENO, pty->master.get());
        master = std::move(pty->master);
    }
    return supervise(process, &signals, std::move(master));
}

}  // namespace bincastle::container
