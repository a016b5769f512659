#include "graph/key_encoder.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

using namespace bincastle;

TEST_CASE("keys are xxh3-128 in canonical byte order, as xxhsum -H2 prints them") {
    // printf 'abc' | xxhsum -H2
    CHECK(hash_bytes("abc").hex() == "06b05ab6733a618578af5f94892f3950");
    CHECK(hash_bytes("").hex() == "99aa06d3014798d86001c324468d497f");
}

TEST_CASE("keys round-trip through hex and reject anything else") {
    Key key = hash_bytes("abc");
    CHECK(Key::from_hex(key.hex()) == key);
    CHECK_THROWS_AS(Key::from_hex("06b05ab6"), Error);
    CHECK_THROWS_AS(Key::from_hex("06B05AB6733A618578AF5F94892F3950"), Error);
    CHECK_THROWS_AS(Key::from_hex("zzb05ab6733a618578af5f94892f3950"), Error);
}

TEST_CASE("the canonical encoding is pinned") {
    // If this fails, the key format changed: every cached layer would be rebuilt.
    // Bump key_format_version and update the expected bytes deliberately.
    KeyEncoder encoder("layer");
    encoder.field('E', std::vector<std::string>{"A=1"}).field('n', std::uint64_t{2}).field('s', "x");
    const std::string expected = std::string("Vs\x10\0\0\0\0\0\0\0bincastle-key-v1", 26) +
                                 std::string("Ks\x05\0\0\0\0\0\0\0layer", 15) +
                                 std::string("El\x01\0\0\0\0\0\0\0\x03\0\0\0\0\0\0\0A=1", 21) +
                                 std::string("nu\x02\0\0\0\0\0\0\0", 10) +
                                 std::string("ss\x01\0\0\0\0\0\0\0x", 11);
    CHECK(encoder.bytes() == expected);
    CHECK(encoder.finish() == hash_bytes(expected));
}

TEST_CASE("field boundaries cannot be confused") {
    auto two = [](std::string a, std::string b) {
        return KeyEncoder("t").field('a', a).field('b', b).finish();
    };
    CHECK(two("ab", "c") != two("a", "bc"));
    auto list = [](std::vector<std::string> values) { return KeyEncoder("t").field('l', values).finish(); };
    CHECK(list({"a", "b"}) != list({"ab"}));
    CHECK(list({}) != list({""}));
}
