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
    // Of the ready nodes, the one with the longest chain of dependents still to build
    // starts first (the critical path, each layer counted alike), so that a long chain
    // is not left for last; ties start in index order, so give nodes a deterministic order.
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
    // Ready nodes as (longest chain of dependents, counting the node, negated; node).
    std::vector<std::size_t> chain_;
    std::set<std::pair<std::size_t, std::size_t>> ready_;
    std::size_t running_ = 0;
};

}  // namespace bincastle
