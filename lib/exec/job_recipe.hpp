#pragma once

// What a cluster job carries to build one layer (`bincastle build-layer`): the plan,
// the layer's name, its key and the key of every layer of the plan (the driver's: a
// node has no sources to hash). The job recomputes the layer's key from its recipe and
// its dependencies' keys and refuses a recipe whose key does not match.
//
//   {"bincastle_job": 1, "layer": "NAME", "key": "HEX", "keys": ["HEX", ...], "plan": PLAN}
//
// "keys" is indexed like plan.layers.

#include <bincastle/key.hpp>
#include <bincastle/plan.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace bincastle {

struct JobRecipe {
    Plan plan;
    std::string layer;
    Key key;
    std::vector<Key> keys;
    bool operator==(const JobRecipe&) const = default;
};

std::string job_recipe_to_json(const JobRecipe& recipe);

// Throws bincastle::Error naming what is malformed.
JobRecipe job_recipe_from_json(std::string_view text);

}  // namespace bincastle
