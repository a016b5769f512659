#include "exec/scheduler.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <cstdint>

namespace bincastle {

Scheduler::Scheduler(std::vector<std::vector<std::size_t>> prerequisites, std::vector<bool> to_build)
    : dependents_(prerequisites.size()), blocking_(prerequisites.size(), 0),
      states_(prerequisites.size(), State::done) {
    if (to_build.size() != prerequisites.size())
        throw Error("scheduler: " + std::to_string(to_build.size()) + " build flags for " +
                    std::to_string(prerequisites.size()) + " nodes");
    for (std::size_t node = 0; node < prerequisites.size(); ++node) {
        if (!to_build[node]) continue;
        states_[node] = State::waiting;
        for (std::size_t prerequisite : prerequisites[node]) {
            dependents_[prerequisite].push_back(node);
            if (to_build[prerequisite]) ++blocking_[node];
        }
    }
    // chain_[n] = 1 + the longest chain_ among n's dependents, found depth first
    // without recursion (a chain of layers may be long).
    chain_.assign(states_.size(), 0);
    std::vector<std::pair<std::size_t, std::size_t>> stack;  // (node, next dependent to visit)
    for (std::size_t start = 0; start < states_.size(); ++start) {
        if (states_[start] != State::waiting || chain_[start] != 0) continue;
        stack.emplace_back(start, 0);
        while (!stack.empty()) {
            auto& [node, next] = stack.back();
            if (next < dependents_[node].size()) {
                std::size_t dependent = dependents_[node][next++];
                if (chain_[dependent] == 0) stack.emplace_back(dependent, 0);
                continue;
            }
            std::size_t longest = 0;
            for (std::size_t dependent : dependents_[node]) longest = std::max(longest, chain_[dependent]);
            chain_[node] = longest + 1;
            stack.pop_back();
        }
    }
    for (std::size_t node = 0; node < states_.size(); ++node) make_ready_if_unblocked(node);
}

void Scheduler::make_ready_if_unblocked(std::size_t node) {
    if (states_[node] == State::waiting && blocking_[node] == 0) {
        states_[node] = State::ready;
        ready_.emplace(SIZE_MAX - chain_[node], node);
    }
}

std::optional<std::size_t> Scheduler::start_next() {
    if (ready_.empty()) return std::nullopt;
    std::size_t node = ready_.begin()->second;
    ready_.erase(ready_.begin());
    states_[node] = State::running;
    ++running_;
    return node;
}

void Scheduler::succeeded(std::size_t node) {
    states_[node] = State::succeeded;
    --running_;
    for (std::size_t dependent : dependents_[node]) {
        --blocking_[dependent];
        make_ready_if_unblocked(dependent);
    }
}

void Scheduler::failed(std::size_t node) {
    states_[node] = State::failed;
    --running_;
    std::vector<std::size_t> pending = dependents_[node];
    while (!pending.empty()) {
        std::size_t dependent = pending.back();
        pending.pop_back();
        if (states_[dependent] != State::waiting) continue;
        states_[dependent] = State::skipped;
        pending.insert(pending.end(), dependents_[dependent].begin(), dependents_[dependent].end());
    }
}

bool Scheduler::all_succeeded() const {
    for (State state : states_)
        if (state != State::done && state != State::succeeded) return false;
    return true;
}

}  // namespace bincastle
