// status_demo: a small service with real pipelines behind the observability routes, for the tests of
// /metrics (promtool, a Prometheus server) and of the status page (headless Chromium) until sluiced
// runs pipelines of its own. Everything in it is the library's: a collector_queue broadcasting to two
// delivery_pipelines, one of which dead-letters into a third, and a firehose-like pipeline that
// overflows to a disk buffer, all over fault_injecting_sink (retries, throttles, rejects, outages)
// and registered in one metrics_registry; last errors come from the pipelines' own log records.
// A load generator inside keeps the counters moving.
//
//   status_demo <state-dir> [--port N] [--rate EVENTS_PER_SECOND]
//
// Listens on 127.0.0.1 (port 0: a free one), writes <state-dir>/endpoint (http://127.0.0.1:PORT) once
// it serves, keeps the firehose's disk buffer in <state-dir>/clicks-buffer, and runs until SIGTERM
// or SIGINT; then it stops the load, drains, and accounts for every record by id: it exits 1 (and
// says why) when a record is missing, duplicated or counted wrong, 0 otherwise.

#include <sluice/core/async_scope.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/pipeline.hpp>
#include <sluice/http/router.hpp>
#include <sluice/http/server.hpp>
#include <sluice/metrics/last_errors.hpp>
#include <sluice/metrics/status_page.hpp>
#include <sluice/queue/collector_queue.hpp>
#include <sluice/sinks/fault_injecting_sink.hpp>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace sluice;
using namespace std::chrono_literals;
using pipeline = delivery_pipeline<fault_injecting_sink>;

/// Fast batches and patient retries, so that failures show as retries rather than losses.
delivery_options pipeline_options(std::string name, metrics_registry& registry, const logger& log) {
    delivery_options o;
    o.name = std::move(name);
    o.batch.max_events = 50;
    o.batch.max_age = 50ms;
    o.retry.max_attempts = 30;
    o.retry.initial_backoff = 20ms;
    o.retry.max_backoff = 500ms;
    o.metrics = &registry;
    o.log = &log;
    return o;
}

/// The demo's pipelines, sinks and queue.
struct demo {
    io_loop& loop;
    metrics_registry registry;
    last_errors errors;
    logger log{log_options{.level = log_level::warn}, errors.observer()};

    // orders: a queue broadcasting to a primary sink (a few retryable failures, every 53rd record
    // rejected into the dead-letter pipeline) and an archive that is throttled now and then.
    fault_injecting_sink primary_sink{loop, {.entry_failure_rate = 0.03,
                                             .reject = [](std::string_view r) { return r.find("\"bad\"") != std::string_view::npos; },
                                             .latency = 5ms, .seed = 1}};
    fault_injecting_sink archive_sink{loop, {.request_failure_rate = 0.05, .throttle = true, .latency = 10ms, .seed = 2}};
    fault_injecting_sink dlq_sink{loop, {.latency = 2ms, .seed = 3}};
    // clicks: a firehose whose destination has an outage every 20 s (5 s long): its memory buffer
    // fills and overflows to the disk buffer, which drains once the destination is back.
    fault_injecting_sink clicks_sink{loop, {.latency = 20ms, .seed = 4}};

    pipeline dlq{loop, dlq_sink, pipeline_options("orders-dlq", registry, log)};
    pipeline primary{loop, primary_sink, primary_options()};
    pipeline archive{loop, archive_sink, pipeline_options("orders-archive", registry, log)};
    pipeline clicks;

    collector<std::string, void> to_primary{"orders-primary", deliver_to(primary)};
    collector<std::string, void> to_archive{"orders-archive", deliver_to(archive)};
    collector_queue<std::string, void> orders{loop, {to_primary, to_archive}, queue_options_()};

    demo(io_loop& l, const std::filesystem::path& state) : loop(l), clicks(l, clicks_sink, clicks_options(state)) {}

    delivery_options primary_options() {
        delivery_options o = pipeline_options("orders-primary", registry, log);
        o.dead_letter_output = [this](const dead_letter& d) -> task<void> {
            std::string record(d.record); // named, not a temporary inside co_await (GCC 12)
            co_await dlq.deliver(std::move(record));
        };
        return o;
    }

    delivery_options clicks_options(const std::filesystem::path& state) {
        delivery_options o = pipeline_options("clicks-s3", registry, log);
        o.buffer.max_events = 300;
        o.buffer.policy = when_full::overflow;
        auto& disk = o.disk.emplace();
        disk.directory = state / "clicks-buffer";
        disk.fsync = fsync_policy::interval;
        o.concurrency.max_in_flight = 1;
        o.retry.max_attempts = 1000;
        o.retry.max_elapsed = 10min;
        return o;
    }

