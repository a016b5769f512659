#include "container/overlay_marks.hpp"

#include <optional>
#include <sys/xattr.h>

namespace bincastle::container {

namespace {

// The value of xattr `name` of `path` (not following a symlink), or nullopt.
std::optional<std::string> xattr(const std::string& path, const char* name) {
    char value[16];
    ssize_t n = ::lgetxattr(path.c_str(), name, value, sizeof value);
    if (n < 0) return std::nullopt;
    return std::string(value, static_cast<std::size_t>(n));
}

}  // namespace

bool is_whiteout(const std::string& path, const struct stat& st) {
    if (S_ISCHR(st.st_mode)) return st.st_rdev == 0;
    return S_ISREG(st.st_mode) && st.st_size == 0 &&
           (xattr(path, "user.overlay.whiteout") || xattr(path, "trusted.overlay.whiteout"));
}

bool is_opaque_dir(const std::string& path) {
    return xattr(path, "user.overlay.opaque") == "y" || xattr(path, "trusted.overlay.opaque") == "y";
}

}  // namespace bincastle::container
