#include "container/overlay.hpp"

#include "container/mount_api.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/mount.h>
#include <optional>
#include <unistd.h>

namespace bincastle::container {

namespace {

std::string fd_path(const UniqueFd& fd) { return "/proc/self/fd/" + std::to_string(fd.get()); }

// One way of handing the layers to the kernel. Each gets a fresh context, so that
// a way the kernel half-accepted leaves nothing behind for the next.
enum class Method { fds, strings, one_option };

// Returns nullopt when this kernel does not know the method (EINVAL while setting).
std::optional<FsContext> configure(Method method, OverlayDirs& dirs) {
    FsContext overlay("overlay");
    // Inside a user namespace the trusted.* xattrs are out of reach; without
    // userxattr overlayfs loses whiteouts and opaque dirs (removing a lower
    // directory then fails with EIO).
    overlay.set_flag("userxattr");
    std::vector<std::string> paths;
    for (auto& fd : dirs.lowers) paths.push_back(fd_path(fd));
    switch (method) {
    case Method::fds:
        // lowerdir+ adds layers from the top down, one fd each (6.13): no path, and
        // none of the one-page limit of a "lowerdir=" option, which past about 45
        // long paths fails or silently drops layers.
        for (auto it = dirs.lowers.rbegin(); it != dirs.lowers.rend(); ++it)
            if (!overlay.try_set_fd("lowerdir+", it->get())) return std::nullopt;
        if (!overlay.try_set_fd("upperdir", dirs.upper.get()) ||
            !overlay.try_set_fd("workdir", dirs.work.get()))
            return std::nullopt;
        return overlay;
    case Method::strings:
        // One string each (6.8). The fds' magic links name the directories even where
        // the staging mount hides their host paths.
        for (auto it = paths.rbegin(); it != paths.rend(); ++it)
            if (!overlay.try_set_string("lowerdir+", *it)) return std::nullopt;
        break;
    case Method::one_option: {
        std::string option = lowerdir_option(paths);
        if (option.size() >= 4096)
            throw Error("an overlay of " + std::to_string(paths.size()) +
                            " layers does not fit in one mount option on this kernel",
                        "use a kernel >= 6.8 (lowerdir+), or fewer layers");
        overlay.set_string("lowerdir", option);
        break;
    }
    }
    overlay.set_string("upperdir", fd_path(dirs.upper));
    overlay.set_string("workdir", fd_path(dirs.work));
    return overlay;
}

UniqueFd kernel_overlay(OverlayDirs& dirs) {
    // Before 6.5 overlayfs takes its options through the legacy path, which accepts
    // any key and fails only when the mount is created: so a creation that fails
    // with EINVAL moves on to the next method too, and the first error is the one
    // reported.
    std::optional<SysError> first_error;
    for (Method method : {Method::fds, Method::strings, Method::one_option}) {
        std::optional<FsContext> overlay;
        try {
            overlay = configure(method, dirs);
        } catch (const Error&) {
            if (first_error) break;  // the earlier, real refusal says more
            throw;
        }
        if (!overlay) continue;
        try {
            return overlay->mount(MOUNT_ATTR_NODEV);
        } catch (const SysError& error) {
            if (error.error_number() != EINVAL) throw;
            if (!first_error) first_error = error;
        }
    }
    if (first_error)
        throw Error(first_error->what(),
                    "overlayfs refused these layers (the kernel log says why): inside a user "
                    "namespace a layer cannot be a directory with other mounts under it, such as /");
    throw Error("this kernel's overlayfs takes none of the ways to pass layers");
}

UniqueFd fuse_mount(const FuseServer& serve_fuse) {
    UniqueFd device(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
    if (!device)
        throw SysError("open", "/dev/fuse", "fuse-overlayfs needs /dev/fuse readable and writable by you");
    FsContext fuse("fuse");
    fuse.set_string("fd", std::to_string(device.get()));
    fuse.set_string("rootmode", "40000");
    fuse.set_string("user_id", std::to_string(::getuid()));
    fuse.set_string("group_id", std::to_string(::getgid()));
    fuse.set_flag("allow_other");
    fuse.set_flag("default_permissions");
    UniqueFd mnt = fuse.mount(MOUNT_ATTR_NODEV);
    serve_fuse(device.get());
    return mnt;
}

}  // namespace

std::string work_dir_for(const std::string& upper) {
    std::string trimmed = upper;
    while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
    size_t slash = trimmed.rfind('/');
    if (slash == std::string::npos) return "." + trimmed + ".work";
    return trimmed.substr(0, slash + 1) + "." + trimmed.substr(slash + 1) + ".work";
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

std::vector<std::string> fuse_overlayfs_command(const std::vector<std::string>& lowers,
                                                const std::string& upper, const std::string& work,
                                                const IdMapPlan& ids, int fuse_device) {
    auto mapping = [](const IdMap& map) {
        std::string text;
        for (const auto& entry : map) {
            if (!text.empty()) text += ':';
            // fuse-overlayfs maps an id on disk to the id it reports, which the kernel
            // reads in the mounting (the container's) namespace: host id -> container id.
            text += std::to_string(entry.outside) + ':' + std::to_string(entry.inside) + ':' +
                    std::to_string(entry.count);
        }
        return text;
    };
    return {"fuse-overlayfs", "-o",
            "lowerdir=" + lowerdir_option(lowers) + ",upperdir=" + upper + ",workdir=" + work +
                ",uidmapping=" + mapping(ids.uids) + ",gidmapping=" + mapping(ids.gids),
            "/dev/fd/" + std::to_string(fuse_device)};
}

void mount_overlay(OverlayDirs& dirs, int target_fd, const std::string& target,
                   OverlayBackend backend, const FuseServer& serve_fuse) {
    if (dirs.lowers.size() > max_overlay_layers)
        throw Error("an overlay of " + std::to_string(dirs.lowers.size()) + " layers: the kernel takes at most " +
                    std::to_string(max_overlay_layers));
    if (backend == OverlayBackend::kernel) {
        try {
            UniqueFd mnt = kernel_overlay(dirs);
            attach(mnt.get(), target_fd, target);
            return;
        } catch (const SysError& error) {
            // No overlayfs (ENODEV), or none for user namespaces (EPERM, before 5.11):
            // fuse-overlayfs does the same in user space.
            if (error.error_number() != EPERM && error.error_number() != ENODEV) throw;
        }
    }
    UniqueFd mnt = fuse_mount(serve_fuse);
    attach(mnt.get(), target_fd, target);
}

}  // namespace bincastle::container
