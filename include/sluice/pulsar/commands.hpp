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

struct key_value {
    std::string key;
    std::string value;
    template <class F> void fields(F&& f) { f(1, key); f(2, value); }
    bool operator==(const key_value&) const = default;
};

struct key_long_value {
    std::string key;
    std::uint64_t value = 0;
    template <class F> void fields(F&& f) { f(1, key); f(2, value); }
};

struct message_id_data {
    std::uint64_t ledger_id = 0;
    std::uint64_t entry_id = 0;
    std::optional<std::int32_t> partition;   // default -1
    std::optional<std::int32_t> batch_index; // default -1
    std::vector<std::int64_t> ack_set;
    std::optional<std::int32_t> batch_size;
    template <class F> void fields(F&& f) {
        f(1, ledger_id); f(2, entry_id); f(3, partition); f(4, batch_index); f(5, ack_set); f(6, batch_size);
    }
};

struct int_range {
    std::int32_t start = 0;
    std::int32_t end = 0;
    template <class F> void fields(F&& f) { f(1, start); f(2, end); }
};

struct key_shared_meta {
    key_shared_mode mode = key_shared_mode::auto_split;
    std::vector<int_range> hash_ranges;
    std::optional<bool> allow_out_of_order_delivery;
    template <class F> void fields(F&& f) { f(1, mode); f(3, hash_ranges); f(4, allow_out_of_order_delivery); }
};

struct feature_flags {
    std::optional<bool> supports_auth_refresh;
    std::optional<bool> supports_broker_entry_metadata;
    std::optional<bool> supports_partial_producer;
    std::optional<bool> supports_topic_watchers;
    template <class F> void fields(F&& f) {
        f(1, supports_auth_refresh); f(2, supports_broker_entry_metadata); f(3, supports_partial_producer);
        f(4, supports_topic_watchers);
    }
};

struct encryption_keys {
    std::string key;
    std::string value;
    std::vector<key_value> metadata;
    template <class F> void fields(F&& f) { f(1, key); f(2, value); f(3, metadata); }
};

struct message_metadata {
    std::string producer_name;
    std::uint64_t sequence_id = 0;
    std::uint64_t publish_time = 0;
    std::vector<key_value> properties;
    std::optional<std::string> replicated_from;
    std::optional<std::string> partition_key;
    std::vector<std::string> replicate_to;
    std::optional<compression_type> compression;
    std::optional<std::uint32_t> uncompressed_size;
    std::optional<std::int32_t> num_messages_in_batch; // present only on batches
    std::optional<std::uint64_t> event_time;
    std::vector<encryption_keys> encryption;
    std::optional<std::string> encryption_algo;
    std::optional<std::string> encryption_param;
    std::optional<std::string> schema_version;
    std::optional<bool> partition_key_b64_encoded;
    std::optional<std::string> ordering_key;
    std::optional<std::int64_t> deliver_at_time;
    std::optional<std::int32_t> marker_type;
    std::optional<std::uint64_t> highest_sequence_id;
    std::optional<bool> null_value;
    std::optional<std::string> uuid;
    std::optional<std::int32_t> num_chunks_from_msg;
    std::optional<std::int32_t> total_chunk_msg_size;
    std::optional<std::int32_t> chunk_id;
    std::optional<bool> null_partition_key;
    template <class F> void fields(F&& f) {
        f(1, producer_name); f(2, sequence_id); f(3, publish_time); f(4, properties); f(5, replicated_from);
        f(6, partition_key); f(7, replicate_to); f(8, compression); f(9, uncompressed_size);
        f(11, num_messages_in_batch); f(12, event_time); f(13, encryption); f(14, encryption_algo);
        f(15, encryption_param); f(16, schema_version); f(17, partition_key_b64_encoded); f(18, ordering_key);
        f(19, deliver_at_time); f(20, marker_type); f(24, highest_sequence_id); f(25, null_value); f(26, uuid);
        f(27, num_chunks_from_msg); f(28, total_chunk_msg_size); f(29, chunk_id); f(30, null_partition_key);
    }
};

