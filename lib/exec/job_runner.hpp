#pragma once

// Runs a scheduler's jobs on up to `jobs` threads at once.

#include "exec/scheduler.hpp"

#include <functional>

namespace bincastle {

// Builds one node; returns false (or throws) when it failed. Called from worker
// threads, several at once.
using BuildJob = std::function<bool(std::size_t node)>;

// Runs until the scheduler is finished; returns whether every node succeeded.
bool run_jobs(Scheduler& scheduler, unsigned jobs, const BuildJob& build);

}  // namespace bincastle
