#include "container/overlay_marks.hpp"

#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <fcntl.h>
#include <optional>
#include <sys/xattr.h>

namespace bincastle::container {

namespace {

// The value of xattr `name` of the open file `fd`, or nullopt.
std::optional<std::string> xattr(int fd, const char* name) {
    char value[16];
    ssize_t n = ::fgetxattr(fd, name, value, sizeof value);
    if (n < 0) return std::nullopt;
    return std::string(value, static_cast<std::size_t>(n));
}

}  // namespace

bool is_whiteout(int dirfd, const std::string& name, const struct stat& st, const std::string& shown) {
    if (S_ISCHR(st.st_mode)) return st.st_rdev == 0;
    if (!S_ISREG(st.st_mode) || st.st_size != 0) return false;
    UniqueFd file(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!file) throw SysError("open", shown);
    return xattr(file.get(), "user.overlay.whiteout") || xattr(file.get(), "trusted.overlay.whiteout");
}

bool is_opaque_dir(int dir) {
    return xattr(dir, "user.overlay.opaque") == "y" || xattr(dir, "trusted.overlay.opaque") == "y";
}

}  // namespace bincastle::container
