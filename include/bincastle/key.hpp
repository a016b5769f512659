#pragma once

// A layer's content key: xxh3-128 of a canonical, versioned encoding of its recipe
// and of the keys of everything present while it builds. Same key, same output.

#include <bincastle/export.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace bincastle {

struct Key {
    std::array<std::uint8_t, 16> bytes{};

    // 32 lowercase hex digits.
    BINCASTLE_API std::string hex() const;
    // Parses 32 hex digits; throws bincastle::Error otherwise.
    BINCASTLE_API static Key from_hex(std::string_view hex);

    bool operator==(const Key&) const = default;
    auto operator<=>(const Key&) const = default;
};

}  // namespace bincastle
