#include "container/bridge_network.hpp"

#include "util/process.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace bincastle::container {

namespace {

// Where the addresses handed out are leased: one file each, flocked by the process
// that holds it (released by the kernel when it dies).
const fs::path lease_dir = "/run/bincastle/bridge";

void run_ip(const std::vector<std::string>& argv, const std::string& what) {
    const int status = run_program(argv);
    if (status == program_not_found) throw Error("ip not found (" + what + ")", "install iproute2");
    if (status != 0) throw Error(what + " failed (" + argv[0] + " exited with " + std::to_string(status) + ")");
}

UniqueFd open_lock(const fs::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) throw SysError("open", path.string());
    return fd;
}

// The bridge, made once under a lock so that two containers starting at once do not
// both make it.
void ensure_bridge() {
    UniqueFd lock = open_lock(lease_dir / ".bridge.lock");
    while (::flock(lock.get(), LOCK_EX) != 0)
        if (errno != EINTR) throw SysError("flock", (lease_dir / ".bridge.lock").string());
    if (fs::exists(fs::path("/sys/class/net") / bridge_name)) return;
    run_ip({"ip", "link", "add", bridge_name, "type", "bridge"}, "making the bridge " + std::string(bridge_name));
    run_ip({"ip", "addr", "add", std::string(bridge_address) + "/24", "dev", bridge_name}, "addressing the bridge");
    run_ip({"ip", "link", "set", bridge_name, "up"}, "bringing the bridge up");
}

}  // namespace

BridgeNetwork::BridgeNetwork(pid_t container) {
    if (::geteuid() != 0) throw Error("--net bridge needs root", "an ordinary user has --net user");
    std::error_code error;
    fs::create_directories(lease_dir, error);
    if (error) throw SysError(error.value(), "mkdir", lease_dir.string());
    ::chmod(lease_dir.c_str(), 0700);
    ensure_bridge();
    for (int host = 2; host < 255 && !lease_; ++host) {
        const std::string address = "10.89.0." + std::to_string(host);
        UniqueFd fd = open_lock(lease_dir / address);
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
            lease_ = std::move(fd);
            address_ = address;
        }
    }
    if (!lease_) throw Error("no address left on " + std::string(bridge_name) + " (253 containers run)");
    const std::string pid = std::to_string(container);
    // The host's end is named after the container's pid (at most 15 characters).
    const std::string host_end = "bc" + pid;
    run_ip({"ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", pid}, "making a veth pair");
    run_ip({"ip", "link", "set", host_end, "master", bridge_name, "up"}, "attaching the veth to the bridge");
    const std::vector<std::string> inside = {"nsenter", "--target", pid, "--net", "ip"};
    auto in_container = [&](std::vector<std::string> args, const std::string& what) {
        std::vector<std::string> argv = inside;
        argv.insert(argv.end(), args.begin(), args.end());
        run_ip(argv, what);
    };
    in_container({"addr", "add", address_ + "/24", "dev", "eth0"}, "addressing the container's eth0");
    in_container({"link", "set", "eth0", "up"}, "bringing the container's eth0 up");
    in_container({"route", "add", "default", "via", bridge_address}, "the container's default route");
}

}  // namespace bincastle::container
