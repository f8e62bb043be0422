#pragma once

// Base64 (RFC 4648, standard alphabet, padded), as AWS JSON APIs carry binary data (Kinesis and
// Firehose record data, SQS binary attributes, DynamoDB B). Encoding with AVX2 where the CPU has it
// (24 bytes in, 32 out per step: the reshuffle and translation of Muła and Lemire, "Faster Base64
// Encoding and Decoding Using AVX2 Instructions", 2018), 3 bytes per step elsewhere; decoding strict
// (what a test or a fixture reads back), refusing anything malformed.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <sluice/text/detail/simd.hpp>

namespace sluice::detail::base64 {

inline constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Whole groups of 3 bytes, then the padded tail.
inline char* encode_scalar(char* dst, const unsigned char* s, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        const std::uint32_t v = (std::uint32_t{s[i]} << 16) | (std::uint32_t{s[i + 1]} << 8) | s[i + 2];
        dst[0] = alphabet[v >> 18];
        dst[1] = alphabet[(v >> 12) & 63];
        dst[2] = alphabet[(v >> 6) & 63];
        dst[3] = alphabet[v & 63];
        dst += 4;
    }
    if (const std::size_t rest = n - i; rest != 0) {
        const std::uint32_t v = (std::uint32_t{s[i]} << 16) | (rest == 2 ? std::uint32_t{s[i + 1]} << 8 : 0u);
        dst[0] = alphabet[v >> 18];
        dst[1] = alphabet[(v >> 12) & 63];
        dst[2] = rest == 2 ? alphabet[(v >> 6) & 63] : '=';
        dst[3] = '=';
        dst += 4;
    }
    return dst;
}

#if SLUICE_TEXT_X86_DISPATCH
/// 24 input bytes (12 per 128-bit lane, each lane loaded from its own offset) -> 32 six-bit indices:
/// every 3 bytes spread over one 32-bit word [b1 b0 b2 b1], then the four 6-bit fields moved into
/// the four bytes with a multiply-high and a multiply-low.
__attribute__((target("avx2"))) inline __m256i reshuffle(__m256i in) noexcept {
    in = _mm256_shuffle_epi8(in, _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10, //
                                                  1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10));
    const __m256i t0 = _mm256_and_si256(in, _mm256_set1_epi32(0x0fc0fc00));
    const __m256i t1 = _mm256_mulhi_epu16(t0, _mm256_set1_epi32(0x04000040));
    const __m256i t2 = _mm256_and_si256(in, _mm256_set1_epi32(0x003f03f0));
    const __m256i t3 = _mm256_mullo_epi16(t2, _mm256_set1_epi32(0x01000010));
    return _mm256_or_si256(t1, t3);
}

/// Six-bit indices -> ASCII: each range (A-Z, a-z, 0-9, '+', '/') is an offset added to the index.
__attribute__((target("avx2"))) inline __m256i translate(__m256i in) noexcept {
    const __m256i offsets = _mm256_setr_epi8(65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0, //
                                             65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0);
    __m256i range = _mm256_subs_epu8(in, _mm256_set1_epi8(51));
    range = _mm256_sub_epi8(range, _mm256_cmpgt_epi8(in, _mm256_set1_epi8(25)));
    return _mm256_add_epi8(in, _mm256_shuffle_epi8(offsets, range));
}

/// Encodes 24 bytes per step while a 16-byte load at +12 stays inside the input; returns where it
/// stopped (the caller finishes with encode_scalar).
__attribute__((target("avx2"))) inline char* encode_avx2(char* dst, const unsigned char* s, std::size_t n,
                                                        std::size_t& done) noexcept {
    std::size_t i = 0;
    for (; i + 28 <= n; i += 24) {
        const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
        const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 12));
        const __m256i in = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), translate(reshuffle(in)));
        dst += 32;
    }
    done = i;
    return dst;
}
#endif

} // namespace sluice::detail::base64

namespace sluice::text {

/// Encoded size of `n` bytes, padding included.
inline constexpr std::size_t base64_size(std::size_t n) noexcept { return (n + 2) / 3 * 4; }

/// Writes the encoding of `bytes` at dst (base64_size(bytes.size()) bytes) and returns its end.
inline char* write_base64(char* dst, std::string_view bytes) noexcept {
    namespace d = sluice::detail::base64;
    const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t done = 0;
#if SLUICE_TEXT_X86_DISPATCH
    if (bytes.size() >= 28 && sluice::detail::simd::cpu_level() == sluice::detail::simd::level::avx2)
        dst = d::encode_avx2(dst, s, bytes.size(), done);
#endif
    return d::encode_scalar(dst, s + done, bytes.size() - done);
}

/// Appends the encoding of `bytes` to `out`.
inline void append_base64(std::string& out, std::string_view bytes) {
    const std::size_t start = out.size();
    out.resize(start + base64_size(bytes.size()));
    write_base64(out.data() + start, bytes);
}

/// Decodes padded standard base64; nullopt for anything else (bad characters, bad length or padding,
/// non-zero bits in the padding).
[[nodiscard]] inline std::optional<std::string> decode_base64(std::string_view text) {
    static constexpr auto table = [] {
        std::array<signed char, 256> t{};
        for (auto& v : t) v = -1;
        for (int i = 0; i < 64; ++i)
            t[static_cast<unsigned char>(sluice::detail::base64::alphabet[i])] = static_cast<signed char>(i);
        return t;
    }();
    if (text.size() % 4 != 0) return std::nullopt;
    std::size_t pad = 0;
    if (!text.empty() && text.back() == '=') pad = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        std::uint32_t v = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            const auto c = static_cast<unsigned char>(text[i + k]);
            if (last && k >= 4 - pad) {
                v <<= 6;
                continue;
            }
            const int d = table[c];
            if (d < 0) return std::nullopt;
            v = (v << 6) | static_cast<std::uint32_t>(d);
        }
        out += static_cast<char>(v >> 16);
        if (!last || pad < 2) out += static_cast<char>((v >> 8) & 0xFF);
        if (!last || pad < 1) out += static_cast<char>(v & 0xFF);
        if (last && ((pad == 1 && (v & 0xFF) != 0) || (pad == 2 && (v & 0xFFFF) != 0))) return std::nullopt;
    }
    return out;
}

} // namespace sluice::text
