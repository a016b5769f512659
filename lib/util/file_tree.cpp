#include "util/file_tree.hpp"

#include "util/file_io.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle {

UniqueFd open_dir_at(int dirfd, const std::string& name, const std::string& shown) {
    UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw SysError("open", shown);
    return fd;
}

std::vector<DirName> sorted_entries_at(int dirfd, const std::string& shown) {
    // Read through dirfd itself, from its start: no second descriptor, which the
    // removal of a partial output may not get when a process has too many open files.
    if (::lseek(dirfd, 0, SEEK_SET) < 0) throw SysError("lseek", shown);
    std::vector<DirName> entries;
    std::vector<char> buffer(32 << 10);
    for (;;) {
        const ssize_t n = ::getdents64(dirfd, buffer.data(), buffer.size());
        if (n < 0) throw SysError("readdir", shown);
        if (n == 0) break;
        for (ssize_t offset = 0; offset < n;) {
            const auto* entry = reinterpret_cast<const dirent64*>(buffer.data() + offset);
            if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0)
                entries.push_back({entry->d_name, entry->d_type});
            offset += entry->d_reclen;
        }
    }
    std::sort(entries.begin(), entries.end(), [](const DirName& a, const DirName& b) { return a.name < b.name; });
    return entries;
}

std::vector<std::string> sorted_names_at(int dirfd, const std::string& shown) {
    std::vector<std::string> names;
    for (DirName& entry : sorted_entries_at(dirfd, shown)) names.push_back(std::move(entry.name));
    return names;
}

void remove_at(int dirfd, const std::string& name, const std::string& shown) {
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return;
        throw SysError("lstat", shown);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) throw SysError("unlink", shown);
        return;
    }
    // A directory (not a symlink, said fstatat): readable and writable to empty it,
    // also as an ordinary user.
    if ((st.st_mode & 0700) != 0700 && ::fchmodat(dirfd, name.c_str(), 0700, 0) != 0) throw SysError("chmod", shown);
    {
        UniqueFd dir = open_dir_at(dirfd, name, shown);
        for (const std::string& child : sorted_names_at(dir.get(), shown)) remove_at(dir.get(), child, shown + "/" + child);
    }
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) throw SysError("rmdir", shown);
}

namespace {

// The data of the open regular file `in` into the open empty file `out`, holes kept.
void copy_file_data(int in, const std::string& from, int out, const std::string& to) {
    struct stat st {};
    if (::fstat(in, &st) != 0) throw SysError("stat", from);
    const off_t end = st.st_size;
    std::vector<char> buffer(std::min<off_t>(end, 1 << 20));
    for (off_t offset = 0; offset < end;) {
        off_t data = ::lseek(in, offset, SEEK_DATA);
        if (data < 0 && errno == ENXIO) break;  // a hole up to the end
        // A filesystem that cannot tell holes: all of it is data.
        if (data < 0 && errno != EINVAL) throw SysError("lseek", from);
        if (data < 0) data = offset;
        off_t hole = ::lseek(in, data, SEEK_HOLE);
        if (hole < 0 || hole > end) hole = end;
        for (offset = data; offset < hole;) {
            const auto wanted = static_cast<std::size_t>(std::min<off_t>(hole - offset, static_cast<off_t>(buffer.size())));
            ssize_t n = ::pread(in, buffer.data(), wanted, offset);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw SysError("read", from);
            if (n == 0) throw Error("copying " + from + ": the file shrank while it was copied");
            for (ssize_t done = 0; done < n;) {
                ssize_t written = ::pwrite(out, buffer.data() + done, static_cast<std::size_t>(n - done), offset + done);
                if (written < 0 && errno == EINTR) continue;
                if (written < 0) throw SysError("write", to);
                done += written;
            }
            offset += n;
        }
    }
    // The holes at the end, and the size.
    if (::ftruncate(out, end) != 0) throw SysError("truncate", to);
}

}  // namespace

std::string read_link_at(int dirfd, const std::string& name, const std::string& shown) {
    std::string target(256, '\0');
    for (;;) {
        ssize_t n = ::readlinkat(dirfd, name.c_str(), target.data(), target.size());
        if (n < 0) throw SysError("readlink", shown);
        if (static_cast<std::size_t>(n) < target.size()) {
            target.resize(static_cast<std::size_t>(n));
            return target;
        }
        target.resize(target.size() * 2);
    }
}

