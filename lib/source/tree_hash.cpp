#include "source/tree_hash.hpp"

#include "source/xxh3_avx2.hpp"

#include "graph/key_encoder.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <string_view>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <exception>
#include <fcntl.h>
#include <mutex>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

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

// By directory fd: each entry is one fstatat (and a symlink one readlinkat) of its
// name, not a walk of its whole path.
std::vector<Entry> walk(const std::string& root, const std::vector<std::string>& exclude) {
    auto excluded = [&](const std::string& path) {
        return std::find(exclude.begin(), exclude.end(), path) != exclude.end();
    };
    std::vector<Entry> entries;
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
        errno = 0;
        while (dirent* found = ::readdir(stream.get())) {
            std::string_view name = found->d_name;
            if (name == "." || name == "..") continue;
            Entry entry{dir.empty() ? std::string(name) : dir + "/" + std::string(name), Type::file, {}, {}, {}};
            if (!exclude.empty() && excluded(entry.path)) continue;
            struct stat st;
            if (::fstatat(fd, found->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) throw SysError("lstat", root + "/" + entry.path);
            entry.stat = StatCache::Stat::of(st);
            if (S_ISDIR(st.st_mode)) {
                entry.type = Type::directory;
                pending.push_back(entry.path);
            } else if (S_ISLNK(st.st_mode)) {
                entry.type = Type::symlink;
                target.resize(static_cast<std::size_t>(st.st_size) + 1);
                ssize_t n = ::readlinkat(fd, found->d_name, target.data(), target.size());
                if (n < 0) throw SysError("readlink", root + "/" + entry.path);
                entry.target.assign(target.data(), static_cast<std::size_t>(n));
            } else if (!S_ISREG(st.st_mode)) {
                throw Error(root + "/" + entry.path + " is " + std::string(unsupported_kind(st.st_mode)) +
                            "; a source tree may hold only files, directories and symlinks");
            }
            entries.push_back(std::move(entry));
            errno = 0;
        }
        if (errno != 0) throw SysError("readdir", dir_path);
    }
    return entries;
}

Key key_of(XXH128_hash_t hash) {
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, hash);
    Key key;
    std::copy(std::begin(canonical.digest), std::end(canonical.digest), key.bytes.begin());
    return key;
}

#ifdef BINCASTLE_XXH3_AVX2
const bool cpu_has_avx2 = __builtin_cpu_supports("avx2");
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
        if (cpu_has_avx2) xxh3_128_update_avx2(&state, buffer.data(), static_cast<size_t>(n));
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
    std::vector<Entry> entries = walk(root_path, exclude);
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
    }
    if (stats) {
        stats->files = hits.size() + reads.size();
        stats->files_read = reads.size();
        stats->bytes_read = 0;
        for (const auto& read : reads) stats->bytes_read += read.bytes;
    }
    return encoder.finish();
}

}  // namespace bincastle
