#include "exec/job_recipe.hpp"

#include <bincastle/error.hpp>

#include <boost/json.hpp>

namespace json = boost::json;

namespace bincastle {

std::string job_recipe_to_json(const JobRecipe& recipe) {
    json::array keys;
    for (const Key& key : recipe.keys) keys.emplace_back(key.hex());
    json::object out;
    out["bincastle_job"] = 1;
    out["layer"] = recipe.layer;
    out["key"] = recipe.key.hex();
    out["keys"] = std::move(keys);
    out["plan"] = json::parse(plan_to_json(recipe.plan));
    return json::serialize(out);
}

JobRecipe job_recipe_from_json(std::string_view text) {
    JobRecipe recipe;
    try {
        const json::object document = json::parse(text).as_object();
        if (document.size() != 5) throw Error("expected exactly bincastle_job, layer, key, keys and plan");
        if (document.at("bincastle_job").as_int64() != 1)
            throw Error("bincastle_job " + json::serialize(document.at("bincastle_job")) + " is not version 1");
        recipe.layer = std::string(document.at("layer").as_string());
        recipe.key = Key::from_hex(document.at("key").as_string());
        for (const json::value& key : document.at("keys").as_array()) recipe.keys.push_back(Key::from_hex(key.as_string()));
        recipe.plan = plan_from_json(json::serialize(document.at("plan")));
    } catch (const Error& error) {
        throw error.with_context("the job's recipe");
    } catch (const std::exception& error) {
        throw Error(std::string("the job's recipe is malformed: ") + error.what());
    }
    if (recipe.keys.size() != recipe.plan.layers.size())
        throw Error("the job's recipe gives " + std::to_string(recipe.keys.size()) + " keys for " +
                    std::to_string(recipe.plan.layers.size()) + " layers");
    return recipe;
}

}  // namespace bincastle
