#pragma once

// A system's `running` lock (systems/<name>/running): held exclusively while the
// system runs, or while it is removed or forked.

#include <bincastle/error.hpp>

#include <cerrno>
#include <string>
#include <sys/file.h>
#include <unistd.h>

namespace bincastle {

// Takes it without waiting for a run to end: false while one runs. Retried for a
// moment, since `bincastle systems` and `ps` hold it shared, briefly, while they look.
inline bool try_lock_running(int fd, const std::string& what) {
    for (int attempt = 0;; ++attempt) {
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return true;
        if (errno != EWOULDBLOCK) throw SysError("flock", what);
        if (attempt == 10) return false;
        ::usleep(10'000);
    }
}

}  // namespace bincastle
