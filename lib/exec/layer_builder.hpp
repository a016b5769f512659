#pragma once

// Builds one layer into the store: a source is copied in; a recipe runs its script in
// a container over the overlay of its build closure, with an empty upper directory
// that becomes the layer.

#include "graph/graph.hpp"
#include "source/source_dir.hpp"
#include "store/store.hpp"

#include <bincastle/progress.hpp>
#include <bincastle/source_settings.hpp>

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
    const SourceOverrides* overrides;
    ProgressSink* progress;
    SourceSettings sources;
    bool insecure_registry = false;  // Image sources: plain http beyond loopback
};

// The `sandbox` arguments that build `node` (everything after the verb).
std::vector<std::string> build_command(const BuildSetup& setup, std::size_t node,
                                       const std::filesystem::path& upper,
                                       const std::filesystem::path& empty_dir);

// Builds `node` unless another process finished it meanwhile; reports through the
// progress sink. Returns false when the build failed (its log path and last lines
// are in the failed event).
bool build_layer(const BuildSetup& setup, std::size_t node);

}  // namespace bincastle
