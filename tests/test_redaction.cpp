// What reaches logs and errors (issue 14, section 3), tested with generated inputs: secret-shaped
// values (base64 with padding, hex, tokens) in every header and URL shape we can think of, error codes
// with control characters from every place they enter, and header names the signer must refuse. A
// secret is drawn from an alphabet nothing else in the input uses, so any 8 of its characters in a row
// in the output is a leak.

#include <doctest/doctest.h>

#include <sluice/aws/credentials_provider.hpp>
#include <sluice/aws/error.hpp>
#include <sluice/aws/sigv4.hpp>
#include <sluice/http/client.hpp>
#include <sluice/metrics/log.hpp>
#include <sluice/text/ascii.hpp>

#include <chrono>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_redaction {

using namespace sluice;

namespace {

constexpr std::string_view secret_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";

/// A secret: 16 to 48 characters of the secret alphabet, base64-like padding sometimes.
std::string make_secret(std::mt19937& rng) {
    std::string s(16 + rng() % 33, 'A');
    for (char& c : s) c = secret_alphabet[rng() % secret_alphabet.size()];
    const unsigned pad = rng() % 3;
    s.append(pad, '=');
    return s;
}

/// True when 8 characters of `secret` in a row appear in `out`.
bool leaks(std::string_view out, std::string_view secret) {
    for (std::size_t i = 0; i + 8 <= secret.size(); ++i) {
        const std::string_view window = secret.substr(i, 8);
        if (window.find_first_not_of("=") == std::string_view::npos) continue;
        if (out.find(window) != std::string_view::npos) return true;
    }
    return false;
}

std::string random_case(std::mt19937& rng, std::string_view s) {
    std::string out(s);
    for (char& c : out) c = (rng() & 1) ? text::upper(c) : text::lower(c);
    return out;
}

std::string blanks(std::mt19937& rng) { return std::string(rng() % 3, (rng() & 1) ? ' ' : '\t'); }

/// An Authorization value of a random scheme carrying `secret`.
std::string authorization_value(std::mt19937& rng, const std::string& secret) {
    switch (rng() % 7) {
    case 0: return "Basic " + secret;
    case 1: return "Bearer " + secret;
    case 2:
        return "AWS4-HMAC-SHA256 Credential=" + secret + "/20260101/us-east-1/sqs/aws4_request," + blanks(rng) +
               "SignedHeaders=host;x-amz-date," + blanks(rng) + "Signature=" + secret;
    case 3: return "Digest username=\"u\", realm=\"r\", response=\"" + secret + "\"";
    case 4: return secret; // no scheme
    case 5: return "Custom-Scheme " + secret + ", extra=" + secret;
    default: return "AWS4-HMAC-SHA256 " + secret + ", SignedHeaders=" + secret + ", Foo=" + secret;
    }
}

} // namespace

