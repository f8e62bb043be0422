#pragma once

// The data model of a sluiced configuration: sources feeding collector queues, routes from the queues
// to sinks, and each sink's own options with its delivery settings. Plain values only: the TOML reader
// (config/toml_config.hpp) fills it and checks it, and whatever runs pipelines turns it into the
// library's option structs (apply_delivery() does the delivery engine's part). Every option that is
// not set keeps the library's default for that sink (std::optional here), so the file says only what
// differs. Option names follow the library's own option structs.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <sluice/codec/compression.hpp>
#include <sluice/delivery/options.hpp>
#include <sluice/queue/queue_options.hpp>

namespace sluice::config {

/// A string option whose value may come from the environment (`${NAME}`): such a value is a secret,
/// never printed in errors, summaries or dumps.
struct config_string {
    /// The value, environment variables substituted.
    std::string value{};
    /// True when any part of the value came from the environment.
    bool secret = false;

    /// The value, or "<secret>" for a secret: the only form to print.
    [[nodiscard]] std::string_view shown() const noexcept { return secret ? std::string_view("<secret>") : std::string_view(value); }
    /// True when the value is empty.
    [[nodiscard]] bool empty() const noexcept { return value.empty(); }
    /// Compares values (for tests and duplicate checks).
    friend bool operator==(const config_string&, const config_string&) = default;
};

// --- sources -------------------------------------------------------------------------------------

/// The MiniFirehose HTTP API, listening on `address:port`.
struct http_source {
    /// The address to bind: loopback unless the file says otherwise.
    config_string address{"127.0.0.1", false};
    /// The TCP port (required, 1 to 65535).
    std::uint16_t port = 0;
    /// Requests must carry `Authorization: Bearer <token>` when set (normally from the environment).
    std::optional<config_string> bearer_token{};
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const http_source&, const http_source&) = default;
};

/// NDJSON records read from the standard input, one per line.
struct stdin_source {
    /// Every stdin source is the same.
    friend bool operator==(const stdin_source&, const stdin_source&) = default;
};

/// A file of NDJSON records, tailed as it grows.
struct file_source {
    /// The file (required).
    config_string path{};
    /// Read the file from its start (true) or only what is appended after start-up (false).
    bool from_beginning = false;
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const file_source&, const file_source&) = default;
};

/// A named source and the queue its records go to.
struct source_config {
    /// Its name (the TOML table's key).
    std::string name{};
    /// What it reads.
    std::variant<http_source, stdin_source, file_source> kind{};
    /// The queue its records are sent to (may be omitted in the file when there is one queue).
    std::string queue{};
    /// The topic its records are published under (topic routes), if any.
    std::optional<std::string> topic{};
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const source_config&, const source_config&) = default;
};

/// "http", "stdin" or "file".
[[nodiscard]] inline std::string_view type_name(const source_config& s) noexcept {
    constexpr std::string_view names[] = {"http", "stdin", "file"};
    return names[s.kind.index()];
}

// --- queues and routes ---------------------------------------------------------------------------

/// How a route picks its records.
enum class route_kind {
    key,       ///< records sent with this key
    topic,     ///< records published under this topic
    broadcast, ///< every record
    field,     ///< records whose top-level `field` holds `topic` (per-tenant routing)
};

/// One route of a queue: which records go to which sinks.
struct route_config {
    /// How records are matched.
    route_kind by = route_kind::broadcast;
    /// route_kind::key: the key.
    std::string key{};
    /// route_kind::topic and route_kind::field: the topic (for `field`, the field's value).
    std::string topic{};
    /// route_kind::field: the record's top-level field used as the topic.
    std::string field{};
    /// The sinks the matching records go to (at least one, each once).
    std::vector<std::string> sinks{};
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const route_config&, const route_config&) = default;
};

/// "key", "topic", "broadcast" or "field".
[[nodiscard]] inline std::string_view to_string(route_kind k) noexcept {
    constexpr std::string_view names[] = {"key", "topic", "broadcast", "field"};
    return names[static_cast<int>(k)];
}

/// A collector queue (queue_options) and its routes.
struct queue_config {
    /// Its name (the TOML table's key).
    std::string name{};
    /// The order its backlog is taken in (the collector queue's queue_discipline).
    queue_discipline discipline = queue_discipline::fifo;
    /// queue_options::min_consumers.
    std::optional<std::size_t> min_consumers{};
    /// queue_options::max_consumers.
    std::optional<std::size_t> max_consumers{};
    /// queue_options::capacity (0: unbounded).
    std::optional<std::size_t> capacity{};
    /// Its routes, in file order (at least one).
    std::vector<route_config> routes{};
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const queue_config&, const queue_config&) = default;
};

