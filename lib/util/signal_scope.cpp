#include "util/signal_scope.hpp"

#include <bincastle/error.hpp>

#include <pthread.h>
#include <sys/signalfd.h>

namespace bincastle {

BlockedSignals::BlockedSignals(const sigset_t& set) {
    ::sigprocmask(SIG_BLOCK, &set, &saved_);
    fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd_) throw SysError("signalfd", "");
}

BlockedSignals::~BlockedSignals() { ::sigprocmask(SIG_SETMASK, &saved_, nullptr); }

UnblockedSignals::UnblockedSignals(const sigset_t& set) { ::pthread_sigmask(SIG_UNBLOCK, &set, &saved_); }

UnblockedSignals::~UnblockedSignals() { ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }

}  // namespace bincastle
