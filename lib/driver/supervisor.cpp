#include "driver/supervisor.hpp"

#include "util/channel.hpp"
#include "util/file_tree.hpp"
#include "store/store.hpp"
#include "driver/host_verbs.hpp"
#include "driver/inside_tree.hpp"
#include "driver/request.hpp"
#include "util/shared_names.hpp"

#include <bincastle/container.hpp>
#include <bincastle/error.hpp>

#include <cerrno>
#include <cstring>
#include <optional>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle::driver {

namespace {

// A supervisor's socket is PREFIX.held-XXXXXX.sock in the temporary directory, beside
// the file PREFIX.held-XXXXXX that the supervisor holds (flock) while it lives: a later
// supervisor removes both when their holder was killed. The socket itself can be
// neither opened nor locked, and whether it answers could not tell a dead supervisor
// from one between bind and listen.
constexpr const char* socket_prefix = "bincastle-supervisor";
constexpr const char* socket_suffix = ".sock";

// A new socket, reached by its owner only (mode 0600 from its first moment: bound
// under umask 077; the process has one thread here), and the held file beside it. No
// directory of its own: creating and removing one cost each run some 0.2 ms.
UniqueFd listen_on_new_socket(fs::path& held, UniqueFd& lock, std::string& path) {
    remove_abandoned(temp_base(), socket_prefix, socket_suffix);
    UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!fd) throw SysError("socket", "supervisor");
    for (int attempt = 0;; ++attempt) {
        lock = make_held_file(temp_base(), socket_prefix, held);
        path = held.string() + socket_suffix;
        sockaddr_un address = socket_address(path);
        const mode_t umask = ::umask(077);
        const int bound = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
        const int error = errno;
        ::umask(umask);
        if (bound == 0) break;
        ::unlink(held.c_str());
        if (error != EADDRINUSE || attempt == 10) throw SysError(error, "bind", path);
    }
    if (::listen(fd.get(), 16) != 0) {
        int error = errno;
        ::unlink(path.c_str());
        ::unlink(held.c_str());
        throw SysError(error, "listen", path);
    }
    return fd;
}

// Only processes with the supervisor's own (host) uid: the system's root, for a
// system started by an ordinary user.
void check_peer_uid(int connection) {
    ucred credentials{};
    socklen_t size = sizeof credentials;
    if (::getsockopt(connection, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0)
        throw SysError("getsockopt(SO_PEERCRED)", "supervisor socket");
    if (credentials.uid != ::geteuid())
        throw Error("only the system's root may start builds on the host (this is uid " +
                    std::to_string(credentials.uid) + " outside)");
}

std::string value_of(const std::vector<std::string>& env, std::string_view name) {
    for (const auto& variable : env)
        if (variable.size() > name.size() && variable.starts_with(name) && variable[name.size()] == '=')
            return variable.substr(name.size() + 1);
    return {};
}

// The host copies named in a message, as the caller inside knows them.
std::string as_seen_inside(std::string text, const std::vector<std::pair<std::string, std::string>>& mirrors) {
    for (const auto& [host, inside] : mirrors)
        for (std::size_t at; (at = text.find(host)) != std::string::npos;) text.replace(at, host.size(), inside);
    return text;
}

// Waits for a program started for a client, passing on its terminal's resizes; when
// the client goes away, so does the program (TERM, then KILL after a grace period).
int wait_watching(ChildProcess& program, const Channel& client) {
    bool client_gone = false;
    int grace_ms = -1;
    while (true) {
        pollfd fds[2] = {{program.pidfd(), POLLIN, 0}, {client_gone ? -1 : client.fd(), POLLIN, 0}};
        int ready = ::poll(fds, 2, grace_ms);
        if (ready < 0 && errno != EINTR) throw SysError("poll", "supervisor");
        if (ready == 0) {
            program.signal(SIGKILL);
            grace_ms = -1;
        }
        if (fds[0].revents & POLLIN) return program.wait();
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            auto message = client.receive();
            if (!message) {
                client_gone = true;
                program.signal(SIGTERM);
                grace_ms = 5000;
            } else if (message->text == "winch") {
                program.signal(SIGWINCH);
            }
        }
    }
}

}  // namespace

sigset_t supervisor_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGINT, SIGQUIT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
    return set;
}

Supervisor::Supervisor() : listener_(listen_on_new_socket(held_path_, held_, socket_path_)) {}

