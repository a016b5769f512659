#include "container/network.hpp"

#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <cstring>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

namespace bincastle::container {

void bring_up_loopback() {
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) throw SysError("socket", "AF_INET");
    ifreq request{};
    std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &request) != 0) throw SysError("ioctl(SIOCGIFFLAGS)", "lo");
    request.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &request) != 0) throw SysError("ioctl(SIOCSIFFLAGS)", "lo");
}

}  // namespace bincastle::container
