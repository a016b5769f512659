#include "source/archive_fetch.hpp"
#include "http/http_get.hpp"
#include "util/file_tree.hpp"
#include "util/process.hpp"
#include "util/tar_extract.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include "test_files.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <openssl/evp.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sys/stat.h>
#include <thread>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using namespace bincastle;
using bincastle::testing::FileSizeLimit;
using bincastle::testing::read;
using bincastle::testing::ScopedEnv;
using bincastle::testing::write;

namespace {

std::string sha256_of(const fs::path& path) {
    const std::string content = read(path);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    REQUIRE(EVP_Digest(content.data(), content.size(), digest, &size, EVP_sha256(), nullptr) == 1);
    std::string text;
    for (unsigned int i = 0; i < size; ++i) {
        static constexpr char digits[] = "0123456789abcdef";
        text += digits[digest[i] >> 4];
        text += digits[digest[i] & 0xf];
    }
    return text;
}

// Serves the files of one directory on 127.0.0.1, plus /fail (500), /redirect/NAME (302 to
// /NAME), /plain/PORT/NAME (302 to http://127.0.0.1:PORT/NAME) and /loop (a redirect to
// itself), until stopped or dropped; over TLS when given a certificate and its key.
class TestServer {
public:
    explicit TestServer(fs::path root, const fs::path& certificate = {}, const fs::path& key = {})
        : root_(std::move(root)), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        if (!certificate.empty()) {
            tls_.emplace(ssl::context::tls_server);
            tls_->use_certificate_chain_file(certificate.string());
            tls_->use_private_key_file(key.string(), ssl::context::pem);
        }
        port_ = acceptor_.local_endpoint().port();
        asio::co_spawn(io_, accept(), [](std::exception_ptr) {});
        thread_ = std::thread([this] { io_.run(); });
    }
    TestServer(const TestServer&) = delete;
    TestServer& operator=(const TestServer&) = delete;
    ~TestServer() { stop(); }

    // Afterwards the port refuses connections.
    void stop() {
        if (!thread_.joinable()) return;
        io_.stop();
        thread_.join();
        acceptor_.close();
    }

    std::string url(const std::string& path) const {
        return (tls_ ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(port_) + "/" + path;
    }

private:
    asio::awaitable<void> accept() {
        for (;;) {
            tcp::socket socket = co_await acceptor_.async_accept(asio::use_awaitable);
            asio::co_spawn(io_, serve(std::move(socket)), [](std::exception_ptr) {});
        }
    }

    asio::awaitable<void> serve(tcp::socket socket) {
        if (!tls_) {
            co_await answer(socket);
            socket.shutdown(tcp::socket::shutdown_send);
            co_return;
        }
        ssl::stream<tcp::socket> stream(std::move(socket), *tls_);
        co_await stream.async_handshake(ssl::stream_base::server, asio::use_awaitable);
        co_await answer(stream);
    }

    template <class Stream>
    asio::awaitable<void> answer(Stream& stream) {
        beast::flat_buffer buffer;
        http::request<http::empty_body> request;
        co_await http::async_read(stream, buffer, request, asio::use_awaitable);
        const std::string target(request.target());
        http::response<http::string_body> response(http::status::ok, 11);
        if (target == "/fail") {
            response.result(http::status::internal_server_error);
        } else if (target == "/loop") {
            response.result(http::status::found);
            response.set(http::field::location, "/loop");
        } else if (target.starts_with("/plain/")) {
            response.result(http::status::found);
            response.set(http::field::location, "http://127.0.0.1:" + target.substr(7));
        } else if (target.starts_with("/redirect/")) {
            response.result(http::status::found);
            response.set(http::field::location, "/" + target.substr(10));
        } else if (fs::is_regular_file(root_ / target.substr(1))) {
            response.body() = read(root_ / target.substr(1));
        } else {
            response.result(http::status::not_found);
        }
        response.prepare_payload();
        co_await http::async_write(stream, response, asio::use_awaitable);
    }

    fs::path root_;
    asio::io_context io_;
    std::optional<ssl::context> tls_;
    tcp::acceptor acceptor_;
    unsigned short port_ = 0;
    std::thread thread_;
};

// A port on 127.0.0.1 that nothing listens on.
unsigned short closed_port() {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return acceptor.local_endpoint().port();
}

// pkg-1.0/{README, bin/tool (executable), link -> README, hard (a hard link to README),
// sub/deep/file}, packed by the tar program with `flag` for its compression.
fs::path make_archive(const fs::path& dir, const std::string& name, const std::string& flag) {
    const fs::path tree = dir / "tree";
    if (!fs::exists(tree)) {
        write(tree / "pkg-1.0/README", "hello\n");
        write(tree / "pkg-1.0/bin/tool", "#!/bin/sh\n", 0755);
        write(tree / "pkg-1.0/sub/deep/file", "deep\n");
        fs::create_symlink("README", tree / "pkg-1.0/link");
        fs::create_hard_link(tree / "pkg-1.0/README", tree / "pkg-1.0/hard");
    }
    const fs::path archive = dir / "served" / name;
    fs::create_directories(archive.parent_path());
    std::vector<std::string> argv = {"tar", "-C", tree.string(), "-cf", archive.string()};
    if (!flag.empty()) argv.insert(argv.begin() + 1, flag);
    argv.push_back("pkg-1.0");
    REQUIRE(run_program(argv) == 0);
    return archive;
}

// A tar of one file whose member name is `name`, however unsafe (tar's -P keeps it).
fs::path make_unsafe_archive(const fs::path& dir, const std::string& name) {
    write(dir / "payload", "evil\n");
    const fs::path archive = dir / "unsafe.tar";
    REQUIRE(run_program({"tar", "-C", dir.string(), "-P", "--transform=s,^payload$," + name + ",",
                         "-cf", archive.string(), "payload"}) == 0);
    return archive;
}

std::string error_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const Error& error) {
        return error.what();
    }
    FAIL("no error");
    return {};
}

