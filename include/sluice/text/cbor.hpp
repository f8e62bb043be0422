#pragma once

// CBOR (RFC 8949) as the AWS services that accept it speak it: Kinesis takes and answers
// application/x-amz-cbor-1.1, as AWS's Java SDK sends it, with record data as raw byte strings instead
// of base64 (a quarter fewer bytes to hash, copy and send). Two halves:
//
//   writing   heads of exactly the right size (write_head / append_head / append_text / append_bytes);
//             the caller sizes its buffer with head_size(), so an entry is written with one allocation
//   reading   `reader`, a pull reader over a response body that never reads past its input, bounds
//             nesting, and reports anything malformed (a truncated item, a reserved head, a break
//             outside an indefinite container, a chunk of the wrong type) as false instead of guessing
//
//   std::string e;
//   cbor::append_head(e, cbor::major::map, 1);
//   cbor::append_text(e, "Data");
//   cbor::append_bytes(e, data);

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::text::cbor {

/// A data item's major type (the head's top three bits).
enum class major : unsigned char {
    unsigned_integer = 0,
    negative_integer = 1,
    bytes = 2,
    text = 3,
    array = 4,
    map = 5,
    tag = 6,
    simple = 7, ///< false, true, null, undefined, floats, and the break that ends an indefinite item
};

/// The head of an indefinite-length array (ended by `break_byte`).
inline constexpr char indefinite_array = static_cast<char>(0x9f);
/// Ends an indefinite-length item.
inline constexpr char break_byte = static_cast<char>(0xff);

/// Simple values (major::simple, item::value).
enum simple_value : std::uint64_t { simple_false = 20, simple_true = 21, simple_null = 22, simple_undefined = 23 };

/// Bytes a head carrying `value` takes (1, 2, 3, 5 or 9).
[[nodiscard]] constexpr std::size_t head_size(std::uint64_t value) noexcept {
    return value < 24 ? 1 : value <= 0xff ? 2 : value <= 0xffff ? 3 : value <= 0xffffffffu ? 5 : 9;
}

/// Writes the shortest head of `m` carrying `value` at `out`; returns the end of what it wrote.
inline char* write_head(char* out, major m, std::uint64_t value) noexcept {
    const auto type = static_cast<unsigned char>(static_cast<unsigned>(m) << 5);
    const std::size_t n = head_size(value);
    if (n == 1) {
        *out = static_cast<char>(type | value);
        return out + 1;
    }
    const unsigned char info = n == 2 ? 24 : n == 3 ? 25 : n == 5 ? 26 : 27;
    *out++ = static_cast<char>(type | info);
    for (std::size_t i = n - 1; i-- > 0;) *out++ = static_cast<char>((value >> (8 * i)) & 0xff);
    return out;
}

/// Appends the shortest head of `m` carrying `value`.
inline void append_head(std::string& out, major m, std::uint64_t value) {
    char head[9];
    out.append(head, write_head(head, m, value));
}

/// Appends a text string (`s` must be UTF-8).
inline void append_text(std::string& out, std::string_view s) {
    append_head(out, major::text, s.size());
    out += s;
}

/// Appends a byte string.
inline void append_bytes(std::string& out, std::string_view s) {
    append_head(out, major::bytes, s.size());
    out += s;
}

/// Bytes of a text or byte string of `n` bytes, head included.
[[nodiscard]] constexpr std::size_t string_size(std::size_t n) noexcept { return head_size(n) + n; }

/// One head as read: its type, what it carries, and a definite string's bytes.
struct item {
    /// The major type.
    major type = major::simple;
    /// An integer's value (a negative one is -1 - value), a string's length, an array's or map's
    /// count, a tag's number, a simple value, or a float's bits.
    std::uint64_t value = 0;
    /// An array, map or string of indefinite length (its count or length is unknown).
    bool indefinite = false;
    /// A definite-length string's bytes (views into the input).
    std::string_view data{};
};

/// Reads CBOR items from `input` (which must outlive it), one head at a time or whole items.
class reader {
public:
    /// Reads `input`; containers nested deeper than `max_depth` are refused by skip().
    explicit reader(std::string_view input, unsigned max_depth = 64) noexcept : in_(input), max_depth_(max_depth) {}

    /// True when everything was read.
    [[nodiscard]] bool at_end() const noexcept { return at_ == in_.size(); }

    /// Reads one head, and a definite string's bytes. False (nothing read) at the end of the input,
    /// for a break, a reserved head or a truncated item.
    [[nodiscard]] bool next(item& out) noexcept {
        if (at_ >= in_.size()) return false;
        const auto initial = static_cast<unsigned char>(in_[at_]);
        const auto type = static_cast<major>(initial >> 5);
        const unsigned info = initial & 31u;
        std::size_t at = at_ + 1;
        std::uint64_t value = info;
        bool indefinite = false;
        if (info >= 24 && info <= 27) {
            const std::size_t n = std::size_t{1} << (info - 24);
            if (in_.size() - at < n) return false;
            value = 0;
            for (std::size_t i = 0; i < n; ++i) value = (value << 8) | static_cast<unsigned char>(in_[at + i]);
            at += n;
        } else if (info == 31) {
            // Indefinite strings, arrays and maps; a break (simple, 31) is not an item.
            if (type != major::bytes && type != major::text && type != major::array && type != major::map) return false;
            indefinite = true;
            value = 0;
        } else if (info > 27) {
            return false; // 28-30 are reserved
        }
        std::string_view data;
        if ((type == major::bytes || type == major::text) && !indefinite) {
            if (value > in_.size() - at) return false;
            data = in_.substr(at, static_cast<std::size_t>(value));
            at += static_cast<std::size_t>(value);
        }
        out = item{type, value, indefinite, data};
        at_ = at;
        return true;
    }

    /// Consumes a break (0xff) when it comes next.
    [[nodiscard]] bool take_break() noexcept {
        if (at_ < in_.size() && in_[at_] == break_byte) {
            ++at_;
            return true;
        }
        return false;
    }

    /// Calls `each()` once per element of the array `container` (whose head was just read), or once
    /// per pair of the map (`each` reads the key and the value); `each` returns false to stop on
    /// malformed input. False when the container is malformed or `each` failed.
    template <class Each>
    [[nodiscard]] bool for_each(const item& container, Each&& each) {
        if (container.type != major::array && container.type != major::map) return false;
        if (container.indefinite) {
            while (!take_break())
                if (at_end() || !each()) return false;
            return true;
        }
        // Each element takes a byte at least: a count beyond the input is a lie, not a loop to run.
        if (container.value > in_.size() - at_) return false;
        for (std::uint64_t i = 0; i < container.value; ++i)
            if (!each()) return false;
        return true;
    }

    /// Reads a text string (definite, or indefinite with its chunks joined into `scratch`).
    [[nodiscard]] bool read_text(std::string_view& out, std::string& scratch) {
        item it;
        if (!next(it)) return false;
        if (it.type == major::text && !it.indefinite) { // the common case, without a call
            out = it.data;
            return true;
        }
        return string_of(it, major::text, out, scratch);
    }

    /// Skips one whole data item, nested items and tags included.
    [[nodiscard]] bool skip() { return skip(0); }

    /// Skips what is left of `container`, whose head was just read.
    [[nodiscard]] bool skip_rest(const item& container) { return skip_contents(container, 0); }

    /// The string `it` (whose head was just read) as one view: its bytes, or its chunks (each a
    /// definite string of the same type) joined into `scratch`.
    [[nodiscard]] bool string_of(const item& it, major type, std::string_view& out, std::string& scratch) {
        if (it.type != type) return false;
        if (!it.indefinite) {
            out = it.data;
            return true;
        }
        scratch.clear();
        while (!take_break()) {
            item chunk;
            if (!next(chunk) || chunk.type != type || chunk.indefinite) return false;
            scratch += chunk.data;
        }
        out = scratch;
        return true;
    }

private:
    bool skip(unsigned depth) {
        item it;
        return next(it) && skip_contents(it, depth);
    }

    bool skip_contents(const item& it, unsigned depth) {
        if (depth >= max_depth_) return false;
        switch (it.type) {
        case major::bytes:
        case major::text: {
            if (!it.indefinite) return true;
            std::string ignored;
            std::string_view unused;
            return string_of(it, it.type, unused, ignored);
        }
        case major::array: return for_each(it, [&] { return skip(depth + 1); });
        case major::map: return for_each(it, [&] { return skip(depth + 1) && skip(depth + 1); });
        case major::tag: return skip(depth + 1);
        default: return true;
        }
    }

    std::string_view in_;
    std::size_t at_ = 0;
    unsigned max_depth_;
};

} // namespace sluice::text::cbor
