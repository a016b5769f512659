#include "store/store.hpp"

#include "util/shared_names.hpp"

#include "graph/key_encoder.hpp"
#include "store/layer_contents.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <set>
#include <sys/file.h>
#include <unistd.h>
#include <utility>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

void make_dirs(const fs::path& path) {
    std::error_code error;
    fs::create_directories(path, error);
    if (error) throw SysError(error.value(), "mkdir", path.string());
}

std::optional<Key> parse_key(const std::string& text) {
    try {
        return Key::from_hex(text);
    } catch (const Error&) {
        return std::nullopt;
    }
}

// The key a building/ or trash/ entry (<key>.<suffix>) belongs to.
std::optional<Key> key_of_entry(const fs::path& entry) {
    const std::string name = entry.filename().string();
    return parse_key(name.substr(0, name.find('.')));
}

std::string key_lines(const std::vector<Key>& keys) {
    std::string text;
    for (const auto& key : keys) text += key.hex() + "\n";
    return text;
}

// The keys listed in a roots file, one per line; nothing when it is gone.
std::vector<Key> read_keys(const fs::path& file) {
    std::vector<Key> keys;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);)
        if (auto key = parse_key(line)) keys.push_back(*key);
    return keys;
}

}  // namespace

Store::Store(fs::path root) : root_(std::move(root)) {
    for (const char* dir : {"layers", "building", "trash", "logs", "locks", "roots", "roots/live"})
        make_dirs(root_ / dir);
}

fs::path Store::default_root() {
    if (const char* home = std::getenv(names::home_variable); home && *home) return home;
    const char* user_home = std::getenv("HOME");
    if (!user_home || !*user_home)
        throw Error("neither BINCASTLE_HOME nor HOME is set", "set BINCASTLE_HOME to the store's directory");
    return fs::path(user_home) / ".bincastle";
}

fs::path Store::layer_dir(const Key& key) const { return root_ / "layers" / key.hex(); }

std::vector<Key> Store::layer_keys() const {
    std::vector<Key> keys;
    for (const auto& entry : fs::directory_iterator(root_ / "layers"))
        if (auto key = parse_key(entry.path().filename().string())) keys.push_back(*key);
    return keys;
}

std::optional<fs::path> Store::find(const Key& key) const {
    fs::path dir = layer_dir(key);
    std::error_code error;
    if (fs::is_directory(dir / "fs", error)) return dir / "fs";
    return std::nullopt;
}

fs::path Store::log_path(const Key& key) const { return root_ / "logs" / (key.hex() + ".log"); }

namespace {

UniqueFd open_lock(const fs::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) throw SysError("open", path.string());
    return fd;
}

// Blocks until `operation` (LOCK_SH or LOCK_EX) is granted.
void wait_for_flock(const UniqueFd& fd, int operation, const fs::path& path) {
    while (::flock(fd.get(), operation) != 0) {
        if (errno != EINTR) throw SysError("flock", path.string());
    }
}

// locks/gc: shared while a live root registers, exclusive while layers are removed.
UniqueFd take_gc_lock(const fs::path& root, int operation) {
    const fs::path path = root / "locks" / "gc";
    UniqueFd fd = open_lock(path);
    wait_for_flock(fd, operation, path);
    return fd;
}

}  // namespace

Store::KeyLock Store::lock(const Key& key) const {
    fs::path path = root_ / "locks" / key.hex();
    UniqueFd fd = open_lock(path);
    wait_for_flock(fd, LOCK_EX, path);
    return KeyLock(std::move(fd));
}

std::optional<Store::KeyLock> Store::try_lock(const Key& key) const {
    fs::path path = root_ / "locks" / key.hex();
    UniqueFd fd = open_lock(path);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return KeyLock(std::move(fd));
    if (errno == EWOULDBLOCK) return std::nullopt;
    throw SysError("flock", path.string());
}

Store::Build Store::begin(const Key& key) const {
    // Under the key's lock, any other build directory of this key is a crash's leftover.
    const std::string prefix = key.hex() + ".";
    for (const auto& entry : fs::directory_iterator(root_ / "building")) {
        if (entry.path().filename().string().rfind(prefix, 0) == 0) remove_tree(entry.path());
    }
    fs::path dir = root_ / "building" / (prefix + std::to_string(::getpid()));
    make_dirs(dir / "fs");
    make_dirs(dir / "scratch");
    return Build(dir, layer_dir(key));
}

