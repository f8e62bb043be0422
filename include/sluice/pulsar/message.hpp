#pragma once

// What producers send and consumers receive: outgoing_message, received_message and message_id, plus
// the key hashes that pick a partition. The default hash is the Java client's default
// (HashingScheme.JavaStringHash: String.hashCode() over the key's UTF-16 code units, & INT32_MAX, mod
// the partition count), so a key lands on the partition where Java producers put it; Murmur3_32Hash
// (murmur3 x86 32-bit of the UTF-8 bytes, seed 0, & INT32_MAX) is the alternative both offer.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/pulsar/commands.hpp>

namespace sluice::pulsar {

/// Where a message was stored: ledger and entry, the partition (-1: not partitioned) and its index in
/// a batch (-1: not batched).
struct message_id {
    std::uint64_t ledger_id = 0;  ///< the BookKeeper ledger
    std::uint64_t entry_id = 0;   ///< the entry in it
    std::int32_t partition = -1;  ///< the partition; -1: not partitioned
    std::int32_t batch_index = -1; ///< the index in its batch; -1: not batched
    /// Messages in the batch that holds this one (0 when not batched).
    std::int32_t batch_size = 0;

    /// Equal when every field is.
    bool operator==(const message_id&) const = default;
    /// "ledger:entry:partition:batch_index", as Pulsar prints ids.
    [[nodiscard]] std::string to_string() const {
        return std::to_string(ledger_id) + ':' + std::to_string(entry_id) + ':' + std::to_string(partition) + ':' +
               std::to_string(batch_index);
    }
    /// The protobuf form, for ACK and REDELIVER commands (the entry only: batch acks are tracked here).
    [[nodiscard]] proto::message_id_data entry_data() const {
        proto::message_id_data d;
        d.ledger_id = ledger_id;
        d.entry_id = entry_id;
        if (partition >= 0) d.partition = partition;
        return d;
    }
};

/// A message to produce.
struct outgoing_message {
    /// The message's bytes.
    std::string payload;
    /// The partition key: picks the partition and, for Key_Shared, the consumer.
    std::optional<std::string> key{};
    /// Overrides the key for Key_Shared ordering (bytes).
    std::optional<std::string> ordering_key{};
    /// Properties (name, value), in order.
    std::vector<proto::key_value> properties{};
    /// When the event happened (ms since the epoch); 0: not set.
    std::uint64_t event_time = 0;
    /// The dynamic sink's per-message topic; a plain producer refuses a message naming another topic.
    std::optional<std::string> topic{};
};

/// A consumed message.
struct received_message {
    message_id id;                               ///< where it is stored (what acknowledgements name)
    std::string topic;                           ///< the topic (the partition's, for partitioned topics)
    std::string payload;                         ///< its bytes, decompressed
    std::optional<std::string> key{};            ///< the partition key, if it has one
    std::optional<std::string> ordering_key{};   ///< the ordering key, if it has one
    std::vector<proto::key_value> properties{};  ///< properties, in order
    std::uint64_t event_time = 0;                ///< when the event happened (ms since the epoch); 0: not set
    std::uint64_t publish_time = 0;              ///< when the producer published it (ms since the epoch)
    std::uint64_t sequence_id = 0;               ///< the producer's sequence id
    std::string producer_name{};                 ///< the producer's name
    /// Times the broker delivered it before (CommandMessage.redelivery_count).
    std::uint32_t redelivery_count = 0;
    /// Set when the client could not read the message (checksum, compression, batch): why, with
    /// `payload` holding the raw bytes as received. Treat it as a processing error.
    std::optional<std::string> corrupt{};

