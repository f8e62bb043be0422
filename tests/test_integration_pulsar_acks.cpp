// Integration suite "integration-pulsar" (acknowledgement): cumulative acks (what the fixture marks
// acknowledged, and where a new consumer of the subscription starts), ack-timeout redelivery of what
// was neither acked nor nacked, and Key_Shared dispatch across two consumers. Every message is
// counted by id in what sluice received and in what the fixture recorded.

#include <doctest/doctest.h>

#if SLUICE_HAS_SIMDJSON

#include "pulsar_fixture.hpp"

#include <sluice/core/async_scope.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/pulsar/consumer.hpp>
#include <sluice/pulsar/producer.hpp>

#include <map>
#include <set>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_integration_pulsar_acks {

using namespace sluice;
using namespace sluice::pulsar;
namespace fx = pulsar_fixture;

namespace {

/// Produces messages 0..n-1, each its own entry (no batching), keyed k<i % keys>.
task<void> produce_singles(client& cl, const std::string& topic, int n, int keys) {
    producer_options o;
    o.topic = topic;
    o.batching = false;
    producer p(cl, o);
    co_await p.start();
    std::vector<pending_send> pending;
    for (int i = 0; i < n; ++i) {
        outgoing_message m;
        m.payload = "m-" + std::to_string(i);
        m.key = "k" + std::to_string(i % keys);
        m.properties.push_back({"i", std::to_string(i)});
        pending.push_back(co_await p.enqueue(std::move(m)));
    }
    for (auto& s : pending) {
        auto r = co_await s.wait();
        REQUIRE(r.is_ok());
    }
    co_await p.close();
}

consumer_options options_for(const std::string& topic, subscription_type type) {
    consumer_options o;
    o.topic = topic;
    o.subscription = "s";
    o.type = type;
    o.initial = initial_position::earliest;
    return o;
}

} // namespace

