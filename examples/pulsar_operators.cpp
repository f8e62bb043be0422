// The "operators" approach: deserialize JSON with a serde, validate in a collector, and let errors
// take the error stream: a message that is not JSON, or fails validation, is negatively acknowledged,
// redelivered, and after --max-redeliveries produced to the dead-letter topic with its origin.
//
//   pulsar_operators --service-url pulsar://127.0.0.1:6650 --topic payments --count 100
//
// For the demonstration it first produces --count messages, one in five malformed and one in five
// invalid; it exits non-zero unless the valid ones were processed and the rest dead-lettered.

#include <sluice/io/loop.hpp>
#include <sluice/pulsar/producer.hpp>
#include <sluice/pulsar/source.hpp>
#include <sluice/pulsar/json_serde.hpp>
#include <sluice/queue/collector_queue.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

using namespace sluice;
using namespace sluice::pulsar;

int main(int argc, char** argv) {
    std::string url = "pulsar://127.0.0.1:6650", topic = "payments";
    int count = 100;
    unsigned max_redeliveries = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--service-url")) url = argv[i + 1];
        else if (!std::strcmp(argv[i], "--topic")) topic = argv[i + 1];
        else if (!std::strcmp(argv[i], "--count")) count = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--max-redeliveries")) max_redeliveries = static_cast<unsigned>(std::atoi(argv[i + 1]));
    }
    io_loop loop;
    client pulsar(loop, {.service_url = url});
    int valid = 0;
    auto validate = collector<record<json_value>, void>{
        "validate", [&](const payload<record<json_value>>& p, collector_context&) -> task<void> {
            const json_value& v = p.value.value.value(); // a deserialization Error rethrows here
            simdjson::dom::parser parser;
            double amount = 0;
            if (parser.parse(v.text)["amount"].get(amount) != simdjson::SUCCESS || amount <= 0)
                throw std::invalid_argument("amount must be a positive number");
            ++valid;
            co_return;
        }};
    collector_queue<record<json_value>, void> queue(loop, {validate}, {.min_consumers = 1, .max_consumers = 16});
    auto run = [&]() -> task<int> {
        producer_options po;
        po.block_if_queue_full = true; // wait for room rather than refuse
        po.topic = topic;
        producer seed(pulsar, po);
        co_await seed.start();
        int expected_valid = 0;
        for (int i = 0; i < count; ++i) {
            outgoing_message m;
            if (i % 5 == 0) {
                m.payload = "{\"amount\": oops";
            } else if (i % 5 == 1) {
                m.payload = "{\"amount\": -1}";
            } else {
                m.payload = "{\"amount\": " + std::to_string(i) + ".5}";
                ++expected_valid;
            }
            (void)co_await seed.enqueue(std::move(m));
        }
        co_await seed.close();

        consumer_options co;
        co.topic = topic;
        co.subscription = "operators";
        co.type = subscription_type::shared;
        co.initial = initial_position::earliest;
        co.negative_ack_delay = std::chrono::milliseconds(50);
        co.dead_letter = dead_letter_policy{.max_redeliver_count = max_redeliveries};
        consumer source(pulsar, co);
        co_await source.start();
        co_await queue.start();
        std::stop_source stop;
        const int expected_dead = count - expected_valid;
        auto watch = [&]() -> task<void> {
            while (valid < expected_valid || source.stats().dead_lettered < static_cast<std::uint64_t>(expected_dead))
                co_await loop.sleep_for(std::chrono::milliseconds(20));
            stop.request_stop();
        };
        async_scope scope;
        scope.spawn(watch());
        source_options<json_value> so;
        so.stop = stop.get_token();
        json_serde serde;
        auto stats = co_await run_source(source, queue.get_publisher(), serde, so);
        co_await scope.join();
        co_await queue.stop(std::chrono::seconds(1));
        co_await source.close();
        std::printf("pulsar_operators: %d valid, %llu dead-lettered to %s-operators-DLQ, %zu deliveries failed to deserialize\n",
                    valid, static_cast<unsigned long long>(source.stats().dead_lettered), topic.c_str(), stats.undecodable);
        co_return valid == expected_valid ? 0 : 1;
    };
    try {
        const int rc = loop.run_until_complete(run());
        pulsar.close();
        loop.drain(); // the connections' coroutines end
        return rc;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pulsar_operators: %s\n", e.what());
        return 2;
    }
}