TEST_SUITE("redaction") {

TEST_CASE("sanitize_header: Basic and Bearer values ending in '=' leak nothing (issue 14 examples)") {
    CHECK(sanitize_header("Authorization", "Basic dXNlcjpwYXNzd29yZA==") == "Basic [redacted]");
    CHECK(sanitize_header("Proxy-Authorization", "Bearer abc.def=") == "Bearer [redacted]");
    CHECK(sanitize_header("Authorization", "AWS4-HMAC-SHA256 Credential=AKIA/x, SignedHeaders=host;x-amz-date, "
                                           "Signature=f00d") ==
          "AWS4-HMAC-SHA256 Credential=[redacted], SignedHeaders=host;x-amz-date, Signature=[redacted]");
    CHECK(sanitize_header("X-Api-Key", "k") == "[redacted]");
    CHECK(sanitize_header("Location", "https://h/?X-Amz-Signature=abc") == "https://h/?X-Amz-Signature=[redacted]");
    CHECK(sanitize_headers("X-Amz-Credential=AKIASECRETSECRET:\r\n").find("AKIASECRETSECRET") == std::string::npos);
    // A whitespace-led line continues only a header right above it (found by the sanitizers fuzz target:
    // after a blank line, "  secret" was shown as if it were a fold of a harmless header).
    CHECK(sanitize_headers("Host: h\r\n  more\r\n\r\n  SECRETSECRET\r\n") == "Host: h\r\n  more\r\n\r\n  [redacted]\r\n");
    CHECK(sanitize_headers("GET / HTTP/1.1\r\n SECRETSECRET\r\n") == "GET / HTTP/1.1\r\n [redacted]\r\n");
}

TEST_CASE("sanitize_header and sanitize_headers: generated secret-shaped values never survive") {
    std::mt19937 rng(0x5eed);
    const std::string_view secret_headers[] = {"authorization", "proxy-authorization", "x-amz-security-token",
                                               "cookie", "set-cookie", "x-api-key", "x-auth-token"};
    for (int i = 0; i < 5000; ++i) {
        const std::string secret = make_secret(rng);
        const std::string name = random_case(rng, secret_headers[rng() % std::size(secret_headers)]);
        const std::string value = text::iequals(name, "authorization") ||
                                          text::iequals(name, "proxy-authorization")
                                      ? authorization_value(rng, secret)
                                      : "session=" + secret;
        const std::string one = sanitize_header(name, value);
        CHECK_MESSAGE(!leaks(one, secret), name, ": ", value, " -> ", one);

        // A header block as curl shows it, with the secret in every place a line can carry one.
        std::string block = "POST /q?Action=send&" + random_case(rng, "x-amz-signature") + "=" + secret +
                            "&X-Amz-Credential=" + secret + " HTTP/1.1\r\n";
        block += "host: sqs.example\r\n";
        block += name + ":" + blanks(rng) + value + "\r\n";
        if (rng() % 2 == 0) block += blanks(rng) + " folded " + secret + "\r\n"; // continues the secret header
        block += "x-amz-credential=" + secret + ":\r\n";
        block += "content-type: application/x-amz-json-1.0\r\n\r\n";
        const std::string out = sanitize_headers(block);
        CHECK_MESSAGE(!leaks(out, secret), block, " -> ", out);
        CHECK(out.find("content-type: application/x-amz-json-1.0") != std::string::npos); // the rest stays
    }
}

TEST_CASE("sanitize_headers: a line that is neither a start line, a header nor a folded line is redacted") {
    // Found by the sanitizers fuzz target: a secret header's value holding line breaks put the rest of
    // the secret on lines of their own ("\r34AA...", no header name), which were shown as they were.
    const std::string block = "GET /x?a=b HTTP/1.1\r\nX-Api-Key: a\n\rSECRETSECRETSECRET\r\n junk after it\r\n"
                              "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    const std::string out = sanitize_headers(block);
    CHECK(out == "GET /x?a=b HTTP/1.1\r\nX-Api-Key: [redacted]\n[redacted]\r\n [redacted]\r\n"
                 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    std::mt19937 rng(17);
    for (int i = 0; i < 5000; ++i) {
        const std::string secret = make_secret(rng);
        std::string value = "v";
        for (int k = 0; k < 3; ++k) value += std::string(1, "\r\n\x01 \t"[rng() % 5]) + secret.substr(0, rng() % secret.size() + 1);
        const std::string shown = sanitize_headers("Authorization: Bearer " + value + "\r\nX-Amz-Security-Token: " + value + "\r\n");
        CHECK_MESSAGE(!leaks(shown, secret), value, " -> ", shown);
    }
}

TEST_CASE("sanitize_headers: after a secret header, a line ending other than CRLF keeps the secret open") {
    // Found by the sanitizers fuzz target (fuzz/regressions/sanitizers/secret-split-by-bare-cr-1): an
    // Authorization value holding CR CR LF put the rest of its token on a line that looked like a header
    // ("gbhx://=sBasic ...": name "gbhx"), which was shown through sanitize_url.
    const std::string block = "GET / HTTP/1.1\r\nAuthorization: aaa,\r\t,'a\r\r\ngbhx://=sBasic SECRETSECRETSECRET==\r\n"
                              "Host: h\r\n\r\n";
    CHECK(sanitize_headers(block) == "GET / HTTP/1.1\r\nAuthorization: [redacted]\r\r\n[redacted]\r\nHost: h\r\n\r\n");
    // A regular CRLF ends the value: the next header is shown.
    CHECK(sanitize_headers("Authorization: Basic SECRETSECRET\r\nHost: h\r\n") == "Authorization: Basic [redacted]\r\nHost: h\r\n");
}

TEST_CASE("describe_request: user info, query and fragment never appear, with or without a scheme") {
    CHECK(http::detail::describe_request("GET", "https://user:passw@rdsecret@host/") == "GET https://host/");
    CHECK(http::detail::describe_request("GET", "user:secret@host/p") == "GET host/p");
    std::mt19937 rng(42);
    const std::string_view hosts[] = {"sqs.eu-west-1.amazonaws.com", "127.0.0.1", "[::1]", "[fd00:ec2::23]", "h"};
    for (int i = 0; i < 5000; ++i) {
        const std::string user = make_secret(rng), password = make_secret(rng), query = make_secret(rng);
        std::string url;
        if (rng() % 3 != 0) url += (rng() & 1) ? "https://" : "HTTP://";
        std::string userinfo = user;
        if (rng() & 1) userinfo += ":" + password + ((rng() & 1) ? "@" + password : "");
        url += userinfo + "@" + std::string(hosts[rng() % std::size(hosts)]);
        if (rng() & 1) url += ":" + std::to_string(rng() % 70000);
        url += "/path/" + std::to_string(i);
        if (rng() & 1) url += "?X-Amz-Signature=" + query + "&a=" + query;
        if (rng() & 1) url += "#" + query;
        const std::string shown = http::detail::describe_request("POST", url);
        CHECK_MESSAGE(!leaks(shown, user), url, " -> ", shown);
        CHECK_MESSAGE(!leaks(shown, password), url, " -> ", shown);
        CHECK_MESSAGE(!leaks(shown, query), url, " -> ", shown);
        CHECK(shown.find("/path/" + std::to_string(i)) != std::string::npos);
    }
}

TEST_CASE("server text quoted in credential errors never shows the secret it was told to cut out") {
    // Found by the credentials fuzz target: the secret was searched before control characters became
    // spaces, so "a\tb" hid a secret "a b" that the quoted text then showed.
    namespace creds = detail::aws_creds;
    CHECK(creds::quote_server_text("token a\tb c", 200, {"a b c"}).find("a b c") == std::string::npos);
    std::mt19937 rng(5);
    for (int i = 0; i < 20000; ++i) {
        std::string secret(4 + rng() % 6, ' ');
        for (char& c : secret) c = " ab[]d.e"[rng() % 8];
        std::string text;
        for (int k = 0; k < 6; ++k) {
            text += std::string(rng() % 3, "x\t\n"[rng() % 3]);
            std::string piece = secret;
            for (char& c : piece)
                if (c == ' ' && rng() % 2) c = "\t\r\n\x01"[rng() % 4];
            text += piece.substr(0, rng() % (piece.size() + 1));
        }
        const std::string out = creds::quote_server_text(text, 1 + rng() % 60, {secret});
        CHECK_MESSAGE(out.find(secret) == std::string::npos, "secret '", secret, "' in '", out, "'");
        CHECK(text::has_no_control(out));
    }
}

TEST_CASE("error codes from every place they enter hold no control characters") {
    std::mt19937 rng(99);
    for (int i = 0; i < 5000; ++i) {
        std::string code = "Throttling";
        for (int k = 0; k < 4; ++k) code.insert(code.begin() + static_cast<long>(rng() % (code.size() + 1)), static_cast<char>(rng() % 0x20));
        if (rng() & 1) code += static_cast<char>(0x7f);
        std::string json_code;
        for (char c : code) { // JSON-escaped, as a server would send it
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
            json_code += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? std::string(buf) : std::string(1, c);
        }
        const auto from_json = aws::parse_service_error(400, "{\"__type\":\"ns#" + json_code + "\",\"message\":\"m\"}");
        const auto from_xml = aws::parse_service_error(400, "<ErrorResponse><Error><Code>" + code +
                                                                "</Code></Error></ErrorResponse>");
        const std::vector<std::pair<std::string, std::string>> headers = {{"x-amzn-ErrorType", code},
                                                                          {"x-amzn-query-error", code + ";Sender"}};
        const auto from_header = aws::parse_service_error(400, headers, "");
        for (const auto* e : {&from_json, &from_xml, &from_header}) {
            CHECK(text::has_no_control(e->code));
            CHECK(text::has_no_control(e->query_code));
            CHECK(text::has_no_control(e->describe()));
            CHECK(e->code.size() <= 128);
        }
    }
}

TEST_CASE("the signer refuses header names with ';', ':', blanks or control characters") {
    aws::aws_credentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", std::nullopt};
    aws::sigv4_signer signer;
    std::mt19937 rng(3);
    const std::string bad_chars = std::string(";: \t\r\n\x7f\"(),/=", 14) + std::string(1, '\0') + "\x01";
    for (int i = 0; i < 2000; ++i) {
        std::string name = "x-amz-meta-" + std::to_string(i);
        const bool bad = (rng() & 1) != 0;
        if (bad) name.insert(name.begin() + static_cast<long>(rng() % (name.size() + 1)), bad_chars[rng() % bad_chars.size()]);
        aws::sigv4_request r;
        r.method = "POST";
        r.path = "/";
        r.region = "us-east-1";
        r.service = "sqs";
        r.time = std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 20000);
        const std::vector<aws::http_field> headers = {{"Host", "sqs.us-east-1.amazonaws.com"}, {name, "v"}};
        r.headers = headers;
        if (!bad) {
            CHECK_NOTHROW((void)signer.sign(r, creds));
            continue;
        }
        try {
            (void)signer.sign(r, creds);
            FAIL("signed a header named " << name);
        } catch (const std::invalid_argument& e) {
            CHECK(std::string(e.what()).find("not an HTTP field name") != std::string::npos);
            CHECK(text::has_no_control(e.what()));
        }
    }
}

TEST_CASE("the signer refuses regions, services, methods, keys, tokens and values that would be ambiguous") {
    // Found by the sigv4 fuzz target: a region holding ", Signature=" and line breaks went into the
    // credential scope and the Authorization header as it was.
    aws::sigv4_signer signer;
    const std::vector<aws::http_field> headers = {{"Host", "h"}, {"X-Folded", "a\r\n  b"}};
    auto request = [&] {
        aws::sigv4_request r;
        r.method = "GET";
        r.region = "us-east-1";
        r.service = "sqs";
        r.time = std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 20000);
        r.headers = headers;
        return r;
    };
    const aws::aws_credentials good{"AKIDEXAMPLE", "secret", "token", std::nullopt};
    CHECK_NOTHROW((void)signer.sign(request(), good)); // a folded value is fine: canonicalisation collapses it
    std::mt19937 rng(11);
    const std::string bad = std::string("/, =;\r\n\t\x01", 9) + std::string(1, '\0');
    for (int i = 0; i < 1000; ++i) {
        auto r = request();
        aws::aws_credentials c = good;
        std::string broken = "abc";
        broken.insert(broken.begin() + static_cast<long>(rng() % 4), bad[rng() % bad.size()]);
        const std::vector<aws::http_field> with_value = {{"Host", "h"}, {"X-A", "v\nX-Injected: 1"}};
        switch (i % 5) {
        case 0: r.region = broken; break;
        case 1: r.service = broken; break;
        case 2: c.access_key_id = broken; break;
        case 3: r.method = broken; break;
        default: r.headers = with_value; break;
        }
        CHECK_THROWS_AS((void)signer.sign(r, c), std::invalid_argument);
    }
    aws::aws_credentials token_break = good;
    token_break.session_token = "tok\r\nX-Injected: 1";
    CHECK_THROWS_AS((void)signer.sign(request(), token_break), std::invalid_argument);
}

} // TEST_SUITE

} // namespace test_redaction
