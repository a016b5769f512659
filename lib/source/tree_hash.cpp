#include "source/tree_hash.hpp"

#include "graph/key_encoder.hpp"
#include "util/file_hash.hpp"
#include "util/parallel.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
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

struct Walk {
    std::vector<Entry> entries;
    std::vector<std::pair<std::string, StatCache::Stat>> dirs;  // each directory's, the root's as ""
    std::size_t links_checked = 0;                              // symlinks stat'ed
};

// By directory fd: each entry is one fstatat (and a symlink one readlinkat, unless
// `cache` knows its target) of its name, not a walk of its whole path. In a directory
// that `cache` knows unchanged, a symlink it knows is not even stat'ed.
Walk walk(const std::string& root, const std::vector<std::string>& exclude, const StatCache* cache) {
    auto excluded = [&](const std::string& path) {
        return std::find(exclude.begin(), exclude.end(), path) != exclude.end();
    };
    Walk result;
    std::vector<std::string> pending{""};
    std::string target;
    while (!pending.empty()) {
        std::string dir = std::move(pending.back());
        pending.pop_back();
        std::string dir_path = dir.empty() ? root : root + "/" + dir;
        // The root may be a symlink to the tree; nothing below it is followed.
        int fd = ::open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | (dir.empty() ? 0 : O_NOFOLLOW));
        if (fd < 0) throw SysError("opendir", dir_path);
        std::unique_ptr<DIR, int (*)(DIR*)> stream(::fdopendir(fd), ::closedir);
        if (!stream) {
            ::close(fd);
            throw SysError("opendir", dir_path);
        }
        // Before the listing: a change during it is a change to the next walk.
        struct stat dir_st;
        if (::fstat(fd, &dir_st) != 0) throw SysError("stat", dir_path);
        const auto dir_stat = StatCache::Stat::of(dir_st);
        const bool dir_unchanged = cache && cache->has_dir(dir, dir_stat);
        result.dirs.emplace_back(dir, dir_stat);
        errno = 0;
        while (dirent* found = ::readdir(stream.get())) {
            std::string_view name = found->d_name;
            if (name == "." || name == "..") continue;
            Entry entry{dir.empty() ? std::string(name) : dir + "/" + std::string(name), Type::file, {}, {}, {}};
            if (!exclude.empty() && excluded(entry.path)) continue;
            if (dir_unchanged && found->d_type == DT_LNK) {
                if (auto link = cache->find_link(entry.path)) {
                    entry.type = Type::symlink;
                    entry.stat = link->stat;
                    entry.target = std::move(link->target);
                    result.entries.push_back(std::move(entry));
                    errno = 0;
                    continue;
                }
            }
            struct stat st;
            if (::fstatat(fd, found->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) throw SysError("lstat", root + "/" + entry.path);
            entry.stat = StatCache::Stat::of(st);
            if (S_ISDIR(st.st_mode)) {
                entry.type = Type::directory;
                pending.push_back(entry.path);
            } else if (S_ISLNK(st.st_mode)) {
                entry.type = Type::symlink;
                ++result.links_checked;
                if (auto known = cache ? cache->find_target(entry.path, entry.stat) : std::nullopt) {
                    entry.target = std::move(*known);
                } else {
                    target.resize(static_cast<std::size_t>(st.st_size) + 1);
                    ssize_t n = ::readlinkat(fd, found->d_name, target.data(), target.size());
                    if (n < 0) throw SysError("readlink", root + "/" + entry.path);
                    entry.target.assign(target.data(), static_cast<std::size_t>(n));
                    entry.link_read = true;
                }
            } else if (!S_ISREG(st.st_mode)) {
                throw Error(root + "/" + entry.path + " is " + std::string(unsupported_kind(st.st_mode)) +
                            "; a source tree may hold only files, directories and symlinks");
            }
            result.entries.push_back(std::move(entry));
            errno = 0;
        }
        if (errno != 0) throw SysError("readdir", dir_path);
    }
    return result;
}

void hash_content(const std::string& path, Read& read) {
    read.hashed_at = now_ns();
    FileHash hash = hash_file(AT_FDCWD, path, path);
    read.opened = StatCache::Stat::of(hash.opened);
    read.bytes = hash.bytes;
    read.entry->content = hash.content;
}

}  // namespace

Key hash_tree(const fs::path& root, StatCache* cache, unsigned threads, TreeHashStats* stats,
              const std::vector<std::string>& exclude) {
    const std::string root_path = root.string();
    const std::int64_t walked_at = now_ns();
    Walk walked = walk(root_path, exclude, cache);
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
    parallel_for(reads.size(), threads, [&](std::size_t i) { hash_content(root_path + "/" + reads[i].entry->path, reads[i]); });

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
