#pragma once

// The protobuf wire format (proto2), hand-encoded: varints, zigzag, fixed widths and length-delimited
// fields, written into and read from flat buffers. Pulsar's commands are small protobuf messages
// (PulsarApi.proto); encoding them by hand keeps sluice header-only with no code generator and no
// libprotobuf at run time, and lets a SEND frame be written straight into the connection's buffer.
//
// Messages describe their fields once, with a `fields(f)` member calling `f(number, member)` for each
// field (see pulsar/commands.hpp); the same description drives the encoder and the decoder:
//   T                 a required field: always written; decoding fails when it is missing
//   std::optional<T>  an optional field: written when set
//   std::vector<T>    a repeated field (numeric ones are read packed or not, written unpacked)
// with T one of: the unsigned and signed integers (varints; int32/int64 as protobuf's two's-complement
// varints, never zigzag, as Pulsar's .proto declares no sint field), bool, enums, std::string
// (string/bytes) and nested messages (types with a `fields` member).

#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace sluice::pulsar {

/// A frame or message that does not follow the protocol: truncated, oversized, malformed protobuf,
/// a missing required field, a bad checksum. The message says what and where, never the payload.
class protocol_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {

/// Protobuf wire types.
enum class wire : std::uint8_t { varint = 0, fixed64 = 1, length = 2, fixed32 = 5 };

/// Protobuf's zigzag mapping of signed to unsigned (for sint32/sint64 fields).
[[nodiscard]] constexpr std::uint64_t zigzag_encode(std::int64_t v) noexcept {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
[[nodiscard]] constexpr std::int64_t zigzag_decode(std::uint64_t v) noexcept {
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

/// Bytes a varint of `v` takes (1..10).
[[nodiscard]] constexpr std::size_t varint_size(std::uint64_t v) noexcept {
    return static_cast<std::size_t>((std::bit_width(v | 1) + 6) / 7);
}

/// Appends protobuf fields to a std::string.
class pb_writer {
public:
    explicit pb_writer(std::string& out) noexcept : out_(&out) {}

    void varint(std::uint64_t v) {
        char buf[10];
        std::size_t n = 0;
        while (v >= 0x80) {
            buf[n++] = static_cast<char>(static_cast<std::uint8_t>(v) | 0x80);
            v >>= 7;
        }
        buf[n++] = static_cast<char>(v);
        out_->append(buf, n);
    }
    void tag(std::uint32_t field, wire type) { varint((static_cast<std::uint64_t>(field) << 3) | static_cast<unsigned>(type)); }
    void bytes(std::uint32_t field, std::string_view s) {
        tag(field, wire::length);
        varint(s.size());
        out_->append(s);
    }

    /// Starts a nested message of `field`; returns the mark end_message() needs. The length is
    /// patched in afterwards, so nested messages are written in place, not built and copied.
    [[nodiscard]] std::size_t begin_message(std::uint32_t field) {
        tag(field, wire::length);
        out_->push_back('\0'); // one byte of length, widened by end_message() when the body is longer
        return out_->size();
    }
    void end_message(std::size_t mark) {
        const std::size_t len = out_->size() - mark;
        const std::size_t n = varint_size(len);
        if (n > 1) out_->insert(mark, n - 1, '\0');
        char* p = out_->data() + mark - 1;
        std::uint64_t v = len;
        for (std::size_t i = 0; i + 1 < n; ++i, v >>= 7) *p++ = static_cast<char>(static_cast<std::uint8_t>(v) | 0x80);
        *p = static_cast<char>(v);
    }

    [[nodiscard]] std::string& buffer() noexcept { return *out_; }

private:
    std::string* out_;
};

/// Reads protobuf fields from a buffer; every overrun or malformed varint throws protocol_error.
class pb_reader {
public:
    pb_reader(std::string_view in, const char* what) noexcept : in_(in), what_(what) {}

    [[nodiscard]] bool done() const noexcept { return pos_ >= in_.size(); }

    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (unsigned shift = 0; shift < 64; shift += 7) {
            if (pos_ >= in_.size()) fail("truncated varint");
            const auto b = static_cast<std::uint8_t>(in_[pos_++]);
            if (shift == 63 && b > 1) fail("varint overflows 64 bits");
            v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return v;
        }
        fail("varint longer than 10 bytes");
    }

    /// The next field's number and wire type.
    std::pair<std::uint32_t, wire> tag() {
        const std::uint64_t t = varint();
        const auto type = static_cast<unsigned>(t & 7);
        if (t >> 3 == 0 || t >> 3 > 0x1fffffff) fail("field number out of range");
        if (type != 0 && type != 1 && type != 2 && type != 5) fail("unsupported wire type " + std::to_string(type));
        return {static_cast<std::uint32_t>(t >> 3), static_cast<wire>(type)};
    }

    std::string_view length_delimited() {
        const std::uint64_t n = varint();
        if (n > in_.size() - pos_) fail("length-delimited field runs past the end");
        auto s = in_.substr(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return s;
    }

    std::uint64_t fixed(std::size_t width) {
        if (in_.size() - pos_ < width) fail("truncated fixed-width field");
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < width; ++i) v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in_[pos_ + i])) << (8 * i);
        pos_ += width;
        return v;
    }

    void skip(wire type) {
        switch (type) {
        case wire::varint: (void)varint(); return;
        case wire::fixed64: (void)fixed(8); return;
        case wire::fixed32: (void)fixed(4); return;
        case wire::length: (void)length_delimited(); return;
        }
    }

