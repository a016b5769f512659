#pragma once

// Why a layer is built again. Each time a layer is built or pulled, the store records
// what its key was made of (records/<hash of its name>.json): its recipe as the plan
// says it, its source's content key, and the keys of what it is built on. When the
// layer is to be built again, comparing that record with the plan names what changed:
// its script, an env value, a file of its source, which dependency's key moved (as
// bitbake-diffsigs and nix-diff do).

#include <bincastle/key.hpp>
#include <bincastle/plan.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bincastle {

struct BuildRecord {
    Key key;
    PlanLayer recipe;
    std::optional<Key> source;       // the source's content key, for a source layer
    std::map<std::string, Key> deps;  // its build closure: name -> key
};

std::filesystem::path build_record_path(const std::filesystem::path& store_root, const std::string& layer);
void write_build_record(const std::filesystem::path& store_root, const BuildRecord& record);
// Nothing when the layer was never recorded (or its record does not read back).
std::optional<BuildRecord> read_build_record(const std::filesystem::path& store_root, const std::string& layer);

// What differs between the last build (`before`, with its files at `before_files`
// when still in the store) and the layer now (`now`, whose source is in `source_dir`
// when it is a local directory): one short phrase each, most telling first.
std::vector<std::string> explain_change(const BuildRecord& before, const BuildRecord& now,
                                        const std::optional<std::filesystem::path>& before_files,
                                        const std::optional<std::filesystem::path>& source_dir);

}  // namespace bincastle
