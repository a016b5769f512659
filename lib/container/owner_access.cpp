#include "container/owner_access.hpp"

#include "container/id_map.hpp"
#include "util/child_process.hpp"
#include "util/file_io.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <exception>
#include <linux/capability.h>
#include <sched.h>
#include <string>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define BINCASTLE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BINCASTLE_ASAN 1
#endif
#endif

// AddressSanitizer tracks which stack a thread runs on: the child runs on another
// (and hands the thread back to the parent's when it ends), as a fiber would.
#ifdef BINCASTLE_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define SANITIZER_START_SWITCH_FIBER(save, bottom, size) __sanitizer_start_switch_fiber(save, bottom, size)
#define SANITIZER_FINISH_SWITCH_FIBER(save, bottom, size) __sanitizer_finish_switch_fiber(save, bottom, size)
#else
#define ASAN_UNPOISON_MEMORY_REGION(address, size) ((void)(address), (void)(size))
#define SANITIZER_START_SWITCH_FIBER(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define SANITIZER_FINISH_SWITCH_FIBER(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#endif

namespace bincastle::container {

namespace {

// What reading, copying and removing the caller's files takes.
constexpr int owner_capabilities[] = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER};

// A program `work` starts (cp, say) keeps them: the caller's uid is not 0 in the
// namespace, so exec would drop them unless they are ambient.
void keep_capabilities_across_exec() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) != 0) throw SysError("capget", "owner access");
    for (int cap : owner_capabilities) data[cap / 32].inheritable |= 1U << (cap % 32);
    if (::syscall(SYS_capset, &header, data) != 0) throw SysError("capset", "owner access");
    for (int cap : owner_capabilities)
        if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) throw SysError("prctl(PR_CAP_AMBIENT)", "owner access");
}

// Unshares the user namespace and maps the caller's ids to themselves; nothing when
// the kernel refuses (user namespaces disabled).
void enter_own_namespace(std::uint32_t uid, std::uint32_t gid) {
    if (::unshare(CLONE_NEWUSER) != 0) return;
    write_file("/proc/self/setgroups", "deny");
    write_file("/proc/self/uid_map", format_id_map({{uid, uid, 1}}));
    write_file("/proc/self/gid_map", format_id_map({{gid, gid, 1}}));
    keep_capabilities_across_exec();
}

// The stack the child runs `work` on: mapped fresh, with a guard page below it.
class ChildStack {
public:
    static constexpr std::size_t size = 16 << 20;
    static constexpr std::size_t guard = 4096;

    ChildStack() {
        void* base = ::mmap(nullptr, size + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE,
                            -1, 0);
        if (base == MAP_FAILED) throw SysError("mmap", "a stack for owner access");
        base_ = static_cast<char*>(base);
        if (::mprotect(base_, guard, PROT_NONE) != 0) {
            int saved = errno;
            ::munmap(base_, size + guard);
            throw SysError(saved, "mprotect", "a stack for owner access");
        }
    }
    ChildStack(const ChildStack&) = delete;
    ChildStack& operator=(const ChildStack&) = delete;
    ~ChildStack() {
        // AddressSanitizer's marks for the child's frames stay in the shadow of
        // these addresses, which a later mapping may reuse.
        ASAN_UNPOISON_MEMORY_REGION(bottom(), size);
        ::munmap(base_, size + guard);
    }

    char* bottom() const { return base_ + guard; }
    char* top() const { return bottom() + size; }

private:
    char* base_ = nullptr;
};

// What the parent hands the child, and what the child leaves there for the parent.
struct ChildCall {
    const std::function<std::string()>& work;
    pid_t parent;
    std::uint32_t uid;
    std::uint32_t gid;
    std::string result;
    std::exception_ptr failure;
};

// In the child: runs `work` and ends the process, which leaves the result or the
// exception in the memory it shares with the waiting parent.
[[noreturn]] int run_child(void* argument) {
    auto& call = *static_cast<ChildCall*>(argument);
    const void* parent_stack_bottom = nullptr;
    std::size_t parent_stack_size = 0;
    SANITIZER_FINISH_SWITCH_FIBER(nullptr, &parent_stack_bottom, &parent_stack_size);
    int status = 0;
    // Dies with the caller (which may have died before this line).
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != call.parent) {
        status = 1;
    } else {
        try {
            enter_own_namespace(call.uid, call.gid);
            call.result = call.work();
        } catch (...) {
            call.failure = std::current_exception();
        }
    }
    SANITIZER_START_SWITCH_FIBER(nullptr, parent_stack_bottom, parent_stack_size);
    // No exit handlers or destructors: what they would act on is the caller's.
    ::_exit(status);
}

// The child died by `sig` in the middle of `work`, on this process's memory: a lock it
// held (the allocator's, say) stays held and what it was changing is half changed. So
// this process ends as the child did, saying why without allocating.
[[noreturn]] void die_as_the_child_did(int sig) {
    char line[200];
    const int n = std::snprintf(line, sizeof line,
                                "bincastle: the process reading the caller's files, which shares this one's memory, was "
                                "killed by signal %d; ending this one too\n",
                                sig);
    if (n > 0) (void)!::write(STDERR_FILENO, line, std::min(static_cast<std::size_t>(n), sizeof line - 1));
    ::signal(sig, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    ::sigprocmask(SIG_UNBLOCK, &only, nullptr);
    ::raise(sig);
    ::_exit(128 + sig);
}

}  // namespace

std::string read_with_owner_access(const std::function<std::string()>& work) {
    if (::geteuid() == 0) return work();
    ChildStack stack;
    ChildCall call{work, ::getpid(), ::geteuid(), ::getegid(), {}, {}};
    // Sharing this process's memory, as vfork's child does, with this thread held
    // until it ends: `work` allocates and locks as this thread would, where a forked
    // copy could find a lock that another thread held at the fork taken for good.
    // With a pidfd and no exit signal, as ChildProcess waits for its children.
    void* fake_stack = nullptr;
    SANITIZER_START_SWITCH_FIBER(&fake_stack, stack.bottom(), ChildStack::size);
    int pidfd = -1;
    const pid_t pid = ::clone(run_child, stack.top(), CLONE_VM | CLONE_VFORK | CLONE_PIDFD, &call, &pidfd);
    if (pid < 0) {
        const int error = errno;
        SANITIZER_FINISH_SWITCH_FIBER(fake_stack, nullptr, nullptr);
        throw SysError(error, "clone", "owner access");
    }
    ChildProcess child(pid, pidfd);
    const int status = child.wait();
    if (status > 128) die_as_the_child_did(status - 128);
    SANITIZER_FINISH_SWITCH_FIBER(fake_stack, nullptr, nullptr);
    if (status != 0) throw Error("the process reading the caller's files exited with status " + std::to_string(status));
    if (call.failure) std::rethrow_exception(call.failure);
    return std::move(call.result);
}

void with_owner_access(const std::function<void()>& work) {
    read_with_owner_access([&] {
        work();
        return std::string();
    });
}

}  // namespace bincastle::container
