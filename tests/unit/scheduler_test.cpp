#include "exec/job_runner.hpp"
#include "exec/scheduler.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

using namespace bincastle;
using State = Scheduler::State;

namespace {

// 0 <- 1 <- 3, 0 <- 2 <- 3, 4 independent: a diamond beside a lone layer.
std::vector<std::vector<std::size_t>> diamond() { return {{}, {0}, {0}, {1, 2}, {}}; }

std::vector<std::size_t> drain(Scheduler& scheduler) {
    std::vector<std::size_t> order;
    while (auto node = scheduler.start_next()) {
        order.push_back(*node);
        scheduler.succeeded(*node);
    }
    return order;
}

}  // namespace

TEST_CASE("a node starts only when its prerequisites are built, lowest index first") {
    Scheduler scheduler(diamond(), std::vector<bool>(5, true));
    CHECK(scheduler.state(3) == State::waiting);
    auto first = scheduler.start_next();
    auto second = scheduler.start_next();
    CHECK(first == 0u);
    CHECK(second == 4u);  // 1 and 2 wait for 0
    CHECK_FALSE(scheduler.start_next().has_value());
    scheduler.succeeded(0);
    CHECK(scheduler.start_next() == 1u);
    CHECK(scheduler.start_next() == 2u);
    scheduler.succeeded(1);
    CHECK_FALSE(scheduler.start_next().has_value());  // 3 still needs 2
    scheduler.succeeded(2);
    scheduler.succeeded(4);
    CHECK(scheduler.start_next() == 3u);
    scheduler.succeeded(3);
    CHECK(scheduler.finished());
    CHECK(scheduler.all_succeeded());
}

TEST_CASE("cached nodes are done already and block nothing") {
    Scheduler scheduler(diamond(), {false, false, true, true, false});
    CHECK(scheduler.state(0) == State::done);
    CHECK(drain(scheduler) == std::vector<std::size_t>{2, 3});
    CHECK(scheduler.all_succeeded());
}

TEST_CASE("a failure skips everything downstream and nothing else") {
    Scheduler scheduler(diamond(), std::vector<bool>(5, true));
    REQUIRE(scheduler.start_next() == 0u);
    REQUIRE(scheduler.start_next() == 4u);
    scheduler.succeeded(0);
    REQUIRE(scheduler.start_next() == 1u);
    REQUIRE(scheduler.start_next() == 2u);
    scheduler.failed(1);
    CHECK(scheduler.state(3) == State::skipped);
    CHECK_FALSE(scheduler.finished());  // 2 and 4 are still running
    scheduler.succeeded(2);
    scheduler.succeeded(4);
    CHECK(scheduler.finished());
    CHECK_FALSE(scheduler.all_succeeded());
    CHECK(scheduler.state(2) == State::succeeded);
}

TEST_CASE("run_jobs never runs more than -j builds at once, and uses them") {
    // 8 independent layers of 30 ms each.
    for (unsigned jobs : {1u, 2u, 3u}) {
        Scheduler scheduler(std::vector<std::vector<std::size_t>>(8), std::vector<bool>(8, true));
        std::atomic<int> running{0}, peak{0};
        bool ok = run_jobs(scheduler, jobs, [&](std::size_t) {
            int now = ++running;
            int seen = peak.load();
            while (now > seen && !peak.compare_exchange_weak(seen, now)) {
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(30));
            --running;
            return true;
        });
        CHECK(ok);
        CHECK(peak.load() == static_cast<int>(jobs));
    }
}

TEST_CASE("run_jobs respects dependencies and finishes independent branches after a failure") {
    Scheduler scheduler(diamond(), std::vector<bool>(5, true));
    std::mutex mutex;
    std::vector<std::size_t> built;
    bool ok = run_jobs(scheduler, 2, [&](std::size_t node) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        std::lock_guard lock(mutex);
        if (node == 2) throw std::runtime_error("boom");  // a build that throws counts as failed
        built.push_back(node);
        return true;
    });
    CHECK_FALSE(ok);
    std::sort(built.begin(), built.end());
    CHECK(built == std::vector<std::size_t>{0, 1, 4});
    CHECK(scheduler.state(3) == State::skipped);
}
