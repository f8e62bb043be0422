// The "direct" approach: consume from one Pulsar topic, transform, produce to another, at full speed,
// acknowledging each input message once its output is stored (at-least-once end to end).
//
//   pulsar_direct --service-url pulsar://127.0.0.1:6650 --in orders --out orders-upper --count 1000
//
// For the demonstration it first produces --count messages to --in itself; it exits non-zero unless
// every one of them reached --out.

#include <sluice/io/loop.hpp>
#include <sluice/pulsar/consumer.hpp>
#include <sluice/pulsar/producer.hpp>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>
#include <algorithm>

using namespace sluice;
using namespace sluice::pulsar;

int main(int argc, char** argv) {
    std::string url = "pulsar://127.0.0.1:6650", in = "direct-in", out = "direct-out";
    int count = 1000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--service-url")) url = argv[i + 1];
        else if (!std::strcmp(argv[i], "--in")) in = argv[i + 1];
        else if (!std::strcmp(argv[i], "--out")) out = argv[i + 1];
        else if (!std::strcmp(argv[i], "--count")) count = std::atoi(argv[i + 1]);
    }
    io_loop loop;
    client pulsar(loop, {.service_url = url});
    auto run = [&]() -> task<int> {
        producer_options seed_options;
        seed_options.block_if_queue_full = true; // wait for room rather than refuse
        seed_options.topic = in;
        producer seed(pulsar, seed_options);
        co_await seed.start();
        for (int i = 0; i < count; ++i) {
            outgoing_message m;
            m.payload = "order " + std::to_string(i);
            (void)co_await seed.enqueue(std::move(m));
        }
        co_await seed.close();

        consumer_options co;
        co.topic = in;
        co.subscription = "direct";
        co.initial = initial_position::earliest;
        consumer source(pulsar, co);
        producer_options po;
        po.topic = out;
        po.compression = compression_type::lz4;
        producer sink(pulsar, po);
        co_await source.start();
        co_await sink.start();
        // Windows of up to 256 messages: each transformed message is queued without waiting (the
        // producer batches them), then every input is acknowledged once its output is stored.
        int produced = 0;
        for (int done = 0; done < count;) {
            const int window = std::min(256, count - done);
            std::vector<std::pair<message_id, pending_send>> in_flight;
            for (int i = 0; i < window; ++i) {
                received_message m = co_await source.receive();
                outgoing_message t;
                t.payload = m.payload;
                for (auto& c : t.payload) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                t.properties.push_back({"source-id", m.id.to_string()});
                auto pending = co_await sink.enqueue(std::move(t));
                in_flight.emplace_back(m.id, std::move(pending));
            }
            for (auto& [id, pending] : in_flight) {
                auto r = co_await pending.wait();
                if (r.is_ok()) {
                    source.acknowledge(id);
                    ++produced;
                } else {
                    source.negative_acknowledge(id);
                    std::fprintf(stderr, "pulsar_direct: %s\n", r.get_error().what().c_str());
                }
            }
            done += window;
        }
        co_await sink.close();
        co_await source.close();
        std::printf("pulsar_direct: %d of %d messages transformed from %s to %s\n", produced, count, in.c_str(), out.c_str());
        co_return produced == count ? 0 : 1;
    };
    try {
        const int rc = loop.run_until_complete(run());
        pulsar.close();
        loop.drain(); // the connections' coroutines end
        return rc;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pulsar_direct: %s\n", e.what());
        return 2;
    }
}
