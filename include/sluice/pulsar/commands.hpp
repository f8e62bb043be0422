#pragma once

// Pulsar's binary protocol messages: BaseCommand and the commands a producer and a consumer exchange
// with a broker, plus MessageMetadata and SingleMessageMetadata. Field numbers, types and defaults
// are those of the upstream definition, apache/pulsar pulsar-common/src/main/proto/PulsarApi.proto
// (protocol version 21); each struct lists its fields once, in `fields()`, for proto.hpp's encoder and
// decoder. Only the fields sluice reads or writes are listed; others are skipped when decoding.
// Required fields are plain members, optional ones std::optional (their .proto default applies when
// unset), repeated ones std::vector.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

#include <sluice/pulsar/proto.hpp>

namespace sluice::pulsar {

/// The protocol version sluice speaks (CommandConnect.protocol_version).
inline constexpr std::int32_t protocol_version = 21;

/// BaseCommand.Type: also the BaseCommand field number of each command's message.
enum class command_type : std::int32_t {
    connect = 2, connected = 3, subscribe = 4, producer = 5, send = 6, send_receipt = 7, send_error = 8,
    message = 9, ack = 10, flow = 11, unsubscribe = 12, success = 13, error = 14, close_producer = 15,
    close_consumer = 16, producer_success = 17, ping = 18, pong = 19, redeliver_unacknowledged_messages = 20,
    partitioned_metadata = 21, partitioned_metadata_response = 22, lookup = 23, lookup_response = 24,
    reached_end_of_topic = 27, active_consumer_change = 31, ack_response = 38,
};

/// ServerError.
enum class server_error : std::int32_t {
    unknown_error = 0, metadata_error = 1, persistence_error = 2, authentication_error = 3,
    authorization_error = 4, consumer_busy = 5, service_not_ready = 6, producer_blocked_quota_exceeded_error = 7,
    producer_blocked_quota_exceeded_exception = 8, checksum_error = 9, unsupported_version_error = 10,
    topic_not_found = 11, subscription_not_found = 12, consumer_not_found = 13, too_many_requests = 14,
    topic_terminated_error = 15, producer_busy = 16, invalid_topic_name = 17, incompatible_schema = 18,
    consumer_assign_error = 19, not_allowed_error = 22, producer_fenced = 25,
};

/// The .proto name of a ServerError value.
[[nodiscard]] inline std::string_view to_string(server_error e) noexcept {
    switch (e) {
    case server_error::unknown_error: return "UnknownError";
    case server_error::metadata_error: return "MetadataError";
    case server_error::persistence_error: return "PersistenceError";
    case server_error::authentication_error: return "AuthenticationError";
    case server_error::authorization_error: return "AuthorizationError";
    case server_error::consumer_busy: return "ConsumerBusy";
    case server_error::service_not_ready: return "ServiceNotReady";
    case server_error::producer_blocked_quota_exceeded_error: return "ProducerBlockedQuotaExceededError";
    case server_error::producer_blocked_quota_exceeded_exception: return "ProducerBlockedQuotaExceededException";
    case server_error::checksum_error: return "ChecksumError";
    case server_error::unsupported_version_error: return "UnsupportedVersionError";
    case server_error::topic_not_found: return "TopicNotFound";
    case server_error::subscription_not_found: return "SubscriptionNotFound";
    case server_error::consumer_not_found: return "ConsumerNotFound";
    case server_error::too_many_requests: return "TooManyRequests";
    case server_error::topic_terminated_error: return "TopicTerminatedError";
    case server_error::producer_busy: return "ProducerBusy";
    case server_error::invalid_topic_name: return "InvalidTopicName";
    case server_error::incompatible_schema: return "IncompatibleSchema";
    case server_error::consumer_assign_error: return "ConsumerAssignError";
    case server_error::not_allowed_error: return "NotAllowedError";
    case server_error::producer_fenced: return "ProducerFenced";
    }
    return "ServerError";
}

/// True for errors after which the official clients retry (the broker is moving or busy).
[[nodiscard]] inline bool is_retryable(server_error e) noexcept {
    return e == server_error::service_not_ready || e == server_error::too_many_requests ||
           e == server_error::metadata_error || e == server_error::persistence_error ||
           e == server_error::unknown_error || e == server_error::producer_busy || e == server_error::consumer_busy;
}

/// CompressionType.
enum class compression_type : std::int32_t { none = 0, lz4 = 1, zlib = 2, zstd = 3, snappy = 4 };
/// CommandSubscribe.SubType.
enum class subscription_type : std::int32_t { exclusive = 0, shared = 1, failover = 2, key_shared = 3 };
/// CommandSubscribe.InitialPosition.
enum class initial_position : std::int32_t { latest = 0, earliest = 1 };
/// CommandAck.AckType.
enum class ack_type : std::int32_t { individual = 0, cumulative = 1 };
/// CommandAck.ValidationError.
enum class validation_error : std::int32_t {
    uncompressed_size_corruption = 0, decompression_error = 1, checksum_mismatch = 2, batch_deserialize_error = 3,
    decryption_error = 4,
};
/// CommandLookupTopicResponse.LookupType.
enum class lookup_type : std::int32_t { redirect = 0, connect = 1, failed = 2 };
/// ProducerAccessMode.
enum class producer_access_mode : std::int32_t { shared = 0, exclusive = 1, wait_for_exclusive = 2, exclusive_with_fencing = 3 };
/// KeySharedMode.
enum class key_shared_mode : std::int32_t { auto_split = 0, sticky = 1 };

namespace proto {

/// KeyValue: a named string (message properties, producer and consumer metadata).
struct key_value {
    std::string key;   ///< the name
    std::string value; ///< its value
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, key); f(2, value); }
    /// Equal names and values.
    bool operator==(const key_value&) const = default;
};

