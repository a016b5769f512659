#include "container/mount_plan.hpp"

namespace bincastle::container {

const std::vector<std::string>& read_only_proc_paths() {
    static const std::vector<std::string> paths = {
        "/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus",
    };
    return paths;
}

std::vector<MountOp> plan_mounts(const Spec& spec) {
    using Kind = MountOp::Kind;
    std::vector<MountOp> ops;

    ops.push_back(mount_op(Kind::proc, "", "/proc"));
    for (const auto& path : read_only_proc_paths()) {
        ops.push_back(mount_op(Kind::remount_ro, "", path, true, 0, /*optional=*/true));
    }

    // sysfs can only be mounted by the owner of the network namespace; with the
    // host's network the host's /sys is bound instead, read-only either way.
    if (spec.network != Network::host) {
        ops.push_back(mount_op(Kind::sysfs, "", "/sys", true));
    } else {
        ops.push_back(mount_op(Kind::bind, "/sys", "/sys", true));
    }

    // A user namespace cannot mknod, so the device nodes are the host's, bound.
    ops.push_back(mount_op(Kind::tmpfs, "", "/dev", false, 0755));
    for (const char* node : {"null", "zero", "full", "random", "urandom", "tty"}) {
        std::string path = std::string("/dev/") + node;
        ops.push_back(mount_op(Kind::bind, path, path));
    }
    ops.push_back(mount_op(Kind::devpts, "", "/dev/pts"));
    ops.push_back(mount_op(Kind::symlink, "pts/ptmx", "/dev/ptmx"));
    ops.push_back(mount_op(Kind::tmpfs, "", "/dev/shm", false, 01777));
    ops.push_back(mount_op(Kind::symlink, "/proc/self/fd", "/dev/fd"));
    ops.push_back(mount_op(Kind::symlink, "/proc/self/fd/0", "/dev/stdin"));
    ops.push_back(mount_op(Kind::symlink, "/proc/self/fd/1", "/dev/stdout"));
    ops.push_back(mount_op(Kind::symlink, "/proc/self/fd/2", "/dev/stderr"));

    ops.push_back(mount_op(Kind::tmpfs, "", "/tmp", false, 01777));

    for (const auto& mount : spec.mounts) {
        switch (mount.kind) {
        case Mount::Kind::bind:
        case Mount::Kind::ro_bind:
            ops.push_back(mount_op(Kind::bind, mount.source, mount.target,
                                   mount.kind == Mount::Kind::ro_bind));
            break;
        case Mount::Kind::tmpfs:
            ops.push_back(mount_op(Kind::tmpfs, "", mount.target, false, 0755));
            break;
        }
    }
    return ops;
}

}  // namespace bincastle::container
