#pragma once

// The plan: a system's evaluated graph as data. A definition program evaluates its
// Layers into a Plan; everything after that (keys, builds, the running system) reads
// the plan, never the program. Plans are written and read as canonical JSON:
//
//   {"bincastle_plan": 1,                  the schema version (plan_schema_version)
//    "system": "NAME",                     the root layer: the system that runs
//    "layers": [LAYER, ...]}               every layer the system reaches, each once,
//                                          dependencies before dependents (ties in
//                                          declaration order), the system last
//   LAYER:
//   {"name": "busybox",
//    "source": null | SOURCE,              a source layer's files come from SOURCE
//    "overridable": false,                 LocalOverride
//    "deps": [{"layer": "NAME", "build": true, "run": true, "mount_dir": null | "/path"}],
//    "env": [["KEY", "VALUE"], ...],       in order; a key may repeat
//    "build_script": ["line", ...],
//    "build_scratch": ["/path", ...],
//    "output_dir": null | "/path",
//    "run_args": ["arg", ...],
//    "run_working_dir": null | "/path",
//    "always_run": false}
//   SOURCE, by kind:
//   {"kind": "local_dir", "path": "rel/or/abs", "exclude": ["path", ...]}
//   {"kind": "git", "url": "URL", "ref": "branch, tag or commit"}
//   {"kind": "http_archive", "url": "URL", "sha256": "HEX", "strip_components": 0}
//   {"kind": "host_packages", "packages": ["gcc-12", ...]}
//   {"kind": "image", "ref": "REGISTRY/REPO:TAG or oci:DIR", "digest": "sha256:HEX" or ""}
//
// Every member is always written, in the order above, so that one plan has one text.
// Reading is strict: a missing or unknown member, a wrong type, a dependency on a
// layer that does not come before it, or another schema version is an Error naming
// where it is ("plan.layers[3].deps[0].layer: expected a string").

#include <bincastle/export.hpp>
#include <bincastle/layer.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bincastle {

inline constexpr int plan_schema_version = 1;

struct PlanDependency {
    std::string layer;  // the name of a layer earlier in the plan
    bool build = false;
    bool run = false;
    std::optional<std::string> mount_dir;
    bool operator==(const PlanDependency&) const = default;
};

struct PlanLayer : LayerRecipe {
    std::string name;
    std::optional<SourceSpec> source;
    std::vector<PlanDependency> deps;
    bool operator==(const PlanLayer&) const = default;
};

struct Plan {
    std::string system;
    std::vector<PlanLayer> layers;  // dependencies first; the system last
    bool operator==(const Plan&) const = default;
};

// Evaluates `system`: checks it as the graph does (names, cycles) and lists its layers.
BINCASTLE_API Plan make_plan(const Layer& system);

// The canonical text: compact, or indented two spaces for people (same content).
enum class PlanStyle { compact, indented };
BINCASTLE_API std::string plan_to_json(const Plan& plan, PlanStyle style = PlanStyle::compact);

// Throws bincastle::Error naming what is wrong and where.
BINCASTLE_API Plan plan_from_json(std::string_view text);

// The graph in Graphviz dot: solid edges Dep, dashed BuildDep, dotted RunDep, a label
// for a MountDir.
BINCASTLE_API std::string plan_to_dot(const Plan& plan);
// What a mirror must hold: "URL SHA256" for each pinned archive, once, in plan order.
BINCASTLE_API std::string plan_archives(const Plan& plan);

}  // namespace bincastle