Supervisor::~Supervisor() {
    listener_.reset();
    // The socket first: the held file goes last, still held.
    ::unlink(socket_path_.c_str());
    ::unlink(held_path_.c_str());
    held_.reset();
    join_finished(true);
}

void Supervisor::join_finished(bool all) {
    std::erase_if(threads_, [all](ClientThread& client) {
        if (!all && !*client.done) return false;
        client.thread.join();
        return true;
    });
}

int Supervisor::serve_until(ChildProcess& program) {
    sigset_t signals = supervisor_signals();
    UniqueFd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signal_fd) throw SysError("signalfd", "supervisor");
    while (true) {
        pollfd fds[3] = {{program.pidfd(), POLLIN, 0}, {listener_.get(), POLLIN, 0}, {signal_fd.get(), POLLIN, 0}};
        if (::poll(fds, 3, -1) < 0) {
            if (errno == EINTR) continue;
            throw SysError("poll", socket_path());
        }
        if (fds[0].revents & POLLIN) break;
        if (fds[1].revents & POLLIN) {
            UniqueFd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
            join_finished(false);
            if (connection) {
                auto done = std::make_shared<std::atomic<bool>>(false);
                std::thread thread([this, done, fd = connection.release()] {
                    try {
                        serve_client(UniqueFd(fd));
                    } catch (...) {
                        // Its client is told nothing more; the supervisor goes on.
                    }
                    *done = true;
                });
                threads_.push_back({std::move(thread), done});
            }
        }
        if (fds[2].revents & POLLIN) {
            signalfd_siginfo info;
            while (::read(signal_fd.get(), &info, sizeof info) == sizeof info) {
                // INT and QUIT came from the terminal, which sent them to the program too.
                if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGHUP) program.signal(static_cast<int>(info.ssi_signo));
            }
        }
    }
    int status = program.wait();
    // The systems nested in it ran in it: their clients are gone, so their programs end.
    listener_.reset();
    join_finished(true);
    return status;
}

void Supervisor::serve_client(UniqueFd connection) {
    int status = container::exit_setup_failed;
    std::optional<ClientRoot> root;
    std::string refused;
    try {
        check_peer_uid(connection.get());
        root.emplace(connection.get());
    } catch (const Error& error) {
        refused = error.what();
    }
    Channel client(std::move(connection));
    Request request;
    try {
        request = receive_request(client);
    } catch (const Error&) {
        return;
    }
    int err = request.stdio[2].get();
    std::vector<std::pair<std::string, std::string>> mirrors;
    try {
        if (!refused.empty()) throw Error(refused);
        if (request.args.empty() || !names::is_forwarded_verb(request.args[0]))
            throw Error("unknown command '" + (request.args.empty() ? "" : request.args[0]) + "'", "see 'bincastle --help'");
        Caller caller;
        caller.origin.cwd = request.cwd;
        caller.origin.parent_system = value_of(request.env, names::system_variable);
        fs::path store_root = Store::default_root();
        caller.origin.host_dir = [&](const std::string& inside) {
            fs::path copy = root->mirror(inside, caller.origin.parent_system, store_root);
            mirrors.emplace_back(copy.string(), inside);
            return copy;
        };
        caller.origin.write_back = [&](const fs::path& host, const std::string& inside) { root->write_back(host, inside); };
        for (const auto& variable : request.env)
            if (variable.starts_with(names::override_prefix)) caller.origin.overrides.push_back(variable);
        if (std::string term = value_of(request.env, "TERM"); !term.empty()) caller.origin.term = term;
        caller.stdio = {request.stdio[0].get(), request.stdio[1].get(), err};
        caller.socket_path = socket_path();
        caller.wait = [&client](ChildProcess& program) { return wait_watching(program, client); };
        status = run_host_verb(request.args[0], {request.args.begin() + 1, request.args.end()}, caller);
    } catch (const Error& error) {
        std::string hint = error.hint().empty() ? "" : "; " + error.hint();
        ::dprintf(err, "bincastle: %s%s\n", as_seen_inside(error.what(), mirrors).c_str(), hint.c_str());
    } catch (const std::exception& error) {
        ::dprintf(err, "bincastle: %s\n", as_seen_inside(error.what(), mirrors).c_str());
    }
    try {
        client.send("status:" + std::to_string(status));
    } catch (const Error&) {
    }
}

}  // namespace bincastle::driver
