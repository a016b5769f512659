#include "http/http_connection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <exception>
#include <optional>
#include <unistd.h>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace bincastle {

std::string HttpResponse::header(std::string_view name) const {
    for (const auto& [key, value] : headers)
        if (key == name) return value;
    return {};
}

namespace {

auto token(boost::system::error_code& error) { return asio::redirect_error(asio::use_awaitable, error); }

std::string lowercase(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

constexpr std::size_t max_kept_body = 4 << 20;
constexpr std::size_t piece_size = 1 << 20;

}  // namespace

struct HttpConnection::Impl {
    explicit Impl(std::chrono::seconds timeout) : timeout(timeout) {}

    std::chrono::seconds timeout;
    asio::io_context io;
    std::optional<ssl::context> tls_context;
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    std::string origin;  // of the open connection; empty: none
    beast::flat_buffer buffer;
    std::vector<char> piece = std::vector<char>(piece_size);

    void close() {
        boost::system::error_code ignored;
        if (plain) plain->socket().close(ignored);
        if (secure) beast::get_lowest_layer(*secure).socket().close(ignored);
        plain.reset();
        secure.reset();
        origin.clear();
        buffer.clear();
    }

    [[noreturn]] void fail(const HttpRequest& request, std::string_view step, const boost::system::error_code& error,
                           bool retryable, std::string hint = {}) const {
        std::string reason = error.message();
        if (error == beast::error::timeout)
            reason = "no answer within " + std::to_string(timeout.count()) + " s";
        else if (error == http::error::partial_message || error == http::error::end_of_stream ||
                 error == asio::error::eof || error == ssl::error::stream_truncated)
            reason = "the connection closed early";
        throw TransportError(request.method + " " + request.url + ": " + std::string(step) + ": " + reason, retryable,
                             std::move(hint));
    }

    template <class T>
    T run(asio::awaitable<T> work) {
        std::exception_ptr failure;
        std::optional<T> result;
        asio::co_spawn(io, std::move(work), [&](std::exception_ptr error, T value) {
            failure = error;
            if (!error) result = std::move(value);
        });
        io.restart();
        io.run();
        if (failure) std::rethrow_exception(failure);
        return std::move(*result);
    }

    asio::awaitable<bool> connect(const Url& url, const HttpRequest& request) {
        boost::system::error_code error;
        tcp::resolver resolver(io);
        auto endpoints = co_await resolver.async_resolve(url.host, url.port, token(error));
        if (error) fail(request, "resolve " + url.host, error, false);
        beast::tcp_stream* stream;
        if (url.tls) {
            if (!tls_context) {
                tls_context.emplace(ssl::context::tls_client);
                tls_context->set_default_verify_paths();
                tls_context->set_verify_mode(ssl::verify_peer);
            }
            secure.emplace(io, *tls_context);
            stream = &beast::get_lowest_layer(*secure);
        } else {
            plain.emplace(io);
            stream = &*plain;
        }
        stream->expires_after(timeout);
        // One address at a time, on a socket opened here: asio's connect to a range
        // reports a socket it cannot open (too many open files) as "canceled".
        error = asio::error::host_not_found;
        for (const auto& entry : endpoints) {
            boost::system::error_code ignored;
            stream->socket().close(ignored);
            stream->socket().open(entry.endpoint().protocol(), error);
            if (error) break;
            co_await stream->async_connect(entry.endpoint(), token(error));
            if (!error) break;
        }
        // Refused or unreachable: the registry is down, and retrying will not help soon.
        if (error) fail(request, "connect to " + url.authority, error, false);
        stream->socket().set_option(tcp::no_delay(true), error);
        if (url.tls) {
            // SNI names a host, never an address (RFC 6066).
            boost::system::error_code not_an_address;
            asio::ip::make_address(url.host, not_an_address);
            if (not_an_address && !SSL_set_tlsext_host_name(secure->native_handle(), url.host.c_str()))
                throw TransportError("cannot set the TLS server name " + url.host, false);
            secure->set_verify_callback(ssl::host_name_verification(url.host));
            stream->expires_after(timeout);
            co_await secure->async_handshake(ssl::stream_base::client, token(error));
            if (error)
                fail(request, "TLS handshake with " + url.authority, error, false,
                     "certificates are checked against the system's store (Debian: ca-certificates; SSL_CERT_FILE "
                     "or SSL_CERT_DIR name another); a registry without TLS needs --insecure-registry");
        }
        origin = url.origin();
        co_return true;
    }

