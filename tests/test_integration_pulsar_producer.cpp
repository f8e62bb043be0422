// Integration suite "integration-pulsar": sluice's producer against the fixture broker
// (scripts/pulsar-fixture.sh, started by ctest), checked on what the fixture decoded and stored with
// its own JavaScript codecs, every message by id; and against pulsar-flex, an independent client.

#include <doctest/doctest.h>

#if SLUICE_HAS_SIMDJSON && SLUICE_HAS_LZ4 && SLUICE_HAS_ZSTD && SLUICE_HAS_ZLIB && SLUICE_HAS_SNAPPY

#include "pulsar_fixture.hpp"

#include <sluice/io/loop.hpp>
#include <sluice/pulsar/producer.hpp>

#include <set>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_integration_pulsar_producer {

using namespace sluice;
using namespace sluice::pulsar;
namespace fx = pulsar_fixture;

namespace {

outgoing_message numbered_message(int i) {
    outgoing_message m;
    m.payload = "message-" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 50), 'x');
    m.key = "key-" + std::to_string(i % 7);
    m.properties.push_back({"i", std::to_string(i)});
    m.event_time = 1'700'000'000'000ull + static_cast<unsigned>(i);
    return m;
}

/// Sends `n` numbered messages through `p`, awaiting every outcome; returns the ids.
task<std::vector<message_id>> send_all(producer& p, int n) {
    std::vector<pending_send> pending;
    for (int i = 0; i < n; ++i) {
        auto m = numbered_message(i);
        pending.push_back(co_await p.enqueue(std::move(m)));
    }
    std::vector<message_id> ids;
    for (auto& s : pending) {
        auto r = co_await s.wait();
        ids.push_back(r.value());
    }
    co_return ids;
}

/// Options for a producer on `topic` that meets a refusing broker: it reconnects every 10-50 ms.
producer_options refused_topic_options(const std::string& topic) {
    producer_options o;
    o.topic = topic;
    o.reconnect_initial_backoff = std::chrono::milliseconds(10);
    o.reconnect_max_backoff = std::chrono::milliseconds(50);
    return o;
}

/// Makes the fixture refuse every send to `topic` with ServiceNotReady (retryable, for ever), then
/// enqueues messages 0..n-1 on `p`.
task<std::vector<pending_send>> enqueue_refused(producer& p, const std::string& topic, int n) {
    fx::control("/fail-sends?topic=" + topic + "&n=100000&error=6");
    std::vector<pending_send> pending;
    for (int i = 0; i < n; ++i) {
        auto m = numbered_message(i);
        pending.push_back(co_await p.enqueue(std::move(m)));
    }
    co_return pending;
}

void check_numbered(const std::vector<fx::stored>& got, int n, const std::string& compression) {
    REQUIRE(got.size() == static_cast<std::size_t>(n));
    std::set<int> seen;
    for (const auto& m : got) {
        const int i = std::stoi(m.properties.at("i"));
        CHECK(seen.insert(i).second);
        CHECK(m.payload == numbered_message(i).payload);
        CHECK(m.key == *numbered_message(i).key);
        CHECK(m.compression == compression);
    }
    CHECK(seen.size() == static_cast<std::size_t>(n));
}

} // namespace

