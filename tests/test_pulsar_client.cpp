// The Pulsar client's pure parts: key hashes against known Java and MurmurHash3 values, partition
// choice, SerDes (UTF-8 validation at every kind of bad byte, JSON minified and pretty-printed),
// service URLs and topic names.

#include <doctest/doctest.h>

#include <sluice/pulsar/lookup.hpp>
#include <sluice/pulsar/message.hpp>
#include <sluice/pulsar/json_serde.hpp>
#include <sluice/pulsar/serdes.hpp>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_pulsar_client {

using namespace sluice::pulsar;

TEST_SUITE("pulsar-client") {

TEST_CASE("java_string_hash is String.hashCode over UTF-16, surrogate pairs included") {
    CHECK(java_string_hash("") == 0);
    CHECK(java_string_hash("abc") == 96354);           // 'a'*31^2 + 'b'*31 + 'c'
    CHECK(java_string_hash("hello") == 99162322);      // "hello".hashCode() in Java
    CHECK(java_string_hash("\xC3\xA9") == 0xe9);       // U+00E9: one UTF-16 unit
    // U+1F600 is the pair D83D DE00 in UTF-16: 0xD83D * 31 + 0xDE00
    CHECK(java_string_hash("\xF0\x9F\x98\x80") == static_cast<std::int32_t>(0xD83Du * 31u + 0xDE00u));
    // overflow wraps as Java's int does
    CHECK(java_string_hash("polygenelubricants") == std::int32_t(INT32_MIN));
}

TEST_CASE("murmur3_32 matches the reference MurmurHash3_x86_32") {
    CHECK(murmur3_32("") == 0u);
    CHECK(murmur3_32("", 1) == 0x514e28b7u);
    CHECK(murmur3_32("hello") == 0x248bfa47u);
    CHECK(murmur3_32("The quick brown fox jumps over the lazy dog") == 0x2e4ff723u);
}

TEST_CASE("a key's partition is the masked hash modulo the partitions") {
    CHECK(partition_for_key("polygenelubricants", 7, hashing_scheme::java_string_hash) == 0); // INT32_MIN & MAX = 0
    CHECK(partition_for_key("hello", 4, hashing_scheme::java_string_hash) == 99162322u % 4);
    CHECK(partition_for_key("hello", 5, hashing_scheme::murmur3_32) == (0x248bfa47u & 0x7fffffffu) % 5);
}

TEST_CASE("utf8_serde refuses overlong forms, surrogates, code points past U+10FFFF and truncation") {
    utf8_serde s;
    CHECK(s.deserialize("plain ascii").is_ok());
    CHECK(s.deserialize("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80").is_ok());
    CHECK(s.deserialize(std::string("nul \0 inside", 12)).is_ok());
    for (std::string bad : {std::string("\xC0\x80"), std::string("\xE0\x80\xAF"), std::string("\xED\xA0\x80"),
                            std::string("\xF4\x90\x80\x80"), std::string("\xE2\x82"), std::string("\x80"), std::string("\xFF")}) {
        auto r = s.deserialize("ab" + bad);
        REQUIRE(r.is_error());
        CHECK(r.get_error().message.find("at byte 2") != std::string::npos);
    }
}

#if SLUICE_HAS_SIMDJSON
TEST_CASE("json_serde validates and minifies; serializes compact or pretty") {
    json_serde compact;
    auto v = compact.deserialize(R"( { "a" : [1, 2, {"b": "x\"y"}], "e": {}, "f": [] } )");
    REQUIRE(v.is_ok());
    CHECK(v.value().text == R"({"a":[1,2,{"b":"x\"y"}],"e":{},"f":[]})");
    CHECK(compact.serialize(v.value()) == v.value().text);
    json_serde pretty(true);
    const std::string p = pretty.serialize(v.value());
    CHECK(p == "{\n  \"a\": [\n    1,\n    2,\n    {\n      \"b\": \"x\\\"y\"\n    }\n  ],\n  \"e\": {},\n  \"f\": []\n}");
    CHECK(compact.deserialize(p).value() == v.value()); // pretty output parses back to the same document
    auto bad = compact.deserialize("{\"a\":");
    REQUIRE(bad.is_error());
    CHECK(bad.get_error().message.find("invalid JSON") == 0);
    CHECK(bad.get_error().message.find("{\"a\"") == std::string::npos); // the payload is not in the error
}
#endif

TEST_CASE("service URLs and topic names") {
    auto a = service_address::parse("pulsar://127.0.0.1:6651");
    CHECK(a.host == "127.0.0.1");
    CHECK(a.port == 6651);
    CHECK(!a.tls);
    CHECK(service_address::parse("pulsar://localhost").port == 6650);
    CHECK(service_address::parse("pulsar+ssl://[::1]:7000").host == "::1");
    CHECK(service_address::parse("pulsar+ssl://h").port == 6651);
    CHECK_THROWS_AS(service_address::parse("http://h:1"), std::invalid_argument);
    CHECK_THROWS_AS(service_address::parse("pulsar://h:99999"), std::invalid_argument);
    CHECK(normalize_topic("t") == "persistent://public/default/t");
    CHECK(normalize_topic("tenant/ns/t") == "persistent://tenant/ns/t");
    CHECK(normalize_topic("non-persistent://a/b/c") == "non-persistent://a/b/c");
    CHECK_THROWS_AS((void)normalize_topic("a/b"), std::invalid_argument);
    CHECK(partition_topic("persistent://a/b/c", 3) == "persistent://a/b/c-partition-3");
}

} // TEST_SUITE

} // namespace test_pulsar_client
