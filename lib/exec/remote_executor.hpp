#pragma once

// Builds layers as jobs of a cluster's job engine, with an OCI registry as the data
// plane: each job runs `build-layer` on some node, which pulls the layer's build
// closure from the caches and pushes the layer it built. A layer is submitted only
// once everything it is built on is in the cache (the scheduler's order), rather than
// all at once with the engine's dependency edges: the driver knows what is cached,
// retries a job whose node died, and cancels what is left on Ctrl-C, in one place
// for every engine.
//
// What has no build script (sources: the user's files, fetched archives, images; and
// layers that only gather others) is made here, where the sources are, and pushed at
// once. Every job the driver submitted and has not seen end is cancelled by a watchdog
// process that outlives the driver, whatever ends it (Ctrl-C, a kill, a crash).

#include "exec/layer_builder.hpp"
#include "remote/remote_cache.hpp"
#include "util/child_process.hpp"

#include <bincastle/job_engine.hpp>
#include <bincastle/plan.hpp>

#include <array>
#include <condition_variable>
#include <semaphore>
#include <cstdio>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace bincastle {

struct RemoteSettings {
    std::string node_program;                // the bincastle driver, as the nodes find it
    std::vector<std::string> import_caches;  // what the jobs pull from besides the export cache
    std::string export_cache;                // where the layers travel
    bool insecure_registry = false;
    std::string node_store;                  // the jobs' store on the nodes; empty: their default
};

class RemoteExecutor {
public:
    RemoteExecutor(const BuildSetup& setup, const Plan& plan, JobEngine& engine, RemoteSettings settings);
    RemoteExecutor(const RemoteExecutor&) = delete;
    RemoteExecutor& operator=(const RemoteExecutor&) = delete;
    ~RemoteExecutor();

    // Builds `node` (a job, or here for a layer without a script) and leaves it in the
    // export cache; reports through the setup's progress sink. False when it failed.
    // Called from several threads at once.
    bool build(std::size_t node);

    // Layers that may build at once: jobs wait in the engine's queue, not here.
    static constexpr unsigned parallelism = 256;

private:
    struct Job {
        std::string id;
        JobStatus status;
        bool done = false;
        bool abandoned = false;  // given up on while it may still run
    };

    RemoteExecutor(const BuildSetup& setup, const Plan& plan, JobEngine& engine, RemoteSettings settings,
                   std::array<UniqueFd, 2> watchdog_pipe);
    bool build_here(std::size_t node);
    // Pulls what `node` is built on into the store (a layer built here may be built on
    // what only jobs have built).
    void pull_build_closure(std::size_t node);
    remote::CacheLayer cache_layer(std::size_t node) const;
    bool run_job(std::size_t node);
    std::string job_script(std::size_t node) const;
    std::filesystem::path job_log(std::size_t node) const;
    void poll_loop();
    void tell_watchdog(const std::string& line);
    void push(std::size_t node);

    const BuildSetup& setup_;
    const Plan& plan_;
    JobEngine& engine_;
    RemoteSettings settings_;
    UniqueFd watchdog_input_;
    ChildProcess watchdog_;
    // Where the caches' summaries go: one line per pushed layer would drown the view.
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> quiet_;
    // What is built here takes -j's slots, whatever the number of jobs waiting.
    std::counting_semaphore<parallelism> local_slots_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, Job*> jobs_;  // the jobs not yet ended, by id
    bool stopping_ = false;
    std::thread poller_;
};

}  // namespace bincastle
