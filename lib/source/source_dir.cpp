#include "source/source_dir.hpp"

namespace fs = std::filesystem;

namespace bincastle {

std::optional<fs::path> overridden(const LayerData& layer, const SourceOverrides& overrides) {
    if (!layer.overridable) return std::nullopt;
    auto found = overrides.find(layer.name);
    if (found == overrides.end() || found->second.empty()) return std::nullopt;
    return found->second;
}

fs::path local_source_dir(const LayerData& layer, const fs::path& definition_dir, const SourceOverrides& overrides) {
    if (auto dir = overridden(layer, overrides)) return *dir;
    fs::path path = layer.source->location;
    return path.is_absolute() ? path : definition_dir / path;
}

}  // namespace bincastle
