#include "util/file_hash.hpp"

#include "util/file_tree.hpp"
#include "util/unique_fd.hpp"
#include "util/xxh3_avx2.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <iterator>
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

namespace bincastle {

namespace {

// Small enough that the hash reads each block while read(2)'s copy of it is still in
// L2. On 1 GiB of cached files, 1 MiB blocks hashed about 25% slower; mmap was no
// faster, and a file truncated while mapped would kill us with SIGBUS.
constexpr std::size_t read_buffer_size = 64 << 10;

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

}  // namespace

FileHash hash_file(int dirfd, const std::string& name, const std::string& path) {
    // One buffer per thread, for every file it hashes.
    thread_local std::vector<char> buffer(read_buffer_size);
    FileHash hash;
    UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd) throw SysError("open", path);
    if (::fstat(fd.get(), &hash.opened) != 0) throw SysError("fstat", path);
    if (!S_ISREG(hash.opened.st_mode)) throw Error(path + " stopped being a regular file while it was hashed");

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
        hash.bytes += static_cast<std::uint64_t>(n);
    }
    hash.content = key_of(XXH3_128bits_digest(&state));
    return hash;
}

FileHash hash_file_under(int root, const std::string& relative, const std::string& shown) {
    UniqueFd dir;
    int at = root;
    std::size_t start = 0;
    for (std::size_t slash; (slash = relative.find('/', start)) != std::string::npos; start = slash + 1) {
        dir = open_dir_at(at, relative.substr(start, slash - start), shown);
        at = dir.get();
    }
    return hash_file(at, relative.substr(start), shown);
}

}  // namespace bincastle
