#include "driver/plan_cache.hpp"

#include "graph/key_encoder.hpp"
#include "util/file_io.hpp"

#include <bincastle/error.hpp>

#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle::driver {

Key PlanCache::key_of(const ProgramLaunch& launch) {
    fs::path program = launch.argv.at(0);
    KeyEncoder encoder("plan");
    encoder.field('v', static_cast<std::uint64_t>(plan_schema_version))
        .field('p', program.string())
        .field('f', read_file_if_exists((program.parent_path() / "program.check").string()).value_or(""))
        .field('a', launch.argv)
        .field('d', launch.definition_dir.string())
        .field('e', launch.env);
    return encoder.finish();
}

std::optional<Plan> PlanCache::find(const Key& key) const {
    auto text = read_file_if_exists((dir_ / (key.hex() + ".json")).string());
    if (!text) return std::nullopt;
    try {
        return plan_from_json(*text);
    } catch (const Error&) {
        return std::nullopt;
    }
}

void PlanCache::store(const Key& key, const Plan& plan) const {
    fs::create_directories(dir_);
    fs::path file = dir_ / (key.hex() + ".json");
    replace_file(file.string(), plan_to_json(plan));
}

}  // namespace bincastle::driver
