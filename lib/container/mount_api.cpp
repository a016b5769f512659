#include "container/mount_api.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

namespace bincastle::container {

FsContext::FsContext(const std::string& type) : type_(type), fd_(::fsopen(type.c_str(), FSOPEN_CLOEXEC)) {
    if (!fd_) throw SysError("fsopen", type);
}

std::string FsContext::kernel_messages() const {
    // The kernel queues "e ...", "w ..." and "i ..." lines on the context fd.
    std::string messages;
    char buffer[512];
    for (;;) {
        ssize_t n = ::read(fd_.get(), buffer, sizeof buffer);
        if (n <= 0) break;
        if (!messages.empty()) messages += "; ";
        std::string line(buffer, static_cast<size_t>(n));
        if (line.size() > 2 && line[1] == ' ') line.erase(0, 2);
        while (!line.empty() && line.back() == '\n') line.pop_back();
        messages += line;
    }
    return messages;
}

void FsContext::fail(const std::string& operation, const std::string& detail) const {
    int saved = errno;
    std::string messages = kernel_messages();
    std::string what = type_ + (detail.empty() ? "" : ", " + detail);
    if (!messages.empty()) what += " [kernel: " + messages + "]";
    throw SysError(saved, operation, what);
}

void FsContext::set_flag(const std::string& key) {
    if (::fsconfig(fd_.get(), FSCONFIG_SET_FLAG, key.c_str(), nullptr, 0) != 0)
        fail("fsconfig", key);
}

void FsContext::set_string(const std::string& key, const std::string& value) {
    if (::fsconfig(fd_.get(), FSCONFIG_SET_STRING, key.c_str(), value.c_str(), 0) != 0)
        fail("fsconfig", key + "=" + value);
}

bool FsContext::try_set_fd(const std::string& key, int fd) {
    if (::fsconfig(fd_.get(), FSCONFIG_SET_FD, key.c_str(), nullptr, fd) == 0) return true;
    if (errno == EINVAL) {
        kernel_messages();  // drop the rejection so that it does not blur a later error
        return false;
    }
    fail("fsconfig", key + " (fd)");
}

bool FsContext::try_set_string(const std::string& key, const std::string& value) {
    if (::fsconfig(fd_.get(), FSCONFIG_SET_STRING, key.c_str(), value.c_str(), 0) == 0) return true;
    if (errno == EINVAL) {
        kernel_messages();
        return false;
    }
    fail("fsconfig", key + "=" + value);
}

UniqueFd FsContext::mount(unsigned attributes) {
    if (::fsconfig(fd_.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
        fail("fsconfig", "create");
    UniqueFd mnt(::fsmount(fd_.get(), FSMOUNT_CLOEXEC, attributes));
    if (!mnt) fail("fsmount", "");
    return mnt;
}

UniqueFd clone_tree(int dirfd, const std::string& path) {
    unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE;
    if (path.empty()) flags |= AT_EMPTY_PATH;
    UniqueFd tree(::open_tree(dirfd, path.c_str(), flags));
    if (!tree) throw SysError("open_tree", path.empty() ? "(fd)" : path);
    return tree;
}

void make_read_only(int mount_fd, const std::string& what) {
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (::mount_setattr(mount_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0)
        throw SysError("mount_setattr(MOUNT_ATTR_RDONLY)", what);
}

void attach(int mount_fd, int target_fd, const std::string& target) {
    if (::move_mount(mount_fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
        throw SysError("move_mount", target);
}

}  // namespace bincastle::container