/// KeyLongValue: a named number (CommandAck.properties).
struct key_long_value {
    std::string key;         ///< the name
    std::uint64_t value = 0; ///< its value
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, key); f(2, value); }
};

/// MessageIdData: where an entry is stored (ledger, entry) and a message's place in a batched entry.
struct message_id_data {
    std::uint64_t ledger_id = 0;             ///< the BookKeeper ledger holding the entry
    std::uint64_t entry_id = 0;              ///< the entry within that ledger
    std::optional<std::int32_t> partition;   ///< the topic partition (default -1: not partitioned)
    std::optional<std::int32_t> batch_index; ///< its index in a batched entry (default -1: not batched)
    std::vector<std::int64_t> ack_set;       ///< batch index acks: a bit per message, set: unacked
    std::optional<std::int32_t> batch_size;  ///< how many messages the batched entry holds
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) {
        f(1, ledger_id); f(2, entry_id); f(3, partition); f(4, batch_index); f(5, ack_set); f(6, batch_size);
    }
};

/// IntRange: a range of key hashes (KeySharedMeta.hashRanges).
struct int_range {
    std::int32_t start = 0; ///< the first hash, inclusive
    std::int32_t end = 0;   ///< the last hash, inclusive
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, start); f(2, end); }
};

/// KeySharedMeta: how a Key_Shared subscription divides keys among consumers.
struct key_shared_meta {
    /// AUTO_SPLIT: broker-assigned ranges; STICKY: its own.
    key_shared_mode mode = key_shared_mode::auto_split;
    std::vector<int_range> hash_ranges;              ///< STICKY: the hash ranges this consumer takes
    std::optional<bool> allow_out_of_order_delivery; ///< keys may move before earlier messages are acked
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, mode); f(3, hash_ranges); f(4, allow_out_of_order_delivery); }
};

/// FeatureFlags: optional protocol features one side supports (each default false).
struct feature_flags {
    std::optional<bool> supports_auth_refresh;          ///< answers AUTH_CHALLENGE with fresh credentials
    std::optional<bool> supports_broker_entry_metadata; ///< reads broker entry metadata in front of messages
    std::optional<bool> supports_partial_producer;      ///< a producer may cover some partitions only
    std::optional<bool> supports_topic_watchers;        ///< topic list watchers (WATCH_TOPIC_LIST)
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) {
        f(1, supports_auth_refresh); f(2, supports_broker_entry_metadata); f(3, supports_partial_producer);
        f(4, supports_topic_watchers);
    }
};

