#include "util/url.hpp"

#include <bincastle/error.hpp>

#include <algorithm>

namespace bincastle {

Url Url::parse(const std::string& url) {
    auto malformed = [&](std::string_view why) { return Error("URL " + url + ": " + std::string(why)); };
    Url parsed;
    std::string_view rest(url);
    if (rest.starts_with("http://")) {
        rest.remove_prefix(7);
    } else if (rest.starts_with("https://")) {
        parsed.tls = true;
        rest.remove_prefix(8);
    } else {
        throw malformed("not an http:// or https:// URL");
    }
    const std::size_t authority_end = rest.find_first_of("/?#");
    parsed.authority = rest.substr(0, authority_end);
    rest = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
    rest = rest.substr(0, rest.find('#'));  // a fragment is never sent
    parsed.target = rest.starts_with('/') ? std::string(rest) : "/" + std::string(rest);
    if (parsed.authority.find('@') != std::string::npos)
        throw malformed("user names in URLs are not supported");

    std::string_view authority(parsed.authority);
    std::string_view port;
    if (authority.starts_with('[')) {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) throw malformed("'[' without ']' in the host");
        parsed.host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty() && !after.starts_with(':')) throw malformed("junk after the host");
        if (!after.empty()) port = after.substr(1);
    } else {
        const std::size_t colon = authority.find(':');
        parsed.host = authority.substr(0, colon);
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (parsed.host.empty()) throw malformed("no host");
    if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
        throw malformed("the port is not a number");
    parsed.port = port.empty() ? (parsed.tls ? "443" : "80") : std::string(port);
    return parsed;
}

std::string resolve_location(const std::string& from, std::string_view location) {
    if (location.starts_with("http://") || location.starts_with("https://")) return std::string(location);
    const Url base = Url::parse(from);
    if (location.starts_with("//")) return (base.tls ? "https:" : "http:") + std::string(location);
    if (location.starts_with('/')) return base.origin() + std::string(location);
    const std::string path = base.target.substr(0, base.target.find('?'));
    return base.origin() + path.substr(0, path.rfind('/') + 1) + std::string(location);
}

}  // namespace bincastle
