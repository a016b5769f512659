#include "http/redirects.hpp"
#include "oci/layer_tar.hpp"
#include "remote/credentials.hpp"
#include "remote/reference.hpp"
#include "remote/registry_client.hpp"
#include "util/sha256.hpp"
#include "util/file_tree.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace bincastle;

TEST_CASE("registry references: plain http only for loopback or when asked") {
    auto local = remote::Reference::parse("127.0.0.1:5000/cache", false);
    CHECK(local.plain_http);
    CHECK(local.registry == "127.0.0.1:5000");
    CHECK(local.repository == "cache");
    CHECK(local.tag.empty());
    CHECK(remote::Reference::parse("localhost/a/b:v1", false).plain_http);
    CHECK(remote::Reference::parse("[::1]:5000/a", false).plain_http);
    auto far = remote::Reference::parse("registry.example:5000/team/cache:v2", false);
    CHECK_FALSE(far.plain_http);
    CHECK(far.origin() == "https://registry.example:5000");
    CHECK(far.repository == "team/cache");
    CHECK(far.tag == "v2");
    CHECK(remote::Reference::parse("registry.example/team/cache", true).plain_http);
    CHECK_THROWS_AS(remote::Reference::parse("cache", false), Error);
    CHECK_THROWS_AS(remote::Reference::parse("host/Upper", false), Error);
}

