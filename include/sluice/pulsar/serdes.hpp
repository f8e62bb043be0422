#pragma once

// SerDes: how message payloads become values and back. A serde has a value_type, a
// `result<value_type> deserialize(std::string_view) const` that reports bad input as an Error (never
// an exception that would stop a source), and a `std::string serialize(const value_type&) const`.
// Errors say what is wrong and where (a byte offset), never the payload itself; the raw message
// travels next to the Error in a record (pulsar/source.hpp).
//
//   bytes_serde   the payload as it is
//   utf8_serde    text; invalid UTF-8 (overlong forms, surrogates, beyond U+10FFFF, truncation) is an Error
//   json_serde    JSON validated and minified by simdjson; serialized compact or pretty: in
//                 pulsar/json_serde.hpp, so that only its users pay for simdjson's ~60k lines

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <sluice/core/result.hpp>


namespace sluice::pulsar {

/// What a serde provides.
template <class S>
concept serde = requires(const S& s, std::string_view bytes, const typename S::value_type& v) {
    typename S::value_type;
    { s.deserialize(bytes) } -> std::same_as<result<typename S::value_type>>;
    { s.serialize(v) } -> std::convertible_to<std::string>;
};

namespace detail {
inline result<std::string> serde_failure(std::string_view source, std::string message) {
    error e;
    e.source = std::string(source);
    e.message = std::move(message);
    return result<std::string>::failure(std::move(e));
}

/// The offset of the first byte that breaks UTF-8, or npos.
[[nodiscard]] inline std::size_t invalid_utf8_at(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<std::uint8_t>(s[i]);
        if (b < 0x80) {
            ++i;
            continue;
        }
        std::size_t n = 0;
        std::uint32_t cp = 0, min = 0;
        if ((b & 0xe0) == 0xc0) { n = 1; cp = b & 0x1fu; min = 0x80; }
        else if ((b & 0xf0) == 0xe0) { n = 2; cp = b & 0x0fu; min = 0x800; }
        else if ((b & 0xf8) == 0xf0) { n = 3; cp = b & 0x07u; min = 0x10000; }
        else return i;
        if (s.size() - i <= n) return i;
        for (std::size_t k = 1; k <= n; ++k) {
            const auto c = static_cast<std::uint8_t>(s[i + k]);
            if ((c & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (c & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += n + 1;
    }
    return std::string_view::npos;
}
} // namespace detail

/// The payload as it is.
struct bytes_serde {
    /// What messages decode to.
    using value_type = std::string;
    /// The payload's bytes (never fails).
    [[nodiscard]] result<std::string> deserialize(std::string_view b) const { return result<std::string>::ok(std::string(b)); }
    /// The bytes as they are.
    [[nodiscard]] std::string serialize(const std::string& v) const { return v; }
};

/// UTF-8 text, validated.
struct utf8_serde {
    /// What messages decode to.
    using value_type = std::string;
    /// The text, or an Error naming the first invalid byte.
    [[nodiscard]] result<std::string> deserialize(std::string_view b) const {
        const auto at = detail::invalid_utf8_at(b);
        if (at != std::string_view::npos)
            return detail::serde_failure("utf8_serde", "invalid UTF-8 at byte " + std::to_string(at) + " of " + std::to_string(b.size()));
        return result<std::string>::ok(std::string(b));
    }
    /// The bytes as they are.
    [[nodiscard]] std::string serialize(const std::string& v) const { return v; }
};

} // namespace sluice::pulsar
