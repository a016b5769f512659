// URLs from the network: a registry's Location headers and token realms, archive URLs.
// Input: a base URL, a newline, a Location header seen from it.

#include "util/url.hpp"

#include <bincastle/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    const std::size_t newline = input.find('\n');
    const std::string base = input.substr(0, newline);
    try {
        const bincastle::Url url = bincastle::Url::parse(base);
        // What parse promises: a host, a numeric port, a target that starts with '/'.
        if (url.host.empty() || url.port.empty() || !url.target.starts_with('/')) __builtin_trap();
    } catch (const bincastle::Error&) {
    }
    if (newline != std::string::npos) {
        try {
            bincastle::resolve_location(base, input.substr(newline + 1));
        } catch (const bincastle::Error&) {
        }
    }
    return 0;
}
