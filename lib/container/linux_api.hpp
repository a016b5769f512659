#pragma once

// Kernel calls that glibc 2.36 does not wrap.

#include <linux/openat2.h>
#include <linux/sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace bincastle::container::linux_api {

// waitid's P_PIDFD (linux/wait.h, which clashes with glibc's sys/wait.h).
inline constexpr int p_pidfd = 3;

inline int openat2(int dirfd, const char* path, std::uint64_t flags, std::uint64_t mode,
                   std::uint64_t resolve) {
    open_how how{};
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

inline int pivot_root(const char* new_root, const char* put_old) {
    return static_cast<int>(::syscall(SYS_pivot_root, new_root, put_old));
}

// Fork-like clone3 (no CLONE_VM): returns 0 in the child, the pid in the parent.
inline pid_t clone3(clone_args& args) {
    return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
}

}  // namespace bincastle::container::linux_api
