#include "container/child.hpp"

#include "container/command.hpp"
#include "container/id_map.hpp"
#include "container/init.hpp"
#include "container/limits.hpp"
#include "container/linux_api.hpp"
#include "container/mount_api.hpp"
#include "container/mounts.hpp"
#include "container/network.hpp"
#include "container/overlay.hpp"
#include "container/pty.hpp"
#include "container/seccomp.hpp"
#include "util/file_io.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <csignal>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bincastle::container {

namespace {

// Where the new root is assembled: a tmpfs over /tmp in the container's private
// mount namespace. Host paths the container needs were opened before it covers /tmp.
constexpr const char* staging = "/tmp";

UniqueFd open_dir(const std::string& path, int flags = O_PATH) {
    UniqueFd fd(::open(path.c_str(), flags | O_DIRECTORY | O_CLOEXEC));
    if (!fd) throw SysError("open", path);
    return fd;
}

void make_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) throw SysError("mkdir", path);
}

struct RootSource {
    UniqueFd tree;        // a directory rootfs, cloned
    OverlayDirs overlay;  // or the layers
};

// Opened while the host's paths are all still visible.
RootSource open_root_source(const Spec& spec) {
    RootSource source;
    if (!spec.rootfs.empty()) {
        source.tree = clone_tree(AT_FDCWD, spec.rootfs);
        return source;
    }
    for (const auto& layer : spec.layers) {
        // Read access is what the overlay will need: ask for it now, naming the layer.
        UniqueFd fd(::open(layer.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd) throw SysError("open", "layer " + layer);
        source.overlay.lowers.push_back(std::move(fd));
    }
    if (!spec.upper.empty()) {
        std::error_code error;
        std::filesystem::create_directories(spec.upper, error);
        if (error) throw SysError(error.value(), "mkdir", spec.upper);
        make_dir(work_dir_for(spec.upper));
        source.overlay.upper = open_dir(spec.upper);
        source.overlay.work = open_dir(work_dir_for(spec.upper));
    }
    return source;
}

UniqueFd mount_root(RootSource& source, OverlayBackend backend, Channel& channel) {
    FsContext tmpfs("tmpfs");
    tmpfs.set_string("mode", "0700");
    UniqueFd stage = tmpfs.mount(MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    attach(stage.get(), open_dir(staging).get(), staging);

    const std::string root = std::string(staging) + "/root";
    make_dir(root);
    UniqueFd mount_point = open_dir(root);
    if (source.tree) {
        attach(source.tree.get(), mount_point.get(), root);
        return open_dir(root);
    }
    if (!source.overlay.upper) {
        // Writes to be discarded go to the staging tmpfs, which dies with the container.
        for (const char* dir : {"/upper", "/work"}) make_dir(std::string(staging) + dir);
        source.overlay.upper = open_dir(std::string(staging) + "/upper");
        source.overlay.work = open_dir(std::string(staging) + "/work");
    }
    auto serve_fuse = [&](int fuse_device) {
        channel.send("fuse", fuse_device);
        auto reply = channel.receive();
        if (!reply || reply->text != "go") ::_exit(exit_setup_failed);
    };
    mount_overlay(source.overlay, mount_point.get(), root, backend, serve_fuse);
    return open_dir(root);
}

// pivot_root(".", ".") stacks the old root on the new one; detaching it leaves the
// container with no path to the host's tree. Done from an fd so that no path is
// looked up between mounting the root and switching to it.
void switch_root(int root_fd, const std::string& cwd) {
    if (::fchdir(root_fd) != 0) throw SysError("fchdir", "new root");
    if (linux_api::pivot_root(".", ".") != 0) throw SysError("pivot_root", ".");
    if (::umount2(".", MNT_DETACH) != 0) throw SysError("umount2", "old root");
    if (::chdir("/") != 0) throw SysError("chdir", "/");
    if (::chdir(cwd.c_str()) != 0) throw SysError("chdir", cwd + " (inside the container)");
}

// A container whose root is the host's root (kuid 0) must not undo its own mounts:
// unmasked, /proc/sys would let it write the host's sysctls (core_pattern runs code
// as host root), and a remount would make /sys or a --ro-bind writable. Entering one
// more user namespace, with a copy of the mount namespace, locks every mount and its
// flags (as bubblewrap does); root keeps its other powers, in namespaces of its own.
// The price: the locked masks keep a nested container from mounting a procfs.
void lock_mounts() {
    auto identity = [](const std::string& path) {
        IdMap map;
        for (const auto& entry : parse_id_map(read_file(path))) map.push_back({entry.inside, entry.inside, entry.count});
        return format_id_map(map);
    };
    const std::string uid_map = identity("/proc/self/uid_map");
    const std::string gid_map = identity("/proc/self/gid_map");
    // Only a process in the parent namespace may map more than its own id: a helper
    // stays behind in this one and maps the same ids again once we have moved on.
    UniqueFd ready_read, ready_write;
    {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw SysError("pipe2", "");
        ready_read.reset(fds[0]);
        ready_write.reset(fds[1]);
    }
    pid_t self = ::getpid();
    pid_t helper = ::fork();
    if (helper < 0) throw SysError("fork", "id map helper");
    if (helper == 0) {
        ready_write.reset();
        char byte;
        if (::read(ready_read.get(), &byte, 1) != 1) ::_exit(1);
        try {
            write_file("/proc/" + std::to_string(self) + "/uid_map", uid_map);
            write_file("/proc/" + std::to_string(self) + "/gid_map", gid_map);
        } catch (const Error& error) {
            std::string line = std::string("bincastle: ") + error.what() + "\n";
            (void)!::write(2, line.data(), line.size());
            ::_exit(1);
        }
        ::_exit(0);
    }
    ready_read.reset();
    // The network stays the first namespace's (lo is up; /sys shows it); uts and ipc
    // are new, so that root may still set the hostname.
    int unshared = ::unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC);
    int unshare_errno = errno;
    (void)!::write(ready_write.get(), "x", 1);
    int status = 0;
    while (::waitpid(helper, &status, 0) < 0 && errno == EINTR) {
    }
    if (unshared != 0) throw SysError(unshare_errno, "unshare", "the user namespace that locks the mounts");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw Error("mapping the ids of the user namespace that locks the mounts failed");
}

void redirect_stdio(const Spec& spec) {
    int wanted[3] = {spec.stdin_fd, spec.stdout_fd, spec.stderr_fd};
    if (wanted[0] == 0 && wanted[1] == 1 && wanted[2] == 2) return;
    // Duplicate above 2 first, so that moving one does not clobber another.
    int copies[3];
    for (int i = 0; i < 3; ++i) {
        copies[i] = ::fcntl(wanted[i], F_DUPFD_CLOEXEC, 3);
        if (copies[i] < 0) throw SysError("dup", "stdio");
    }
    for (int i = 0; i < 3; ++i) {
        if (::dup2(copies[i], i) < 0) throw SysError("dup2", "stdio");
    }
}

void switch_ids(const Spec& spec) {
    ::setgroups(0, nullptr);
    if (::setresgid(spec.gid, spec.gid, spec.gid) != 0) throw SysError("setresgid", std::to_string(spec.gid));
    if (::setresuid(spec.uid, spec.uid, spec.uid) != 0) throw SysError("setresuid", std::to_string(spec.uid));
}

// Every fd above 2 is closed at the exec (or now, with `now`), so that nothing of the
// caller's reaches the container. close_range may be refused by a seccomp filter of
// an enclosing container; /proc/self/fd then says what is open.
void close_inherited_fds(bool now) {
    if (::close_range(3, ~0U, now ? 0 : CLOSE_RANGE_CLOEXEC) == 0) return;
    std::vector<int> open_fds;
    {
        UniqueFd dir_fd(::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir_fd) throw SysError("open", "/proc/self/fd");
        for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
            int fd = std::atoi(entry.path().filename().c_str());
            if (fd > 2 && fd != dir_fd.get()) open_fds.push_back(fd);
        }
    }
    for (int fd : open_fds) {
        if (now) UniqueFd{fd}.reset();
        else ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
}

// The init holds nothing of the caller's: no fd (a host directory's fd would be a
// way out), no terminal, and it cannot be ptraced or read through /proc/1.
// Returns a copy of stderr when asked to keep one (for a line of its own).
UniqueFd become_bare_init(bool keep_stderr) {
    close_inherited_fds(true);
    UniqueFd kept;
    if (keep_stderr) {
        kept = UniqueFd(::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3));
        if (!kept) throw SysError("fcntl(F_DUPFD_CLOEXEC)", "stderr");
    }
    UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!null) throw SysError("open", "/dev/null");
    for (int fd = 0; fd <= 2; ++fd) {
        if (::dup2(null.get(), fd) < 0) throw SysError("dup2", "/dev/null");
    }
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) throw SysError("prctl(PR_SET_DUMPABLE)", "");
    return kept;
}

