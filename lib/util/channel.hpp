#pragma once

// Two processes talk over a SOCK_SEQPACKET socket (the parent and the container's
// setup process, a client and the supervisor): each send is one message, optionally
// carrying a file descriptor.

#include "util/unique_fd.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace bincastle {

struct Message {
    std::string text;
    UniqueFd fd;  // invalid unless one was sent
};

class Channel {
public:
    explicit Channel(UniqueFd socket) : socket_(std::move(socket)) {}

    // Both ends of a new pair, close-on-exec.
    static std::pair<Channel, Channel> make_pair();

    // The longest message receive() takes.
    static constexpr std::size_t max_message = 8192;

    void send(std::string_view text, int fd = -1) const;
    // Blocks for the next message; nullopt when the other end has closed.
    std::optional<Message> receive() const;

    void close() { socket_.reset(); }
    // For poll(2).
    int fd() const { return socket_.get(); }

private:
    UniqueFd socket_;
};

}  // namespace bincastle
