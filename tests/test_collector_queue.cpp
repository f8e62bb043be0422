// collector_queue: ordering per discipline, routing per mode, results per collector, exceptions,
// lifecycle, consumer scaling, backpressure, publishers on many threads, stop with work in flight.

#include <doctest/doctest.h>

#include <sluice/core/sync_wait.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/queue/collector_queue.hpp>

#include <algorithm>
#include <atomic>
#include <optional>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_collector_queue {

using namespace sluice;
using namespace std::chrono_literals;

namespace {

/// A processor that records what it saw, in order, and answers with a value derived from it.
struct recorder {
    std::vector<int> seen;
    collector<int, int> make(std::string key, std::vector<std::string> topics = {}, int factor = 1) {
        return collector<int, int>{std::move(key),
                                   [this, factor](const payload<int>& p, collector_context&) -> task<int> {
                                       seen.push_back(p.value);
                                       co_return p.value * factor;
                                   },
                                   std::move(topics)};
    }
};

template <class Queue>
std::vector<int> drain_values(io_loop& loop, Queue& q, std::vector<collector_event<int>>& events) {
    std::vector<int> values;
    loop.run_until_complete([&]() -> task<void> {
        for (auto& e : events) {
            const auto& r = co_await e.wait();
            values.push_back(r.first().value());
        }
    }());
    (void)q;
    return values;
}

} // namespace

TEST_SUITE("collector_queue") {

TEST_CASE("FIFO takes the backlog oldest first") {
    io_loop loop;
    recorder rec;
    collector_queue<int, int, queue_discipline::fifo> q(loop, {rec.make("a")}, {.min_consumers = 1, .max_consumers = 1});
    auto pub = q.get_publisher();
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        // Published without yielding: the consumer finds them all in the backlog.
        for (int i = 0; i < 20; ++i) REQUIRE(pub.try_publish(payload<int>::broadcast(i)));
        co_await q.stop();
    }());
    std::vector<int> expected(20);
    for (int i = 0; i < 20; ++i) expected[static_cast<std::size_t>(i)] = i;
    CHECK(rec.seen == expected);
}

TEST_CASE("LIFO takes the backlog newest first") {
    io_loop loop;
    recorder rec;
    collector_queue<int, int, queue_discipline::lifo> q(loop, {rec.make("a")}, {.min_consumers = 1, .max_consumers = 1});
    auto pub = q.get_publisher();
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        for (int i = 0; i < 5; ++i) REQUIRE(pub.try_publish(payload<int>::broadcast(i)));
        co_await q.stop();
    }());
    CHECK(rec.seen == std::vector<int>{4, 3, 2, 1, 0});
}

TEST_CASE("priority takes the lowest priority value first, ties in arrival order") {
    io_loop loop;
    recorder rec;
    collector_queue<int, int, queue_discipline::priority> q(
        loop, {rec.make("a")}, {.min_consumers = 1, .max_consumers = 1, .default_priority = 5});
    auto pub = q.get_publisher();
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        REQUIRE(pub.try_publish(payload<int>::broadcast(1, 9)));
        REQUIRE(pub.try_publish(payload<int>::broadcast(2)));    // default 5
        REQUIRE(pub.try_publish(payload<int>::broadcast(3, 0)));
        REQUIRE(pub.try_publish(payload<int>::broadcast(4, 5)));
        REQUIRE(pub.try_publish(payload<int>::broadcast(5, -3)));
        REQUIRE(pub.try_publish(payload<int>::broadcast(6)));    // default 5, after 2 and 4
        co_await q.stop();
    }());
    CHECK(rec.seen == std::vector<int>{5, 3, 2, 4, 6, 1});
}

TEST_CASE("the backlog's order holds while a busy consumer works through it") {
    io_loop loop;
    std::vector<int> seen;
    collector<int, int> slow{"slow", [&](const payload<int>& p, collector_context& ctx) -> task<int> {
                                 co_await ctx.loop().sleep_for(1ms);
                                 seen.push_back(p.value);
                                 co_return 0;
                             }};
    collector_queue<int, int, queue_discipline::lifo> q(loop, {slow}, {.min_consumers = 1, .max_consumers = 1});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        co_await loop.schedule(); // let the consumer start and park idle
        auto pub = q.get_publisher();
        co_await pub.publish(payload<int>::broadcast(0)); // handed straight to the idle consumer
        co_await loop.schedule();                          // which starts on it
        for (int i = 1; i <= 4; ++i) co_await pub.publish(payload<int>::broadcast(i));
        co_await q.stop();
    }());
    CHECK(seen == std::vector<int>{0, 4, 3, 2, 1});
}

