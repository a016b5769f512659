#include "source/tree_hash.hpp"

#include "graph/key_encoder.hpp"
#include "util/file_hash.hpp"
#include "util/file_tree.hpp"
#include "util/parallel.hpp"
#include "util/tree_walk.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <chrono>
#include <dirent.h>
#include <fcntl.h>
#include <optional>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

enum class Type { file, directory, symlink };

std::string_view type_name(Type type) {
    switch (type) {
    case Type::file: return "file";
    case Type::directory: return "directory";
    case Type::symlink: return "symlink";
    }
    return {};
}

std::string_view unsupported_kind(mode_t mode) {
    if (S_ISFIFO(mode)) return "a fifo";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "of an unknown type";
}

struct Entry {
    std::string path;  // relative to the root, '/'-separated
    Type type;
    StatCache::Stat stat;
    std::string target;  // a symlink's
    Key content;         // a file's
    bool link_read = false;
};

// A file whose content has to be read.
struct Read {
    Entry* entry;
    StatCache::Stat opened;  // fstat of what was read, for the cache
    std::int64_t hashed_at = 0;
    std::uint64_t bytes = 0;
};

std::int64_t now_ns() {
    using namespace std::chrono;
    return duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
}

// The entries and directories, by walk_tree: each entry is one fstatat (and a symlink
// one readlinkat, unless `cache` knows its target) of its name. In a directory that
// `cache` knows unchanged, a symlink it knows is not even stat'ed.
class Walk : public TreeVisitor {
public:
    Walk(const std::vector<std::string>& exclude, const StatCache* cache) : exclude_(exclude), cache_(cache) {}

    std::vector<Entry> entries;
    std::vector<std::pair<std::string, StatCache::Stat>> dirs;  // each directory's, the root's as ""
    std::size_t links_checked = 0;                              // symlinks stat'ed

    void directory(const TreeDir& dir) override {
        dirs.emplace_back(dir.path, StatCache::Stat::of(dir.stat));
        dir_unchanged_ = cache_ && cache_->has_dir(dir.path, dirs.back().second);
    }

    bool entry(TreeEntry& found) override {
        if (!exclude_.empty() && std::find(exclude_.begin(), exclude_.end(), found.path()) != exclude_.end())
            return false;
        Entry entry{found.path(), Type::file, {}, {}, {}};
        if (dir_unchanged_ && found.listed_type() == DT_LNK) {
            if (auto link = cache_->find_link(entry.path)) {
                entry.type = Type::symlink;
                entry.stat = link->stat;
                entry.target = std::move(link->target);
                entries.push_back(std::move(entry));
                return false;
            }
        }
        const struct stat& st = found.stat();
        entry.stat = StatCache::Stat::of(st);
        const bool into = S_ISDIR(st.st_mode);
        if (into) {
            entry.type = Type::directory;
        } else if (S_ISLNK(st.st_mode)) {
            entry.type = Type::symlink;
            ++links_checked;
            if (auto known = cache_ ? cache_->find_target(entry.path, entry.stat) : std::nullopt) {
                entry.target = std::move(*known);
            } else {
                entry.target = read_link_at(found.dir().fd, found.name(), found.shown());
                entry.link_read = true;
            }
        } else if (!S_ISREG(st.st_mode)) {
            throw Error(found.shown() + " is " + std::string(unsupported_kind(st.st_mode)) +
                        "; a source tree may hold only files, directories and symlinks");
        }
        entries.push_back(std::move(entry));
        return into;
    }

private:
    const std::vector<std::string>& exclude_;
    const StatCache* cache_;
    bool dir_unchanged_ = false;  // of the directory whose entries come now
};

void hash_content(int root, const std::string& shown, Read& read) {
    read.hashed_at = now_ns();
    FileHash hash = hash_file_under(root, read.entry->path, shown);
    read.opened = StatCache::Stat::of(hash.opened);
    read.bytes = hash.bytes;
    read.entry->content = hash.content;
}

}  // namespace

Key hash_tree(const fs::path& root, StatCache* cache, unsigned threads, TreeHashStats* stats,
              const std::vector<std::string>& exclude) {
    const std::string root_path = root.string();
    // The root may be a symlink to the tree; nothing below it is followed.
    UniqueFd top(::open(root_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!top) throw SysError("opendir", root_path);
    const std::int64_t walked_at = now_ns();
    Walk walked(exclude, cache);
    walk_tree(top.get(), root_path, walked);
    std::vector<Entry>& entries = walked.entries;
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; });

    std::vector<const Entry*> hits;
    std::vector<Read> reads;
    for (auto& entry : entries) {
        if (entry.type != Type::file) continue;
        auto known = cache ? cache->find(entry.path, entry.stat) : std::nullopt;
        if (known) {
            entry.content = *known;
            hits.push_back(&entry);
        } else {
            reads.push_back({&entry, {}});
        }
    }

    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    parallel_for(reads.size(), threads,
                 [&](std::size_t i) { hash_content(top.get(), root_path + "/" + reads[i].entry->path, reads[i]); });

    KeyEncoder encoder("tree");
    for (const auto& entry : entries) {
        encoder.field('p', entry.path)
            .field('t', type_name(entry.type))
            .field('m', std::uint64_t{entry.stat.mode & 07777});
        if (entry.type == Type::file) encoder.field('c', entry.content);
        if (entry.type == Type::symlink) encoder.field('l', entry.target);
    }

    if (cache) {
        // Rebuilt from this tree only, so that deleted files do not linger in it. A
        // hit was settled when it was stored, so it is still settled now.
        cache->clear();
        const std::int64_t now = now_ns();
        for (const Entry* hit : hits) cache->store(hit->path, hit->stat, hit->content, now);
        for (const auto& read : reads)
            cache->store(read.entry->path, read.opened, read.entry->content, read.hashed_at);
        for (const auto& entry : entries)
            if (entry.type == Type::symlink) cache->store_target(entry.path, entry.stat, entry.target, walked_at);
        for (const auto& [dir, stat] : walked.dirs) cache->store_dir(dir, stat, walked_at);
    }
    if (stats) {
        stats->files = hits.size() + reads.size();
        stats->files_read = reads.size();
        stats->bytes_read = 0;
        for (const auto& read : reads) stats->bytes_read += read.bytes;
        stats->links_checked = walked.links_checked;
        stats->links_read = static_cast<std::size_t>(
            std::count_if(entries.begin(), entries.end(), [](const Entry& entry) { return entry.link_read; }));
    }
    return encoder.finish();
}

}  // namespace bincastle
