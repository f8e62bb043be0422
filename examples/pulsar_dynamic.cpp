// The "dynamic sink": every message names its own topic (multi-tenant routing). A producer per topic
// is created on first use, cached, and closed when idle; each send resolves with its message id.
//
//   pulsar_dynamic --service-url pulsar://127.0.0.1:6650 --prefix events --tenants 5 --count 500
//
// Sends --count messages spread over --tenants topics <prefix>-tenant-<n>; exits non-zero unless
// every one was stored.

#include <sluice/io/loop.hpp>
#include <sluice/pulsar/producer.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace sluice;
using namespace sluice::pulsar;

int main(int argc, char** argv) {
    std::string url = "pulsar://127.0.0.1:6650", prefix = "events";
    int tenants = 5, count = 500;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--service-url")) url = argv[i + 1];
        else if (!std::strcmp(argv[i], "--prefix")) prefix = argv[i + 1];
        else if (!std::strcmp(argv[i], "--tenants")) tenants = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--count")) count = std::atoi(argv[i + 1]);
    }
    io_loop loop;
    client pulsar(loop, {.service_url = url});
    dynamic_producer_options o;
    o.producer.compression = compression_type::zstd;
    o.producer.block_if_queue_full = true;
    o.idle_timeout = std::chrono::seconds(30);
    dynamic_producer sink(pulsar, o);
    auto run = [&]() -> task<int> {
        sink.start();
        std::vector<pending_send> pending;
        for (int i = 0; i < count; ++i) {
            outgoing_message m;
            m.topic = prefix + "-tenant-" + std::to_string(i % tenants);
            m.payload = "{\"event\":" + std::to_string(i) + "}";
            m.key = "user-" + std::to_string(i % 17);
            pending.push_back(co_await sink.enqueue(std::move(m)));
        }
        int stored = 0;
        for (auto& p : pending) {
            auto r = co_await p.wait();
            if (r.is_ok()) ++stored;
            else std::fprintf(stderr, "pulsar_dynamic: %s\n", r.get_error().what().c_str());
        }
        const auto topics = sink.topics().size();
        co_await sink.close();
        std::printf("pulsar_dynamic: %d of %d messages stored across %zu topics\n", stored, count, topics);
        co_return stored == count && topics == static_cast<std::size_t>(tenants) ? 0 : 1;
    };
    try {
        const int rc = loop.run_until_complete(run());
        pulsar.close();
        loop.drain(); // the connections' coroutines end
        return rc;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pulsar_dynamic: %s\n", e.what());
        return 2;
    }
}