TEST_CASE("key delivery reaches exactly the named collectors, with one result each") {
    io_loop loop;
    recorder a, b, c;
    collector_queue<int, int> q(loop, {a.make("a", {}, 1), b.make("b", {}, 10), c.make("c", {}, 100)});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto pub = q.get_publisher();
        auto ev = co_await pub.send(payload<int>::to_keys(7, {"c", "a"}));
        const auto& r = co_await ev.wait();
        REQUIRE(r.size() == 2);
        CHECK(r[0].source() == "c");
        CHECK(r[0].value() == 700);
        CHECK(r[1].source() == "a");
        CHECK(r[1].value() == 7);
        CHECK(r.all_ok());

        // The same key twice is delivered once.
        auto twice = co_await pub.send(payload<int>::to_keys(1, {"b", "b"}));
        CHECK((co_await twice.wait()).size() == 1);
        co_await q.stop();
    }());
    CHECK(a.seen == std::vector<int>{7});
    CHECK(b.seen == std::vector<int>{1});
    CHECK(c.seen == std::vector<int>{7});
}

TEST_CASE("topic delivery reaches subscribers once each, in collector order") {
    io_loop loop;
    recorder a, b, c;
    collector_queue<int, int> q(loop, {a.make("a", {"orders"}), b.make("b", {"orders", "payments"}), c.make("c", {"payments"})});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto pub = q.get_publisher();
        auto both = co_await pub.send(payload<int>::to_topics(1, {"payments", "orders"}));
        const auto& r = co_await both.wait();
        REQUIRE(r.size() == 3);
        std::vector<std::string> sources;
        for (const auto& x : r) sources.push_back(x.source());
        // payments subscribers first (b, c), then orders adds a; b is not repeated
        CHECK(sources == std::vector<std::string>{"b", "c", "a"});

        auto orders = co_await pub.send(payload<int>::to_topics(2, {"orders"}));
        CHECK((co_await orders.wait()).size() == 2);
        co_await q.stop();
    }());
    CHECK(a.seen == std::vector<int>{1, 2});
    CHECK(b.seen == std::vector<int>{1, 2});
    CHECK(c.seen == std::vector<int>{1});
}

TEST_CASE("broadcast reaches every collector; results come in collector order") {
    io_loop loop;
    recorder a, b, c;
    collector_queue<int, int> q(loop, {a.make("a", {}, 1), b.make("b", {}, 2), c.make("c", {}, 3)});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto ev = co_await q.get_publisher().send(payload<int>::broadcast(5));
        const auto& r = co_await ev.wait();
        REQUIRE(r.size() == 3);
        CHECK(r[0].value() == 5);
        CHECK(r[1].value() == 10);
        CHECK(r[2].value() == 15);
        co_await q.stop();
    }());
}

TEST_CASE("result: an Error's error is kept off line, with value semantics; an Ok stays small") {
    static_assert(sizeof(result<std::uint64_t>) < sizeof(error) + sizeof(std::string),
                  "an Ok result must not carry an error's bytes inline");
    error e;
    e.source = "s3";
    e.message = "slow down";
    e.code = std::make_error_code(std::errc::timed_out);
    auto failed = result<int>::failure(e);
    failed.set_source("archive");

    result<int> copy = failed; // a deep copy: changing one leaves the other
    REQUIRE(copy.is_error());
    CHECK(copy.get_error().message == "slow down");
    CHECK(&copy.get_error() != &failed.get_error());
    copy = result<int>::ok(7);
    CHECK(failed.get_error().what() == "s3: slow down");
    CHECK(failed.source() == "archive");

    result<int> assigned;
    assigned = failed;
    CHECK(assigned.get_error().code == std::errc::timed_out);
    CHECK_THROWS_AS((void)assigned.value(), std::system_error);

    result<int> moved = std::move(failed);
    CHECK(moved.get_error().message == "slow down");
    CHECK(failed.is_error()); // NOLINT(bugprone-use-after-move): a moved-from Error stays readable
    CHECK(failed.get_error().message.empty());
    CHECK(copy.value() == 7);
}

