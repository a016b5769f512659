#pragma once

// Git sources, through libgit2. Each URL has one cached clone in the store,
// <store root>/git/<xxh3 hex of the URL>, a bare repository that mirrors the remote's
// branches and tags; <that path>.lock serializes the processes that create or fetch it.
// A source's key is its commit id, so a resolved commit never needs the network again.

#include <filesystem>
#include <string>

namespace bincastle {

// The commit of `ref` (a branch, a tag, or a full or abbreviated commit id) in `url`
// (https, ssh, file://, or a local path to a bare or non-bare repository), as 40 hex
// digits. Fetches into the cached clone first, unless `ref` is a full commit id the
// cache already has. An unknown ref, an unreachable URL or one that is not a repository
// is an Error naming them.
std::string resolve_git_commit(const std::filesystem::path& store_root, const std::string& url,
                               const std::string& ref);

// Writes the tree of `commit` (files with their executable bits, symlinks, and
// submodules, recursively) into the empty directory `destination`, from the cached
// clone of `url`, without git's filters: the bytes are the committed ones.
// `commit` is a full id that resolve_git_commit returned.
void export_git_tree(const std::filesystem::path& store_root, const std::string& url, const std::string& commit,
                     const std::filesystem::path& destination);

}  // namespace bincastle
