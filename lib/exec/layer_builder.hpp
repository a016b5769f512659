#pragma once

// Builds one layer into the store: a source is copied in; a recipe runs its script in
// a container over the overlay of its build closure, with an empty upper directory
// that becomes the layer.

#include "exec/progress.hpp"
#include "graph/graph.hpp"
#include "store/store.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bincastle {

struct BuildSetup {
    const Graph* graph;
    const std::vector<Key>* keys;
    const Store* store;
    std::string self;                      // a program with the sandbox verb (this one)
    unsigned jobs = 1;                     // MAKEFLAGS=-jN
    std::filesystem::path definition_dir;  // what LocalDir paths are relative to
    ProgressSink* progress;
};

// The directory in BINCASTLE_OVERRIDE_<name> when `layer` is an overridable source
// and it is set: it replaces the source, whatever its kind.
std::optional<std::filesystem::path> overridden(const LayerData& layer);
// The directory a local source layer is read from: its override, else LocalDir's path.
std::filesystem::path local_source_dir(const LayerData& layer, const std::filesystem::path& definition_dir);
// BINCASTLE_OVERRIDE_<name>, with every character but [A-Za-z0-9_] made '_'.
std::string override_variable(const std::string& layer_name);

// The `sandbox` arguments that build `node` (everything after the verb).
std::vector<std::string> build_command(const BuildSetup& setup, std::size_t node,
                                       const std::filesystem::path& upper,
                                       const std::filesystem::path& empty_dir);

// Builds `node` unless another process finished it meanwhile; reports through the
// progress sink. Returns false when the build failed (its log path and last lines
// are in the failed event).
bool build_layer(const BuildSetup& setup, std::size_t node);

}  // namespace bincastle