void check_extracted(const fs::path& out) {
    CHECK(read(out / "README") == "hello\n");
    CHECK(read(out / "sub/deep/file") == "deep\n");
    CHECK((fs::status(out / "bin/tool").permissions() & fs::perms::owner_exec) != fs::perms::none);
    CHECK((fs::status(out / "README").permissions() & fs::perms::owner_exec) == fs::perms::none);
    CHECK(fs::is_symlink(out / "link"));
    CHECK(fs::read_symlink(out / "link") == "README");
    CHECK(fs::equivalent(out / "hard", out / "README"));
}

}  // namespace

TEST_CASE("archive: every compression extracts files, modes, symlinks and hard links") {
    TempDir dir("bincastle-archive-test");
    TestServer server(dir.path() / "served");
    for (const auto& [name, flag] : std::vector<std::pair<std::string, std::string>>{
             {"pkg.tar", ""}, {"pkg.tar.gz", "-z"}, {"pkg.tar.bz2", "-j"}, {"pkg.tar.xz", "-J"},
             {"pkg.tar.zst", "--zstd"}}) {
        CAPTURE(name);
        const fs::path archive = make_archive(dir.path(), name, flag);
        const fs::path out = dir.path() / ("out-" + name);
        fs::create_directories(out);
        fetch_archive(dir.path() / "store", server.url(name), sha256_of(archive), 1, out);
        check_extracted(out);
        CHECK(fs::exists(dir.path() / "store/downloads" / sha256_of(archive)));
    }
}

TEST_CASE("archive: strip_components drops leading components and skips shorter entries") {
    TempDir dir("bincastle-archive-test");
    const fs::path archive = make_archive(dir.path(), "pkg.tar.gz", "-z");
    fs::create_directories(dir.path() / "zero");
    extract_tar(archive, dir.path() / "zero");
    CHECK(read(dir.path() / "zero/pkg-1.0/README") == "hello\n");
    CHECK(fs::equivalent(dir.path() / "zero/pkg-1.0/hard", dir.path() / "zero/pkg-1.0/README"));

    fs::create_directories(dir.path() / "two");
    extract_tar(archive, dir.path() / "two", {.strip_components = 2});
    CHECK(read(dir.path() / "two/deep/file") == "deep\n");
    CHECK(fs::exists(dir.path() / "two/tool"));
    CHECK_FALSE(fs::exists(dir.path() / "two/README"));
    CHECK_FALSE(fs::exists(dir.path() / "two/link"));
}