TEST_CASE("an unknown key or topic resolves as one empty Ok and is counted") {
    io_loop loop;
    recorder a;
    collector_queue<int, int> q(loop, {a.make("a", {"t"})});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto pub = q.get_publisher();
        auto k = co_await pub.send(payload<int>::to_keys(1, {"nope"}));
        const auto& rk = co_await k.wait();
        REQUIRE(rk.size() == 1);
        CHECK(rk.first().is_ok());
        CHECK_FALSE(rk.first().has_value());
        CHECK_THROWS_AS((void)rk.first().value(), bad_result_access);
        auto t = co_await pub.send(payload<int>::to_topics(1, {"unknown-topic"}));
        CHECK((co_await t.wait()).first().is_ok());
        co_await q.stop();
    }());
    CHECK(a.seen.empty());
    CHECK(q.stats().unrouted == 2);
}

TEST_CASE("a processor that throws yields an Error for its collector only; the consumer goes on") {
    io_loop loop;
    recorder good;
    collector<int, int> bad{"bad", [](const payload<int>& p, collector_context&) -> task<int> {
                                if (p.value % 2 == 1) throw std::runtime_error("odd value " + std::to_string(p.value));
                                co_return -p.value;
                            }};
    collector_queue<int, int> q(loop, {good.make("good"), bad}, {.min_consumers = 1, .max_consumers = 1});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto pub = q.get_publisher();
        for (int i = 0; i < 4; ++i) {
            auto ev = co_await pub.send(payload<int>::broadcast(i));
            const auto& r = co_await ev.wait();
            REQUIRE(r.size() == 2);
            CHECK(r[0].is_ok());
            if (i % 2 == 1) {
                REQUIRE(r[1].is_error());
                CHECK(r[1].get_error().source == "bad");
                CHECK(r[1].get_error().message == "odd value " + std::to_string(i));
                CHECK(r[1].get_error().exception != nullptr);
                CHECK_THROWS_WITH_AS((void)r[1].value(), doctest::Contains("odd value"), std::runtime_error);
                CHECK(r.error_count() == 1);
            } else {
                CHECK(r[1].value() == -i);
            }
        }
        co_await q.stop();
    }());
    CHECK(good.seen == std::vector<int>{0, 1, 2, 3});
    CHECK(q.stats().failed == 2);
    CHECK(q.stats().processed == 4);
}

TEST_CASE("errors of fire-and-forget payloads reach on_unobserved_error") {
    io_loop loop;
    std::vector<std::string> reported;
    collector<int, void> failing{"f", [](const payload<int>&, collector_context&) -> task<void> {
                                     throw std::runtime_error("nobody is waiting");
                                     co_return;
                                 }};
    queue_options opts;
    opts.on_unobserved_error = [&](const error& e) { reported.push_back(e.what()); };
    collector_queue<int, void> q(loop, {failing}, opts);
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        co_await q.get_publisher().publish(payload<int>::broadcast(1));
        co_await q.stop();
    }());
    CHECK(reported == std::vector<std::string>{"f: nobody is waiting"});
}

TEST_CASE("setup runs before the first payload, teardown at stop even after errors") {
    io_loop loop;
    std::vector<std::string> log;
    collector<int, void> c{"c",
                           [&](const payload<int>& p, collector_context& ctx) -> task<void> {
                               log.push_back("process " + std::to_string(p.value) + " state=" +
                                             std::any_cast<std::string>(ctx.state()));
                               if (p.value == 2) throw std::runtime_error("fails");
                               co_return;
                           },
                           {},
                           [&](collector_context& ctx) -> task<void> {
                               co_await ctx.loop().sleep_for(1ms);
                               ctx.state() = std::string("ready");
                               log.push_back("setup " + ctx.key());
                           },
                           [&](collector_context& ctx) -> task<void> {
                               log.push_back("teardown " + ctx.key());
                               co_return;
                           }};
    collector_queue<int, void> q(loop, {c});
    auto pub = q.get_publisher();
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        REQUIRE(pub.try_publish(payload<int>::broadcast(1)));
        auto ev = co_await pub.send(payload<int>::broadcast(2));
        CHECK((co_await ev.wait()).first().is_error());
        auto report = co_await q.stop();
        CHECK(report.drained);
        CHECK(report.teardown_errors.empty());
    }());
    CHECK(log == std::vector<std::string>{"setup c", "process 1 state=ready", "process 2 state=ready", "teardown c"});
}

