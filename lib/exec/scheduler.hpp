#pragma once

// Which layer can build next. Plan apart from effect: the scheduler only tracks
// states; run_jobs (job_runner.hpp) starts the builds.

#include <cstddef>
#include <optional>
#include <set>
#include <vector>

namespace bincastle {

class Scheduler {
public:
    enum class State { done, waiting, ready, running, succeeded, failed, skipped };

    // `prerequisites[n]`: the nodes that must be built before n (a layer's build
    // closure). `to_build[n]`: n must be built; the others are done already (cached).
    // Ready nodes start in index order, so give nodes a deterministic order.
    Scheduler(std::vector<std::vector<std::size_t>> prerequisites, std::vector<bool> to_build);

    // The next ready node, now running; nullopt when none is ready.
    std::optional<std::size_t> start_next();
    void succeeded(std::size_t node);
    // Everything that needs `node`, directly or not, is skipped; the rest goes on,
    // so that independent branches still finish (and are cached).
    void failed(std::size_t node);

    // Nothing is running and nothing can start any more.
    bool finished() const { return running_ == 0 && ready_.empty(); }
    std::size_t running() const { return running_; }
    State state(std::size_t node) const { return states_[node]; }
    bool all_succeeded() const;

private:
    void make_ready_if_unblocked(std::size_t node);

    std::vector<std::vector<std::size_t>> dependents_;
    std::vector<std::size_t> blocking_;  // prerequisites still to succeed
    std::vector<State> states_;
    std::set<std::size_t> ready_;
    std::size_t running_ = 0;
};

}  // namespace bincastle