/// EncryptionKeys: an end-to-end encrypted message's data key, encrypted for one key pair.
struct encryption_keys {
    std::string key;                 ///< the name of the public key it was encrypted with
    std::string value;               ///< the encrypted data key
    std::vector<key_value> metadata; ///< the key's metadata
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, key); f(2, value); f(3, metadata); }
};

/// MessageMetadata: the header of every stored entry, a single message or a batch.
struct message_metadata {
    std::string producer_name;                        ///< the producer that published it
    std::uint64_t sequence_id = 0;                    ///< the producer's sequence id (a batch's first)
    std::uint64_t publish_time = 0;                   ///< when the producer published it, Unix milliseconds
    std::vector<key_value> properties;                ///< its properties (a batch's are per message)
    std::optional<std::string> replicated_from;       ///< geo-replication: the cluster it came from
    std::optional<std::string> partition_key;         ///< the key: picks partition and Key_Shared consumer
    std::vector<std::string> replicate_to;            ///< clusters to replicate to (not the namespace's)
    std::optional<compression_type> compression;      ///< the payload's codec (default NONE)
    std::optional<std::uint32_t> uncompressed_size;   ///< the payload's size before compression
    /// Messages in a batch (default 1); sluice sets it on batches only.
    std::optional<std::int32_t> num_messages_in_batch;
    std::optional<std::uint64_t> event_time;          ///< the event's own time, Unix ms (default 0: none)
    std::vector<encryption_keys> encryption;          ///< end-to-end encryption: the data key per recipient
    std::optional<std::string> encryption_algo;       ///< the algorithm that encrypted the data key
    std::optional<std::string> encryption_param;      ///< the encryption's parameters (its IV)
    std::optional<std::string> schema_version;        ///< the version of the schema the payload follows
    std::optional<bool> partition_key_b64_encoded;    ///< the key is base64 of binary bytes (default false)
    std::optional<std::string> ordering_key;          ///< replaces the key for Key_Shared dispatch
    std::optional<std::int64_t> deliver_at_time;      ///< delayed delivery: not before this, Unix ms
    std::optional<std::int32_t> marker_type;          ///< an internal marker's kind (not application data)
    std::optional<std::uint64_t> highest_sequence_id; ///< a batch's last sequence id (default 0)
    std::optional<bool> null_value;                   ///< no value, unlike an empty one (default false)
    std::optional<std::string> uuid;                  ///< chunking: the id shared by a message's chunks
    std::optional<std::int32_t> num_chunks_from_msg;  ///< chunking: how many chunks the message became
    std::optional<std::int32_t> total_chunk_msg_size; ///< chunking: the whole message's size
    std::optional<std::int32_t> chunk_id;             ///< chunking: this chunk's index
    std::optional<bool> null_partition_key;           ///< no key, unlike an empty one (default false)
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) {
        f(1, producer_name); f(2, sequence_id); f(3, publish_time); f(4, properties); f(5, replicated_from);
        f(6, partition_key); f(7, replicate_to); f(8, compression); f(9, uncompressed_size);
        f(11, num_messages_in_batch); f(12, event_time); f(13, encryption); f(14, encryption_algo);
        f(15, encryption_param); f(16, schema_version); f(17, partition_key_b64_encoded); f(18, ordering_key);
        f(19, deliver_at_time); f(20, marker_type); f(24, highest_sequence_id); f(25, null_value); f(26, uuid);
        f(27, num_chunks_from_msg); f(28, total_chunk_msg_size); f(29, chunk_id); f(30, null_partition_key);
    }
};

/// SingleMessageMetadata: the header of each message inside a batch payload.
struct single_message_metadata {
    std::vector<key_value> properties;             ///< the message's properties
    std::optional<std::string> partition_key;      ///< its key
    std::int32_t payload_size = 0;                 ///< the bytes of its payload, which follow this header
    std::optional<bool> compacted_out;             ///< compaction removed it: skip it (default false)
    std::optional<std::uint64_t> event_time;       ///< the event's own time, Unix ms (default 0: none)
    std::optional<bool> partition_key_b64_encoded; ///< the key is base64 of binary bytes (default false)
    std::optional<std::string> ordering_key;       ///< replaces the key for Key_Shared dispatch
    std::optional<std::uint64_t> sequence_id;      ///< its own sequence id (sluice sets one per message)
    std::optional<bool> null_value;                ///< no value, unlike an empty one (default false)
    std::optional<bool> null_partition_key;        ///< no key, unlike an empty one (default false)
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) {
        f(1, properties); f(2, partition_key); f(3, payload_size); f(4, compacted_out); f(5, event_time);
        f(6, partition_key_b64_encoded); f(7, ordering_key); f(8, sequence_id); f(9, null_value);
        f(10, null_partition_key);
    }
};

