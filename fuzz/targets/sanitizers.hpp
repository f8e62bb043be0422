#pragma once

// What reaches logs: header, header-block, URL and request-line sanitizers, redaction by field kind and
// log lines. The input is a secret (mapped onto the secret alphabet: A-Z, 0-9, '+') and text (mapped
// onto everything else: lower case, punctuation, blanks, control characters), and a recipe that puts
// the secret wherever it may be carried: Authorization values of every scheme, secret headers, folded
// lines, presigned-URL parameters, user info. What must hold: no 8 characters of the secret in a row
// survive anywhere; a sanitized header block has as many lines as it had; a URL or request line as
// shown, and a formatted log line, hold no control character.
//
// Input: u8 recipe, the secret (u8 length, at least 12 bytes used), then the text.

#include "../fuzz.hpp"

#include <sluice/http/client.hpp>
#include <sluice/metrics/log.hpp>
#include <sluice/text/url.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>

namespace sluice_fuzz {

namespace sanitizer_detail {

inline constexpr std::string_view secret_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+";
// Everything but the secret alphabet (and no digits, so ports and dates cannot spell a secret).
inline constexpr std::string_view text_alphabet = "abcdefghijklmnopqrstuvwxyz !\"#$%&'()*,-./:;<=>?@[\\]^_`{|}~\t\r\n\x01\x7f=";

inline std::string map_onto(std::span<const std::uint8_t> in, std::string_view alphabet) {
    std::string out;
    for (std::uint8_t b : in) out += alphabet[b % alphabet.size()];
    return out;
}

inline std::string without_crlf(std::string s) {
    for (std::size_t at = 0; (at = s.find("\r\n", at)) != std::string::npos;) s.erase(at + 1, 1);
    return s;
}

inline bool leaks(std::string_view out, std::string_view secret) {
    for (std::size_t i = 0; i + 8 <= secret.size(); ++i)
        if (out.find(secret.substr(i, 8)) != std::string_view::npos) return true;
    return false;
}

inline std::string authorization(unsigned how, const std::string& secret, const std::string& text) {
    switch (how % 6) {
    case 0: return "Basic " + secret + "==";
    case 1: return "Bearer " + text + secret;
    case 2: return "aws4-hmac-sha256 credential=" + secret + "/scope," + text + "signedheaders=host;x-amz-date, signature=" + secret;
    case 3: return text + " " + secret;
    case 4: return secret;
    default: return "digest " + text + "=" + secret + ", " + text;
    }
}

} // namespace sanitizer_detail

SLUICE_FUZZ_TARGET(sanitizers) {
    using namespace sanitizer_detail;
    reader r(data);
    const std::uint8_t recipe = r.u8();
    const std::string secret = map_onto(r.bytes(std::max<std::size_t>(12, r.u8())), secret_alphabet);
    const std::string text = map_onto(r.rest(), text_alphabet);
    if (secret.size() < 12) return;
    const std::string_view secret_headers[] = {"authorization", "proxy-authorization", "x-amz-security-token",
                                               "cookie", "set-cookie", "x-api-key"};
    const std::string name(secret_headers[recipe % std::size(secret_headers)]);
    const std::string value = name.find("authorization") != std::string::npos ? authorization(recipe >> 3, secret, text)
                                                                              : text + secret + text;
    const std::string one = sluice::sanitize_header(name, value);
    SLUICE_FUZZ_CHECK(!leaks(one, secret), show(name) + ": " + show(value) + " -> " + show(one));

    const std::string url = (recipe & 1 ? "https://" : "") + text + ":" + secret + "@h" + text + "/p" + text +
                            "?x-amz-signature=" + secret + "&" + text + "#" + secret;
    // A header value cannot hold CRLF (on the wire that is the next header line, and nothing can tell a
    // value's CRLF from a real one): the value keeps its bare CRs and LFs, its CRLF pairs lose the LF.
    const std::string header_value = without_crlf(text + value);
    const std::string block = "get /?x-amz-credential=" + secret + " http/1.1\r\n" + name + ":" + header_value +
                              "\r\n" + (recipe & 2 ? " " + secret + "\r\n" : "") + text + "\r\n" +
                              "x-amz-signature=" + secret + ":" + text + "\n";
    const std::string out = sluice::sanitize_headers(block);
    SLUICE_FUZZ_CHECK(!leaks(out, secret), show(block) + " -> " + show(out));
    SLUICE_FUZZ_CHECK(std::count(out.begin(), out.end(), '\n') == std::count(block.begin(), block.end(), '\n'),
                      "lines added or lost");

    const std::string shown = sluice::text::display_url(url);
    const std::string line = sluice::http::detail::describe_request(text, url);
    for (const std::string& s : {shown, line}) {
        SLUICE_FUZZ_CHECK(!leaks(s, secret), show(url) + " -> " + show(s));
        SLUICE_FUZZ_CHECK(!has_control(s), show(s));
    }
    const std::string plain = sluice::redact(url, sluice::field_kind::plain);
    SLUICE_FUZZ_CHECK(plain.find("x-amz-signature=" + secret) == std::string::npos, show(plain));
    SLUICE_FUZZ_CHECK(sluice::redact(secret, sluice::field_kind::secret) == sluice::redacted_text, "a secret shown");

    const sluice::log_field fields[] = {{"url", shown}, {text, text}};
    const sluice::log_record record{sluice::log_level::warn, "http", text, fields, std::chrono::system_clock::time_point{}};
    const std::string formatted = sluice::format_log_line(record);
    SLUICE_FUZZ_CHECK(!has_control(formatted), show(formatted));
}

} // namespace sluice_fuzz
