// Hashes one tree once, for bench/hash: the caller times the whole process, as it
// times xxhsum, so that both pay for starting up alike.

#include "source/stat_cache.hpp"
#include "source/tree_hash.hpp"

#include <bincastle/error.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
    if (argc != 3 && argc != 4) {
        std::fputs("usage: bench-hash-tree ROOT THREADS [CACHE_FILE]\n", stderr);
        return 2;
    }
    try {
        bincastle::StatCache cache;
        bincastle::StatCache* use_cache = nullptr;
        if (argc == 4) {
            cache.load(argv[3]);
            use_cache = &cache;
        }
        bincastle::TreeHashStats stats;
        auto key = bincastle::hash_tree(argv[1], use_cache, static_cast<unsigned>(std::stoul(argv[2])), &stats);
        if (use_cache) cache.save(argv[3]);
        std::printf("key=%s files=%zu files_read=%zu bytes_read=%llu\n", key.hex().c_str(), stats.files,
                    stats.files_read, static_cast<unsigned long long>(stats.bytes_read));
    } catch (const std::exception& error) {
        std::fprintf(stderr, "bench-hash-tree: %s\n", error.what());
        return 1;
    }
}
