#pragma once

// Signal masks held for a scope.

#include <csignal>

namespace bincastle {

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
