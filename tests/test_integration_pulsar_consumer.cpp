// Integration suite "integration-pulsar" (continued): the consumer, negative acks and the dead-letter
// topic, the collector queue as a source's destination, reconnects through drops and a broker
// restart, partitions, authentication, lookup redirects, PING/PONG, and pulsar-flex on the other side
// in both directions. Checked on what the fixture stored and counted, every message by id.

#include <doctest/doctest.h>

#if SLUICE_HAS_SIMDJSON && SLUICE_HAS_LZ4 && SLUICE_HAS_ZSTD && SLUICE_HAS_ZLIB && SLUICE_HAS_SNAPPY

#include "pulsar_fixture.hpp"

#include <sluice/io/loop.hpp>
#include <sluice/pulsar/producer.hpp>
#include <sluice/pulsar/source.hpp>
#include <sluice/pulsar/json_serde.hpp>
#include <sluice/queue/collector_queue.hpp>

#include <map>
#include <set>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_integration_pulsar_consumer {

using namespace sluice;
using namespace sluice::pulsar;
namespace fx = pulsar_fixture;

namespace {

outgoing_message numbered(int i) {
    outgoing_message m;
    m.payload = "payload-" + std::to_string(i);
    m.key = "k" + std::to_string(i % 5);
    m.properties.push_back({"i", std::to_string(i)});
    return m;
}

task<void> produce(client& cl, const std::string& topic, int n, compression_type c = compression_type::lz4) {
    producer_options o;
    o.topic = topic;
    o.compression = c;
    o.batch_max_messages = 64;
    producer p(cl, o);
    co_await p.start();
    std::vector<pending_send> pending;
    for (int i = 0; i < n; ++i) {
        auto m = numbered(i);
        pending.push_back(co_await p.enqueue(std::move(m)));
    }
    for (auto& s : pending) {
        auto r = co_await s.wait();
        REQUIRE(r.is_ok());
    }
    co_await p.close();
}

} // namespace

