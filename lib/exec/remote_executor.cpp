#include "exec/remote_executor.hpp"

#include "exec/job_recipe.hpp"
#include "remote/remote_cache.hpp"
#include "util/file_io.hpp"
#include "util/spawn.hpp"

#include <bincastle/error.hpp>

#include <chrono>
#include <cstdio>
#include <algorithm>
#include <array>
#include <deque>
#include <fcntl.h>
#include <fstream>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

using Clock = std::chrono::steady_clock;

// Often enough that a job's end is seen within a fraction of its own start-up time;
// one engine call per interval, whatever the number of jobs.
constexpr std::chrono::milliseconds poll_interval{200};
// The engine's client failing for this long (a controller restarting, say) fails every
// waiting job; the watchdog then cancels them when the driver ends.
constexpr std::chrono::minutes poll_failures_allowed{2};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string shell_quote(const std::string& word) {
    std::string out = "'";
    for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// Reads job ids, "+ID" when submitted and "-ID" when seen ended, and at end of input
// (the driver is gone, however it ended) runs the cancel command ($@) on those left.
// Ignores the terminal's signals, which the driver's process group gets on Ctrl-C.
const char* const watchdog_script = R"sh(trap '' INT TERM HUP QUIT
left=' '
while read -r line; do
    case $line in
    +*) left="$left${line#+} " ;;
    -*) left=$(printf '%s' "$left" | sed "s/ ${line#-} / /") ;;
    esac
done
set -f
[ -z "$(echo $left)" ] || exec "$@" $left
)sh";

// The last lines of a job's log, if this machine can read it.
std::string log_tail(const fs::path& log) {
    std::ifstream in(log);
    if (!in) return "  (its log " + log.string() + " is not readable here: it is on the node)\n";
    std::deque<std::string> tail;
    for (std::string line; std::getline(in, line);) {
        tail.push_back(line);
        if (tail.size() > 20) tail.pop_front();
    }
    std::string text;
    for (const auto& line : tail) text += "  " + line + "\n";
    return text;
}

ChildProcess spawn_watchdog(const JobEngine& engine, int input) {
    std::vector<std::string> argv = {"/bin/sh", "-c", watchdog_script, "bincastle-job-watchdog"};
    for (const auto& word : engine.cancel_command()) argv.push_back(word);
    UniqueFd devnull(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    if (!devnull) throw SysError("open", "/dev/null");
    return spawn({argv, std::nullopt, {}, input, devnull.get(), 2});
}

}  // namespace

RemoteExecutor::RemoteExecutor(const BuildSetup& setup, const Plan& plan, JobEngine& engine, RemoteSettings settings)
    : RemoteExecutor(setup, plan, engine, std::move(settings), make_pipe("the job watchdog's input")) {}

RemoteExecutor::RemoteExecutor(const BuildSetup& setup, const Plan& plan, JobEngine& engine, RemoteSettings settings,
                               std::array<UniqueFd, 2> watchdog_pipe)
    : setup_(setup),
      plan_(plan),
      engine_(engine),
      settings_(std::move(settings)),
      watchdog_input_(std::move(watchdog_pipe[1])),
      watchdog_(spawn_watchdog(engine, watchdog_pipe[0].get())),
      quiet_(std::fopen("/dev/null", "w"), &std::fclose),
      local_slots_(std::clamp<std::ptrdiff_t>(setup.jobs, 1, parallelism)) {
    if (!quiet_) throw SysError("fopen", "/dev/null");
    poller_ = std::thread([this] { poll_loop(); });
}

RemoteExecutor::~RemoteExecutor() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    poller_.join();
    // Its end of input: it cancels what was not seen to end, and exits.
    watchdog_input_.reset();
    watchdog_.wait();
}

void RemoteExecutor::tell_watchdog(const std::string& line) {
    // A watchdog that is gone cannot be helped here; the jobs still end on their own.
    try {
        write_all(watchdog_input_.get(), line + "\n", "the job watchdog's input");
    } catch (const Error&) {
    }
}

bool RemoteExecutor::build(std::size_t node) {
    const LayerData& layer = *setup_.graph->node(node).layer;
    if (layer.source || layer.build_script.empty() || layer.always_run) return build_here(node);
    return run_job(node);
}

