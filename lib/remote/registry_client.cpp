#include "remote/registry_client.hpp"

#include "remote/credentials.hpp"
#include "http/redirects.hpp"
#include "remote/registry_auth.hpp"
#include "util/sha256.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <boost/json.hpp>

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
namespace json = boost::json;

namespace bincastle::remote {

namespace {

// The manifest types a cache or image may be stored as: distribution 2.8 answers 404
// to a GET of an OCI manifest that does not list its type here.
const char* const manifest_accept =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

std::string url_encode(std::string_view text) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string with_query(const std::string& url, const std::string& query) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + query;
}

}  // namespace

bool may_send_credentials(const std::string& registry_origin, const std::string& realm) {
    return Url::parse(realm).tls || !Url::parse(registry_origin).tls;
}

struct RegistryClient::Lease {
    RegistryClient& client;
    std::unique_ptr<HttpConnection> connection;
    explicit Lease(RegistryClient& client) : client(client) {
        std::lock_guard lock(client.mutex_);
        if (!client.idle_.empty()) {
            connection = std::move(client.idle_.back());
            client.idle_.pop_back();
        }
        if (!connection) connection = std::make_unique<HttpConnection>(client.options_.timeout);
    }
    ~Lease() {
        std::lock_guard lock(client.mutex_);
        client.idle_.push_back(std::move(connection));
    }
};

RegistryClient::RegistryClient(Reference reference, bool push, RegistryOptions options)
    : reference_(std::move(reference)), push_(push), options_(options) {}

RegistryClient::~RegistryClient() = default;

std::string RegistryClient::repository_url(const std::string& path) const {
    return reference_.origin() + "/v2/" + reference_.repository + "/" + path;
}

TransferCounts RegistryClient::counts() const {
    return {requests_.load(), sent_.load(), received_.load(), uploaded_.load()};
}

HttpResponse RegistryClient::send_once(HttpRequest& request, bool registry_origin) {
    Lease lease(*this);
    HttpRequest sent = request;
    if (registry_origin) {
        std::lock_guard lock(mutex_);
        if (!authorization_.empty()) sent.headers.emplace_back("Authorization", authorization_);
    }
    if (sent.sink) {
        auto inner = sent.sink;
        sent.sink = [this, inner](std::string_view piece) {
            received_ += piece.size();
            inner(piece);
        };
    }
    ++requests_;
    HttpResponse response = lease.connection->send(sent);
    sent_ += sent.body_fd >= 0 ? sent.body_length : sent.body.size();
    received_ += response.body.size();
    return response;
}

void RegistryClient::authenticate(const std::string& header) {
    const Challenge challenge = parse_challenge(header);
    const std::optional<Credentials> credentials = find_credentials(reference_.registry);
    const std::string basic =
        credentials ? "Basic " + base64_encode(credentials->user + ":" + credentials->password) : std::string();
    const std::string login_hint = "log in first (podman login, skopeo login or docker login " +
                                   reference_.registry + " write the credentials files bincastle reads)";
    if (challenge.scheme == "basic") {
        if (!credentials) throw Error(reference_.registry + " asks for a user name and password", login_hint);
        std::lock_guard lock(mutex_);
        authorization_ = basic;
        return;
    }
    if (challenge.scheme != "bearer" || challenge.param("realm").empty())
        throw Error(reference_.registry + " asks for authentication bincastle does not know: " + header);
    std::string scope = challenge.param("scope");
    if (scope.empty()) scope = "repository:" + reference_.repository + (push_ ? ":pull,push" : ":pull");
    std::string url = challenge.param("realm");
    std::string query;
    if (!challenge.param("service").empty()) query = "service=" + url_encode(challenge.param("service"));
    query += (query.empty() ? "" : "&") + std::string("scope=") + url_encode(scope);
    HttpRequest request;
    request.url = with_query(url, query);
    if (credentials && !may_send_credentials(reference_.origin(), url))
        throw Error(reference_.registry + " names a token service over plain http (" + url +
                        "): the credentials of " + credentials->user + " are not sent there",
                    "an https registry's token service must use https too; fix the registry's configuration");
    if (credentials) request.headers.emplace_back("Authorization", basic);
    Lease lease(*this);
    ++requests_;
    HttpResponse response = lease.connection->send(request);
    if (response.status == 401 || response.status == 403)
        throw Error("the token service of " + reference_.registry + " refused " +
                        (credentials ? "the credentials of " + credentials->user : std::string("an anonymous request")),
                    login_hint);
    if (response.status != 200) fail(request, response);
    const std::string token = parse_token_answer(response.body);
    if (token.empty()) throw Error("the token service of " + reference_.registry + " answered without a token");
    std::lock_guard lock(mutex_);
    authorization_ = "Bearer " + token;
}

