// Integration suite "integration-pulsar" (delivery engine): pulsar::delivery_sink behind a
// delivery_pipeline. Records reach the default topic or the topic their batch key names, each
// counted by id in what the fixture stored; broker refusals come back as per-record outcomes that
// the engine retries until the record is stored.

#include <doctest/doctest.h>

#if SLUICE_HAS_SIMDJSON

#include "pulsar_fixture.hpp"

#include <sluice/core/async_scope.hpp>
#include <sluice/delivery/pipeline.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/pulsar/delivery_sink.hpp>

#include <map>
#include <set>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_integration_pulsar_sink {

using namespace sluice;
using namespace sluice::pulsar;
namespace fx = pulsar_fixture;

namespace {

delivery_options engine_options() {
    delivery_options o;
    o.batch = {.max_events = 50, .max_bytes = 1u << 20, .max_age = std::chrono::milliseconds(5)};
    o.retry.max_attempts = 10;
    o.retry.initial_backoff = std::chrono::milliseconds(10);
    o.retry.max_backoff = std::chrono::milliseconds(50);
    return o;
}

/// Payloads stored per topic, with how often each was stored.
std::map<std::string, std::map<std::string, int>> stored_payloads(const std::vector<std::string>& topics) {
    const auto s = fx::read_state();
    std::map<std::string, std::map<std::string, int>> out;
    for (const auto& t : topics) {
        auto it = s.topics.find(t);
        if (it == s.topics.end()) continue;
        for (const auto& m : it->second) ++out[t][m.payload];
    }
    return out;
}

} // namespace

TEST_SUITE("integration-pulsar") {

TEST_CASE("delivery_sink: a pipeline delivers every record once, to the default topic or its batch key's") {
    const std::string main_topic = fx::unique_topic("sink");
    const std::string keyed_topic = fx::unique_topic("sink-keyed");
    constexpr int n = 300;
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    dynamic_producer_options po;
    po.producer.topic = main_topic;
    dynamic_producer producer(cl, po);
    delivery_sink sink(producer);
    delivery_pipeline<delivery_sink> pipeline(loop, sink, engine_options());
    std::vector<unsigned> attempts(n, 0);
    loop.run_until_complete([&]() -> task<void> {
        producer.start();
        co_await pipeline.start();
        async_scope scope;
        auto one = [&](int i) -> task<void> {
            record_options ro;
            if (i % 3 == 0) ro.batch_key = keyed_topic;
            std::string record = "rec-" + std::to_string(i);
            const auto receipt = co_await pipeline.deliver(std::move(record), ro);
            attempts[static_cast<std::size_t>(i)] = receipt.attempts;
        };
        for (int i = 0; i < n; ++i) scope.spawn(one(i));
        co_await scope.join();
        co_await pipeline.stop();
        co_await producer.close();
    }());
    fx::finish(loop, cl);
    for (int i = 0; i < n; ++i) CHECK(attempts[static_cast<std::size_t>(i)] == 1);
    auto stored = stored_payloads({main_topic, normalize_topic(keyed_topic)});
    int on_main = 0, on_keyed = 0;
    for (int i = 0; i < n; ++i) {
        const std::string id = "rec-" + std::to_string(i);
        const auto& t = i % 3 == 0 ? stored[normalize_topic(keyed_topic)] : stored[main_topic];
        auto it = t.find(id);
        CAPTURE(id);
        REQUIRE(it != t.end());
        CHECK(it->second == 1);
        (i % 3 == 0 ? on_keyed : on_main) += 1;
    }
    CHECK(stored[main_topic].size() == static_cast<std::size_t>(on_main));
    CHECK(stored[normalize_topic(keyed_topic)].size() == static_cast<std::size_t>(on_keyed));
}

TEST_CASE("delivery_sink: refused sends are per-record outcomes the engine retries until stored") {
    const std::string topic = fx::unique_topic("sink-refused");
    constexpr int n = 20;
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    dynamic_producer_options po;
    po.producer.topic = topic;
    po.producer.batching = false; // one SEND per record: the fixture refuses exactly the first five
    dynamic_producer producer(cl, po);
    delivery_sink sink(producer);
    delivery_pipeline<delivery_sink> pipeline(loop, sink, engine_options());
    std::map<int, unsigned> attempts;
    loop.run_until_complete([&]() -> task<void> {
        producer.start();
        co_await pipeline.start();
        fx::control("/fail-sends?topic=" + topic + "&n=5&error=22"); // NotAllowedError, five times
        async_scope scope;
        auto one = [&](int i) -> task<void> {
            std::string record = "r-" + std::to_string(i);
            const auto receipt = co_await pipeline.deliver(std::move(record));
            attempts[i] = receipt.attempts;
        };
        for (int i = 0; i < n; ++i) scope.spawn(one(i));
        co_await scope.join();
        co_await pipeline.stop();
        co_await producer.close();
    }());
    fx::finish(loop, cl);
    REQUIRE(attempts.size() == static_cast<std::size_t>(n));
    int retried = 0;
    for (const auto& [i, a] : attempts) {
        CHECK(a >= 1);
        retried += a > 1 ? 1 : 0;
    }
    CHECK(retried >= 1);
    CHECK(retried <= 5);
    CHECK(pipeline.stats().delivered == static_cast<std::uint64_t>(n));
    auto stored = stored_payloads({topic});
    REQUIRE(stored[topic].size() == static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) CHECK(stored[topic]["r-" + std::to_string(i)] == 1);

    // The mapping the engine sees, kind by kind.
    auto failed = [](producer_error::kind k) {
        error e;
        e.message = "why";
        e.exception = std::make_exception_ptr(producer_error(k, "why"));
        return delivery_sink::to_outcome(result<message_id>::failure(std::move(e))).kind;
    };
    CHECK(failed(producer_error::kind::queue_full) == outcome_kind::throttled);
    CHECK(failed(producer_error::kind::timeout) == outcome_kind::retry);
    CHECK(failed(producer_error::kind::broker) == outcome_kind::retry);
    CHECK(failed(producer_error::kind::too_large) == outcome_kind::invalid);
    CHECK(failed(producer_error::kind::invalid) == outcome_kind::reject);
}

} // TEST_SUITE

} // namespace test_integration_pulsar_sink

#endif
