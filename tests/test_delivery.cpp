// delivery_pipeline: batching by count, bytes, age and sink limits; the memory buffer bound (block,
// drop); retries with backoff, partial batch failures entry by entry, rejections never retried, dead
// letters; concurrency and rate limits; stop with work left; end-to-end acknowledgement through a
// collector queue. A fault-injecting sink stands in for a failing service.

#include <doctest/doctest.h>

#include <sluice/delivery/pipeline.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/queue/collector_queue.hpp>
#include <sluice/sinks/fault_injecting_sink.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

using fault_pipeline = delivery_pipeline<fault_injecting_sink>;

/// Delivers `records` concurrently and collects each one's outcome by record.
struct outcome_log {
    std::map<std::string, unsigned> delivered; // record -> attempts
    std::map<std::string, std::string> failed; // record -> reason
    std::map<std::string, delivery_error::kind> kinds;

    task<void> deliver(fault_pipeline& p, std::string record) {
        std::string key = record;
        try {
            auto receipt = co_await p.deliver(std::move(record));
            delivered[key] = receipt.attempts;
        } catch (const delivery_error& e) {
            failed[key] = e.what();
            kinds[key] = e.reason();
        }
    }
};

std::vector<std::string> numbered(int n, std::size_t pad = 0) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
        std::string s = "record-" + std::to_string(i);
        if (s.size() < pad) s.append(pad - s.size(), '.');
        out.push_back(std::move(s));
    }
    return out;
}

/// Spawns one deliver() per record, lets them all enter the pipeline, flushes, stops.
delivery_report run_all(io_loop& loop, fault_pipeline& p, outcome_log& log, const std::vector<std::string>& records,
                        std::chrono::milliseconds grace = 10s, bool flush_first = true) {
    auto driver = [&]() -> task<delivery_report> {
        for (const auto& r : records) loop.spawn(log.deliver(p, r));
        co_await loop.schedule();
        if (flush_first) co_await p.flush();
        co_return co_await p.stop(grace);
    };
    auto report = loop.run_until_complete(driver());
    loop.drain();
    return report;
}

retry_options fast_retries(unsigned attempts = 10) {
    return {.max_attempts = attempts, .initial_backoff = 1ms, .max_backoff = 4ms, .max_elapsed = 60s};
}

} // namespace

TEST_SUITE("delivery") {

TEST_CASE("batches close at max_events, and flush sends the remainder") {
    io_loop loop;
    fault_injecting_sink sink(loop);
    fault_pipeline p(loop, sink, {.batch = {.max_events = 10, .max_bytes = 1u << 20, .max_age = 10s}});
    outcome_log log;
    run_all(loop, p, log, numbered(25));
    CHECK(sink.batch_sizes() == std::vector<std::size_t>{10, 10, 5});
    CHECK(log.delivered.size() == 25);
    CHECK(p.stats().batches == 3);
    CHECK(p.stats().batched_records == 25);
}

TEST_CASE("batches close at max_bytes; a record that would overflow starts the next batch") {
    io_loop loop;
    fault_injecting_sink sink(loop);
    fault_pipeline p(loop, sink, {.batch = {.max_events = 100, .max_bytes = 250, .max_age = 10s}});
    outcome_log log;
    run_all(loop, p, log, numbered(7, 100)); // 100 bytes each: two fit in 250
    CHECK(sink.batch_sizes() == std::vector<std::size_t>{2, 2, 2, 1});
    CHECK(log.delivered.size() == 7);
}

TEST_CASE("a batch is sent when it reaches max_age, without a flush") {
    io_loop loop;
    fault_injecting_sink sink(loop);
    fault_pipeline p(loop, sink, {.batch = {.max_events = 100, .max_bytes = 1u << 20, .max_age = 15ms}});
    outcome_log log;
    loop.run_until_complete([&]() -> task<void> {
        for (auto& r : numbered(3)) loop.spawn(log.deliver(p, r));
        co_await loop.schedule();
        CHECK(sink.requests() == 0);
        for (int i = 0; i < 200 && log.delivered.size() < 3; ++i) co_await loop.sleep_for(5ms);
        CHECK(sink.batch_sizes() == std::vector<std::size_t>{3});
        // A later record opens a new batch with its own age.
        loop.spawn(log.deliver(p, "late"));
        for (int i = 0; i < 200 && log.delivered.size() < 4; ++i) co_await loop.sleep_for(5ms);
        CHECK(sink.batch_sizes() == std::vector<std::size_t>{3, 1});
        co_await p.stop();
    }());
    loop.drain();
    CHECK(log.delivered.size() == 4);
}

TEST_CASE("the sink's limits cap batches, and the overrides replace them") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.limits = {.max_batch_entries = 4, .max_batch_bytes = 1u << 20, .max_record_bytes = 64}});
    fault_pipeline p(loop, sink, {.batch = {.max_events = 100, .max_bytes = 1u << 20, .max_age = 10s}});
    outcome_log log;
    run_all(loop, p, log, numbered(10));
    CHECK(sink.max_batch_seen() == 4);

    fault_injecting_sink sink2(loop, {.limits = {.max_batch_entries = 4, .max_batch_bytes = 1u << 20, .max_record_bytes = 64}});
    delivery_options o;
    o.batch = {.max_events = 100, .max_bytes = 1u << 20, .max_age = 10s};
    o.limit_overrides = {.max_batch_entries = 3, .max_batch_bytes = 0, .max_record_bytes = 0};
    fault_pipeline p2(loop, sink2, o);
    CHECK(p2.limits().max_batch_entries == 3);
    CHECK(p2.limits().max_record_bytes == 64);
    outcome_log log2;
    run_all(loop, p2, log2, numbered(10));
    CHECK(sink2.max_batch_seen() == 3);
}

