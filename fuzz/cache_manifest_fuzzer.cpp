// A remote cache's OCI image manifest, as any registry may answer it. Input: the
// manifest's body, looked up for the key in the seeds' annotations.

#include "remote/remote_cache.hpp"

#include <bincastle/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bincastle::remote::CacheLayer layer{
        "fuzzed", bincastle::Key::from_hex("00112233445566778899aabbccddeeff"), {}};
    const std::string body(reinterpret_cast<const char*>(data), size);
    try {
        const auto blob = bincastle::remote::parse_cache_manifest(body, layer, "registry.example/cache");
        // What the pull relies on: a size that bounds the download, a sha256 digest.
        if (blob.size == 0 || blob.digest.size() != 71) __builtin_trap();
    } catch (const bincastle::Error&) {
    }
    return 0;
}
