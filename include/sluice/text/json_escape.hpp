#pragma once

// JSON string escaping, fast: the exact size of a string once escaped (so a buffer is grown once)
// and a writer that copies blocks needing no escaping as they are and expands the others with
// shuffles (SSSE3 or AVX2, chosen at run time; SSE2 and portable code elsewhere). What every JSON
// request body sluice builds (SQS, Kinesis, Firehose, DynamoDB, CloudWatch, OpenSearch) goes through.
//
// Escaped: '"', '\\' and the control characters below 0x20 (\b \f \n \r \t, else \u00XX). Bytes at or
// above 0x80 are copied as they are: the input is expected to be UTF-8 (check it with text/utf8.hpp
// where the service requires valid UTF-8).

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <sluice/text/detail/simd.hpp>

namespace sluice::detail::json {


/// Per byte: 0 when copied as it is, else the character after the backslash ('u' for \u00XX).
inline constexpr std::array<char, 256> escape_table = [] {
    std::array<char, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[static_cast<std::size_t>(c)] = 'u';
    t['\b'] = 'b';
    t['\f'] = 'f';
    t['\n'] = 'n';
    t['\r'] = 'r';
    t['\t'] = 't';
    t['"'] = '"';
    t['\\'] = '\\';
    return t;
}();

/// Output bytes of one escaped byte.
inline constexpr std::size_t escape_width(unsigned char c) noexcept {
    const char e = escape_table[c];
    return e == 0 ? 1 : (e == 'u' ? 6 : 2);
}

#if defined(__SSE2__)
/// Bit k set when byte k of the 16 at p needs escaping ('"', '\\' or below 0x20); `control` gets the
/// bits of the bytes below 0x20 alone.
inline unsigned special_mask(const char* p, unsigned& control) noexcept {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
    const __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
    const __m128i below = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F));
    control = static_cast<unsigned>(_mm_movemask_epi8(below));
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), below)));
}

/// The same for the 64 bytes at p.
inline std::uint64_t special_mask64(const char* p, std::uint64_t& control) noexcept {
    std::uint64_t special = 0;
    control = 0;
    for (int k = 0; k < 4; ++k) {
        unsigned c = 0;
        special |= std::uint64_t{special_mask(p + 16 * k, c)} << (16 * k);
        control |= std::uint64_t{c} << (16 * k);
    }
    return special;
}

inline void copy16(char* dst, const char* src) noexcept {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
}
#else
/// True when one of the 8 bytes at p needs escaping (exact as a yes/no answer).
inline bool has_special8(const char* p) noexcept {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    constexpr std::uint64_t ones = 0x0101010101010101ULL;
    constexpr std::uint64_t highs = 0x8080808080808080ULL;
    auto has_zero = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
    const std::uint64_t below = (w - ones * 0x20) & ~w & highs;
    return (below | has_zero(w ^ (ones * '"')) | has_zero(w ^ (ones * '\\'))) != 0;
}
#endif

/// Exact size of `s` once escaped (without the quotes), with SSE2 (or 8 bytes at a time without).
inline std::size_t escaped_size_portable(std::string_view s) noexcept {
    std::size_t n = s.size();
    std::size_t i = 0;
#if defined(__SSE2__)
    // Byte-wide counters of the bytes to escape (one extra output byte each) and of the control
    // characters among them, summed before they can wrap: no branch per block.
    const std::size_t vector_end = s.size() / 16 * 16;
    std::size_t controls = 0;
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i c1f = _mm_set1_epi8(0x1F);
    const __m128i zero = _mm_setzero_si128();
    auto sum = [&zero](__m128i counters) {
        const __m128i s2 = _mm_sad_epu8(counters, zero);
        return static_cast<std::size_t>(_mm_cvtsi128_si64(s2) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(s2, s2)));
    };
    while (i < vector_end) {
        __m128i specials = zero;
        __m128i below = zero;
        const std::size_t stop = std::min(vector_end, i + 255 * 16);
        for (; i < stop; i += 16) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
            const __m128i b = _mm_cmpeq_epi8(_mm_max_epu8(v, c1f), c1f);
            specials = _mm_sub_epi8(specials, _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)), b));
            below = _mm_sub_epi8(below, b);
        }
        n += sum(specials);
        controls += sum(below);
    }
    // Rare: control characters written \u00XX take four bytes more than the one counted.
    if (controls != 0)
        for (std::size_t k = 0; k < vector_end; ++k)
            if (escape_table[static_cast<unsigned char>(s[k])] == 'u') n += 4;