TEST_CASE("archive: a wrong sha256 is refused and nothing is kept") {
    TempDir dir("bincastle-archive-test");
    const fs::path archive = make_archive(dir.path(), "pkg.tar.gz", "-z");
    TestServer server(dir.path() / "served");
    const std::string wrong(64, 'a');
    const fs::path out = dir.path() / "out";
    fs::create_directories(out);
    const std::string message =
        error_of([&] { fetch_archive(dir.path() / "store", server.url("pkg.tar.gz"), wrong, 1, out); });
    CHECK(message.find(server.url("pkg.tar.gz")) != std::string::npos);
    CHECK(message.find(wrong) != std::string::npos);
    CHECK(message.find(sha256_of(archive)) != std::string::npos);
    CHECK(fs::is_empty(dir.path() / "store/downloads"));
    CHECK(fs::is_empty(out));

    CHECK(error_of([&] { fetch_archive(dir.path() / "store", server.url("pkg.tar.gz"), "abc", 1, out); })
              .find("not 64 hex digits") != std::string::npos);
}

TEST_CASE("archive: a second fetch comes from the downloads cache") {
    TempDir dir("bincastle-archive-test");
    const fs::path archive = make_archive(dir.path(), "pkg.tar.xz", "-J");
    TestServer server(dir.path() / "served");
    const std::string url = server.url("pkg.tar.xz");
    fs::create_directories(dir.path() / "one");
    fetch_archive(dir.path() / "store", url, sha256_of(archive), 1, dir.path() / "one");
    server.stop();
    fs::create_directories(dir.path() / "two");
    fetch_archive(dir.path() / "store", url, sha256_of(archive), 1, dir.path() / "two");
    check_extracted(dir.path() / "two");
    // Only the archive itself: no partial file left beside it.
    CHECK(std::distance(fs::directory_iterator(dir.path() / "store/downloads"), fs::directory_iterator()) == 1);
}

TEST_CASE("archive: a mirror is tried before the URL and its file must match the sha256") {
    TempDir dir("bincastle-archive-test");
    const fs::path archive = make_archive(dir.path(), "pkg.tar.bz2", "-j");
    const std::string digest = sha256_of(archive);
    const std::string dead_url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/dist/pkg.tar.bz2";

    SUBCASE("a local directory") {
        const std::string mirror = (dir.path() / "served").string();
        fs::create_directories(dir.path() / "out");
        fetch_archive(dir.path() / "store", dead_url, digest, 1, dir.path() / "out", mirror);
        check_extracted(dir.path() / "out");
    }
    SUBCASE("a URL prefix") {
        TestServer server(dir.path());
        const std::string mirror = server.url("served");
        fs::create_directories(dir.path() / "out");
        fetch_archive(dir.path() / "store", dead_url, digest, 1, dir.path() / "out", mirror);
        check_extracted(dir.path() / "out");
    }
    SUBCASE("a mirror without the file falls back to the URL") {
        TestServer server(dir.path() / "served");
        fs::create_directories(dir.path() / "empty-mirror");
        const std::string mirror = (dir.path() / "empty-mirror").string();
        fs::create_directories(dir.path() / "out");
        fetch_archive(dir.path() / "store", server.url("pkg.tar.bz2"), digest, 1, dir.path() / "out", mirror);
        check_extracted(dir.path() / "out");
    }
    SUBCASE("a mirror file with another digest is refused") {
        TestServer server(dir.path() / "served");
        write(dir.path() / "bad-mirror/pkg.tar.bz2", "not the archive");
        const std::string mirror = (dir.path() / "bad-mirror").string();
        fs::create_directories(dir.path() / "out");
        const std::string message = error_of(
            [&] { fetch_archive(dir.path() / "store", server.url("pkg.tar.bz2"), digest, 1, dir.path() / "out", mirror); });
        CHECK(message.find((dir.path() / "bad-mirror/pkg.tar.bz2").string()) != std::string::npos);
        CHECK(message.find(digest) != std::string::npos);
        CHECK(message.find(sha256_of(dir.path() / "bad-mirror/pkg.tar.bz2")) != std::string::npos);
        CHECK(fs::is_empty(dir.path() / "store/downloads"));
        CHECK(fs::is_empty(dir.path() / "out"));
    }
}

