#pragma once

// The object engine's journal entries: what the engine writes into its disk_buffer so that, after a
// crash, the objects it was building are rebuilt with exactly the records they held, in the same
// order, under the same names.
//
// Three kinds of entry, each one disk_buffer record (which already carries a length and a CRC32C):
//   open    an object starts: its sequence number, its partition, its key (the name it will have)
//           and when it opened (Unix milliseconds, UTC)
//   record  one accepted record and the sequence number of the object it belongs to
//   close   the object takes no more records (written, and made durable, before the object is
//           completed at its destination, so a replay never adds records to a completed object)
//
// Layout (integers little-endian, "varint" is unsigned LEB128):
//   byte 0   version (1)
//   byte 1   kind: 'O' open, 'R' record, 'C' close
//   varint   object sequence number
//   open:    varint partition length, partition, varint key length, key, 8 bytes opened_at (ms)
//   record:  the record's bytes (the JSON text as it was submitted), to the end
//   close:   nothing more
//
// An object's entries are acknowledged together once it is durably written or uploaded; a segment of
// the disk buffer is deleted when everything in it was acknowledged.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::objects {

/// What a journal entry says.
enum class journal_entry_kind : std::uint8_t { open = 'O', record = 'R', close = 'C' };

/// A decoded journal entry; its views point into the bytes it was decoded from.
struct journal_entry {
    /// What the entry says.
    journal_entry_kind kind = journal_entry_kind::record;
    /// The sequence number of the object it is about.
    std::uint64_t object = 0;
    std::string_view partition{}; ///< open
    std::string_view key{};       ///< open
    std::int64_t opened_at_ms = 0; ///< open
    std::string_view record{};    ///< record
};

namespace detail {

inline constexpr std::uint8_t journal_version = 1;

inline void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>(static_cast<std::uint8_t>(v) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

/// Reads a varint at `pos`; nullopt when it is cut short or longer than 64 bits.
[[nodiscard]] inline std::optional<std::uint64_t> get_varint(std::string_view in, std::size_t& pos) noexcept {
    std::uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (pos >= in.size()) return std::nullopt;
        const auto b = static_cast<std::uint8_t>(in[pos++]);
        if (shift == 63 && b > 1) return std::nullopt;
        v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
        if ((b & 0x80) == 0) return v;
    }
    return std::nullopt;
}

[[nodiscard]] inline std::optional<std::string_view> get_string(std::string_view in, std::size_t& pos) noexcept {
    const auto n = get_varint(in, pos);
    if (!n || *n > in.size() - pos) return std::nullopt;
    const std::string_view s = in.substr(pos, static_cast<std::size_t>(*n));
    pos += static_cast<std::size_t>(*n);
    return s;
}

inline void put_header(std::string& out, journal_entry_kind kind, std::uint64_t object) {
    out.push_back(static_cast<char>(journal_version));
    out.push_back(static_cast<char>(kind));
    put_varint(out, object);
}

} // namespace detail

/// Appends an open entry to `out`.
inline void encode_open(std::string& out, std::uint64_t object, std::string_view partition, std::string_view key,
                        std::int64_t opened_at_ms) {
    detail::put_header(out, journal_entry_kind::open, object);
    detail::put_varint(out, partition.size());
    out.append(partition);
    detail::put_varint(out, key.size());
    out.append(key);
    const auto v = static_cast<std::uint64_t>(opened_at_ms);
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(static_cast<std::uint8_t>(v >> (8 * i))));
}

/// Appends a record entry to `out`.
inline void encode_record(std::string& out, std::uint64_t object, std::string_view record) {
    detail::put_header(out, journal_entry_kind::record, object);
    out.append(record);
}

/// Appends a close entry to `out`.
inline void encode_close(std::string& out, std::uint64_t object) {
    detail::put_header(out, journal_entry_kind::close, object);
}

/// Decodes one entry; nullopt for bytes that are not an entry of this version (the engine reports
/// and skips them).
[[nodiscard]] inline std::optional<journal_entry> decode_journal_entry(std::string_view in) noexcept {
    if (in.size() < 3 || static_cast<std::uint8_t>(in[0]) != detail::journal_version) return std::nullopt;
    journal_entry e;
    const auto kind = static_cast<std::uint8_t>(in[1]);
    if (kind != 'O' && kind != 'R' && kind != 'C') return std::nullopt;
    e.kind = static_cast<journal_entry_kind>(kind);
    std::size_t pos = 2;
    const auto object = detail::get_varint(in, pos);
    if (!object) return std::nullopt;
    e.object = *object;
    switch (e.kind) {
    case journal_entry_kind::record: e.record = in.substr(pos); return e;
    case journal_entry_kind::close: return pos == in.size() ? std::optional<journal_entry>(e) : std::nullopt;
    case journal_entry_kind::open: {
        const auto partition = detail::get_string(in, pos);
        if (!partition) return std::nullopt;
        const auto key = detail::get_string(in, pos);
        if (!key || in.size() - pos != 8) return std::nullopt;
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in[pos + i])) << (8 * i);
        e.partition = *partition;
        e.key = *key;
        e.opened_at_ms = static_cast<std::int64_t>(v);
        return e;
    }
    }
    return std::nullopt;
}

} // namespace sluice::objects