HttpResponse RegistryClient::execute(HttpRequest request, const std::function<void()>& restart, bool retries) {
    const std::string origin = reference_.origin();
    bool authenticated = false;
    int redirects = 0;
    for (int attempt = 1;; ++attempt) {
        const bool registry_origin = Url::parse(request.url).origin() == origin;
        HttpResponse response;
        bool retry = false;
        try {
            response = send_once(request, registry_origin);
        } catch (const TransportError& error) {
            if (!retries || !error.retryable() || attempt >= options_.attempts) throw;
            retry = true;
        }
        if (!retry && response.status == 401 && registry_origin && !authenticated) {
            authenticate(response.header("www-authenticate"));
            authenticated = true;
            --attempt;
            if (restart) restart();
            continue;
        }
        if (!retry && is_redirect(response.status) && !response.header("location").empty()) {
            if (++redirects > max_redirects)
                throw Error(request.method + " " + request.url + ": more than " + std::to_string(max_redirects) +
                            " redirects");
            const std::string next = resolve_location(request.url, response.header("location"));
            if (!may_follow_redirect(request.url, next))
                throw Error(request.method + " " + request.url + ": refusing a redirect from https to " + next);
            request.url = next;
            --attempt;
            if (restart) restart();
            continue;
        }
        if (!retry && (!retries || response.status < 500 || attempt >= options_.attempts)) return response;
        // 5xx or a dropped connection: the registry may be restarting or overloaded.
        std::this_thread::sleep_for(options_.first_backoff * (1 << (attempt - 1)));
        if (restart) restart();
    }
}

void RegistryClient::fail(const HttpRequest& request, const HttpResponse& response) const {
    std::string message;
    try {
        json::value document = json::parse(response.body);
        for (const auto& error : document.at("errors").as_array()) {
            if (!message.empty()) message += "; ";
            message += std::string(error.at("code").as_string()) + ": " + std::string(error.at("message").as_string());
        }
    } catch (const std::exception&) {
        message = response.body.substr(0, 200);
    }
    std::string hint;
    if (response.status == 401 || response.status == 403)
        hint = "log in first (podman login, skopeo login or docker login " + reference_.registry + ")";
    throw Error(request.method + " " + request.url + ": HTTP " + std::to_string(response.status) +
                    (message.empty() ? "" : ": " + message),
                hint);
}

void RegistryClient::ping() {
    HttpRequest request;
    request.url = reference_.origin() + "/v2/";
    HttpResponse response = execute(request);
    if (response.status == 200) return;
    if (response.status == 404)
        throw Error(reference_.registry + " is not an OCI registry (GET /v2/ answered 404)");
    fail(request, response);
}

std::optional<std::uint64_t> RegistryClient::blob_size(const std::string& digest) {
    HttpRequest request;
    request.method = "HEAD";
    request.url = repository_url("blobs/" + digest);
    HttpResponse response = execute(request);
    if (response.status == 404) return std::nullopt;
    if (response.status != 200) fail(request, response);
    return std::stoull("0" + response.header("content-length"));
}

void RegistryClient::get_blob(const std::string& digest, std::uint64_t size, const fs::path& file) {
    // The size (from the manifest) bounds what is read: a registry cannot fill the disk.
    if (size == 0) throw Error("blob " + digest + " from " + reference_.str() + ": its manifest gives it no size");
    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw SysError("open", file.string());
    std::optional<Sha256> hasher;
    hasher.emplace();
    std::uint64_t received = 0;
    auto restart = [&] {
        if (::ftruncate(fd.get(), 0) != 0 || ::lseek(fd.get(), 0, SEEK_SET) != 0) throw SysError("ftruncate", file.string());
        hasher.emplace();
        received = 0;
    };
    HttpRequest request;
    request.url = repository_url("blobs/" + digest);
    request.max_body = size;
    request.sink = [&](std::string_view piece) {
        if (piece.size() > size - received)
            throw Error("blob " + digest + " from " + reference_.str() + ": more than its " + std::to_string(size) +
                            " bytes arrive",
                        "the registry's copy is damaged or was tampered with; nothing of it was kept");
        hasher->update(piece);
        received += piece.size();
        for (std::size_t done = 0; done < piece.size();) {
            ssize_t n = ::write(fd.get(), piece.data() + done, piece.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw SysError("write", file.string());
            done += static_cast<std::size_t>(n);
        }
    };
    try {
        HttpResponse response = execute(request, restart);
        if (response.status != 200) fail(request, response);
        const std::string got = hasher->digest();
        if (got != digest || received != size)
            throw Error("blob " + digest + " from " + reference_.str() + " does not match its digest: got " +
                            std::to_string(received) + " bytes with " + got + ", expected " + std::to_string(size) +
                            " bytes",
                        "the registry's copy is damaged or was tampered with; nothing of it was kept");
    } catch (...) {
        ::unlink(file.c_str());
        throw;
    }
}

bool RegistryClient::put_blob(const std::string& digest, const fs::path& file) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw SysError("open", file.string());
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw SysError("fstat", file.string());
    return upload(digest, fd.get(), static_cast<std::uint64_t>(st.st_size), nullptr);
}

bool RegistryClient::put_blob_bytes(const std::string& digest, const std::string& data) {
    return upload(digest, -1, data.size(), &data);
}