struct single_message_metadata {
    std::vector<key_value> properties;
    std::optional<std::string> partition_key;
    std::int32_t payload_size = 0;
    std::optional<bool> compacted_out;
    std::optional<std::uint64_t> event_time;
    std::optional<bool> partition_key_b64_encoded;
    std::optional<std::string> ordering_key;
    std::optional<std::uint64_t> sequence_id;
    std::optional<bool> null_value;
    std::optional<bool> null_partition_key;
    template <class F> void fields(F&& f) {
        f(1, properties); f(2, partition_key); f(3, payload_size); f(4, compacted_out); f(5, event_time);
        f(6, partition_key_b64_encoded); f(7, ordering_key); f(8, sequence_id); f(9, null_value);
        f(10, null_partition_key);
    }
};

// ---- commands -------------------------------------------------------------------------------------

struct connect {
    static constexpr command_type type = command_type::connect;
    std::string client_version;
    std::optional<std::string> auth_data;
    std::optional<std::int32_t> protocol_version;
    std::optional<std::string> auth_method_name;
    std::optional<std::string> proxy_to_broker_url;
    std::optional<feature_flags> flags;
    template <class F> void fields(F&& f) {
        f(1, client_version); f(3, auth_data); f(4, protocol_version); f(5, auth_method_name);
        f(6, proxy_to_broker_url); f(10, flags);
    }
};

struct connected {
    static constexpr command_type type = command_type::connected;
    std::string server_version;
    std::optional<std::int32_t> protocol_version;
    std::optional<std::int32_t> max_message_size;
    std::optional<feature_flags> flags;
    template <class F> void fields(F&& f) { f(1, server_version); f(2, protocol_version); f(3, max_message_size); f(4, flags); }
};

struct subscribe {
    static constexpr command_type type = command_type::subscribe;
    std::string topic;
    std::string subscription;
    subscription_type sub_type = subscription_type::exclusive;
    std::uint64_t consumer_id = 0;
    std::uint64_t request_id = 0;
    std::optional<std::string> consumer_name;
    std::optional<std::int32_t> priority_level;
    std::optional<bool> durable;
    std::optional<message_id_data> start_message_id;
    std::vector<key_value> metadata;
    std::optional<bool> read_compacted;
    std::optional<initial_position> initial;
    std::optional<bool> force_topic_creation;
    std::optional<key_shared_meta> key_shared;
    std::optional<std::uint64_t> consumer_epoch;
    template <class F> void fields(F&& f) {
        f(1, topic); f(2, subscription); f(3, sub_type); f(4, consumer_id); f(5, request_id); f(6, consumer_name);
        f(7, priority_level); f(8, durable); f(9, start_message_id); f(10, metadata); f(11, read_compacted);
        f(13, initial); f(15, force_topic_creation); f(17, key_shared); f(19, consumer_epoch);
    }
};

struct producer {
    static constexpr command_type type = command_type::producer;
    std::string topic;
    std::uint64_t producer_id = 0;
    std::uint64_t request_id = 0;
    std::optional<std::string> producer_name;
    std::optional<bool> encrypted;
    std::vector<key_value> metadata;
    std::optional<std::uint64_t> epoch;
    std::optional<bool> user_provided_producer_name;
    std::optional<producer_access_mode> access_mode;
    template <class F> void fields(F&& f) {
        f(1, topic); f(2, producer_id); f(3, request_id); f(4, producer_name); f(5, encrypted); f(6, metadata);
        f(8, epoch); f(9, user_provided_producer_name); f(10, access_mode);
    }
};

struct send {
    static constexpr command_type type = command_type::send;
    std::uint64_t producer_id = 0;
    std::uint64_t sequence_id = 0;
    std::optional<std::int32_t> num_messages;
    std::optional<std::uint64_t> highest_sequence_id;
    std::optional<bool> is_chunk;
    std::optional<bool> marker;
    template <class F> void fields(F&& f) {
        f(1, producer_id); f(2, sequence_id); f(3, num_messages); f(6, highest_sequence_id); f(7, is_chunk); f(8, marker);
    }
};