TEST_SUITE("integration-pulsar") {

TEST_CASE("a cumulative ack acknowledges everything up to its message; the next consumer starts after it") {
    const std::string topic = fx::unique_topic("cumulative");
    constexpr int n = 100;
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    std::vector<int> first, second;
    loop.run_until_complete([&]() -> task<void> {
        co_await produce_singles(cl, topic, n, 1);
        {
            consumer c(cl, options_for(topic, subscription_type::exclusive));
            co_await c.start();
            message_id at_39{};
            for (int k = 0; k < 60; ++k) { // receives 60, acknowledges the first 40 with one ack
                auto m = co_await c.receive();
                first.push_back(fx::index_of(m));
                if (fx::index_of(m) == 39) at_39 = m.id;
            }
            c.acknowledge_cumulative(at_39); // sent at once, before the close that follows on the connection
            co_await c.close(); // 40..59 were received, 60..99 pushed ahead (permits): none acknowledged
        }
        consumer c(cl, options_for(topic, subscription_type::exclusive));
        co_await c.start();
        message_id last{};
        while (second.size() < static_cast<std::size_t>(n - 40)) {
            auto m = co_await c.receive();
            second.push_back(fx::index_of(m));
            CHECK(m.redelivery_count == 1);
            last = m.id;
        }
        c.acknowledge_cumulative(last);
        co_await c.close();
    }());
    REQUIRE(first.size() == 60);
    for (int i = 0; i < 60; ++i) CHECK(first[static_cast<std::size_t>(i)] == i);
    REQUIRE(second.size() == static_cast<std::size_t>(n - 40));
    for (int i = 40; i < n; ++i) CHECK(second[static_cast<std::size_t>(i - 40)] == i); // 40..59 again, then the rest
    fx::finish(loop, cl);
    const auto s = fx::read_state();
    const auto& sub = s.subscriptions.at(topic + "|s");
    CHECK(sub.acked.size() == static_cast<std::size_t>(n)); // every entry, by two cumulative acks
    const auto& entries = s.topics.at(topic);
    REQUIRE(entries.size() == static_cast<std::size_t>(n));
    // 40..99 had been dispatched to the first consumer and were handed out again once.
    CHECK(sub.redelivery_count.size() == static_cast<std::size_t>(n - 40));
    for (const auto& [entry, count] : sub.redelivery_count) {
        CHECK(count == 1);
        CHECK(entry >= 40);
        CHECK(entries[static_cast<std::size_t>(entry)].payload == "m-" + std::to_string(entry));
    }
}

TEST_CASE("ack timeout: what was neither acked nor nacked comes back with a redelivery count") {
    const std::string topic = fx::unique_topic("ack-timeout");
    constexpr int n = 40;
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    auto o = options_for(topic, subscription_type::shared);
    o.ack_timeout = std::chrono::milliseconds(150);
    consumer c(cl, o);
    std::map<int, std::vector<std::uint32_t>> deliveries;
    loop.run_until_complete([&]() -> task<void> {
        co_await produce_singles(cl, topic, n, 1);
        co_await c.start();
        // Odd messages are left unacknowledged the first time: the ack timeout redelivers them.
        std::size_t acked = 0;
        while (acked < static_cast<std::size_t>(n)) {
            auto m = co_await c.receive();
            const int i = fx::index_of(m);
            deliveries[i].push_back(m.redelivery_count);
            if (i % 2 == 0 || m.redelivery_count > 0) {
                c.acknowledge(m.id);
                ++acked;
            }
        }
        co_await c.close();
    }());
    REQUIRE(deliveries.size() == static_cast<std::size_t>(n));
    for (const auto& [index, counts] : deliveries) {
        const int i = index; // CAPTURE cannot name a structured binding (clang)
        CAPTURE(i);
        if (i % 2 == 0) {
            CHECK(counts == std::vector<std::uint32_t>{0});
        } else {
            CHECK(counts == std::vector<std::uint32_t>{0, 1});
        }
    }
    CHECK(c.stats().redelivery_requests > 0);
    fx::finish(loop, cl);
    const auto s = fx::read_state();
    const auto& sub = s.subscriptions.at(topic + "|s");
    CHECK(sub.acked.size() == static_cast<std::size_t>(n));
    CHECK(sub.redelivery_count.size() == static_cast<std::size_t>(n / 2));
    for (const auto& [entry, count] : sub.redelivery_count) {
        CHECK(entry % 2 == 1);
        CHECK(count == 1);
    }
}

TEST_CASE("Key_Shared: two consumers split the keys, each key in order on one consumer, every message once") {
    const std::string topic = fx::unique_topic("key-shared");
    constexpr int n = 200;
    constexpr int keys = 8;
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    consumer a(cl, options_for(topic, subscription_type::key_shared));
    consumer b(cl, options_for(topic, subscription_type::key_shared));
    std::map<std::string, std::set<int>> consumers_of_key; // key -> the consumers (0, 1) that received it
    std::map<std::string, std::vector<int>> order;        // key -> its indexes in arrival order
    std::set<int> seen;
    int duplicates = 0;
    loop.run_until_complete([&]() -> task<void> {
        co_await a.start();
        co_await b.start();
        co_await produce_singles(cl, topic, n, keys);
        std::stop_source done;
        auto drain = [&](consumer& c, int who) -> task<void> {
            try {
                for (;;) {
                    auto m = co_await c.receive(done.get_token());
                    const int i = fx::index_of(m);
                    const std::string key = m.key.value_or("");
                    consumers_of_key[key].insert(who);
                    order[key].push_back(i);
                    duplicates += seen.insert(i).second ? 0 : 1;
                    c.acknowledge(m.id);
                    if (seen.size() == static_cast<std::size_t>(n)) done.request_stop();
                }
            } catch (const operation_cancelled&) {
            }
        };
        async_scope scope;
        scope.spawn(drain(a, 0));
        scope.spawn(drain(b, 1));
        co_await scope.join();
        co_await a.close();
        co_await b.close();
    }());
    CHECK(seen.size() == static_cast<std::size_t>(n));
    CHECK(duplicates == 0);
    REQUIRE(consumers_of_key.size() == static_cast<std::size_t>(keys));
    std::set<int> used;
    for (const auto& [k, who] : consumers_of_key) {
        const std::string key = k; // CAPTURE cannot name a structured binding (clang)
        CAPTURE(key);
        CHECK(who.size() == 1); // a key sticks to one consumer
        used.insert(who.begin(), who.end());
        const auto& got = order.at(key);
        CHECK(got.size() == static_cast<std::size_t>(n / keys));
        for (std::size_t j = 1; j < got.size(); ++j) CHECK(got[j - 1] + keys == got[j]); // in order, none missing
    }
    CHECK(used.size() == 2); // both consumers have keys
    CHECK(a.stats().received + b.stats().received == static_cast<std::uint64_t>(n));
    fx::finish(loop, cl);
    const auto s = fx::read_state();
    const auto& sub = s.subscriptions.at(topic + "|s");
    CHECK(sub.acked.size() == static_cast<std::size_t>(n));
    CHECK(sub.redelivery_count.empty());
}

} // TEST_SUITE

} // namespace test_integration_pulsar_acks

#endif
