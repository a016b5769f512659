#include "util/file_tree.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
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

namespace {

// What a TempDir's name has between its prefix and mkdtemp's six characters. Only
// such directories are ever taken for abandoned: a directory of the same prefix made
// otherwise (an older bincastle's, which held no lock; a script's mktemp) may be in use.
constexpr std::string_view held_mark = ".held-";

// Removes the directories `prefix`.held-XXXXXX under `parent` that no TempDir holds:
// their process is gone (a killed one cannot remove its own). Pids could not tell: a
// killed process may linger as a zombie, and pids are reused.
void remove_abandoned(const fs::path& parent, const std::string& prefix) {
    const std::string start = prefix + std::string(held_mark);
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(parent, error)) {
        const std::string name = entry.path().filename().string();
        if (name.size() != start.size() + 6 || !name.starts_with(start)) continue;
        UniqueFd fd(::open(entry.path().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        // Gone, another user's, or in use.
        if (!fd || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;
        try {
            remove_tree(entry.path());
        } catch (const std::exception&) {
            // Another try at the next TempDir.
        }
    }
}

}  // namespace

TempDir::TempDir(const std::string& prefix, const fs::path& parent) {
    remove_abandoned(parent, prefix);
    for (;;) {
        std::string pattern = (parent / (prefix + std::string(held_mark) + "XXXXXX")).string();
        if (!::mkdtemp(pattern.data())) throw SysError("mkdtemp", pattern);
        path_ = pattern;
        lock_ = UniqueFd(::open(pattern.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!lock_) throw SysError("open", pattern);
        while (::flock(lock_.get(), LOCK_EX) != 0)
            if (errno != EINTR) throw SysError("flock", pattern);
        // Another TempDir may have taken it for abandoned before it was locked, and
        // removed it (holding the lock, which this waited for): then make another.
        struct stat st {};
        if (::fstat(lock_.get(), &st) != 0) throw SysError("stat", pattern);
        if (st.st_nlink > 0) return;
    }
}

TempDir::~TempDir() {
    try {
        remove_tree(path_);
    } catch (const std::exception&) {
        // Left behind, unlocked once this process is gone: the next TempDir of its
        // prefix removes it.
    }
}

}  // namespace bincastle
