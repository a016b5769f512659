#pragma once

// Streaming sha256 (OpenSSL), for OCI digests: "sha256:<64 hex digits>".

#include <cstddef>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace bincastle {

class Sha256 {
public:
    Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    ~Sha256();

    void update(const void* data, std::size_t size);
    void update(std::string_view data) { update(data.data(), data.size()); }
    // "sha256:" and the digest in lowercase hex; the hasher is then reset.
    std::string digest();

private:
    evp_md_ctx_st* context_;
};

// The digest of `data` at once.
std::string sha256_digest(std::string_view data);

// Whether `digest` is "sha256:" and 64 lowercase hex digits (what may name a file).
bool is_sha256_digest(std::string_view digest);

}  // namespace bincastle
