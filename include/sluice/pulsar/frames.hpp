#pragma once

// Pulsar frames. Every frame is
//     [totalSize: u32][commandSize: u32][BaseCommand]
// and the commands that carry a message (SEND from producers, MESSAGE to consumers) go on with
//     [magic 0x0e01: u16][CRC32C: u32][metadataSize: u32][MessageMetadata][payload]
// where the CRC32C covers everything after itself (metadata size, metadata and payload). All integers
// are big-endian; totalSize counts the bytes after itself. A broker may put broker entry metadata,
//     [magic 0x0e02: u16][size: u32][BrokerEntryMetadata]
// before the 0x0e01 part for clients that ask for it (sluice does not; it skips them if sent).
//
// A batch is one message whose payload holds several, each [size: u32][SingleMessageMetadata][payload],
// compressed as a whole; MessageMetadata.num_messages_in_batch says how many.
//
// frame_decoder cuts frames out of a byte stream fed in pieces, enforcing a maximum frame size (the
// broker's max_message_size plus room for the command), and reports a checksum mismatch on the frame
// rather than throwing, so the consumer can answer for the message instead of losing it.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <sluice/codec/crc32c.hpp>
#include <sluice/pulsar/commands.hpp>

namespace sluice::pulsar {

/// Starts the checksummed part of a frame that carries a message (metadata and payload).
inline constexpr std::uint16_t payload_magic = 0x0e01;
/// Starts the broker entry metadata a broker may put before that part (skipped when read).
inline constexpr std::uint16_t broker_entry_metadata_magic = 0x0e02;
/// Pulsar's default maximum message size (the broker's maxMessageSize, 5 MiB).
inline constexpr std::size_t default_max_message_size = 5u << 20;
/// Room allowed on top of max_message_size for the command and metadata of a frame.
inline constexpr std::size_t frame_overhead_allowance = 10u << 10;

namespace detail {
inline void put_u32(char* p, std::uint32_t v) noexcept {
    p[0] = static_cast<char>(v >> 24);
    p[1] = static_cast<char>(v >> 16);
    p[2] = static_cast<char>(v >> 8);
    p[3] = static_cast<char>(v);
}
[[nodiscard]] inline std::uint32_t get_u32(const char* p) noexcept {
    return (static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[0])) << 24) |
           (static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[1])) << 16) |
           (static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[2])) << 8) |
           static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[3]));
}
[[nodiscard]] inline std::uint16_t get_u16(const char* p) noexcept {
    return static_cast<std::uint16_t>((static_cast<std::uint8_t>(p[0]) << 8) | static_cast<std::uint8_t>(p[1]));
}
inline void append_u32(std::string& out, std::uint32_t v) {
    char b[4];
    put_u32(b, v);
    out.append(b, 4);
}
} // namespace detail

/// Appends a frame carrying only a command.
template <class Command>
void append_simple_frame(std::string& out, const Command& cmd) {
    const std::size_t start = out.size();
    out.append(8, '\0');
    encode_base_command(out, cmd);
    const auto cmd_size = static_cast<std::uint32_t>(out.size() - start - 8);
    detail::put_u32(out.data() + start, cmd_size + 4);
    detail::put_u32(out.data() + start + 4, cmd_size);
}

/// Appends a frame carrying a command, a MessageMetadata and a payload (SEND, MESSAGE), with the
/// magic number and the CRC32C of metadata and payload.
template <class Command>
void append_payload_frame(std::string& out, const Command& cmd, const proto::message_metadata& metadata,
                          std::string_view payload) {
    const std::size_t start = out.size();
    out.append(8, '\0');
    encode_base_command(out, cmd);
    const auto cmd_size = static_cast<std::uint32_t>(out.size() - start - 8);
    out.push_back(static_cast<char>(payload_magic >> 8));
    out.push_back(static_cast<char>(payload_magic & 0xff));
    const std::size_t crc_at = out.size();
    out.append(8, '\0'); // CRC, metadata size
    encode_protobuf(out, metadata);
    detail::put_u32(out.data() + crc_at + 4, static_cast<std::uint32_t>(out.size() - crc_at - 8));
    out.append(payload);
    const std::uint32_t crc = crc32c(out.data() + crc_at + 4, out.size() - crc_at - 4);
    detail::put_u32(out.data() + crc_at, crc);
    detail::put_u32(out.data() + start, static_cast<std::uint32_t>(out.size() - start - 4));
    detail::put_u32(out.data() + start + 4, cmd_size);
}