/// "fifo", "lifo" or "priority".
[[nodiscard]] inline std::string_view to_string(queue_discipline d) noexcept {
    constexpr std::string_view names[] = {"fifo", "lifo", "priority"};
    return names[static_cast<int>(d)];
}

// --- delivery settings ---------------------------------------------------------------------------

/// batch_options overrides (object sinks: close_rules).
struct batch_config {
    std::optional<std::size_t> max_events{};               ///< batch_options::max_events
    std::optional<std::size_t> max_bytes{};                ///< batch_options::max_bytes
    std::optional<std::chrono::milliseconds> max_age{};    ///< batch_options::max_age
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const batch_config&, const batch_config&) = default;
};

/// memory_buffer_options (and the disk buffer's) overrides.
struct buffer_config {
    std::optional<buffer_type> type{};                     ///< memory_buffer_options::type
    std::optional<std::size_t> max_events{};               ///< memory_buffer_options::max_events
    std::optional<std::size_t> max_bytes{};                ///< memory_buffer_options::max_bytes
    std::optional<when_full> policy{};                     ///< memory_buffer_options::policy
    std::optional<std::chrono::milliseconds> max_block{};  ///< memory_buffer_options::max_block
    /// disk_buffer_options::directory: required for type disk and policy overflow.
    std::optional<config_string> disk_directory{};
    std::optional<std::uint64_t> disk_max_bytes{};         ///< disk_buffer_options::max_bytes
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const buffer_config&, const buffer_config&) = default;
};

/// retry_options overrides.
struct retry_config {
    std::optional<unsigned> max_attempts{};                     ///< retry_options::max_attempts
    std::optional<std::chrono::milliseconds> initial_backoff{}; ///< retry_options::initial_backoff
    std::optional<std::chrono::milliseconds> max_backoff{};     ///< retry_options::max_backoff
    std::optional<std::chrono::milliseconds> max_elapsed{};     ///< retry_options::max_elapsed
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const retry_config&, const retry_config&) = default;
};

/// rate_limit_options overrides.
struct rate_config {
    std::optional<double> requests_per_second{}; ///< rate_limit_options::requests_per_second
    std::optional<double> bytes_per_second{};    ///< rate_limit_options::bytes_per_second
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const rate_config&, const rate_config&) = default;
};

/// concurrency_options overrides.
struct concurrency_config {
    std::optional<std::size_t> max_in_flight{}; ///< concurrency_options::max_in_flight
    std::optional<bool> adaptive{};             ///< concurrency_options::adaptive
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const concurrency_config&, const concurrency_config&) = default;
};

/// A sink's delivery settings: what the file sets of its delivery_options.
struct delivery_config {
    batch_config batch{};   ///< [sinks.X.batch]
    buffer_config buffer{}; ///< [sinks.X.buffer]
    retry_config retry{};             ///< [sinks.X.retry]
    rate_config rate{};               ///< [sinks.X.rate]
    concurrency_config concurrency{}; ///< [sinks.X.concurrency]
    /// The sink that takes the records this one finally fails (another sink's name), if any.
    std::optional<std::string> dead_letter{};
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const delivery_config&, const delivery_config&) = default;
};

/// Applies the settings the file gives to `d` (a sink's standard delivery options), leaving the rest.
/// The dead-letter sink is wired by whoever builds the pipelines (it names another pipeline).
inline void apply_delivery(const delivery_config& c, delivery_options& d) {
    auto set = [](auto& field, const auto& value) {
        if (value) field = *value;
    };
    set(d.batch.max_events, c.batch.max_events);
    set(d.batch.max_bytes, c.batch.max_bytes);
    set(d.batch.max_age, c.batch.max_age);
    set(d.buffer.type, c.buffer.type);
    set(d.buffer.max_events, c.buffer.max_events);
    set(d.buffer.max_bytes, c.buffer.max_bytes);
    set(d.buffer.policy, c.buffer.policy);
    set(d.buffer.max_block, c.buffer.max_block);
    if (c.buffer.disk_directory) {
        if (!d.disk) d.disk.emplace();
        d.disk->directory = c.buffer.disk_directory->value;
        set(d.disk->max_bytes, c.buffer.disk_max_bytes);
    }
    set(d.retry.max_attempts, c.retry.max_attempts);
    set(d.retry.initial_backoff, c.retry.initial_backoff);
    set(d.retry.max_backoff, c.retry.max_backoff);
    set(d.retry.max_elapsed, c.retry.max_elapsed);
    set(d.rate.requests_per_second, c.rate.requests_per_second);
    set(d.rate.bytes_per_second, c.rate.bytes_per_second);
    set(d.concurrency.max_in_flight, c.concurrency.max_in_flight);
    set(d.concurrency.adaptive, c.concurrency.adaptive);
}

