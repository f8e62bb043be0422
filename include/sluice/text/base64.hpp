#pragma once

// Base64 (RFC 4648, standard alphabet, padded), as AWS JSON APIs carry binary data (Kinesis and
// Firehose record data, SQS binary attributes, DynamoDB B). Encoding 12 bytes per step without
// branches; decoding strict (what a test or a fixture reads back), refusing anything malformed.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::text {

/// Encoded size of `n` bytes, padding included.
inline constexpr std::size_t base64_size(std::size_t n) noexcept { return (n + 2) / 3 * 4; }

/// Writes the encoding of `bytes` at dst (base64_size(bytes.size()) bytes) and returns its end.
inline char* write_base64(char* dst, std::string_view bytes) noexcept {
    constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::size_t n = bytes.size();
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
        constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
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
