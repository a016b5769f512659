#pragma once

// The layer store: everything bincastle writes, under one directory.
//
//   layers/<key>/fs       a finished layer: immutable, committed by one rename
//   layers/<key>/meta     what it is (name), for gc and humans; contents=<hash of
//                         contents> when that was recorded
//   layers/<key>/contents what fs/ held when it was committed (layer_contents.hpp),
//                         for verify
//   building/<key>.<pid>  a build in progress (removed on failure, or by the next
//                         builder of the key after a crash)
//   trash/<key>.<random>  a layer being removed (gc, forget): moved out of layers/ by one
//                         rename first, so that a crash mid-removal leaves no half layer
//                         that find() would report; gc clears what a crash left here
//   logs/<key>.log        the last build log of a key
//   locks/<key>           one builder (or remover) per key across processes (flock)
//   locks/gc              shared while a live root registers, exclusive while gc runs
//   roots/<hash(system)>  the keys a system needed at its last build: persistent roots
//   roots/live/<random>   the keys one process uses (building or running), flocked for
//                         the process's lifetime; gc ignores and removes unlocked ones
//   cache/trees/<hash(dir)>   the stat cache of a local source tree (source_key)
//   git/<hash(url)>       a bare clone of a git source (.new while created, .lock its lock)
//   downloads/<sha256>    a verified archive (<sha256>.part.* while it downloads)
//   systems/<name>/upper  a system's own writes, kept across runs
//   systems/<name>/mounts/<hash(dir)>  its editable copies of wrapped layers
//   systems/<name>/running  flocked while the system runs: one run at a time
//   definitions/          compiled definition programs and their sources (the driver's)
//
// Several processes, nested ones included, may share a store: one builds a key, the
// others wait on its lock and then find it finished. gc removes only what neither a
// persistent root nor a live root names.

#include <bincastle/key.hpp>

#include "util/unique_fd.hpp"

#include <filesystem>
#include <optional>
#include <set>
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
    // layers/<key>, whether there is one or not.
    std::filesystem::path layer_dir(const Key& key) const;
    // The keys of every directory in layers/, whole layers or not.
    std::vector<Key> layer_keys() const;
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
        // `meta` beside it and a record of its contents. Returns the finished layer's files.
        std::filesystem::path commit(const std::string& meta, const std::string& subdir = {});

    private:
        std::filesystem::path dir_;
        std::filesystem::path final_dir_;
        bool committed_ = false;
    };
    // Starts building `key` (hold its lock): clears what a crashed build left.
    Build begin(const Key& key) const;

    // Records the keys `system` needs (replacing what it needed before): a persistent
    // root, kept by gc until the system's next record.
    void record_root(const std::string& system, const std::vector<Key>& keys) const;
    // Drops `system`'s record (a removed system): gc no longer keeps what it needed.
    void forget_root(const std::string& system) const;
    // Every key that some recorded system needs (persistent roots only).
    std::vector<Key> rooted_keys() const;

    // A process's claim on the keys it uses: gc keeps them for as long as this lives,
    // and ignores the claim once the process is gone (its flock goes with it, even on
    // a crash). Removed when dropped.
    class LiveRoot {
    public:
        // Owns the claim `file` (removed when dropped) and `fd`, which holds its lock.
        LiveRoot(std::filesystem::path file, UniqueFd fd);
        LiveRoot(LiveRoot&&) noexcept;
        LiveRoot& operator=(LiveRoot&&) = delete;
        ~LiveRoot();

    private:
        std::filesystem::path file_;
        UniqueFd fd_;
    };
    // Claims `keys` for this process. Waits while gc runs; once it returns, no gc
    // removes them, so register before asking find() whether a key is built.
    [[nodiscard]] LiveRoot register_live_root(const std::vector<Key>& keys) const;

    // Removes a finished layer (hold its lock), for a layer that is never cached. The
    // layer leaves layers/ by one rename before its files are removed.
    void forget(const Key& key) const;

    // Removes every finished layer that no persistent or live root names and that no
    // process holds the lock of, every build directory that no builder holds, and
    // what interrupted removals left. Holds off live-root registration while it runs.
    // Returns how many layers were removed.
    std::size_t gc() const;
    // What remove_layers did with each layer.
    enum class Removal { removed, in_use, busy };
    // Removes the layers `keys` (found damaged) as gc removes what nothing needs, so
    // that the next build or pull makes them again: not one that a live root names
    // (in_use), nor one whose lock another process holds (busy). A layer already gone
    // counts as removed.
    std::vector<Removal> remove_layers(const std::vector<Key>& keys) const;
    // Removes the whole store.
    void clean() const;

private:
    // The keys that live roots name; removes the claims of processes that are gone.
    // Hold locks/gc exclusively.
    std::set<std::string> live_keys() const;
    // Moves the layer out of layers/ into trash/ and removes it there (hold its lock).
    void remove_layer(const Key& key) const;
    std::filesystem::path root_;
};

}  // namespace bincastle