namespace {

void copy_dir_at(int from_dir, const std::string& name, const std::string& from_shown, int to_dir,
                 const std::string& to_name, const std::string& to_shown, mode_t perm, const std::string& relative,
                 const std::vector<std::string>& exclude);

// copy_at of each entry of the directory `from` into the directory `to`, but the ones
// whose path (below `relative`) is in `exclude`; a directory with such a path below
// it is copied without that path.
void copy_entries_at(int from, const std::string& from_shown, int to, const std::string& to_shown,
                     const std::string& relative, const std::vector<std::string>& exclude) {
    for (const std::string& name : sorted_names_at(from, from_shown)) {
        const std::string path = relative.empty() ? name : relative + "/" + name;
        const std::string from_child = from_shown + "/" + name, to_child = to_shown + "/" + name;
        if (std::find(exclude.begin(), exclude.end(), path) != exclude.end()) continue;
        const bool above = std::any_of(exclude.begin(), exclude.end(),
                                       [&](const std::string& x) { return x.starts_with(path + "/"); });
        struct stat st {};
        if (above && ::fstatat(from, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw SysError("lstat", from_child);
        if (above && S_ISDIR(st.st_mode))
            copy_dir_at(from, name, from_child, to, name, to_child, st.st_mode & 07777, path, exclude);
        else
            copy_at(from, name, from_child, to, name, to_child);
    }
}

void copy_dir_at(int from_dir, const std::string& name, const std::string& from_shown, int to_dir,
                 const std::string& to_name, const std::string& to_shown, mode_t perm, const std::string& relative,
                 const std::vector<std::string>& exclude) {
    if (::mkdirat(to_dir, to_name.c_str(), 0700) != 0) throw SysError("mkdir", to_shown);
    UniqueFd in = open_dir_at(from_dir, name, from_shown);
    UniqueFd out = open_dir_at(to_dir, to_name, to_shown);
    copy_entries_at(in.get(), from_shown, out.get(), to_shown, relative, exclude);
    if (::fchmod(out.get(), perm) != 0) throw SysError("chmod", to_shown);
}

}  // namespace

void copy_at(int from_dir, const std::string& name, const std::string& from_shown, int to_dir,
             const std::string& to_name, const std::string& to_shown) {
    struct stat st {};
    if (::fstatat(from_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw SysError("lstat", from_shown);
    const mode_t perm = st.st_mode & 07777;
    if (S_ISDIR(st.st_mode)) {
        copy_dir_at(from_dir, name, from_shown, to_dir, to_name, to_shown, perm, {}, {});
    } else if (S_ISREG(st.st_mode)) {
        UniqueFd in(::openat(from_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!in) throw SysError("open", from_shown);
        UniqueFd out(::openat(to_dir, to_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!out) throw SysError("open", to_shown);
        copy_file_data(in.get(), from_shown, out.get(), to_shown);
        if (::fchmod(out.get(), perm) != 0) throw SysError("chmod", to_shown);
    } else if (S_ISLNK(st.st_mode)) {
        if (::symlinkat(read_link_at(from_dir, name, from_shown).c_str(), to_dir, to_name.c_str()) != 0)
            throw SysError("symlink", to_shown);
    } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        // mknod's mode passes through the umask: the node's own mode is set after.
        if (::mknodat(to_dir, to_name.c_str(), (st.st_mode & S_IFMT) | 0600, st.st_rdev) != 0)
            throw SysError("mknod", to_shown);
        if (::fchmodat(to_dir, to_name.c_str(), perm, 0) != 0) throw SysError("chmod", to_shown);
    }
}

// By paths, from the working directory: the last component is not followed, the
// others are (the caller named them).
void remove_tree(const fs::path& path) { remove_at(AT_FDCWD, path.string(), path.string()); }

void copy_entry(const fs::path& from, const fs::path& to) {
    copy_at(AT_FDCWD, from.string(), from.string(), AT_FDCWD, to.string(), to.string());
}

void copy_tree(const fs::path& from, const fs::path& to, const std::vector<std::string>& exclude) {
    // `from` itself may be a symlink to the tree (a source directory may be).
    UniqueFd in(::open(from.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!in) throw SysError("open", from.string());
    struct stat st {};
    if (::fstat(in.get(), &st) != 0) throw SysError("stat", from.string());
    if (::mkdir(to.c_str(), 0700) != 0 && errno != EEXIST) throw SysError("mkdir", to.string());
    UniqueFd out(::open(to.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!out) throw SysError("open", to.string());
    copy_entries_at(in.get(), from.string(), out.get(), to.string(), {}, exclude);
    if (::fchmod(out.get(), st.st_mode & 07777) != 0) throw SysError("chmod", to.string());
}

fs::path temp_base() {
    const char* base = std::getenv("TMPDIR");
    return base && *base ? base : "/tmp";
}

namespace {

// What a held entry's name has between its prefix and mkstemp's six characters. Only
// such entries are ever taken for abandoned: one of the same prefix made otherwise (an
// older bincastle's, which held no lock; a script's mktemp) may be in use.
constexpr std::string_view held_mark = ".held-";

bool is_held_name(const std::string& name, const std::string& prefix) {
    const std::size_t suffix = held_mark.size() + 6;
    if (prefix.empty()) return name.size() > suffix && name.compare(name.size() - suffix, held_mark.size(), held_mark) == 0;
    return name.size() == prefix.size() + suffix && name.starts_with(prefix) &&
           name.compare(prefix.size(), held_mark.size(), held_mark) == 0;
}

// Locks the entry just made at `path` through `fd`, waiting for a remover that took it
// for abandoned before it was locked; false when that one removed it meanwhile.
bool lock_fresh(int fd, const std::string& path) {
    while (::flock(fd, LOCK_EX) != 0)
        if (errno != EINTR) throw SysError("flock", path);
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw SysError("stat", path);
    return st.st_nlink > 0;
}

}  // namespace

void remove_abandoned(const fs::path& parent, const std::string& prefix, const std::string& companion) {
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(parent, error)) {
        const std::string name = entry.path().filename().string();
        if (!is_held_name(name, prefix)) continue;
        // O_NONBLOCK: a fifo of such a name does not stop the sweep.
        UniqueFd fd(::open(entry.path().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        // Gone, another user's, or in use.
        if (!fd || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;
        // Still the entry opened: its owner may have removed it meanwhile, and a new one
        // may have the name now.
        struct stat held {}, named {};
        if (::fstat(fd.get(), &held) != 0 || ::lstat(entry.path().c_str(), &named) != 0 || held.st_ino != named.st_ino ||
            held.st_dev != named.st_dev)
            continue;
        // Each user sweeps what is theirs: in a shared /tmp, another's is theirs to judge.
        if (held.st_uid != ::geteuid()) continue;
        try {
            if (!companion.empty()) remove_tree(entry.path().string() + companion);
            remove_tree(entry.path());
        } catch (const std::exception&) {
            // Another try at the next sweep.
        }
    }
}

UniqueFd make_held_file(const fs::path& parent, const std::string& prefix, fs::path& path) {
    for (;;) {
        std::string pattern = (parent / (prefix + std::string(held_mark) + "XXXXXX")).string();
        UniqueFd fd(::mkostemp(pattern.data(), O_CLOEXEC));
        if (!fd) throw SysError("mkostemp", pattern);
        if (!lock_fresh(fd.get(), pattern)) continue;
        path = pattern;
        return fd;
    }
}

TempDir::TempDir(const std::string& prefix, const fs::path& parent) {
    remove_abandoned(parent, prefix);
    for (;;) {
        std::string pattern = (parent / (prefix + std::string(held_mark) + "XXXXXX")).string();
        if (!::mkdtemp(pattern.data())) throw SysError("mkdtemp", pattern);
        path_ = pattern;
        lock_ = UniqueFd(::open(pattern.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        // Another TempDir (another thread's, even) took it for abandoned before it was
        // locked, and removed it already: make another.
        if (!lock_ && errno == ENOENT) continue;
        if (!lock_) throw SysError("open", pattern);
        if (lock_fresh(lock_.get(), pattern)) return;
    }
}

bool TempDir::rename_to(const fs::path& to) {
    if (::rename(path_.c_str(), to.c_str()) != 0) {
        if (errno == EEXIST || errno == ENOTEMPTY) return false;
        throw SysError("rename", path_.string() + " -> " + to.string());
    }
    lock_.reset();
    path_.clear();
    return true;
}

TempDir::~TempDir() {
    // Unlocked first: removing takes a descriptor per level, which a process at its
    // limit of open files may lack by one; a TempDir that takes it for abandoned
    // meanwhile only removes it too.
    lock_.reset();
    if (path_.empty()) return;  // renamed into place
    try {
        remove_tree(path_);
    } catch (const std::exception&) {
        // Left behind, unlocked: the next TempDir of its prefix removes it.
    }
}

}  // namespace bincastle