TEST_CASE("a failing setup makes that collector answer with its Error; no teardown for it") {
    io_loop loop;
    bool teardown_ran = false;
    recorder ok;
    collector<int, int> broken{"broken", [](const payload<int>&, collector_context&) -> task<int> { co_return 1; },
                               {},
                               [](collector_context&) -> task<void> {
                                   throw std::runtime_error("cannot open");
                                   co_return;
                               },
                               [&](collector_context&) -> task<void> {
                                   teardown_ran = true;
                                   co_return;
                               }};
    collector<int, int> bad_teardown = ok.make("ok");
    bad_teardown.teardown = [](collector_context&) -> task<void> {
        throw std::runtime_error("teardown trouble");
        co_return;
    };
    collector_queue<int, int> q(loop, {broken, bad_teardown});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        REQUIRE(q.setup_errors().size() == 1);
        CHECK(q.setup_errors()[0].what() == "broken: setup failed: cannot open");
        auto ev = co_await q.get_publisher().send(payload<int>::broadcast(3));
        const auto& r = co_await ev.wait();
        REQUIRE(r.size() == 2);
        CHECK(r[0].is_error());
        CHECK(r[0].get_error().message == "setup failed: cannot open");
        CHECK(r[1].value() == 3);
        auto report = co_await q.stop();
        REQUIRE(report.teardown_errors.size() == 1);
        CHECK(report.teardown_errors[0].what() == "ok: teardown trouble");
    }());
    CHECK_FALSE(teardown_ran);
}

TEST_CASE("consumers grow with the backlog up to max and retire to min when idle") {
    io_loop loop;
    std::atomic<int> concurrent{0};
    int peak_concurrent = 0;
    collector<int, void> slow{"slow", [&](const payload<int>&, collector_context& ctx) -> task<void> {
                                  peak_concurrent = std::max(peak_concurrent, ++concurrent);
                                  co_await ctx.loop().sleep_for(20ms);
                                  --concurrent;
                              }};
    collector_queue<int, void> q(loop, {slow},
                                 {.min_consumers = 1, .max_consumers = 4, .idle_timeout = std::chrono::milliseconds(30)});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        CHECK(q.stats().consumers == 1);
        auto pub = q.get_publisher();
        for (int i = 0; i < 12; ++i) co_await pub.publish(payload<int>::broadcast(i));
        while (q.stats().processed < 12) co_await loop.sleep_for(5ms);
        CHECK(q.stats().peak_consumers == 4);
        CHECK(peak_concurrent == 4);
        // Idle for several idle timeouts: back down to the minimum.
        for (int i = 0; i < 40 && q.stats().consumers > 1; ++i) co_await loop.sleep_for(10ms);
        CHECK(q.stats().consumers == 1);
        // And able to grow again.
        for (int i = 0; i < 8; ++i) co_await pub.publish(payload<int>::broadcast(i));
        co_await loop.sleep_for(5ms);
        CHECK(q.stats().consumers > 1);
        co_await q.stop();
    }());
    CHECK(q.stats().processed == 20);
}

TEST_CASE("min_consumers = 0: no consumer while idle, one appears for work") {
    io_loop loop;
    recorder rec;
    collector_queue<int, int> q(loop, {rec.make("a")},
                                {.min_consumers = 0, .max_consumers = 2, .idle_timeout = std::chrono::milliseconds(10)});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        CHECK(q.stats().consumers == 0);
        auto ev = co_await q.get_publisher().send(payload<int>::broadcast(4));
        CHECK((co_await ev.wait()).first().value() == 4);
        for (int i = 0; i < 50 && q.stats().consumers > 0; ++i) co_await loop.sleep_for(5ms);
        CHECK(q.stats().consumers == 0);
        co_await q.stop();
    }());
}

TEST_CASE("a bounded queue refuses try_send when full and hands the payload back intact") {
    io_loop loop;
    recorder rec;
    collector_queue<std::string, int> q(
        loop,
        {collector<std::string, int>{"a", [](const payload<std::string>& p, collector_context&) -> task<int> {
                                         co_return static_cast<int>(p.value.size());
                                     }}},
        {.capacity = 2});
    auto pub = q.get_publisher();
    std::optional<collector_event<int>> e1, e2;
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        // Capacity counts payloads accepted and not yet answered: two, whatever the consumer does.
        e1 = pub.try_send(payload<std::string>::broadcast("one"));
        e2 = pub.try_send(payload<std::string>::broadcast("three"));
        REQUIRE(e1);
        REQUIRE(e2);
        auto refused = payload<std::string>::to_keys("a long string that must survive the refusal", {"a"});
        CHECK_FALSE(pub.try_send(std::move(refused)));
        CHECK(refused.value == "a long string that must survive the refusal");
        CHECK(refused.keys.contains("a"));
        CHECK_FALSE(e1->done());
        CHECK(e1->get_result().empty());
        CHECK(q.stats().rejected == 1);
        CHECK((co_await e1->wait()).first().value() == 3);
        CHECK((co_await e2->wait()).first().value() == 5);
        co_await q.stop();
    }());
    CHECK(e1->done());
    CHECK(e1->get_result().first().value() == 3);
}

