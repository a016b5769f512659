#pragma once

// What a user can do when the kernel refuses a namespace: errno alone misleads
// (EPERM from clone(CLONE_NEWUSER) means "disabled by policy", not "permission").

#include <optional>
#include <string>

namespace bincastle::container {

struct UserNamespacePolicy {
    std::optional<std::string> unprivileged_userns_clone;         // Debian's kernel.unprivileged_userns_clone
    std::optional<std::string> max_user_namespaces;               // user.max_user_namespaces
    std::optional<std::string> apparmor_restrict_unprivileged;    // kernel.apparmor_restrict_unprivileged_userns
};

UserNamespacePolicy read_user_namespace_policy();

// The hint for a failed clone() of the container's namespaces.
std::string namespace_hint(int error_number, bool caller_is_root, const UserNamespacePolicy& policy);

}  // namespace bincastle::container
