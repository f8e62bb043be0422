#pragma once

// UTF-8 validation with a reason and a byte offset, fast on ASCII (64 bytes per test with SSE2), and
// an optional rule on the characters allowed (SQS accepts only #x9 | #xA | #xD | #x20-#xD7FF |
// #xE000-#xFFFD | #x10000-#x10FFFF; CloudWatch Logs and Kinesis partition keys accept any valid UTF-8).
// Valid means: no stray or missing continuation bytes, no overlong forms, no surrogates, nothing above
// U+10FFFF. Reasons give positions, never the text itself, so they are safe to log.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sluice::text {

/// A check's verdict: ok, not valid UTF-8, or valid UTF-8 holding a code point the rule refuses.
enum class utf8_status { ok, invalid_utf8, invalid_character };

/// The result of a check: ok, or what is wrong and where.
struct utf8_check {
    /// ok, or what is wrong.
    utf8_status status = utf8_status::ok;
    /// Byte offset of the offending sequence.
    std::size_t offset = 0;
    /// The code point, for invalid_character.
    std::uint32_t code_point = 0;
    /// Why the UTF-8 is invalid, for invalid_utf8.
    std::string_view detail{};

    /// True when the text passed.
    [[nodiscard]] bool ok() const noexcept { return status == utf8_status::ok; }
};

/// Any code point valid UTF-8 can hold.
struct any_character {
    /// Accepts every code point.
    constexpr bool operator()(std::uint32_t) const noexcept { return true; }
};

/// The characters of XML 1.0, which SQS (and other XML-rooted AWS APIs) accept:
/// `#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF`.
struct xml_character {
    /// True for a character of XML 1.0.
    constexpr bool operator()(std::uint32_t cp) const noexcept {
        if (cp < 0x20) return cp == 0x09 || cp == 0x0A || cp == 0x0D;
        return cp != 0xFFFE && cp != 0xFFFF;
    }
    /// The accepted set, for error messages.
    static constexpr std::string_view description = "#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF";
};

} // namespace sluice::text

namespace sluice::detail::utf8 {

/// True when the 16 (or 8) bytes at p are all ASCII in 0x20..0x7F (valid, and allowed by every rule).
inline bool plain_ascii_block(const char* p) noexcept {
#if defined(__SSE2__)
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // A byte < 0x20 or >= 0x80 (signed: negative, or below 0x20).
    const __m128i low = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
    return _mm_movemask_epi8(low) == 0;
#else
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    constexpr std::uint64_t ones = 0x0101010101010101ULL;
    constexpr std::uint64_t highs = 0x8080808080808080ULL;
    return ((w | ((w - ones * 0x20) & ~w)) & highs) == 0;
#endif
}

#if defined(__SSE2__)
inline constexpr std::size_t block_size = 16;

/// plain_ascii_block for the 64 bytes at p, with one test instead of four.
inline bool plain_ascii_chunk(const char* p) noexcept {
    const __m128i limit = _mm_set1_epi8(0x20);
    __m128i low = _mm_cmplt_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), limit);
    low = _mm_or_si128(low, _mm_cmplt_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)), limit));
    low = _mm_or_si128(low, _mm_cmplt_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32)), limit));
    low = _mm_or_si128(low, _mm_cmplt_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 48)), limit));
    return _mm_movemask_epi8(low) == 0;
}
#else
inline constexpr std::size_t block_size = 8;

inline bool plain_ascii_chunk(const char* p) noexcept {
    for (int k = 0; k < 8; ++k)
        if (!plain_ascii_block(p + 8 * k)) return false;
    return true;
}
#endif

