// bincastle::verify_store: every layer of a store against the contents recorded when
// it was committed.

#include "graph/key_encoder.hpp"
#include "store/layer_contents.hpp"
#include "store/store.hpp"
#include "util/file_io.hpp"

#include <bincastle/error.hpp>
#include <bincastle/verify.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <sys/stat.h>
#include <utility>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

enum class State { whole, damaged, unverifiable };

struct Check {
    State state;
    std::string name;
    std::string what;
};

// The value of `field=` in a meta file's lines.
std::optional<std::string> meta_field(const std::string& meta, std::string_view field) {
    for (std::size_t start = 0; start < meta.size();) {
        std::size_t end = meta.find('\n', start);
        if (end == std::string::npos) end = meta.size();
        std::string_view line(meta.data() + start, end - start);
        if (line.size() > field.size() && line.starts_with(field) && line[field.size()] == '=')
            return std::string(line.substr(field.size() + 1));
        start = end + 1;
    }
    return std::nullopt;
}

// Whatever cannot be read in a layer's directory is damage to that layer.
Check check_layer(const fs::path& dir) {
    std::string name;
    try {
        auto meta = read_file_if_exists((dir / "meta").string());
        std::error_code error;
        const bool has_files = fs::is_directory(dir / "fs", error);
        if (!meta) return {State::damaged, "", has_files ? "its meta file is gone" : "its files and its meta file are gone"};
        name = meta_field(*meta, "name").value_or("");
        const auto recorded_hash = meta_field(*meta, "contents");
        if (!has_files) return {State::damaged, name, "its files are gone"};
        if (!recorded_hash) return {State::unverifiable, name, ""};
        auto text = read_file_if_exists((dir / "contents").string());
        if (!text) return {State::damaged, name, "its record of contents is gone"};
        auto recorded = LayerContents::parse(*text);
        if (hash_bytes(*text).hex() != *recorded_hash || !recorded)
            return {State::damaged, name, "its record of contents is damaged"};
        if (auto difference = contents_difference(*recorded, LayerContents::of_tree(dir / "fs")))
            return {State::damaged, name, *difference};
        return {State::whole, name, ""};
    } catch (const Error& failure) {
        return {State::damaged, name, std::string("it cannot be read: ") + failure.what()};
    }
}

// Which directory `dir` is, or nothing when it is gone.
std::optional<std::pair<dev_t, ino_t>> identity_of(const fs::path& dir) {
    struct stat st;
    if (::lstat(dir.c_str(), &st) != 0) {
        if (errno == ENOENT) return std::nullopt;
        throw SysError("stat", dir.string());
    }
    return std::pair{st.st_dev, st.st_ino};
}

std::string removal_text(Store::Removal removal) {
    switch (removal) {
    case Store::Removal::removed: return "";
    case Store::Removal::in_use: return "a running system or a build uses it";
    case Store::Removal::busy: return "another process holds it";
    }
    return "";
}

}  // namespace

VerifySummary verify_store(const VerifyOptions& options) {
    const auto started = std::chrono::steady_clock::now();
    Store store(options.store_root);
    std::vector<Key> keys = store.layer_keys();
    std::sort(keys.begin(), keys.end());
    VerifySummary summary;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const Key& key = keys[i];
        const fs::path dir = store.layer_dir(key);
        std::optional<Check> check;
        // Layers are immutable, but gc, forget and other repairs may take one away
        // (by one rename) while it is read, and a build make it anew: what was found
        // damaged then is looked at again, as it is now.
        for (int attempt = 0; attempt < 2; ++attempt) {
            const auto before = identity_of(dir);
            if (!before) {
                check.reset();
                break;
            }
            check = check_layer(dir);
            if (check->state != State::damaged || identity_of(dir) == before) break;
        }
        if (options.progress) options.progress(i + 1, keys.size());
        if (!check) continue;
        ++summary.checked;
        if (check->state == State::unverifiable) ++summary.unverifiable;
        if (check->state != State::damaged) continue;
        ++summary.damaged;
        DamagedLayer damaged{check->name, key, check->what, false, ""};
        if (options.repair) {
            const Store::Removal removal = store.remove_layers({key}).front();
            damaged.removed = removal == Store::Removal::removed;
            damaged.kept_because = removal_text(removal);
            if (damaged.removed) ++summary.repaired;
        }
        if (options.damaged) options.damaged(damaged);
    }
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return summary;
}

}  // namespace bincastle
