#pragma once

// Network::user: slirp4netns gives the container's network namespace a tap device
// routed through the host's sockets, as podman and rootlesskit do for ordinary users.

#include "util/child_process.hpp"
#include "util/file_tree.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/container.hpp>

#include <sys/types.h>

namespace bincastle::container {

// slirp4netns serving the network namespace of `container` (whose id maps are written)
// with `spec`'s port forwards; it ends when this is dropped.
class UserNetwork {
public:
    UserNetwork(pid_t container, const Spec& spec);
    UserNetwork(const UserNetwork&) = delete;
    UserNetwork& operator=(const UserNetwork&) = delete;

private:
    struct Pipes {
        UniqueFd exit_read, exit_write, ready_read, ready_write;
    };
    UserNetwork(pid_t container, const Spec& spec, Pipes pipes);

    TempDir api_dir_;
    UniqueFd exit_;  // closed: slirp4netns exits
    UniqueFd ready_;
    ChildProcess slirp_;
};

}  // namespace bincastle::container