bool RemoteExecutor::build_here(std::size_t node) {
    local_slots_.acquire();
    struct Release {
        std::counting_semaphore<parallelism>& slots;
        ~Release() { slots.release(); }
    } release{local_slots_};
    const LayerData& layer = *setup_.graph->node(node).layer;
    try {
        pull_build_closure(node);
    } catch (const std::exception& error) {
        setup_.progress->event({ProgressEvent::Kind::failed, layer.name, (*setup_.keys)[node], 0,
                                std::string(error.what()) + "\n"});
        return false;
    }
    if (!build_layer(setup_, node)) return false;
    try {
        push(node);
        return true;
    } catch (const std::exception& error) {
        setup_.progress->event({ProgressEvent::Kind::failed, layer.name, (*setup_.keys)[node], 0,
                                std::string(error.what()) + "\n"});
        return false;
    }
}

remote::CacheLayer RemoteExecutor::cache_layer(std::size_t node) const {
    remote::CacheLayer layer{setup_.graph->name(node), (*setup_.keys)[node], {}};
    for (const auto& placement : setup_.graph->build_closure(node))
        layer.build_deps.push_back((*setup_.keys)[placement.node]);
    return layer;
}

void RemoteExecutor::pull_build_closure(std::size_t node) {
    std::vector<remote::CacheLayer> wanted;
    for (const auto& placement : setup_.graph->build_closure(node))
        if (!setup_.store->find((*setup_.keys)[placement.node])) wanted.push_back(cache_layer(placement.node));
    if (wanted.empty()) return;
    std::vector<std::string> caches = settings_.import_caches;
    caches.push_back(settings_.export_cache);
    const std::vector<bool> present =
        remote::import_layers(caches, settings_.insecure_registry, wanted, *setup_.store, *setup_.progress, quiet_.get());
    for (std::size_t i = 0; i < wanted.size(); ++i)
        if (!present[i])
            throw Error("layer " + wanted[i].name + ", which " + setup_.graph->name(node) +
                        " is built on, is in none of the caches");
}

void RemoteExecutor::push(std::size_t node) {
    remote::export_layers(settings_.export_cache, settings_.insecure_registry, {cache_layer(node)}, *setup_.store,
                          *setup_.progress, quiet_.get());
}

std::string RemoteExecutor::job_script(std::size_t node) const {
    const std::string& name = setup_.graph->name(node);
    const Key& key = (*setup_.keys)[node];
    std::string command = "exec " + shell_quote(settings_.node_program) + " build-layer --export-cache " +
                          shell_quote(settings_.export_cache);
    for (const auto& ref : settings_.import_caches) command += " --import-cache " + shell_quote(ref);
    if (settings_.insecure_registry) command += " --insecure-registry";
    if (!settings_.node_store.empty()) command += " --store " + shell_quote(settings_.node_store);
    // The recipe is part of the script, so the job needs nothing from this machine.
    // Its output goes to a log of its own, beside the layer's build log (which the job's
    // own build writes when the store is shared) under the driver's store, when the
    // node sees it; the recipe is part of the script, so the job needs nothing else.
    const std::string log = shell_quote(job_log(node).string());
    const std::string log_dir = shell_quote(job_log(node).parent_path().string());
    return "#!/bin/sh\n# bincastle: key " + key.hex() + "\nmkdir -p " + log_dir + " 2>/dev/null && exec >>" + log +
           " 2>&1\n" + command + " - <<'BINCASTLE_RECIPE_END'\n" + job_recipe_to_json({plan_, name, key, *setup_.keys}) +
           "\nBINCASTLE_RECIPE_END\n";
}

fs::path RemoteExecutor::job_log(std::size_t node) const {
    fs::path log = setup_.store->log_path((*setup_.keys)[node]);
    return log.replace_extension(".job.log");
}