TEST_CASE("send suspends while the queue is full and resumes in order as room appears") {
    io_loop loop;
    std::vector<int> seen;
    collector<int, void> slow{"slow", [&](const payload<int>& p, collector_context& ctx) -> task<void> {
                                  co_await ctx.loop().sleep_for(2ms);
                                  seen.push_back(p.value);
                              }};
    collector_queue<int, void> q(loop, {slow}, {.min_consumers = 1, .max_consumers = 1, .capacity = 3});
    std::size_t max_pending = 0;
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto pub = q.get_publisher();
        for (int i = 0; i < 30; ++i) {
            co_await pub.publish(payload<int>::broadcast(i));
            max_pending = std::max(max_pending, q.stats().pending);
        }
        co_await q.stop();
    }());
    CHECK(max_pending <= 3);
    std::vector<int> expected(30);
    for (int i = 0; i < 30; ++i) expected[static_cast<std::size_t>(i)] = i;
    CHECK(seen == expected);
}

TEST_CASE("many publishers on many threads: every payload processed and answered exactly once [threads]") {
    io_loop loop;
    std::mutex mutex;
    std::multiset<int> seen;
    collector<int, int> c{"c", [&](const payload<int>& p, collector_context&) -> task<int> {
                              std::lock_guard lock(mutex);
                              seen.insert(p.value);
                              co_return p.value + 1;
                          }};
    collector_queue<int, int> q(loop, {c}, {.min_consumers = 1, .max_consumers = 4, .capacity = 64});
    constexpr int threads = 4;
    constexpr int per_thread = 2500;
    std::atomic<bool> started{false};
    std::atomic<bool> publishers_done{false};

    std::thread runner([&] {
        loop.run_until_complete([&]() -> task<void> {
            co_await q.start();
            started = true;
            while (!publishers_done) co_await loop.sleep_for(1ms);
            auto report = co_await q.stop();
            CHECK(report.drained);
        }());
    });
    while (!started) std::this_thread::yield();

    std::atomic<int> answered{0};
    std::vector<std::thread> publishers;
    for (int t = 0; t < threads; ++t) {
        publishers.emplace_back([&, t] {
            auto pub = q.get_publisher();
            std::vector<std::pair<int, collector_event<int>>> events;
            for (int i = 0; i < per_thread; ++i) {
                int v = t * per_thread + i;
                if (i % 3 == 0) {
                    CHECK(pub.publish_blocking(payload<int>::broadcast(v)));
                } else if (i % 3 == 1) {
                    events.emplace_back(v, pub.send_blocking(payload<int>::broadcast(v)));
                } else {
                    // try_send may be refused while full: retry, the payload is handed back intact.
                    auto p = payload<int>::broadcast(v);
                    for (;;) {
                        auto ev = pub.try_send(std::move(p));
                        if (ev) {
                            events.emplace_back(v, std::move(*ev));
                            break;
                        }
                        CHECK(p.value == v);
                        std::this_thread::yield();
                    }
                }
            }
            for (auto& [v, ev] : events) {
                const auto& r = ev.wait_blocking();
                CHECK(r.size() == 1);
                CHECK(r.first().value() == v + 1);
                answered.fetch_add(1);
            }
        });
    }
    for (auto& p : publishers) p.join();
    publishers_done = true;
    runner.join();

    CHECK(seen.size() == threads * per_thread);
    for (int v = 0; v < threads * per_thread; ++v) CHECK(seen.count(v) == 1);
    CHECK(answered.load() == threads * (per_thread - (per_thread + 2) / 3));
    auto stats = q.stats();
    CHECK(stats.accepted == threads * per_thread);
    CHECK(stats.processed == threads * per_thread);
}

