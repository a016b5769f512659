#include "driver/source_confinement.hpp"

#include <bincastle/error.hpp>

#include <algorithm>

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
        if (!layer.source || layer.source->kind != SourceSpec::Kind::local_dir) continue;
        if (layer.overridable && overrides.count(layer.name)) continue;
        fs::path path = fs::weakly_canonical(definition_dir / layer.source->location, error);
        if (error) throw SysError(error.value(), "realpath", (definition_dir / layer.source->location).string());
        if (!inside(path, root))
            throw Error("layer '" + layer.name + "': LocalDir(\"" + layer.source->location + "\") is " + path.string() +
                            ", outside the definition's " + root.string(),
                        "a definition reaches only its own repository (or the DIR given to run)");
    }
}

}  // namespace bincastle::driver
