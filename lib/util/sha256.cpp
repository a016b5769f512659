#include "util/sha256.hpp"

#include "util/hex.hpp"

#include <bincastle/error.hpp>

#include <openssl/evp.h>

namespace bincastle {

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
    if (!context_ || EVP_DigestInit_ex(context_, EVP_sha256(), nullptr) != 1) {
        EVP_MD_CTX_free(context_);
        throw Error("sha256: OpenSSL could not set up a digest");
    }
}

Sha256::~Sha256() { EVP_MD_CTX_free(context_); }

void Sha256::update(const void* data, std::size_t size) {
    if (size > 0 && EVP_DigestUpdate(context_, data, size) != 1) throw Error("sha256: digest update failed");
}

std::string Sha256::digest() {
    unsigned char bytes[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(context_, bytes, &length) != 1 || EVP_DigestInit_ex(context_, EVP_sha256(), nullptr) != 1)
        throw Error("sha256: digest final failed");
    return "sha256:" + hex_encode(bytes, length);
}

std::string sha256_digest(std::string_view data) {
    Sha256 hasher;
    hasher.update(data);
    return hasher.digest();
}

bool is_sha256_digest(std::string_view digest) {
    if (!digest.starts_with("sha256:") || digest.size() != 7 + 64) return false;
    for (char c : digest.substr(7))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace bincastle
