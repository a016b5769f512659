#include "util/command_output.hpp"

#include "util/file_io.hpp"
#include "util/spawn.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace bincastle {

CommandOutput run_for_output(const std::vector<std::string>& argv) {
    auto out_pipe = make_pipe("the standard output of " + argv.at(0));
    auto err_pipe = make_pipe("the standard error of " + argv.at(0));
    UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!devnull) throw SysError("open", "/dev/null");
    ChildProcess child = spawn({argv, std::nullopt, {}, devnull.get(), out_pipe[1].get(), err_pipe[1].get()});
    out_pipe[1].reset();
    err_pipe[1].reset();
    CommandOutput result;
    // Both at once: a program that fills one pipe while we block on the other would hang.
    pollfd fds[2] = {{out_pipe[0].get(), POLLIN, 0}, {err_pipe[0].get(), POLLIN, 0}};
    std::string* into[2] = {&result.out, &result.err};
    int open = 2;
    char buffer[8192];
    while (open > 0) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            throw SysError("poll", "the output of " + argv[0]);
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !fds[i].revents) continue;
            ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw SysError("read", "the output of " + argv[0]);
            if (n == 0) {
                fds[i].fd = -1;
                --open;
                continue;
            }
            into[i]->append(buffer, static_cast<std::size_t>(n));
        }
    }
    result.status = child.wait();
    return result;
}

}  // namespace bincastle
