#include "driver/client.hpp"

#include "driver/request.hpp"

#include <bincastle/container.hpp>
#include <bincastle/error.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

extern char** environ;

namespace bincastle::driver {

namespace {

UniqueFd connect_to(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!fd) throw SysError("socket", path);
    sockaddr_un address = socket_address(path);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        throw SysError("connect", path, "the bincastle that started this system has exited; leave the system");
    return fd;
}

UniqueFd duplicate(int fd) {
    UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
    if (!copy) throw SysError("dup", "fd " + std::to_string(fd), "start bincastle with stdin, stdout and stderr open");
    return copy;
}

// What a build started here must see of this system: its overrides, which system it
// is, and the terminal type.
std::vector<std::string> forwarded_environment() {
    std::vector<std::string> env;
    for (char** entry = environ; *entry; ++entry) {
        std::string_view variable(*entry);
        if (variable.starts_with("BINCASTLE_") || variable.starts_with("TERM=")) env.emplace_back(variable);
    }
    return env;
}

}  // namespace

int forward_to_supervisor(const std::string& socket_path, const std::vector<std::string>& args) {
    Channel channel(connect_to(socket_path));
    Request request;
    request.args = args;
    char cwd[4096];
    if (!::getcwd(cwd, sizeof cwd)) throw SysError("getcwd", ".");
    request.cwd = cwd;
    request.env = forwarded_environment();
    for (int fd = 0; fd < 3; ++fd) request.stdio[fd] = duplicate(fd);

    // Ctrl-C before the new system takes the terminal reaches this process: leaving
    // closes the socket, and the supervisor stops what it started.
    sigset_t winch;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    ::sigprocmask(SIG_BLOCK, &winch, nullptr);
    UniqueFd signals(::signalfd(-1, &winch, SFD_CLOEXEC));
    if (!signals) throw SysError("signalfd", "SIGWINCH");
    send_request(channel, request);
    for (auto& fd : request.stdio) fd.reset();

    while (true) {
        pollfd fds[2] = {{channel.fd(), POLLIN, 0}, {signals.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            throw SysError("poll", socket_path);
        }
        if (fds[1].revents & POLLIN) {
            signalfd_siginfo info;
            if (::read(signals.get(), &info, sizeof info) > 0) channel.send("winch");
        }
        if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        auto message = channel.receive();
        if (!message) throw Error("the supervisor closed the connection without an exit status");
        if (message->text.starts_with("status:")) return std::stoi(message->text.substr(7));
    }
}

}  // namespace bincastle::driver
