#pragma once

// `bincastle build-layer`: one layer of a plan built as a cluster's job (see
// exec/remote_executor.hpp), on a node that has only the driver and a registry.

#include "exec/job_recipe.hpp"

#include <bincastle/progress.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace bincastle {

struct LayerJobOptions {
    std::filesystem::path store_root;        // the node's store
    std::string sandbox_program;             // a program with the sandbox verb
    unsigned jobs = 1;                       // MAKEFLAGS=-jN
    std::vector<std::string> import_caches;  // pulled from, with the export cache, in order
    std::string export_cache;                // pushed to
    bool insecure_registry = false;
};

// Checks that the recipe's key is its layer's (refuses it otherwise, and any layer with
// a source: the driver makes those), pulls what it is built on, builds it and pushes
// it. Returns false when the build failed (reported through `progress`); throws an
// Error for anything else.
bool build_layer_job(const JobRecipe& recipe, const LayerJobOptions& options, ProgressSink& progress);

}  // namespace bincastle
