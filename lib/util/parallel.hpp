#pragma once

// Runs f(0) .. f(count - 1) on up to `workers` threads (this one included). Every
// index runs; the first exception is rethrown once all are done.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace bincastle {

template <class F>
void parallel_for(std::size_t count, unsigned workers, F&& f) {
    std::atomic<std::size_t> next{0};
    std::mutex mutex;
    std::exception_ptr first;
    auto work = [&] {
        for (std::size_t i; (i = next++) < count;) {
            try {
                f(i);
            } catch (...) {
                std::lock_guard lock(mutex);
                if (!first) first = std::current_exception();
            }
        }
    };
    std::vector<std::thread> threads;
    const std::size_t extra = std::min<std::size_t>(workers, count);
    for (std::size_t i = 1; i < extra; ++i) threads.emplace_back(work);
    work();
    for (auto& thread : threads) thread.join();
    if (first) std::rethrow_exception(first);
}

}  // namespace bincastle
