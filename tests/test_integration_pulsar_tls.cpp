// Integration suite "integration-pulsar-tls": pulsar+ssl:// against the fixture broker's TLS
// listeners (Node's tls module; the certificate names DNS:localhost only, issued by a CA that
// scripts/pulsar-fixture.sh makes at each start). Produce and consume over TLS with every message
// counted by id in what the fixture stored, a lookup redirect that must follow the broker's TLS URL,
// and the refusals: the wrong host, an untrusted CA, a plain listener; verification off only when
// the loudly named option says so.

#include <doctest/doctest.h>

#if SLUICE_HAS_SIMDJSON && SLUICE_HAS_OPENSSL

#include "pulsar_fixture.hpp"

#include <sluice/io/loop.hpp>
#include <sluice/pulsar/consumer.hpp>
#include <sluice/pulsar/producer.hpp>

#include <set>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_integration_pulsar_tls {

using namespace sluice;
using namespace sluice::pulsar;
namespace fx = pulsar_fixture;

namespace {

client_options tls_client(const std::string& url) {
    client_options o;
    o.service_url = url;
    o.tls.ca_file = fx::tls_ca_file();
    o.connection.connect_timeout = std::chrono::seconds(5);
    return o;
}

/// Produces `n` numbered messages; returns how many succeeded.
task<int> produce_over_tls(client& cl, const std::string& topic, int n) {
    producer_options o;
    o.topic = topic;
    o.batch_max_messages = 32;
    producer p(cl, o);
    co_await p.start();
    std::vector<pending_send> pending;
    for (int i = 0; i < n; ++i) {
        outgoing_message m;
        m.payload = "tls-" + std::to_string(i);
        m.properties.push_back({"i", std::to_string(i)});
        pending.push_back(co_await p.enqueue(std::move(m)));
    }
    int ok = 0;
    for (auto& s : pending) {
        auto r = co_await s.wait();
        ok += r.is_ok() ? 1 : 0;
    }
    co_await p.close();
    co_return ok;
}

/// Starts a producer on `url` and returns the connection_error's text; fails when it connects.
std::string refusal(client_options o, const std::string& topic) {
    io_loop loop;
    client cl(loop, std::move(o));
    std::string what;
    loop.run_until_complete([&]() -> task<void> {
        producer_options po;
        po.topic = topic;
        producer p(cl, po);
        try {
            co_await p.start();
        } catch (const connection_error& e) {
            what = e.what();
        }
    }());
    fx::finish(loop, cl);
    REQUIRE_MESSAGE(!what.empty(), "the connection was not refused");
    return what;
}

} // namespace

TEST_SUITE("integration-pulsar-tls") {

TEST_CASE("pulsar+ssl: produce and consume over TLS; every message stored and received once") {
    const auto info = fx::get();
    REQUIRE_MESSAGE(info.tls_port != 0, "the fixture has no TLS listener (scripts/pulsar-fixture.sh makes one)");
    const std::string topic = fx::unique_topic("tls");
    constexpr int n = 300;
    io_loop loop;
    client cl(loop, tls_client(info.tls_url()));
    CHECK(cl.uses_tls());
    consumer_options co;
    co.topic = topic;
    co.subscription = "s";
    co.initial = initial_position::earliest;
    consumer c(cl, co);
    std::set<int> received;
    const int produced = loop.run_until_complete([&]() -> task<int> {
        const int ok = co_await produce_over_tls(cl, topic, n);
        co_await c.start();
        while (received.size() < static_cast<std::size_t>(n)) {
            auto m = co_await c.receive();
            const int i = std::stoi(std::string(m.property("i").value_or("-1")));
            CHECK(m.payload == "tls-" + std::to_string(i));
            CHECK(received.insert(i).second);
            c.acknowledge(m.id);
        }
        co_await c.close();
        co_return ok;
    }());
    CHECK(produced == n);
    CHECK(received.size() == static_cast<std::size_t>(n));
    CHECK(*received.begin() == 0);
    CHECK(*received.rbegin() == n - 1);
    fx::finish(loop, cl);
    const auto s = fx::read_state();
    std::set<std::string> stored;
    for (const auto& m : s.topics.at(topic)) stored.insert(m.payload);
    CHECK(stored.size() == static_cast<std::size_t>(n));
    CHECK(s.topics.at(topic).size() == static_cast<std::size_t>(n));
}

TEST_CASE("pulsar+ssl: a lookup redirect follows the broker's TLS URL to its second TLS listener") {
    const auto info = fx::get();
    const std::string topic = fx::unique_topic("tls-redirect");
    io_loop loop;
    client cl(loop, tls_client(info.tls_url()));
    std::string url;
    const int produced = loop.run_until_complete([&]() -> task<int> {
        url = co_await cl.lookup(topic);
        co_return co_await produce_over_tls(cl, topic, 10);
    }());
    CHECK(url == "pulsar+ssl://localhost:" + std::to_string(info.tls_port2));
    CHECK(produced == 10);
    CHECK(cl.connections() == 2); // the service URL's and the redirect's, both TLS
    fx::finish(loop, cl);
    CHECK(fx::read_state().topics.at(topic).size() == 10);
}

TEST_CASE("pulsar+ssl: the wrong host, an untrusted CA and a plain listener are refused with the reason") {
    const auto info = fx::get();
    const std::string topic = fx::unique_topic("tls-refused");
    // The certificate names localhost only: 127.0.0.1 is another host.
    const std::string wrong = refusal(tls_client("pulsar+ssl://127.0.0.1:" + std::to_string(info.tls_port)), topic);
    CHECK(wrong.find("127.0.0.1:" + std::to_string(info.tls_port)) != std::string::npos);
    CHECK(wrong.find("did not verify: IP address mismatch") != std::string::npos);

    client_options system_cas = tls_client(info.tls_url()); // the system's CAs do not know the test CA
    system_cas.tls.ca_file.clear();
    const std::string untrusted = refusal(system_cas, topic);
    CHECK(untrusted.find("did not verify: unable to get local issuer certificate") != std::string::npos);

    const std::string plain = refusal(tls_client("pulsar+ssl://127.0.0.1:" + std::to_string(info.port)), topic);
    CHECK(plain.find("handshake") != std::string::npos);

    CHECK(fx::read_state().topics.count(topic) == 0); // nothing reached the broker
}

TEST_CASE("pulsar+ssl: verification off only through insecure_skip_verify / insecure_skip_hostname_check") {
    const auto info = fx::get();
    const std::string topic = fx::unique_topic("tls-insecure");
    const std::string by_ip = "pulsar+ssl://127.0.0.1:" + std::to_string(info.tls_port);
    int produced = 0;
    {
        client_options o = tls_client(by_ip);
        o.tls.insecure_skip_hostname_check = true; // the chain still verifies against the test CA
        io_loop loop;
        client cl(loop, o);
        produced += loop.run_until_complete(produce_over_tls(cl, topic, 5));
        fx::finish(loop, cl);
    }
    {
        client_options o = tls_client(by_ip);
        o.tls.ca_file.clear();
        o.tls.insecure_skip_verify = true;
        io_loop loop;
        client cl(loop, o);
        produced += loop.run_until_complete(produce_over_tls(cl, topic, 5));
        fx::finish(loop, cl);
    }
    CHECK(produced == 10);
    CHECK(fx::read_state().topics.at(topic).size() == 10);
}

} // TEST_SUITE

} // namespace test_integration_pulsar_tls

#endif
