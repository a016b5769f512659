#include "source/stat_cache.hpp"

#include "graph/key_encoder.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

// The file: this header, then per entry the path (length-prefixed), the six stat
// fields and the content hash (a symlink's target, length-prefixed, for a symlink;
// nothing for a directory), all integers as 8 bytes little-endian; then the xxh3-128 of everything before it,
// so that a torn or damaged file is not believed.
constexpr std::string_view file_header = "bincastle-stat-cache-v2\n";

std::int64_t nanoseconds(const struct timespec& time) {
    return static_cast<std::int64_t>(time.tv_sec) * 1'000'000'000 + time.tv_nsec;
}

std::string_view bytes_of(const Key& key) {
    return {reinterpret_cast<const char*>(key.bytes.data()), key.bytes.size()};
}

void put(std::string& out, std::uint64_t value) {
    for (int i = 0; i < 8; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

// Reads what put() wrote. A read past the end fails this read and every later one,
// and makes the whole file count as corrupt.
class Reader {
public:
    explicit Reader(std::string_view data) : data_(data) {}

    bool ok() const { return ok_; }
    bool at_end() const { return data_.empty(); }

    std::uint64_t number() {
        std::uint64_t value = 0;
        auto raw = bytes(8);
        for (size_t i = raw.size(); i-- > 0;) value = value << 8 | static_cast<std::uint8_t>(raw[i]);
        return value;
    }

    std::string_view bytes(std::uint64_t n) {
        if (!ok_ || n > data_.size()) {
            ok_ = false;
            return {};
        }
        auto taken = data_.substr(0, n);
        data_.remove_prefix(n);
        return taken;
    }

private:
    std::string_view data_;
    bool ok_ = true;
};

}  // namespace

StatCache::Stat StatCache::Stat::of(const struct stat& st) {
    return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
            static_cast<std::uint64_t>(st.st_size), nanoseconds(st.st_mtim), nanoseconds(st.st_ctim),
            static_cast<std::uint32_t>(st.st_mode)};
}

StatCache::StatCache(std::chrono::nanoseconds racy_window) : racy_window_(racy_window) {}

std::optional<Key> StatCache::find(const std::string& path, const Stat& stat) const {
    auto it = entries_.find(path);
    if (it == entries_.end() || it->second.stat != stat || !S_ISREG(stat.mode)) return std::nullopt;
    return it->second.content;
}

std::optional<StatCache::Link> StatCache::find_link(const std::string& path) const {
    auto it = entries_.find(path);
    if (it == entries_.end() || !S_ISLNK(it->second.stat.mode)) return std::nullopt;
    return Link{it->second.stat, it->second.target};
}

bool StatCache::has_dir(const std::string& path, const Stat& stat) const {
    auto it = entries_.find(path);
    return it != entries_.end() && it->second.stat == stat && S_ISDIR(stat.mode);
}

void StatCache::store_dir(const std::string& path, const Stat& stat, std::int64_t seen_at) {
    if (!settled(stat, seen_at) || !S_ISDIR(stat.mode)) {
        entries_.erase(path);
        return;
    }
    entries_.insert_or_assign(path, Entry{stat, {}, {}});
}

std::optional<std::string> StatCache::find_target(const std::string& path, const Stat& stat) const {
    auto it = entries_.find(path);
    if (it == entries_.end() || it->second.stat != stat || !S_ISLNK(stat.mode)) return std::nullopt;
    return it->second.target;
}

// A write after seen_at gets a timestamp no earlier than seen_at minus the
// granularity, so it cannot leave the stat of an entry older than that unchanged.
bool StatCache::settled(const Stat& stat, std::int64_t seen_at) const {
    const std::int64_t settled_before = seen_at - racy_window_.count();
    return stat.mtime_ns < settled_before && stat.ctime_ns < settled_before;
}