[[noreturn]] void fail_after_setup(const Error& error) {
    std::string line = std::string("bincastle: ") + error.what() + "\n";
    (void)!::write(2, line.data(), line.size());
    ::_exit(exit_setup_failed);
}

// A booting system's init under locked mounts (root): its reboot() needs a pid
// namespace owned by the user namespace that locks them, so it starts in a new one,
// under a minimal init that passes its status on.
bool init_needs_own_pid_namespace(const ChildPlan& plan) { return plan.spec->boot && plan.lock_mounts; }

bool runs_under_init(const ChildPlan& plan) { return plan.spec->init || init_needs_own_pid_namespace(plan); }

// Runs after "ready": failures go to the container's stderr, as an exec failure would.
[[noreturn]] void start(const ChildPlan& plan, UniqueFd tty_slave) noexcept {
    const Spec& spec = *plan.spec;
    if (!runs_under_init(plan)) {
        reset_signals();
        exec_command(spec.args, plan.env);
    }
    if (init_needs_own_pid_namespace(plan) && ::unshare(CLONE_NEWPID) != 0)
        fail_after_setup(SysError("unshare", "the pid namespace of the system's init"));
    // Blocked before the fork, so that no SIGCHLD is lost before run_init waits.
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_BLOCK, &all, nullptr);
    pid_t command = ::fork();
    if (command < 0) fail_after_setup(SysError("fork", "command"));
    if (command == 0) {
        try {
            if (::setsid() < 0) throw SysError("setsid", "");
            if (tty_slave && spec.boot) use_as_console(tty_slave.get());
            else if (tty_slave) become_terminal_owner(tty_slave.get());
        } catch (const Error& error) {
            fail_after_setup(error);
        }
        reset_signals();
        exec_command(spec.args, plan.env);
    }
    UniqueFd report;
    try {
        tty_slave.reset();
        report = become_bare_init(spec.no_leftovers);
    } catch (const Error& error) {
        ::kill(command, SIGKILL);
        fail_after_setup(error);
    }
    run_init(command, report.get(), spec.args[0]);
}

