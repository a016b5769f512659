#pragma once

// The canonical byte encoding that keys hash. Every field is a one-byte tag and a
// length-prefixed value, so that no two different recipes encode alike. Changing
// what a field means needs a new format version: the golden test pins it.

#include <bincastle/key.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bincastle {

inline constexpr std::string_view key_format_version = "bincastle-key-v1";

class KeyEncoder {
public:
    // Starts with the format version and what is being encoded ("layer", "tree", ...).
    explicit KeyEncoder(std::string_view kind);

    KeyEncoder& field(char tag, std::string_view value);
    KeyEncoder& field(char tag, std::uint64_t value);
    KeyEncoder& field(char tag, const std::vector<std::string>& values);
    KeyEncoder& field(char tag, const Key& key);

    const std::string& bytes() const { return bytes_; }
    Key finish() const;

private:
    void length(std::uint64_t n);
    std::string bytes_;
};

// xxh3-128 of `bytes`, in canonical (big-endian) byte order.
Key hash_bytes(std::string_view bytes);

}  // namespace bincastle