// ---- commands -------------------------------------------------------------------------------------

/// CONNECT: opens a session, with the client's version and credentials.
struct connect {
    static constexpr command_type type = command_type::connect; ///< its BaseCommand type
    std::string client_version;                     ///< the client's name and version
    std::optional<std::string> auth_data;           ///< the credentials (sluice: the token)
    std::optional<std::int32_t> protocol_version;   ///< the highest version the client speaks (sluice: 21)
    std::optional<std::string> auth_method_name;    ///< the auth method (sluice: "token", with a token)
    std::optional<std::string> proxy_to_broker_url; ///< through a Pulsar proxy: the broker to reach
    std::optional<feature_flags> flags;             ///< the client's features
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) {
        f(1, client_version); f(3, auth_data); f(4, protocol_version); f(5, auth_method_name);
        f(6, proxy_to_broker_url); f(10, flags);
    }
};

/// CONNECTED: the broker accepted CONNECT.
struct connected {
    static constexpr command_type type = command_type::connected; ///< its BaseCommand type
    std::string server_version;                   ///< the broker's version
    std::optional<std::int32_t> protocol_version; ///< the version both sides use (default 0)
    std::optional<std::int32_t> max_message_size; ///< largest message it takes; sluice sizes frames by it
    std::optional<feature_flags> flags;           ///< the broker's features
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, server_version); f(2, protocol_version); f(3, max_message_size); f(4, flags); }
};

/// SUBSCRIBE: creates a consumer on a subscription; SUCCESS or ERROR answers.
struct subscribe {
    static constexpr command_type type = command_type::subscribe; ///< its BaseCommand type
    std::string topic;                           ///< the topic or partition
    std::string subscription;                    ///< the subscription's name
    /// Exclusive, Shared, Failover or Key_Shared.
    subscription_type sub_type = subscription_type::exclusive;
    std::uint64_t consumer_id = 0;               ///< the client's id for the consumer on this connection
    std::uint64_t request_id = 0;                ///< pairs the request with its answer
    std::optional<std::string> consumer_name;    ///< the consumer's name
    std::optional<std::int32_t> priority_level;  ///< Shared: lower levels are served first
    std::optional<bool> durable;                 ///< a cursor kept across disconnects (default true)
    /// Where the cursor starts (a reader's non-durable one).
    std::optional<message_id_data> start_message_id;
    std::vector<key_value> metadata;             ///< key=value pairs attached to the consumer
    std::optional<bool> read_compacted;          ///< read the topic's compacted view
    std::optional<initial_position> initial;     ///< a new subscription's start: Latest (default) or Earliest
    std::optional<bool> force_topic_creation;    ///< create a missing topic where allowed (default true)
    std::optional<key_shared_meta> key_shared;   ///< Key_Shared: how keys are divided
    std::optional<std::uint64_t> consumer_epoch; ///< Exclusive, Failover: raised by each redelivery request
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) {
        f(1, topic); f(2, subscription); f(3, sub_type); f(4, consumer_id); f(5, request_id); f(6, consumer_name);
        f(7, priority_level); f(8, durable); f(9, start_message_id); f(10, metadata); f(11, read_compacted);
        f(13, initial); f(15, force_topic_creation); f(17, key_shared); f(19, consumer_epoch);
    }
};

