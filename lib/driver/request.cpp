#include "driver/request.hpp"

#include <bincastle/error.hpp>

#include <cstring>
#include <sys/socket.h>

namespace bincastle::driver {

sockaddr_un socket_address(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path)
        throw Error("socket path too long: " + path, "set TMPDIR to a shorter directory");
    std::memcpy(address.sun_path, path.c_str(), path.size());
    return address;
}

void send_request(const Channel& channel, const Request& request) {
    for (const auto& arg : request.args)
        if (arg.size() + 4 > Channel::max_message)
            throw Error("an argument of " + std::to_string(arg.size()) + " bytes is too long to send to the supervisor",
                        "put a long script in a file");
    for (int fd = 0; fd < 3; ++fd) channel.send("fd:" + std::to_string(fd), request.stdio[fd].get());
    for (const auto& arg : request.args) channel.send("arg:" + arg);
    channel.send("cwd:" + request.cwd);
    for (const auto& variable : request.env) channel.send("env:" + variable);
    channel.send("go");
}

Request receive_request(const Channel& channel) {
    Request request;
    while (true) {
        auto message = channel.receive();
        if (!message) throw Error("the client left before its request was complete");
        const std::string& text = message->text;
        if (text == "go") break;
        if (text.starts_with("fd:") && text.size() == 4 && text[3] >= '0' && text[3] <= '2' && message->fd) {
            request.stdio[text[3] - '0'] = std::move(message->fd);
        } else if (text.starts_with("arg:")) {
            request.args.push_back(text.substr(4));
        } else if (text.starts_with("cwd:")) {
            request.cwd = text.substr(4);
        } else if (text.starts_with("env:")) {
            request.env.push_back(text.substr(4));
        } else {
            throw Error("unexpected message from a client: " + text.substr(0, 40));
        }
    }
    for (const auto& fd : request.stdio)
        if (!fd) throw Error("a client's request came without its terminal");
    return request;
}

}  // namespace bincastle::driver
