#pragma once

// Fetching a source over http(s): a GET on bincastle's HTTP client (http_connection.hpp),
// redirects followed under its rules (redirects.hpp).

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace bincastle {

struct HttpOptions {
    // Applies to each step alone (connect, handshake, each read and write), so a dead host
    // fails after this long while a slow but live download goes on. Name lookups keep the
    // system resolver's own timeouts: getaddrinfo cannot be cancelled.
    std::chrono::seconds timeout{30};
};

// Receives the body in order, one piece at a time.
using HttpBodySink = std::function<void(std::string_view piece)>;

// GETs `url` (http:// or https://), following redirects, and streams the body of the
// final 200 response to `sink`. Throws Error naming the URL and the reason: a malformed
// URL, a failure to resolve, connect or verify the certificate, a timeout, a status
// other than 200, a redirect from https to http or more than max_redirects, or a
// connection closed before the whole body arrived. An exception thrown by `sink` ends
// the download and propagates unchanged.
void http_get(const std::string& url, const HttpBodySink& sink, const HttpOptions& options = {});

}  // namespace bincastle
