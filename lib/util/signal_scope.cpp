#include "util/signal_scope.hpp"

#include <pthread.h>

namespace bincastle {

UnblockedSignals::UnblockedSignals(const sigset_t& set) { ::pthread_sigmask(SIG_UNBLOCK, &set, &saved_); }

UnblockedSignals::~UnblockedSignals() { ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }

}  // namespace bincastle
