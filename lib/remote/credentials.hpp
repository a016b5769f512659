#pragma once

// Registry credentials from the user's container credentials files, as podman,
// skopeo and docker write them ({"auths": {"host:port": {"auth": base64(user:password)}}}):
//   $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
//   ~/.config/containers/auth.json, ~/.docker/config.json
// the first file that names the registry wins.

#include <optional>
#include <string>

namespace bincastle::remote {

struct Credentials {
    std::string user;
    std::string password;
};

std::optional<Credentials> find_credentials(const std::string& registry);

std::string base64_encode(std::string_view data);
// Throws Error on malformed input.
std::string base64_decode(std::string_view text);

}  // namespace bincastle::remote