    queue_options queue_options_() {
        queue_options o;
        o.name = "orders";
        o.metrics = &registry;
        o.log = &log;
        o.capacity = 4096;
        return o;
    }

    static collector<std::string, void>::processor_type deliver_to(pipeline& p) {
        return [&p](const payload<std::string>& event, collector_context& ctx) -> task<void> {
            ctx.release_consumer();
            co_await p.deliver(event.value);
        };
    }

    /// /status.json's pipelines.
    std::vector<pipeline_status> describe() const {
        auto sink = [this](std::string name, std::string type, std::optional<std::string> dead_letter = {}) {
            sink_status s;
            s.last_error = errors.get(name);
            s.name = std::move(name);
            s.type = std::move(type);
            s.dead_letter = std::move(dead_letter);
            return s;
        };
        pipeline_status o;
        o.name = "orders";
        o.queue = "orders";
        o.sources = {"load-generator"};
        o.sinks = {sink("orders-primary", "fault-injecting", "orders-dlq"), sink("orders-archive", "fault-injecting"),
                   sink("orders-dlq", "fault-injecting")};
        pipeline_status c;
        c.name = "clicks";
        c.kind = pipeline_kind::firehose;
        c.sources = {"load-generator"};
        c.sinks = {sink("clicks-s3", "fault-injecting")};
        return {o, c};
    }
};

/// Sends `rate` orders and clicks per second until `stop`; every 53rd order is one the primary
/// sink rejects.
task<void> generate(demo& d, unsigned rate, std::stop_token stop, std::uint64_t& sent) {
    auto publisher = d.orders.get_publisher();
    const unsigned per_tick = std::max(1u, rate / 50);
    while (!stop.stop_requested()) {
        for (unsigned i = 0; i < per_tick; ++i, ++sent) {
            std::string order = "{\"order\":" + std::to_string(sent) + (sent % 53 == 0 ? ",\"bad\":true}" : "}");
            auto p = payload<std::string>::broadcast(std::move(order));
            co_await publisher.publish(std::move(p));
            std::string click = "{\"click\":" + std::to_string(sent) + "}";
            d.clicks.submit(std::move(click), {}, [](const outcome&) {});
        }
        try {
            co_await d.loop.sleep_for(20ms, stop);
        } catch (const operation_cancelled&) {
            break;
        }
    }
}

/// The clicks destination's outages: 5 s down every 20 s.
task<void> weather(demo& d, std::stop_token stop) {
    try {
        for (;;) {
            co_await d.loop.sleep_for(15s, stop);
            d.clicks_sink.options().request_failure_rate = 1;
            co_await d.loop.sleep_for(5s, stop);
            d.clicks_sink.options().request_failure_rate = 0;
        }
    } catch (const operation_cancelled&) {
        d.clicks_sink.options().request_failure_rate = 0;
    }
}

void write_endpoint(const std::filesystem::path& state, const std::string& url) {
    const auto tmp = state / "endpoint.tmp";
    std::ofstream(tmp) << url << '\n';
    std::filesystem::rename(tmp, state / "endpoint"); // whole or absent, never half written
}

/// The id in `{"order":N...}` or `{"click":N}`.
std::uint64_t id_of(std::string_view record) {
    const auto colon = record.find(':');
    return std::strtoull(std::string(record.substr(colon + 1, 20)).c_str(), nullptr, 10);
}

