#include "container/path_in_root.hpp"

#include "container/linux_api.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>

namespace bincastle::container {

namespace {

std::string relative(const std::string& path) {
    size_t start = path.find_first_not_of('/');
    return start == std::string::npos ? "." : path.substr(start);
}

// Splits "/a/b/c" into the parent "/a/b" and the name "c".
std::pair<std::string, std::string> split_last(const std::string& path) {
    std::string trimmed = path;
    while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
    size_t slash = trimmed.rfind('/');
    if (slash == std::string::npos) return {"/", trimmed};
    return {slash == 0 ? "/" : trimmed.substr(0, slash), trimmed.substr(slash + 1)};
}

UniqueFd make_directories(int root_fd, const std::string& path) {
    UniqueFd fd = open_in_root(root_fd, path, O_PATH | O_DIRECTORY);
    if (fd || errno != ENOENT) {
        if (!fd) throw SysError("open", path + " (inside the container)");
        return fd;
    }
    auto [parent, name] = split_last(path);
    UniqueFd parent_fd = make_directories(root_fd, parent);
    if (::mkdirat(parent_fd.get(), name.c_str(), 0755) != 0 && errno != EEXIST)
        throw SysError("mkdir", path + " (inside the container)",
                       "create it in the root filesystem, or give the root a writable upper layer");
    fd = open_in_root(root_fd, path, O_PATH | O_DIRECTORY);
    if (!fd) throw SysError("open", path + " (inside the container)");
    return fd;
}

}  // namespace

UniqueFd open_in_root(int root_fd, const std::string& path, int flags) {
    return UniqueFd(linux_api::openat2(root_fd, relative(path).c_str(),
                                       static_cast<std::uint64_t>(flags | O_CLOEXEC), 0,
                                       RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS));
}

UniqueFd make_mount_point(int root_fd, const std::string& path, NodeType type) {
    if (type == NodeType::directory) return make_directories(root_fd, path);

    UniqueFd fd = open_in_root(root_fd, path, O_PATH);
    if (fd) return fd;
    if (errno != ENOENT) throw SysError("open", path + " (inside the container)");
    auto [parent, name] = split_last(path);
    UniqueFd parent_fd = make_directories(root_fd, parent);
    UniqueFd created(::openat(parent_fd.get(), name.c_str(),
                              O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!created)
        throw SysError("create", path + " (inside the container)",
                       "create it in the root filesystem, or give the root a writable upper layer");
    fd = open_in_root(root_fd, path, O_PATH);
    if (!fd) throw SysError("open", path + " (inside the container)");
    return fd;
}

void make_symlink(int root_fd, const std::string& path, const std::string& target) {
    auto [parent, name] = split_last(path);
    UniqueFd parent_fd = make_directories(root_fd, parent);
    if (::symlinkat(target.c_str(), parent_fd.get(), name.c_str()) != 0 && errno != EEXIST)
        throw SysError("symlink", path + " (inside the container)");
}

}  // namespace bincastle::container
