#pragma once

// An OCI distribution client for one repository of one registry: blobs (HEAD, GET,
// upload: monolithic and streamed, chunked when the registry refuses that), manifests
// (with the OCI Accept headers), bearer-token and basic auth from the user's
// credentials files, redirects, retries with backoff on 5xx and dropped connections
// (an upload starts over as a whole: HEAD, POST, body; never a POST, PATCH or PUT
// of it sent twice).
// Thread-safe: each call takes a kept-alive connection from a pool, so calls from
// several threads run in parallel.

#include "http/http_connection.hpp"
#include "remote/reference.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace bincastle::remote {

struct RegistryOptions {
    std::chrono::seconds timeout{60};
    int attempts = 5;                                // per request, on 5xx and dropped connections
    std::chrono::milliseconds first_backoff{200};    // doubled after each attempt
    std::uint64_t chunk_size = 32 << 20;             // chunked uploads only
};

struct Manifest {
    std::string media_type;
    std::string body;
    std::string digest;  // of body
};

struct TransferCounts {
    std::uint64_t requests = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_received = 0;
    std::uint64_t blobs_uploaded = 0;
};

class RegistryClient {
public:
    // `push`: ask for push rights too when the registry hands out tokens.
    RegistryClient(Reference reference, bool push, RegistryOptions options = {});
    ~RegistryClient();

    const Reference& reference() const { return reference_; }

    // GET /v2/: throws an Error saying why the registry cannot be used (down, refuses
    // the credentials, not a registry).
    void ping();

    // The blob's size, or nullopt when the repository lacks it.
    std::optional<std::uint64_t> blob_size(const std::string& digest);
    // Writes the blob to `file` (created or truncated), checking its size and digest as
    // it arrives: a blob that does not match is an Error, and `file` is then removed.
    // `size` must not be 0; no more than `size` bytes are ever read.
    void get_blob(const std::string& digest, std::uint64_t size, const std::filesystem::path& file);
    // Uploads the blob unless the repository has it; returns whether it uploaded.
    // Monolithic (one streamed PUT); chunked (PATCHes) when the registry refuses that.
    bool put_blob(const std::string& digest, const std::filesystem::path& file);
    bool put_blob_bytes(const std::string& digest, const std::string& data);

    // The manifest at `reference` (a tag or a digest), or nullopt when there is none.
    std::optional<Manifest> get_manifest(const std::string& reference);
    bool has_manifest(const std::string& reference);
    void put_manifest(const std::string& reference, const std::string& media_type, const std::string& body);

    TransferCounts counts() const;

private:
    struct Lease;
    // Sends `request`, following redirects and answering an auth challenge; with
    // `retries`, sends it again (after a backoff) on a 5xx or a dropped connection.
    HttpResponse execute(HttpRequest request, const std::function<void()>& restart = {}, bool retries = true);
    HttpResponse send_once(HttpRequest& request, bool registry_origin);
    void authenticate(const std::string& challenge);
    std::string repository_url(const std::string& path) const;
    bool upload(const std::string& digest, int fd, std::uint64_t size, const std::string* bytes);
    bool upload_once(const std::string& digest, int fd, std::uint64_t size, const std::string* bytes);
    [[noreturn]] void fail(const HttpRequest& request, const HttpResponse& response) const;

    Reference reference_;
    bool push_;
    RegistryOptions options_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<HttpConnection>> idle_;
    std::string authorization_;  // the Authorization header, once known
    bool monolithic_refused_ = false;
    std::atomic<std::uint64_t> requests_{0}, sent_{0}, received_{0}, uploaded_{0};
};

// Whether the user's credentials may go to the token service at `realm` for a
// registry at `registry_origin`: never over plain http unless the registry itself is
// spoken to over plain http (loopback or --insecure-registry).
bool may_send_credentials(const std::string& registry_origin, const std::string& realm);

// Media types of the OCI image spec.
inline constexpr const char* oci_manifest_type = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* oci_index_type = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* oci_config_type = "application/vnd.oci.image.config.v1+json";

}  // namespace bincastle::remote
