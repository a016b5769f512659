#include "util/tree_walk.hpp"

#include "util/file_tree.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <fcntl.h>
#include <vector>

namespace bincastle {

const struct stat& TreeEntry::stat() {
    if (!stated_) {
        if (::fstatat(dir_.fd, name_.c_str(), &stat_, AT_SYMLINK_NOFOLLOW) != 0) throw SysError("lstat", shown());
        stated_ = true;
    }
    return stat_;
}

namespace {

void walk_dir(int fd, const std::string& path, const std::string& root_shown, TreeVisitor& visitor) {
    const std::string shown = path.empty() ? root_shown : root_shown + "/" + path;
    TreeDir dir{fd, path, {}};
    // Before the listing: a change during it is one that the next walk sees.
    if (::fstat(fd, &dir.stat) != 0) throw SysError("stat", shown);
    visitor.directory(dir);
    const std::vector<DirName> names = sorted_entries_at(fd, shown);
    std::vector<const DirName*> into;
    std::string child;
    for (const DirName& found : names) {
        child = path.empty() ? found.name : path + "/" + found.name;
        TreeEntry entry(dir, found.name, child, found.type, root_shown);
        if (visitor.entry(entry)) into.push_back(&found);
    }
    for (const DirName* found : into) {
        child = path.empty() ? found->name : path + "/" + found->name;
        UniqueFd sub = open_dir_at(fd, found->name, root_shown + "/" + child);
        walk_dir(sub.get(), child, root_shown, visitor);
    }
}

}  // namespace

void walk_tree(int root, const std::string& shown, TreeVisitor& visitor) { walk_dir(root, "", shown, visitor); }

}  // namespace bincastle