TEST_CASE("an oversize record is refused at once with a clear error and never sent") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.limits = {.max_batch_entries = 10, .max_batch_bytes = 1000, .max_record_bytes = 16}});
    fault_pipeline p(loop, sink, {.name = "tiny"});
    outcome_log log;
    run_all(loop, p, log, {"small", std::string(17, 'x')});
    CHECK(log.delivered.count("small") == 1);
    REQUIRE(log.failed.count(std::string(17, 'x')) == 1);
    CHECK(log.failed[std::string(17, 'x')] == "tiny: record of 17 bytes exceeds the sink's limit of 16 bytes; not sent");
    CHECK(log.kinds[std::string(17, 'x')] == delivery_error::kind::invalid);
    CHECK(sink.delivered() == std::vector<std::string>{"small"});
}

TEST_CASE("failed requests are retried with backoff until they succeed") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.fail_first_requests = 3});
    fault_pipeline p(loop, sink, {.batch = {.max_events = 50, .max_bytes = 1u << 20, .max_age = 1ms}, .retry = fast_retries()});
    outcome_log log;
    run_all(loop, p, log, numbered(20));
    CHECK(log.delivered.size() == 20);
    CHECK(log.failed.empty());
    CHECK(sink.failed_requests() == 3);
    // The first request carried all 20; jitter spreads their retries over later requests.
    std::uint64_t retries = 0;
    for (auto& [record, attempts] : log.delivered) {
        CHECK(attempts >= 2);
        CHECK(attempts <= 4);
        retries += attempts - 1;
    }
    CHECK(p.stats().retried == retries);
}

TEST_CASE("partial batch failures are retried entry by entry; every record lands exactly once") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.entry_failure_rate = 0.3, .seed = 7});
    fault_pipeline p(loop, sink, {.batch = {.max_events = 16, .max_bytes = 1u << 20, .max_age = 1ms}, .retry = fast_retries(50)});
    outcome_log log;
    auto records = numbered(300);
    run_all(loop, p, log, records);
    CHECK(log.delivered.size() == 300);
    CHECK(sink.failed_entries() > 0);
    std::multiset<std::string> landed(sink.delivered().begin(), sink.delivered().end());
    for (auto& r : records) CHECK(landed.count(r) == 1);
    CHECK(p.stats().retried == sink.failed_entries());
    // Retried records were not re-sent with the whole batch: requests carried only what failed.
    std::size_t sent = 0;
    for (auto n : sink.batch_sizes()) sent += n;
    CHECK(sent == 300 + sink.failed_entries());
}

