#include "container/seccomp.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include <cerrno>
#include <seccomp.h>
#include <string>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace bincastle::container;

TEST_CASE("every call the default filter refuses is one libseccomp knows") {
    CHECK(refused_syscalls().size() > 10);
    for (const char* name : refused_syscalls()) {
        INFO(name);
        // __NR_SCMP_ERROR: an unknown name, which the filter would skip silently.
        CHECK(seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR);
    }
}

namespace {

// Runs `body` in a child under the default filter; returns its exit status (255 when
// the filter could not be installed).
int under_default_filter(int (*body)()) {
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        try {
            install_default_filter();
        } catch (const bincastle::Error&) {
            ::_exit(255);
        }
        ::_exit(body());
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
}

}  // namespace

TEST_CASE("the default filter answers a refused call with EPERM and lets others through") {
    // No privileges needed: the filter sets no_new_privs itself.
    CHECK(under_default_filter([] {
              // An unknown keyctl operation: EOPNOTSUPP without the filter.
              return ::syscall(SYS_keyctl, -1, 0, 0, 0, 0) < 0 && errno == EPERM ? 0 : 1;
          }) == 0);
    CHECK(under_default_filter([] { return ::syscall(SYS_getpid) == ::getpid() ? 0 : 1; }) == 0);
    CHECK(under_default_filter([] { return ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : 1; }) == 0);
#ifdef __x86_64__
    // getpid through the x32 ABI: ENOSYS on a kernel without x32, EPERM under the filter.
    CHECK(under_default_filter([] { return ::syscall(0x40000000L | SYS_getpid) < 0 && errno == EPERM ? 0 : 1; }) ==
          0);
#endif
}