bool RegistryClient::upload(const std::string& digest, int fd, std::uint64_t size, const std::string* bytes) {
    // A failed POST, PATCH or PUT is never sent again: the upload session it belongs
    // to may hold part of the body already (a PATCH the registry applied before the
    // connection dropped), and a PUT after a dropped PATCH would commit a short blob
    // or fail. The whole upload starts over instead (HEAD, POST, body), after a backoff.
    for (int attempt = 1;; ++attempt) {
        try {
            return upload_once(digest, fd, size, bytes);
        } catch (const TransportError& error) {
            if (!error.retryable() || attempt >= options_.attempts) throw;
        }
        std::this_thread::sleep_for(options_.first_backoff * (1 << (attempt - 1)));
    }
}

bool RegistryClient::upload_once(const std::string& digest, int fd, std::uint64_t size, const std::string* bytes) {
    if (blob_size(digest)) return false;
    // A 5xx answer to a request of the upload: the upload is retried as a whole.
    auto failed = [&](const HttpRequest& request, const HttpResponse& response) {
        if (response.status >= 500)
            throw TransportError(request.method + " " + request.url + ": HTTP " + std::to_string(response.status), true);
        fail(request, response);
    };
    auto once = [&](const HttpRequest& request) { return execute(request, {}, false); };
    auto start = [&] {
        HttpRequest post;
        post.method = "POST";
        post.url = repository_url("blobs/uploads/");
        HttpResponse response = once(post);
        if (response.status != 202 || response.header("location").empty()) failed(post, response);
        return resolve_location(post.url, response.header("location"));
    };
    auto body = [&](HttpRequest& request, std::uint64_t offset, std::uint64_t length) {
        request.headers.emplace_back("Content-Type", "application/octet-stream");
        if (bytes) {
            request.body = bytes->substr(offset, length);
        } else {
            request.body_fd = fd;
            request.body_offset = offset;
            request.body_length = length;
        }
    };
    bool monolithic;
    {
        std::lock_guard lock(mutex_);
        monolithic = !monolithic_refused_;
    }
    if (monolithic) {
        HttpRequest put;
        put.method = "PUT";
        put.url = with_query(start(), "digest=" + url_encode(digest));
        body(put, 0, size);
        HttpResponse response = once(put);
        if (response.status == 201 || response.status == 204) {
            ++uploaded_;
            return true;
        }
        // Too large for one request (a proxy's limit), or not supported: in chunks.
        if (response.status != 413 && response.status != 405 && response.status != 416 && response.status != 501)
            failed(put, response);
        std::lock_guard lock(mutex_);
        monolithic_refused_ = true;
    }
    std::string location = start();
    for (std::uint64_t offset = 0; offset < size;) {
        const std::uint64_t length = std::min(options_.chunk_size, size - offset);
        HttpRequest patch;
        patch.method = "PATCH";
        patch.url = location;
        patch.headers.emplace_back("Content-Range",
                                   std::to_string(offset) + "-" + std::to_string(offset + length - 1));
        body(patch, offset, length);
        HttpResponse response = once(patch);
        if (response.status != 202 && response.status != 204) failed(patch, response);
        if (!response.header("location").empty()) location = resolve_location(location, response.header("location"));
        offset += length;
    }
    HttpRequest put;
    put.method = "PUT";
    put.url = with_query(location, "digest=" + url_encode(digest));
    HttpResponse response = once(put);
    if (response.status != 201 && response.status != 204) failed(put, response);
    ++uploaded_;
    return true;
}

std::optional<Manifest> RegistryClient::get_manifest(const std::string& reference) {
    HttpRequest request;
    request.url = repository_url("manifests/" + reference);
    request.headers.emplace_back("Accept", manifest_accept);
    HttpResponse response = execute(request);
    if (response.status == 404) return std::nullopt;
    if (response.status != 200) fail(request, response);
    Manifest manifest{response.header("content-type"), std::move(response.body), {}};
    manifest.digest = sha256_digest(manifest.body);
    if (is_sha256_digest(reference) && manifest.digest != reference)
        throw Error("manifest " + reference + " from " + reference_.str() + " does not match its digest (got " +
                    manifest.digest + ")");
    return manifest;
}

bool RegistryClient::has_manifest(const std::string& reference) {
    HttpRequest request;
    request.method = "HEAD";
    request.url = repository_url("manifests/" + reference);
    request.headers.emplace_back("Accept", manifest_accept);
    HttpResponse response = execute(request);
    if (response.status == 404) return false;
    if (response.status != 200) fail(request, response);
    return true;
}

void RegistryClient::put_manifest(const std::string& reference, const std::string& media_type,
                                  const std::string& body) {
    HttpRequest request;
    request.method = "PUT";
    request.url = repository_url("manifests/" + reference);
    request.headers.emplace_back("Content-Type", media_type);
    request.body = body;
    HttpResponse response = execute(request);
    if (response.status != 201 && response.status != 200) fail(request, response);
}

}  // namespace bincastle::remote
