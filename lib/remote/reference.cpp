#include "remote/reference.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <netinet/in.h>

namespace bincastle::remote {

bool is_loopback_host(const std::string& host) {
    if (host == "localhost") return true;
    // An address, parsed: a name such as 127.0.0.1.example.com is not loopback.
    in_addr v4 {};
    if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6 {};
    return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

Reference Reference::parse(const std::string& text, bool insecure) {
    auto bad = [&](const std::string& why) {
        return Error("registry reference '" + text + "': " + why,
                     "write host[:port]/repository[:tag], e.g. 127.0.0.1:5000/cache");
    };
    std::string rest = text;
    for (const char* scheme : {"https://", "http://", "docker://"})
        if (rest.starts_with(scheme)) rest = rest.substr(std::string(scheme).size());
    Reference ref;
    const auto slash = rest.find('/');
    if (slash == std::string::npos || slash == 0) throw bad("no registry host before the repository");
    ref.registry = rest.substr(0, slash);
    std::string path = rest.substr(slash + 1);
    if (const auto at = path.find('@'); at != std::string::npos) {
        ref.digest = path.substr(at + 1);
        path = path.substr(0, at);
    }
    // A tag follows the last ':' after the last '/'.
    const auto last_slash = path.rfind('/');
    const auto colon = path.rfind(':');
    if (colon != std::string::npos && (last_slash == std::string::npos || colon > last_slash)) {
        ref.tag = path.substr(colon + 1);
        path = path.substr(0, colon);
        if (ref.tag.empty()) throw bad("an empty tag");
    }
    ref.repository = path;
    if (ref.repository.empty()) throw bad("no repository");
    const bool valid = std::all_of(ref.repository.begin(), ref.repository.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/';
    });
    if (!valid) throw bad("a repository name has lowercase letters, digits, '.', '_', '-' and '/' only");
    const std::string& authority = ref.registry;
    if (authority.starts_with('[')) {
        ref.host = authority.substr(1, authority.find(']') - 1);
    } else {
        ref.host = authority.substr(0, authority.find(':'));
    }
    ref.plain_http = insecure || is_loopback_host(ref.host);
    return ref;
}

std::string Reference::origin() const { return (plain_http ? "http://" : "https://") + registry; }

std::string Reference::str() const {
    std::string text = registry + "/" + repository;
    if (!tag.empty()) text += ":" + tag;
    if (!digest.empty()) text += "@" + digest;
    return text;
}

}  // namespace bincastle::remote