struct send_receipt {
    static constexpr command_type type = command_type::send_receipt;
    std::uint64_t producer_id = 0;
    std::uint64_t sequence_id = 0;
    std::optional<message_id_data> message_id;
    std::optional<std::uint64_t> highest_sequence_id;
    template <class F> void fields(F&& f) { f(1, producer_id); f(2, sequence_id); f(3, message_id); f(4, highest_sequence_id); }
};

struct send_error {
    static constexpr command_type type = command_type::send_error;
    std::uint64_t producer_id = 0;
    std::uint64_t sequence_id = 0;
    server_error error = server_error::unknown_error;
    std::string message;
    template <class F> void fields(F&& f) { f(1, producer_id); f(2, sequence_id); f(3, error); f(4, message); }
};

struct message {
    static constexpr command_type type = command_type::message;
    std::uint64_t consumer_id = 0;
    message_id_data message_id;
    std::optional<std::uint32_t> redelivery_count;
    std::vector<std::int64_t> ack_set;
    std::optional<std::uint64_t> consumer_epoch;
    template <class F> void fields(F&& f) { f(1, consumer_id); f(2, message_id); f(3, redelivery_count); f(4, ack_set); f(5, consumer_epoch); }
};

struct ack {
    static constexpr command_type type = command_type::ack;
    std::uint64_t consumer_id = 0;
    ack_type kind = ack_type::individual;
    std::vector<message_id_data> message_ids;
    std::optional<validation_error> validation;
    std::vector<key_long_value> properties;
    std::optional<std::uint64_t> request_id;
    template <class F> void fields(F&& f) { f(1, consumer_id); f(2, kind); f(3, message_ids); f(4, validation); f(5, properties); f(8, request_id); }
};

struct flow {
    static constexpr command_type type = command_type::flow;
    std::uint64_t consumer_id = 0;
    std::uint32_t message_permits = 0;
    template <class F> void fields(F&& f) { f(1, consumer_id); f(2, message_permits); }
};

struct unsubscribe {
    static constexpr command_type type = command_type::unsubscribe;
    std::uint64_t consumer_id = 0;
    std::uint64_t request_id = 0;
    std::optional<bool> force;
    template <class F> void fields(F&& f) { f(1, consumer_id); f(2, request_id); f(3, force); }
};

struct success {
    static constexpr command_type type = command_type::success;
    std::uint64_t request_id = 0;
    template <class F> void fields(F&& f) { f(1, request_id); }
};

struct error {
    static constexpr command_type type = command_type::error;
    std::uint64_t request_id = 0;
    server_error code = server_error::unknown_error;
    std::string message;
    template <class F> void fields(F&& f) { f(1, request_id); f(2, code); f(3, message); }
};

struct close_producer {
    static constexpr command_type type = command_type::close_producer;
    std::uint64_t producer_id = 0;
    std::uint64_t request_id = 0;
    std::optional<std::string> assigned_broker_service_url;
    std::optional<std::string> assigned_broker_service_url_tls;
    template <class F> void fields(F&& f) { f(1, producer_id); f(2, request_id); f(3, assigned_broker_service_url); f(4, assigned_broker_service_url_tls); }
};

struct close_consumer {
    static constexpr command_type type = command_type::close_consumer;
    std::uint64_t consumer_id = 0;
    std::uint64_t request_id = 0;
    std::optional<std::string> assigned_broker_service_url;
    std::optional<std::string> assigned_broker_service_url_tls;
    template <class F> void fields(F&& f) { f(1, consumer_id); f(2, request_id); f(3, assigned_broker_service_url); f(4, assigned_broker_service_url_tls); }
};

