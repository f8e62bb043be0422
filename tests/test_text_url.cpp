// The shared text helpers (sluice/text/): ASCII case and trimming, the one URL parser, the one RFC 3986
// encoder. Examples for the shapes URLs come in, then generated inputs.

#include <doctest/doctest.h>

#include <sluice/text/ascii.hpp>
#include <sluice/text/url.hpp>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_text_url {

namespace text = sluice::text;

namespace {

/// Decodes %XX escapes (the inverse of uri_encode); nothing for a malformed escape.
std::optional<std::string> uri_decode(std::string_view in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out += in[i];
            continue;
        }
        if (i + 2 >= in.size()) return std::nullopt;
        auto hex = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

std::string random_bytes(std::mt19937& rng, std::size_t max_len) {
    std::string s(rng() % (max_len + 1), '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
}

} // namespace

TEST_SUITE("text") {

TEST_CASE("ASCII case, comparison, search and trimming") {
    CHECK(text::to_lower("Content-TYPE 9\xc3\x89") == "content-type 9\xc3\x89"); // UTF-8 untouched
    CHECK(text::iequals("X-Amz-Date", "x-amz-date"));
    CHECK_FALSE(text::iequals("x-amz-date", "x-amz-dat"));
    CHECK_FALSE(text::iequals("\xc3\x89", "\xc3\xa9"));
    CHECK(text::istarts_with("AWS4-HMAC-SHA256 Credential", "aws4-"));
    CHECK(text::ifind("a X-Amz-Signature=1", "x-amz-SIGNATURE=") == 2);
    CHECK(text::ifind("abc", "abcd") == std::string_view::npos);
    CHECK(text::icontains("Signature expired", "EXPIRED"));
    CHECK(text::trim(" \t\r\n x y \n") == "x y");
    CHECK(text::trim(" \t ").empty());
    CHECK(text::is_token("X-Amz-Date"));
    for (std::string_view bad : {"", "a;b", "a:b", "a b", "a\nb", "a\x7f", "a=b", "a,b"}) CHECK_FALSE(text::is_token(bad));
}

TEST_CASE("parse_url: schemes, user info, IPv6 literals, ports, paths, queries, fragments, no scheme") {
    auto u = text::parse_url("https://user:p@ss@[2001:db8::1%25eth0]:8443/a/b%20c?x=1&y=%2F#frag?x");
    REQUIRE(u);
    CHECK(u->scheme == "https");
    CHECK(u->userinfo == "user:p@ss"); // the last '@' ends it
    CHECK(u->host == "2001:db8::1%25eth0");
    CHECK(u->ipv6);
    CHECK(u->port_number() == 8443);
    CHECK(u->path == "/a/b%20c");
    CHECK(u->query == "x=1&y=%2F");
    CHECK(u->fragment == "frag?x");
    CHECK(u->host_is_valid());

    u = text::parse_url("user:secret@host.example:80/x");
    REQUIRE(u);
    CHECK(u->scheme.empty());
    CHECK(u->userinfo == "user:secret");
    CHECK(u->host == "host.example");
    CHECK(u->port == "80");

    u = text::parse_url("http://h");
    REQUIRE(u);
    CHECK(u->host == "h");
    CHECK(u->path.empty());
    CHECK_FALSE(u->has_port);
    CHECK_FALSE(u->has_query);

    u = text::parse_url("http://h:/p?#");
    REQUIRE(u);
    CHECK(u->has_port);
    CHECK_FALSE(u->port_number());
    CHECK(u->has_query);
    CHECK(u->has_fragment);

    CHECK_FALSE(text::parse_url(""));
    CHECK_FALSE(text::parse_url("http://[::1/"));      // no ']'
    CHECK_FALSE(text::parse_url("http://[::1]x:80/")); // junk after ']'
    CHECK_FALSE(text::parse_url("http://h:99999")->port_number());
    CHECK_FALSE(text::parse_url("http://h:0")->port_number());
    CHECK(text::parse_url("1http://x")->scheme.empty()); // not a scheme: starts with a digit
    CHECK_FALSE(text::parse_url("http://bad host/")->host_is_valid());
    CHECK(text::default_port("HTTPS") == 443);
}

TEST_CASE("display_url shows scheme, host, port and path only, whatever the input") {
    CHECK(text::display_url("https://user:pw@Host:8443/p?X-Amz-Signature=abc#f") == "https://Host:8443/p");
    CHECK(text::display_url("https://user:passw@rdsecret@host/") == "https://host/");
    CHECK(text::display_url("user:secret@host/path") == "host/path");
    CHECK(text::display_url("http://[::1]:9/x") == "http://[::1]:9/x");
    CHECK(text::display_url("http://h:secret/x") == "http://h:[invalid port]/x");
    CHECK(text::display_url("http://bad\r\nhost/x y") == "http://[invalid host]/x%20y");
    CHECK(text::display_url("") == "[invalid URL]");

    // Generated: whatever the bytes, no user info, query or fragment survives, and no control byte.
    std::mt19937 rng(20240517);
    for (int i = 0; i < 20000; ++i) {
        std::string url = random_bytes(rng, 40);
        const auto u = text::parse_url(url);
        const std::string shown = text::display_url(url);
        CHECK(text::has_no_control(shown));
        if (!u) continue;
        if (u->userinfo.size() >= 4) CHECK_MESSAGE(shown.find(u->userinfo) == std::string::npos, url);
        if (u->query.size() >= 4) CHECK_MESSAGE(shown.find(u->query) == std::string::npos, url);
    }
}

TEST_CASE("uri_encode: unreserved bytes stay, the rest is %XX, and decoding gives the input back") {
    CHECK(text::uri_encode("-_.~AZaz09 +/%=&?") == "-_.~AZaz09%20%2B%2F%25%3D%26%3F");
    CHECK(text::uri_encode("/a b/c", true) == "/a%20b/c");
    std::mt19937 rng(7);
    for (int i = 0; i < 20000; ++i) {
        const std::string in = random_bytes(rng, 64);
        const bool keep_slash = (rng() & 1) != 0;
        const std::string out = text::uri_encode(in, keep_slash);
        bool only_allowed = true;
        for (std::size_t k = 0; k < out.size(); ++k) {
            const auto c = static_cast<unsigned char>(out[k]);
            only_allowed = only_allowed && (text::is_unreserved(c) || c == '%' || (keep_slash && c == '/') ||
                                            (k > 0 && out[k - 1] == '%') || (k > 1 && out[k - 2] == '%'));
        }
        CHECK(only_allowed);
        CHECK(uri_decode(out) == in);
    }
}

} // TEST_SUITE

} // namespace test_text_url