/// Appends one message of a batch: [size][SingleMessageMetadata][payload]. Sets payload_size.
inline void append_batch_entry(std::string& out, proto::single_message_metadata& metadata, std::string_view payload) {
    metadata.payload_size = static_cast<std::int32_t>(payload.size());
    const std::size_t at = out.size();
    out.append(4, '\0');
    encode_protobuf(out, metadata);
    detail::put_u32(out.data() + at, static_cast<std::uint32_t>(out.size() - at - 4));
    out.append(payload);
}

/// One message of a batch, its payload a view into the batch.
struct batch_entry {
    /// Its SingleMessageMetadata (properties, key, event time...).
    proto::single_message_metadata metadata;
    /// Its payload.
    std::string_view payload;
};

/// Splits an uncompressed batch of `count` messages. Throws protocol_error when the batch is
/// truncated, a size runs past its end, or bytes are left over.
[[nodiscard]] inline std::vector<batch_entry> read_batch(std::string_view batch, std::int32_t count) {
    if (count < 0) throw protocol_error("pulsar: batch with a negative message count");
    // Each entry takes at least 6 bytes: a count larger than that allows is a lie, not a reason to allocate.
    if (static_cast<std::size_t>(count) > batch.size() / 6 + 1)
        throw protocol_error("pulsar: batch of " + std::to_string(batch.size()) + " bytes cannot hold " +
                             std::to_string(count) + " messages");
    std::vector<batch_entry> out;
    out.reserve(static_cast<std::size_t>(count));
    std::size_t pos = 0;
    for (std::int32_t i = 0; i < count; ++i) {
        if (batch.size() - pos < 4) throw protocol_error("pulsar: batch truncated at message " + std::to_string(i));
        const std::uint32_t md_size = detail::get_u32(batch.data() + pos);
        pos += 4;
        if (md_size > batch.size() - pos)
            throw protocol_error("pulsar: batch message " + std::to_string(i) + " metadata runs past the batch");
        auto md = decode_protobuf<proto::single_message_metadata>(batch.substr(pos, md_size), "SingleMessageMetadata");
        pos += md_size;
        if (md.payload_size < 0 || static_cast<std::size_t>(md.payload_size) > batch.size() - pos)
            throw protocol_error("pulsar: batch message " + std::to_string(i) + " payload runs past the batch");
        const auto size = static_cast<std::size_t>(md.payload_size);
        out.push_back(batch_entry{std::move(md), batch.substr(pos, size)});
        pos += size;
    }
    if (pos != batch.size())
        throw protocol_error("pulsar: " + std::to_string(batch.size() - pos) + " bytes left after the last batch message");
    return out;
}

/// A frame cut from the stream. Views point into the decoder's buffer: valid until the next call to
/// feed() or next().
struct frame {
    /// The command.
    base_command command;
    /// True for frames with a message part (metadata and payload).
    bool has_payload = false;
    /// False when the CRC32C does not match: metadata and payload must not be trusted.
    bool checksum_ok = true;
    /// The MessageMetadata, decoded (when has_payload and checksum_ok).
    proto::message_metadata metadata;
    /// The raw MessageMetadata bytes.
    std::string_view metadata_bytes;
    /// The payload (maybe compressed, maybe a batch), after the metadata.
    std::string_view payload;
};

/// Cuts frames out of a byte stream. Not thread-safe.
class frame_decoder {
public:
    /// `max_frame_size` bounds totalSize; larger frames are a protocol_error (the connection is broken).
    explicit frame_decoder(std::size_t max_frame_size = default_max_message_size + frame_overhead_allowance)
        : max_frame_size_(max_frame_size) {}