#else
    for (; i + 8 <= s.size(); i += 8) {
        if (!has_special8(s.data() + i)) continue;
        for (std::size_t k = 0; k < 8; ++k) n += escape_width(static_cast<unsigned char>(s[i + k])) - 1;
    }
#endif
    for (; i < s.size(); ++i) n += escape_width(static_cast<unsigned char>(s[i])) - 1;
    return n;
}

inline char* write_escape(char* dst, unsigned char c) noexcept {
    constexpr char hex[] = "0123456789abcdef";
    const char e = escape_table[c];
    dst[0] = '\\';
    if (e != 'u') {
        dst[1] = e;
        return dst + 2;
    }
    dst[1] = 'u';
    dst[2] = '0';
    dst[3] = '0';
    dst[4] = hex[c >> 4];
    dst[5] = hex[c & 0x0F];
    return dst + 6;
}

inline char* write_escaped_bytes(char* dst, const char* src, std::size_t n) noexcept {
    for (std::size_t k = 0; k < n; ++k) {
        const auto c = static_cast<unsigned char>(src[k]);
        if (escape_table[c] == 0) *dst++ = static_cast<char>(c);
        else dst = write_escape(dst, c);
    }
    return dst;
}

#if SLUICE_TEXT_X86_DISPATCH
/// For an 8-bit mask k of the bytes to escape among 8: the pshufb indices that spread the 8 bytes
/// over 8 + popcount(k) positions leaving a gap before each escaped one (0x80 gives a zero there),
/// and the backslashes that fill the gaps.
struct expansion_tables {
    alignas(16) unsigned char shuffle[256][16];
    alignas(16) unsigned char backslash[256][16];
    /// 8 + popcount(k): a table, as popcnt is not in the x86-64 baseline.
    unsigned char width[256];
};

inline constexpr expansion_tables make_expansion_tables() {
    expansion_tables t{};
    for (unsigned k = 0; k < 256; ++k) {
        unsigned o = 0;
        for (unsigned j = 0; j < 8; ++j) {
            if ((k >> j) & 1u) {
                t.shuffle[k][o] = 0x80;
                t.backslash[k][o] = '\\';
                ++o;
            }
            t.shuffle[k][o] = static_cast<unsigned char>(j);
            ++o;
        }
        t.width[k] = static_cast<unsigned char>(o);
        for (; o < 16; ++o) t.shuffle[k][o] = 0x80;
    }
    return t;
}

inline constexpr expansion_tables expansion = make_expansion_tables();

/// Expands one 16-byte block with only '"' and '\\' to escape (mask m, not zero) at dst.
__attribute__((target("ssse3"))) inline char* expand_block_ssse3(char* dst, __m128i v, unsigned m) noexcept {
    const unsigned lo = m & 0xFFu;
    const unsigned hi = m >> 8;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst),
                     _mm_or_si128(_mm_shuffle_epi8(v, _mm_load_si128(reinterpret_cast<const __m128i*>(expansion.shuffle[lo]))),
                                  _mm_load_si128(reinterpret_cast<const __m128i*>(expansion.backslash[lo]))));
    dst += expansion.width[lo];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst),
                     _mm_or_si128(_mm_shuffle_epi8(_mm_srli_si128(v, 8),
                                                   _mm_load_si128(reinterpret_cast<const __m128i*>(expansion.shuffle[hi]))),
                                  _mm_load_si128(reinterpret_cast<const __m128i*>(expansion.backslash[hi]))));
    return dst + expansion.width[hi];
}

/// The SSSE3 escaper: every 16-byte block with only '"' and '\\' to escape is expanded with two
/// shuffles, whatever their number (JSON bodies have one in ten). Returns where it stopped (a
/// multiple of 16); the caller finishes the tail. Called only when the CPU has SSSE3.
__attribute__((target("ssse3"))) inline char* write_escaped_ssse3(char* dst, const char* src, std::size_t n,
                                                                 std::size_t& done) noexcept {
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        unsigned control = 0;
        const unsigned m = special_mask(src + i, control);
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
        if (m == 0) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), v);
            dst += 16;
            continue;
        }
        if (control != 0) {
            dst = write_escaped_bytes(dst, src + i, 16);
            continue;
        }
        dst = expand_block_ssse3(dst, v, m);
    }
    done = i;
    return dst;
}

