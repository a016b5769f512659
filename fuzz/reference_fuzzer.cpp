// Image references as users and scripts write them (--import-cache, --push).
// Input: the first byte chooses --insecure-registry, the rest is the reference.

#include "remote/reference.hpp"

#include <bincastle/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const bool insecure = data[0] & 1;
    const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        const auto reference = bincastle::remote::Reference::parse(text, insecure);
        // Plain http only where the parser promises it.
        if (reference.plain_http && !insecure && !bincastle::remote::is_loopback_host(reference.host))
            __builtin_trap();
        reference.origin();
        reference.str();
    } catch (const bincastle::Error&) {
    }
    return 0;
}