/// After everything stopped: every record a pipeline took in is accounted for (delivered, failed,
/// dropped or kept on disk), what its sink holds is exactly what it counted as delivered, no id was
/// delivered twice, and every order reached the primary sink or its dead letters. Problems, or none.
std::vector<std::string> account(const demo& d, std::uint64_t sent, std::uint64_t kept_on_disk) {
    std::vector<std::string> problems;
    const metrics_snapshot snap = d.registry.snapshot();
    auto value = [&snap](std::string_view metric, std::string_view name) {
        const metric_sample* s = snap.find(metric, {{"component", "sink"}, {"name", std::string(name)}});
        return s ? s->count : 0;
    };
    auto check_sink = [&](std::string_view name, const fault_injecting_sink& sink, std::uint64_t persisted) {
        const std::uint64_t in = value("sluice_events_in_total", name), out = value("sluice_events_out_total", name);
        const std::uint64_t settled = out + value("sluice_events_failed_total", name) + value("sluice_events_dropped_total", name) + persisted;
        if (in != settled) problems.push_back(std::string(name) + ": " + std::to_string(in) + " in, " + std::to_string(settled) + " settled");
        if (out != sink.delivered().size())
            problems.push_back(std::string(name) + ": counted " + std::to_string(out) + " delivered, the sink has " +
                               std::to_string(sink.delivered().size()));
        std::vector<bool> seen(sent, false);
        for (const auto& r : sink.delivered()) {
            const auto id = id_of(r);
            if (id >= sent || seen[id]) problems.push_back(std::string(name) + ": id " + std::to_string(id) + " delivered twice or unknown");
            else seen[id] = true;
        }
    };
    check_sink("orders-primary", d.primary_sink, 0);
    check_sink("orders-archive", d.archive_sink, 0);
    check_sink("orders-dlq", d.dlq_sink, 0);
    check_sink("clicks-s3", d.clicks_sink, kept_on_disk);
    if (d.primary_sink.delivered().size() + d.dlq_sink.delivered().size() + value("sluice_events_failed_total", "orders-dlq") != sent)
        problems.push_back("orders: " + std::to_string(sent) + " sent, primary and dead letters took " +
                           std::to_string(d.primary_sink.delivered().size() + d.dlq_sink.delivered().size()));
    return problems;
}

task<int> run(demo& d, http::server& server, const std::filesystem::path& state, unsigned rate, std::stop_token stop) {
    co_await d.dlq.start();
    co_await d.primary.start();
    co_await d.archive.start();
    co_await d.clicks.start();
    co_await d.orders.start();
    std::uint64_t sent = 0;
    async_scope background;
    background.spawn(generate(d, rate, stop, sent));
    background.spawn(weather(d, stop));
    server.start();
    write_endpoint(state, server.url());
    std::printf("status_demo: serving %s\n", server.url().c_str());
    std::fflush(stdout);
    async_event stopping;
    std::stop_callback on_stop(stop, [&stopping] { stopping.set(); });
    co_await stopping.wait();
    co_await background.join();
    co_await server.stop(2s);
    co_await d.orders.stop(10s);
    co_await d.primary.stop(10s);
    co_await d.archive.stop(10s);
    co_await d.dlq.stop(10s);
    const delivery_report clicks = co_await d.clicks.stop(2s);
    std::printf("status_demo: sent %llu orders and clicks; delivered: primary %zu, archive %zu, dead letters %zu, "
                "clicks %zu (%llu kept on disk)\n",
                static_cast<unsigned long long>(sent), d.primary_sink.delivered().size(), d.archive_sink.delivered().size(),
                d.dlq_sink.delivered().size(), d.clicks_sink.delivered().size(),
                static_cast<unsigned long long>(clicks.persisted));
    const auto problems = account(d, sent, clicks.persisted);
    for (const auto& p : problems) std::printf("status_demo: NOT ACCOUNTED FOR: %s\n", p.c_str());
    if (problems.empty()) std::printf("status_demo: every record accounted for\n");
    co_return problems.empty() ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: status_demo <state-dir> [--port N] [--rate EVENTS_PER_SECOND]\n");
        return 2;
    }
    const std::filesystem::path state = argv[1];
    http::server_options server_options;
    unsigned rate = 200;
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--port") server_options.port = static_cast<std::uint16_t>(std::strtoul(argv[i + 1], nullptr, 10));
        else if (flag == "--rate") rate = static_cast<unsigned>(std::strtoul(argv[i + 1], nullptr, 10));
        else {
            std::fprintf(stderr, "status_demo: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    std::filesystem::create_directories(state);
    std::filesystem::remove(state / "endpoint");

    // SIGTERM and SIGINT are taken by one thread with sigwait; every other thread has them blocked.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::stop_source stop;
    std::thread waiter([&] {
        int which = 0;
        sigwait(&signals, &which);
        stop.request_stop();
    });

    int status = 1;
    try {
        io_loop loop;
        demo d(loop, state);
        http::router routes;
        observability_options o;
        o.service = "status_demo";
        o.pipelines = [&d] { return d.describe(); };
        add_observability_routes(routes, d.registry, std::move(o));
        http::server server(loop, routes.as_handler(), server_options);
        status = loop.run_until_complete(run(d, server, state, rate, stop.get_token()));
        loop.drain();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "status_demo: %s\n", e.what());
    }
    if (!stop.stop_requested()) kill(getpid(), SIGTERM); // ends the waiter
    waiter.join();
    return status;
}
