#pragma once

// Network::bridge, for root: a veth pair between the container and the host's bridge
// bincastle0 (10.89.0.1/24, made on first use), the container's end eth0 with an
// address of its own and a default route through the bridge (the sh-nspawn way).

#include "util/unique_fd.hpp"

#include <string>
#include <sys/types.h>

namespace bincastle::container {

inline constexpr const char* bridge_name = "bincastle0";
inline constexpr const char* bridge_address = "10.89.0.1";

class BridgeNetwork {
public:
    // Gives the network namespace of `container` its eth0; throws Error if not root.
    explicit BridgeNetwork(pid_t container);
    BridgeNetwork(const BridgeNetwork&) = delete;
    BridgeNetwork& operator=(const BridgeNetwork&) = delete;

    const std::string& address() const { return address_; }

private:
    UniqueFd lease_;  // flocked while the container holds the address
    std::string address_;
};

}  // namespace bincastle::container