Store::Build::Build(fs::path dir, fs::path final_dir) : dir_(std::move(dir)), final_dir_(std::move(final_dir)) {}

Store::Build::Build(Build&& other) noexcept
    : dir_(std::move(other.dir_)), final_dir_(std::move(other.final_dir_)), committed_(other.committed_) {
    other.committed_ = true;
}

Store::Build::~Build() {
    if (committed_ || dir_.empty()) return;
    try {
        remove_tree(dir_);
    } catch (const std::exception&) {
        // Left for the next builder of this key, which clears it.
    }
}

fs::path Store::Build::commit(const std::string& meta, const std::string& subdir) {
    // The build directory itself becomes the layer by one rename, with the files and
    // the metadata in it: a crash at any moment leaves either no layer, and a build
    // directory that the next builder of the key clears, or a whole layer and nothing
    // in building/ (which no builder of a finished key would clear).
    std::error_code error;
    const fs::path inside = fs::path(subdir).relative_path();
    if (!fs::is_directory(fs() / inside, error))
        throw Error("the build produced no " + (subdir.empty() ? std::string("files") : "directory " + subdir));
    remove_tree(scratch());
    if (!inside.empty()) {
        const fs::path whole = dir_ / "whole";
        if (::rename(fs().c_str(), whole.c_str()) != 0) throw SysError("rename", fs().string());
        const fs::path kept = whole / inside;
        if (::rename(kept.c_str(), fs().c_str()) != 0) throw SysError("rename", kept.string());
        remove_tree(whole);
    }
    // Read back now, while only this builder sees it; verify compares with it later.
    const std::string contents = LayerContents::of_tree(fs()).text();
    write_new_file(dir_ / "contents", contents);
    write_new_file(dir_ / "meta", meta + "contents=" + hash_bytes(contents).hex() + "\n");
    if (::rename(dir_.c_str(), final_dir_.c_str()) != 0) {
        int saved = errno;
        // Someone else committed the same key first (a store shared without its lock):
        // theirs is as good as ours.
        if (saved != EEXIST && saved != ENOTEMPTY) throw SysError(saved, "rename", final_dir_.string());
        remove_tree(dir_);
    }
    committed_ = true;
    return final_dir_ / "fs";
}

void Store::remove_layer(const Key& key) const {
    // One rename takes the layer out of layers/, so that find() never sees a half
    // removed one; rename(2) may replace an empty directory, which mkdtemp makes
    // with a name no other remover uses.
    const fs::path dir = layer_dir(key);
    std::string trash = (root_ / "trash" / (key.hex() + ".XXXXXX")).string();
    if (!::mkdtemp(trash.data())) throw SysError("mkdtemp", trash);
    if (::rename(dir.c_str(), trash.c_str()) != 0) {
        int saved = errno;
        ::rmdir(trash.c_str());
        if (saved == ENOENT) return;
        throw SysError(saved, "rename", dir.string() + " -> " + trash);
    }
    remove_tree(trash);
}

void Store::forget(const Key& key) const { remove_layer(key); }

Store::LiveRoot Store::register_live_root(const std::vector<Key>& keys) const {
    // gc holds locks/gc exclusively for its whole run, so none runs while we hold it
    // shared: a gc that starts later finds this claim whole and locked.
    UniqueFd gc_lock = take_gc_lock(root_, LOCK_SH);
    std::string file = (root_ / "roots" / "live" / "XXXXXX").string();
    UniqueFd fd(::mkostemp(file.data(), O_CLOEXEC));
    if (!fd) throw SysError("mkostemp", file);
    // A new file, so nobody else holds its lock. Held for the process's lifetime
    // (close-on-exec: no helper program keeps it), released by the kernel when the
    // process dies, crash or not.
    const int locked = ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0 ? 0 : errno;
    const int claim = fd.get();
    LiveRoot root(file, std::move(fd));  // removes the file if anything below throws
    if (locked != 0) throw SysError(locked, "flock", file);
    // Through this fd: reopened with O_TRUNC, ext4 would allocate its blocks on close
    // and free them (a synchronous discard where so mounted) when the claim is dropped.
    write_all(claim, key_lines(keys), file);
    return root;
}

