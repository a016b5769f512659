#include "source/source_key.hpp"

#include "graph/key_encoder.hpp"
#include "source/git_source.hpp"
#include "source/host_packages.hpp"
#include "source/image_source.hpp"
#include "source/tree_hash.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <map>
#include <mutex>

namespace fs = std::filesystem;

namespace bincastle {

std::string git_commit_of(const fs::path& store_root, const SourceSpec& source) {
    static std::mutex mutex;
    static std::map<std::pair<std::string, std::string>, std::string> resolved;
    std::lock_guard lock(mutex);
    auto [it, inserted] = resolved.try_emplace({source.location, source.revision});
    if (inserted) {
        try {
            it->second = resolve_git_commit(store_root, source.location, source.revision);
        } catch (...) {
            resolved.erase(it);
            throw;
        }
    }
    return it->second;
}

std::vector<std::string> normal_exclude(const std::vector<std::string>& exclude) {
    std::vector<std::string> normal;
    for (const auto& path : exclude) {
        std::string text = fs::path(path).lexically_normal().string();
        while (text.size() > 1 && text.back() == '/') text.pop_back();
        if (text.empty() || text == "." || fs::path(text).is_absolute() || text.starts_with(".."))
            throw Error("Exclude(\"" + path + "\"): expected a path inside the directory");
        normal.push_back(text);
    }
    std::sort(normal.begin(), normal.end());
    normal.erase(std::unique(normal.begin(), normal.end()), normal.end());
    return normal;
}

Key local_content_key(const fs::path& dir, const std::vector<std::string>& exclude, StatCache* cache) {
    // Without exclusions, the tree hash alone: the keys of existing LocalDirs stay.
    if (exclude.empty()) return hash_tree(dir, cache, 0);
    const std::vector<std::string> normal = normal_exclude(exclude);
    Key tree = hash_tree(dir, cache, 0, nullptr, normal);
    return KeyEncoder("local-dir").field('t', tree).field('x', normal).finish();
}

SourceContentKey make_source_key(const fs::path& definition_dir, const SourceOverrides& overrides, const Store& store,
                                 const fs::path& dpkg_admin_dir, bool insecure_registry) {
    return [definition_dir, &overrides, &store, dpkg_admin_dir, insecure_registry](const LayerData& layer) -> Key {
        const SourceSpec& source = *layer.source;
        // An overridden source is whatever is in its override directory now.
        SourceSpec::Kind kind = overridden(layer, overrides) ? SourceSpec::Kind::local_dir : source.kind;
        switch (kind) {
        case SourceSpec::Kind::local_dir: {
            fs::path dir = fs::absolute(local_source_dir(layer, definition_dir, overrides));
            if (!fs::is_directory(dir))
                throw Error("source " + layer.name + ": " + dir.string() + " is not a directory");
            // One cache per tree, named by its path.
            fs::path cache_file = store.root() / "cache" / "trees" / hash_bytes(dir.string()).hex();
            fs::create_directories(cache_file.parent_path());
            StatCache cache;
            cache.load(cache_file);
            Key key = local_content_key(dir, source.exclude, &cache);
            cache.save(cache_file);
            return key;
        }
        case SourceSpec::Kind::http_archive:
            // The archive is pinned: its declared digest is its content, wherever it is fetched from.
            return KeyEncoder("http-archive")
                .field('s', source.revision)
                .field('t', static_cast<std::uint64_t>(source.strip_components))
                .finish();
        case SourceSpec::Kind::host_packages:
            // What is installed, not where: the closure's names, architectures, versions.
            return host_packages_key(host_package_closure(source.packages, dpkg_admin_dir));
        case SourceSpec::Kind::image:
            return image_content_key(layer.name, source, {definition_dir, insecure_registry});
        case SourceSpec::Kind::git:
            break;
        }
        return KeyEncoder("git").field('c', git_commit_of(store.root(), source)).finish();
    };
}

}  // namespace bincastle
