// Reliable delivery, end to end: publishers hand orders to a collector queue; its processor delivers
// each through a delivery_pipeline (batching, retries, a disk buffer for what the memory buffer cannot
// hold) and answers the publisher only when the sink acknowledged the record, or once the record is
// safely on disk. The sink fails on purpose (an outage at start, then 5% of entries), so retries and
// the disk buffer do real work. Every order is counted by id at the sink: the program exits non-zero
// unless each was delivered exactly once.
//
//   reliable_delivery [--count N] [--dir DIRECTORY]

#include <sluice/core/task.hpp>
#include <sluice/delivery/collector_delivery.hpp>
#include <sluice/delivery/pipeline.hpp>
#include <sluice/queue/collector_queue.hpp>
#include <sluice/sinks/fault_injecting_sink.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

using namespace sluice;

namespace {

/// The delivery engine's view of the order: its id, parsed back at the sink to account for it.
std::string order_json(std::size_t id) { return "{\"order\":" + std::to_string(id) + ",\"amount\":42}"; }

std::size_t order_id(std::string_view json) {
    const auto digits = json.substr(json.find(':') + 1);
    return std::strtoull(std::string(digits.substr(0, digits.find(','))).c_str(), nullptr, 10);
}

} // namespace

int main(int argc, char** argv) {
    std::size_t count = 5000;
    std::filesystem::path dir = std::filesystem::temp_directory_path() / "sluice-reliable-delivery";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--count") count = std::strtoull(argv[i + 1], nullptr, 10);
        else if (flag == "--dir") dir = argv[i + 1];
        else {
            std::fprintf(stderr, "usage: reliable_delivery [--count N] [--dir DIRECTORY]\n");
            return 2;
        }
    }
    std::filesystem::remove_all(dir); // a fresh buffer: this run accounts for its own records only

    io_loop loop;
    fault_injecting_sink sink(loop, {.fail_first_requests = 3, .entry_failure_rate = 0.05,
                                     .latency = std::chrono::milliseconds(2)});

    delivery_options o;
    o.name = "orders";
    o.batch.max_events = 200;
    o.batch.max_age = std::chrono::milliseconds(20);
    // A small memory buffer: what does not fit spills to the disk buffer and drains back in order,
    // and the sender is answered once its record is durable.
    o.buffer.max_events = 1000;
    o.buffer.policy = when_full::overflow;
    o.disk.emplace().directory = dir;
    o.retry.max_attempts = 10;
    o.retry.initial_backoff = std::chrono::milliseconds(5);
    delivery_pipeline<fault_injecting_sink> pipeline(loop, sink, o);

    // The collector hands each record to the pipeline (delivering_processor: submit() and a callback,
    // no coroutine frame per record) and the payload's result is the pipeline's receipt: acknowledged
    // by the sink, or persisted to disk first. Its consumer never waits for the acknowledgement, so
    // what is in flight is bounded by the queue's capacity and the engine's buffer, not by
    // max_consumers, and batches fill with default options.
    auto deliver = collector<std::string, delivery_receipt>{
        "orders",
        delivering_processor<std::string>(pipeline, [](const payload<std::string>& p) { return p.value; })};
    collector_queue<std::string, delivery_receipt> queue(loop, {deliver}, {.capacity = 4096});

    std::size_t acknowledged = 0, persisted = 0, failed = 0;
    auto run = [&]() -> task<delivery_report> {
        co_await pipeline.start();
        co_await queue.start();
        auto publisher = queue.get_publisher();
        std::vector<collector_event<delivery_receipt>> events;
        events.reserve(count);
        for (std::size_t id = 0; id < count; ++id) {
            auto p = payload<std::string>::broadcast(order_json(id));
            events.push_back(co_await publisher.send(std::move(p)));
        }
        for (auto& event : events) {
            const result_list<delivery_receipt>& results = co_await event.wait();
            const auto& r = results.first();
            if (r.is_error()) {
                ++failed;
                std::fprintf(stderr, "not delivered: %s\n", r.get_error().what().c_str());
            } else if (!r.value().persisted) {
                ++acknowledged;
            } else {
                ++persisted;
            }
        }
        co_await queue.stop(std::chrono::seconds(5));
        // What was answered "persisted" is still on its way: stop drains it within the grace.
        co_return co_await pipeline.stop(std::chrono::seconds(30));
    };
    const delivery_report report = loop.run_until_complete(run());

    // Account for every order by id at the sink.
    std::vector<unsigned> seen(count, 0);
    std::size_t unknown = 0;
    for (const auto& record : sink.delivered()) {
        const std::size_t id = order_id(record);
        if (id < count) ++seen[id];
        else ++unknown;
    }
    std::size_t missing = 0, duplicated = 0;
    for (auto n : seen) {
        if (n == 0) ++missing;
        if (n > 1) ++duplicated;
    }
    const auto stats = pipeline.stats();
    std::printf("orders %zu: acknowledged by the sink %zu, persisted to disk first %zu, failed %zu\n", count,
                acknowledged, persisted, failed);
    std::printf("sink: %zu requests (%zu failed whole, %zu entries failed), %zu records delivered\n",
                sink.requests(), sink.failed_requests(), sink.failed_entries(), sink.delivered().size());
    std::printf("engine: %llu retried, %llu written to disk, %llu read back, %llu unprocessed at stop\n",
                static_cast<unsigned long long>(stats.retried), static_cast<unsigned long long>(stats.persisted),
                static_cast<unsigned long long>(stats.replayed), static_cast<unsigned long long>(report.unprocessed));
    std::printf("by id: %zu missing, %zu duplicated, %zu unknown\n", missing, duplicated, unknown);
    std::filesystem::remove_all(dir);
    return (failed == 0 && missing == 0 && duplicated == 0 && unknown == 0 && acknowledged + persisted == count) ? 0 : 1;
}
