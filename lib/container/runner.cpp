#include "container/child.hpp"
#include "container/command.hpp"
#include "container/hints.hpp"
#include "container/limits.hpp"
#include "container/linux_api.hpp"
#include "container/mount_plan.hpp"
#include "container/nesting.hpp"
#include "container/overlay.hpp"
#include "container/pty.hpp"
#include "container/bridge_network.hpp"
#include "container/supervisor.hpp"
#include "container/user_network.hpp"
#include "container/user_namespace.hpp"
#include "util/file_tree.hpp"
#include "util/process.hpp"

#include <bincastle/container.hpp>
#include <bincastle/error.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bincastle::container {

namespace {

void require_directory(const std::string& path, const std::string& what) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw SysError("stat", what + " " + path);
    if (!S_ISDIR(st.st_mode)) throw Error(what + " " + path + ": not a directory");
    if (::access(path.c_str(), R_OK | X_OK) != 0) throw SysError("access", what + " " + path);
}

void validate(const Spec& spec) {
    if (spec.args.empty()) throw Error("no command given");
    if (spec.rootfs.empty() == spec.layers.empty())
        throw Error("give either a root directory or --layer directories, not both or neither");
    if (!spec.rootfs.empty()) require_directory(spec.rootfs, "rootfs");
    // Layers are checked by the container's own open of each (one call a layer, where
    // hundreds may be given).
    if (!spec.upper.empty() && spec.layers.empty()) throw Error("--upper needs --layer");
    if (spec.cwd.empty() || spec.cwd[0] != '/')
        throw Error("working directory " + spec.cwd + ": not an absolute path");
    for (const auto& mount : spec.mounts) {
        if (mount.target.empty() || mount.target[0] != '/')
            throw Error("mount target " + mount.target + ": not an absolute path");
        if (mount.kind != Mount::Kind::tmpfs) {
            struct stat st {};
            if (::stat(mount.source.c_str(), &st) != 0) throw SysError("stat", "bind source " + mount.source);
        }
    }
    for (const auto& entry : spec.env) {
        if (entry.find('=') == std::string::npos || entry[0] == '=')
            throw Error("environment entry '" + entry + "': not KEY=VALUE");
    }
    if (spec.network != Network::user && (!spec.ports.empty() || spec.host_loopback))
        throw Error("port forwards and the host's loopback need the user network (--net user)");
}

// Serves the container's /dev/fuse with fuse-overlayfs from this side: the daemon
// must be out of the container's sight (its /proc/PID/root would be a way out).
// Discarded writes go to `scratch`. Returns once the daemon has started.
void serve_fuse_overlay(const Spec& spec, const IdMapPlan& ids, int fuse_device,
                        std::optional<TempDir>& scratch) {
    std::vector<std::string> lowers;
    for (const auto& layer : spec.layers) lowers.push_back(std::filesystem::absolute(layer).string());
    std::string upper, work;
    if (!spec.upper.empty()) {
        upper = std::filesystem::absolute(spec.upper).string();
        work = work_dir_for(upper);
    } else {
        scratch.emplace("bincastle-overlay");
        upper = (scratch->path() / "upper").string();
        work = (scratch->path() / "work").string();
        for (const auto& dir : {upper, work})
            if (::mkdir(dir.c_str(), 0700) != 0) throw SysError("mkdir", dir);
    }
    ::fcntl(fuse_device, F_SETFD, 0);  // the daemon inherits it by number
    int status = run_program(fuse_overlayfs_command(lowers, upper, work, ids, fuse_device));
    if (status == program_not_found)
        throw Error("fuse-overlayfs is needed (this kernel has no overlayfs for user namespaces) "
                    "but is not installed",
                    "install it: apt-get install fuse-overlayfs");
    if (status != 0)
        throw Error("fuse-overlayfs exited with status " + std::to_string(status) + " for layers " +
                    lowerdir_option(lowers));
}

[[noreturn]] void throw_setup_error(const std::string& text) {
    // "error\n<message>\n<hint>"
    std::string rest = text.substr(text.find('\n') + 1);
    size_t newline = rest.find('\n');
    std::string message = rest.substr(0, newline);
    std::string hint = newline == std::string::npos ? "" : rest.substr(newline + 1);
    throw Error(message, hint);
}

}  // namespace

