#pragma once

// ASCII text helpers, the one copy every layer uses: case folding and comparison for protocol tokens
// (header names, enum-like values), trimming, and control characters. Only ASCII letters change case;
// every other byte (UTF-8 included) is compared as it is.

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::text {

/// 'A'..'Z' to 'a'..'z'; every other byte unchanged.
[[nodiscard]] constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

/// 'a'..'z' to 'A'..'Z'; every other byte unchanged.
[[nodiscard]] constexpr char upper(char c) noexcept { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; }

/// `s` with its ASCII letters lower-cased.
[[nodiscard]] inline std::string to_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = lower(c);
    return out;
}

/// Equal ignoring ASCII case.
[[nodiscard]] constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

/// `text` starts with `prefix`, ignoring ASCII case.
[[nodiscard]] constexpr bool istarts_with(std::string_view text, std::string_view prefix) noexcept {
    return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

/// Position of `needle` in `text` at or after `from`, ignoring ASCII case; npos if absent.
[[nodiscard]] constexpr std::size_t ifind(std::string_view text, std::string_view needle, std::size_t from = 0) noexcept {
    if (needle.size() > text.size()) return std::string_view::npos;
    for (std::size_t i = from; i + needle.size() <= text.size(); ++i)
        if (iequals(text.substr(i, needle.size()), needle)) return i;
    return std::string_view::npos;
}

/// `text` contains `needle`, ignoring ASCII case.
[[nodiscard]] constexpr bool icontains(std::string_view text, std::string_view needle) noexcept {
    return ifind(text, needle) != std::string_view::npos;
}

/// Space, tab, CR or LF: the blanks trim() removes.
[[nodiscard]] constexpr bool is_blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/// `s` without leading and trailing blanks.
[[nodiscard]] constexpr std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    return s;
}

/// A C0 control character or DEL: what can forge a line or a terminal sequence in a log.
[[nodiscard]] constexpr bool is_control(char c) noexcept {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

/// True when `s` holds no control character.
[[nodiscard]] constexpr bool has_no_control(std::string_view s) noexcept {
    for (char c : s)
        if (is_control(c)) return false;
    return true;
}

/// ASCII letter or digit.
[[nodiscard]] constexpr bool is_alnum(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/// ASCII digit, '0' to '9'.
[[nodiscard]] constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

/// An RFC 9110 token character: what HTTP field names and authentication schemes are made of.
[[nodiscard]] constexpr bool is_tchar(char c) noexcept {
    return is_alnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

/// A non-empty run of at most `max` token characters: no blanks, separators (';', ':', ',', '='...)
/// or control characters.
[[nodiscard]] constexpr bool is_token(std::string_view s, std::size_t max = std::string_view::npos) noexcept {
    if (s.empty() || s.size() > max) return false;
    for (char c : s)
        if (!is_tchar(c)) return false;
    return true;
}

} // namespace sluice::text