/// Decodes the multi-byte sequence at s[i] (lead byte >= 0x80). Returns its length (0 when invalid,
/// with `why` set) and the code point in `cp`.
inline std::size_t decode(const unsigned char* s, std::size_t n, std::size_t i, std::uint32_t& cp,
                          std::string_view& why) noexcept {
    const unsigned char c = s[i];
    auto cont = [&](std::size_t k) { return i + k < n && (s[i + k] & 0xC0) == 0x80; };
    auto missing = [&](std::size_t len) -> std::size_t {
        for (std::size_t k = 1; k < len; ++k)
            if (!cont(k)) {
                why = i + k >= n ? "truncated sequence" : "missing continuation byte";
                return 0;
            }
        return len;
    };
    if (c < 0xC0) return why = "unexpected continuation byte", 0;
    if (c < 0xC2) return why = "overlong encoding", 0;
    if (c < 0xE0) {
        if (missing(2) == 0) return 0;
        cp = ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
        return 2;
    }
    if (c < 0xF0) {
        if (missing(3) == 0) return 0;
        cp = ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
        if (cp < 0x800) return why = "overlong encoding", 0;
        if (cp >= 0xD800 && cp <= 0xDFFF) return why = "surrogate code point", 0;
        return 3;
    }
    if (c < 0xF5) {
        if (missing(4) == 0) return 0;
        cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu);
        if (cp < 0x10000) return why = "overlong encoding", 0;
        if (cp > 0x10FFFF) return why = "code point above U+10FFFF", 0;
        return 4;
    }
    return why = "invalid byte", 0;
}

inline void append_hex_upper(std::string& out, std::uint32_t v, int min_digits) {
    char buf[8];
    const auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v, 16);
    (void)ec;
    for (int k = static_cast<int>(ptr - buf); k < min_digits; ++k) out += '0';
    for (const char* p = buf; p != ptr; ++p) out += static_cast<char>(*p >= 'a' ? *p - 32 : *p);
}

} // namespace sluice::detail::utf8

namespace sluice::text {

/// Checks that `text` is valid UTF-8 whose every character satisfies `allowed` (a callable taking a
/// code point). Plain ASCII 0x20..0x7F is accepted without asking `allowed`.
template <class Allowed = any_character>
[[nodiscard]] utf8_check check_utf8(std::string_view text, Allowed allowed = {}) noexcept {
    namespace d = sluice::detail::utf8;
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t i = 0;
    while (i < n) {
        // Plain ASCII, most text: 64 bytes, then 16, at a time.
        if (i + 64 <= n && d::plain_ascii_chunk(text.data() + i)) {
            i += 64;
            continue;
        }
        if (i + d::block_size <= n && d::plain_ascii_block(text.data() + i)) {
            i += d::block_size;
            continue;
        }
        std::uint32_t cp = s[i];
        std::size_t len = 1;
        if (cp >= 0x80) {
            std::string_view why;
            len = d::decode(s, n, i, cp, why);
            if (len == 0) return {utf8_status::invalid_utf8, i, 0, why};
        }
        if ((cp < 0x20 || cp >= 0x80) && !allowed(cp)) return {utf8_status::invalid_character, i, cp, {}};
        i += len;
    }
    return {};
}

/// The number of code points in valid UTF-8 (what "1 to 256 Unicode characters" limits count).
[[nodiscard]] inline std::size_t utf8_length(std::string_view text) noexcept {
    std::size_t n = 0;
    for (const char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
    return n;
}

/// "message body: invalid UTF-8 at byte 17 (overlong encoding)", or "message body: character U+0001
/// at byte 3 is not allowed <rule>" (rule: e.g. "by SQS (allowed: ...)").
[[nodiscard]] inline std::string describe(const utf8_check& c, std::string_view what, std::string_view rule = {}) {
    std::string out(what);
    if (c.status == utf8_status::invalid_utf8) {
        out += ": invalid UTF-8 at byte ";
        out += std::to_string(c.offset);
        out += " (";
        out += c.detail;
        out += ')';
    } else if (c.status == utf8_status::invalid_character) {
        out += ": character U+";
        detail::utf8::append_hex_upper(out, c.code_point, 4);
        out += " at byte ";
        out += std::to_string(c.offset);
        out += " is not allowed";
        if (!rule.empty()) {
            out += ' ';
            out += rule;
        }
    }
    return out;
}

} // namespace sluice::text
