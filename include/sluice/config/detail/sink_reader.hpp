#pragma once

// Reads one [sinks.NAME] table: its type's options (named after the library's option structs), its
// delivery settings ([sinks.NAME.batch], .buffer, .retry, .rate, .concurrency) and its dead-letter sink; and
// checks that dead letters do not go round in a circle.

#include <optional>
#include <stdexcept>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <toml++/toml.h>

#include <sluice/config/detail/toml_reader.hpp>
#include <sluice/config/pipeline_config.hpp>
#include <sluice/sinks/detail/index_template.hpp>

namespace sluice::config::detail {

/// region and endpoint, shared by the AWS sinks.
inline void read_aws(table_reader& r, aws_target& t) {
    t.region = r.string("region");
    t.endpoint = r.string("endpoint");
}

inline void read_options(table_reader& r, sqs_sink& s) {
    read_aws(r, s);
    s.queue_url = r.required_string("queue_url", "the queue's URL");
    if (!s.queue_url.empty() && !s.queue_url.value.starts_with("https://") && !s.queue_url.value.starts_with("http://"))
        r.context().error(*r.table().get("queue_url"), "'queue_url' of " + r.what() + " must be an http:// or https:// URL");
    s.fifo = r.boolean("fifo");
    s.content_based_deduplication = r.boolean("content_based_deduplication").value_or(false);
    s.drop_duplicates = r.boolean("drop_duplicates").value_or(true);
}

inline void read_options(table_reader& r, kinesis_sink& s) {
    read_aws(r, s);
    if (auto n = r.string("stream_name")) s.stream_name = std::move(*n);
    if (auto a = r.string("stream_arn")) s.stream_arn = std::move(*a);
    if (!r.table().contains("stream_name") && !r.table().contains("stream_arn"))
        r.missing("stream_name", "the stream's name, or 'stream_arn'");
    s.order_by_partition_key = r.boolean("order_by_partition_key").value_or(false);
    static constexpr choice<bool> protocols[] = {{"json", false}, {"cbor", true}};
    s.cbor = r.one_of<bool>("protocol", protocols).value_or(false);
}

inline void read_options(table_reader& r, firehose_sink& s) {
    read_aws(r, s);
    s.delivery_stream = r.required_string("delivery_stream", "the delivery stream's name");
    s.newline = r.boolean("newline").value_or(false);
    s.aggregate = r.boolean("aggregate").value_or(false);
}

inline void read_options(table_reader& r, dynamodb_sink& s) {
    read_aws(r, s);
    s.table = r.required_string("table", "the table's name or ARN");
    s.partition_key = r.required_string("partition_key", "the table's partition key attribute");
    if (auto k = r.string("sort_key")) s.sort_key = std::move(*k);
}

inline void read_options(table_reader& r, cloudwatch_sink& s) {
    read_aws(r, s);
    s.namespace_name = r.required_string("namespace", "the metrics' namespace");
    if (s.namespace_name.value.starts_with("AWS/"))
        r.context().error(*r.table().get("namespace"), "'namespace' of " + r.what() + " must not start with \"AWS/\" (reserved by AWS)");
}

inline void read_options(table_reader& r, cloudwatch_logs_sink& s) {
    read_aws(r, s);
    s.log_group = r.required_string("log_group", "the log group");
    s.log_stream = r.required_string("log_stream", "the log stream");
    s.create_missing = r.boolean("create_missing").value_or(false);
}

/// format, compression, partition_by, key_template and journal_directory of an object sink.
inline void read_layout(table_reader& r, object_layout& o) {
    static constexpr choice<object_format> formats[] = {
        {"ndjson", object_format::ndjson}, {"csv", object_format::csv}, {"parquet", object_format::parquet}};
    static constexpr choice<compression> codecs[] = {{"none", compression::none}, {"gzip", compression::gzip},
                                                     {"zstd", compression::zstd}, {"lz4", compression::lz4},
                                                     {"snappy", compression::snappy}};
    o.format = r.one_of<object_format>("format", formats).value_or(object_format::ndjson);
    o.codec = r.one_of<compression>("compression", codecs);
    if (o.codec == compression::snappy && o.format != object_format::parquet)
        r.context().error(*r.table().get("compression"), "'compression' of " + r.what() +
                                                             ": snappy compresses Parquet pages only, not " +
                                                             std::string(to_string(o.format)) + " objects");
    else if (o.codec && !compression_available(*o.codec))
        r.context().error(*r.table().get("compression"), "'compression' of " + r.what() + ": " +
                                                             std::string(to_string(*o.codec)) + " is not compiled into this sluice");
    o.partition_by = r.names("partition_by").value_or(std::vector<std::string>{});
    o.key_template = r.name("key_template");
    o.journal_directory = r.string("journal_directory");
}

inline void read_options(table_reader& r, file_sink& s) {
    s.directory = r.required_string("directory", "the folder objects are written to");
    read_layout(r, s);
}

inline void read_options(table_reader& r, s3_sink& s) {
    read_aws(r, s);
    s.bucket = r.required_string("bucket", "the bucket's name");
    s.prefix = r.string("prefix");
    read_layout(r, s);
}

inline void read_options(table_reader& r, pulsar_sink& s) {
    static constexpr choice<pulsar_compression> codecs[] = {
        {"none", pulsar_compression::none}, {"lz4", pulsar_compression::lz4}, {"zlib", pulsar_compression::zlib},
        {"zstd", pulsar_compression::zstd}, {"snappy", pulsar_compression::snappy}};
    s.service_url = r.required_string("service_url", "pulsar://host:port or pulsar+ssl://host:port");
    if (!s.service_url.empty() && !s.service_url.value.starts_with("pulsar://") &&
        !s.service_url.value.starts_with("pulsar+ssl://"))
        r.context().error(*r.table().get("service_url"), "'service_url' of " + r.what() +
                                                             " must start with pulsar:// or pulsar+ssl://");
    s.topic = r.required_string("topic", "the topic to produce to");
    s.auth_token = r.string("auth_token");
    s.batching = r.boolean("batching");
    s.compression_type = r.one_of<pulsar_compression>("compression", codecs).value_or(pulsar_compression::none);
}

/// An http(s):// URL at `key` (required), reported where it is written otherwise.
inline config_string read_http_url(table_reader& r, std::string_view key, std::string_view expected) {
    config_string url = r.required_string(key, expected);
    if (!url.empty() && !url.value.starts_with("https://") && !url.value.starts_with("http://"))
        r.context().error(*r.table().get(key), "'" + std::string(key) + "' of " + r.what() + " must be an http:// or https:// URL");
    return url;
}

/// max_*_bytes and timeout shared by the HTTP sinks.
template <class Sink>
inline void read_http_limits(table_reader& r, Sink& s) {
    if (auto n = r.size("max_request_bytes")) s.max_request_bytes = static_cast<std::size_t>(*n);
    if (auto n = r.size("max_record_bytes")) s.max_record_bytes = static_cast<std::size_t>(*n);
    s.timeout = r.duration("timeout");
}

inline void read_options(table_reader& r, opensearch_sink_config& s) {
    static constexpr choice<bool> actions[] = {{"index", false}, {"create", true}};
    s.endpoint = read_http_url(r, "endpoint", "the cluster's URL, http(s)://host:9200");
    if (auto index = r.name("index")) {
        try {
            sluice::detail::index_template check(*index);
            s.index = std::move(*index);
        } catch (const std::invalid_argument& e) {
            std::string why = e.what();
            if (why.starts_with("sluice: ")) why.erase(0, 8);
            r.context().error(*r.table().get("index"), "'index' of " + r.what() + ": " + why);
        }
    }
    s.create = r.one_of<bool>("action", actions).value_or(false);
    s.id_field = r.name("id_field").value_or("");
    s.timestamp_field = r.name("timestamp_field").value_or("");
    s.username = r.string("username");
    s.password = r.string("password");
    s.bearer_token = r.string("bearer_token");
    if (s.bearer_token && (s.username || s.password))
        r.context().error(*r.table().get("bearer_token"), r.what() + " takes username and password, or bearer_token, not both");
    else if (s.username.has_value() != s.password.has_value())
        r.missing(s.username ? "password" : "username", "basic authentication needs both");
    s.gzip = r.boolean("gzip").value_or(false);
    s.max_actions = r.count("max_actions", 1);
    read_http_limits(r, s);
}

/// [sinks.NAME.headers] of an http sink: every value a string (interpolated: it may be a secret).
inline void read_headers(table_reader& r, http_sink_config& s) {
    const toml::table* t = r.subtable("headers");
    if (!t) return;
    for (auto&& [key, node] : *t) {
        const std::string name(key.str());
        const bool token = !name.empty() && name.find_first_of(" \t\r\n:\"(),/;<=>?@[\\]{}") == std::string::npos;
        if (!token) {
            r.context().error(key.source().begin, "header name '" + name.substr(0, 40) + "' in [headers] of " + r.what() + " is not an HTTP token");
            continue;
        }
        if (!node.is_string()) {
            r.context().error(node, "header '" + name + "' in [headers] of " + r.what() + " must be a string");
            continue;
        }
        auto value = r.context().interpolate(node.as_string()->get(), node);
        if (!value) continue;
        if (value->value.find_first_of("\r\n") != std::string::npos) {
            r.context().error(node, "header '" + name + "' in [headers] of " + r.what() + " has a line break");
            continue;
        }
        s.headers.emplace_back(name, std::move(*value));
    }
}

inline void read_options(table_reader& r, http_sink_config& s) {
    static constexpr choice<std::string_view> methods[] = {{"POST", "POST"}, {"PUT", "PUT"}};
    static constexpr choice<http_body_framing> framings[] = {{"ndjson", http_body_framing::ndjson},
                                                             {"json_array", http_body_framing::json_array},
                                                             {"single", http_body_framing::single}};
    static constexpr choice<compression> codecs[] = {
        {"none", compression::none}, {"gzip", compression::gzip}, {"zstd", compression::zstd}};
    s.url = read_http_url(r, "url", "the endpoint's URL; {key} stands for the batch key");
    s.method = std::string(r.one_of<std::string_view>("method", methods).value_or("POST"));
    s.framing = r.one_of<http_body_framing>("framing", framings).value_or(http_body_framing::ndjson);
    s.body_compression = r.one_of<compression>("compression", codecs).value_or(compression::none);
    if (!compression_available(s.body_compression))
        r.context().error(*r.table().get("compression"), "'compression' of " + r.what() + ": " +
                                                             std::string(to_string(s.body_compression)) + " is not compiled into this sluice");
    read_headers(r, s);
    s.max_records = r.count("max_records", 1);
    read_http_limits(r, s);
}

/// [sinks.NAME.batch].
inline void read_batch(table_reader& r, batch_config& b) {
    b.max_events = r.count("max_events", 1);
    if (auto s = r.size("max_bytes")) {
        if (*s == 0) r.context().error(*r.table().get("max_bytes"), "'max_bytes' of " + r.what() + " must be above 0");
        else b.max_bytes = static_cast<std::size_t>(*s);
    }
    b.max_age = r.duration("max_age");
}

/// [sinks.NAME.buffer].
inline void read_buffer(table_reader& r, buffer_config& b) {
    static constexpr choice<buffer_type> types[] = {{"memory", buffer_type::memory}, {"disk", buffer_type::disk}};
    static constexpr choice<when_full> policies[] = {
        {"block", when_full::block}, {"drop_newest", when_full::drop_newest}, {"overflow", when_full::overflow}};
    b.type = r.one_of<buffer_type>("type", types);
    b.max_events = r.count("max_events", 1);
    if (auto s = r.size("max_bytes")) b.max_bytes = static_cast<std::size_t>(*s);
    b.policy = r.one_of<when_full>("policy", policies);
    b.max_block = r.duration("max_block");
    b.disk_directory = r.string("disk_directory");
    b.disk_max_bytes = r.size("disk_max_bytes");
    const bool needs_disk = b.type == buffer_type::disk || b.policy == when_full::overflow;
    if (needs_disk && !r.table().contains("disk_directory"))
        r.missing("disk_directory", b.type == buffer_type::disk ? "a disk buffer keeps its records there"
                                                                : "policy \"overflow\" spills to a disk buffer there");
}

/// [sinks.NAME.retry].
inline void read_retry(table_reader& r, retry_config& c) {
    if (auto n = r.integer("max_attempts", 1, 1000)) c.max_attempts = static_cast<unsigned>(*n);
    c.initial_backoff = r.duration("initial_backoff");
    c.max_backoff = r.duration("max_backoff");
    c.max_elapsed = r.duration("max_elapsed");
    if (c.initial_backoff && c.max_backoff && *c.initial_backoff > *c.max_backoff)
        r.context().error(*r.table().get("max_backoff"), "'max_backoff' of " + r.what() + " is below its initial_backoff");
}

/// [sinks.NAME.rate].
inline void read_rate(table_reader& r, rate_config& c) {
    c.requests_per_second = r.number("requests_per_second");
    c.bytes_per_second = r.number("bytes_per_second");
}

/// [sinks.NAME.concurrency].
inline void read_concurrency(table_reader& r, concurrency_config& c) {
    c.max_in_flight = r.count("max_in_flight", 1);
    c.adaptive = r.boolean("adaptive");
}

/// The delivery sub-tables of a sink; object sinks (a journal instead of a buffer, no request
/// engine) take batch (their close rules), retry and dead_letter only.
inline void read_delivery(table_reader& r, delivery_config& d, bool object_sink) {
    const auto section = [&](std::string_view key, auto&& read) {
        if (const toml::table* t = r.subtable(key)) {
            if (object_sink && key != "batch" && key != "retry") {
                r.context().error(*t, "[" + std::string(key) + "] does not apply to " + r.what() +
                                          ": object sinks keep records in their journal (journal_directory)");
                return;
            }
            table_reader sub(*t, "[" + std::string(key) + "] of " + r.what(), r.context());
            read(sub);
            sub.finish();
        }
    };
    section("batch", [&](table_reader& s) { read_batch(s, d.batch); });
    section("buffer", [&](table_reader& s) { read_buffer(s, d.buffer); });
    section("retry", [&](table_reader& s) { read_retry(s, d.retry); });
    section("rate", [&](table_reader& s) { read_rate(s, d.rate); });
    section("concurrency", [&](table_reader& s) { read_concurrency(s, d.concurrency); });
}

/// The sink_options alternative whose type name is `type`, or nullopt.
[[nodiscard]] inline std::optional<sink_options> sink_of_type(std::string_view type) {
    sink_options out;
    bool found = false;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((type == sink_type_names[I] ? (out.emplace<I>(), found = true) : false), ...);
    }(std::make_index_sequence<std::variant_size_v<sink_options>>{});
    if (!found) return std::nullopt;
    return out;
}