    template <class Stream>
    asio::awaitable<HttpResponse> exchange(Stream& stream, const Url& url, const HttpRequest& request,
                                           bool& answered) {
        auto& socket = beast::get_lowest_layer(stream);
        boost::system::error_code error;
        const http::verb verb = http::string_to_verb(request.method);
        if (verb == http::verb::unknown) throw Error("unknown HTTP method " + request.method);
        http::request<http::buffer_body> message(verb, url.target, 11);
        message.set(http::field::host, url.authority);
        message.set(http::field::user_agent, "bincastle");
        for (const auto& [name, value] : request.headers) message.set(name, value);
        const bool from_file = request.body_fd >= 0;
        const std::uint64_t length = from_file ? request.body_length : request.body.size();
        if (length > 0 || verb == http::verb::put || verb == http::verb::post || verb == http::verb::patch)
            message.content_length(length);
        message.body().data = nullptr;
        message.body().size = 0;
        message.body().more = length > 0;
        http::request_serializer<http::buffer_body> serializer(message);
        socket.expires_after(timeout);
        co_await http::async_write_header(stream, serializer, token(error));
        if (error) fail(request, "send the request", error, true);
        // The body goes straight to the stream: it has a Content-Length, so there is
        // nothing for the serializer to frame, and Beast's copies cost a third of the
        // throughput of a 200 MB upload.
        std::uint64_t sent = 0;
        while (sent < length) {
            asio::const_buffer out;
            if (from_file) {
                const auto size = static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), length - sent));
                ssize_t n = ::pread(request.body_fd, piece.data(), size, static_cast<off_t>(request.body_offset + sent));
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) throw SysError(n < 0 ? errno : EIO, "pread", "the upload's body");
                out = asio::buffer(piece.data(), static_cast<std::size_t>(n));
            } else {
                out = asio::buffer(request.body);
            }
            socket.expires_after(timeout);
            co_await asio::async_write(stream, out, token(error));
            if (error) fail(request, "send the body", error, true);
            sent += out.size();
        }

        http::response_parser<http::buffer_body> parser;
        parser.body_limit(boost::none);
        if (verb == http::verb::head) parser.skip(true);
        socket.expires_after(timeout);
        co_await http::async_read_header(stream, buffer, parser, token(error));
        if (error) fail(request, "read the response", error, true);
        answered = true;

        HttpResponse response;
        response.status = parser.get().result_int();
        response.reason = std::string(parser.get().reason());
        for (const auto& field : parser.get())
            response.headers.emplace_back(lowercase(field.name_string()), std::string(field.value()));
        const bool to_sink = request.sink && response.status / 100 == 2;
        if (to_sink && request.max_body > 0 && parser.content_length() && *parser.content_length() > request.max_body) {
            close();
            throw Error(request.method + " " + request.url + ": the response announces " +
                        std::to_string(*parser.content_length()) + " bytes, more than the " +
                        std::to_string(request.max_body) + " expected");
        }
        auto deliver = [&](std::string_view got) {
            if (to_sink) {
                request.sink(got);
            } else if (response.body.size() < max_kept_body) {
                response.body.append(got.substr(0, max_kept_body - response.body.size()));
            }
        };
        if (!parser.is_done() && parser.content_length() && !parser.chunked()) {
            // A body of known length is read straight from the stream into our buffer,
            // not through the parser (which copies each piece, and cost 80% of the
            // throughput of a 200 MB download); never past its end, so the connection
            // stays usable.
            std::uint64_t remaining = *parser.content_length();
            const auto early = buffer.data();
            const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(early.size(), remaining));
            deliver(std::string_view(static_cast<const char*>(early.data()), take));
            buffer.consume(take);
            remaining -= take;
            while (remaining > 0) {
                socket.expires_after(timeout);
                const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), remaining));
                std::size_t n = co_await stream.async_read_some(asio::buffer(piece.data(), want), token(error));
                if (error) fail(request, "read the body", error, true);
                deliver(std::string_view(piece.data(), n));
                remaining -= n;
            }
            if (!parser.get().keep_alive()) close();
            co_return response;
        }
        while (!parser.is_done()) {
            parser.get().body().data = piece.data();
            parser.get().body().size = piece.size();
            socket.expires_after(timeout);
            co_await http::async_read(stream, buffer, parser, token(error));
            if (error == http::error::need_buffer) error = {};
            if (error) fail(request, "read the body", error, true);
            deliver(std::string_view(piece.data(), piece.size() - parser.get().body().size));
        }
        if (!parser.get().keep_alive()) close();
        co_return response;
    }

    asio::awaitable<HttpResponse> exchange_on_open(const Url& url, const HttpRequest& request, bool& answered) {
        if (secure) co_return co_await exchange(*secure, url, request, answered);
        co_return co_await exchange(*plain, url, request, answered);
    }
};

HttpConnection::HttpConnection(std::chrono::seconds timeout) : impl_(std::make_unique<Impl>(timeout)) {}

HttpConnection::~HttpConnection() = default;

HttpResponse HttpConnection::send(const HttpRequest& request) {
    try {
        return send_once(request);
    } catch (const boost::system::system_error& error) {
        impl_->close();
        // Asio's own set-up failed (its event fds, on too many open files): no retry helps.
        throw TransportError(request.method + " " + request.url + ": " + error.code().message(), false);
    }
}

HttpResponse HttpConnection::send_once(const HttpRequest& request) {
    const Url url = Url::parse(request.url);
    const bool reuse = !impl_->origin.empty() && impl_->origin == url.origin();
    if (!reuse) {
        impl_->close();
        impl_->run(impl_->connect(url, request));
    }
    bool answered = false;
    try {
        return impl_->run(impl_->exchange_on_open(url, request, answered));
    } catch (const TransportError&) {
        impl_->close();
        // A kept-alive connection the server has closed since: once more on a new one,
        // for a GET or a HEAD only. A POST, PATCH or PUT may have reached the server
        // before the connection dropped; the caller decides what to send again.
        if (!reuse || answered || (request.method != "GET" && request.method != "HEAD")) throw;
    } catch (...) {
        impl_->close();  // mid-message: the connection cannot carry another request
        throw;
    }
    impl_->run(impl_->connect(url, request));
    try {
        return impl_->run(impl_->exchange_on_open(url, request, answered));
    } catch (...) {
        impl_->close();
        throw;
    }
}

}  // namespace bincastle