// --- sinks ---------------------------------------------------------------------------------------

/// Where an AWS sink's requests go: the region and endpoint (both optional: aws_config's defaults).
struct aws_target {
    std::optional<config_string> region{};   ///< the AWS region
    std::optional<config_string> endpoint{}; ///< an endpoint URL (an emulator, a VPC endpoint)
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const aws_target&, const aws_target&) = default;
};

/// sqs_dispatcher_options.
struct sqs_sink : aws_target {
    config_string queue_url{};                  ///< required
    std::optional<bool> fifo{};                 ///< default: the URL ends in ".fifo"
    bool content_based_deduplication = false;   ///< FIFO queues
    bool drop_duplicates = true;                ///< drop a message identical to a pending one
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const sqs_sink&, const sqs_sink&) = default;
};

/// kinesis_options.
struct kinesis_sink : aws_target {
    config_string stream_name{};        ///< stream_name or stream_arn is required
    config_string stream_arn{};         ///< the stream's ARN
    bool order_by_partition_key = false; ///< one record per partition key in flight
    bool cbor = false;                   ///< protocol = "cbor": requests in CBOR (data not base64)
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const kinesis_sink&, const kinesis_sink&) = default;
};

/// firehose_options.
struct firehose_sink : aws_target {
    config_string delivery_stream{}; ///< required
    bool newline = false;            ///< append '\n' to every record
    bool aggregate = false;          ///< pack records into as few Firehose records as fit
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const firehose_sink&, const firehose_sink&) = default;
};

/// dynamodb_options (the default table and its key schema).
struct dynamodb_sink : aws_target {
    config_string table{};         ///< required: the table's name or ARN
    config_string partition_key{}; ///< required: the partition key attribute
    config_string sort_key{};      ///< the sort key attribute, if the table has one
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const dynamodb_sink&, const dynamodb_sink&) = default;
};

/// cloudwatch_options.
struct cloudwatch_sink : aws_target {
    config_string namespace_name{}; ///< required (`namespace` in the file)
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const cloudwatch_sink&, const cloudwatch_sink&) = default;
};

/// logs_options.
struct cloudwatch_logs_sink : aws_target {
    config_string log_group{};  ///< required: logs_options::group
    config_string log_stream{}; ///< required: logs_options::stream
    bool create_missing = false; ///< create the group and stream when missing
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const cloudwatch_logs_sink&, const cloudwatch_logs_sink&) = default;
};

/// The object formats of the object engine.
enum class object_format { ndjson, csv, parquet };

/// "ndjson", "csv" or "parquet".
[[nodiscard]] inline std::string_view to_string(object_format f) noexcept {
    constexpr std::string_view names[] = {"ndjson", "csv", "parquet"};
    return names[static_cast<int>(f)];
}

/// What object sinks (files and S3) share: object_engine_options and layout_options.
struct object_layout {
    object_format format = object_format::ndjson;    ///< format_options' alternative
    /// The format's codec (`compression`): unset keeps the format's default; snappy is Parquet's only.
    std::optional<compression> codec{};
    std::vector<std::string> partition_by{};          ///< layout_options::partition_by
    std::optional<std::string> key_template{};        ///< layout_options::key_template
    /// object_engine_options::directory (journal and sequence numbers); empty: the service picks one.
    std::optional<config_string> journal_directory{};
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const object_layout&, const object_layout&) = default;
};

/// local_directory: objects as files.
struct file_sink : object_layout {
    config_string directory{}; ///< required: local_directory_options::root
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const file_sink&, const file_sink&) = default;
};

/// s3_bucket: objects in S3.
struct s3_sink : object_layout, aws_target {
    config_string bucket{};              ///< required
    std::optional<config_string> prefix{}; ///< prepended to every key
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const s3_sink&, const s3_sink&) = default;
};

/// Pulsar's compression types (pulsar::compression_type), without including the Pulsar layer.
enum class pulsar_compression { none, lz4, zlib, zstd, snappy };

/// pulsar client_options and producer_options.
struct pulsar_sink {
    config_string service_url{};                 ///< required: pulsar:// or pulsar+ssl://
    config_string topic{};                       ///< required
    std::optional<config_string> auth_token{};   ///< connection_options::auth_token (a secret)
    std::optional<bool> batching{};              ///< producer_options::batching
    pulsar_compression compression_type = pulsar_compression::none; ///< producer_options::compression (`compression`)
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const pulsar_sink&, const pulsar_sink&) = default;
};

