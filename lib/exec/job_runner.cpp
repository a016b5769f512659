#include "exec/job_runner.hpp"

#include <bincastle/error.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace bincastle {

bool run_jobs(Scheduler& scheduler, unsigned jobs, const BuildJob& build) {
    if (jobs == 0) throw Error("-j must be at least 1");
    std::mutex mutex;
    std::condition_variable changed;

    auto worker = [&] {
        std::unique_lock lock(mutex);
        for (;;) {
            changed.wait(lock, [&] { return scheduler.finished() || scheduler.running() < jobs; });
            if (scheduler.finished()) return;
            auto node = scheduler.start_next();
            if (!node) {
                // Nothing ready yet: wait for a running build to change that.
                changed.wait(lock);
                continue;
            }
            lock.unlock();
            bool ok = false;
            try {
                ok = build(*node);
            } catch (const std::exception&) {
                ok = false;  // the build job reports its own failure
            }
            lock.lock();
            if (ok) scheduler.succeeded(*node);
            else scheduler.failed(*node);
            changed.notify_all();
        }
    };
    // A warm build, all cached, starts no thread.
    if (scheduler.finished()) return scheduler.all_succeeded();
    std::vector<std::thread> workers;
    for (unsigned i = 0; i < jobs; ++i) workers.emplace_back(worker);
    for (auto& thread : workers) thread.join();
    return scheduler.all_succeeded();
}

}  // namespace bincastle
