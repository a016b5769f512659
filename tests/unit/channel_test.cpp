// The SOCK_SEQPACKET channel that the container's setup and the supervisor's clients
// talk over: what a peer sends must not leave descriptors behind, even when refused.

#include "util/channel.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <unistd.h>

using bincastle::Channel;

namespace {

// How many descriptors this process has open.
std::size_t open_fds() {
    std::size_t count = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
    return count;
}

}  // namespace

TEST_CASE("channel: a message carries its descriptor") {
    auto [a, b] = Channel::make_pair();
    a.send("fd:0", STDERR_FILENO);
    auto message = b.receive();
    REQUIRE(message);
    CHECK(message->text == "fd:0");
    CHECK(message->fd);
}

// Found by fuzz/request_fuzzer.cpp: an empty message, or one too long, with a
// descriptor attached left that descriptor open in the supervisor, once per request.
TEST_CASE("channel: a descriptor with a refused message is closed") {
    const std::size_t fds_before = open_fds();
    {
        auto [a, b] = Channel::make_pair();
        a.send("", STDERR_FILENO);
        CHECK_FALSE(b.receive());
    }
    CHECK(open_fds() == fds_before);
    {
        auto [a, b] = Channel::make_pair();
        a.send(std::string(Channel::max_message + 1, 'x'), STDERR_FILENO);
        CHECK_THROWS_AS(b.receive(), bincastle::Error);
    }
    CHECK(open_fds() == fds_before);
}
