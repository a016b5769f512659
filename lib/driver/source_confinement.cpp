#include "driver/source_confinement.hpp"

#include "source/image_source.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <optional>

namespace fs = std::filesystem;

namespace bincastle::driver {

namespace {

bool inside(const fs::path& path, const fs::path& root) {
    return std::mismatch(root.begin(), root.end(), path.begin(), path.end()).first == root.end();
}

}  // namespace

void check_local_sources(const Plan& plan, const fs::path& source_root, const fs::path& definition_dir,
                         const std::map<std::string, fs::path>& overrides) {
    std::error_code error;
    fs::path root = fs::weakly_canonical(source_root, error);
    if (error) throw SysError(error.value(), "realpath", source_root.string());
    for (const PlanLayer& layer : plan.layers) {
        if (!layer.source) continue;
        std::optional<fs::path> dir;
        std::string option;
        if (layer.source->kind == SourceSpec::Kind::local_dir) {
            if (layer.overridable && overrides.count(layer.name)) continue;
            dir = definition_dir / layer.source->location;
            option = "LocalDir(\"" + layer.source->location + "\")";
        } else if (layer.source->kind == SourceSpec::Kind::image) {
            dir = image_layout_dir(layer.source->location, definition_dir);
            option = "Image(\"" + layer.source->location + "\")";
        }
        if (!dir) continue;
        fs::path path = fs::weakly_canonical(*dir, error);
        if (error) throw SysError(error.value(), "realpath", dir->string());
        if (!inside(path, root))
            throw Error("layer '" + layer.name + "': " + option + " is " + path.string() + ", outside the definition's " +
                            root.string(),
                        "a definition reaches only its own repository (or the DIR given to run)");
    }
}

}  // namespace bincastle::driver
