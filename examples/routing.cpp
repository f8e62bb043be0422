// A tour of collector queues: three collectors, payloads routed by key, by topic and to everyone,
// results awaited per payload, a failing collector, and a clean stop. README's Usage section quotes it.

#include <sluice/sluice.hpp>

#include <cstdio>
#include <stdexcept>
#include <string>

using namespace sluice;

int main() {
    io_loop loop; // io_uring, or epoll where the kernel refuses io_uring

    // A collector: a unique key, a processor coroutine, optional topics, setup and teardown.
    auto shout = collector<std::string, std::size_t>{
        "shout",
        [](const payload<std::string>& p, collector_context&) -> task<std::size_t> {
            std::printf("shout: %s!\n", p.value.c_str());
            co_return p.value.size();
        },
        {"greetings"}};
    auto count = collector<std::string, std::size_t>{
        "count", [n = std::size_t{0}](const payload<std::string>&, collector_context&) mutable -> task<std::size_t> {
            co_return ++n;
        }};
    auto picky = collector<std::string, std::size_t>{
        "picky",
        [](const payload<std::string>& p, collector_context&) -> task<std::size_t> {
            if (p.value.empty()) throw std::invalid_argument("empty greeting");
            co_return 0;
        },
        {"greetings"}};

    collector_queue<std::string, std::size_t> queue(loop, {shout, count, picky},
                                                    {.min_consumers = 1, .max_consumers = 4, .capacity = 1024});

    auto report = loop.run_until_complete([&]() -> task<stop_report> {
        co_await queue.start();
        auto publisher = queue.get_publisher();

        // By key: only "count" sees it.
        auto by_key = co_await publisher.send(payload<std::string>::to_keys("hello", {"count"}));
        // By topic: the subscribers of "greetings" ("shout" and "picky").
        auto by_topic = co_await publisher.send(payload<std::string>::to_topics("", {"greetings"}));
        // Broadcast (the default): everyone.
        auto to_all = co_await publisher.send(payload<std::string>::broadcast("hi"));

        for (auto* event : {&by_key, &by_topic, &to_all}) {
            const result_list<std::size_t>& results = co_await event->wait();
            for (const auto& r : results) {
                if (r.is_ok())
                    std::printf("  %-6s ok    %zu\n", r.source().c_str(), r.value());
                else
                    std::printf("  %-6s error %s\n", r.source().c_str(), r.get_error().what().c_str());
            }
        }
        co_return co_await queue.stop(std::chrono::seconds(1));
    }());

    auto stats = queue.stats();
    std::printf("processed %llu payloads, %llu deliveries, %llu errors, drained: %s\n",
                static_cast<unsigned long long>(stats.processed), static_cast<unsigned long long>(stats.deliveries),
                static_cast<unsigned long long>(stats.failed), report.drained ? "yes" : "no");
    return stats.failed == 1 ? 0 : 1; // exactly the picky collector's refusal
}
