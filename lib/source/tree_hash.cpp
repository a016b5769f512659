#include "source/tree_hash.hpp"

#include "source/xxh3_avx2.hpp"

#include "graph/key_encoder.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <dirent.h>
#include <exception>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

#ifdef BINCASTLE_XXH3_AVX2
#include <cpuid.h>
#endif

#define XXH_INLINE_ALL
// xxHash asks GCC for -O3: at the project's -O2 its SSE2 stripe loop stays rolled,
// and a tree hashed about 15% slower end to end.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("O3")
#endif
#include <xxhash.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

namespace fs = std::filesystem;

namespace bincastle {

namespace {

// Small enough that the hash reads each block while read(2)'s copy of it is still in
// L2. On 1 GiB of cached files, 1 MiB blocks hashed about 25% slower; mmap was no
// faster, and a file truncated while mapped would kill us with SIGBUS.
constexpr std::size_t read_buffer_size = 64 << 10;

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

Key key_of(XXH128_hash_t hash) {
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, hash);
    Key key;
    std::copy(std::begin(canonical.digest), std::end(canonical.digest), key.bytes.begin());
    return key;
}

#ifdef BINCASTLE_XXH3_AVX2
// Asked on the first hash, not at start-up: __builtin_cpu_supports would link libgcc's
// CPU-model constructor, about 25 CPUIDs that cost 7 us each in a VM, into every run.
bool cpu_has_avx2() {
    static const bool has = [] {
        unsigned a, b, c, d;
        if (__get_cpuid(1, &a, &b, &c, &d) == 0 || (c & bit_OSXSAVE) == 0) return false;
        unsigned xcr0_low, xcr0_high;
        __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
        if ((xcr0_low & 0x6) != 0x6) return false;  // the OS saves SSE and AVX state
        return __get_cpuid_count(7, 0, &a, &b, &c, &d) != 0 && (b & bit_AVX2) != 0;
    }();
    return has;
}
#endif

void hash_content(const std::string& path, Read& read, std::vector<char>& buffer) {
    read.hashed_at = now_ns();
    // O_NOFOLLOW and O_NONBLOCK: if the walk's file was replaced by a symlink or a
    // fifo since, fail (below) instead of following it or blocking on it.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd) throw SysError("open", path);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) throw SysError("fstat", path);
    if (!S_ISREG(st.st_mode)) throw Error(path + " stopped being a regular file while its tree was hashed");
    read.opened = StatCache::Stat::of(st);

    XXH3_state_t state;
    XXH3_128bits_reset(&state);
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SysError("read", path);
        if (n == 0) break;
#ifdef BINCASTLE_XXH3_AVX2
        if (cpu_has_avx2()) xxh3_128_update_avx2(&state, buffer.data(), static_cast<size_t>(n));
        else
#endif
            XXH3_128bits_update(&state, buffer.data(), static_cast<size_t>(n));
        read.bytes += static_cast<std::uint64_t>(n);
    }
    read.entry->content = key_of(XXH3_128bits_digest(&state));
}

void hash_contents(const std::string& root, std::vector<Read>& reads, unsigned threads) {
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::exception_ptr error;
    auto work = [&] {
        try {
            std::vector<char> buffer(read_buffer_size);
            while (!failed) {
                std::size_t i = next++;
                if (i >= reads.size()) break;
                hash_content(root + "/" + reads[i].entry->path, reads[i], buffer);
            }
        } catch (...) {
            std::lock_guard lock(error_mutex);
            if (!error) error = std::current_exception();
            failed = true;
        }
    };
    {
        // The calling thread is one of the workers.
        std::vector<std::jthread> helpers;
        for (unsigned i = 1; i < threads; ++i) helpers.emplace_back(work);
        work();
    }
    if (error) std::rethrow_exception(error);
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
    threads = static_cast<unsigned>(std::min<std::size_t>(threads, reads.size()));
    hash_contents(root_path, reads, threads);

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