TEST_CASE("rejected records are not retried; they go to the dead letter output with the reason") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.reject = [](std::string_view r) { return r.find("poison") != std::string_view::npos; }});
    std::vector<std::string> dead;
    delivery_options o;
    o.name = "orders";
    o.batch.max_age = 1ms;
    o.retry = fast_retries();
    o.dead_letter_output = [&](const dead_letter& d) -> task<void> {
        dead.push_back(std::string(d.record) + " | " + std::string(d.reason) + " | " + std::to_string(d.attempts));
        co_return;
    };
    fault_pipeline p(loop, sink, o);
    outcome_log log;
    run_all(loop, p, log, {"a", "poison-1", "b", "poison-2"});
    CHECK(log.delivered.size() == 2);
    REQUIRE(log.failed.size() == 2);
    CHECK(log.failed["poison-1"] == "orders: rejected: invalid record (dead-lettered)");
    CHECK(log.kinds["poison-1"] == delivery_error::kind::rejected);
    std::sort(dead.begin(), dead.end());
    CHECK(dead == std::vector<std::string>{"poison-1 | orders: rejected: invalid record | 1",
                                           "poison-2 | orders: rejected: invalid record | 1"});
    CHECK(p.stats().retried == 0);
    CHECK(p.stats().dead_lettered == 2);
}

TEST_CASE("records give up after max_attempts; a failing dead letter output is reported too") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.request_failure_rate = 1.0});
    delivery_options o;
    o.batch.max_age = 1ms;
    o.retry = fast_retries(3);
    o.dead_letter_output = [](const dead_letter&) -> task<void> {
        throw std::runtime_error("dead letter queue unreachable");
        co_return;
    };
    fault_pipeline p(loop, sink, o);
    outcome_log log;
    run_all(loop, p, log, {"x"});
    REQUIRE(log.failed.size() == 1);
    CHECK(log.failed["x"] ==
          "sink: gave up after 3 attempt(s): service unavailable (503) (dead-letter output failed too: dead letter "
          "queue unreachable)");
    CHECK(log.kinds["x"] == delivery_error::kind::gave_up);
    CHECK(sink.requests() == 3);
}

TEST_CASE("max_elapsed bounds retrying as well as attempts") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.request_failure_rate = 1.0});
    fault_pipeline p(loop, sink,
                     {.batch = {.max_events = 10, .max_bytes = 1u << 20, .max_age = 1ms},
                      .retry = {.max_attempts = 1000, .initial_backoff = 5ms, .max_backoff = 5ms, .max_elapsed = 30ms}});
    outcome_log log;
    run_all(loop, p, log, {"y"});
    REQUIRE(log.failed.size() == 1);
    CHECK(log.kinds["y"] == delivery_error::kind::gave_up);
    CHECK(sink.requests() < 1000);
}

TEST_CASE("backoff: full jitter under an exponential ceiling, capped") {
    backoff_policy b({.max_attempts = 10, .initial_backoff = 100ms, .max_backoff = 1000ms, .max_elapsed = 60s}, 1);
    CHECK(b.ceiling(2) == 100ms);
    CHECK(b.ceiling(3) == 200ms);
    CHECK(b.ceiling(4) == 400ms);
    CHECK(b.ceiling(5) == 800ms);
    CHECK(b.ceiling(6) == 1000ms);
    CHECK(b.ceiling(60) == 1000ms);
    std::set<long long> seen;
    for (int i = 0; i < 200; ++i) {
        auto d = b.delay(4);
        CHECK(d >= 0ms);
        CHECK(d <= 400ms);
        seen.insert(d.count());
    }
    CHECK(seen.size() > 50); // jittered, not a constant
    auto t0 = std::chrono::steady_clock::time_point{} + 1h;
    CHECK(b.may_retry(9, t0, t0 + 1s));
    CHECK_FALSE(b.may_retry(10, t0, t0 + 1s));
    CHECK_FALSE(b.may_retry(1, t0, t0 + 61s));
}