/// opensearch_options (sinks/opensearch.hpp); named *_config because sluice::opensearch_sink is the
/// sink itself. Unset limits keep the sink's defaults.
struct opensearch_sink_config {
    config_string endpoint{};                   ///< required: http(s)://host[:port][/path]
    std::string index = "logs";                 ///< bulk_format::index (a template, checked when read)
    bool create = false;                        ///< bulk_format::action: `action = "create"` (default "index")
    std::string id_field{};                     ///< bulk_format::id_field
    std::string timestamp_field{};              ///< bulk_format::timestamp_field
    std::optional<config_string> username{};    ///< basic authentication
    std::optional<config_string> password{};    ///< basic authentication (a secret)
    std::optional<config_string> bearer_token{}; ///< bearer authentication (a secret)
    bool gzip = false;                          ///< gzip request bodies
    std::optional<std::size_t> max_actions{};   ///< opensearch_options::max_actions
    std::optional<std::size_t> max_request_bytes{}; ///< opensearch_options::max_request_bytes
    std::optional<std::size_t> max_record_bytes{};  ///< opensearch_options::max_record_bytes
    std::optional<std::chrono::milliseconds> timeout{}; ///< opensearch_options::timeout
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const opensearch_sink_config&, const opensearch_sink_config&) = default;
};

/// http_framing without including the HTTP sink (which needs libcurl).
enum class http_body_framing { ndjson, json_array, single };

/// http_sink_options (sinks/http_sink.hpp); named *_config because sluice::http_sink is the sink.
struct http_sink_config {
    config_string url{};                        ///< required: http(s)://...; "{key}" is the batch key
    std::string method = "POST";                ///< POST or PUT
    /// [sinks.NAME.headers]: name = "value", values interpolated (they may be secrets), in file order.
    std::vector<std::pair<std::string, config_string>> headers{};
    http_body_framing framing = http_body_framing::ndjson; ///< http_sink_options::framing
    compression body_compression = compression::none;     ///< `compression`: none, gzip or zstd
    std::optional<std::size_t> max_records{};       ///< http_sink_options::max_records
    std::optional<std::size_t> max_request_bytes{}; ///< http_sink_options::max_request_bytes
    std::optional<std::size_t> max_record_bytes{};  ///< http_sink_options::max_record_bytes
    std::optional<std::chrono::milliseconds> timeout{}; ///< http_sink_options::timeout
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const http_sink_config&, const http_sink_config&) = default;
};

/// The sinks the library has, one alternative per type.
using sink_options = std::variant<sqs_sink, kinesis_sink, firehose_sink, dynamodb_sink, cloudwatch_sink,
                                  cloudwatch_logs_sink, file_sink, s3_sink, pulsar_sink, opensearch_sink_config,
                                  http_sink_config>;

/// The `type` names of sink_options' alternatives, in their order.
inline constexpr std::string_view sink_type_names[] = {"sqs",  "kinesis", "firehose", "dynamodb", "cloudwatch",
                                                       "cloudwatch_logs", "file", "s3", "pulsar", "opensearch",
                                                       "http"};

/// A named sink: its own options and its delivery settings.
struct sink_config {
    std::string name{};         ///< its name (the TOML table's key)
    sink_options options{};     ///< what and where
    delivery_config delivery{}; ///< batch, buffer, retry, rate, concurrency, dead letter
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const sink_config&, const sink_config&) = default;
};

/// The sink's `type` name.
[[nodiscard]] inline std::string_view type_name(const sink_config& s) noexcept {
    return sink_type_names[s.options.index()];
}

/// A whole sluiced configuration.
struct pipeline_config {
    std::vector<source_config> sources{}; ///< [sources.NAME], in name order (toml++ keeps keys sorted)
    std::vector<queue_config> queues{};   ///< [queues.NAME], in name order
    std::vector<sink_config> sinks{};     ///< [sinks.NAME], in name order

    /// The sink named `name`, or null.
    [[nodiscard]] const sink_config* find_sink(std::string_view name) const noexcept {
        for (const auto& s : sinks)
            if (s.name == name) return &s;
        return nullptr;
    }
    /// The queue named `name`, or null.
    [[nodiscard]] const queue_config* find_queue(std::string_view name) const noexcept {
        for (const auto& q : queues)
            if (q.name == name) return &q;
        return nullptr;
    }
    /// Member-wise (a reload keeps what compares equal running).
    friend bool operator==(const pipeline_config&, const pipeline_config&) = default;
};

} // namespace sluice::config
