#pragma once

// bincastle's one HTTP client: a kept-alive HTTP/1.1 connection (plain or TLS, verified
// against the system's certificates; Boost.Beast), for the registry client and for
// fetching sources (http_get.hpp): any method, a body streamed from a file or given
// whole, a response body streamed to a sink. Redirects are the caller's, under the
// rules of redirects.hpp. Not thread-safe: one per thread at a time (the registry
// client pools them).

#include "util/url.hpp"

#include <bincastle/error.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bincastle {

struct HttpRequest {
    std::string method = "GET";  // GET, HEAD, PUT, POST, PATCH, DELETE
    std::string url;             // absolute
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;               // sent when body_fd < 0
    int body_fd = -1;               // else body_length bytes of this fd from body_offset
    std::uint64_t body_offset = 0;
    std::uint64_t body_length = 0;
    // The body of a 2xx response goes here, piece by piece, when set; any other
    // response's body goes to HttpResponse::body.
    std::function<void(std::string_view)> sink;
    // When not 0: a 2xx response whose Content-Length says more is an Error, before
    // any of its body is read.
    std::uint64_t max_body = 0;
};

struct HttpResponse {
    unsigned status = 0;
    std::string reason;  // the status line's reason phrase
    std::vector<std::pair<std::string, std::string>> headers;  // names in lowercase
    std::string body;  // unless it went to the sink (the first 4 MiB of it)

    // The first value of header `name` (lowercase), or "".
    std::string header(std::string_view name) const;
};

// A failure of the transport rather than of the request: connect, TLS, a reset, a
// timeout, a body cut short. `retryable` is false when the server was never reached
// (a refused connection, a failed name lookup or certificate check).
class TransportError : public Error {
public:
    TransportError(std::string message, bool retryable, std::string hint = {})
        : Error(std::move(message), std::move(hint)), retryable_(retryable) {}
    bool retryable() const { return retryable_; }

private:
    bool retryable_;
};

class HttpConnection {
public:
    // `timeout` applies to each step alone (connect, handshake, each read and write).
    explicit HttpConnection(std::chrono::seconds timeout);
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;
    ~HttpConnection();

    // Sends `request` on the open connection when it goes to the same origin, else on
    // a new one; a kept-alive connection the server closed meanwhile is replaced once
    // without a word for a GET or HEAD (never for a request that may change something).
    // Redirects are not followed. Throws TransportError.
    HttpResponse send(const HttpRequest& request);

private:
    HttpResponse send_once(const HttpRequest& request);
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace bincastle