TEST_CASE("a full memory buffer blocks deliver() until room appears (block policy)") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.hang = true});
    fault_pipeline p(loop, sink,
                     {.batch = {.max_events = 2, .max_bytes = 1u << 20, .max_age = 1ms},
                      .buffer = {.max_events = 5, .max_bytes = 1u << 20, .policy = when_full::block}});
    outcome_log log;
    std::size_t peak = 0;
    loop.run_until_complete([&]() -> task<void> {
        for (auto& r : numbered(12)) loop.spawn(log.deliver(p, r));
        for (int i = 0; i < 5; ++i) {
            co_await loop.sleep_for(2ms);
            peak = std::max(peak, p.stats().buffered_events);
        }
        CHECK(p.stats().buffered_events == 5); // 7 deliver() calls are waiting outside
        CHECK(p.stats().accepted == 5);
        sink.stop_hanging();
        co_await loop.sleep_for(1ms);
        while (log.delivered.size() + log.failed.size() < 12) {
            peak = std::max(peak, p.stats().buffered_events);
            co_await loop.sleep_for(1ms);
        }
        co_await p.stop();
    }());
    loop.drain();
    CHECK(peak <= 5);
    CHECK(log.delivered.size() == 12); // the hung requests failed retryably and were retried
}

TEST_CASE("a full memory buffer drops the newest record with an Error (drop_newest policy)") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.hang = true});
    fault_pipeline p(loop, sink,
                     {.name = "metrics",
                      .batch = {.max_events = 10, .max_bytes = 1u << 20, .max_age = 1ms},
                      .buffer = {.max_events = 3, .max_bytes = 1u << 20, .policy = when_full::drop_newest}});
    outcome_log log;
    loop.run_until_complete([&]() -> task<void> {
        for (auto& r : numbered(5)) loop.spawn(log.deliver(p, r));
        co_await loop.sleep_for(2ms);
        CHECK(log.failed.size() == 2);
        sink.stop_hanging();
        co_await p.stop();
    }());
    loop.drain();
    CHECK(p.stats().dropped == 2);
    CHECK(log.delivered.size() == 3);
    for (auto& [r, why] : log.failed) {
        CHECK(log.kinds[r] == delivery_error::kind::dropped);
        CHECK(why.find("metrics: buffer full") == 0);
    }
}

TEST_CASE("no more than max_in_flight requests at once") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.latency = 3ms});
    fault_pipeline p(loop, sink,
                     {.batch = {.max_events = 1, .max_bytes = 1u << 20, .max_age = 1ms}, .concurrency = {.max_in_flight = 3}});
    outcome_log log;
    run_all(loop, p, log, numbered(20));
    CHECK(log.delivered.size() == 20);
    CHECK(sink.max_concurrent() == 3);
}

TEST_CASE("token bucket: a rate, a burst, and a wait that says how long") {
    token_bucket b(10.0, 5.0); // 10 per second, burst 5
    auto t = std::chrono::steady_clock::time_point{} + 1h;
    for (int i = 0; i < 5; ++i) CHECK(b.take(1, t) == std::chrono::nanoseconds::zero());
    auto wait = b.take(1, t);
    CHECK(wait > 99ms);
    CHECK(wait <= 101ms);
    CHECK(b.take(1, t + 100ms) == std::chrono::nanoseconds::zero());
    CHECK(b.take(5, t + 10s) == std::chrono::nanoseconds::zero()); // refilled to the burst, not beyond
    CHECK(b.take(1, t + 10s) > 0ms);
    CHECK(token_bucket(0, 0).take(1e9, t) == std::chrono::nanoseconds::zero()); // unlimited
}

TEST_CASE("adaptive concurrency: additive increase, multiplicative decrease, within bounds") {
    adaptive_concurrency c({.max_in_flight = 8, .adaptive = true, .min_in_flight = 1, .initial_in_flight = 1});
    CHECK(c.limit() == 1);
    for (int i = 0; i < 21; ++i) c.on_response(10ms, false);
    CHECK(c.limit() == 7); // +1 per window of `limit` clean responses: 1+2+3+4+5+6 = 21 responses to reach 7
    for (int i = 0; i < 100; ++i) c.on_response(10ms, false);
    CHECK(c.limit() == 8);
    c.on_response(10ms, true); // throttled
    CHECK(c.limit() == 4);
    c.on_response(10ms, true);
    c.on_response(10ms, true);
    c.on_response(10ms, true);
    CHECK(c.limit() == 1);
    c.on_response(10ms, true);
    CHECK(c.limit() == 1); // never below min
    adaptive_concurrency fixed({.max_in_flight = 5, .adaptive = false});
    fixed.on_response(10ms, true);
    CHECK(fixed.limit() == 5);
}

