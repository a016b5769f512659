#pragma once

#include "util/unique_fd.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace bincastle {

// Trees are read and changed through directory fds and the names in them, never
// through whole paths: no symlink is followed on the way down, and a tree may be
// deeper than PATH_MAX (a build makes one with relative steps). `shown` is the path
// that error messages name.

// The directory `name` in `dirfd`, open for reading; a symlink there is refused.
UniqueFd open_dir_at(int dirfd, const std::string& name, const std::string& shown);
// An entry of a directory listing: its name and the type the listing gave (DT_*,
// DT_UNKNOWN where the filesystem does not say).
struct DirName {
    std::string name;
    unsigned char type;
};
// The entries of the directory `dirfd`, without . and .., in byte order of name.
std::vector<DirName> sorted_entries_at(int dirfd, const std::string& shown);
// Their names only.
std::vector<std::string> sorted_names_at(int dirfd, const std::string& shown);
// Removes `name` in `dirfd` (a whole tree for a directory), whatever it is; a symlink
// is removed itself, never what it points to. A directory without u+rwx (a rootless
// build's) gets it first.
void remove_at(int dirfd, const std::string& name, const std::string& shown);
// The target of the symlink `name` in `dirfd`.
std::string read_link_at(int dirfd, const std::string& name, const std::string& shown);
// Copies the entry `name` of `from_dir` to `to_name` in `to_dir`, where nothing is:
// files with their modes and holes (a sparse file stays sparse), symlinks as symlinks,
// fifos and device nodes as such, directories with their trees and their own
// permission bits (not the umask's). A socket is nothing to copy: left out.
void copy_at(int from_dir, const std::string& name, const std::string& from_shown, int to_dir,
             const std::string& to_name, const std::string& to_shown);

// Removes a tree that a rootless build wrote, as remove_at does. Nothing to do when
// it does not exist; when `path` is a symlink, the link itself is removed.
void remove_tree(const std::filesystem::path& path);

// copy_at by paths (`to` must not exist): the copy hashes like the original.
void copy_entry(const std::filesystem::path& from, const std::filesystem::path& to);
// The tree of the directory `from` (or of the one a symlink `from` points to) into
// the directory `to`, made when missing, as copy_entry copies; `to` gets `from`'s mode.
// The relative paths in `exclude` ('/'-separated, normal) are left out with what is
// under them.
void copy_tree(const std::filesystem::path& from, const std::filesystem::path& to,
               const std::vector<std::string>& exclude = {});

// $TMPDIR, or /tmp.
std::filesystem::path temp_base();

// Entries that a process holds while it makes them, named `prefix`.held-XXXXXX and
// flocked: when the process is killed, the kernel drops the lock, and a later sweep
// removes what it left (and only that: never an entry another program, or an older
// bincastle, made). Pids could not tell: a killed process may linger as a zombie, pids
// are reused, and a store is shared across pid namespaces.

// Removes the held entries `prefix`.held-XXXXXX under `parent` that nobody holds, and
// with each the entry of its name followed by `companion` when that is not empty. An
// empty `prefix`: held entries of any prefix.
void remove_abandoned(const std::filesystem::path& parent, const std::string& prefix,
                      const std::string& companion = {});

// A new empty file `prefix`.held-XXXXXX (mode 0600) under `parent`, held while the
// returned fd is open; `path` gets its name.
UniqueFd make_held_file(const std::filesystem::path& parent, const std::string& prefix,
                        std::filesystem::path& path);

// A new private directory `prefix`.held-XXXXXX under `parent`, removed with its
// contents when dropped; held while it lives, and abandoned ones of the same prefix
// and parent are removed when one is made.
class TempDir {
public:
    explicit TempDir(const std::string& prefix, const std::filesystem::path& parent = temp_base());
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir();

    // Moves the directory to `to` by one rename(2), where it stays: it is no longer
    // removed when this is dropped. False when `to` exists (a directory not empty),
    // and this still owns the directory.
    bool rename_to(const std::filesystem::path& to);

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    UniqueFd lock_;
};

}  // namespace bincastle
