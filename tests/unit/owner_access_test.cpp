// Reading what the caller owns whatever its modes say, from a process with threads.

#include "container/owner_access.hpp"
#include "test_files.hpp"
#include "util/file_tree.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <mutex>
#include <string>
#include <sys/stat.h>
#include <thread>

namespace fs = std::filesystem;
using namespace bincastle;

TEST_CASE("owner access reads a directory of mode 000 its caller owns, and hands back what work threw") {
    TempDir temp("bincastle-test");
    testing::write(temp.path() / "closed" / "file", "secret");
    const int status = testing::exit_status_as_ordinary_user(temp.path(), [&] {
        if (::chmod((temp.path() / "closed").c_str(), 0) != 0) return false;
        const std::string read = container::read_with_owner_access([&] { return testing::read(temp.path() / "closed" / "file"); });
        std::string message, hint;
        try {
            container::with_owner_access([] { throw Error("the work failed", "do it again"); });
        } catch (const Error& error) {
            message = error.what();
            hint = error.hint();
        }
        ::chmod((temp.path() / "closed").c_str(), 0700);
        return read == "secret" && message == "the work failed" && hint == "do it again";
    });
    CHECK(status == 0);
}

// A forked copy of a process with threads holds, for good, every lock another thread
// held at the fork: a copy of the allocator's under AddressSanitizer hung verify once.
TEST_CASE("owner access takes a lock that another thread holds as it starts, and leaves what it made in memory") {
    TempDir temp("bincastle-test");
    const int status = testing::exit_status_as_ordinary_user(temp.path(), [&] {
        std::mutex lock;
        std::atomic<bool> held = false;
        std::thread holder([&] {
            std::lock_guard<std::mutex> guard(lock);
            held = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
        });
        while (!held) std::this_thread::yield();
        int made = 0;
        container::with_owner_access([&] {
            std::lock_guard<std::mutex> guard(lock);
            made = 42;
        });
        holder.join();
        return made == 42;
    }, 10);
    CHECK(status == 0);
}

// It died on this process's memory, maybe holding the allocator's lock: this process
// must not go on as if it had merely failed.
TEST_CASE("a process whose owner access child is killed dies of the same signal") {
    TempDir temp("bincastle-test");
    const int status = testing::exit_status_as_ordinary_user(temp.path(), [] {
        container::with_owner_access([] { ::kill(::getpid(), SIGKILL); });
        return true;
    });
    CHECK(status == 128 + SIGKILL);
}