void StatCache::store(const std::string& path, const Stat& stat, const Key& content, std::int64_t hashed_at) {
    if (!settled(stat, hashed_at) || !S_ISREG(stat.mode)) {
        entries_.erase(path);
        return;
    }
    entries_.insert_or_assign(path, Entry{stat, content, {}});
}

void StatCache::store_target(const std::string& path, const Stat& stat, std::string target, std::int64_t read_at) {
    if (!settled(stat, read_at) || !S_ISLNK(stat.mode)) {
        entries_.erase(path);
        return;
    }
    entries_.insert_or_assign(path, Entry{stat, {}, std::move(target)});
}

void StatCache::load(const fs::path& file) {
    entries_.clear();
    loaded_from_.clear();
    loaded_digest_.reset();
    std::optional<std::string> data;
    try {
        data = read_file_if_exists(file.string());
    } catch (const SysError&) {
        return;  // not a file we can read (a directory, a mode 000): as good as missing
    }
    if (!data || data->size() < file_header.size() + sizeof(Key::bytes)) return;
    std::string_view body(data->data(), data->size() - sizeof(Key::bytes));
    if (bytes_of(hash_bytes(body)) != std::string_view(*data).substr(body.size())) return;
    if (!body.starts_with(file_header)) return;

    std::unordered_map<std::string, Entry> loaded;
    Reader in(body.substr(file_header.size()));
    while (!in.at_end()) {
        std::string path(in.bytes(in.number()));
        // Braced initializers evaluate in order, as the fields were written.
        Entry entry{{in.number(), in.number(), in.number(), static_cast<std::int64_t>(in.number()),
                     static_cast<std::int64_t>(in.number()), static_cast<std::uint32_t>(in.number())},
                    {},
                    {}};
        if (S_ISLNK(entry.stat.mode)) {
            entry.target = in.bytes(in.number());
        } else if (!S_ISDIR(entry.stat.mode)) {
            auto content = in.bytes(sizeof(Key::bytes));
            std::copy(content.begin(), content.end(), entry.content.bytes.begin());
        }
        if (!in.ok()) return;
        loaded.insert_or_assign(std::move(path), entry);
    }
    entries_ = std::move(loaded);
    loaded_from_ = file;
    loaded_digest_ = hash_bytes(body);
}

void StatCache::save(const fs::path& file) const {
    // In path order, so that the same entries make the same file, whatever order
    // they were stored in: an unchanged cache is then not written again (on a no-op
    // that write and rename were a tenth of the time).
    std::vector<const std::pair<const std::string, Entry>*> sorted;
    sorted.reserve(entries_.size());
    for (const auto& item : entries_) sorted.push_back(&item);
    std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
    std::string data(file_header);
    for (const auto* item : sorted) {
        const auto& [path, entry] = *item;
        put(data, path.size());
        data += path;
        for (std::uint64_t field : {entry.stat.dev, entry.stat.ino, entry.stat.size,
                                    static_cast<std::uint64_t>(entry.stat.mtime_ns),
                                    static_cast<std::uint64_t>(entry.stat.ctime_ns),
                                    std::uint64_t{entry.stat.mode}})
            put(data, field);
        if (S_ISLNK(entry.stat.mode)) {
            put(data, entry.target.size());
            data += entry.target;
        } else if (!S_ISDIR(entry.stat.mode)) {
            data += bytes_of(entry.content);
        }
    }
    Key digest = hash_bytes(data);
    if (loaded_digest_ && *loaded_digest_ == digest && loaded_from_ == file) return;
    data += bytes_of(digest);

    // No fsync: a file torn by a power loss fails its checksum and is ignored, which
    // costs one rehash of the tree, not a wrong key.
    try {
        replace_file(file.string(), data);
    } catch (const Error& error) {
        // Whatever took the file's place (a directory) is no cache either.
        const int number = error.error_number();
        if (number != EISDIR && number != ENOTEMPTY && number != EEXIST) throw;
        remove_tree(file);
        replace_file(file.string(), data);
    }
}

}  // namespace bincastle