TEST_CASE("stop with work in flight: every accepted payload resolves, none hangs") {
    io_loop loop;
    std::atomic<int> finished{0};
    collector<int, int> stubborn{"stubborn", [&](const payload<int>& p, collector_context& ctx) -> task<int> {
                                     // Honours the stop token: ends early when the deadline passes.
                                     co_await ctx.loop().sleep_for(10s, ctx.stop_token());
                                     ++finished;
                                     co_return p.value;
                                 }};
    collector_queue<int, int> q(loop, {stubborn}, {.min_consumers = 1, .max_consumers = 2});
    std::vector<collector_event<int>> events;
    auto start = io_loop::clock::now();
    auto report = loop.run_until_complete([&]() -> task<stop_report> {
        co_await q.start();
        auto pub = q.get_publisher();
        for (int i = 0; i < 6; ++i) events.push_back(co_await pub.send(payload<int>::broadcast(i)));
        co_await loop.sleep_for(5ms); // two in flight, four pending
        co_return co_await q.stop(20ms);
    }());
    CHECK(io_loop::clock::now() - start < 5s);
    CHECK_FALSE(report.drained);
    CHECK(report.cancelled == 4); // never started
    CHECK(report.abandoned == 0); // the two running processors honoured their stop token
    CHECK(finished.load() == 0);
    for (auto& e : events) {
        REQUIRE(e.done());
        auto r = e.get_result();
        REQUIRE(r.size() == 1);
        REQUIRE(r.first().is_error());
        CHECK(r.first().get_error().message.find("cancelled") != std::string::npos);
        CHECK(r.first().get_error().code == std::errc::operation_canceled);
        CHECK(r.first().get_error().cancelled());
    }
    CHECK(q.stats().cancelled == 4);
    CHECK(q.stats().failed == 2); // the processors' own answer: they gave up
}

TEST_CASE("stop within the grace period drains everything") {
    io_loop loop;
    int processed = 0;
    collector<int, void> c{"c", [&](const payload<int>&, collector_context& ctx) -> task<void> {
                               co_await ctx.loop().sleep_for(1ms);
                               ++processed;
                           }};
    collector_queue<int, void> q(loop, {c}, {.min_consumers = 1, .max_consumers = 3});
    auto report = loop.run_until_complete([&]() -> task<stop_report> {
        co_await q.start();
        for (int i = 0; i < 30; ++i) co_await q.get_publisher().publish(payload<int>::broadcast(i));
        co_return co_await q.stop(5s);
    }());
    CHECK(report.drained);
    CHECK(report.cancelled == 0);
    CHECK(processed == 30);
    CHECK(q.stats().consumers == 0);
}

TEST_CASE("after stop, send answers Error 'queue stopped', try_send refuses, publish is reported") {
    io_loop loop;
    recorder rec;
    std::vector<std::string> reported;
    queue_options opts;
    opts.on_unobserved_error = [&](const error& e) { reported.push_back(e.what()); };
    collector_queue<int, int> q(loop, {rec.make("a")}, opts);
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        co_await q.stop();
        auto pub = q.get_publisher();
        auto ev = co_await pub.send(payload<int>::broadcast(1));
        REQUIRE(ev.done());
        const auto& r = co_await ev.wait();
        REQUIRE(r.first().is_error());
        CHECK(r.first().get_error().what() == "queue: queue stopped: payload not accepted");
        CHECK_FALSE(co_await pub.publish(payload<int>::broadcast(2)));
        CHECK_FALSE(pub.try_send(payload<int>::broadcast(3)));
    }());
    CHECK(rec.seen.empty());
    CHECK(q.stats().rejected == 3);
    // The refused publish and try_send are reported (the send's caller has its Error in the event).
    CHECK(reported == std::vector<std::string>(2, "queue: queue stopped: payload not accepted"));
}

