#pragma once

// What `bincastle` inside a system sends its supervisor, over the unix socket named by
// BINCASTLE_SOCK (SOCK_SEQPACKET, one message per field, see Channel):
//
//   client -> supervisor   "fd:0" "fd:1" "fd:2" (each carrying that fd: its terminal),
//                          "arg:..." per argument, "cwd:...", "env:K=V" per variable,
//                          "go"; later "winch" when its terminal was resized
//   supervisor -> client   "status:N" (the exit status to leave with)
//
// The supervisor runs the request on the host, on the client's terminal; the client
// waits. When the client goes away, so does what it started.

#include "util/channel.hpp"
#include "util/unique_fd.hpp"

#include <array>
#include <sys/un.h>
#include <string>
#include <vector>

namespace bincastle::driver {


struct Request {
    std::vector<std::string> args;  // after "bincastle"
    std::string cwd;                // inside the client's system
    std::vector<std::string> env;   // the client's BINCASTLE_* and TERM
    std::array<UniqueFd, 3> stdio;  // its stdin, stdout, stderr
};

// The unix socket address of `path`; an Error when it is too long for one.
sockaddr_un socket_address(const std::string& path);

void send_request(const Channel& channel, const Request& request);
// Throws an Error when the peer does not speak the protocol.
Request receive_request(const Channel& channel);

}  // namespace bincastle::driver
