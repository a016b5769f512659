#include "graph/key_encoder.hpp"

#include "util/hex.hpp"

#include <bincastle/error.hpp>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace bincastle {

std::string Key::hex() const { return hex_encode(bytes.data(), bytes.size()); }

Key Key::from_hex(std::string_view hex) {
    auto value = [&](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    Key key;
    if (hex.size() != 32) throw Error("'" + std::string(hex) + "' is not a key (32 hex digits)");
    for (size_t i = 0; i < 16; ++i) {
        int high = value(hex[2 * i]), low = value(hex[2 * i + 1]);
        if (high < 0 || low < 0) throw Error("'" + std::string(hex) + "' is not a key (32 hex digits)");
        key.bytes[i] = static_cast<std::uint8_t>(high << 4 | low);
    }
    return key;
}

Key hash_bytes(std::string_view bytes) {
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits(bytes.data(), bytes.size()));
    Key key;
    std::copy(std::begin(canonical.digest), std::end(canonical.digest), key.bytes.begin());
    return key;
}

// A layer's encoded recipe (graph.cpp: its env, script, scratch and output dirs, and
// the keys of what it is built on) holds what changes the files a build writes, and
// nothing else. MAKEFLAGS=-jN, which the builder sets from -j, stays out on purpose:
// parallelism must not change a layer's output, and a key that did would rebuild
// every layer when only the number of CPUs changed.
KeyEncoder::KeyEncoder(std::string_view kind) {
    field('V', key_format_version);
    field('K', kind);
}

void KeyEncoder::length(std::uint64_t n) {
    for (int i = 0; i < 8; ++i) bytes_ += static_cast<char>((n >> (8 * i)) & 0xff);
}

KeyEncoder& KeyEncoder::field(char tag, std::string_view value) {
    bytes_ += tag;
    bytes_ += 's';
    length(value.size());
    bytes_.append(value);
    return *this;
}

KeyEncoder& KeyEncoder::field(char tag, std::uint64_t value) {
    bytes_ += tag;
    bytes_ += 'u';
    length(value);
    return *this;
}

KeyEncoder& KeyEncoder::field(char tag, const std::vector<std::string>& values) {
    bytes_ += tag;
    bytes_ += 'l';
    length(values.size());
    for (const auto& value : values) {
        length(value.size());
        bytes_.append(value);
    }
    return *this;
}

KeyEncoder& KeyEncoder::field(char tag, const Key& key) {
    bytes_ += tag;
    bytes_ += 'k';
    bytes_.append(reinterpret_cast<const char*>(key.bytes.data()), key.bytes.size());
    return *this;
}

Key KeyEncoder::finish() const { return hash_bytes(bytes_); }

}  // namespace bincastle