/// The AVX2 escaper: 32-byte blocks, those without anything to escape stored as they are, the others
/// expanded 16 bytes at a time as in the SSSE3 escaper.
__attribute__((target("avx2"))) inline char* write_escaped_avx2(char* dst, const char* src, std::size_t n,
                                                               std::size_t& done) noexcept {
    const __m256i quote = _mm256_set1_epi8('"');
    const __m256i backslash = _mm256_set1_epi8('\\');
    const __m256i c1f = _mm256_set1_epi8(0x1F);
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
        const __m256i below = _mm256_cmpeq_epi8(_mm256_max_epu8(v, c1f), c1f);
        const auto m = static_cast<std::uint32_t>(_mm256_movemask_epi8(
            _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, backslash)), below)));
        if (m == 0) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), v);
            dst += 32;
            continue;
        }
        if (_mm256_movemask_epi8(below) != 0) {
            dst = write_escaped_bytes(dst, src + i, 32);
            continue;
        }
        const unsigned m0 = m & 0xFFFFu;
        const unsigned m1 = m >> 16;
        const __m128i v0 = _mm256_castsi256_si128(v);
        const __m128i v1 = _mm256_extracti128_si256(v, 1);
        if (m0 == 0) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), v0);
            dst += 16;
        } else {
            dst = expand_block_ssse3(dst, v0, m0);
        }
        if (m1 == 0) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), v1);
            dst += 16;
        } else {
            dst = expand_block_ssse3(dst, v1, m1);
        }
    }
    done = i;
    return dst;
}

/// escaped_size with AVX2: 32 bytes per step.
__attribute__((target("avx2"))) inline std::size_t escaped_size_avx2(std::string_view s) noexcept {
    std::size_t n = s.size();
    const std::size_t vector_end = s.size() / 32 * 32;
    std::size_t i = 0;
    std::size_t controls = 0;
    const __m256i quote = _mm256_set1_epi8('"');
    const __m256i backslash = _mm256_set1_epi8('\\');
    const __m256i c1f = _mm256_set1_epi8(0x1F);
    const __m256i zero = _mm256_setzero_si256();
    while (i < vector_end) {
        __m256i specials = zero;
        __m256i below = zero;
        const std::size_t stop = std::min(vector_end, i + 255 * 32);
        for (; i < stop; i += 32) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.data() + i));
            const __m256i b = _mm256_cmpeq_epi8(_mm256_max_epu8(v, c1f), c1f);
            specials = _mm256_sub_epi8(
                specials, _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, backslash)), b));
            below = _mm256_sub_epi8(below, b);
        }
        const __m256i s4 = _mm256_sad_epu8(specials, zero);
        n += static_cast<std::size_t>(_mm256_extract_epi64(s4, 0) + _mm256_extract_epi64(s4, 1) +
                                      _mm256_extract_epi64(s4, 2) + _mm256_extract_epi64(s4, 3));
        const __m256i c4 = _mm256_sad_epu8(below, zero);
        controls += static_cast<std::size_t>(_mm256_extract_epi64(c4, 0) + _mm256_extract_epi64(c4, 1) +
                                             _mm256_extract_epi64(c4, 2) + _mm256_extract_epi64(c4, 3));
    }
    if (controls != 0)
        for (std::size_t k = 0; k < vector_end; ++k)
            if (escape_table[static_cast<unsigned char>(s[k])] == 'u') n += 4;
    for (; i < s.size(); ++i) n += escape_width(static_cast<unsigned char>(s[i])) - 1;
    return n;
}

enum class simd_level { sse2, ssse3, avx2 };

/// What this CPU offers, detected once.
inline simd_level cpu_simd_level() noexcept {
    switch (simd::cpu_level()) {
    case simd::level::avx2: return simd_level::avx2;
    case simd::level::ssse3: return simd_level::ssse3;
    case simd::level::baseline: break;
    }
    return simd_level::sse2;
}
#endif

