#include "build/build_record.hpp"

#include "graph/key_encoder.hpp"
#include "store/layer_contents.hpp"
#include "util/file_io.hpp"

#include <bincastle/error.hpp>

#include <boost/json.hpp>

#include <set>
#include <unistd.h>

namespace fs = std::filesystem;
namespace json = boost::json;

namespace bincastle {

namespace {

// A plan of one layer, so that the record's recipe goes through the plan's own JSON.
Plan one_layer(const PlanLayer& layer) {
    PlanLayer alone = layer;
    alone.deps.clear();
    return Plan{alone.name, {alone}};
}

// The relative paths of a tree's files and symlinks, each with its type and the hash
// of its content or target: as a layer's contents record reads them.
std::map<std::string, std::string> files_of(const fs::path& root) {
    std::map<std::string, std::string> files;
    for (auto& entry : LayerContents::of_tree(root).entries)
        if (entry.type == 'f' || entry.type == 'l') files[std::move(entry.path)] = entry.type + entry.detail;
    return files;
}

std::vector<std::string> changed_files(const fs::path& before, const fs::path& now) {
    constexpr std::size_t shown = 5;
    std::map<std::string, std::string> old_files, new_files;
    try {
        old_files = files_of(before);
        new_files = files_of(now);
    } catch (const Error&) {
        return {};  // then the reason says only that the content changed
    }
    std::vector<std::string> out;
    std::size_t more = 0;
    auto note = [&](const std::string& text) {
        if (out.size() < shown) out.push_back(text);
        else ++more;
    };
    for (const auto& [path, content] : new_files) {
        auto old = old_files.find(path);
        if (old == old_files.end()) note("file " + path + " is new");
        else if (old->second != content) note("file " + path + " changed");
    }
    for (const auto& [path, content] : old_files)
        if (!new_files.count(path)) note("file " + path + " was removed");
    if (more) out.push_back(std::to_string(more) + " more files changed");
    return out;
}

std::string joined_env(const std::vector<std::pair<std::string, std::string>>& env) {
    std::string text;
    for (const auto& [key, value] : env) text += key + "=" + value + " ";
    return text;
}

}  // namespace

fs::path build_record_path(const fs::path& store_root, const std::string& layer) {
    return store_root / "records" / (hash_bytes(layer).hex() + ".json");
}

void write_build_record(const fs::path& store_root, const BuildRecord& record) {
    json::object deps;
    for (const auto& [name, key] : record.deps) deps[name] = key.hex();
    json::object out{{"key", record.key.hex()},
                     {"recipe", json::parse(plan_to_json(one_layer(record.recipe)))},
                     {"source", record.source ? json::value(record.source->hex()) : json::value(nullptr)},
                     {"deps", std::move(deps)}};
    fs::path file = build_record_path(store_root, record.recipe.name);
    fs::create_directories(file.parent_path());
    replace_file(file.string(), json::serialize(out));
}

std::optional<BuildRecord> read_build_record(const fs::path& store_root, const std::string& layer) {
    auto text = read_file_if_exists(build_record_path(store_root, layer).string());
    if (!text) return std::nullopt;
    try {
        json::object in = json::parse(*text).as_object();
        BuildRecord record;
        record.key = Key::from_hex(std::string(in.at("key").as_string()));
        record.recipe = plan_from_json(json::serialize(in.at("recipe"))).layers.at(0);
        if (!in.at("source").is_null()) record.source = Key::from_hex(std::string(in.at("source").as_string()));
        for (const auto& [name, key] : in.at("deps").as_object())
            record.deps[std::string(name)] = Key::from_hex(std::string(key.as_string()));
        return record;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::vector<std::string> explain_change(const BuildRecord& before, const BuildRecord& now,
                                        const std::optional<fs::path>& before_files,
                                        const std::optional<fs::path>& source_dir) {
    std::vector<std::string> reasons;
    const PlanLayer &old_recipe = before.recipe, &recipe = now.recipe;
    if (recipe.always_run) reasons.push_back("it is AlwaysRun");
    if (old_recipe.build_script != recipe.build_script) reasons.push_back("its BuildScript changed");
    std::map<std::string, std::string> old_env(old_recipe.env.begin(), old_recipe.env.end()),
        new_env(recipe.env.begin(), recipe.env.end());
    for (const auto& [key, value] : new_env) {
        auto old = old_env.find(key);
        if (old == old_env.end()) reasons.push_back("Env " + key + " is new (" + value + ")");
        else if (old->second != value) reasons.push_back("Env " + key + " changed: " + old->second + " -> " + value);
    }
    for (const auto& [key, value] : old_env)
        if (!new_env.count(key)) reasons.push_back("Env " + key + " was removed");
    if (reasons.empty() && joined_env(old_recipe.env) != joined_env(recipe.env)) reasons.push_back("the order of its Env changed");
    if (old_recipe.build_scratch != recipe.build_scratch) reasons.push_back("its BuildScratch changed");
    if (old_recipe.output_dir != recipe.output_dir) reasons.push_back("its OutputDir changed");
    if (old_recipe.source != recipe.source) reasons.push_back("its source is declared differently");
    else if (before.source != now.source) {
        auto files = before_files && source_dir ? changed_files(*before_files, *source_dir) : std::vector<std::string>{};
        if (files.empty()) reasons.push_back("its source's content changed");
        reasons.insert(reasons.end(), files.begin(), files.end());
    }
    for (const auto& [name, key] : now.deps) {
        auto old = before.deps.find(name);
        if (old == before.deps.end()) reasons.push_back("it is built on " + name + " now");
        else if (old->second != key) reasons.push_back("dependency " + name + " changed");
    }
    for (const auto& [name, key] : before.deps)
        if (!now.deps.count(name)) reasons.push_back("it is no longer built on " + name);
    if (reasons.empty() && before.key != now.key) reasons.push_back("its key's encoding changed (another bincastle version)");
    return reasons;
}

}  // namespace bincastle