TEST_CASE("throttling responses lower the adaptive limit") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.fail_first_requests = 4, .throttle = true});
    fault_pipeline p(loop, sink,
                     {.batch = {.max_events = 1, .max_bytes = 1u << 20, .max_age = 1ms},
                      .retry = fast_retries(),
                      .concurrency = {.max_in_flight = 8, .adaptive = true, .min_in_flight = 1, .initial_in_flight = 8}});
    outcome_log log;
    run_all(loop, p, log, numbered(6));
    CHECK(log.delivered.size() == 6);
    CHECK(p.stats().throttled == 4);
    CHECK(p.stats().concurrency_limit <= 4); // 8 -> 4 -> 2 -> 1 -> 1, then too few responses to climb back
}

TEST_CASE("stop: what cannot be delivered before the deadline is reported unprocessed, nothing hangs") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.request_failure_rate = 1.0});
    fault_pipeline p(loop, sink,
                     {.batch = {.max_events = 5, .max_bytes = 1u << 20, .max_age = 1ms},
                      .retry = {.max_attempts = 100, .initial_backoff = 50ms, .max_backoff = 50ms, .max_elapsed = 60s}});
    outcome_log log;
    auto report = run_all(loop, p, log, numbered(12), 20ms, false);
    CHECK_FALSE(report.drained);
    CHECK(report.unprocessed == 12);
    CHECK(log.failed.size() == 12);
    for (auto& [r, why] : log.failed) {
        CHECK(log.kinds[r] == delivery_error::kind::stopped);
        CHECK(why.find("unprocessed: stop deadline passed") != std::string::npos);
    }
    // After stop nothing is accepted.
    loop.run_until_complete([&]() -> task<void> {
        CHECK_THROWS_AS(co_await p.deliver("late"), delivery_error);
    }());
}

TEST_CASE("end to end: a collector awaiting the pipeline resolves each payload with the sink's answer") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.entry_failure_rate = 0.2, .reject = [](std::string_view r) { return r == "\"bad\""; }});
    fault_pipeline pipeline(loop, sink, {.name = "events", .batch = {.max_events = 32, .max_bytes = 1u << 20, .max_age = 2ms},
                                         .retry = fast_retries(40)});
    collector<std::string, unsigned> to_sink{
        "events", [&](const payload<std::string>& p, collector_context&) -> task<unsigned> {
            auto receipt = co_await pipeline.deliver("\"" + p.value + "\"");
            co_return receipt.attempts;
        }};
    // Consumers wait for acknowledgements, so there must be enough of them to fill batches.
    collector_queue<std::string, unsigned> queue(loop, {to_sink}, {.min_consumers = 1, .max_consumers = 256});
    std::vector<collector_event<unsigned>> events;
    loop.run_until_complete([&]() -> task<void> {
        co_await queue.start();
        auto pub = queue.get_publisher();
        for (int i = 0; i < 200; ++i) events.push_back(co_await pub.send(payload<std::string>::broadcast(std::to_string(i))));
        events.push_back(co_await pub.send(payload<std::string>::broadcast("bad")));
        for (auto& e : events) co_await e.wait();
        co_await queue.stop();
        co_await pipeline.stop();
    }());
    loop.drain();
    for (std::size_t i = 0; i < 200; ++i) {
        const auto& r = events[i].get_result();
        REQUIRE(r.size() == 1);
        CHECK(r.first().is_ok());
        CHECK(r.first().value() >= 1);
    }
    const auto& bad = events.back().get_result().first();
    REQUIRE(bad.is_error());
    CHECK(bad.get_error().message == "events: rejected: invalid record");
    CHECK(sink.delivered().size() == 200);
    CHECK(queue.stats().peak_consumers > 32); // batches filled from many waiting consumers
}

}