TEST_SUITE("integration-pulsar") {

TEST_CASE("batched sends in each compression arrive whole, with keys and properties, every message by id") {
    for (auto c : {compression_type::none, compression_type::lz4, compression_type::zlib, compression_type::zstd,
                   compression_type::snappy}) {
        CAPTURE(to_string(c));
        const std::string topic = fx::unique_topic(std::string("compressed-") + std::string(to_string(c)));
        io_loop loop;
        client cl(loop, {.service_url = fx::get().url()});
        producer_options o;
        o.topic = topic;
        o.compression = c;
        o.batch_max_messages = 100;
        producer p(cl, o);
        auto ids = loop.run_until_complete([&]() -> task<std::vector<message_id>> {
            co_await p.start();
            auto r = co_await send_all(p, 1000);
            co_await p.close();
            co_return r;
        }());
        REQUIRE(ids.size() == 1000);
        // Ids: ten batches of a hundred, indexes 0..99 within each.
        for (std::size_t i = 0; i < ids.size(); ++i) {
            CHECK(ids[i].batch_index == static_cast<std::int32_t>(i % 100));
            CHECK(ids[i].entry_id == ids[i - i % 100].entry_id);
        }
        fx::finish(loop, cl);
    auto s = fx::read_state();
        check_numbered(s.topics.at(topic), 1000, std::string(to_string(c)));
    }
}

TEST_CASE("without batching every message is its own entry") {
    const std::string topic = fx::unique_topic("single");
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    producer_options o;
    o.topic = topic;
    o.batching = false;
    o.compression = compression_type::lz4;
    producer p(cl, o);
    auto ids = loop.run_until_complete([&]() -> task<std::vector<message_id>> {
        co_await p.start();
        auto r = co_await send_all(p, 50);
        co_await p.close();
        co_return r;
    }());
    for (std::size_t i = 0; i < ids.size(); ++i) CHECK(ids[i].batch_index == -1);
    fx::finish(loop, cl);
    auto s = fx::read_state();
    const auto& got = s.topics.at(topic);
    check_numbered(got, 50, "LZ4");
    for (const auto& m : got) CHECK(!m.batch);
}

TEST_CASE("a full pending queue refuses at once, or suspends the sender with block_if_queue_full") {
    const std::string topic = fx::unique_topic("backpressure");
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    producer_options o;
    o.topic = topic;
    o.max_pending_messages = 5;
    o.batch_max_delay = std::chrono::milliseconds(200); // the batch stays open: nothing is acknowledged
    producer refusing(cl, o);
    o.block_if_queue_full = true;
    o.batch_max_delay = std::chrono::milliseconds(5);
    producer blocking(cl, o);
    loop.run_until_complete([&]() -> task<void> {
        co_await refusing.start();
        std::vector<pending_send> first;
        for (int i = 0; i < 5; ++i) {
            auto m = numbered_message(i);
            first.push_back(co_await refusing.enqueue(std::move(m)));
        }
        auto extra = numbered_message(5);
        auto sixth = co_await refusing.enqueue(std::move(extra));
        REQUIRE(sixth.done()); // refused without waiting
        auto r = co_await sixth.wait();
        REQUIRE(r.is_error());
        CHECK(r.get_error().message.find("queue") != std::string::npos);
        for (auto& p : first) {
            auto ok = co_await p.wait();
            CHECK(ok.is_ok());
        }
        co_await refusing.close();
        // Blocking: twenty messages through a queue of five, every one stored.
        co_await blocking.start();
        std::vector<pending_send> all;
        for (int i = 0; i < 20; ++i) {
            auto m = numbered_message(i);
            all.push_back(co_await blocking.enqueue(std::move(m)));
        }
        for (auto& p : all) {
            auto ok = co_await p.wait();
            CHECK(ok.is_ok());
        }
        co_await blocking.close();
    }());
    fx::finish(loop, cl);
    auto s = fx::read_state();
    CHECK(s.topics.at(topic).size() == 25);
}

TEST_CASE("broker refusals: a non-retryable SEND_ERROR fails its messages, a lasting retryable one times out") {
    const std::string refused = fx::unique_topic("refused");
    const std::string stuck = fx::unique_topic("stuck");
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    producer_options o;
    o.topic = refused;
    o.batching = false;
    producer p(cl, o);
    o.topic = stuck;
    o.send_timeout = std::chrono::milliseconds(300);
    o.reconnect_initial_backoff = std::chrono::milliseconds(10);
    o.reconnect_max_backoff = std::chrono::milliseconds(50);
    producer q(cl, o);
    loop.run_until_complete([&]() -> task<void> {
        co_await p.start();
        co_await q.start();
        fx::control("/fail-sends?topic=" + refused + "&n=1&error=22"); // NotAllowedError
        auto m0 = numbered_message(0);
        auto first = co_await p.send(std::move(m0));
        REQUIRE(first.is_error());
        CHECK(first.get_error().message.find("NotAllowedError") != std::string::npos);
        auto m1 = numbered_message(1);
        auto second = co_await p.send(std::move(m1));
        CHECK(second.is_ok());
        fx::control("/fail-sends?topic=" + stuck + "&n=100000&error=6"); // ServiceNotReady, forever
        auto m2 = numbered_message(2);
        auto late = co_await q.send(std::move(m2));
        REQUIRE(late.is_error());
        CHECK(late.get_error().message.find("send timeout") != std::string::npos);
        fx::control("/fail-sends?topic=" + stuck + "&n=0&error=6");
        co_await p.close();
        co_await q.close();
    }());
    fx::finish(loop, cl);
    auto s = fx::read_state();
    CHECK(s.topics.at(refused).size() == 1);
    CHECK(s.topics.count(stuck) == 1);
}

TEST_CASE("a send timeout fails the open batch without sending it (a caller retrying could publish it twice)") {
    const std::string stuck = fx::unique_topic("stuck-open-batch");
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    producer_options o = refused_topic_options(stuck);
    o.batch_max_messages = 2;
    o.batch_max_delay = std::chrono::seconds(30); // the second batch stays open until the timeout
    o.send_timeout = std::chrono::milliseconds(300);
    producer p(cl, o);
    loop.run_until_complete([&]() -> task<void> {
        co_await p.start();
        auto pending = co_await enqueue_refused(p, stuck, 3);
        for (auto& s : pending) {
            auto r = co_await s.wait();
            REQUIRE(r.is_error());
            CHECK(r.get_error().message.find("send timeout") != std::string::npos);
        }
        co_await loop.sleep_for(std::chrono::milliseconds(1)); // outcomes resolve inline, counters after them
        const auto& stats = p.partition_producers().at(0)->stats();
        CHECK(stats.batches == 1); // messages 0 and 1; message 2 was never framed
        CHECK(stats.failed == 3);
        fx::control("/fail-sends?topic=" + stuck + "&n=0&error=6");
        co_await p.close();
    }());
    fx::finish(loop, cl);
    auto s = fx::read_state();
    CHECK(s.topics[stuck].empty());
}

TEST_CASE("close() is bounded by close_timeout even with send_timeout 0 and a broker that never acknowledges") {
    // Before close_timeout, this close() waited for ever: the broker keeps refusing the sends with a
    // retryable error, the producer keeps reconnecting, and no send timeout fails the messages.
    const std::string stuck = fx::unique_topic("stuck-close");
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    producer_options o = refused_topic_options(stuck);
    o.batching = false;
    o.send_timeout = std::chrono::milliseconds(0); // never
    o.close_timeout = std::chrono::milliseconds(300);
    producer p(cl, o);
    loop.run_until_complete([&]() -> task<void> {
        co_await p.start();
        auto pending = co_await enqueue_refused(p, stuck, 3);
        co_await loop.sleep_for(std::chrono::milliseconds(100)); // refused and resent a few times
        const auto started = std::chrono::steady_clock::now();
        co_await p.close();
        const auto took = std::chrono::steady_clock::now() - started;
        CHECK(took >= std::chrono::milliseconds(250));
        for (auto& s : pending) {
            auto r = co_await s.wait();
            REQUIRE(r.is_error());
            CHECK(r.get_error().message.find("close timeout") != std::string::npos);
        }
        fx::control("/fail-sends?topic=" + stuck + "&n=0&error=6");
    }());
    fx::finish(loop, cl);
    auto s = fx::read_state();
    CHECK(s.topics[stuck].empty());
}

} // TEST_SUITE

} // namespace test_integration_pulsar_producer

#endif
