#pragma once

// The container's terminal: a pty from the container's own devpts instance (so that
// `tty` inside names /dev/pts/N there), relayed to the caller's terminal.

#include "util/unique_fd.hpp"

#include <termios.h>

#include <optional>

namespace bincastle::container {

struct Pty {
    UniqueFd master;
    UniqueFd slave;
};

// Opens a pty from the devpts mounted at /dev/pts under `root_fd`.
Pty open_pty(int root_fd);

// Makes `slave` the controlling terminal of the calling session leader and its stdio.
void become_terminal_owner(int slave);

// Makes `slave` the stdio of a booting system's init, as a console is: not its
// controlling terminal, so that a getty it starts in a session of its own can take it.
void use_as_console(int slave);

// Puts a terminal into raw mode while alive, so that keys (Ctrl-C included) reach
// the container's pty untouched; restores the saved mode when dropped.
class RawTerminal {
public:
    explicit RawTerminal(int fd);
    RawTerminal(const RawTerminal&) = delete;
    RawTerminal& operator=(const RawTerminal&) = delete;
    ~RawTerminal();

private:
    int fd_;
    std::optional<termios> saved_;
};

// Gives the pty `master` the window size of the terminal `from`.
void copy_window_size(int from, int master);

}  // namespace bincastle::container
