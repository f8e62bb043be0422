// The shared text helpers every wire format uses: JSON escaping (every SIMD path against the byte
// loop), base64 both ways, UTF-8 validation with reasons, exact-size JSON building, CBOR heads and the
// CBOR reader (RFC 8949's Appendix A examples, and malformed input).

#include <doctest/doctest.h>

#include <sluice/text/base64.hpp>
#include <sluice/text/cbor.hpp>
#include <sluice/text/json_escape.hpp>
#include <sluice/text/json_writer.hpp>
#include <sluice/text/rfc3339.hpp>
#include <sluice/text/utf8.hpp>

#include <chrono>
#include <functional>
#include <utility>
#include <vector>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#if SLUICE_HAS_SIMDJSON
#include <simdjson.h>
#endif

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_text {

namespace {

std::string from_hex(std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
    return out;
}

std::string to_hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (char c : bytes) {
        out += digits[static_cast<unsigned char>(c) >> 4];
        out += digits[static_cast<unsigned char>(c) & 15];
    }
    return out;
}

} // namespace

TEST_SUITE("text") {

TEST_CASE("json escape: every escaper agrees with the byte loop and with escaped_size") {
    namespace d = sluice::detail::json;
    // Deterministic pseudo-random text: mostly letters, with quotes, backslashes, control characters
    // and UTF-8 at varying densities, in lengths around the block and chunk sizes.
    std::uint64_t state = 0x9E3779B97F4A7C15ULL;
    auto next = [&state] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    const std::string alphabet = "abcdefgh\"\"\\\\\n\t\x01\x1f \xC3\xA9{}:,";
    for (int round = 0; round < 3000; ++round) {
        const std::size_t len = next() % 300;
        const unsigned density = static_cast<unsigned>(next() % 4); // 0: letters only ... 3: dense
        std::string text;
        for (std::size_t k = 0; k < len; ++k) {
            const auto r = next();
            text += (r % 8 < density * 2) ? alphabet[(r >> 8) % alphabet.size()] : static_cast<char>('a' + (r >> 16) % 26);
        }
        std::string expected(text.size() * 6 + 32, '\0');
        expected.resize(static_cast<std::size_t>(d::write_escaped_bytes(expected.data(), text.data(), text.size()) -
                                                 expected.data()));
        CAPTURE(round);
        CHECK(d::escaped_size(text) == expected.size());
        std::string out(text.size() * 6 + 32, '\0');
        out.resize(static_cast<std::size_t>(d::write_escaped(out.data(), text) - out.data()));
        CHECK(out == expected);
#if defined(__SSE2__)
        std::string sse2(text.size() * 6 + 32, '\0');
        std::size_t done = 0;
        char* end = d::write_escaped_sse2(sse2.data(), text.data(), text.size(), done);
        end = d::write_escaped_bytes(end, text.data() + done, text.size() - done);
        sse2.resize(static_cast<std::size_t>(end - sse2.data()));
        CHECK(sse2 == expected);
#endif
#if SLUICE_TEXT_X86_DISPATCH
        CHECK(d::escaped_size_portable(text) == expected.size());
        const auto level = d::cpu_simd_level();
        if (level == d::simd_level::ssse3 || level == d::simd_level::avx2) {
            std::string ssse3(text.size() * 6 + 32, '\0');
            std::size_t at = 0;
            char* e = d::write_escaped_ssse3(ssse3.data(), text.data(), text.size(), at);
            e = d::write_escaped_bytes(e, text.data() + at, text.size() - at);
            ssse3.resize(static_cast<std::size_t>(e - ssse3.data()));
            CHECK(ssse3 == expected);
        }
        if (level == d::simd_level::avx2) {
            CHECK(d::escaped_size_avx2(text) == expected.size());
            std::string avx2(text.size() * 6 + 32, '\0');
            std::size_t at = 0;
            char* e = d::write_escaped_avx2(avx2.data(), text.data(), text.size(), at);
            e = d::write_escaped_bytes(e, text.data() + at, text.size() - at);
            avx2.resize(static_cast<std::size_t>(e - avx2.data()));
            CHECK(avx2 == expected);
        }
#endif
    }
    // Long runs of escapes: the byte-wide counters must not wrap.
    for (std::size_t len : {4079u, 4080u, 4096u, 8160u, 8192u, 100'003u}) {
        const std::string quotes(len, '"');
        CHECK(d::escaped_size(quotes) == 2 * len);
        const std::string controls(len, '\x01');
        CHECK(d::escaped_size(controls) == 6 * len);
        std::string out(6 * len + 32, '\0');
        out.resize(static_cast<std::size_t>(d::write_escaped(out.data(), controls) - out.data()));
        CHECK(out.size() == 6 * len);
        CHECK(out.substr(out.size() - 6) == "\\u0001");
    }
}

TEST_CASE("base64: RFC 4648 vectors, every length, and strict decoding") {
    using sluice::text::append_base64;
    using sluice::text::decode_base64;
    const std::pair<std::string_view, std::string_view> vectors[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"}};
    for (auto [plain, encoded] : vectors) {
        std::string out;
        append_base64(out, plain);
        CHECK(out == encoded);
        CHECK(sluice::text::base64_size(plain.size()) == encoded.size());
        REQUIRE(decode_base64(encoded).has_value());
        CHECK(*decode_base64(encoded) == plain);
    }
    // Every byte value, every length up to 300: a round trip.
    std::string bytes;
    for (int i = 0; i < 300; ++i) bytes += static_cast<char>((i * 151 + 7) & 0xFF);
    for (std::size_t n = 0; n <= bytes.size(); ++n) {
        std::string enc;
        append_base64(enc, std::string_view(bytes).substr(0, n));
        // The vector path (24 bytes a step) against the 3-bytes-a-step loop.
        std::string scalar(sluice::text::base64_size(n), '\0');
        sluice::detail::base64::encode_scalar(scalar.data(), reinterpret_cast<const unsigned char*>(bytes.data()), n);
        CHECK(enc == scalar);
        auto back = decode_base64(enc);
        REQUIRE(back.has_value());
        CHECK(*back == bytes.substr(0, n));
    }
    for (std::string_view bad : {"Zg=", "Zg", "Z===", "Zm9v!A==", "Zh==", "Zm9=", "=Zm9", "Zm=v"})
        CHECK_MESSAGE(!decode_base64(bad).has_value(), bad);
}

TEST_CASE("utf8: valid text passes, every kind of invalid sequence is named with its offset") {
    using namespace sluice::text;
    CHECK(check_utf8("plain ascii, long enough to take the 64-byte path of the validator, yes indeed!").ok());
    CHECK(check_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80").ok());
    CHECK(check_utf8(std::string_view("nul\0inside", 11)).ok()); // valid UTF-8, whatever the service thinks
    struct bad_case {
        std::string text;
        std::string_view why;
        std::size_t offset;
    };
    const bad_case cases[] = {
        {"ab\x80", "unexpected continuation byte", 2},
        {"\xC0\xAF", "overlong encoding", 0},
        {"x\xE0\x80\xAF", "overlong encoding", 1},
        {"\xED\xA0\x80", "surrogate code point", 0},
        {"\xF4\x90\x80\x80", "code point above U+10FFFF", 0},
        {"\xF8\x88\x80\x80\x80", "invalid byte", 0},
        {"ok\xE2\x82", "truncated sequence", 2},
        {"\xE2\x28\xA1", "missing continuation byte", 0},
    };
    for (const auto& c : cases) {
        // The same sequence after 70 plain bytes, so the SIMD fast path hands over mid-text.
        for (std::size_t pad : {std::size_t{0}, std::size_t{70}}) {
            const std::string text = std::string(pad, 'a') + c.text;
            const utf8_check r = check_utf8(text);
            CAPTURE(c.why);
            CHECK(r.status == utf8_status::invalid_utf8);
            CHECK(r.detail == c.why);
            CHECK(r.offset == pad + c.offset);
        }
    }
    // A character rule: XML's characters, as SQS takes them.
    const utf8_check ctl = check_utf8("tab\tok but \x01 not", xml_character{});
    CHECK(ctl.status == utf8_status::invalid_character);
    CHECK(ctl.code_point == 1);
    CHECK(ctl.offset == 11);
    CHECK(describe(ctl, "body", "by SQS") == "body: character U+0001 at byte 11 is not allowed by SQS");
    CHECK(check_utf8("\xEF\xBF\xBE", xml_character{}).status == utf8_status::invalid_character); // U+FFFE
    CHECK(check_utf8("\xEF\xBF\xBE").ok());
    CHECK(utf8_length("caf\xC3\xA9") == 4);
    CHECK(utf8_length("\xF0\x9F\x98\x80x") == 2);
}

TEST_CASE("json writer: the size counted is exactly the size written") {
    using namespace sluice::text;
    std::string out = "prefix:";
    const std::string tricky = "q\"b\\c\n\x01\xC3\xA9";
    append_exact(out, [&](auto& e) {
        e.raw("{\"s\":\"");
        e.escaped(tricky);
        e.raw("\",\"b\":\"");
        e.base64(std::string_view("\x00\xFF\x10", 3));
        e.raw("\",\"n\":");
        e.integer(std::int64_t{-9007199254740993});
        e.raw(",\"u\":");
        e.integer(std::uint64_t{18446744073709551615u});
        e.raw("}");
    });
    CHECK(out == "prefix:{\"s\":\"q\\\"b\\\\c\\n\\u0001\xC3\xA9\",\"b\":\"AP8Q\",\"n\":-9007199254740993,"
                 "\"u\":18446744073709551615}");
    std::string s;
    append_json_string(s, "a\"b");
    CHECK(s == "\"a\\\"b\"");
#if SLUICE_HAS_SIMDJSON
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    REQUIRE(parser.parse(out.substr(7)).get(root) == simdjson::SUCCESS);
    std::string_view back;
    REQUIRE(root["s"].get_string().get(back) == simdjson::SUCCESS);
    CHECK(back == tricky);
#endif
}

TEST_CASE("RFC 3339 in UTC to the millisecond, or truncated to the second") {
    using std::chrono::system_clock;
    char buffer[32];
    CHECK(sluice::text::format_rfc3339_utc(system_clock::time_point{}, buffer) == "1970-01-01T00:00:00.000Z");
    CHECK(sluice::text::format_rfc3339_utc(system_clock::time_point(std::chrono::milliseconds(1700000000123)), buffer) == "2023-11-14T22:13:20.123Z");
    // 2000-02-29 (a leap day) 23:59:59.999, and the last millisecond system_clock holds (libstdc++).
    CHECK(sluice::text::format_rfc3339_utc(system_clock::time_point(std::chrono::milliseconds(951868799999)), buffer) == "2000-02-29T23:59:59.999Z");
    CHECK(sluice::text::format_rfc3339_utc(system_clock::time_point::max(), buffer) == "2262-04-11T23:47:16.854Z");
    // Before the epoch: floor, not truncation toward zero.
    CHECK(sluice::text::format_rfc3339_utc(system_clock::time_point(std::chrono::milliseconds(-1)), buffer) == "1969-12-31T23:59:59.999Z");
    const auto seconds = sluice::text::rfc3339_precision::seconds;
    CHECK(sluice::text::format_rfc3339_utc(system_clock::time_point(std::chrono::milliseconds(1700000000999)), buffer, seconds) ==
          "2023-11-14T22:13:20Z");
    CHECK(sluice::text::format_rfc3339_utc(system_clock::time_point(std::chrono::milliseconds(-1)), buffer, seconds) ==
          "1969-12-31T23:59:59Z");
}

TEST_CASE("cbor: heads are RFC 8949's shortest forms, and read back as written") {
    namespace cbor = sluice::text::cbor;
    using cbor::major;
    const std::pair<std::uint64_t, std::string_view> integers[] = {
        {0, "00"}, {23, "17"}, {24, "1818"}, {100, "1864"}, {1000, "1903e8"}, {1000000, "1a000f4240"},
        {1000000000000, "1b000000e8d4a51000"}, {18446744073709551615u, "1bffffffffffffffff"}};
    for (const auto& [value, hex] : integers) {
        std::string out;
        cbor::append_head(out, major::unsigned_integer, value);
        CHECK(to_hex(out) == hex);
        CHECK(out.size() == cbor::head_size(value));
        cbor::reader in(out);
        cbor::item it;
        REQUIRE(in.next(it));
        CHECK(it.type == major::unsigned_integer);
        CHECK(it.value == value);
        CHECK(in.at_end());
    }
    std::string out;
    cbor::append_text(out, "IETF");
    CHECK(to_hex(out) == "6449455446");
    out.clear();
    cbor::append_bytes(out, from_hex("01020304"));
    CHECK(to_hex(out) == "4401020304");
    CHECK(cbor::string_size(23) == 24);
    CHECK(cbor::string_size(24) == 26);
    CHECK(cbor::string_size(70000) == 70005);
}

TEST_CASE("cbor: the reader walks definite and indefinite items, and refuses malformed ones") {
    namespace cbor = sluice::text::cbor;
    using cbor::major;
    // [_ 1, [2, 3], [_ 4, 5]] from RFC 8949 Appendix A: the integers in order.
    {
        const std::string in_bytes = from_hex("9f018202039f0405ffff");
        cbor::reader in(in_bytes);
        cbor::item outer;
        REQUIRE(in.next(outer));
        CHECK(outer.indefinite);
        std::vector<std::uint64_t> seen;
        std::function<bool()> each = [&]() -> bool {
            cbor::item it;
            if (!in.next(it)) return false;
            if (it.type == major::array) return in.for_each(it, each);
            seen.push_back(it.value);
            return true;
        };
        CHECK(in.for_each(outer, each));
        CHECK(in.at_end());
        CHECK(seen == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
    }
    // {_ "a": 1, "b": [_ 2, 3]}, a tag, half and double floats, simple values: skipped whole.
    for (std::string_view hex : {"bf61610161629f0203ffff", "c11a514b67b0", "f93c00", "fb3ff199999999999a", "f6", "f4",
                                 "a26161016162820203", "5f42010243030405ff"}) {
        const std::string bytes = from_hex(hex);
        cbor::reader in(bytes);
        CHECK_MESSAGE(in.skip(), hex);
        CHECK_MESSAGE(in.at_end(), hex);
    }
    // (_ "strea", "ming"): the chunks joined.
    {
        const std::string bytes = from_hex("7f657374726561646d696e67ff");
        cbor::reader in(bytes);
        std::string scratch;
        std::string_view text;
        REQUIRE(in.read_text(text, scratch));
        CHECK(text == "streaming");
        CHECK(in.at_end());
    }
    // Malformed: truncated heads and strings, reserved heads, a lone break, an indefinite integer, a
    // count beyond the input, a chunk of another type, an unterminated indefinite array, too deep.
    std::string too_deep(200, static_cast<char>(0x81));
    too_deep += '\0';
    for (std::string bad : {from_hex("1a0000"), from_hex("1c"), from_hex("ff"), from_hex("1f"), from_hex("9affffffff"),
                            from_hex("bb00000000000000ff"), from_hex("7f4161ff"), from_hex("9f01"), from_hex("6449"),
                            from_hex("5a000000ff00"), too_deep}) {
        cbor::reader in(bad);
        CHECK_MESSAGE(!in.skip(), to_hex(bad));
    }
    {
        // A text read where bytes are: refused, not reinterpreted.
        const std::string bytes = from_hex("4161");
        cbor::reader in(bytes);
        std::string scratch;
        std::string_view text;
        CHECK_FALSE(in.read_text(text, scratch));
    }
}

} // TEST_SUITE

} // namespace test_text
