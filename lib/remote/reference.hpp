#pragma once

// A registry repository as the user names it: host[:port]/repo[:tag] (or @sha256:...).

#include <optional>
#include <string>

namespace bincastle::remote {

struct Reference {
    std::string registry;    // host[:port], as written
    std::string host;        // without brackets or port
    std::string repository;  // path/name
    std::string tag;         // empty when not given (or a digest is)
    std::string digest;      // "sha256:..." when given with '@'
    bool plain_http = false;

    // Parses `text`. Plain http is used for a loopback registry (localhost, 127.0.0.0/8,
    // ::1) or when `insecure` says so (--insecure-registry); https otherwise. Throws an
    // Error naming what is wrong.
    static Reference parse(const std::string& text, bool insecure);

    // "http(s)://host[:port]"
    std::string origin() const;
    // "host[:port]/repo[:tag]", as given.
    std::string str() const;
};

// "localhost", an IPv4 address in 127.0.0.0/8 or the IPv6 address ::1; never another name.
bool is_loopback_host(const std::string& host);

}  // namespace bincastle::remote