/// PRODUCER: registers a producer on a topic; PRODUCER_SUCCESS or ERROR answers.
struct producer {
    static constexpr command_type type = command_type::producer; ///< its BaseCommand type
    std::string topic;                               ///< the topic or partition
    std::uint64_t producer_id = 0;                   ///< the client's id for the producer on this connection
    std::uint64_t request_id = 0;                    ///< pairs the request with its answer
    std::optional<std::string> producer_name;        ///< the name to use; unset: the broker makes one
    /// Its messages are end-to-end encrypted (default false).
    std::optional<bool> encrypted;
    std::vector<key_value> metadata;                 ///< key=value pairs attached to the producer
    std::optional<std::uint64_t> epoch;              ///< one more at each registration of the same producer
    std::optional<bool> user_provided_producer_name; ///< the name is the user's (default true)
    /// Shared (default), Exclusive, WaitForExclusive or ExclusiveWithFencing.
    std::optional<producer_access_mode> access_mode;
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) {
        f(1, topic); f(2, producer_id); f(3, request_id); f(4, producer_name); f(5, encrypted); f(6, metadata);
        f(8, epoch); f(9, user_provided_producer_name); f(10, access_mode);
    }
};

/// SEND: precedes a message's (or a batch's) metadata and payload in a frame.
struct send {
    static constexpr command_type type = command_type::send; ///< its BaseCommand type
    std::uint64_t producer_id = 0;                    ///< the producer sending
    std::uint64_t sequence_id = 0;                    ///< the (first) message's sequence id
    std::optional<std::int32_t> num_messages;         ///< messages in the entry (default 1)
    std::optional<std::uint64_t> highest_sequence_id; ///< a batch's last sequence id (default 0)
    std::optional<bool> is_chunk;                     ///< one chunk of a larger message (default false)
    std::optional<bool> marker;                       ///< an internal marker, not data (default false)
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) {
        f(1, producer_id); f(2, sequence_id); f(3, num_messages); f(6, highest_sequence_id); f(7, is_chunk); f(8, marker);
    }
};

/// SEND_RECEIPT: the broker stored a SEND.
struct send_receipt {
    static constexpr command_type type = command_type::send_receipt; ///< its BaseCommand type
    std::uint64_t producer_id = 0;                    ///< the producer that sent it
    std::uint64_t sequence_id = 0;                    ///< the SEND's (first) sequence id
    std::optional<message_id_data> message_id;        ///< where it is stored
    std::optional<std::uint64_t> highest_sequence_id; ///< the SEND's highest sequence id (default 0)
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, producer_id); f(2, sequence_id); f(3, message_id); f(4, highest_sequence_id); }
};

/// SEND_ERROR: the broker did not store a SEND.
struct send_error {
    static constexpr command_type type = command_type::send_error; ///< its BaseCommand type
    std::uint64_t producer_id = 0;                    ///< the producer that sent it
    std::uint64_t sequence_id = 0;                    ///< the SEND's sequence id
    server_error error = server_error::unknown_error; ///< why
    std::string message;                              ///< the broker's explanation
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, producer_id); f(2, sequence_id); f(3, error); f(4, message); }
};

/// MESSAGE: a stored entry pushed to a consumer; its metadata and payload follow in the frame.
struct message {
    static constexpr command_type type = command_type::message; ///< its BaseCommand type
    std::uint64_t consumer_id = 0;                 ///< the consumer it is for
    message_id_data message_id;                    ///< where it is stored
    std::optional<std::uint32_t> redelivery_count; ///< how many times it was delivered before (default 0)
    std::vector<std::int64_t> ack_set;             ///< batch index acks: a bit per message, set: unacked
    std::optional<std::uint64_t> consumer_epoch;   ///< the consumer epoch it was sent under
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, consumer_id); f(2, message_id); f(3, redelivery_count); f(4, ack_set); f(5, consumer_epoch); }
};

/// ACK: acknowledges messages, individually or cumulatively.
struct ack {
    static constexpr command_type type = command_type::ack; ///< its BaseCommand type
    std::uint64_t consumer_id = 0;              ///< the consumer acknowledging
    ack_type kind = ack_type::individual;       ///< Individual, or Cumulative: all up to the one named
    std::vector<message_id_data> message_ids;   ///< the messages (Individual may name several)
    std::optional<validation_error> validation; ///< the message was discarded as invalid, and why
    std::vector<key_long_value> properties;     ///< named numbers attached to the ack
    std::optional<std::uint64_t> request_id;    ///< asks for an ACK_RESPONSE with this id
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, consumer_id); f(2, kind); f(3, message_ids); f(4, validation); f(5, properties); f(8, request_id); }
};