Store::LiveRoot::LiveRoot(fs::path file, UniqueFd fd) : file_(std::move(file)), fd_(std::move(fd)) {}

Store::LiveRoot::LiveRoot(LiveRoot&& other) noexcept
    : file_(std::exchange(other.file_, {})), fd_(std::move(other.fd_)) {}

Store::LiveRoot::~LiveRoot() {
    // Unlinked while still locked, so that gc never takes it for a stale claim of a
    // live process; left behind, a gc removes it.
    if (!file_.empty()) ::unlink(file_.c_str());
}

std::set<std::string> Store::live_keys() const {
    std::set<std::string> live;
    for (const auto& entry : fs::directory_iterator(root_ / "roots" / "live")) {
        UniqueFd fd(::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) {
            if (errno == ENOENT) continue;  // its process just dropped it
            throw SysError("open", entry.path().string());
        }
        if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
            // Its process is gone: the claim is stale.
            ::unlink(entry.path().c_str());
            continue;
        }
        if (errno != EWOULDBLOCK) throw SysError("flock", entry.path().string());
        for (const auto& key : read_keys(entry.path())) live.insert(key.hex());
    }
    return live;
}

std::size_t Store::gc() const {
    UniqueFd gc_lock = take_gc_lock(root_, LOCK_EX);

    std::set<std::string> kept = live_keys();
    for (const auto& key : rooted_keys()) kept.insert(key.hex());

    std::size_t removed = 0;
    for (const auto& entry : fs::directory_iterator(root_ / "layers")) {
        const std::string name = entry.path().filename().string();
        if (kept.count(name)) continue;
        auto key = parse_key(name);
        if (!key) continue;  // not ours
        // A held key is being built or removed by someone: theirs to decide. Never
        // waiting here also means gc cannot deadlock with a builder waiting for locks/gc.
        auto held = try_lock(*key);
        if (!held) continue;
        remove_layer(*key);
        std::error_code error;
        fs::remove(log_path(*key), error);
        ++removed;
    }
    // A roots list that a killed process was writing.
    remove_abandoned(root_ / "roots", "");
    // A build in progress, and a removal under way, hold their key's lock. Pids cannot
    // tell, as nested stores are shared across pid namespaces.
    for (const char* dir : {"building", "trash"}) {
        for (const auto& entry : fs::directory_iterator(root_ / dir)) {
            auto key = key_of_entry(entry.path());
            if (!key) continue;
            auto held = try_lock(*key);
            if (held) remove_tree(entry.path());
        }
    }
    return removed;
}

std::vector<Store::Removal> Store::remove_layers(const std::vector<Key>& keys) const {
    // As gc: no process registers a live root meanwhile, so none starts using a layer
    // found unused here.
    UniqueFd gc_lock = take_gc_lock(root_, LOCK_EX);
    const std::set<std::string> live = live_keys();
    std::vector<Removal> removals;
    for (const auto& key : keys) {
        if (live.count(key.hex())) {
            removals.push_back(Removal::in_use);
            continue;
        }
        auto held = try_lock(key);
        if (!held) {
            removals.push_back(Removal::busy);
            continue;
        }
        remove_layer(key);
        removals.push_back(Removal::removed);
    }
    return removals;
}

void Store::record_root(const std::string& system, const std::vector<Key>& keys) const {
    // By rename, so that gc never reads half a list; not at all when it is the same
    // list (the common case: ext4 flushes a file renamed over another, ~4 ms).
    fs::path file = root_ / "roots" / hash_bytes(system).hex();
    std::string lines = key_lines(keys);
    if (read_file_if_exists(file.string()) == lines) return;
    replace_file(file.string(), lines);
}

void Store::forget_root(const std::string& system) const {
    const fs::path file = root_ / "roots" / hash_bytes(system).hex();
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) throw SysError("unlink", file.string());
}

std::vector<Key> Store::rooted_keys() const {
    std::vector<Key> keys;
    for (const auto& entry : fs::directory_iterator(root_ / "roots")) {
        // Skips live/ and lists being written (<hash>.held-XXXXXX).
        if (!entry.is_regular_file() || entry.path().extension() != "") continue;
        for (const auto& key : read_keys(entry.path())) keys.push_back(key);
    }
    return keys;
}

void Store::clean() const { remove_tree(root_); }

}  // namespace bincastle
