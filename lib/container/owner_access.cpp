#include "container/owner_access.hpp"

#include "container/id_map.hpp"
#include "container/supervisor.hpp"
#include "util/file_io.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <string>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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

void write_all(int fd, const std::string& text) {
    for (std::size_t done = 0; done < text.size();) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        done += static_cast<std::size_t>(n);
    }
}

std::string read_all(int fd) {
    std::string text;
    char buffer[4096];
    for (;;) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return text;
        text.append(buffer, static_cast<std::size_t>(n));
    }
}

// In the child: runs `work` and ends the process. `report` gets "r" and what `work`
// returned, or "e" and "message\0hint" when it failed.
[[noreturn]] void run_child(const std::function<std::string()>& work, int report, pid_t parent, std::uint32_t uid,
                            std::uint32_t gid) {
    // Dies with the caller (which may have died before this line).
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(1);
    int status = 0;
    try {
        enter_own_namespace(uid, gid);
        write_all(report, "r" + work());
    } catch (const Error& error) {
        write_all(report, "e" + std::string(error.what()) + '\0' + error.hint());
        status = 1;
    } catch (const std::exception& error) {
        write_all(report, "e" + std::string(error.what()) + '\0');
        status = 1;
    }
    std::fflush(nullptr);
    // No exit handlers or destructors of what the fork copied: they are the caller's.
    ::_exit(status);
}

}  // namespace

std::string read_with_owner_access(const std::function<std::string()>& work) {
    if (::geteuid() == 0) return work();
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw SysError("pipe2", "");
    UniqueFd report_read(fds[0]), report_write(fds[1]);
    const std::uint32_t uid = ::geteuid(), gid = ::getegid();
    const pid_t parent = ::getpid();
    // What stdio holds now would otherwise be written twice.
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw SysError("fork", "");
    if (pid == 0) {
        report_read.reset();
        run_child(work, report_write.get(), parent, uid, gid);
    }
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd) {
        int saved = errno;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        throw SysError(saved, "pidfd_open", std::to_string(pid));
    }
    ChildProcess child(pid, pidfd.release());
    report_write.reset();
    const std::string report = read_all(report_read.get());
    const int status = child.wait();
    if (status == 0 && report.starts_with('r')) return report.substr(1);
    if (report.starts_with('e')) {
        const std::size_t end = report.find('\0');
        throw Error(report.substr(1, end == std::string::npos ? std::string::npos : end - 1),
                    end == std::string::npos ? "" : report.substr(end + 1));
    }
    throw Error("the process reading the caller's files " +
                (status > 128 ? "was killed by signal " + std::to_string(status - 128)
                              : "exited with status " + std::to_string(status)));
}

void with_owner_access(const std::function<void()>& work) {
    read_with_owner_access([&] {
        work();
        return std::string();
    });
}

}  // namespace bincastle::container