/// FLOW: lets the broker push more messages to a consumer.
struct flow {
    static constexpr command_type type = command_type::flow; ///< its BaseCommand type
    std::uint64_t consumer_id = 0;     ///< the consumer
    std::uint32_t message_permits = 0; ///< how many more, on top of the permits given before
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, consumer_id); f(2, message_permits); }
};

/// UNSUBSCRIBE: deletes the consumer's subscription; SUCCESS or ERROR answers.
struct unsubscribe {
    static constexpr command_type type = command_type::unsubscribe; ///< its BaseCommand type
    std::uint64_t consumer_id = 0; ///< the consumer
    std::uint64_t request_id = 0;  ///< pairs the request with its answer
    std::optional<bool> force;     ///< even with other consumers connected (default false)
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, consumer_id); f(2, request_id); f(3, force); }
};

/// SUCCESS: a request (SUBSCRIBE, UNSUBSCRIBE, CLOSE_PRODUCER, CLOSE_CONSUMER) succeeded.
struct success {
    static constexpr command_type type = command_type::success; ///< its BaseCommand type
    std::uint64_t request_id = 0; ///< the request it answers
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, request_id); }
};

/// ERROR: a request failed.
struct error {
    static constexpr command_type type = command_type::error; ///< its BaseCommand type
    std::uint64_t request_id = 0;                    ///< the request it answers
    server_error code = server_error::unknown_error; ///< why
    std::string message;                             ///< the broker's explanation
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, request_id); f(2, code); f(3, message); }
};

/// CLOSE_PRODUCER: from the client, ends a producer; from the broker, asks it to register again.
struct close_producer {
    static constexpr command_type type = command_type::close_producer; ///< its BaseCommand type
    std::uint64_t producer_id = 0;                              ///< the producer
    std::uint64_t request_id = 0;                               ///< pairs the request with its answer
    std::optional<std::string> assigned_broker_service_url;     ///< from the broker: where the topic moved
    std::optional<std::string> assigned_broker_service_url_tls; ///< the same, over TLS
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, producer_id); f(2, request_id); f(3, assigned_broker_service_url); f(4, assigned_broker_service_url_tls); }
};

/// CLOSE_CONSUMER: from the client, ends a consumer; from the broker, asks it to subscribe again.
struct close_consumer {
    static constexpr command_type type = command_type::close_consumer; ///< its BaseCommand type
    std::uint64_t consumer_id = 0;                              ///< the consumer
    std::uint64_t request_id = 0;                               ///< pairs the request with its answer
    std::optional<std::string> assigned_broker_service_url;     ///< from the broker: where the topic moved
    std::optional<std::string> assigned_broker_service_url_tls; ///< the same, over TLS
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, consumer_id); f(2, request_id); f(3, assigned_broker_service_url); f(4, assigned_broker_service_url_tls); }
};

/// PRODUCER_SUCCESS: the broker registered a producer.
struct producer_success {
    static constexpr command_type type = command_type::producer_success; ///< its BaseCommand type
    std::uint64_t request_id = 0;                 ///< the PRODUCER it answers
    std::string producer_name;                    ///< the producer's name (the broker's, when it made one)
    std::optional<std::int64_t> last_sequence_id; ///< de-duplication: the last id stored (default -1: none)
    std::optional<std::string> schema_version;    ///< the version of the producer's schema
    std::optional<std::uint64_t> topic_epoch;     ///< exclusive access: the topic epoch to send on reconnects
    std::optional<bool> producer_ready;           ///< false: WaitForExclusive still waits (default true)
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) {
        f(1, request_id); f(2, producer_name); f(3, last_sequence_id); f(4, schema_version); f(5, topic_epoch); f(6, producer_ready);
    }
};

/// PING: a keep-alive probe; PONG answers.
struct ping {
    static constexpr command_type type = command_type::ping; ///< its BaseCommand type
    /// No fields: the message is empty.
    template <class F> void fields(F&&) {}
};

/// PONG: the answer to PING.
struct pong {
    static constexpr command_type type = command_type::pong; ///< its BaseCommand type
    /// No fields: the message is empty.
    template <class F> void fields(F&&) {}
};