TEST_CASE("sha256 digests and base64") {
    CHECK(sha256_digest("") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(is_sha256_digest(sha256_digest("x")));
    CHECK_FALSE(is_sha256_digest("sha256:../../etc"));
    CHECK(remote::base64_decode(remote::base64_encode("user:pa:ss")) == "user:pa:ss");
    CHECK(remote::base64_decode(remote::base64_encode("ab")) == "ab");
}

TEST_CASE("a layer with overlay whiteouts goes to tar and back unchanged, byte-identically twice") {
    TempDir temp("bincastle-test");
    const fs::path layer = temp.path() / "layer";
    fs::create_directories(layer / "etc");
    std::ofstream(layer / "etc" / "marker") << "pruned\n";
    REQUIRE(::setxattr((layer / "etc").c_str(), "user.overlay.opaque", "y", 1, 0) == 0);
    fs::create_directories(layer / "bin");
    REQUIRE(::mknod((layer / "bin" / "vi").c_str(), S_IFCHR, makedev(0, 0)) == 0);
    fs::create_symlink("marker", layer / "etc" / "link");

    exporting::TarOptions options;
    options.compression = exporting::Compression::zstd;
    auto one = exporting::write_layer_tar(layer, temp.path() / "one", options);
    auto two = exporting::write_layer_tar(layer, temp.path() / "two", options);
    CHECK(one.digest == two.digest);
    CHECK(one.diff_id == two.diff_id);

    const fs::path back = temp.path() / "back";
    fs::create_directories(back);
    exporting::extract_layer_tar(temp.path() / "one", back);
    struct stat st {};
    REQUIRE(::lstat((back / "bin" / "vi").c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
    CHECK(st.st_rdev == makedev(0, 0));
    char value[4] = {};
    CHECK(::getxattr((back / "etc").c_str(), "user.overlay.opaque", value, sizeof value) == 1);
    CHECK(value[0] == 'y');
    CHECK(fs::read_symlink(back / "etc" / "link") == "marker");
    CHECK(fs::file_size(back / "etc" / "marker") == 7);
    // And once more from what came back: the same bytes.
    auto three = exporting::write_layer_tar(back, temp.path() / "three", options);
    CHECK(three.digest == one.digest);
}

namespace {

// A registry on 127.0.0.1 that answers each request as `handler` says and logs
// "METHOD target"; one thread per connection, kept alive as long as the client keeps it.
class FakeRegistry {
public:
    struct Request {
        std::string method, target, body;
    };
    using Handler = std::function<std::string(const Request&)>;

    explicit FakeRegistry(Handler handler) : handler_(std::move(handler)) {
        listener_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(listener_);
        sockaddr_in address {};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::listen(listener_.get(), 16) == 0);
        socklen_t length = sizeof address;
        REQUIRE(::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
        port_ = ntohs(address.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    ~FakeRegistry() {
        ::shutdown(listener_.get(), SHUT_RDWR);
        acceptor_.join();
        for (auto& thread : connections_) thread.join();
    }
    std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
    std::vector<std::string> log() {
        std::lock_guard lock(mutex_);
        return log_;
    }

private:
    void accept_loop() {
        for (;;) {
            int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) return;
            connections_.emplace_back([this, fd] { serve(UniqueFd(fd)); });
        }
    }
    void serve(UniqueFd fd) {
        std::string in;
        char buffer[65536];
        for (;;) {
            std::size_t end;
            while ((end = in.find("\r\n\r\n")) == std::string::npos) {
                ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
                if (n <= 0) return;
                in.append(buffer, static_cast<std::size_t>(n));
            }
            const std::string head = in.substr(0, end);
            in.erase(0, end + 4);
            Request request;
            std::istringstream line(head.substr(0, head.find("\r\n")));
            line >> request.method >> request.target;
            std::size_t length = 0;
            if (auto at = lowercase(head).find("content-length:"); at != std::string::npos)
                length = std::stoul(head.substr(at + 15));
            while (in.size() < length) {
                ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
                if (n <= 0) return;
                in.append(buffer, static_cast<std::size_t>(n));
            }
            request.body = in.substr(0, length);
            in.erase(0, length);
            {
                std::lock_guard lock(mutex_);
                log_.push_back(request.method + " " + request.target);
            }
            const std::string out = handler_(request);
            if (::send(fd.get(), out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) return;
        }
    }
    static std::string lowercase(std::string text) {
        for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return text;
    }

    Handler handler_;
    UniqueFd listener_;
    int port_ = 0;
    std::thread acceptor_;
    std::vector<std::thread> connections_;
    std::mutex mutex_;
    std::vector<std::string> log_;
};

std::string answer(int status, const std::string& body = "", const std::string& headers = "") {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
           headers + "\r\n" + body;
}

remote::RegistryOptions quick() {
    remote::RegistryOptions options;
    options.first_backoff = std::chrono::milliseconds(1);
    options.timeout = std::chrono::seconds(5);
    return options;
}

}  // namespace

TEST_CASE("a failed upload starts over with a new session; its PUT is never sent twice") {
    int sessions = 0, puts = 0;
    std::mutex mutex;
    FakeRegistry registry([&](const FakeRegistry::Request& request) {
        std::lock_guard lock(mutex);
        if (request.method == "GET") return answer(200);
        if (request.method == "HEAD") return answer(404);
        if (request.method == "POST")
            return answer(202, "", "Location: /v2/cache/blobs/uploads/" + std::to_string(++sessions) + "\r\n");
        if (request.method == "PUT") return answer(++puts == 1 ? 500 : 201);
        return answer(400);
    });
    remote::RegistryClient client(remote::Reference::parse(registry.host() + "/cache", false), true, quick());
    const std::string data = "layer bytes";
    const std::string digest = sha256_digest(data);
    CHECK(client.put_blob_bytes(digest, data));
    const std::string put1 = "PUT /v2/cache/blobs/uploads/1?digest=" + std::string("sha256%3A") + digest.substr(7);
    const std::string put2 = "PUT /v2/cache/blobs/uploads/2?digest=" + std::string("sha256%3A") + digest.substr(7);
    const std::vector<std::string> expected{"HEAD /v2/cache/blobs/" + digest, "POST /v2/cache/blobs/uploads/", put1,
                                            "HEAD /v2/cache/blobs/" + digest, "POST /v2/cache/blobs/uploads/", put2};
    CHECK(registry.log() == expected);
}

TEST_CASE("a failed PATCH restarts the chunked upload from its first byte, in a new session") {
    int sessions = 0, patches = 0;
    std::mutex mutex;
    std::vector<std::string> bodies;
    FakeRegistry registry([&](const FakeRegistry::Request& request) {
        std::lock_guard lock(mutex);
        if (request.method == "HEAD") return answer(404);
        if (request.method == "POST")
            return answer(202, "", "Location: /v2/cache/blobs/uploads/" + std::to_string(++sessions) + "\r\n");
        if (request.method == "PUT" && request.target.find("digest=") != std::string::npos && request.body.empty())
            return answer(201);
        if (request.method == "PUT") return answer(405);  // no monolithic uploads here
        if (request.method == "PATCH") {
            bodies.push_back(request.target + " " + request.body);
            return answer(++patches == 2 ? 500 : 202);
        }
        return answer(400);
    });
    remote::RegistryOptions options = quick();
    options.chunk_size = 4;
    remote::RegistryClient client(remote::Reference::parse(registry.host() + "/cache", false), true, options);
    const std::string data = "abcdefgh";
    CHECK(client.put_blob_bytes(sha256_digest(data), data));
    const std::vector<std::string> expected{"/v2/cache/blobs/uploads/2 abcd", "/v2/cache/blobs/uploads/2 efgh",
                                            "/v2/cache/blobs/uploads/3 abcd", "/v2/cache/blobs/uploads/3 efgh"};
    CHECK(bodies == expected);
}

TEST_CASE("a blob download reads no more than the manifest's size") {
    const std::string blob(1000, 'x');
    const std::string digest = sha256_digest(blob);
    bool chunked = false;
    FakeRegistry registry([&](const FakeRegistry::Request&) {
        if (!chunked) return answer(200, blob);
        char size[16];
        std::snprintf(size, sizeof size, "%zx", blob.size());
        return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) + "\r\n" + blob + "\r\n0\r\n\r\n";
    });
    TempDir temp("bincastle-test");
    const fs::path file = temp.path() / "blob";
    remote::RegistryClient client(remote::Reference::parse(registry.host() + "/cache", false), false, quick());
    // The size bounds the download: a manifest without one is refused.
    CHECK_THROWS_WITH_AS(client.get_blob(digest, 0, file), doctest::Contains("no size"), Error);
    // A Content-Length above the size: refused before the body is read.
    CHECK_THROWS_WITH_AS(client.get_blob(digest, 10, file), doctest::Contains("announces 1000 bytes"), Error);
    CHECK_FALSE(fs::exists(file));
    // No length announced: refused as soon as more than the size arrives.
    chunked = true;
    CHECK_THROWS_WITH_AS(client.get_blob(digest, 10, file), doctest::Contains("more than its 10 bytes"), Error);
    CHECK_FALSE(fs::exists(file));
    client.get_blob(digest, blob.size(), file);
    CHECK(fs::file_size(file) == blob.size());
}

TEST_CASE("loopback is an address, not a name that starts like one") {
    CHECK(remote::is_loopback_host("127.0.0.1"));
    CHECK(remote::is_loopback_host("127.255.3.4"));
    CHECK(remote::is_loopback_host("::1"));
    CHECK(remote::is_loopback_host("localhost"));
    CHECK_FALSE(remote::is_loopback_host("127.0.0.1.evil.example"));
    CHECK_FALSE(remote::is_loopback_host("127.example"));
    CHECK_FALSE(remote::is_loopback_host("128.0.0.1"));
    CHECK_FALSE(remote::Reference::parse("127.0.0.1.nip.io:5000/cache", false).plain_http);
}

TEST_CASE("credentials never go over plain http from an https registry; no redirect from https to http") {
    CHECK(remote::may_send_credentials("https://registry.example", "https://auth.example/token"));
    CHECK_FALSE(remote::may_send_credentials("https://registry.example", "http://auth.example/token"));
    CHECK(remote::may_send_credentials("http://127.0.0.1:5000", "http://127.0.0.1:5001/token"));
    CHECK(may_follow_redirect("https://registry.example/v2/x", "https://cdn.example/blob"));
    CHECK(may_follow_redirect("http://127.0.0.1:5000/v2/x", "http://127.0.0.1:5001/blob"));
    CHECK_FALSE(may_follow_redirect("https://registry.example/v2/x", "http://cdn.example/blob"));
}
