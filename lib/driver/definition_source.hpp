#pragma once

// Where a system's definition comes from: a local directory, or a git repository at a
// ref. `bincastle run SOURCE [REF] [SUBDIR]` names one; a git one is fetched into the
// store and its tree written out once per commit, under definitions/src/<commit>.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bincastle::driver {

struct DefinitionSource {
    std::string origin;                // the URL, or the directory as an absolute path
    std::optional<std::string> ref;    // git only: as given
    std::string commit;                // git only: what the ref resolved to
    std::filesystem::path root;        // the tree: the directory, or the commit's checkout
    std::string subdir;                // relative to root; empty for root itself

    std::filesystem::path definition_dir() const { return subdir.empty() ? root : root / subdir; }
    // The name of its system unless the user gives one: the origin's last component
    // and the subdir, made unique by a hash of both and of `parent`, the system the
    // run was started from (empty on the host).
    std::string default_system_name(const std::string& parent) const;
};

// Whether `source` names a remote repository (scheme://... or scp-like user@host:path)
// rather than a local path.
bool is_url(const std::string& source);

// Reads the positional arguments of `run`/`build`/`graph` (SOURCE [REF] [SUBDIR]):
// a URL (scheme:// or user@host:path) or a bare repository takes a REF; a directory
// takes a SUBDIR, or a REF when it is a git work tree and the next argument is not
// one of its directories. Fetches and writes out git sources. Every mistake (a missing
// directory, ref, SUBDIR or main.cpp, a URL that is not a repository) is an Error
// with one line to act on. `cwd` resolves relative paths.
DefinitionSource resolve_definition_source(const std::vector<std::string>& positionals,
                                           const std::filesystem::path& store_root,
                                           const std::filesystem::path& cwd);

}  // namespace bincastle::driver
