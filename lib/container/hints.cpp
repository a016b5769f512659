#include "container/hints.hpp"

#include "util/file_io.hpp"

#include <cerrno>

namespace bincastle::container {

namespace {

std::optional<std::string> sysctl(const std::string& path) {
    try {
        auto value = read_file_if_exists(path);
        if (value) {
            while (!value->empty() && (value->back() == '\n' || value->back() == ' ')) value->pop_back();
        }
        return value;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

}  // namespace

UserNamespacePolicy read_user_namespace_policy() {
    return {
        sysctl("/proc/sys/kernel/unprivileged_userns_clone"),
        sysctl("/proc/sys/user/max_user_namespaces"),
        sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
    };
}

std::string namespace_hint(int error_number, bool caller_is_root, const UserNamespacePolicy& policy) {
    if (error_number == ENOSPC || policy.max_user_namespaces == "0") {
        if (policy.max_user_namespaces == "0")
            return "user namespaces are disabled: sysctl -w user.max_user_namespaces=15000";
        return "the limit of user namespaces (or of their nesting, 32) is reached: "
               "raise user.max_user_namespaces, or leave some nested containers";
    }
    if (error_number == EPERM) {
        if (!caller_is_root && policy.unprivileged_userns_clone == "0")
            return "unprivileged user namespaces are disabled: "
                   "sysctl -w kernel.unprivileged_userns_clone=1";
        if (!caller_is_root && policy.apparmor_restrict_unprivileged == "1")
            return "AppArmor restricts unprivileged user namespaces: "
                   "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give bincastle "
                   "an AppArmor profile with 'userns,'";
        return "the kernel refused new namespaces; inside another container, seccomp may block "
               "them (docker: --security-opt seccomp=unconfined) or capabilities were dropped";
    }
    if (error_number == EINVAL)
        return "this kernel lacks a namespace bincastle needs (user, mount, pid, uts, ipc, cgroup, "
               "net; Linux >= 5.12 is required)";
    return {};
}

}  // namespace bincastle::container
