#pragma once

// Parquet's RLE / bit-packing hybrid encoding (apache/parquet-format, Encodings.md, "Run Length
// Encoding / Bit-Packing Hybrid (RLE = 3)"), for definition levels and dictionary indices, and the
// LSB-first bit packing it shares with PLAIN booleans:
//   rle-run        := varint(run-length << 1)          then the value in ceil(bit-width / 8) bytes, LE
//   bit-packed-run := varint((values / 8) << 1 | 1)    then the values, 8 at a time, packed from the
//                                                      least significant bit of each byte
// A run of 8 or more equal values becomes an RLE run; everything else is bit-packed in groups of 8.
// Only the last group of the data may be padded (a reader stops at the page's value count), so a
// bit-packed run that an RLE run follows always holds a whole number of groups.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include <sluice/formats/parquet/thrift_compact.hpp>

namespace sluice::formats::parquet {

/// The number of bits needed for values up to `max_value` (0 for 0).
[[nodiscard]] constexpr int bit_width(std::uint64_t max_value) noexcept { return static_cast<int>(std::bit_width(max_value)); }

/// Packs `values` (each below 2^width) LSB-first into whole bytes, padding the last byte with zeros.
template <class T>
void bit_pack(std::string& out, std::span<const T> values, int width) {
    std::uint64_t bits = 0;
    int count = 0;
    for (const T v : values) {
        bits |= static_cast<std::uint64_t>(v) << count;
        count += width;
        while (count >= 8) {
            out.push_back(static_cast<char>(static_cast<std::uint8_t>(bits)));
            bits >>= 8;
            count -= 8;
        }
    }
    if (count > 0) out.push_back(static_cast<char>(static_cast<std::uint8_t>(bits)));
}

/// Appends the RLE / bit-packing hybrid encoding of `values` (each below 2^width, width 1..32), without
/// the 4-byte length prefix (rle_hybrid_with_length adds it).
template <class T>
void rle_hybrid(std::string& out, std::span<const T> values, int width) {
    const std::size_t n = values.size();
    const auto run_at = [&](std::size_t i) {
        std::size_t j = i + 1;
        while (j < n && values[j] == values[i]) ++j;
        return j - i;
    };
    const std::size_t value_bytes = static_cast<std::size_t>((width + 7) / 8);
    std::size_t i = 0;
    while (i < n) {
        const std::size_t run = run_at(i);
        if (run >= 8) {
            thrift::put_varint(out, static_cast<std::uint64_t>(run) << 1);
            auto v = static_cast<std::uint64_t>(values[i]);
            for (std::size_t b = 0; b < value_bytes; ++b, v >>= 8) out.push_back(static_cast<char>(static_cast<std::uint8_t>(v)));
            i += run;
            continue;
        }
        // Bit-pack groups of 8 until a group would start on a run worth an RLE run, or the data ends.
        std::size_t j = i;
        do {
            j += 8;
        } while (j < n && run_at(j) < 8);
        const std::size_t end = std::min(j, n);
        thrift::put_varint(out, (static_cast<std::uint64_t>(j - i) / 8) << 1 | 1);
        const std::size_t before = out.size();
        bit_pack(out, values.subspan(i, end - i), width);
        // A padded last group still takes its full width * 8 bits.
        out.resize(before + (j - i) / 8 * static_cast<std::size_t>(width), '\0');
        i = end;
    }
}

/// The hybrid encoding preceded by its length as 4 bytes little-endian (data page v1 levels).
template <class T>
void rle_hybrid_with_length(std::string& out, std::span<const T> values, int width) {
    const std::size_t at = out.size();
    out.append(4, '\0');
    rle_hybrid(out, values, width);
    const auto len = static_cast<std::uint32_t>(out.size() - at - 4);
    for (int b = 0; b < 4; ++b) out[at + static_cast<std::size_t>(b)] = static_cast<char>(static_cast<std::uint8_t>(len >> (8 * b)));
}

} // namespace sluice::formats::parquet
