#include "store/store.hpp"

#include "graph/key_encoder.hpp"
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

}  // namespace

Store::Store(fs::path root) : root_(std::move(root)) {
    for (const char* dir : {"layers", "building", "logs", "locks", "roots"}) make_dirs(root_ / dir);
}

fs::path Store::default_root() {
    if (const char* home = std::getenv("BINCASTLE_HOME"); home && *home) return home;
    const char* user_home = std::getenv("HOME");
    if (!user_home || !*user_home)
        throw Error("neither BINCASTLE_HOME nor HOME is set", "set BINCASTLE_HOME to the store's directory");
    return fs::path(user_home) / ".bincastle";
}

fs::path Store::layer_dir(const Key& key) const { return root_ / "layers" / key.hex(); }

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

}  // namespace

Store::KeyLock Store::lock(const Key& key) const {
    fs::path path = root_ / "locks" / key.hex();
    UniqueFd fd = open_lock(path);
    while (::flock(fd.get(), LOCK_EX) != 0) {
        if (errno != EINTR) throw SysError("flock", path.string());
    }
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
    // The unit that is renamed holds the files and the metadata, so that a crash at
    // any moment leaves either no layer or a whole one.
    fs::path unit = dir_ / "unit";
    make_dirs(unit);
    fs::path files = subdir.empty() ? fs() : fs() / fs::path(subdir).relative_path();
    std::error_code error;
    if (!fs::is_directory(files, error))
        throw Error("the build produced no " + (subdir.empty() ? std::string("files") : "directory " + subdir));
    if (::rename(files.c_str(), (unit / "fs").c_str()) != 0) throw SysError("rename", files.string());
    write_new_file(unit / "meta", meta);
    if (::rename(unit.c_str(), final_dir_.c_str()) != 0) {
        int saved = errno;
        // Someone else committed the same key first (a store shared without its lock):
        // theirs is as good as ours.
        if (saved != EEXIST && saved != ENOTEMPTY) throw SysError(saved, "rename", final_dir_.string());
    }
    committed_ = true;
    remove_tree(dir_);
    return final_dir_ / "fs";
}

std::size_t Store::gc(const std::vector<Key>& keep) const {
    std::set<std::string> kept;
    for (const auto& key : keep) kept.insert(key.hex());
    std::size_t removed = 0;
    for (const auto& entry : fs::directory_iterator(root_ / "layers")) {
        const std::string name = entry.path().filename().string();
        if (kept.count(name)) continue;
        auto parsed = parse_key(name);
        if (!parsed) continue;  // not ours
        Key key = *parsed;
        KeyLock held = lock(key);
        remove_tree(entry.path());
        std::error_code error;
        fs::remove(log_path(key), error);
        ++removed;
    }
    // A build in progress holds its key's lock. Pids cannot tell, as nested stores
    // are shared across pid namespaces.
    for (const auto& entry : fs::directory_iterator(root_ / "building")) {
        const std::string name = entry.path().filename().string();
        auto key = parse_key(name.substr(0, name.find('.')));
        if (!key) continue;
        auto held = try_lock(*key);
        if (held) remove_tree(entry.path());
    }
    return removed;
}

void Store::record_root(const std::string& system, const std::vector<Key>& keys) const {
    std::string text;
    for (const auto& key : keys) text += key.hex() + "\n";
    // By rename, so that gc never reads half a list.
    fs::path file = root_ / "roots" / hash_bytes(system).hex();
    fs::path partial = file.string() + "." + std::to_string(::getpid());
    write_new_file(partial, text);
    if (::rename(partial.c_str(), file.c_str()) != 0) throw SysError("rename", partial.string());
}

std::vector<Key> Store::rooted_keys() const {
    std::vector<Key> keys;
    for (const auto& entry : fs::directory_iterator(root_ / "roots")) {
        if (entry.path().extension() != "") continue;  // a list being written
        std::ifstream in(entry.path());
        for (std::string line; std::getline(in, line);)
            if (line.size() == 32) keys.push_back(Key::from_hex(line));
    }
    return keys;
}

void Store::forget(const Key& key) const { remove_tree(layer_dir(key)); }

void Store::clean() const { remove_tree(root_); }

}  // namespace bincastle
