#pragma once

// The layer store: everything bincastle writes, under one directory.
//
//   layers/<key>/fs      a finished layer: immutable, committed by one rename
//   layers/<key>/meta    what it is (name, build time), for gc and humans
//   building/<key>.<pid> a build in progress (removed on failure, or by the next
//                        builder of the key after a crash)
//   logs/<key>.log       the last build log of a key
//   locks/<key>          one builder per key across processes (flock)
//   roots/<system>       the keys a system needs, written at each build: what gc keeps
//
// Several processes, nested ones included, may share a store: one builds a key, the
// others wait on its lock and then find it finished.

#include <bincastle/key.hpp>

#include "util/unique_fd.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bincastle {

class Store {
public:
    explicit Store(std::filesystem::path root);
    // ${BINCASTLE_HOME:-$HOME/.bincastle}
    static std::filesystem::path default_root();

    const std::filesystem::path& root() const { return root_; }

    // The finished layer's files, or nullopt when the key has not been built.
    std::optional<std::filesystem::path> find(const Key& key) const;
    std::filesystem::path log_path(const Key& key) const;

    // Held while a key is built; released (by the kernel too, if the process dies)
    // when dropped.
    class KeyLock {
    public:
        explicit KeyLock(UniqueFd fd) : fd_(std::move(fd)) {}

    private:
        UniqueFd fd_;
    };
    // Blocks until no other process holds the key's lock.
    KeyLock lock(const Key& key) const;
    // The lock if it is free now, else nullopt.
    std::optional<KeyLock> try_lock(const Key& key) const;

    // A build's private directory; removed when dropped unless committed.
    class Build {
    public:
        Build(std::filesystem::path dir, std::filesystem::path final_dir);
        Build(Build&&) noexcept;
        Build& operator=(Build&&) = delete;
        ~Build();

        // Where the build writes the layer's files (an overlay upper, say).
        std::filesystem::path fs() const { return dir_ / "fs"; }
        // Scratch space on the same filesystem (an overlay work dir, say).
        std::filesystem::path scratch() const { return dir_ / "scratch"; }

        // Moves `fs()` (or its `subdir`, for OutputDir) into the store atomically, with
        // `meta` beside it. Returns the finished layer's files.
        std::filesystem::path commit(const std::string& meta, const std::string& subdir = {});

    private:
        std::filesystem::path dir_;
        std::filesystem::path final_dir_;
        bool committed_ = false;
    };
    // Starts building `key` (hold its lock): clears what a crashed build left.
    Build begin(const Key& key) const;

    // Records the keys `system` needs (replacing what it needed before).
    void record_root(const std::string& system, const std::vector<Key>& keys) const;
    // Every key that some recorded system needs.
    std::vector<Key> rooted_keys() const;

    // Removes a finished layer (hold its lock), for a layer that is never cached.
    void forget(const Key& key) const;

    // Removes every finished layer whose key is not in `keep`, and every build
    // directory that no builder holds. Returns how many layers were removed.
    std::size_t gc(const std::vector<Key>& keep) const;
    // Removes the whole store.
    void clean() const;

private:
    std::filesystem::path layer_dir(const Key& key) const;
    std::filesystem::path root_;
};

}  // namespace bincastle
