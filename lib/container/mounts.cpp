#include "container/mounts.hpp"

#include "container/mount_api.hpp"
#include "container/path_in_root.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

namespace bincastle::container {

namespace {

std::string octal(unsigned mode) {
    char text[16];
    std::snprintf(text, sizeof text, "%o", mode);
    return text;
}

UniqueFd fresh_filesystem(const MountOp& op) {
    using Kind = MountOp::Kind;
    switch (op.kind) {
    case Kind::proc:
        try {
            return FsContext("proc").mount(MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
        } catch (const SysError& error) {
            if (error.error_number() != EPERM) throw;
            throw Error(error.what(),
                        "the kernel refuses a new /proc while parts of every existing one are "
                        "hidden by locked mounts: a sandbox started by root locks its masked "
                        "/proc (start the outer one as an ordinary user to nest); another "
                        "container engine must leave /proc unmasked");
        }
    case Kind::sysfs:
        return FsContext("sysfs").mount(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                        MOUNT_ATTR_NOEXEC);
    case Kind::tmpfs: {
        FsContext tmpfs("tmpfs");
        tmpfs.set_string("mode", octal(op.mode));
        return tmpfs.mount(MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    }
    case Kind::devpts: {
        FsContext devpts("devpts");
        devpts.set_string("ptmxmode", "0666");
        devpts.set_string("mode", "0620");
        return devpts.mount(MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
    }
    default:
        throw Error("not a filesystem mount: " + op.target);
    }
}

void apply(int root_fd, const MountOp& op, UniqueFd& source) {
    using Kind = MountOp::Kind;
    switch (op.kind) {
    case Kind::symlink:
        make_symlink(root_fd, op.target, op.source);
        return;
    case Kind::remount_ro: {
        UniqueFd target = open_in_root(root_fd, op.target, O_PATH);
        if (!target) {
            if (op.optional && errno == ENOENT) return;
            throw SysError("open", op.target + " (inside the container)");
        }
        UniqueFd tree = clone_tree(target.get(), "");
        make_read_only(tree.get(), op.target);
        attach(tree.get(), target.get(), op.target);
        return;
    }
    case Kind::bind: {
        struct stat st {};
        if (::fstat(source.get(), &st) != 0) throw SysError("stat", op.source);
        UniqueFd target = make_mount_point(
            root_fd, op.target, S_ISDIR(st.st_mode) ? NodeType::directory : NodeType::file);
        attach(source.get(), target.get(), op.target);
        return;
    }
    default: {
        UniqueFd mnt = fresh_filesystem(op);
        UniqueFd target = make_mount_point(root_fd, op.target, NodeType::directory);
        attach(mnt.get(), target.get(), op.target);
        return;
    }
    }
}

}  // namespace

PreparedMounts prepare_mounts(std::vector<MountOp> ops) {
    PreparedMounts prepared;
    for (const auto& op : ops) {
        UniqueFd source;
        if (op.kind == MountOp::Kind::bind) {
            source = clone_tree(AT_FDCWD, op.source);
            if (op.read_only) make_read_only(source.get(), op.source);
        }
        prepared.sources.push_back(std::move(source));
    }
    prepared.ops = std::move(ops);
    return prepared;
}

void apply_mounts(int root_fd, PreparedMounts& mounts) {
    for (size_t i = 0; i < mounts.ops.size(); ++i) {
        try {
            apply(root_fd, mounts.ops[i], mounts.sources[i]);
        } catch (const Error& error) {
            throw error.with_context("mounting " + mounts.ops[i].target);
        }
    }
}

}  // namespace bincastle::container