    [[noreturn]] void fail(const std::string& why) const {
        throw protocol_error(std::string("pulsar: malformed ") + what_ + ": " + why);
    }
    [[nodiscard]] const char* what() const noexcept { return what_; }

private:
    std::string_view in_;
    std::size_t pos_ = 0;
    const char* what_;
};

template <class T>
concept pb_message = requires(T& m) { m.fields([](std::uint32_t, auto&) {}); };

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

template <class T>
concept pb_scalar = std::integral<T> || std::is_enum_v<T>;

template <pb_message M>
void encode_message(pb_writer& w, const M& m);

/// Writes one value of field `n` (not optional, not repeated).
template <class T>
void encode_value(pb_writer& w, std::uint32_t n, const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
        w.tag(n, wire::varint);
        w.varint(v ? 1 : 0);
    } else if constexpr (std::is_enum_v<T>) {
        w.tag(n, wire::varint);
        w.varint(static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::underlying_type_t<T>>(v))));
    } else if constexpr (std::signed_integral<T>) {
        w.tag(n, wire::varint);
        w.varint(static_cast<std::uint64_t>(static_cast<std::int64_t>(v))); // int32/int64: sign-extended
    } else if constexpr (std::unsigned_integral<T>) {
        w.tag(n, wire::varint);
        w.varint(v);
    } else if constexpr (std::is_same_v<T, std::string>) {
        w.bytes(n, v);
    } else {
        static_assert(pb_message<T>, "unsupported protobuf field type");
        const std::size_t mark = w.begin_message(n);
        encode_message(w, v);
        w.end_message(mark);
    }
}

template <class T>
void encode_field(pb_writer& w, std::uint32_t n, const T& v) {
    if constexpr (is_optional<T>::value) {
        if (v) encode_value(w, n, *v);
    } else if constexpr (is_vector<T>::value) {
        for (const auto& e : v) encode_value(w, n, e);
    } else {
        encode_value(w, n, v);
    }
}

template <pb_message M>
void encode_message(pb_writer& w, const M& m) {
    // fields() is non-const so that one description serves the decoder too; encoding only reads.
    const_cast<M&>(m).fields([&w](std::uint32_t n, const auto& member) { encode_field(w, n, member); });
}

template <pb_message M>
void decode_message(std::string_view in, M& m, const char* what);

/// Reads one value of wire type `type` into `v`.
template <class T>
void decode_value(pb_reader& r, wire type, T& v) {
    if constexpr (pb_scalar<T>) {
        if (type != wire::varint) r.fail("a varint field has wire type " + std::to_string(static_cast<unsigned>(type)));
        const std::uint64_t raw = r.varint();
        if constexpr (std::is_same_v<T, bool>)
            v = raw != 0;
        else if constexpr (std::is_enum_v<T>)
            v = static_cast<T>(static_cast<std::underlying_type_t<T>>(raw));
        else
            v = static_cast<T>(raw); // int32 fields arrive sign-extended to 64 bits: truncation is the rule
    } else if constexpr (std::is_same_v<T, std::string>) {
        if (type != wire::length) r.fail("a bytes field has wire type " + std::to_string(static_cast<unsigned>(type)));
        v.assign(r.length_delimited());
    } else {
        if (type != wire::length) r.fail("a message field has wire type " + std::to_string(static_cast<unsigned>(type)));
        decode_message(r.length_delimited(), v, r.what());
    }
}

template <class T>
void decode_field(pb_reader& r, wire type, T& v) {
    if constexpr (is_optional<T>::value) {
        if (!v) v.emplace();
        decode_value(r, type, *v);
    } else if constexpr (is_vector<T>::value) {
        using E = typename T::value_type;
        if constexpr (pb_scalar<E>) {
            if (type == wire::length) { // packed
                pb_reader packed(r.length_delimited(), r.what());
                while (!packed.done()) decode_value(packed, wire::varint, v.emplace_back());
                return;
            }
        }
        decode_value(r, type, v.emplace_back());
    } else {
        decode_value(r, type, v);
    }
}

/// Decodes `in` into `m` (fields not present keep their values); unknown fields are skipped, as
/// protobuf requires, and a missing required field throws protocol_error.
template <pb_message M>
void decode_message(std::string_view in, M& m, const char* what) {
    pb_reader r(in, what);
    std::uint64_t seen = 0; // required fields met, by number (Pulsar's numbers are below 64)
    while (!r.done()) {
        // Plain variables, not a structured binding: clang 14 cannot capture those in a lambda.
        const auto field = r.tag();
        const std::uint32_t number = field.first;
        const wire type = field.second;
        bool known = false;
        m.fields([&](std::uint32_t n, auto& member) {
            if (n != number || known) return;
            known = true;
            decode_field(r, type, member);
            if (n < 64) seen |= std::uint64_t{1} << n;
        });
        if (!known) r.skip(type);
    }
    m.fields([&](std::uint32_t n, auto& member) {
        using T = std::remove_cvref_t<decltype(member)>;
        if constexpr (!is_optional<T>::value && !is_vector<T>::value)
            if (n < 64 && (seen & (std::uint64_t{1} << n)) == 0) r.fail("required field " + std::to_string(n) + " is missing");
    });
}

} // namespace detail

/// Appends the protobuf encoding of `m` to `out`.
template <detail::pb_message M>
void encode_protobuf(std::string& out, const M& m) {
    detail::pb_writer w(out);
    detail::encode_message(w, m);
}

/// Decodes a protobuf message; throws protocol_error (naming `what`) on malformed input.
template <detail::pb_message M>
[[nodiscard]] M decode_protobuf(std::string_view in, const char* what) {
    M m{};
    detail::decode_message(in, m, what);
    return m;
}

} // namespace sluice::pulsar