#if defined(__SSE2__)
/// The SSE2 escaper, for CPUs without SSSE3: 64-byte chunks while a 16-byte load from anywhere in the
/// chunk stays inside the input. A '"' or '\\' is escaped by a backslash before it: the run before
/// it is copied, then '\\', and the character itself starts the next run. Control characters (rare) take the byte loop. Returns where it stopped; the caller finishes the tail.
inline char* write_escaped_sse2(char* dst, const char* src, std::size_t n, std::size_t& done) noexcept {
    std::size_t i = 0;
    for (; i + 80 <= n; i += 64) {
        const char* chunk = src + i;
        std::uint64_t control = 0;
        std::uint64_t m = special_mask64(chunk, control);
        if (m == 0) {
            copy16(dst, chunk);
            copy16(dst + 16, chunk + 16);
            copy16(dst + 32, chunk + 32);
            copy16(dst + 48, chunk + 48);
            dst += 64;
            continue;
        }
        if (control != 0) {
            dst = write_escaped_bytes(dst, chunk, 64);
            continue;
        }
        std::size_t prev = 0;
        do {
            const auto b = static_cast<std::size_t>(std::countr_zero(m));
            const std::size_t run = b - prev;
            copy16(dst, chunk + prev);
            for (std::size_t k = 16; k < run; k += 16) copy16(dst + k, chunk + prev + k);
            dst += run;
            *dst++ = '\\';
            prev = b;
            m &= m - 1;
        } while (m != 0);
        const std::size_t rest = 64 - prev;
        for (std::size_t k = 0; k < rest; k += 16) copy16(dst + k, chunk + prev + k);
        dst += rest;
    }
    // The tail, 16 bytes at a time while a load from the block stays inside `s`.
    for (; i + 32 <= n; i += 16) {
        unsigned control = 0;
        unsigned m = special_mask(src + i, control);
        if (m == 0) {
            copy16(dst, src + i);
            dst += 16;
            continue;
        }
        if (control != 0) {
            dst = write_escaped_bytes(dst, src + i, 16);
            continue;
        }
        std::size_t prev = 0;
        do {
            const auto b = static_cast<std::size_t>(std::countr_zero(m));
            copy16(dst, src + i + prev);
            dst += b - prev;
            *dst++ = '\\';
            prev = b;
            m &= m - 1;
        } while (m != 0);
        copy16(dst, src + i + prev);
        dst += 16 - prev;
    }
    done = i;
    return dst;
}
#endif

/// Writes `s` escaped at dst and returns the end. May write up to 16 bytes past the end it returns
/// (write_slack; the caller leaves room): blocks are stored 16 bytes at a time.
inline char* write_escaped(char* dst, std::string_view s) noexcept {
    const char* src = s.data();
    const std::size_t n = s.size();
    std::size_t i = 0;
#if SLUICE_TEXT_X86_DISPATCH
    switch (cpu_simd_level()) {
    case simd_level::avx2: dst = write_escaped_avx2(dst, src, n, i); break;
    case simd_level::ssse3: dst = write_escaped_ssse3(dst, src, n, i); break;
    case simd_level::sse2: dst = write_escaped_sse2(dst, src, n, i); break;
    }
#elif defined(__SSE2__)
    dst = write_escaped_sse2(dst, src, n, i);
#else
    for (; i + 8 <= n; i += 8) {
        if (!has_special8(src + i)) {
            std::memcpy(dst, src + i, 8);
            dst += 8;
            continue;
        }
        dst = write_escaped_bytes(dst, src + i, 8);
    }
#endif
    return write_escaped_bytes(dst, src + i, n - i);
}

/// Exact size of `s` once escaped (without the quotes).
inline std::size_t escaped_size(std::string_view s) noexcept {
#if SLUICE_TEXT_X86_DISPATCH
    if (cpu_simd_level() == simd_level::avx2) return escaped_size_avx2(s);
#endif
    return escaped_size_portable(s);
}

} // namespace sluice::detail::json

namespace sluice::text {

/// Bytes write_json_escaped may touch past the end it returns: leave this much room.
inline constexpr std::size_t json_write_slack = 16;

/// Exact size of `s` once escaped for a JSON string (without the quotes).
[[nodiscard]] inline std::size_t json_escaped_size(std::string_view s) noexcept { return detail::json::escaped_size(s); }

/// Writes `s` escaped at dst (which has room for json_escaped_size(s) + json_write_slack bytes) and
/// returns the end of what it wrote.
inline char* write_json_escaped(char* dst, std::string_view s) noexcept { return detail::json::write_escaped(dst, s); }

/// Appends `s` escaped (without quotes) to `out`.
inline void append_json_escaped(std::string& out, std::string_view s) {
    if (s.size() <= 32) {
        // Short strings (names, keys, small values) mostly need no escaping: one look, one append,
        // instead of sizing, growing by the write slack and shrinking back.
        bool plain = true;
        for (const char c : s) plain = plain && detail::json::escape_table[static_cast<unsigned char>(c)] == 0;
        if (plain) {
            out.append(s);
            return;
        }
    }
    const std::size_t start = out.size();
    const std::size_t n = json_escaped_size(s);
    out.resize(start + n + json_write_slack);
    write_json_escaped(out.data() + start, s);
    out.resize(start + n);
}

/// Appends `s` as a JSON string, quotes included.
inline void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    append_json_escaped(out, s);
    out += '"';
}

} // namespace sluice::text
