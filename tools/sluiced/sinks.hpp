#pragma once

// The sinks sluiced runs, made from a configuration's sink_config: each one the library's own type
// (an AWS batch dispatcher, an object engine on a directory or an S3 bucket, a delivery pipeline in
// front of a Pulsar producer) behind a sink_runner. The file only maps options; the library does the
// work.

#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include <sluice/aws/cloudwatch.hpp>
#include <sluice/aws/cloudwatch_logs.hpp>
#include <sluice/aws/dynamodb.hpp>
#include <sluice/aws/firehose.hpp>
#include <sluice/aws/kinesis.hpp>
#include <sluice/aws/s3.hpp>
#include <sluice/aws/sqs.hpp>
#include <sluice/config/pipeline_config.hpp>
#include <sluice/objects/engine.hpp>
#include <sluice/objects/local_directory.hpp>
#include <sluice/objects/s3_bucket.hpp>
#include <sluice/pulsar/delivery_sink.hpp>
#include <sluice/pulsar/producer.hpp>
#include <sluice/sinks/http_sink.hpp>
#include <sluice/sinks/opensearch.hpp>

#include "metric_record.hpp"
#include "sink_runner.hpp"

namespace sluiced {

/// What every sink shares: the loop, one HTTP client, the metrics registry, the log and the folder
/// for journals and upload states.
struct sink_context {
    sluice::io_loop& loop;
    sluice::http::client& http;
    sluice::metrics_registry& metrics;
    const sluice::logger& log;
    std::filesystem::path state_directory;
};

namespace detail {

/// An AWS batch API: its service client, its dispatcher, and how a JSON record becomes its record.
template <class Dispatcher>
class batch_runner final : public sink_runner {
public:
    using record_type = typename Dispatcher::record_type;
    using convert_fn = std::function<record_type(std::string&)>;
    using make_fn = std::function<std::unique_ptr<Dispatcher>(sluice::aws::service_client&)>;

    batch_runner(std::string name, std::string type, sluice::aws::service_setup setup, sluice::http::client& http,
                 const make_fn& make, convert_fn convert)
        : sink_runner(std::move(name), std::move(type)),
          client_(http, std::move(setup.credentials), std::move(setup.options)), dispatcher_(make(client_)),
          convert_(std::move(convert)) {}

    sluice::task<void> start() override { co_await dispatcher_->start(); }
    sluice::task<void> flush() override { (void)co_await dispatcher_->flush(); }
    sluice::task<void> stop(std::chrono::milliseconds grace) override {
        (void)co_await dispatcher_->stop(grace);
        (void)co_await dispatcher_->flush(); // collects what stop left; their senders already know
    }

protected:
    sluice::task<void> deliver_one(std::string& json) override {
        record_type r = convert_(json);
        (void)co_await dispatcher_->send(std::move(r));
    }

private:
    sluice::aws::service_client client_;
    std::unique_ptr<Dispatcher> dispatcher_;
    convert_fn convert_;
};

/// Files or S3 objects: an object engine on its destination. A record counts as taken once it is in
/// the engine's journal (it survives a crash and is written with its object).
class object_runner final : public sink_runner {
public:
    object_runner(std::string name, std::string type, sluice::io_loop& loop, std::unique_ptr<sluice::aws::s3_client> s3,
                  std::unique_ptr<sluice::objects::object_destination> destination, sluice::objects::object_engine_options o)
        : sink_runner(std::move(name), std::move(type)), s3_(std::move(s3)), destination_(std::move(destination)),
          engine_(loop, *destination_, std::move(o)) {}

    sluice::task<void> start() override { co_await engine_.start(); }
    sluice::task<void> flush() override { co_await engine_.flush(); }
    sluice::task<void> stop(std::chrono::milliseconds grace) override { (void)co_await engine_.stop(grace); }

protected:
    sluice::task<void> deliver_one(std::string& json) override {
        (void)co_await engine_.deliver(std::move(json), sluice::objects::acknowledge::accepted);
    }

private:
    std::unique_ptr<sluice::aws::s3_client> s3_;
    std::unique_ptr<sluice::objects::object_destination> destination_;
    sluice::objects::object_engine engine_;
};

/// A sink adapter of the library (OpenSearch _bulk, generic HTTP) behind the delivery engine.
template <class Sink>
class engine_runner final : public sink_runner {
public:
    template <class Options>
    engine_runner(std::string name, std::string type, sluice::io_loop& loop, sluice::http::client& http, Options o,
                  const sluice::delivery_options& d)
        : sink_runner(std::move(name), std::move(type)), sink_(http, std::move(o)), pipeline_(loop, sink_, d) {}