/// One [sinks.NAME] table; `sinks` are every sink's name (for the dead letter).
inline sink_config read_sink(std::string_view name, const toml::table& t, std::span<const std::string_view> sinks,
                             reader_context& ctx) {
    table_reader r(t, "sink '" + std::string(name) + "'", ctx);
    sink_config s;
    s.name = name;
    const auto type = r.name("type");
    std::optional<sink_options> options = type ? sink_of_type(*type) : std::nullopt;
    if (!t.contains("type")) {
        r.missing("type", "the kind of sink");
    } else if (type && !options) {
        std::string expected;
        for (auto n : sink_type_names) expected += (expected.empty() ? "\"" : ", \"") + std::string(n) + '"';
        const std::string_view guess = closest(*type, sink_type_names);
        ctx.error(*t.get("type"), "'type' of " + r.what() + " must be one of " + expected + ", not \"" +
                                      type->substr(0, 40) + '"' +
                                      (guess.empty() ? std::string() : "; did you mean \"" + std::string(guess) + "\"?"));
    }
    if (!options) {
        r.finish(); // only the type is known: the rest cannot be judged, so say nothing about it
        return s;
    }
    s.options = std::move(*options);
    std::visit([&](auto& o) { read_options(r, o); }, s.options);
    const bool object_sink = std::holds_alternative<file_sink>(s.options) || std::holds_alternative<s3_sink>(s.options);
    read_delivery(r, s.delivery, object_sink);
    if (auto dl = r.name("dead_letter")) {
        const toml::node& node = *t.get("dead_letter");
        if (*dl == name) ctx.error(node, r.what() + " cannot be its own dead-letter sink");
        else if (check_reference(*dl, sinks, "sink", node, r.what(), ctx)) s.delivery.dead_letter = *dl;
    }
    r.finish();
    return s;
}

/// Reports dead-letter chains that come back to where they started (records would go round forever).
inline void check_dead_letter_cycles(const pipeline_config& c, const toml::table* sinks, reader_context& ctx) {
    for (const auto& start : c.sinks) {
        const sink_config* at = &start;
        for (std::size_t steps = 0; at && at->delivery.dead_letter && steps <= c.sinks.size(); ++steps) {
            at = c.find_sink(*at->delivery.dead_letter);
            if (at == &start) {
                const toml::table* own = sinks ? sinks->get_as<toml::table>(start.name) : nullptr;
                const toml::node* node = own ? own->get("dead_letter") : nullptr;
                if (node) ctx.error(*node, "the dead letters of sink '" + start.name + "' come back to it (a cycle)");
                break;
            }
        }
    }
}

} // namespace sluice::config::detail
