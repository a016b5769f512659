#pragma once

// What a source layer's content is, for its key: a local tree's hash (with a stat
// cache in the store), a git commit id, an archive's declared sha256, an image's digest.

#include "graph/graph.hpp"
#include "source/source_dir.hpp"
#include "source/stat_cache.hpp"
#include "store/store.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace bincastle {

// `overrides` must outlive the function returned; `dpkg_admin_dir` is HostPackages';
// `insecure_registry` lets an unpinned Image's tag be looked up over plain http.
SourceContentKey make_source_key(const std::filesystem::path& definition_dir, const SourceOverrides& overrides,
                                 const Store& store, const std::filesystem::path& dpkg_admin_dir = "/var/lib/dpkg",
                                 bool insecure_registry = false);

// A LocalDir's Exclude paths, normal ('/'-separated, no trailing '/'), sorted, each
// once; an Error for one that is not inside the directory.
std::vector<std::string> normal_exclude(const std::vector<std::string>& exclude);

// The content key of a local directory source: its tree hash, or, when it excludes
// paths, the tree hash without them and the exclusions. `cache` may be null.
Key local_content_key(const std::filesystem::path& dir, const std::vector<std::string>& exclude, StatCache* cache);

// The commit a git source resolves to in this process. Resolved once, so that its key
// and its build see the same commit even if the branch moves in between.
std::string git_commit_of(const std::filesystem::path& store_root, const SourceSpec& source);

}  // namespace bincastle