TEST_CASE("archive: redirects are followed, up to a limit") {
    TempDir dir("bincastle-archive-test");
    const fs::path archive = make_archive(dir.path(), "pkg.tar.zst", "--zstd");
    TestServer server(dir.path() / "served");
    fs::create_directories(dir.path() / "out");
    fetch_archive(dir.path() / "store", server.url("redirect/pkg.tar.zst"), sha256_of(archive), 1,
                  dir.path() / "out");
    check_extracted(dir.path() / "out");

    CHECK(error_of([&] {
              fetch_archive(dir.path() / "store", server.url("loop"), std::string(64, '0'), 0, dir.path() / "out");
          }).find("more than 5 redirects") != std::string::npos);
}

TEST_CASE("archive: an HTTP error and a closed port are clear errors") {
    TempDir dir("bincastle-archive-test");
    TestServer server(dir.path());
    fs::create_directories(dir.path() / "out");
    const std::string digest(64, '0');

    const std::string failed =
        error_of([&] { fetch_archive(dir.path() / "store", server.url("fail"), digest, 0, dir.path() / "out"); });
    CHECK(failed.find(server.url("fail")) != std::string::npos);
    CHECK(failed.find("HTTP 500 Internal Server Error") != std::string::npos);

    const std::string missing =
        error_of([&] { fetch_archive(dir.path() / "store", server.url("none.tar"), digest, 0, dir.path() / "out"); });
    CHECK(missing.find("HTTP 404") != std::string::npos);

    const std::string dead_url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/pkg.tar";
    const std::string refused =
        error_of([&] { fetch_archive(dir.path() / "store", dead_url, digest, 0, dir.path() / "out"); });
    CHECK(refused.find(dead_url) != std::string::npos);
    CHECK(refused.find("Connection refused") != std::string::npos);
    CHECK(fs::is_empty(dir.path() / "store/downloads"));
}

TEST_CASE("archive: a write the disk refuses names the file and the reason") {
    TempDir dir("bincastle-archive-test");
    // 1 MiB of one letter packs to a few KiB: the download fits under the limit, the
    // file does not (zeros would not do: they become holes, which take no room).
    write(dir.path() / "tree/pkg-1.0/big", std::string(1 << 20, 'x'));
    const fs::path archive = dir.path() / "served/pkg.tar.gz";
    fs::create_directories(archive.parent_path());
    REQUIRE(run_program({"tar", "-z", "-C", (dir.path() / "tree").string(), "-cf", archive.string(), "pkg-1.0"}) == 0);
    const std::string dead_url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/pkg.tar.gz";
    const fs::path out = dir.path() / "out";
    fs::create_directories(out);
    FileSizeLimit limit(64 << 10);
    const std::string message = error_of([&] {
        fetch_archive(dir.path() / "store", dead_url, sha256_of(archive), 1, out, (dir.path() / "served").string());
    });
    CAPTURE(message);
    CHECK(message.find(dead_url) != std::string::npos);
    CHECK(message.find("write(" + (out / "big").string() + "): File too large") != std::string::npos);
}