TEST_SUITE("integration-pulsar") {

TEST_CASE("a consumer receives every message once with its key and properties, and acks them all") {
    const std::string topic = fx::unique_topic("consume");
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    consumer_options o;
    o.topic = topic;
    o.subscription = "s";
    o.initial = initial_position::earliest;
    o.receiver_queue_size = 100;
    consumer c(cl, o);
    auto got = loop.run_until_complete([&]() -> task<std::vector<received_message>> {
        co_await produce(cl, topic, 500);
        co_await c.start();
        std::vector<received_message> out;
        while (out.size() < 500) {
            auto m = co_await c.receive();
            c.acknowledge(m.id);
            out.push_back(std::move(m));
        }
        co_await loop.sleep_for(std::chrono::milliseconds(100));
        co_await c.close();
        co_return out;
    }());
    REQUIRE(got.size() == 500);
    for (int i = 0; i < 500; ++i) {
        const auto& m = got[static_cast<std::size_t>(i)];
        CHECK(fx::index_of(m) == i); // one exclusive consumer: in order
        CHECK(m.payload == numbered(i).payload);
        CHECK(m.key == numbered(i).key);
        CHECK(m.redelivery_count == 0);
        CHECK(!m.corrupt);
    }
    fx::finish(loop, cl);
    auto s = fx::read_state();
    const auto& sub = s.subscriptions.at(topic + "|s");
    CHECK(sub.acked.size() == s.topics.at(topic).back().entry + 1); // every entry fully acknowledged
}

TEST_CASE("negative acks redeliver with a count; past the policy the message goes to the DLQ with its origin") {
    const std::string topic = fx::unique_topic("dlq");
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    consumer_options o;
    o.topic = topic;
    o.subscription = "s";
    o.type = subscription_type::shared;
    o.initial = initial_position::earliest;
    o.negative_ack_delay = std::chrono::milliseconds(20);
    o.dead_letter = dead_letter_policy{.max_redeliver_count = 2};
    consumer c(cl, o);
    std::map<int, std::vector<std::uint32_t>> deliveries;
    loop.run_until_complete([&]() -> task<void> {
        co_await produce(cl, topic, 30, compression_type::none);
        co_await c.start();
        // i % 3 == 0 always fails; i % 3 == 1 fails once; i % 3 == 2 succeeds at once. The thirty share
        // one batch entry: redelivered as a whole, its acknowledged messages are not handed out again.
        // Deliveries: 30 + 20 + 10, then the ten that always fail go to the DLQ.
        for (int received = 0; received < 60; ++received) {
            auto m = co_await c.receive();
            const int i = fx::index_of(m);
            deliveries[i].push_back(m.redelivery_count);
            if (i % 3 == 0 || (i % 3 == 1 && m.redelivery_count == 0))
                c.negative_acknowledge(m.id);
            else
                c.acknowledge(m.id);
        }
        while (c.stats().dead_lettered < 10) co_await loop.sleep_for(std::chrono::milliseconds(10));
        co_await c.close();
    }());
    for (int i = 0; i < 30; ++i) {
        CAPTURE(i);
        if (i % 3 == 0) CHECK(deliveries[i] == std::vector<std::uint32_t>{0, 1, 2});
        if (i % 3 == 1) CHECK(deliveries[i] == std::vector<std::uint32_t>{0, 1});
        if (i % 3 == 2) CHECK(deliveries[i] == std::vector<std::uint32_t>{0});
    }
    fx::finish(loop, cl);
    auto s = fx::read_state();
    const auto& dlq = s.topics.at(topic + "-s-DLQ");
    REQUIRE(dlq.size() == 10);
    std::set<int> dead;
    for (const auto& m : dlq) {
        dead.insert(std::stoi(m.properties.at("i")));
        CHECK(m.properties.at("REAL_TOPIC") == topic);
        CHECK(m.properties.count("ORIGIN_MESSAGE_ID") == 1);
        CHECK(m.payload == numbered(std::stoi(m.properties.at("i"))).payload);
    }
    for (int i = 0; i < 30; i += 3) CHECK(dead.count(i) == 1);
    // Every entry acknowledged, dead letters included (the thirty messages share one entry).
    CHECK(s.subscriptions.at(topic + "|s").acked.size() == static_cast<std::size_t>(s.topics.at(topic).back().entry + 1));
}

TEST_CASE("a collector queue settles each message: JSON that fails to parse or validate ends in the DLQ") {
    const std::string topic = fx::unique_topic("operators");
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    consumer_options o;
    o.topic = topic;
    o.subscription = "ops";
    o.type = subscription_type::shared;
    o.initial = initial_position::earliest;
    o.negative_ack_delay = std::chrono::milliseconds(10);
    o.dead_letter = dead_letter_policy{.max_redeliver_count = 1};
    consumer c(cl, o);
    std::set<int> processed;
    auto validate = collector<record<json_value>, void>{
        "validate", [&](const payload<record<json_value>>& p, collector_context&) -> task<void> {
            const auto& v = p.value.value.value(); // an Error rethrows: the collector reports it
            simdjson::dom::parser parser;
            auto doc = parser.parse(v.text);
            int64_t amount = 0;
            if (doc["amount"].get(amount) != simdjson::SUCCESS || amount < 0) throw std::runtime_error("invalid amount");
            processed.insert(fx::index_of(p.value.message));
            co_return;
        }};
    collector_queue<record<json_value>, void> queue(loop, {validate}, {.min_consumers = 1, .max_consumers = 8});
    source_stats stats;
    loop.run_until_complete([&]() -> task<void> {
        producer_options po;
        po.topic = topic;
        producer p(cl, po);
        co_await p.start();
        for (int i = 0; i < 40; ++i) {
            outgoing_message m;
            m.properties.push_back({"i", std::to_string(i)});
            if (i % 4 == 0)
                m.payload = "{not json";
            else if (i % 4 == 1)
                m.payload = R"({"amount":-5})";
            else
                m.payload = R"({"amount":)" + std::to_string(i) + "}";
            auto r = co_await p.send(std::move(m));
            REQUIRE(r.is_ok());
        }
        co_await p.close();
        co_await c.start();
        co_await queue.start();
        std::stop_source stop;
        auto stopper = [&]() -> task<void> {
            while (processed.size() < 20 || c.stats().dead_lettered < 20) co_await loop.sleep_for(std::chrono::milliseconds(10));
            stop.request_stop();
        };
        async_scope scope;
        scope.spawn(stopper());
        source_options<json_value> so; // named, not a braced temporary in the co_await (GCC 12)
        so.max_in_flight = 16;
        so.stop = stop.get_token();
        json_serde serde;
        stats = co_await run_source(c, queue.get_publisher(), serde, so);
        co_await scope.join();
        co_await queue.stop(std::chrono::seconds(1));
        co_await c.close();
    }());
    for (int i = 0; i < 40; ++i)
        if (i % 4 >= 2) CHECK(processed.count(i) == 1);
    CHECK(processed.size() == 20);
    CHECK(stats.undecodable >= 10); // the malformed ones, once per delivery
    fx::finish(loop, cl);
    auto s = fx::read_state();
    std::set<int> dead;
    for (const auto& m : s.topics.at(topic + "-ops-DLQ")) dead.insert(std::stoi(m.properties.at("i")));
    std::set<int> expected;
    for (int i = 0; i < 40; ++i)
        if (i % 4 < 2) expected.insert(i);
    CHECK(dead == expected);
    CHECK(s.subscriptions.at(topic + "|ops").acked.size() == 40);
}

TEST_CASE("a corrupt message is handed out as corrupt, not dropped") {
    const std::string topic = fx::unique_topic("corrupt");
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    consumer_options o;
    o.topic = topic;
    o.subscription = "s";
    o.initial = initial_position::earliest;
    consumer c(cl, o);
    fx::control("/inject?topic=" + topic + "&kind=corrupt&payload=first");
    fx::control("/inject?topic=" + topic + "&kind=bad-zlib&payload=second");
    fx::control("/inject?topic=" + topic + "&kind=plain&payload=third");
    auto got = loop.run_until_complete([&]() -> task<std::vector<received_message>> {
        co_await c.start();
        std::vector<received_message> out;
        for (int i = 0; i < 3; ++i) out.push_back(co_await c.receive());
        co_await c.close();
        co_return out;
    }());
    fx::finish(loop, cl);
    REQUIRE(got.size() == 3);
    REQUIRE(got[0].corrupt);
    CHECK(got[0].corrupt->find("checksum") != std::string::npos);
    REQUIRE(got[1].corrupt);
    CHECK(got[1].corrupt->find("zlib") != std::string::npos);
    CHECK(!got[2].corrupt);
    CHECK(got[2].payload == "third");
    CHECK(c.stats().corrupt == 2);
}

TEST_CASE("the producer survives dropped connections and a broker restart: every message stored once, in order") {
    const std::string topic = fx::unique_topic("reconnect");
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    producer_options o;
    o.topic = topic;
    o.name = "steady";
    o.batch_max_messages = 50;
    o.reconnect_initial_backoff = std::chrono::milliseconds(20);
    o.reconnect_max_backoff = std::chrono::milliseconds(200);
    producer p(cl, o);
    auto ids = loop.run_until_complete([&]() -> task<std::vector<message_id>> {
        co_await p.start();
        std::vector<pending_send> pending;
        for (int i = 0; i < 3000; ++i) {
            if (i == 500) fx::control("/drop-on-send?n=3");      // stored, receipt lost: resent, de-duplicated
            if (i == 1500) fx::control("/drop");                 // dropped between sends
            if (i == 2200) fx::control("/restart?down_ms=300");  // the broker goes away and comes back
            auto m = numbered(i);
            pending.push_back(co_await p.enqueue(std::move(m)));
            if (i % 100 == 99) co_await loop.sleep_for(std::chrono::milliseconds(5));
        }
        std::vector<message_id> out;
        for (auto& s : pending) {
            auto r = co_await s.wait();
            out.push_back(r.value());
        }
        co_await p.close();
        co_return out;
    }());
    CHECK(ids.size() == 3000);
    CHECK(p.partition_producers()[0]->stats().reconnects >= 2);
    fx::finish(loop, cl);
    auto s = fx::read_state();
    const auto& got = s.topics.at(topic);
    REQUIRE(got.size() == 3000);
    for (int i = 0; i < 3000; ++i) CHECK(std::stoi(got[static_cast<std::size_t>(i)].properties.at("i")) == i);
    CHECK(s.duplicates.at(topic) >= 1);
}

TEST_CASE("a consumer resubscribes after a drop and gets what it had not acknowledged") {
    const std::string topic = fx::unique_topic("consumer-drop");
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    consumer_options o;
    o.topic = topic;
    o.subscription = "s";
    o.initial = initial_position::earliest;
    o.reconnect_initial_backoff = std::chrono::milliseconds(20);
    consumer c(cl, o);
    std::set<int> acked;
    loop.run_until_complete([&]() -> task<void> {
        co_await produce(cl, topic, 200);
        co_await c.start();
        while (acked.size() < 200) {
            auto m = co_await c.receive();
            if (acked.size() == 100 && c.stats().reconnects == 0) {
                fx::control("/drop"); // this one is not acked: it must come again
                continue;
            }
            c.acknowledge(m.id);
            acked.insert(fx::index_of(m));
        }
        co_await loop.sleep_for(std::chrono::milliseconds(100));
        co_await c.close();
    }());
    CHECK(acked.size() == 200);
    CHECK(c.stats().reconnects >= 1);
    fx::finish(loop, cl);
    auto s = fx::read_state();
    CHECK(s.subscriptions.at(topic + "|s").acked.size() == s.topics.at(topic).back().entry + 1);
}

TEST_CASE("partitioned topics: keys land where Java's String.hashCode puts them, keyless messages spread") {
    const std::string topic = fx::unique_topic("partitioned");
    fx::control("/partitioned?name=" + topic + "&n=4");
    io_loop loop;
    client cl(loop, {.service_url = fx::get().url()});
    producer_options o;
    o.topic = topic;
    producer p(cl, o);
    std::vector<std::string> keys{"alpha", "beta", "gamma", "delta", "épsilon", "z", "", "\xF0\x9F\x98\x80 emoji"};
    loop.run_until_complete([&]() -> task<void> {
        co_await p.start();
        for (std::size_t i = 0; i < keys.size(); ++i) {
            outgoing_message m;
            m.payload = "keyed";
            m.key = keys[i];
            m.properties.push_back({"i", std::to_string(i)});
            (void)(co_await p.send(std::move(m))).value();
        }
        for (int i = 0; i < 40; ++i) {
            outgoing_message m;
            m.payload = "keyless";
            (void)(co_await p.send(std::move(m))).value();
        }
        co_await p.close();
    }());
    CHECK(p.partitions() == 4);
    // The expected partitions from JavaScript's UTF-16 strings (what Java's hashCode sees), not from sluice.
    std::string list;
    for (auto& k : keys) {
        std::string hex;
        for (unsigned char ch : k) {
            static const char* d = "0123456789abcdef";
            hex += d[ch >> 4];
            hex += d[ch & 15];
        }
        list += "'" + hex + "',";
    }
    const std::string out = fx::run("node -e \"for (const h of [" + list + "]) { const s = Buffer.from(h, 'hex').toString('utf8'); "
                                     "let x = 0; for (let i = 0; i < s.length; i++) x = (Math.imul(x, 31) + s.charCodeAt(i)) | 0; "
                                     "console.log((x & 0x7fffffff) % 4); }\"");
    std::vector<int> expected;
    for (std::size_t at = 0; at < out.size();) {
        const auto nl = out.find('\n', at);
        expected.push_back(std::stoi(out.substr(at, nl - at)));
        at = nl + 1;
    }
    REQUIRE(expected.size() == keys.size());
    fx::finish(loop, cl);
    auto s = fx::read_state();
    int keyless = 0;
    for (int part = 0; part < 4; ++part) {
        const auto it = s.topics.find(partition_topic(topic, static_cast<std::uint32_t>(part)));
        REQUIRE(it != s.topics.end());
        for (const auto& m : it->second) {
            if (m.payload == "keyless") {
                ++keyless;
                continue;
            }
            const auto i = static_cast<std::size_t>(std::stoi(m.properties.at("i")));
            CHECK(expected[i] == part);
            CHECK(m.key == keys[i]);
        }
        int here = 0;
        for (const auto& m : it->second) here += m.payload == "keyless" ? 1 : 0;
        CHECK(here == 10); // round-robin: ten each
    }
    CHECK(keyless == 40);
}

TEST_CASE("token authentication, lookup redirects and PING/PONG both ways") {
    const auto info = fx::get();
    fx::control("/config?token=s3cret");
    struct reset_token {
        ~reset_token() { fx::control("/config?token="); }
    } reset;
    io_loop loop;
    {
        client wrong(loop, {.service_url = info.url(), .connection = {.auth_token = "nope"}});
        CHECK_THROWS_AS(loop.run_until_complete(wrong.lookup("persistent://public/default/x")), broker_error);
        fx::finish(loop, wrong);
    }
    client cl(loop, {.service_url = info.url(), .connection = {.auth_token = "s3cret", .keep_alive = std::chrono::milliseconds(30)}});
    const auto before = fx::read_state();
    auto url = loop.run_until_complete(cl.lookup(fx::unique_topic("redirect-me")));
    CHECK(url == "pulsar://127.0.0.1:" + std::to_string(info.port2));
    auto plain = loop.run_until_complete(cl.lookup(fx::unique_topic("stay")));
    CHECK(plain == info.url());
    auto conn = loop.run_until_complete(cl.connection_to(info.url()));
    fx::control("/ping"); // the broker PINGs: sluice answers PONG
    loop.run_until_complete([&]() -> task<void> { co_await loop.sleep_for(std::chrono::milliseconds(200)); }());
    const auto after = fx::read_state();
    CHECK(after.pongs > before.pongs);                   // our PONGs reached the broker
    CHECK(after.pings_answered > before.pings_answered); // our keep-alive PINGs were answered
    CHECK(conn->pongs_sent() >= 1);
    CHECK(conn->pings_sent() >= 1);
    fx::finish(loop, cl);
}

TEST_CASE("sluice producer -> fixture -> pulsar-flex consumer: payloads, properties and keys byte for byte") {
    const std::string topic = fx::unique_topic("to-flex");
    const auto info = fx::get();
    // pulsar-flex subscribes at the end of the topic: start it first and wait for its "subscribed" line.
    const std::string out_file = fx::dir() + "/flex-" + std::to_string(::getpid()) + ".out";
    const std::string cmd = fx::flex_tool() + " consume 127.0.0.1:" + std::to_string(info.port) + " " + topic + " flexsub 300 20000 > " +
                            out_file + " 2>&1";
    FILE* flex = ::popen(cmd.c_str(), "r");
    REQUIRE(flex != nullptr);
    for (int i = 0; i < 200; ++i) {
        std::ifstream in(out_file);
        std::string line;
        if (std::getline(in, line) && line.find("subscribed") != std::string::npos) break;
        ::usleep(50'000);
    }
    io_loop loop;
    client cl(loop, {.service_url = info.url()});
    std::vector<std::string> payloads;
    for (int i = 0; i < 300; ++i) {
        std::string p = "to-flex-" + std::to_string(i) + ":";
        for (int b = 0; b < i % 40; ++b) p.push_back(static_cast<char>((i * 7 + b) & 0xff)); // binary, NULs included
        payloads.push_back(p);
    }
    loop.run_until_complete([&]() -> task<void> {
        producer_options o;
        o.topic = topic;
        o.batch_max_messages = 32; // pulsar-flex reads batches, not compression
        producer p(cl, o);
        co_await p.start();
        for (int i = 0; i < 300; ++i) {
            outgoing_message m;
            m.payload = payloads[static_cast<std::size_t>(i)];
            m.key = "key-" + std::to_string(i % 9);
            m.properties.push_back({"i", std::to_string(i)});
            m.properties.push_back({"origin", "sluice"});
            auto r = co_await p.send(std::move(m));
            REQUIRE(r.is_ok());
        }
        co_await p.close();
    }());
    fx::finish(loop, cl);
    REQUIRE(::pclose(flex) == 0);
    std::ifstream in(out_file);
    std::string line;
    std::set<int> seen;
    simdjson::dom::parser parser;
    while (std::getline(in, line)) {
        if (line.find("payload") == std::string::npos) continue;
        auto doc = parser.parse(line);
        const int i = std::stoi(fx::str(doc["properties"]["i"]));
        CHECK(seen.insert(i).second);
        CHECK(fx::base64_decode(fx::str(doc["payload"])) == payloads[static_cast<std::size_t>(i)]);
        CHECK(fx::str(doc["properties"]["origin"]) == "sluice");
        CHECK(fx::str(doc["partitionKey"]) == "key-" + std::to_string(i % 9));
    }
    CHECK(seen.size() == 300);
}

TEST_CASE("pulsar-flex producer -> fixture -> sluice consumer: payloads and properties as sent") {
    const std::string topic = fx::unique_topic("from-flex");
    const auto info = fx::get();
    io_loop loop;
    client cl(loop, {.service_url = info.url()});
    consumer_options o;
    o.topic = topic;
    o.subscription = "s";
    o.initial = initial_position::earliest;
    consumer c(cl, o);
    fx::run(fx::flex_tool() + " produce 127.0.0.1:" + std::to_string(info.port) + " " + topic + " 40");
    fx::run(fx::flex_tool() + " produce 127.0.0.1:" + std::to_string(info.port) + " " + topic + " 35 batch");
    auto got = loop.run_until_complete([&]() -> task<std::vector<received_message>> {
        co_await c.start();
        std::vector<received_message> out;
        while (out.size() < 75) {
            auto m = co_await c.receive();
            c.acknowledge(m.id);
            out.push_back(std::move(m));
        }
        co_await c.close();
        co_return out;
    }());
    fx::finish(loop, cl);
    for (std::size_t k = 0; k < got.size(); ++k) {
        const int i = k < 40 ? static_cast<int>(k) : static_cast<int>(k - 40);
        CHECK(got[k].payload == "flex-" + std::to_string(i));
        CHECK(got[k].property("i") == std::to_string(i));
        CHECK(got[k].property("origin") == "pulsar-flex");
        CHECK(got[k].id.batch_index == (k < 40 ? -1 : static_cast<std::int32_t>((k - 40) % 10)));
    }
}

} // TEST_SUITE

} // namespace test_integration_pulsar_consumer

#endif
