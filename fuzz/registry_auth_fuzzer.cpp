// What a registry answers about authentication: the WWW-Authenticate header of a 401
// and the JSON of its token service. Input: the header, a newline, the token answer.

#include "remote/registry_auth.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    const std::size_t newline = input.find('\n');
    const auto challenge = bincastle::remote::parse_challenge(input.substr(0, newline));
    challenge.param("realm");
    if (newline != std::string::npos) bincastle::remote::parse_token_answer(input.substr(newline + 1));
    return 0;
}
