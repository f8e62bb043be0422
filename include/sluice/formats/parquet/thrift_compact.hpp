#pragma once

// A writer of Thrift's compact protocol, the encoding of Parquet's page headers and footer
// (apache/parquet-format, README "Metadata": "the metadata is serialized using the Thrift
// TCompactProtocol"). Follows apache/thrift doc/specs/thrift-compact-protocol.md:
//   - integers (i16, i32, i64) are zigzag varints (ULEB128 of (n << 1) ^ (n >> 63)); a byte is itself;
//   - binary and string: a varint length, then the bytes;
//   - a field header is one byte (delta from the previous field id << 4 | type) when the delta is
//     1..15, else the type byte followed by the field id as a zigzag varint; a boolean field carries
//     its value in the type (1 true, 2 false);
//   - a struct ends with a stop byte (0); nested structs restart the field id delta at 0;
//   - a list header is one byte (size << 4 | element type) for sizes below 15, else 0xF0 | element
//     type followed by the size as a varint.
// Only what Parquet's writer needs is here: no maps, sets, doubles or messages.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::formats::parquet::thrift {

/// Compact protocol type ids (thrift-compact-protocol.md, "Struct encoding").
enum class ctype : std::uint8_t {
    stop = 0,
    bool_true = 1,
    bool_false = 2,
    byte = 3,
    i16 = 4,
    i32 = 5,
    i64 = 6,
    binary = 8,
    list = 9,
    structure = 12,
};

/// Appends ULEB128 of `v`.
inline void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>(static_cast<std::uint8_t>(v) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

/// Zigzag of a signed 64-bit integer: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ...
[[nodiscard]] constexpr std::uint64_t zigzag(std::int64_t v) noexcept {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}

/// Writes one top-level struct (and what it nests) in the compact protocol into a string. Fields must
/// be written in increasing id order within each struct (every Parquet writer does; it keeps headers
/// short). Call end() once at the end for the top-level struct's stop byte.
class compact_writer {
public:
    /// Appends to `out`, which outlives the writer.
    explicit compact_writer(std::string& out) : out_(&out) {}

    /// Field `id` of the current struct: an i32.
    void field_i32(std::int16_t id, std::int32_t v) {
        header(ctype::i32, id);
        put_varint(*out_, zigzag(v));
    }
    /// Field `id` of the current struct: an i64.
    void field_i64(std::int16_t id, std::int64_t v) {
        header(ctype::i64, id);
        put_varint(*out_, zigzag(v));
    }
    /// Field `id` of the current struct: an i16.
    void field_i16(std::int16_t id, std::int16_t v) {
        header(ctype::i16, id);
        put_varint(*out_, zigzag(v));
    }
    /// Field `id` of the current struct: a byte.
    void field_i8(std::int16_t id, std::int8_t v) {
        header(ctype::byte, id);
        out_->push_back(static_cast<char>(v));
    }
    /// Field `id` of the current struct: a bool (carried in the field header).
    void field_bool(std::int16_t id, bool v) { header(v ? ctype::bool_true : ctype::bool_false, id); }
    /// Field `id` of the current struct: binary (or a string).
    void field_binary(std::int16_t id, std::string_view v) {
        header(ctype::binary, id);
        binary(v);
    }

    /// Opens a struct-typed field; close it with end().
    void begin_struct(std::int16_t id) {
        header(ctype::structure, id);
        stack_.push_back(last_);
        last_ = 0;
    }
    /// An empty struct-typed field (Parquet's StringType, MilliSeconds, TypeDefinedOrder...).
    void empty_struct(std::int16_t id) {
        begin_struct(id);
        end();
    }
    /// Ends the innermost open struct (or, with none open, the top-level one).
    void end() {
        out_->push_back(static_cast<char>(ctype::stop));
        if (!stack_.empty()) {
            last_ = stack_.back();
            stack_.pop_back();
        }
    }

    /// Opens a list-typed field of `size` elements of type `element`; then write exactly `size`
    /// elements with list_i32 / list_binary / begin_list_struct (no end() for the list itself).
    void begin_list(std::int16_t id, ctype element, std::uint32_t size) {
        header(ctype::list, id);
        const auto e = static_cast<std::uint8_t>(element);
        if (size < 15) {
            out_->push_back(static_cast<char>(static_cast<std::uint8_t>(size << 4) | e));
        } else {
            out_->push_back(static_cast<char>(0xF0 | e));
            put_varint(*out_, size);
        }
    }
    /// An i32 element of the open list.
    void list_i32(std::int32_t v) { put_varint(*out_, zigzag(v)); }
    /// A binary (or string) element of the open list.
    void list_binary(std::string_view v) { binary(v); }
    /// Opens a struct element of a list; close it with end().
    void begin_list_struct() {
        stack_.push_back(last_);
        last_ = 0;
    }

private:
    void header(ctype type, std::int16_t id) {
        const int delta = id - last_;
        if (delta > 0 && delta <= 15) {
            out_->push_back(static_cast<char>((delta << 4) | static_cast<int>(type)));
        } else {
            out_->push_back(static_cast<char>(type));
            put_varint(*out_, zigzag(id));
        }
        last_ = id;
    }
    void binary(std::string_view v) {
        put_varint(*out_, v.size());
        out_->append(v);
    }

    std::string* out_;
    std::int16_t last_ = 0;
    std::vector<std::int16_t> stack_;
};

} // namespace sluice::formats::parquet::thrift