bool RemoteExecutor::run_job(std::size_t node) {
    const std::string& name = setup_.graph->name(node);
    const Key& key = (*setup_.keys)[node];
    ProgressSink& progress = *setup_.progress;
    const auto start = Clock::now();
    const fs::path log = job_log(node);
    const JobSubmission submission{"bincastle:" + name, job_script(node)};
    std::string again;  // why this is a second attempt
    for (int attempt = 1;; ++attempt) {
        Job job;
        try {
            job.id = engine_.submit(submission);
            // It goes to the watchdog's shell and sed as a word.
            if (job.id.empty() || job.id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
                                      std::string::npos)
                throw Error(engine_.name() + " answered the job id '" + job.id + "', which is not a plain word");
        } catch (const std::exception& error) {
            progress.event({ProgressEvent::Kind::failed, name, key, seconds_since(start), std::string(error.what()) + "\n"});
            return false;
        }
        const std::string what = engine_.name() + " job " + job.id;
        tell_watchdog("+" + job.id);
        progress.event({ProgressEvent::Kind::submitted, name, key, 0, what + again});
        {
            std::unique_lock lock(mutex_);
            jobs_[job.id] = &job;
            // The poller never sees `job` after this scope, however it is left.
            struct Forget {
                RemoteExecutor& executor;
                const std::string& id;
                ~Forget() { executor.jobs_.erase(id); }
            } forget{*this, job.id};
            // A short job may have ended by the first look at it: it ran all the same.
            bool seen_running = false;
            for (;;) {
                changed_.wait(lock, [&] { return job.done || (!seen_running && job.status.state != JobStatus::State::queued); });
                if (!seen_running) {
                    seen_running = true;
                    const std::string where = job.status.node.empty() ? "" : "on " + job.status.node + " ";
                    lock.unlock();
                    progress.event({ProgressEvent::Kind::started, name, key, 0, where + "(" + what + ")"});
                    lock.lock();
                }
                if (job.done) break;
            }
        }
        // An abandoned job may still run: the watchdog cancels it when the driver ends.
        if (!job.abandoned) tell_watchdog("-" + job.id);
        const JobStatus& status = job.status;
        const std::string on = status.node.empty() ? "" : " on " + status.node;
        // Forgotten by the engine before its end was seen: the cache says how it ended.
        bool in_cache = false;
        if (status.state == JobStatus::State::gone) {
            try {
                in_cache = remote::cached_layers({settings_.export_cache}, settings_.insecure_registry,
                                                 {cache_layer(node)}, quiet_.get())[0];
            } catch (const std::exception&) {
                // Not known: it failed, as far as this build can tell.
            }
        }
        switch (status.state) {
        case JobStatus::State::succeeded:
            progress.event({ProgressEvent::Kind::built, name, key, seconds_since(start), ""});
            return true;
        case JobStatus::State::gone:
            if (!in_cache) break;
            progress.event({ProgressEvent::Kind::built, name, key, seconds_since(start), ""});
            return true;
        case JobStatus::State::node_failed:
            if (attempt == 1) {
                again = ", again: " + what + on + " ended with its node (" + status.detail + ")";
                continue;
            }
            break;
        default:
            break;
        }
        progress.event({ProgressEvent::Kind::failed, name, key, seconds_since(start),
                        what + on + ": " + status.detail + "; log: " + log.string() + "\n" + log_tail(log)});
        return false;
    }
}

void RemoteExecutor::poll_loop() {
    bool failing = false;
    Clock::time_point failing_since;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        changed_.wait_for(lock, poll_interval, [&] { return stopping_; });
        if (stopping_ || jobs_.empty()) continue;
        std::vector<std::string> ids;
        for (const auto& [id, job] : jobs_) ids.push_back(id);
        lock.unlock();
        std::map<std::string, JobStatus> statuses;
        std::string error;
        try {
            statuses = engine_.poll(ids);
        } catch (const std::exception& e) {
            error = e.what();
        } catch (...) {
            error = "an unknown error";
        }
        lock.lock();
        if (!error.empty()) {
            if (!failing) failing_since = Clock::now();
            failing = true;
            if (Clock::now() - failing_since < poll_failures_allowed) continue;
            // The engine cannot be asked: every waiting job fails, saying why.
            for (auto& [id, job] : jobs_) {
                job->status = {JobStatus::State::failed, job->status.node, "cannot follow it: " + error};
                job->done = true;
                job->abandoned = true;
            }
            jobs_.clear();
            changed_.notify_all();
            continue;
        }
        failing = false;
        for (const auto& [id, status] : statuses) {
            auto it = jobs_.find(id);
            if (it == jobs_.end()) continue;
            Job& job = *it->second;
            // A job forgotten by the engine keeps what was last seen of it.
            if (status.state == JobStatus::State::gone) {
                job.status.state = JobStatus::State::gone;
                job.status.detail = status.detail;
            } else {
                job.status = status;
            }
            if (status.state != JobStatus::State::queued && status.state != JobStatus::State::running) {
                job.done = true;
                jobs_.erase(it);
            }
        }
        changed_.notify_all();
    }
}

}  // namespace bincastle
