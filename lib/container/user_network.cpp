#include "container/user_network.hpp"

#include "util/file_io.hpp"
#include "util/spawn.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace bincastle::container {

namespace {

// One request to slirp4netns's API socket; throws with its answer when it refuses.
void api_request(const std::string& socket_path, const std::string& request) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw SysError("socket", socket_path);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof address.sun_path) throw Error("socket path too long: " + socket_path);
    socket_path.copy(address.sun_path, socket_path.size());
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        throw SysError("connect", socket_path);
    if (::write(fd.get(), request.data(), request.size()) != static_cast<ssize_t>(request.size()))
        throw SysError("write", socket_path);
    ::shutdown(fd.get(), SHUT_WR);
    std::string answer;
    char buffer[1024];
    for (ssize_t n; (n = ::read(fd.get(), buffer, sizeof buffer)) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SysError("read", socket_path);
        answer.append(buffer, static_cast<std::size_t>(n));
    }
    if (answer.find("\"error\"") != std::string::npos) throw Error("slirp4netns refused " + request + ": " + answer);
}

std::string api_socket(const TempDir& dir) { return (dir.path() / "api.sock").string(); }
std::string log_file(const TempDir& dir) { return (dir.path() / "slirp4netns.log").string(); }

// slirp4netns reads its fds by number: 3 (exit) and 4 (ready).
// Its chatter goes to `log`, read back only when it fails.
ChildProcess spawn_slirp4netns(pid_t container, const Spec& spec, const std::string& api, const std::string& log,
                               int exit_fd, int ready_fd) {
    UniqueFd output(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!output) throw SysError("open", log);
    UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!null) throw SysError("open", "/dev/null");
    // Its own mount namespace and a seccomp filter: it parses the container's packets.
    std::vector<std::string> argv = {"slirp4netns", "--configure", "--mtu=65520", "--exit-fd=3", "--ready-fd=4",
                                     "--api-socket=" + api, "--enable-sandbox", "--enable-seccomp"};
    if (!spec.host_loopback) argv.push_back("--disable-host-loopback");
    argv.push_back(std::to_string(container));
    argv.push_back("tap0");
    try {
        return spawn({argv, std::nullopt, {}, null.get(), output.get(), output.get(), {exit_fd, ready_fd}});
    } catch (const Error& error) {
        throw Error(std::string(error.what()) + " (--net user)", "install slirp4netns (apt-get install slirp4netns)");
    }
}

}  // namespace

UserNetwork::UserNetwork(pid_t container, const Spec& spec) : UserNetwork(container, spec, [] {
    auto [exit_read, exit_write] = make_pipe("slirp4netns's exit");
    auto [ready_read, ready_write] = make_pipe("slirp4netns's ready");
    return Pipes{std::move(exit_read), std::move(exit_write), std::move(ready_read), std::move(ready_write)};
}()) {}

UserNetwork::UserNetwork(pid_t container, const Spec& spec, Pipes pipes)
    : api_dir_("bincastle-net"),
      exit_(std::move(pipes.exit_write)),
      ready_(std::move(pipes.ready_read)),
      slirp_(spawn_slirp4netns(container, spec, api_socket(api_dir_), log_file(api_dir_), pipes.exit_read.get(),
                               pipes.ready_write.get())) {
    pipes.exit_read.reset();
    pipes.ready_write.reset();
    // "1" once tap0 is up; end of file if it failed (it said why in its log).
    char ready = 0;
    ssize_t n = -1;
    pollfd wait{ready_.get(), POLLIN, 0};
    int polled;
    while ((polled = ::poll(&wait, 1, 30'000)) < 0 && errno == EINTR) {
    }
    if (polled == 0) throw Error("slirp4netns did not set up the container's network within 30 s (--net user)");
    while (polled > 0 && (n = ::read(ready_.get(), &ready, 1)) < 0 && errno == EINTR) {
    }
    if (n != 1) {
        // What it said, less its progress lines.
        std::string said;
        const std::string log = read_file_if_exists(log_file(api_dir_)).value_or("");
        for (std::size_t start = 0; start < log.size();) {
            std::size_t end = log.find('\n', start);
            if (end == std::string::npos) end = log.size();
            const std::string line = log.substr(start, end - start);
            start = end + 1;
            if (line.empty() || line.starts_with("sent tapfd") || line.starts_with("received tapfd") ||
                line.starts_with("child failed"))
                continue;
            said += (said.empty() ? "" : "; ") + line;
        }
        throw Error("slirp4netns could not set up the container's network (--net user)" + (said.empty() ? "" : ": " + said),
                    said.find("/dev/net/tun") != std::string::npos
                        ? "/dev/net/tun must be open to you (mode 0666, as Debian's udev rules make it)"
                        : "");
    }
    for (const auto& port : spec.ports)
        api_request(api_socket(api_dir_),
                    "{\"execute\": \"add_hostfwd\", \"arguments\": {\"proto\": \"tcp\", \"host_addr\": \"" +
                        port.host_address + "\", \"host_port\": " + std::to_string(port.host_port) +
                        ", \"guest_port\": " + std::to_string(port.container_port) + "}}");
}

}  // namespace bincastle::container
