#include "container/pty.hpp"

#include "container/path_in_root.hpp"

#include <bincastle/error.hpp>

#include <cstdlib>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace bincastle::container {

Pty open_pty(int root_fd) {
    Pty pty;
    pty.master = open_in_root(root_fd, "/dev/pts/ptmx", O_RDWR | O_NOCTTY);
    if (!pty.master) throw SysError("open", "/dev/pts/ptmx (inside the container)");
    if (::unlockpt(pty.master.get()) != 0) throw SysError("unlockpt", "/dev/pts/ptmx");
    // TIOCGPTPEER opens the peer through the master, not by a path a race could swap.
    pty.slave.reset(::ioctl(pty.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!pty.slave) throw SysError("ioctl(TIOCGPTPEER)", "/dev/pts/ptmx");
    return pty;
}

void use_as_console(int slave) {
    for (int fd = 0; fd <= 2; ++fd) {
        if (::dup2(slave, fd) < 0) throw SysError("dup2", "pty");
    }
}

void become_terminal_owner(int slave) {
    if (::ioctl(slave, TIOCSCTTY, 0) != 0) throw SysError("ioctl(TIOCSCTTY)", "pty");
    use_as_console(slave);
}

RawTerminal::RawTerminal(int fd) : fd_(fd) {
    termios mode{};
    if (::tcgetattr(fd, &mode) != 0) return;
    saved_ = mode;
    ::cfmakeraw(&mode);
    ::tcsetattr(fd, TCSANOW, &mode);
}

// TCSADRAIN, not TCSAFLUSH: keys typed as the container ended, which the relay no
// longer read, belong to whatever reads this terminal next (the shell that started us).
RawTerminal::~RawTerminal() {
    if (saved_) ::tcsetattr(fd_, TCSADRAIN, &*saved_);
}

void copy_window_size(int from, int master) {
    winsize size{};
    if (::ioctl(from, TIOCGWINSZ, &size) == 0) ::ioctl(master, TIOCSWINSZ, &size);
}

}  // namespace bincastle::container