// Everything up to "ready"; returns the pty's slave side for an --init command.
UniqueFd set_up(const ChildPlan& plan, Channel& channel) {
    const Spec& spec = *plan.spec;
    // Dies with the parent; re-armed below because changing ids clears it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    auto go = channel.receive();
    if (!go || go->text != "go") ::_exit(exit_setup_failed);

    if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0)
        throw SysError("mount(MS_SLAVE)", "/");
    UniqueFd tty_slave;
    // Kept open until the exec closes them in one go (pid 1 of --init closes them itself).
    RootSource source = open_root_source(spec);
    {
        PreparedMounts mounts = prepare_mounts(plan.mounts);
        UniqueFd root =
            mount_root(source, spec.fuse_overlay ? OverlayBackend::fuse : OverlayBackend::kernel, channel);
        apply_mounts(root.get(), mounts);

        if (::sethostname(spec.hostname.data(), spec.hostname.size()) != 0)
            throw SysError("sethostname", spec.hostname, "a hostname has at most 64 characters");
        if (spec.network != Network::host) bring_up_loopback();

        if (spec.tty) {
            Pty pty = open_pty(root.get());
            channel.send("pty", pty.master.get());
            // The parent gives the pty its window size before the command can ask.
            auto sized = channel.receive();
            if (!sized || sized->text != "go") ::_exit(exit_setup_failed);
            tty_slave = std::move(pty.slave);
        }
        switch_root(root.get(), spec.cwd);
    }
    if (plan.lock_mounts) lock_mounts();

    // A new session: the container cannot reach the caller's terminal (TIOCSTI).
    if (::setsid() < 0) throw SysError("setsid", "");
    if (!spec.tty) redirect_stdio(spec);
    if (spec.tty && !runs_under_init(plan)) {
        if (spec.boot) use_as_console(tty_slave.get());
        else become_terminal_owner(tty_slave.get());
    }
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw SysError("prctl(PR_SET_NO_NEW_PRIVS)", "");
    if (plan.switch_ids && (spec.uid != 0 || spec.gid != 0)) {
        switch_ids(spec);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    }
    close_inherited_fds(false);
    // After the rest of the set-up, so that nothing of it runs under it; after
    // no_new_privs, which lets an unprivileged process install it.
    if (spec.seccomp == Seccomp::default_filter) install_default_filter();
    // Last: the limits are the command's, and the set-up above allocates (libseccomp,
    // and an address-space-hungry sanitizer runtime in a sanitized build).
    if (plan.apply_rlimits) apply_rlimits(spec.limits);
    return tty_slave;
}

}  // namespace

void container_main(const ChildPlan& plan, Channel& channel) noexcept {
    UniqueFd tty_slave;
    try {
        tty_slave = set_up(plan, channel);
        channel.send("ready");
        channel.close();
    } catch (const std::exception& error) {
        // One line each: the parent splits message and hint at the first newline.
        auto one_line = [](std::string text) {
            for (char& c : text) c = c == '\n' ? ' ' : c;
            return text;
        };
        const auto* with_hint = dynamic_cast<const Error*>(&error);
        try {
            channel.send("error\n" + one_line(error.what()) + "\n" + one_line(with_hint ? with_hint->hint() : ""));
        } catch (...) {
        }
        ::_exit(exit_setup_failed);
    }
    start(plan, std::move(tty_slave));
}

}  // namespace bincastle::container
