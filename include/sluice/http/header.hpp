#pragma once

// One HTTP header field, shared by the client and the server, and the ASCII case rules of field names
// (names compare case-insensitively; sluice lower-cases the names it receives).

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

namespace sluice::http {

/// One header field. Names of received headers are lower-cased; values are as sent, trimmed.
struct header {
    /// Name as sent or received (responses lower-case it).
    std::string name;
    /// The value, without surrounding whitespace.
    std::string value;
};

namespace detail {

[[nodiscard]] constexpr char ascii_lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

/// ASCII case-insensitive equality (header names, tokens such as "chunked" or "close").
[[nodiscard]] constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

/// RFC 9110 tchar: what methods, field names and codings are made of.
[[nodiscard]] inline bool is_tchar(char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

[[nodiscard]] inline bool is_token(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

/// What a field value may hold: visible ASCII, obs-text, space and tab; no other control character
/// (CR, LF, NUL and DEL would let a value end the line or the header early).
[[nodiscard]] inline bool is_field_char(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return c == '\t' || (u >= 0x20 && u != 0x7f);
}

[[nodiscard]] inline bool is_field_value(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), is_field_char);
}

} // namespace detail
} // namespace sluice::http