TEST_CASE("senders blocked on a full queue are answered when it stops") {
    io_loop loop;
    collector<int, void> slow{"slow", [&](const payload<int>&, collector_context& ctx) -> task<void> {
                                  co_await ctx.loop().sleep_for(10s, ctx.stop_token());
                              }};
    collector_queue<int, void> q(loop, {slow}, {.min_consumers = 1, .max_consumers = 1, .capacity = 1});
    collector_event<void> blocked;
    bool blocked_done = false;
    auto blocked_sender = [&]() -> task<void> {
        blocked = co_await q.get_publisher().send(payload<int>::broadcast(3));
        blocked_done = true;
    };
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto pub = q.get_publisher();
        co_await pub.publish(payload<int>::broadcast(1)); // in flight
        co_await loop.sleep_for(1ms);
        co_await pub.publish(payload<int>::broadcast(2)); // fills the queue
        loop.spawn(blocked_sender());
        co_await loop.sleep_for(2ms);
        CHECK_FALSE(blocked_done);
        co_await q.stop(10ms);
        co_await loop.sleep_for(0ms);
    }());
    loop.drain();
    REQUIRE(blocked_done);
    REQUIRE(blocked.done());
    CHECK(blocked.get_result().first().get_error().message == "queue stopped: payload not accepted");
}

TEST_CASE("run(): the async scope stops the queue even when the body throws") {
    io_loop loop;
    recorder rec;
    collector_queue<int, int> q(loop, {rec.make("a")});
    CHECK_THROWS_WITH_AS(loop.run_until_complete(q.run([&](collector_queue<int, int>::publisher pub) -> task<void> {
                             auto ev = co_await pub.send(payload<int>::broadcast(9));
                             CHECK((co_await ev.wait()).first().value() == 9);
                             throw std::runtime_error("body failed");
                         })),
                         "body failed", std::runtime_error);
    CHECK_FALSE(q.running());
    CHECK(rec.seen == std::vector<int>{9});
}

TEST_CASE("destroying a running queue off its loop stops it and resolves what was pending") {
    io_loop loop;
    collector_event<int> pending;
    {
        collector<int, int> never{"never", [](const payload<int>& p, collector_context& ctx) -> task<int> {
                                      co_await ctx.loop().sleep_for(10s, ctx.stop_token());
                                      co_return p.value;
                                  }};
        collector_queue<int, int> q(loop, {never}, {.min_consumers = 1, .max_consumers = 1});
        loop.run_until_complete([&]() -> task<void> {
            co_await q.start();
            pending = co_await q.get_publisher().send(payload<int>::broadcast(1));
        }());
    }
    REQUIRE(pending.done());
    CHECK(pending.get_result().first().is_error());
}

namespace {
/// Routes even values to the first collector and odd values to the last: any type with `route`.
struct parity_router {
    int calls = 0;
    void route(const payload<int>& p, const route_table& table, route_targets& out) {
        ++calls;
        out.add(p.value % 2 == 0 ? 0u : static_cast<std::uint32_t>(table.size() - 1));
    }
};
static_assert(router_for<parity_router, int>);
static_assert(router_for<default_router, int>);
} // namespace

TEST_CASE("a user router decides delivery") {
    io_loop loop;
    recorder even, odd;
    collector_queue<int, int, queue_discipline::fifo, parity_router> q(loop, {even.make("even"), odd.make("odd")});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        for (int i = 0; i < 6; ++i) co_await q.get_publisher().publish(payload<int>::broadcast(i));
        co_await q.stop();
    }());
    CHECK(even.seen == std::vector<int>{0, 2, 4});
    CHECK(odd.seen == std::vector<int>{1, 3, 5});
}

TEST_CASE("invalid configurations are refused clearly") {
    io_loop loop;
    recorder a, b;
    CHECK_THROWS_WITH_AS((collector_queue<int, int>(loop, {a.make("x"), b.make("x")})),
                         "duplicate collector key 'x'", std::invalid_argument);
    CHECK_THROWS_AS((collector_queue<int, int>(loop, {a.make("x")}, {.min_consumers = 3, .max_consumers = 2})),
                    std::invalid_argument);
    CHECK_THROWS_AS((collector_queue<int, int>(loop, {collector<int, int>{"empty", {}}})), std::invalid_argument);
    collector_queue<int, int> q(loop, {a.make("x")});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        CHECK_THROWS_AS(co_await q.start(), queue_state_error);
        co_await q.stop();
        CHECK_THROWS_AS(co_await q.start(), queue_state_error); // no restart after stop
    }());
}

TEST_CASE("a payload with many keys and topics spills past the inline slots") {
    string_list keys("a", "b", "c", "d");
    CHECK(keys.size() == 4);
    CHECK(keys[3] == "d");
    CHECK(keys.contains("c"));
    CHECK_FALSE(keys.contains("e"));
    std::vector<std::string> seen(keys.begin(), keys.end());
    CHECK(seen == std::vector<std::string>{"a", "b", "c", "d"});
}

}

} // namespace test_collector_queue