TEST_CASE("archive: unsafe entries are refused and nothing is written outside") {
    TempDir dir("bincastle-archive-test");
    const fs::path out = dir.path() / "dest/out";
    fs::create_directories(out);

    SUBCASE("a .. component") {
        const fs::path archive = make_unsafe_archive(dir.path(), "../evil");
        CHECK(error_of([&] { extract_tar(archive, out); }).find("'../evil'") != std::string::npos);
        CHECK_FALSE(fs::exists(dir.path() / "dest/evil"));
    }
    SUBCASE("a .. component after stripping") {
        const fs::path archive = make_unsafe_archive(dir.path(), "pkg/../../evil");
        CHECK(error_of([&] { extract_tar(archive, out, {.strip_components = 1}); }).find("'..'") != std::string::npos);
        CHECK_FALSE(fs::exists(dir.path() / "dest/evil"));
    }
    SUBCASE("an absolute path") {
        const fs::path target = dir.path() / "absolute-evil";
        const fs::path archive = make_unsafe_archive(dir.path(), target.string());
        CHECK(error_of([&] { extract_tar(archive, out); }).find("absolute path") != std::string::npos);
        CHECK_FALSE(fs::exists(target));
        CHECK_FALSE(fs::exists(out / target.relative_path()));
    }
    SUBCASE("a file through a symlink to outside") {
        fs::create_directories(dir.path() / "outside");
        fs::create_directories(dir.path() / "tree");
        fs::create_symlink("../../outside", dir.path() / "tree/escape");
        write(dir.path() / "tree/payload", "evil\n");
        const fs::path archive = dir.path() / "through.tar";
        REQUIRE(run_program({"tar", "-C", (dir.path() / "tree").string(), "--transform=s,^payload$,escape/evil,",
                             "-cf", archive.string(), "escape", "payload"}) == 0);
        const std::string message = error_of([&] { extract_tar(archive, out); });
        CHECK(message.find("escape/evil") != std::string::npos);
        CHECK(fs::is_symlink(out / "escape"));
        CHECK(fs::is_empty(dir.path() / "outside"));
    }
}

TEST_CASE("archive: https verifies the certificate against the trusted store") {
    TempDir dir("bincastle-archive-test");
    const fs::path archive = make_archive(dir.path(), "pkg.tar.gz", "-z");
    const fs::path certificate = dir.path() / "cert.pem";
    const fs::path key = dir.path() / "key.pem";
    // A self-signed certificate for the address, made quietly.
    REQUIRE(run_program({"sh", "-c",
                         "exec openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
                         "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout \"$1\" -out \"$2\" "
                         "2>/dev/null",
                         "sh", key.string(), certificate.string()}) == 0);
    TestServer server(dir.path() / "served", certificate, key);
    fs::create_directories(dir.path() / "out");

    // Not in the system's store: refused, with the hint.
    try {
        fetch_archive(dir.path() / "store", server.url("pkg.tar.gz"), sha256_of(archive), 1, dir.path() / "out");
        FAIL("an untrusted certificate was accepted");
    } catch (const Error& error) {
        CHECK(std::string(error.what()).find("TLS handshake with 127.0.0.1") != std::string::npos);
        CHECK(std::string(error.what()).find("certificate verify failed") != std::string::npos);
        CHECK(error.hint().find("SSL_CERT_FILE") != std::string::npos);
    }

    ScopedEnv trust("SSL_CERT_FILE", certificate.string());
    fetch_archive(dir.path() / "store", server.url("pkg.tar.gz"), sha256_of(archive), 1, dir.path() / "out");
    check_extracted(dir.path() / "out");

    // From https, a redirect to plain http is refused, as the registry client refuses it.
    TestServer plain(dir.path() / "served");
    const std::string port = plain.url("").substr(17, plain.url("").size() - 18);
    CHECK(error_of([&] { http_get(server.url("plain/" + port + "/pkg.tar.gz"), [](std::string_view) {}); })
              .find("refusing a redirect from https to http://127.0.0.1:" + port + "/pkg.tar.gz") != std::string::npos);
}

TEST_CASE("archive: a server that never answers times out") {
    // Listening without accepting: the kernel completes the connection, nothing answers.
    asio::io_context io;
    tcp::acceptor silent(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const std::string url = "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/pkg.tar";
    HttpOptions options;
    options.timeout = std::chrono::seconds(1);
    const std::string message = error_of([&] { http_get(url, [](std::string_view) {}, options); });
    CHECK(message.find(url) != std::string::npos);
    CHECK(message.find("no answer within 1 s") != std::string::npos);
}
