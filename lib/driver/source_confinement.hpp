#pragma once

// A definition the driver runs reaches only its own files: every LocalDir and OCI
// layout Image("oci:DIR") of its plan must lie inside the repository checkout (a git definition) or the DIR given to run
// (a directory definition), after symlinks. Overridden sources are the caller's own
// directories and are not checked.

#include <bincastle/plan.hpp>

#include <filesystem>
#include <map>
#include <string>

namespace bincastle::driver {

// Throws bincastle::Error naming the first layer whose LocalDir or layout leaves `source_root`.
void check_local_sources(const Plan& plan, const std::filesystem::path& source_root,
                         const std::filesystem::path& definition_dir,
                         const std::map<std::string, std::filesystem::path>& overrides);

}  // namespace bincastle::driver
