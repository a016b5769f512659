#include "container/seccomp.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <memory>
#include <seccomp.h>
#include <string>

namespace bincastle::container {

namespace {

// Modelled on the default profiles of podman and Docker, but as a deny list: builds
// run whatever software they build, and a call newer than this list must keep
// working. What is refused reaches parts of the kernel that user namespaces do not
// confine, or that exploits lean on.
//
// Allowed on purpose, because a nested bincastle needs them: unshare, clone and
// clone3 with namespace flags, setns, mount, umount2, pivot_root, the new mount API
// (fsopen, fsconfig, fsmount, move_mount, open_tree, mount_setattr) and seccomp
// itself. The kernel checks them against the container's own user namespace.
// Also allowed, as podman allows them: reboot (the container always has its own pid
// namespace, where reboot only ends that namespace's init: how a booted system's
// init shuts down), adjtimex and clock_adjtime (they only read the clock without
// CAP_SYS_TIME in the host's namespace), name_to_handle_at (a handle is of no use
// without open_by_handle_at); and ptrace, as Docker allows it since Linux 4.8.
constexpr const char* refused[] = {
    // The kernel keyrings are not fully namespaced (Docker's reason to refuse them).
    "add_key", "keyctl", "request_key",
    // Loading code into the kernel, or reading its internals.
    "bpf", "perf_event_open", "lookup_dcookie", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module",
    // Stalls the kernel at a page fault of the caller's choosing: how exploits widen
    // a race.
    "userfaultfd",
    // Opens a file by handle, past the container's mounts (the "shocker" escape).
    "open_by_handle_at",
    // The machine's ports, swap, process accounting, quotas and clock.
    "iopl", "ioperm", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd",
    "settimeofday", "clock_settime", "stime",
};

using Filter = std::unique_ptr<void, decltype(&seccomp_release)>;

void check(int result, const std::string& operation, const std::string& what) {
    // libseccomp returns -errno and leaves errno alone.
    if (result < 0) throw SysError(-result, operation, what);
}

}  // namespace

std::span<const char* const> refused_syscalls() { return refused; }

void install_default_filter() {
    // Calls of another ABI (int 0x80 on x86-64, x32) get the bad-architecture action,
    // as the filter admits the native architecture alone.
    Filter filter(seccomp_init(SCMP_ACT_ALLOW), &seccomp_release);
    if (!filter) throw Error("seccomp_init: cannot create the default seccomp filter");
    check(seccomp_attr_set(filter.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM)),
          "seccomp_attr_set", "SCMP_FLTATR_ACT_BADARCH");
    for (const char* name : refused) {
        int number = seccomp_syscall_resolve_name(name);
        // Negative: libseccomp's placeholder for a call this architecture lacks.
        if (number < 0) continue;
        check(seccomp_rule_add(filter.get(), SCMP_ACT_ERRNO(EPERM), number, 0), "seccomp_rule_add", name);
    }
    // Refused by a kernel without CONFIG_SECCOMP_FILTER, or by an enclosing runtime's
    // own filter. No errno in the message: libseccomp 2.5 says ECANCELED, or with
    // SCMP_FLTATR_API_SYSRAWRC an errno clobbered after the call (EFAULT for EPERM).
    if (seccomp_load(filter.get()) != 0)
        throw Error("seccomp_load: the kernel refused the default seccomp filter",
                    "'bincastle sandbox --seccomp=off' runs without one");
}

}  // namespace bincastle::container
