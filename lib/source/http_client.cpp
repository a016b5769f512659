#include "source/http_client.hpp"

#include "util/url.hpp"

#include <bincastle/error.hpp>

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
#include <array>
#include <exception>
#include <memory>
#include <optional>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace bincastle {

namespace {

bool is_redirect(unsigned status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

class Exchange {
public:
    Exchange(const std::string& url, const HttpOptions& options, const HttpBodySink& sink)
        : url_(url), parsed_(Url::parse(url)), options_(options), sink_(sink) {}

    // Runs one request; the redirect's target, or nullopt once the body went to the sink.
    std::optional<std::string> run() {
        asio::io_context io;
        std::exception_ptr failure;
        std::optional<std::string> location;
        auto done = [&](std::exception_ptr error, std::optional<std::string> result) {
            failure = error;
            location = std::move(result);
        };
        if (parsed_.tls) {
            asio::co_spawn(io, over_tls(io), done);
        } else {
            asio::co_spawn(io, over_tcp(io), done);
        }
        io.run();
        if (failure) std::rethrow_exception(failure);
        return location;
    }

private:
    [[noreturn]] void fail(std::string_view step, const boost::system::error_code& error,
                           std::string hint = {}) const {
        std::string reason = error.message();
        if (error == beast::error::timeout)
            reason = "no answer within " + std::to_string(options_.timeout.count()) + " s";
        else if (error == http::error::partial_message)
            reason = "the connection closed before the whole body arrived";
        throw Error("GET " + url_ + ": " + std::string(step) + ": " + reason, std::move(hint));
    }

    asio::awaitable<tcp::resolver::results_type> resolve(asio::io_context& io) {
        // getaddrinfo cannot be cancelled, so the resolver's own timeouts apply here.
        tcp::resolver resolver(io);
        boost::system::error_code error;
        auto endpoints = co_await resolver.async_resolve(parsed_.host, parsed_.port,
                                                         asio::redirect_error(asio::use_awaitable, error));
        if (error) fail("resolve " + parsed_.host, error);
        co_return endpoints;
    }

    asio::awaitable<void> connect(beast::tcp_stream& stream, const tcp::resolver::results_type& endpoints) {
        boost::system::error_code error;
        stream.expires_after(options_.timeout);
        co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, error));
        if (error) fail("connect to " + parsed_.authority, error);
    }

    asio::awaitable<std::optional<std::string>> over_tcp(asio::io_context& io) {
        beast::tcp_stream stream(io);
        co_await connect(stream, co_await resolve(io));
        co_return co_await exchange(stream);
    }

    asio::awaitable<std::optional<std::string>> over_tls(asio::io_context& io) {
        ssl::context context(ssl::context::tls_client);
        context.set_default_verify_paths();
        context.set_verify_mode(ssl::verify_peer);
        beast::ssl_stream<beast::tcp_stream> stream(io, context);
        // SNI names a host, never an address (RFC 6066); the certificate is checked
        // against either.
        boost::system::error_code not_an_address;
        asio::ip::make_address(parsed_.host, not_an_address);
        if (not_an_address && !SSL_set_tlsext_host_name(stream.native_handle(), parsed_.host.c_str()))
            throw Error("GET " + url_ + ": cannot set the TLS server name " + parsed_.host);
        stream.set_verify_callback(ssl::host_name_verification(parsed_.host));

        co_await connect(beast::get_lowest_layer(stream), co_await resolve(io));
        boost::system::error_code error;
        beast::get_lowest_layer(stream).expires_after(options_.timeout);
        co_await stream.async_handshake(ssl::stream_base::client,
                                        asio::redirect_error(asio::use_awaitable, error));
        if (error)
            fail("TLS handshake with " + parsed_.authority, error,
                 "certificates are checked against the system's store (Debian: ca-certificates); "
                 "SSL_CERT_FILE or SSL_CERT_DIR name another");
        // No TLS close_notify: the body is complete by its length, and some servers never
        // answer the shutdown, which would cost a whole timeout.
        co_return co_await exchange(stream);
    }

    template <class Stream>
    asio::awaitable<std::optional<std::string>> exchange(Stream& stream) {
        auto& socket = beast::get_lowest_layer(stream);
        auto token = [](boost::system::error_code& error) { return asio::redirect_error(asio::use_awaitable, error); };
        boost::system::error_code error;

        http::request<http::empty_body> request(http::verb::get, parsed_.target, 11);
        request.set(http::field::host, parsed_.authority);
        request.set(http::field::user_agent, "bincastle");
        request.set(http::field::accept, "*/*");
        request.set(http::field::connection, "close");
        socket.expires_after(options_.timeout);
        co_await http::async_write(stream, request, token(error));
        if (error) fail("send the request", error);

        http::response_parser<http::buffer_body> parser;
        parser.body_limit(boost::none);  // archives are larger than the 8 MB default
        beast::flat_buffer buffer;
        socket.expires_after(options_.timeout);
        co_await http::async_read_header(stream, buffer, parser, token(error));
        if (error) fail("read the response", error);

        const auto& response = parser.get();
        const unsigned status = response.result_int();
        if (is_redirect(status)) {
            const auto location = response.find(http::field::location);
            if (location == response.end())
                throw Error("GET " + url_ + ": HTTP " + std::to_string(status) + " without a Location");
            co_return resolve_location(url_, location->value());
        }
        if (status != 200) {
            throw Error("GET " + url_ + ": HTTP " + std::to_string(status) + " " +
                        std::string(response.reason()));
        }

        auto chunk = std::make_unique<std::array<char, 64 * 1024>>();
        while (!parser.is_done()) {
            parser.get().body().data = chunk->data();
            parser.get().body().size = chunk->size();
            socket.expires_after(options_.timeout);
            co_await http::async_read(stream, buffer, parser, token(error));
            // need_buffer only says the chunk is full.
            if (error && error != http::error::need_buffer) {
                fail("read the body", error);
            }
            sink_(std::string_view(chunk->data(), chunk->size() - parser.get().body().size));
        }
        co_return std::nullopt;
    }

    const std::string& url_;
    const Url parsed_;
    const HttpOptions& options_;
    const HttpBodySink& sink_;
};

}  // namespace

void http_get(const std::string& url, const HttpBodySink& sink, const HttpOptions& options) {
    std::string current = url;
    for (int redirects = 0;; ++redirects) {
        std::optional<std::string> location;
        try {
            location = Exchange(current, options, sink).run();
        } catch (const Error& error) {
            if (current == url) throw;
            throw error.with_context("following redirects from " + url);
        }
        if (!location) return;
        if (redirects == options.max_redirects)
            throw Error("GET " + url + ": more than " + std::to_string(options.max_redirects) + " redirects");
        current = std::move(*location);
    }
}

}  // namespace bincastle
