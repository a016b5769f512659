#include "container/overlay.hpp"

#include "container/mount_api.hpp"
#include "util/process.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

namespace bincastle::container {

namespace {

std::string fd_path(const UniqueFd& fd) { return "/proc/self/fd/" + std::to_string(fd.get()); }

void set_upper_and_work(FsContext& overlay, OverlayDirs& dirs) {
    if (overlay.try_set_fd("upperdir", dirs.upper.get()) &&
        overlay.try_set_fd("workdir", dirs.work.get()))
        return;
    // Kernels before 6.13 take the directories only as paths; the fds' magic links
    // name them even where the staging mount hides their host paths.
    overlay.set_string("upperdir", fd_path(dirs.upper));
    overlay.set_string("workdir", fd_path(dirs.work));
}

void set_lowers(FsContext& overlay, OverlayDirs& dirs) {
    // lowerdir+ adds layers from the top down. Passing each layer as its own fd
    // (6.13) or its own string (6.8) avoids the one-page limit of a "lowerdir="
    // option, which, past about 45 long paths, fails or silently drops layers.
    auto top_first = [&](auto&& add) {
        for (auto it = dirs.lowers.rbegin(); it != dirs.lowers.rend(); ++it)
            if (!add(*it)) return false;
        return true;
    };
    if (top_first([&](UniqueFd& fd) { return overlay.try_set_fd("lowerdir+", fd.get()); })) return;
    if (top_first([&](UniqueFd& fd) { return overlay.try_set_string("lowerdir+", fd_path(fd)); }))
        return;
    std::vector<std::string> paths;
    for (auto& fd : dirs.lowers) paths.push_back(fd_path(fd));
    std::string option = lowerdir_option(paths);
    if (option.size() >= 4096)
        throw Error("overlay of " + std::to_string(paths.size()) +
                        " layers does not fit in one mount option on this kernel",
                    "use a kernel >= 6.8 (lowerdir+), or fewer layers");
    overlay.set_string("lowerdir", option);
}

UniqueFd kernel_overlay(OverlayDirs& dirs) {
    FsContext overlay("overlay");
    // Inside a user namespace the trusted.* xattrs are out of reach; without
    // userxattr overlayfs loses whiteouts and opaque dirs (removing a lower
    // directory then fails with EIO).
    overlay.set_flag("userxattr");
    set_lowers(overlay, dirs);
    set_upper_and_work(overlay, dirs);
    return overlay.mount(MOUNT_ATTR_NODEV);
}

// Binds `dirfd`/`path_in` (a whole directory fd when `path_in` is empty) at the new
// directory `path`, and returns `path`.
std::string bind_under(int dirfd, const std::string& path, const std::string& path_in = {}) {
    if (::mkdir(path.c_str(), 0700) != 0) throw SysError("mkdir", path);
    UniqueFd tree = clone_tree(dirfd, path_in);
    UniqueFd target(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!target) throw SysError("open", path);
    attach(tree.get(), target.get(), path);
    return path;
}

void fuse_overlay(OverlayDirs& dirs, int target_fd, const std::string& scratch) {
    std::vector<std::string> lowers;
    for (size_t i = 0; i < dirs.lowers.size(); ++i)
        lowers.push_back(bind_under(dirs.lowers[i].get(), scratch + "/" + std::to_string(i)));
    std::string upper_parent = bind_under(dirs.upper_parent.get(), scratch + "/upper");
    std::string options = "lowerdir=" + lowerdir_option(lowers) + ",upperdir=" + upper_parent + "/" +
                          dirs.upper_name + ",workdir=" + upper_parent + "/" + dirs.work_name;

    // pivot_root moves every process rooted at the old root to the new one; the
    // daemon would then find its own mount under its feet (its /proc lookups go
    // through it) and deadlock. Rooted in a copy of the host tree, it keeps its view.
    std::string host_view = bind_under(AT_FDCWD, scratch + "/host", "/");
    // The mount point is reached through an inherited fd, as the copy's /tmp/root
    // is another mount than ours.
    UniqueFd target(::fcntl(target_fd, F_DUPFD, 3));
    if (!target) throw SysError("dup", "overlay mount point");
    int status = run_program({"fuse-overlayfs", "-o", options,
                              "/proc/self/fd/" + std::to_string(target.get())},
                             host_view);
    if (status == exit_status_not_found)
        throw Error("fuse-overlayfs is needed (the kernel refused an overlay mount here) but is "
                    "not installed",
                    "install it: apt-get install fuse-overlayfs");
    if (status != 0)
        throw Error("fuse-overlayfs (" + dirs.description + ") exited with status " +
                        std::to_string(status),
                    "fuse-overlayfs needs /dev/fuse readable and writable by you");
}

}  // namespace

OverlayBackend overlay_backend_from_environment() {
    const char* choice = std::getenv("BINCASTLE_OVERLAY");
    return choice && std::strcmp(choice, "fuse") == 0 ? OverlayBackend::fuse
                                                      : OverlayBackend::kernel;
}

std::string lowerdir_option(const std::vector<std::string>& lowest_first) {
    std::string option;
    for (auto it = lowest_first.rbegin(); it != lowest_first.rend(); ++it) {
        if (!option.empty()) option += ':';
        for (char c : *it) {
            if (c == ':' || c == ',' || c == '\\') option += '\\';
            option += c;
        }
    }
    return option;
}

void mount_overlay(OverlayDirs& dirs, int target_fd, const std::string& target,
                   const std::string& scratch, OverlayBackend backend) {
    if (backend == OverlayBackend::kernel) {
        try {
            UniqueFd mnt = kernel_overlay(dirs);
            attach(mnt.get(), target_fd, target);
            return;
        } catch (const SysError& error) {
            // Kernels before 5.11 have no overlayfs in user namespaces (EPERM), or no
            // overlayfs at all (ENODEV): fuse-overlayfs does the same in user space.
            if (error.error_number() != EPERM && error.error_number() != ENODEV &&
                error.error_number() != EINVAL)
                throw;
            try {
                fuse_overlay(dirs, target_fd, scratch);
            } catch (const Error& fuse_error) {
                throw Error(std::string(error.what()) + "; fallback: " + fuse_error.what(),
                            fuse_error.hint());
            }
            return;
        }
    }
    fuse_overlay(dirs, target_fd, scratch);
}

}  // namespace bincastle::container
