#include "util/file_tree.hpp"

#include <bincastle/error.hpp>

#include <cstdlib>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle {

void remove_tree(const fs::path& path) {
    std::error_code error;
    const fs::file_status status = fs::symlink_status(path, error);
    if (!fs::exists(status)) return;
    // Anything but a directory (a symlink above all) is removed as itself: chmod and
    // the iterator below would follow a link and change what it points to.
    if (!fs::is_directory(status)) {
        fs::remove(path, error);
        if (error) throw SysError(error.value(), "remove", path.string());
        return;
    }
    // A build may leave directories without u+w or u+x; give them back first, each
    // before the iterator descends into it.
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, error);
    for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::none, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
        if (it->is_directory(error) && !it->is_symlink(error))
            fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, error);
    }
    error.clear();
    fs::remove_all(path, error);
    if (error) throw SysError(error.value(), "remove", path.string());
}

void copy_tree(const fs::path& from, const fs::path& to) {
    std::error_code error;
    if (!fs::is_directory(from, error)) throw Error(from.string() + ": not a directory");
    fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks, error);
    if (error) throw SysError(error.value(), "copy", from.string() + " -> " + to.string());
    // fs::copy makes directories through the umask (a 1777 /tmp comes out 1755).
    for (auto it = fs::recursive_directory_iterator(from, error); !error && it != fs::recursive_directory_iterator();
         it.increment(error)) {
        if (!it->is_directory(error) || it->is_symlink(error)) continue;
        const fs::path copy = to / it->path().lexically_relative(from);
        fs::permissions(copy, it->symlink_status().permissions(), fs::perm_options::replace, error);
        if (error) throw SysError(error.value(), "chmod", copy.string());
    }
    if (error) throw SysError(error.value(), "copy", from.string() + " -> " + to.string());
}

fs::path temp_base() {
    const char* base = std::getenv("TMPDIR");
    return base && *base ? base : "/tmp";
}

TempDir::TempDir(const std::string& prefix) {
    std::string pattern = (temp_base() / (prefix + ".XXXXXX")).string();
    if (!::mkdtemp(pattern.data())) throw SysError("mkdtemp", pattern);
    path_ = pattern;
}

TempDir::~TempDir() {
    try {
        remove_tree(path_);
    } catch (const std::exception&) {
        // Left behind in the temporary directory; nothing else depends on it.
    }
}

}  // namespace bincastle
