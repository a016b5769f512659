#pragma once

// Remembers the content hash of each file of a source tree under the file's stat, each
// symlink's target under its own, and each directory's stat, so that hashing an
// unchanged tree again reads no file and no link, and does not even stat the links of
// an unchanged directory (a link cannot change but by a new entry in its directory). It never answers with a wrong
// hash: any difference in the stat is a miss, and an entry whose timestamps are too
// recent to tell a later write apart ("racy") is not kept at all.

#include <bincastle/key.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <unordered_map>

namespace bincastle {

class StatCache {
public:
    // What must be unchanged for a file's content to be taken as unchanged.
    struct Stat {
        std::uint64_t dev = 0;
        std::uint64_t ino = 0;
        std::uint64_t size = 0;
        std::int64_t mtime_ns = 0;
        std::int64_t ctime_ns = 0;
        std::uint32_t mode = 0;

        static Stat of(const struct stat& st);
        bool operator==(const Stat&) const = default;
    };

    // A file written within `racy_window` of being hashed may change again without
    // changing its timestamps (they are coarse), so its hash is not kept. Two seconds
    // covers every Linux filesystem's granularity; tests pass zero.
    explicit StatCache(std::chrono::nanoseconds racy_window = std::chrono::seconds(2));

    // The content hash recorded for `path` under exactly `stat`, or nullopt.
    std::optional<Key> find(const std::string& path, const Stat& stat) const;
    // Records `content` for `path`, unless `stat`'s mtime or ctime is within the racy
    // window of `hashed_at` (when the file was opened, in ns since the epoch).
    void store(const std::string& path, const Stat& stat, const Key& content, std::int64_t hashed_at);
    // The same for a symlink's target: a link cannot be changed in place, so a new
    // target comes with a new ctime (and, within the racy window, is not kept).
    std::optional<std::string> find_target(const std::string& path, const Stat& stat) const;
    void store_target(const std::string& path, const Stat& stat, std::string target, std::int64_t read_at);
    // A symlink's recorded stat and target, for a caller that found its directory
    // unchanged (has_dir), and so need not stat the link again.
    struct Link {
        Stat stat;
        std::string target;
    };
    std::optional<Link> find_link(const std::string& path) const;

    // Whether the directory `path` (relative; "" for the root) was recorded under
    // exactly `stat`: then no entry of it was added, removed or replaced since.
    bool has_dir(const std::string& path, const Stat& stat) const;
    void store_dir(const std::string& path, const Stat& stat, std::int64_t seen_at);
    void clear() { entries_.clear(); }
    std::size_t size() const { return entries_.size(); }

    // Replaces the entries with the file's. A missing, unreadable, corrupt, or
    // other-version file (or something else in its place) leaves the cache empty: it
    // only costs a rehash, and save() replaces it.
    void load(const std::filesystem::path& file);
    // Writes the entries to a temporary file beside `file` and renames it over `file`
    // (or over whatever is there), so that a reader sees the old cache or the new one,
    // never a torn one; does nothing when `file` is what load() read and the entries
    // are still those.
    void save(const std::filesystem::path& file) const;

private:
    struct Entry {
        Stat stat;
        Key content;         // a file's
        std::string target;  // a symlink's (S_ISLNK(stat.mode)); a directory has neither
    };
    bool settled(const Stat& stat, std::int64_t seen_at) const;
    std::chrono::nanoseconds racy_window_;
    std::unordered_map<std::string, Entry> entries_;
    // The file load() read, and the checksum of what it held.
    std::filesystem::path loaded_from_;
    std::optional<Key> loaded_digest_;
};

}  // namespace bincastle
