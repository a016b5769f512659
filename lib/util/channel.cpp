#include "util/channel.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <cstring>
#include <sys/socket.h>

namespace bincastle {

std::pair<Channel, Channel> Channel::make_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
        throw SysError("socketpair", "");
    return {Channel(UniqueFd(fds[0])), Channel(UniqueFd(fds[1]))};
}

void Channel::send(std::string_view text, int fd) const {
    iovec iov{const_cast<char*>(text.data()), text.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))]{};
    if (fd >= 0) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
    }
    while (::sendmsg(socket_.get(), &msg, MSG_NOSIGNAL) < 0) {
        if (errno != EINTR) throw SysError("sendmsg", "container setup channel");
    }
}

std::optional<Message> Channel::receive() const {
    char buffer[max_message];
    iovec iov{buffer, sizeof buffer};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))]{};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    while ((n = ::recvmsg(socket_.get(), &msg, MSG_CMSG_CLOEXEC)) < 0) {
        if (errno != EINTR) throw SysError("recvmsg", "container setup channel");
    }
    // The descriptor is ours as soon as recvmsg returns: take it first, so that a
    // message refused below (empty, too long) does not leave it open in this process.
    Message message;
    for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
            message.fd.reset(fd);
        }
    }
    if (n == 0) return std::nullopt;
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) throw Error("a message over " + std::to_string(sizeof buffer) + " bytes");
    message.text.assign(buffer, static_cast<size_t>(n));
    return message;
}

}  // namespace bincastle
