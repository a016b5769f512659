#pragma once

// Signal masks held for a scope.

#include "util/unique_fd.hpp"

#include <csignal>

namespace bincastle {

// Blocks `set` while alive (restoring the caller's mask after); a signalfd reads them.
class BlockedSignals {
public:
    explicit BlockedSignals(const sigset_t& set);
    BlockedSignals(const BlockedSignals&) = delete;
    BlockedSignals& operator=(const BlockedSignals&) = delete;
    ~BlockedSignals();
    int fd() const { return fd_.get(); }

private:
    sigset_t saved_{};
    UniqueFd fd_;
};

// While alive, the calling thread (and the threads it starts meanwhile) takes the
// signals of `set`, which it had blocked, again: with their default action they end
// the process, as they end any command-line tool. For work that a signal should stop
// outright (evaluating and building), in a process that otherwise reads them from a
// signalfd. The mask is restored after.
class UnblockedSignals {
public:
    explicit UnblockedSignals(const sigset_t& set);
    UnblockedSignals(const UnblockedSignals&) = delete;
    UnblockedSignals& operator=(const UnblockedSignals&) = delete;
    ~UnblockedSignals();

private:
    sigset_t saved_{};
};

}  // namespace bincastle