/// REDELIVER_UNACKNOWLEDGED_MESSAGES: asks the broker to deliver messages again.
struct redeliver_unacknowledged_messages {
    /// Its BaseCommand type.
    static constexpr command_type type = command_type::redeliver_unacknowledged_messages;
    std::uint64_t consumer_id = 0;               ///< the consumer
    std::vector<message_id_data> message_ids;    ///< the messages; none: every unacknowledged one
    std::optional<std::uint64_t> consumer_epoch; ///< Exclusive, Failover: the consumer's new epoch
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, consumer_id); f(2, message_ids); f(3, consumer_epoch); }
};

/// PARTITIONED_METADATA: asks how many partitions a topic has.
struct partitioned_metadata {
    static constexpr command_type type = command_type::partitioned_metadata; ///< its BaseCommand type
    std::string topic;                                  ///< the topic
    std::uint64_t request_id = 0;                       ///< pairs the request with its answer
    std::optional<bool> metadata_auto_creation_enabled; ///< may auto-create a missing topic (default true)
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, topic); f(2, request_id); f(6, metadata_auto_creation_enabled); }
};

/// PARTITIONED_METADATA_RESPONSE: a topic's partition count, or why there is none.
struct partitioned_metadata_response {
    /// Its BaseCommand type.
    static constexpr command_type type = command_type::partitioned_metadata_response;
    /// Its .proto LookupType: whether the lookup succeeded.
    enum class result : std::int32_t { success = 0, failed = 1 };
    std::optional<std::uint32_t> partitions; ///< how many; 0: not partitioned; unset on failure
    std::uint64_t request_id = 0;            ///< the request it answers
    std::optional<result> response;          ///< Success or Failed
    std::optional<server_error> error;       ///< on failure: why
    std::optional<std::string> message;      ///< on failure: the broker's explanation
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, partitions); f(2, request_id); f(3, response); f(4, error); f(5, message); }
};

/// LOOKUP: asks which broker serves a topic.
struct lookup {
    static constexpr command_type type = command_type::lookup; ///< its BaseCommand type
    std::string topic;                                   ///< the topic or partition
    std::uint64_t request_id = 0;                        ///< pairs the request with its answer
    /// A redirected lookup the broker must settle (default false).
    std::optional<bool> authoritative;
    std::optional<std::string> advertised_listener_name; ///< which of the brokers' listeners to answer with
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, topic); f(2, request_id); f(3, authoritative); f(7, advertised_listener_name); }
};

/// LOOKUP_RESPONSE: the broker to use, a broker to ask instead, or a failure.
struct lookup_response {
    static constexpr command_type type = command_type::lookup_response; ///< its BaseCommand type
    std::optional<std::string> broker_service_url;     ///< the broker's pulsar:// URL
    std::optional<std::string> broker_service_url_tls; ///< its pulsar+ssl:// URL
    std::optional<lookup_type> response;               ///< Connect (use it), Redirect (ask it) or Failed
    std::uint64_t request_id = 0;                      ///< the request it answers
    /// Redirect: send with the next LOOKUP (default false).
    std::optional<bool> authoritative;
    std::optional<server_error> error;                 ///< Failed: why
    std::optional<std::string> message;                ///< Failed: the broker's explanation
    /// Connect through the service URL, a proxy (default false).
    std::optional<bool> proxy_through_service_url;
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) {
        f(1, broker_service_url); f(2, broker_service_url_tls); f(3, response); f(4, request_id); f(5, authoritative);
        f(6, error); f(7, message); f(8, proxy_through_service_url);
    }
};

/// REACHED_END_OF_TOPIC: the topic was terminated and the consumer has read all of it.
struct reached_end_of_topic {
    static constexpr command_type type = command_type::reached_end_of_topic; ///< its BaseCommand type
    std::uint64_t consumer_id = 0; ///< the consumer
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, consumer_id); }
};

/// ACTIVE_CONSUMER_CHANGE: Failover: whether this consumer is now the one receiving.
struct active_consumer_change {
    static constexpr command_type type = command_type::active_consumer_change; ///< its BaseCommand type
    std::uint64_t consumer_id = 0; ///< the consumer
    std::optional<bool> is_active; ///< true: it is (default false)
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, consumer_id); f(2, is_active); }
};