struct producer_success {
    static constexpr command_type type = command_type::producer_success;
    std::uint64_t request_id = 0;
    std::string producer_name;
    std::optional<std::int64_t> last_sequence_id; // default -1
    std::optional<std::string> schema_version;
    std::optional<std::uint64_t> topic_epoch;
    std::optional<bool> producer_ready; // default true
    template <class F> void fields(F&& f) {
        f(1, request_id); f(2, producer_name); f(3, last_sequence_id); f(4, schema_version); f(5, topic_epoch); f(6, producer_ready);
    }
};

struct ping {
    static constexpr command_type type = command_type::ping;
    template <class F> void fields(F&&) {}
};

struct pong {
    static constexpr command_type type = command_type::pong;
    template <class F> void fields(F&&) {}
};

struct redeliver_unacknowledged_messages {
    static constexpr command_type type = command_type::redeliver_unacknowledged_messages;
    std::uint64_t consumer_id = 0;
    std::vector<message_id_data> message_ids;
    std::optional<std::uint64_t> consumer_epoch;
    template <class F> void fields(F&& f) { f(1, consumer_id); f(2, message_ids); f(3, consumer_epoch); }
};

struct partitioned_metadata {
    static constexpr command_type type = command_type::partitioned_metadata;
    std::string topic;
    std::uint64_t request_id = 0;
    std::optional<bool> metadata_auto_creation_enabled;
    template <class F> void fields(F&& f) { f(1, topic); f(2, request_id); f(6, metadata_auto_creation_enabled); }
};

struct partitioned_metadata_response {
    static constexpr command_type type = command_type::partitioned_metadata_response;
    enum class result : std::int32_t { success = 0, failed = 1 };
    std::optional<std::uint32_t> partitions;
    std::uint64_t request_id = 0;
    std::optional<result> response;
    std::optional<server_error> error;
    std::optional<std::string> message;
    template <class F> void fields(F&& f) { f(1, partitions); f(2, request_id); f(3, response); f(4, error); f(5, message); }
};

struct lookup {
    static constexpr command_type type = command_type::lookup;
    std::string topic;
    std::uint64_t request_id = 0;
    std::optional<bool> authoritative;
    std::optional<std::string> advertised_listener_name;
    template <class F> void fields(F&& f) { f(1, topic); f(2, request_id); f(3, authoritative); f(7, advertised_listener_name); }
};

struct lookup_response {
    static constexpr command_type type = command_type::lookup_response;
    std::optional<std::string> broker_service_url;
    std::optional<std::string> broker_service_url_tls;
    std::optional<lookup_type> response;
    std::uint64_t request_id = 0;
    std::optional<bool> authoritative;
    std::optional<server_error> error;
    std::optional<std::string> message;
    std::optional<bool> proxy_through_service_url;
    template <class F> void fields(F&& f) {
        f(1, broker_service_url); f(2, broker_service_url_tls); f(3, response); f(4, request_id); f(5, authoritative);
        f(6, error); f(7, message); f(8, proxy_through_service_url);
    }
};

struct reached_end_of_topic {
    static constexpr command_type type = command_type::reached_end_of_topic;
    std::uint64_t consumer_id = 0;
    template <class F> void fields(F&& f) { f(1, consumer_id); }
};

struct active_consumer_change {
    static constexpr command_type type = command_type::active_consumer_change;
    std::uint64_t consumer_id = 0;
    std::optional<bool> is_active;
    template <class F> void fields(F&& f) { f(1, consumer_id); f(2, is_active); }
};

struct ack_response {
    static constexpr command_type type = command_type::ack_response;
    std::uint64_t consumer_id = 0;
    std::optional<server_error> error;
    std::optional<std::string> message;
    std::optional<std::uint64_t> request_id;
    template <class F> void fields(F&& f) { f(1, consumer_id); f(4, error); f(5, message); f(6, request_id); }
};

/// A BaseCommand whose type sluice does not handle (kept so the connection can say which).
struct unknown_command {
    std::int32_t type = 0;
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
