#pragma once

// make_aws_sink and make_object_sink: how each sink type's options map onto the library's option
// structs (sinks.hpp declares them; this file is its second half).

#include "sinks.hpp"

namespace sluiced::detail {

/// A sink of one of the generic batch services: Service made from `o`, records made by `convert`.
template <class Service, class Options, class Convert>
std::unique_ptr<sink_runner> service_sink(const sluice::config::sink_config& s, const sluice::config::aws_target& t,
                                          std::string signing_name, const sink_context& ctx, Options o, Convert convert) {
    using dispatcher = sluice::aws::batch_dispatcher<Service>;
    auto common = common_options(s, Service(o).default_delivery(), ctx);
    auto* loop = &ctx.loop;
    return batch<dispatcher>(s, t, std::move(signing_name), ctx,
        [loop, o, common](sluice::aws::service_client& c) { return std::make_unique<dispatcher>(*loop, c, Service(o), common); },
        std::move(convert));
}

inline std::unique_ptr<sink_runner> make_aws_sink(const sluice::config::sink_config& s, const sink_context& ctx) {
    using namespace sluice::config;
    namespace aws = sluice::aws;
    auto* loop = &ctx.loop;
    if (const auto* q = std::get_if<sqs_sink>(&s.options)) {
        aws::sqs_dispatcher_options o;
        o.queue_url = q->queue_url.value;
        o.fifo = q->fifo;
        o.content_based_deduplication = q->content_based_deduplication;
        o.drop_duplicates = q->drop_duplicates;
        o.delivery = delivery_for(s, aws::sqs_dispatcher_options::default_delivery(), ctx);
        o.log = &ctx.log;
        auto runner = batch<aws::sqs_dispatcher>(s, *q, "sqs", ctx,
            [loop, o](aws::service_client& c) { return std::make_unique<aws::sqs_dispatcher>(*loop, c, o); },
            [group = s.name](std::string& json) {
                aws::sqs_message m;
                m.body = std::move(json);
                m.group_id = group; // FIFO queues need one; on standard queues it enables fair queueing
                return m;
            });
        return runner;
    }
    if (const auto* k = std::get_if<kinesis_sink>(&s.options)) {
        aws::kinesis_options o;
        o.stream_name = k->stream_name.value;
        o.stream_arn = k->stream_arn.value;
        o.order_by_partition_key = k->order_by_partition_key;
        o.protocol = k->cbor ? aws::wire_protocol::cbor_1_1 : aws::wire_protocol::json_1_1;
        return service_sink<aws::kinesis_service>(s, *k, "kinesis", ctx, o,
            [](std::string& json) { return aws::kinesis_record{std::move(json), {}, {}}; });
    }
    if (const auto* f = std::get_if<firehose_sink>(&s.options)) {
        aws::firehose_options o;
        o.delivery_stream = f->delivery_stream.value;
        o.newline = f->newline;
        o.aggregate = f->aggregate;
        return service_sink<aws::firehose_service>(s, *f, "firehose", ctx, o,
            [](std::string& json) { return aws::firehose_record{std::move(json)}; });
    }
    if (const auto* d = std::get_if<dynamodb_sink>(&s.options)) {
        aws::dynamodb_options o;
        o.table = {d->table.value, {d->partition_key.value, aws::key_type::any, d->sort_key.value, aws::key_type::any}};
        return service_sink<aws::dynamodb_service>(s, *d, "dynamodb", ctx, o,
            [](std::string& json) { return aws::dynamodb_write::put(std::move(json)); });
    }
    if (const auto* m = std::get_if<cloudwatch_sink>(&s.options)) {
        aws::cloudwatch_options o;
        o.namespace_name = m->namespace_name.value;
        return service_sink<aws::cloudwatch_service>(s, *m, "monitoring", ctx, o,
            [](std::string& json) { return metric_datum_from_json(json); });
    }
    if (const auto* l = std::get_if<cloudwatch_logs_sink>(&s.options)) {
        aws::logs_options o;
        o.group = l->log_group.value;
        o.stream = l->log_stream.value;
        o.create_missing = l->create_missing;
        return service_sink<aws::logs_service>(s, *l, "logs", ctx, o,
            [](std::string& json) {
                return aws::log_event{std::move(json), std::chrono::system_clock::now(), {}, {}};
            });
    }
    throw std::invalid_argument("sink '" + s.name + "': type '" + std::string(sluice::config::type_name(s)) +
                                "' is not supported by this sluiced");
}

// The configuration names the HTTP sink's framings without including it; the orders must agree.
static_assert(static_cast<int>(sluice::http_framing::ndjson) == static_cast<int>(sluice::config::http_body_framing::ndjson) &&
              static_cast<int>(sluice::http_framing::json_array) == static_cast<int>(sluice::config::http_body_framing::json_array) &&
              static_cast<int>(sluice::http_framing::single) == static_cast<int>(sluice::config::http_body_framing::single));

/// OpenSearch _bulk or a generic HTTP endpoint, each on the delivery engine.
inline std::unique_ptr<sink_runner> make_http_sink(const sluice::config::sink_config& s, const sink_context& ctx) {
    using namespace sluice::config;
    const auto d = delivery_for(s, sluice::delivery_options{}, ctx);
    const auto set = [](auto& field, const auto& value) {
        if (value) field = *value;
    };
    if (const auto* c = std::get_if<opensearch_sink_config>(&s.options)) {
        sluice::opensearch_options o;
        o.endpoint = c->endpoint.value;
        o.format.index = c->index;
        o.format.action = c->create ? sluice::bulk_action::create : sluice::bulk_action::index;
        o.format.id_field = c->id_field;
        o.format.timestamp_field = c->timestamp_field;
        if (c->username) o.username = c->username->value;
        if (c->password) o.password = c->password->value;
        if (c->bearer_token) o.bearer_token = c->bearer_token->value;
        o.gzip = c->gzip;
        set(o.max_actions, c->max_actions);
        set(o.max_request_bytes, c->max_request_bytes);
        set(o.max_record_bytes, c->max_record_bytes);
        set(o.timeout, c->timeout);
        return std::make_unique<engine_runner<sluice::opensearch_sink>>(s.name, "opensearch", ctx.loop, ctx.http, std::move(o), d);
    }
    const auto& c = std::get<http_sink_config>(s.options);
    sluice::http_sink_options o;
    o.url = c.url.value;
    o.method = c.method;
    for (const auto& [name, value] : c.headers) o.headers.push_back({name, value.value});
    o.framing = static_cast<sluice::http_framing>(c.framing);
    o.body_compression = c.body_compression;
    set(o.max_records, c.max_records);
    set(o.max_request_bytes, c.max_request_bytes);
    set(o.max_record_bytes, c.max_record_bytes);
    set(o.timeout, c.timeout);
    return std::make_unique<engine_runner<sluice::http_sink>>(s.name, "http", ctx.loop, ctx.http, std::move(o), d);
}

/// The object engine's format options for a layout.
inline sluice::objects::format_options format_of(const sluice::config::object_layout& l) {
    using sluice::config::object_format;
    switch (l.format) {
    case object_format::csv: {
        sluice::formats::csv_options o;
        if (l.codec) o.codec = *l.codec;
        return o;
    }
    case object_format::parquet: {
        sluice::formats::parquet_options o;
        if (l.codec) o.codec = *l.codec;
        return o;
    }
    case object_format::ndjson: break;
    }
    sluice::formats::ndjson_options o;
    if (l.codec) o.codec = *l.codec;
    return o;
}

/// The engine options of an object sink: format, layout, close rules from [batch], its own folder.
inline sluice::objects::object_engine_options engine_options(const sluice::config::sink_config& s,
                                                             const sluice::config::object_layout& l,
                                                             const sink_context& ctx) {
    sluice::objects::object_engine_options o;
    o.name = s.name;
    o.format = format_of(l);
    o.layout.partition_by = l.partition_by;
    if (l.key_template) o.layout.key_template = *l.key_template;
    const auto& b = s.delivery.batch;
    if (b.max_events) o.close.max_records = *b.max_events;
    if (b.max_bytes) o.close.max_bytes = *b.max_bytes;
    if (b.max_age) o.close.max_age = *b.max_age;
    o.directory = l.journal_directory ? std::filesystem::path(l.journal_directory->value)
                                      : ctx.state_directory / "objects" / s.name;
    o.metrics = &ctx.metrics;
    o.log = &ctx.log;
    return o;
}

inline std::unique_ptr<sink_runner> make_object_sink(const sluice::config::sink_config& s, const sink_context& ctx) {
    using namespace sluice::config;
    if (const auto* f = std::get_if<file_sink>(&s.options)) {
        sluice::objects::local_directory_options d;
        d.root = f->directory.value;
        d.name = s.name;
        auto destination = std::make_unique<sluice::objects::local_directory>(ctx.loop, std::move(d));
        return std::make_unique<object_runner>(s.name, "file", ctx.loop, nullptr, std::move(destination),
                                               engine_options(s, *f, ctx));
    }
    const auto& b = std::get<s3_sink>(s.options);
    auto setup = aws_setup(s, b, "s3", ctx);
    sluice::aws::s3_client_options c;
    c.bucket = b.bucket.value;
    c.region = setup.options.region;
    c.endpoint = setup.options.endpoint;
    c.path_style = b.endpoint.has_value(); // emulators and VPC endpoints: no bucket host names
    c.log = &ctx.log;
    auto client = std::make_unique<sluice::aws::s3_client>(ctx.http, std::move(setup.credentials), std::move(c));
    sluice::objects::s3_bucket_options o;
    o.state_directory = ctx.state_directory / "uploads" / s.name;
    auto destination = std::make_unique<sluice::objects::s3_bucket>(ctx.loop, *client, std::move(o));
    auto engine = engine_options(s, b, ctx);
    if (b.prefix) engine.layout.key_template = b.prefix->value + engine.layout.key_template;
    return std::make_unique<object_runner>(s.name, "s3", ctx.loop, std::move(client), std::move(destination),
                                           std::move(engine));
}

} // namespace sluiced::detail
