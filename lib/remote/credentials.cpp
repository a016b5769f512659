#include "remote/credentials.hpp"

#include "util/file_io.hpp"

#include <bincastle/error.hpp>

#include <boost/json.hpp>

#include <openssl/evp.h>

#include <cstdlib>
#include <vector>

namespace json = boost::json;

namespace bincastle::remote {

std::string base64_encode(std::string_view data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::string base64_decode(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    if (text.size() % 4 != 0) throw Error("malformed base64");
    std::string out(text.size() / 4 * 3 + 1, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) throw Error("malformed base64");
    std::size_t size = static_cast<std::size_t>(n);
    // EVP_DecodeBlock counts the padding as zero bytes.
    if (text.ends_with("==")) size -= 2;
    else if (text.ends_with("=")) size -= 1;
    out.resize(size);
    return out;
}

namespace {

std::vector<std::string> credential_files() {
    std::vector<std::string> files;
    auto env = [](const char* name) -> std::string {
        const char* value = std::getenv(name);
        return value && *value ? value : "";
    };
    if (!env("REGISTRY_AUTH_FILE").empty()) files.push_back(env("REGISTRY_AUTH_FILE"));
    if (!env("XDG_RUNTIME_DIR").empty()) files.push_back(env("XDG_RUNTIME_DIR") + "/containers/auth.json");
    if (!env("HOME").empty()) {
        files.push_back(env("HOME") + "/.config/containers/auth.json");
        files.push_back((env("DOCKER_CONFIG").empty() ? env("HOME") + "/.docker" : env("DOCKER_CONFIG")) +
                        "/config.json");
    }
    return files;
}

// "https://host:port/v1/" and the like, as docker writes keys, down to host:port.
std::string bare_registry(std::string key) {
    for (const char* scheme : {"https://", "http://"})
        if (key.starts_with(scheme)) key = key.substr(std::string(scheme).size());
    return key.substr(0, key.find('/'));
}

}  // namespace

std::optional<Credentials> find_credentials(const std::string& registry) {
    for (const auto& file : credential_files()) {
        auto text = read_file_if_exists(file);
        if (!text) continue;
        json::value document;
        try {
            document = json::parse(*text);
        } catch (const std::exception& error) {
            throw Error("credentials file " + file + ": not JSON: " + error.what());
        }
        const json::object* root = document.if_object();
        const json::value* auths_value = root ? root->if_contains("auths") : nullptr;
        const json::object* auths = auths_value ? auths_value->if_object() : nullptr;
        if (!auths) continue;
        for (const auto& [key, entry] : *auths) {
            if (bare_registry(std::string(key)) != registry || !entry.is_object()) continue;
            const json::object& fields = entry.as_object();
            if (const auto* auth = fields.if_contains("auth"); auth && auth->is_string()) {
                std::string decoded = base64_decode(auth->as_string());
                auto colon = decoded.find(':');
                if (colon == std::string::npos) throw Error("credentials file " + file + ": the auth of " + registry + " has no ':'");
                return Credentials{decoded.substr(0, colon), decoded.substr(colon + 1)};
            }
            const auto* user = fields.if_contains("username");
            const auto* password = fields.if_contains("password");
            if (user && password && user->is_string() && password->is_string())
                return Credentials{std::string(user->as_string()), std::string(password->as_string())};
        }
    }
    return std::nullopt;
}

}  // namespace bincastle::remote
