#pragma once

// Where a source layer's files are read from: the directory its caller names for it
// (an overridable source, LocalOverride), else a LocalDir's path, relative to the
// definition.

#include <bincastle/layer.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace bincastle {

// Layer name -> the directory that replaces its source.
using SourceOverrides = std::map<std::string, std::filesystem::path>;

// The directory that replaces `layer`'s source, of whatever kind, when it is
// overridable and `overrides` names one.
std::optional<std::filesystem::path> overridden(const LayerData& layer, const SourceOverrides& overrides);

// The directory a local source layer is read from: its override, else LocalDir's path.
std::filesystem::path local_source_dir(const LayerData& layer, const std::filesystem::path& definition_dir,
                                       const SourceOverrides& overrides);

}  // namespace bincastle
