#pragma once

// Snappy's raw block format (no framing), as Pulsar's SNAPPY compression uses it: a varint of the
// uncompressed length, then literals and back-references. Written here rather than linked because
// Debian's libsnappy is C++ with no pkg-config module and sluice needs only these two functions.
//
// The compressor is the classic greedy one (a 4-byte hash table over 64 KiB blocks, copies with
// 2-byte offsets); any snappy decoder reads its output. The decompressor accepts every valid stream
// (1-, 2- and 4-byte offsets, overlapping copies) and refuses anything that reads or writes out of
// bounds or does not produce exactly the announced length.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

/// Corrupt snappy input.
class snappy_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {

inline void snappy_literal(std::string& out, const char* p, std::size_t n) {
    const std::size_t len = n - 1;
    if (len < 60) {
        out.push_back(static_cast<char>(len << 2));
    } else {
        char b[5];
        std::size_t k = 0;
        for (std::size_t v = len; v != 0; v >>= 8) b[1 + k++] = static_cast<char>(v & 0xff);
        b[0] = static_cast<char>((59 + k) << 2);
        out.append(b, k + 1);
    }
    out.append(p, n);
}

inline void snappy_copy(std::string& out, std::size_t offset, std::size_t len) {
    while (len > 0) { // copies of at most 64 bytes, with 2-byte offsets (offset < 65536 within a block)
        std::size_t n = len > 64 ? (len - 64 < 4 ? 60 : 64) : len;
        out.push_back(static_cast<char>(((n - 1) << 2) | 2));
        out.push_back(static_cast<char>(offset & 0xff));
        out.push_back(static_cast<char>(offset >> 8));
        len -= n;
    }
}

inline std::uint32_t snappy_load32(const char* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

inline void snappy_compress_block(std::string& out, const char* base, std::size_t n, std::vector<std::uint16_t>& table) {
    std::fill(table.begin(), table.end(), std::uint16_t{0});
    const auto hash = [](std::uint32_t v) { return (v * 0x1e35a7bdu) >> 18; }; // 14 bits
    std::size_t literal_start = 0;
    std::size_t i = 1;
    if (n < 15) i = n; // too short to be worth matching
    while (i + 4 <= n) {
        const std::uint32_t v = snappy_load32(base + i);
        const std::uint32_t h = hash(v);
        const std::size_t candidate = table[h];
        table[h] = static_cast<std::uint16_t>(i);
        if (candidate >= i || snappy_load32(base + candidate) != v) {
            ++i;
            continue;
        }
        if (i > literal_start) snappy_literal(out, base + literal_start, i - literal_start);
        std::size_t len = 4;
        while (i + len < n && base[candidate + len] == base[i + len]) ++len;
        snappy_copy(out, i - candidate, len);
        i += len;
        literal_start = i;
    }
    if (literal_start < n) snappy_literal(out, base + literal_start, n - literal_start);
}

} // namespace detail

/// Appends the snappy compression of `in` to `out`.
inline void snappy_compress(std::string_view in, std::string& out) {
    for (std::uint64_t v = in.size();; v >>= 7) {
        if (v < 0x80) {
            out.push_back(static_cast<char>(v));
            break;
        }
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    }
    std::vector<std::uint16_t> table(1u << 14);
    for (std::size_t at = 0; at < in.size(); at += 65536)
        detail::snappy_compress_block(out, in.data() + at, std::min<std::size_t>(65536, in.size() - at), table);
}

/// The uncompressed length a snappy stream announces; throws snappy_error when it is malformed.
[[nodiscard]] inline std::size_t snappy_uncompressed_length(std::string_view in) {
    std::uint64_t v = 0;
    for (unsigned shift = 0, i = 0; i < in.size() && shift < 35; ++i, shift += 7) {
        const auto b = static_cast<std::uint8_t>(in[i]);
        v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            if (v > 0xffffffffu) break;
            return static_cast<std::size_t>(v);
        }
    }
    throw snappy_error("sluice: corrupt snappy stream (bad length preamble)");
}

/// Decompresses `in` into `out` (replacing its contents). Throws snappy_error when the stream is
/// corrupt or announces more than `max_size` bytes.
inline void snappy_decompress(std::string_view in, std::string& out, std::size_t max_size) {
    const std::size_t n = snappy_uncompressed_length(in);
    if (n > max_size)
        throw snappy_error("sluice: snappy stream announces " + std::to_string(n) + " bytes, more than the limit of " +
                           std::to_string(max_size));
    std::size_t pos = 0;
    while (pos < in.size() && (static_cast<std::uint8_t>(in[pos]) & 0x80) != 0) ++pos;
    ++pos;
    out.resize(n);
    std::size_t w = 0;
    const auto fail = [](const char* why) { throw snappy_error(std::string("sluice: corrupt snappy stream (") + why + ")"); };
    while (pos < in.size()) {
        const auto tag = static_cast<std::uint8_t>(in[pos++]);
        std::size_t len = 0;
        std::size_t offset = 0;
        if ((tag & 3) == 0) {
            len = (tag >> 2) + 1u;
            if (len > 60) {
                const std::size_t k = len - 60;
                if (in.size() - pos < k) fail("truncated literal length");
                len = 0;
                for (std::size_t b = 0; b < k; ++b) len |= static_cast<std::size_t>(static_cast<std::uint8_t>(in[pos + b])) << (8 * b);
                len += 1;
                pos += k;
            }
            if (in.size() - pos < len || n - w < len) fail("literal out of bounds");
            std::memcpy(out.data() + w, in.data() + pos, len);
            pos += len;
            w += len;
            continue;
        }
        if ((tag & 3) == 1) {
            if (in.size() - pos < 1) fail("truncated copy");
            len = ((tag >> 2) & 7) + 4u;
            offset = (static_cast<std::size_t>(tag >> 5) << 8) | static_cast<std::uint8_t>(in[pos]);
            pos += 1;
        } else {
            const std::size_t k = (tag & 3) == 2 ? 2 : 4;
            if (in.size() - pos < k) fail("truncated copy");
            len = (tag >> 2) + 1u;
            for (std::size_t b = 0; b < k; ++b) offset |= static_cast<std::size_t>(static_cast<std::uint8_t>(in[pos + b])) << (8 * b);
            pos += k;
        }
        if (offset == 0 || offset > w || n - w < len) fail("copy out of bounds");
        for (std::size_t b = 0; b < len; ++b, ++w) out[w] = out[w - offset]; // overlapping copies repeat
    }
    if (w != n) fail("shorter than announced");
}

} // namespace sluice
