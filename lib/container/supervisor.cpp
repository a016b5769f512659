#include "container/supervisor.hpp"

#include "container/linux_api.hpp"
#include "container/pty.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace bincastle::container {

namespace {

// How long the container has to end once the caller's terminal has hung up. A pid 1
// ignores the SIGHUP it has no handler for, and one that does not read its terminal
// never sees the end of it: it is killed then.
constexpr std::chrono::seconds hangup_grace{5};

// The caller's stdio fds that are terminals, to tell later whether one has hung up.
std::vector<int> terminal_fds() {
    std::vector<int> fds;
    for (int fd = 0; fd <= 2; ++fd)
        if (::isatty(fd)) fds.push_back(fd);
    return fds;
}

// A hung-up terminal (or a pty whose other side closed) polls POLLHUP.
bool any_hung_up(const std::vector<int>& terminals) {
    for (int fd : terminals) {
        pollfd entry{fd, 0, 0};
        if (::poll(&entry, 1, 0) == 1 && (entry.revents & (POLLHUP | POLLERR))) return true;
    }
    return false;
}

// Bytes waiting to be written to a non-blocking fd.
struct Pending {
    std::string bytes;
    bool flush(int fd) {
        while (!bytes.empty()) {
            ssize_t n = ::write(fd, bytes.data(), bytes.size());
            if (n < 0) return errno == EAGAIN || errno == EINTR;
            bytes.erase(0, static_cast<size_t>(n));
        }
        return true;
    }
};

}  // namespace

int supervise(ChildProcess& child, const BlockedSignals* signals, UniqueFd master) {
    std::optional<RawTerminal> raw;
    bool relay_input = false;
    if (master) {
        raw.emplace(STDIN_FILENO);
        ::fcntl(master.get(), F_SETFL, ::fcntl(master.get(), F_GETFL) | O_NONBLOCK);
        relay_input = true;
    }
    Pending to_master;
    bool asked_to_stop = false;
    char buffer[65536];
    const std::vector<int> terminals = terminal_fds();
    bool hung_up = false;
    using Clock = std::chrono::steady_clock;
    Clock::time_point kill_at = Clock::time_point::max();  // none yet

    // Copies what the pty has for the caller; false once it reports its end (EIO
    // when no process holds the slave side any more).
    auto drain_master = [&]() -> bool {
        for (;;) {
            ssize_t n = ::read(master.get(), buffer, sizeof buffer);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) return true;
            if (n <= 0) return false;
            for (ssize_t done = 0; done < n;) {
                ssize_t w = ::write(STDOUT_FILENO, buffer + done, static_cast<size_t>(n - done));
                if (w < 0 && errno == EINTR) continue;
                if (w < 0) return true;  // the caller's terminal went away; keep the container's output flowing
                done += w;
            }
        }
    };
    bool master_open = static_cast<bool>(master);

    // The caller's terminal went away: the session in the container ends as a plain
    // one would. Closing the master hangs up the pty, so the kernel sends its session
    // SIGHUP and its readers get the end of file; what is left goes after the grace.
    auto hang_up = [&] {
        if (hung_up) return;
        hung_up = true;
        master.reset();
        master_open = false;
        relay_input = false;
        kill_at = Clock::now() + hangup_grace;
    };

    for (;;) {
        pollfd fds[4];
        nfds_t count = 0;
        fds[count++] = {child.pidfd(), POLLIN, 0};
        int signal_index = -1, master_index = -1, input_index = -1;
        if (signals) {
            signal_index = static_cast<int>(count);
            fds[count++] = {signals->fd(), POLLIN, 0};
        }
        if (master_open) {
            master_index = static_cast<int>(count);
            fds[count++] = {master.get(), static_cast<short>(POLLIN | (to_master.bytes.empty() ? 0 : POLLOUT)), 0};
            if (relay_input && to_master.bytes.size() < sizeof buffer) {
                input_index = static_cast<int>(count);
                fds[count++] = {STDIN_FILENO, POLLIN, 0};
            }
        }
        int timeout_ms = -1;
        if (kill_at != Clock::time_point::max()) {
            auto left = std::chrono::ceil<std::chrono::milliseconds>(kill_at - Clock::now());
            timeout_ms = static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0));
        }
        if (::poll(fds, count, timeout_ms) < 0 && errno != EINTR) throw SysError("poll", "container");
        if (Clock::now() >= kill_at) {
            child.signal(SIGKILL);
            kill_at = Clock::time_point::max();
        }
        if (fds[0].revents) {
            int status = child.wait();
            if (master_open) drain_master();
            return status;
        }
        if (signal_index >= 0 && fds[signal_index].revents) {
            signalfd_siginfo info{};
            while (::read(signals->fd(), &info, sizeof info) == sizeof info) {
                int sig = static_cast<int>(info.ssi_signo);
                if (sig == SIGWINCH) {
                    if (master) copy_window_size(STDIN_FILENO, master.get());
                    continue;
                }
                // A command running as pid 1 ignores signals it has no handler for;
                // asking twice means it must go.
                if ((sig == SIGINT || sig == SIGTERM) && asked_to_stop) {
                    child.signal(SIGKILL);
                    continue;
                }
                if (sig == SIGINT || sig == SIGTERM) asked_to_stop = true;
                child.signal(sig);
                if (sig == SIGHUP && any_hung_up(terminals)) hang_up();
            }
        }
        // A hangup above closed the master: skip what was polled for it.
        if (master_index >= 0 && master_open) {
            short events = fds[master_index].revents;
            if (events & POLLOUT) to_master.flush(master.get());
            if ((events & (POLLIN | POLLHUP | POLLERR)) && !drain_master()) master_open = false;
        }
        if (input_index >= 0 && relay_input && fds[input_index].revents) {
            ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
            // A raw terminal reads at least one byte: its end of file, like EIO, is a hangup.
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                hang_up();
            } else if (n > 0) {
                to_master.bytes.append(buffer, static_cast<size_t>(n));
                to_master.flush(master.get());
            }
        }
    }
}

}  // namespace bincastle::container