    sluice::task<void> start() override { co_await pipeline_.start(); }
    sluice::task<void> flush() override { co_await pipeline_.flush(); }
    sluice::task<void> stop(std::chrono::milliseconds grace) override { (void)co_await pipeline_.stop(grace); }

protected:
    sluice::task<void> deliver_one(std::string& json) override { (void)co_await pipeline_.deliver(std::move(json)); }

private:
    Sink sink_;
    sluice::delivery_pipeline<Sink> pipeline_;
};

/// Pulsar: a dynamic producer behind the delivery engine.
class pulsar_runner final : public sink_runner {
public:
    pulsar_runner(std::string name, sluice::io_loop& loop, sluice::pulsar::client_options c,
                  sluice::pulsar::dynamic_producer_options p, const sluice::delivery_options& d)
        : sink_runner(std::move(name), "pulsar"), client_(loop, std::move(c)), producer_(client_, std::move(p)),
          sink_(producer_), pipeline_(loop, sink_, d) {}

    sluice::task<void> start() override {
        producer_.start();
        co_await pipeline_.start();
    }
    sluice::task<void> flush() override { co_await pipeline_.flush(); }
    sluice::task<void> stop(std::chrono::milliseconds grace) override {
        (void)co_await pipeline_.stop(grace);
        co_await producer_.close();
    }

protected:
    sluice::task<void> deliver_one(std::string& json) override { (void)co_await pipeline_.deliver(std::move(json)); }

private:
    sluice::pulsar::client client_;
    sluice::pulsar::dynamic_producer producer_;
    sluice::pulsar::delivery_sink sink_;
    sluice::delivery_pipeline<sluice::pulsar::delivery_sink> pipeline_;
};

/// The engine settings of a sink: the service's defaults, what the file sets, its name and metrics.
inline sluice::delivery_options delivery_for(const sluice::config::sink_config& s, sluice::delivery_options d,
                                            const sink_context& ctx) {
    sluice::config::apply_delivery(s.delivery, d);
    d.name = s.name;
    d.metrics = &ctx.metrics;
    d.log = &ctx.log;
    return d;
}

/// Region, endpoint and credentials of an AWS sink; throws std::invalid_argument saying what is missing.
inline sluice::aws::service_setup aws_setup(const sluice::config::sink_config& s, const sluice::config::aws_target& t,
                                            std::string service, const sink_context& ctx) {
    const std::string region = t.region ? t.region->value : std::string();
    const std::string endpoint = t.endpoint ? t.endpoint->value : std::string();
    auto setup = sluice::aws::configure_service(ctx.loop, ctx.http, std::move(service), region, endpoint);
    if (setup.is_error()) throw std::invalid_argument("sink '" + s.name + "': " + setup.get_error().what());
    setup.value().options.log = &ctx.log;
    return std::move(setup.value());
}

/// A batch_runner for dispatcher D made by `make` from the service client.
template <class D, class Make, class Convert>
std::unique_ptr<sink_runner> batch(const sluice::config::sink_config& s, const sluice::config::aws_target& t,
                                   std::string service, const sink_context& ctx, Make make, Convert convert) {
    auto setup = aws_setup(s, t, std::move(service), ctx);
    typename batch_runner<D>::make_fn maker = std::move(make);
    return std::make_unique<batch_runner<D>>(s.name, std::string(sluice::config::type_name(s)), std::move(setup), ctx.http,
                                             maker, std::move(convert));
}

/// The common options of a generic batch dispatcher.
inline sluice::aws::batch_dispatcher_options common_options(const sluice::config::sink_config& s,
                                                            sluice::delivery_options defaults, const sink_context& ctx) {
    sluice::aws::batch_dispatcher_options o;
    o.delivery = delivery_for(s, std::move(defaults), ctx);
    o.log = &ctx.log;
    return o;
}

std::unique_ptr<sink_runner> make_aws_sink(const sluice::config::sink_config& s, const sink_context& ctx);
std::unique_ptr<sink_runner> make_http_sink(const sluice::config::sink_config& s, const sink_context& ctx);
std::unique_ptr<sink_runner> make_object_sink(const sluice::config::sink_config& s, const sink_context& ctx);

} // namespace detail

/// The runner of sink `s`. Throws std::invalid_argument (or what the library's constructors throw)
/// naming the sink when it cannot be made.
inline std::unique_ptr<sink_runner> make_sink(const sluice::config::sink_config& s, const sink_context& ctx) {
    using namespace sluice::config;
    if (const auto* p = std::get_if<pulsar_sink>(&s.options)) {
        sluice::pulsar::client_options c;
        c.service_url = p->service_url.value;
        if (p->auth_token) c.connection.auth_token = p->auth_token->value;
        sluice::pulsar::dynamic_producer_options o;
        o.producer.topic = p->topic.value;
        if (p->batching) o.producer.batching = *p->batching;
        o.producer.compression = static_cast<sluice::pulsar::compression_type>(p->compression_type);
        const auto d = detail::delivery_for(s, sluice::delivery_options{}, ctx);
        return std::make_unique<detail::pulsar_runner>(s.name, ctx.loop, std::move(c), std::move(o), d);
    }
    if (std::holds_alternative<file_sink>(s.options) || std::holds_alternative<s3_sink>(s.options))
        return detail::make_object_sink(s, ctx);
    if (std::holds_alternative<opensearch_sink_config>(s.options) || std::holds_alternative<http_sink_config>(s.options))
        return detail::make_http_sink(s, ctx);
    return detail::make_aws_sink(s, ctx);
}

} // namespace sluiced

#include "sinks_impl.hpp"
