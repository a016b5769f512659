#include "container/nesting.hpp"

#include "util/file_io.hpp"

#include <algorithm>
#include <sched.h>
#include <sstream>
#include <sys/mount.h>
#include <unistd.h>
#include <vector>

namespace bincastle::container {

namespace {

// Submounts of /proc that the kernel does not accept under a fresh procfs. The
// binfmt_misc mount sits on a permanently empty directory, which the kernel allows.
std::vector<std::string> proc_submounts(const std::string& mountinfo) {
    std::vector<std::string> result;
    std::istringstream lines(mountinfo);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream fields(line);
        std::string id, parent, devices, root, mount_point;
        fields >> id >> parent >> devices >> root >> mount_point;
        if (mount_point.rfind("/proc/", 0) == 0 && mount_point != "/proc/sys/fs/binfmt_misc")
            result.push_back(mount_point);
    }
    return result;
}

}  // namespace

void unmask_proc_for_nested_container() {
    if (::geteuid() != 0) return;
    auto submounts = proc_submounts(read_file("/proc/self/mountinfo"));
    if (submounts.empty()) return;
    if (::unshare(CLONE_NEWNS) != 0) return;  // the procfs mount will then say why
    ::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr);
    // Deepest first, so that each one is still reachable when its turn comes.
    std::sort(submounts.begin(), submounts.end(), [](auto& a, auto& b) { return a.size() > b.size(); });
    for (const auto& path : submounts) ::umount2(path.c_str(), MNT_DETACH);
}

}  // namespace bincastle::container
