#pragma once

// Absolute http(s) URLs, as the http clients (sources, registries) need them.

#include <string>
#include <string_view>

namespace bincastle {

struct Url {
    bool tls = false;
    std::string authority;  // host[:port] as written, for the Host header
    std::string host;       // without the brackets of an IPv6 literal
    std::string port;
    std::string target;     // path and query; "/" at least

    // Throws Error for anything but an absolute http:// or https:// URL (without a
    // user name).
    static Url parse(const std::string& url);
    std::string origin() const { return (tls ? "https://" : "http://") + authority; }
};

// A Location header (absolute, scheme-relative, host-relative or path-relative) seen
// from `from`.
std::string resolve_location(const std::string& from, std::string_view location);

}  // namespace bincastle
