#pragma once

// Building a plan and entering its system: the library's API. The driver calls it
// with the plan a definition program wrote; bincastle::main calls it with its own.
//
//     bincastle::BuildOptions options;
//     options.store_root = bincastle::default_store_root();
//     options.definition_dir = "/home/me/system";
//     options.sandbox_program = "/usr/libexec/bincastle/bincastle-inside";
//     auto progress = bincastle::make_progress_view(bincastle::ProgressFormat::plain, false, stderr);
//     std::optional<bincastle::BuiltSystem> built = bincastle::build(plan, options, *progress);
//     if (!built) return 125;  // the failed layer, its log and last lines were reported
//     bincastle::SystemEntry entry = bincastle::prepare_entry(*built, {});
//     return bincastle::container::run(entry.spec);

#include <bincastle/container.hpp>
#include <bincastle/export.hpp>
#include <bincastle/job_engine.hpp>
#include <bincastle/key.hpp>
#include <bincastle/plan.hpp>
#include <bincastle/progress.hpp>
#include <bincastle/source_settings.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bincastle {

// ${BINCASTLE_HOME:-$HOME/.bincastle}.
BINCASTLE_API std::filesystem::path default_store_root();

// Layers with a build script built as jobs of a cluster instead of here, each running
// `NODE_PROGRAM build-layer` on a node; they travel through BuildOptions::export_cache,
// which must be set.
struct ClusterOptions {
    std::shared_ptr<JobEngine> engine;  // make_slurm_engine(...), or another
    std::string node_program;           // the bincastle driver, as the nodes run it
    std::string node_store;             // the jobs' store on the nodes; empty: their default
};

struct BuildOptions {
    std::filesystem::path store_root;
    std::filesystem::path definition_dir;  // what LocalDir paths are relative to
    // Layer name -> a directory that replaces that overridable source (LocalOverride).
    std::map<std::string, std::filesystem::path> overrides;
    unsigned jobs = 1;  // layers built at once; also MAKEFLAGS=-jN inside each build
    // A program whose `sandbox` verb runs bincastle's container runner (the static
    // driver, or a definition program itself): each layer builds in a new one.
    std::string sandbox_program;
    std::vector<std::string> import_caches;  // OCI registry refs pulled from, in order
    std::optional<std::string> export_cache;  // an OCI registry ref pushed to
    bool insecure_registry = false;           // plain http beyond loopback
    std::optional<ClusterOptions> cluster;    // none: every layer is built here
    // The name under which gc keeps what this system needs.
    std::string system_name;
    SourceSettings sources;
    // When set, called for every layer about to be built with what changed since it was
    // last built in this store (its script, an env value, a file of its source, which
    // dependency moved), or why it is built at all.
    std::function<void(const std::string& layer, const std::vector<std::string>& reasons)> explain;
};

// Every layer's key (indexed like plan.layers): reads the sources' content (tree
// hashes, git commits), nothing else.
BINCASTLE_API std::vector<Key> plan_keys(const Plan& plan, const BuildOptions& options);

// A system whose layers (what it runs on) are in the store, and kept there (from gc),
// with what it was built on, while this lives.
struct BuiltSystem {
    Plan plan;
    std::vector<Key> keys;                          // like plan.layers
    // Like plan.layers: each layer the system runs on; empty for the others (what it was
    // only built on, which may be in a cache only after a cluster build)
    std::vector<std::filesystem::path> files;
    std::filesystem::path store_root;
    std::string system_name;
    std::shared_ptr<const void> live_root;          // what keeps gc away
};

// Builds or pulls every layer the system runs on that the store lacks, and what each of
// those is built on in turn (in parallel, longest chain first), then pushes to the
// export cache. With `cluster`, the layers with
// a build script that no cache has are built as jobs, and only what the system runs
// on is pulled here. Reports every layer through
// `progress`. Returns nothing when a layer failed (the event says which, with its log).
// Throws bincastle::Error when the build cannot start (a source is missing, ...).
BINCASTLE_API std::optional<BuiltSystem> build(const Plan& plan, const BuildOptions& options, ProgressSink& progress);

struct EntryOptions {
    std::vector<std::string> command;  // replaces the system's RunArgs when not empty
    std::string inside_driver;         // bound at /bincastle when not empty
    std::string supervisor_socket;     // bound at /run/bincastle.sock when not empty
    std::optional<std::string> term;   // the caller's TERM
    bool tty = false;
    // Where the definition came from, as `bincastle systems` shows it; kept when empty.
    std::string origin;
    container::Network network = container::Network::none;
    std::vector<container::PortForward> ports = {};  // Network::user
    bool host_loopback = false;                 // Network::user
    // Start the system's own /sbin/init instead of its RunArgs (Spec::boot).
    bool boot = false;
};

// The container that runs a built system, and what holds it: the system's own upper
// directory and its copies of wrapped layers, locked so that one system runs once.
struct SystemEntry {
    container::Spec spec;
    std::shared_ptr<const void> running;  // the system's lock; hold it while it runs
    // Call with the pid of the process that runs the container (the sandbox, which
    // passes signals on to it): `bincastle stop` and `exec` go through that process.
    std::function<void(int pid)> started;
};

// Makes the system's directory under the store (systems/NAME) and its copies of
// wrapped layers (a copy whose layer changed is kept beside the new one, and named on
// stderr). Throws bincastle::Error when the system is running already.
BINCASTLE_API SystemEntry prepare_entry(const BuiltSystem& system, const EntryOptions& options);

struct ExportRequest {
    std::string format = "oci";                 // oci, tar or dir
    std::optional<std::filesystem::path> output;  // must not exist
    std::optional<std::string> compression;     // gzip, zstd or none
    std::optional<std::string> push;            // an OCI registry ref
    bool insecure_registry = false;
};

// Writes the system out, or pushes it; messages go to stderr.
BINCASTLE_API void export_system(const BuiltSystem& system, const ExportRequest& request);

// Removes every layer of the store that no recorded system needs, and every build left
// unfinished; with `keep`, first records what it needs under options.system_name.
// Returns how many layers were removed.
BINCASTLE_API std::size_t collect_garbage(const BuildOptions& options, const Plan* keep);

}  // namespace bincastle
