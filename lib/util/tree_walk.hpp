#pragma once

// The one walk of a whole directory tree, for its readers (a source's tree hash, a
// layer's recorded contents, a system's size): by directory fd, one openat(O_NOFOLLOW |
// O_DIRECTORY) per directory and one fstatat per entry relative to it, never by whole
// paths. So no symlink below the root is followed, and a tree may be deeper than
// PATH_MAX. It holds one descriptor per level of the tree (as remove_at and copy_at
// do), so the limit of open files bounds the depth, not the length of a path.

#include <string>
#include <sys/stat.h>

namespace bincastle {

// A directory of the tree, open.
struct TreeDir {
    int fd;
    const std::string& path;  // relative to the root, '/'-separated; "" for the root
    struct stat stat;         // fstat of `fd`, taken before its entries are listed
};

// An entry of a directory, as the visitor sees it.
class TreeEntry {
public:
    TreeEntry(const TreeDir& dir, const std::string& name, const std::string& path, unsigned char listed_type,
              const std::string& root_shown)
        : dir_(dir), name_(name), path_(path), listed_type_(listed_type), root_shown_(root_shown) {}

    const TreeDir& dir() const { return dir_; }  // the directory that holds it
    const std::string& name() const { return name_; }
    const std::string& path() const { return path_; }  // relative to the root
    std::string shown() const { return root_shown_ + "/" + path_; }
    // Its type as the listing gave it (DT_*): DT_UNKNOWN where the filesystem does not
    // say, and stale if it was replaced since. stat() is what counts.
    unsigned char listed_type() const { return listed_type_; }
    // Its lstat, made on the first call: a visitor that needs none saves the syscall.
    const struct stat& stat();

private:
    const TreeDir& dir_;
    const std::string& name_;
    const std::string& path_;
    unsigned char listed_type_;
    const std::string& root_shown_;
    bool stated_ = false;
    struct stat stat_ {};
};

class TreeVisitor {
public:
    virtual ~TreeVisitor() = default;
    // Each directory walked into (the root first). Its entries come right after,
    // all of them before any directory below it.
    virtual void directory(const TreeDir& dir) = 0;
    // Each entry of a directory, in byte order of name; true walks into it, which
    // must then be a directory (by stat()).
    virtual bool entry(TreeEntry& entry) = 0;
};

// Walks everything under the open directory `root` (not `root` itself); `shown` is
// its path in the walk's errors (SysErrors naming the entry's path); the visitor's
// pass through.
void walk_tree(int root, const std::string& shown, TreeVisitor& visitor);

}  // namespace bincastle