    /// The value of property `name`, if present.
    [[nodiscard]] std::optional<std::string_view> property(std::string_view name) const {
        for (const auto& kv : properties)
            if (kv.key == name) return kv.value;
        return std::nullopt;
    }
};

/// How a partitioned topic's producer hashes keys.
enum class hashing_scheme { java_string_hash, murmur3_32 };

/// java.lang.String.hashCode() of the UTF-16 form of a UTF-8 key (invalid bytes count as U+FFFD).
[[nodiscard]] inline std::int32_t java_string_hash(std::string_view utf8) noexcept {
    std::uint32_t h = 0;
    auto add = [&h](std::uint32_t unit) { h = 31 * h + unit; };
    for (std::size_t i = 0; i < utf8.size();) {
        const auto b = static_cast<std::uint8_t>(utf8[i]);
        std::uint32_t cp = 0xfffd;
        std::size_t n = 1;
        if (b < 0x80) {
            cp = b;
        } else if ((b >> 5) == 6 && i + 1 < utf8.size()) {
            cp = ((b & 0x1fu) << 6) | (static_cast<std::uint8_t>(utf8[i + 1]) & 0x3fu);
            n = 2;
        } else if ((b >> 4) == 14 && i + 2 < utf8.size()) {
            cp = ((b & 0x0fu) << 12) | ((static_cast<std::uint8_t>(utf8[i + 1]) & 0x3fu) << 6) |
                 (static_cast<std::uint8_t>(utf8[i + 2]) & 0x3fu);
            n = 3;
        } else if ((b >> 3) == 30 && i + 3 < utf8.size()) {
            cp = ((b & 0x07u) << 18) | ((static_cast<std::uint8_t>(utf8[i + 1]) & 0x3fu) << 12) |
                 ((static_cast<std::uint8_t>(utf8[i + 2]) & 0x3fu) << 6) | (static_cast<std::uint8_t>(utf8[i + 3]) & 0x3fu);
            n = 4;
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            add(0xd800 + (cp >> 10));
            add(0xdc00 + (cp & 0x3ff));
        } else {
            add(cp);
        }
        i += n;
    }
    return static_cast<std::int32_t>(h);
}

/// MurmurHash3 x86 32-bit of the key's bytes, seed 0.
[[nodiscard]] inline std::uint32_t murmur3_32(std::string_view data, std::uint32_t seed = 0) noexcept {
    constexpr std::uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
    auto rotl = [](std::uint32_t x, int r) { return (x << r) | (x >> (32 - r)); };
    std::uint32_t h = seed;
    const std::size_t blocks = data.size() / 4;
    for (std::size_t i = 0; i < blocks; ++i) {
        std::uint32_t k = 0;
        for (int b = 0; b < 4; ++b) k |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(data[i * 4 + static_cast<std::size_t>(b)])) << (8 * b);
        k *= c1;
        k = rotl(k, 15);
        k *= c2;
        h ^= k;
        h = rotl(h, 13);
        h = h * 5 + 0xe6546b64;
    }
    std::uint32_t k = 0;
    const std::size_t tail = blocks * 4;
    switch (data.size() & 3) {
    case 3: k ^= static_cast<std::uint32_t>(static_cast<std::uint8_t>(data[tail + 2])) << 16; [[fallthrough]];
    case 2: k ^= static_cast<std::uint32_t>(static_cast<std::uint8_t>(data[tail + 1])) << 8; [[fallthrough]];
    case 1:
        k ^= static_cast<std::uint8_t>(data[tail]);
        k *= c1;
        k = rotl(k, 15);
        k *= c2;
        h ^= k;
    }
    h ^= static_cast<std::uint32_t>(data.size());
    h ^= h >> 16;
    h *= 0x85ebca6b;
    h ^= h >> 13;
    h *= 0xc2b2ae35;
    h ^= h >> 16;
    return h;
}

/// The partition of `key` among `partitions`, as the Java client computes it.
[[nodiscard]] inline std::uint32_t partition_for_key(std::string_view key, std::uint32_t partitions, hashing_scheme scheme) noexcept {
    const std::uint32_t h = scheme == hashing_scheme::java_string_hash ? static_cast<std::uint32_t>(java_string_hash(key))
                                                                       : murmur3_32(key);
    return (h & 0x7fffffffu) % partitions;
}

/// Milliseconds since the epoch, now.
[[nodiscard]] inline std::uint64_t now_millis() noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

} // namespace sluice::pulsar