int run(const Spec& spec) {
    validate(spec);
    struct sigaction child_action {};
    if (::sigaction(SIGCHLD, nullptr, &child_action) == 0 &&
        (child_action.sa_handler == SIG_IGN || (child_action.sa_flags & SA_NOCLDWAIT)))
        throw Error("SIGCHLD is ignored in this process, so the container's exit status would be lost",
                    "restore SIGCHLD's default disposition before calling bincastle::container::run");
    if (spec.tty && !::isatty(STDIN_FILENO)) throw Error("--tty: standard input is not a terminal");

    Caller caller = current_caller();
    std::optional<SubIds> sub_ids;
    if (spec.subids && caller.uid != 0) sub_ids = find_sub_ids(caller);
    IdMapPlan ids = plan_id_maps(caller, spec.uid, spec.gid, sub_ids);

    std::optional<LimitCgroup> cgroup;
    bool use_rlimits = false;
    if (has_limits(spec.limits)) {
        std::string why_not;
        cgroup = LimitCgroup::create(spec.limits, why_not);
        use_rlimits = !cgroup;
        std::string notice = cgroup ? "limits: " + cgroup->description()
                                    : rlimit_notice(spec.limits, why_not);
        if (spec.notice) spec.notice(notice);
        else std::fprintf(stderr, "bincastle: %s\n", notice.c_str());
    }

    unmask_proc_for_nested_container();

    // Root whose uid 0 is the parent namespace's uid 0 (the host's, unless nested
    // under such a root): its container gets locked mounts.
    bool maps_host_root = caller.uid == 0 && maps_id(ids.uids, 0) && [&] {
        for (const auto& entry : parse_id_map(caller.own_uid_map))
            if (entry.inside == 0 && entry.outside == 0) return true;
        return false;
    }();
    ChildPlan plan{&spec, plan_mounts(spec), command_environment(spec),
                   /*switch_ids=*/!ids.deny_setgroups, use_rlimits, maps_host_root};
    auto [parent_end, child_end] = Channel::make_pair();

    sigset_t handled;
    sigemptyset(&handled);
    if (spec.forward_signals) {
        for (int sig : forwarded_signals) sigaddset(&handled, sig);
    }
    if (spec.tty) sigaddset(&handled, SIGWINCH);
    std::optional<BlockedSignals> signals;
    if (spec.forward_signals || spec.tty) signals.emplace(handled);

    int pidfd = -1;
    clone_args args{};
    args.flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC |
                 CLONE_NEWCGROUP | CLONE_PIDFD;
    if (spec.network != Network::host) args.flags |= CLONE_NEWNET;
    if (cgroup && cgroup->fd() >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = static_cast<std::uint64_t>(cgroup->fd());
    }
    args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
    args.exit_signal = 0;  // waited for through the pidfd

    pid_t pid = linux_api::clone3(args);
    if (pid < 0) {
        int error = errno;
        throw SysError(error, "clone", "new user, mount, pid, uts, ipc, cgroup and net namespaces",
                       namespace_hint(error, caller.uid == 0, read_user_namespace_policy()));
    }
    if (pid == 0) {
        parent_end.close();
        container_main(plan, child_end);
    }
    child_end.close();
    ChildProcess child(pid, pidfd);

    if (cgroup) cgroup->add(pid);
    write_id_maps(pid, ids);
    // Up before the container goes on, so that its command starts with a network.
    std::optional<UserNetwork> user_network;
    if (spec.network == Network::user) user_network.emplace(pid, spec);
    std::optional<BridgeNetwork> bridge_network;
    if (spec.network == Network::bridge) bridge_network.emplace(pid);
    parent_end.send("go");

    UniqueFd master;
    std::optional<TempDir> fuse_scratch;
    for (;;) {
        auto message = parent_end.receive();
        if (!message) {
            int status = child.wait();
            throw Error("the container's setup process ended before it was ready (status " +
                        std::to_string(status) + ")");
        }
        if (message->text == "ready") break;
        if (message->text == "pty") {
            master = std::move(message->fd);
            copy_window_size(STDIN_FILENO, master.get());
            parent_end.send("go");
            continue;
        }
        if (message->text == "fuse") {
            serve_fuse_overlay(spec, ids, message->fd.get(), fuse_scratch);
            parent_end.send("go");
            continue;
        }
        if (message->text.rfind("error\n", 0) == 0) throw_setup_error(message->text);
        throw Error("unexpected message from the container's setup process: " + message->text);
    }
    return supervise(child, signals ? &*signals : nullptr, std::move(master));
}

}  // namespace bincastle::container
