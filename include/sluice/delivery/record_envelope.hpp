#pragma once

// How the engine stores a record's options with it in the disk buffer, inside the record's bytes, so
// a record read back after a restart goes to the right batch, weighs what it weighed and keeps its
// order key.
//
//   0   4  magic FF 00 53 45 (0xFF and 0x00 never start UTF-8 text, JSON or an SQS entry)
//   4   1  version (1)
//   5   1  flags (0)
//   6   2  batch key length   (little endian)
//   8   2  order key length
//   10  4  weight (0: the record's size)
//   14  4  CRC32C of bytes 0..13 and the two keys
//   18     batch key, order key, then the record
//
// A record with no options is stored as it is (no envelope, no cost), unless its own bytes begin with
// the magic, when it is enveloped so that it reads back unchanged. Data written before envelopes
// existed reads back as plain records: such a record would have to begin with the four magic bytes
// and carry a matching CRC to be mistaken for an envelope.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include <sluice/codec/crc32c.hpp>

namespace sluice::detail {

inline constexpr std::size_t envelope_header_size = 18;
inline constexpr std::array<unsigned char, 4> envelope_magic{0xFF, 0x00, 0x53, 0x45};
/// Longest batch or order key an envelope holds.
inline constexpr std::size_t envelope_max_key = std::numeric_limits<std::uint16_t>::max();

/// A record's options as stored with it.
struct record_meta {
    std::string_view batch_key{};
    std::string_view order_key{};
    std::uint32_t weight = 0;
};

/// A record read back: its options and its bytes (views into the stored bytes).
struct unwrapped_record {
    record_meta meta{};
    std::string_view data{};
};

[[nodiscard]] inline bool starts_with_envelope_magic(std::string_view data) noexcept {
    return data.size() >= envelope_magic.size() && std::memcmp(data.data(), envelope_magic.data(), 4) == 0;
}

/// True when `data` with `meta` must be stored inside an envelope.
[[nodiscard]] inline bool needs_envelope(const record_meta& meta, std::string_view data) noexcept {
    return !meta.batch_key.empty() || !meta.order_key.empty() || meta.weight != 0 || starts_with_envelope_magic(data);
}

/// Bytes the stored form of `data` with `meta` takes.
[[nodiscard]] inline std::size_t stored_size(const record_meta& meta, std::string_view data) noexcept {
    if (!needs_envelope(meta, data)) return data.size();
    return envelope_header_size + meta.batch_key.size() + meta.order_key.size() + data.size();
}

namespace envelope_detail {
inline void put16(unsigned char* p, std::uint32_t v) noexcept {
    p[0] = static_cast<unsigned char>(v);
    p[1] = static_cast<unsigned char>(v >> 8);
}
inline void put32(unsigned char* p, std::uint32_t v) noexcept {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline std::uint32_t get16(const unsigned char* p) noexcept { return p[0] | static_cast<std::uint32_t>(p[1]) << 8; }
inline std::uint32_t get32(const unsigned char* p) noexcept {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(p[i]) << (8 * i);
    return v;
}
} // namespace envelope_detail

/// Appends the stored form of `data` with `meta` to `out`. Keys must be at most envelope_max_key bytes.
inline void wrap_record(std::string& out, const record_meta& meta, std::string_view data) {
    using namespace envelope_detail;
    if (!needs_envelope(meta, data)) {
        out.append(data);
        return;
    }
    unsigned char h[envelope_header_size];
    std::memcpy(h, envelope_magic.data(), 4);
    h[4] = 1;
    h[5] = 0;
    put16(h + 6, static_cast<std::uint32_t>(meta.batch_key.size()));
    put16(h + 8, static_cast<std::uint32_t>(meta.order_key.size()));
    put32(h + 10, meta.weight);
    std::uint32_t crc = crc32c(h, 14);
    crc = crc32c(meta.batch_key, crc);
    crc = crc32c(meta.order_key, crc);
    put32(h + 14, crc);
    out.append(reinterpret_cast<const char*>(h), sizeof h);
    out.append(meta.batch_key);
    out.append(meta.order_key);
    out.append(data);
}

/// The record and its options from stored bytes; bytes that hold no valid envelope are a plain record.
[[nodiscard]] inline unwrapped_record unwrap_record(std::string_view stored) noexcept {
    using namespace envelope_detail;
    unwrapped_record plain{{}, stored};
    if (stored.size() < envelope_header_size || !starts_with_envelope_magic(stored)) return plain;
    const auto* h = reinterpret_cast<const unsigned char*>(stored.data());
    if (h[4] != 1 || h[5] != 0) return plain;
    const std::size_t batch_len = get16(h + 6);
    const std::size_t order_len = get16(h + 8);
    if (stored.size() < envelope_header_size + batch_len + order_len) return plain;
    const std::string_view batch_key = stored.substr(envelope_header_size, batch_len);
    const std::string_view order_key = stored.substr(envelope_header_size + batch_len, order_len);
    std::uint32_t crc = crc32c(h, 14);
    crc = crc32c(batch_key, crc);
    crc = crc32c(order_key, crc);
    if (crc != get32(h + 14)) return plain;
    return {{batch_key, order_key, get32(h + 10)}, stored.substr(envelope_header_size + batch_len + order_len)};
}

} // namespace sluice::detail