    /// Raises or lowers the bound (after CONNECTED tells the broker's max_message_size).
    void set_max_frame_size(std::size_t n) noexcept { max_frame_size_ = n; }
    /// The current bound.
    [[nodiscard]] std::size_t max_frame_size() const noexcept { return max_frame_size_; }

    /// Appends received bytes.
    void feed(std::string_view bytes) {
        compact();
        buffer_.append(bytes);
    }

    /// A writable region of at least `n` bytes at the end of the buffer, for a socket read; commit()
    /// the bytes actually read.
    [[nodiscard]] std::span<char> prepare(std::size_t n) {
        compact();
        used_ = buffer_.size();
        buffer_.resize(used_ + n);
        return {buffer_.data() + used_, n};
    }
    /// Keeps `n` bytes of the region prepare() returned (what the read filled).
    void commit(std::size_t n) noexcept { buffer_.resize(used_ + n); }

    /// Bytes received and not yet cut into frames.
    [[nodiscard]] std::size_t buffered() const noexcept { return buffer_.size() - read_; }

    /// The next complete frame, or nullopt when more bytes are needed. Throws protocol_error when the
    /// stream breaks the protocol (oversized or malformed frame): the stream cannot be resynchronised.
    [[nodiscard]] std::optional<frame> next() {
        if (buffered() < 4) return std::nullopt;
        const char* p = buffer_.data() + read_;
        const std::uint32_t total = detail::get_u32(p);
        if (total < 4) throw protocol_error("pulsar: frame of " + std::to_string(total) + " bytes is too short");
        if (total > max_frame_size_)
            throw protocol_error("pulsar: frame of " + std::to_string(total) + " bytes exceeds the limit of " +
                                 std::to_string(max_frame_size_));
        if (buffered() < 4 + std::size_t{total}) return std::nullopt;
        std::string_view body(p + 4, total);
        read_ += 4 + std::size_t{total};
        return parse(body);
    }

    /// Parses one frame's bytes after totalSize.
    [[nodiscard]] static frame parse(std::string_view body) {
        const std::uint32_t cmd_size = detail::get_u32(body.data());
        if (cmd_size > body.size() - 4)
            throw protocol_error("pulsar: command size " + std::to_string(cmd_size) + " exceeds its frame");
        frame f;
        f.command = decode_base_command(body.substr(4, cmd_size));
        std::string_view rest = body.substr(4 + std::size_t{cmd_size});
        if (rest.empty()) return f;
        f.has_payload = true;
        if (rest.size() >= 6 && detail::get_u16(rest.data()) == broker_entry_metadata_magic) {
            const std::uint32_t n = detail::get_u32(rest.data() + 2);
            if (n > rest.size() - 6) throw protocol_error("pulsar: broker entry metadata runs past its frame");
            rest.remove_prefix(6 + std::size_t{n});
        }
        if (rest.size() < 10 || detail::get_u16(rest.data()) != payload_magic)
            throw protocol_error("pulsar: message part without the 0x0e01 magic number and checksum");
        const std::uint32_t expected = detail::get_u32(rest.data() + 2);
        rest.remove_prefix(6);
        f.checksum_ok = crc32c(rest.data(), rest.size()) == expected;
        const std::uint32_t md_size = detail::get_u32(rest.data());
        if (md_size > rest.size() - 4) throw protocol_error("pulsar: metadata size exceeds its frame");
        f.metadata_bytes = rest.substr(4, md_size);
        f.payload = rest.substr(4 + std::size_t{md_size});
        if (f.checksum_ok) f.metadata = decode_protobuf<proto::message_metadata>(f.metadata_bytes, "MessageMetadata");
        return f;
    }

private:
    void compact() {
        if (read_ == 0) return;
        if (read_ == buffer_.size()) {
            buffer_.clear();
        } else if (read_ > buffer_.size() / 2 || read_ > (64u << 10)) {
            buffer_.erase(0, read_);
        } else {
            return;
        }
        read_ = 0;
    }

    std::size_t max_frame_size_;
    std::string buffer_;
    std::size_t read_ = 0;
    std::size_t used_ = 0;
};

} // namespace sluice::pulsar
