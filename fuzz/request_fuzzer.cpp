// The supervisor's side of a nested run: what a client inside a system sends over
// BINCASTLE_SOCK, which anything running in that system can write. Input: messages,
// each ended by a NUL byte; a message that starts with '!' carries a file descriptor
// (the '!' is not sent). Besides crashes, it checks that no descriptor a client sent
// is left open once the request is gone, accepted or refused.

#include "util/channel.hpp"
#include "driver/request.hpp"

#include <bincastle/error.hpp>

#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace {

// How many descriptors this process has open.
std::size_t open_fds() {
    std::size_t count = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
    return count;
}

// Fewer messages than fit in the socket's buffer, so that sending never blocks.
constexpr int max_messages = 64;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using bincastle::Channel;
    static const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    static const std::size_t fds_before = open_fds();
    {
        auto [client, supervisor] = Channel::make_pair();
        const std::string input(reinterpret_cast<const char*>(data), size);
        int messages = 0;
        for (std::size_t begin = 0; begin < input.size() && messages < max_messages; ++messages) {
            std::size_t end = input.find('\0', begin);
            if (end == std::string::npos) end = input.size();
            std::string_view message(input.data() + begin, end - begin);
            const bool with_fd = message.starts_with('!');
            if (with_fd) message.remove_prefix(1);
            client.send(message, with_fd ? null_fd : -1);
            begin = end + 1;
        }
        client.close();
        try {
            bincastle::driver::receive_request(supervisor);
        } catch (const bincastle::Error&) {
        }
    }
    if (open_fds() != fds_before) __builtin_trap();
    return 0;
}
