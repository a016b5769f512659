#pragma once

// The outermost `bincastle run` stays on the host while the system runs and serves a
// unix socket that every system it starts has at /run/bincastle.sock. A `bincastle`
// inside any of them sends its command there (request.hpp); the supervisor reaches the
// caller's files through /proc/PID/root, fetches, compiles and builds on the host, and
// starts the new system on the caller's terminal. The caller's system keeps running.

#include "util/child_process.hpp"
#include "util/unique_fd.hpp"

#include <filesystem>
#include <atomic>
#include <csignal>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace bincastle::driver {

class Supervisor {
public:
    Supervisor();
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;
    ~Supervisor();

    const std::string& socket_path() const { return socket_path_; }

    // Serves until `program` (the outermost system) exits, forwarding SIGTERM and
    // SIGHUP to it; returns its exit status once every nested run has ended. The
    // caller blocks SIGINT, SIGQUIT, SIGTERM and SIGHUP before starting threads.
    int serve_until(ChildProcess& program);

private:
    void serve_client(UniqueFd connection);

    // The held file beside the socket (see listen_on_new_socket), its lock, and the
    // socket: all three removed when dropped. Declared in the order made.
    std::filesystem::path held_path_;
    UniqueFd held_;
    std::string socket_path_;
    UniqueFd listener_;
    // One per client; a finished one is joined when the next client comes.
    struct ClientThread {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };
    void join_finished(bool all);
    std::vector<ClientThread> threads_;
};

// The signals the outermost driver blocks (and the supervisor reads).
sigset_t supervisor_signals();

}  // namespace bincastle::driver