/// ACK_RESPONSE: the answer to an ACK that carried a request_id.
struct ack_response {
    static constexpr command_type type = command_type::ack_response; ///< its BaseCommand type
    std::uint64_t consumer_id = 0;           ///< the consumer
    std::optional<server_error> error;       ///< why the ack failed; unset: it succeeded
    std::optional<std::string> message;      ///< the broker's explanation
    std::optional<std::uint64_t> request_id; ///< the ACK it answers
    /// Its fields by number, for proto.hpp's encoder and decoder.
    template <class F> void fields(F&& f) { f(1, consumer_id); f(4, error); f(5, message); f(6, request_id); }
};

/// A BaseCommand whose type sluice does not handle (kept so the connection can say which).
struct unknown_command {
    std::int32_t type = 0; ///< the BaseCommand.Type received
};

} // namespace proto

/// Every command sluice decodes, as one BaseCommand.
using base_command = std::variant<proto::unknown_command, proto::connect, proto::connected, proto::subscribe,
                                  proto::producer, proto::send, proto::send_receipt, proto::send_error, proto::message,
                                  proto::ack, proto::flow, proto::unsubscribe, proto::success, proto::error,
                                  proto::close_producer, proto::close_consumer, proto::producer_success, proto::ping,
                                  proto::pong, proto::redeliver_unacknowledged_messages, proto::partitioned_metadata,
                                  proto::partitioned_metadata_response, proto::lookup, proto::lookup_response,
                                  proto::reached_end_of_topic, proto::active_consumer_change, proto::ack_response>;

/// Appends the BaseCommand wrapping `cmd` (its type, and the command at the field of the same number).
template <class Command>
void encode_base_command(std::string& out, const Command& cmd) {
    detail::pb_writer w(out);
    w.tag(1, detail::wire::varint);
    w.varint(static_cast<std::uint64_t>(Command::type));
    const std::size_t mark = w.begin_message(static_cast<std::uint32_t>(Command::type));
    detail::encode_message(w, cmd);
    w.end_message(mark);
}

namespace detail {
template <std::size_t I = 1>
void decode_command_body(std::int32_t type, std::string_view body, base_command& out) {
    if constexpr (I < std::variant_size_v<base_command>) {
        using C = std::variant_alternative_t<I, base_command>;
        if (static_cast<std::int32_t>(C::type) == type) {
            decode_message(body, out.emplace<C>(), "BaseCommand");
            return;
        }
        decode_command_body<I + 1>(type, body, out);
    } else {
        out = proto::unknown_command{type};
    }
}
} // namespace detail

/// Decodes a BaseCommand. Throws protocol_error when it is malformed or lacks its command's message.
[[nodiscard]] inline base_command decode_base_command(std::string_view in) {
    // Two passes, no allocation: protobuf allows the type after the command's message.
    std::optional<std::int32_t> type;
    for (detail::pb_reader r(in, "BaseCommand"); !r.done();) {
        const auto [n, w] = r.tag();
        if (n == 1 && w == detail::wire::varint)
            type = static_cast<std::int32_t>(r.varint());
        else
            r.skip(w);
    }
    if (!type) throw protocol_error("pulsar: malformed BaseCommand: no command type");
    std::string_view body; // PING and PONG carry empty messages that encoders may leave out
    for (detail::pb_reader r(in, "BaseCommand"); !r.done();) {
        const auto [n, w] = r.tag();
        if (w == detail::wire::length && static_cast<std::int32_t>(n) == *type)
            body = r.length_delimited();
        else
            r.skip(w);
    }
    base_command out;
    detail::decode_command_body(*type, body, out);
    return out;
}

/// The BaseCommand type of a decoded command.
[[nodiscard]] inline std::int32_t type_of(const base_command& c) noexcept {
    return std::visit(
        [](const auto& cmd) -> std::int32_t {
            if constexpr (std::is_same_v<std::decay_t<decltype(cmd)>, proto::unknown_command>)
                return cmd.type;
            else
                return static_cast<std::int32_t>(std::decay_t<decltype(cmd)>::type);
        },
        c);
}

} // namespace sluice::pulsar
