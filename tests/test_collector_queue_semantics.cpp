// collector_queue semantics beyond ordering and routing: a payload's collectors running at once,
// processors answering result<R> or synchronously, calls releasing their consumer to await an
// acknowledgement, unrouted keys, stop's hard deadline (abandoned calls, late answers, deferred
// teardown, a call outliving its queue) and misuse (before start, after stop, blocking forms, calls
// from other threads).

#include <doctest/doctest.h>

#include "support.hpp"

#include <sluice/core/event.hpp>
#include <sluice/core/sync_wait.hpp>
#include <sluice/delivery/pipeline.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/queue/collector_queue.hpp>
#include <sluice/sinks/fault_injecting_sink.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_collector_queue_semantics {

using namespace sluice;
using namespace std::chrono_literals;
using sluice_test::wait_until;

namespace {

/// Runs `loop` on a thread of its own until destroyed.
class loop_thread {
public:
    explicit loop_thread(io_loop& loop) : loop_(loop) {
        std::promise<void> running;
        auto started = running.get_future();
        thread_ = std::thread([this, &running] {
            loop_.call_soon([&running] { running.set_value(); });
            loop_.run();
        });
        started.wait();
    }
    loop_thread(const loop_thread&) = delete;
    loop_thread& operator=(const loop_thread&) = delete;
    ~loop_thread() {
        loop_.stop();
        thread_.join();
    }

private:
    io_loop& loop_;
    std::thread thread_;
};

} // namespace

TEST_SUITE("collector_queue semantics") {

TEST_CASE("a payload's collectors run at once; results come in routing order") {
    io_loop loop;
    int running = 0;
    int peak = 0;
    auto make = [&](std::string key, std::chrono::milliseconds work, int answer) {
        return collector<int, int>{std::move(key), [&, work, answer](const payload<int>& p, collector_context& ctx) -> task<int> {
                                       peak = std::max(peak, ++running);
                                       co_await ctx.loop().sleep_for(work);
                                       --running;
                                       co_return p.value * answer;
                                   }};
    };
    // Finishing in the order b, c, a: the result list still follows routing order.
    collector_queue<int, int> q(loop, {make("a", 15ms, 1), make("b", 1ms, 10), make("c", 8ms, 100)},
                                {.min_consumers = 1, .max_consumers = 1});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto p = payload<int>::broadcast(2);
        auto ev = co_await q.get_publisher().send(std::move(p));
        const auto& r = co_await ev.wait();
        REQUIRE(r.size() == 3);
        CHECK(r[0].source() == "a");
        CHECK(r[0].value() == 2);
        CHECK(r[1].source() == "b");
        CHECK(r[1].value() == 20);
        CHECK(r[2].source() == "c");
        CHECK(r[2].value() == 200);
        co_await q.stop();
    }());
    CHECK(peak == 3); // one consumer, three collectors working at once
    CHECK(q.stats().deliveries == 3);
}

TEST_CASE("processors may answer synchronously, with result<R>, or as coroutines, mixed on one payload") {
    io_loop loop;
    int plain_calls = 0;
    collector<int, int> plain{"plain", [&](const payload<int>& p, collector_context&) {
                                  ++plain_calls;
                                  return p.value + 1;
                              }};
    collector<int, int> checked{"checked", [](const payload<int>& p, collector_context&) -> result<int> {
                                    if (p.value < 0) return result<int>::failure(error{"checked", "negative", {}, {}, {}});
                                    return result<int>::ok(p.value * 2);
                                }};
    collector<int, int> async_checked{"async_checked", [](const payload<int>& p, collector_context& ctx) -> task<result<int>> {
                                          co_await ctx.loop().sleep_for(1ms);
                                          if (p.value < 0) co_return result<int>::failure(error{"async_checked", "also negative", {}, {}, {}});
                                          co_return result<int>::ok(p.value * 3);
                                      }};
    collector<int, int> throwing{"throwing", [](const payload<int>& p, collector_context&) -> int {
                                     if (p.value < 0) throw std::runtime_error("thrown");
                                     return 0;
                                 }};
    CHECK(processor_fn<int, int>([](const payload<int>&, collector_context&) { return 1; }).kind() == processor_kind::value);
    CHECK(checked.processor.kind() == processor_kind::result);
    CHECK(async_checked.processor.kind() == processor_kind::task_result);
    collector_queue<int, int> q(loop, {plain, checked, async_checked, throwing});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto pub = q.get_publisher();
        auto good = payload<int>::broadcast(5);
        auto ev = co_await pub.send(std::move(good));
        const auto& r = co_await ev.wait();
        REQUIRE(r.size() == 4);
        CHECK(r[0].value() == 6);
        CHECK(r[1].value() == 10);
        CHECK(r[2].value() == 15);
        CHECK(r[3].value() == 0);
        auto bad = payload<int>::broadcast(-1);
        auto ev2 = co_await pub.send(std::move(bad));
        const auto& r2 = co_await ev2.wait();
        REQUIRE(r2.size() == 4);
        CHECK(r2[0].value() == 0);
        CHECK(r2[1].get_error().message == "negative");
        CHECK(r2[1].source() == "checked");
        CHECK(r2[2].get_error().message == "also negative");
        CHECK(r2[3].get_error().message == "thrown");
        CHECK(r2.error_count() == 3);
        co_await q.stop();
    }());
    CHECK(plain_calls == 2);
    CHECK(q.stats().failed == 3);
}

TEST_CASE("coroutine processors run without a frame around them: every way they can end is answered") {
    // The queue starts a coroutine processor's task itself and takes its answer when the task ends
    // (fan_out's call is the task's completion): at once or after suspending, by value, by result or
    // by throwing; a callable that throws before its coroutine exists, or hands back an empty task.
    io_loop loop;
    auto ends_at_once = [](const payload<int>& p, collector_context&) -> task<int> { co_return p.value + 1; };
    auto ends_later = [](const payload<int>& p, collector_context& ctx) -> task<int> {
        co_await ctx.loop().sleep_for(1ms);
        if (ctx.key() != "later") throw std::logic_error("the context changed while suspended");
        co_return p.value + 2;
    };
    auto throws_at_once = [](const payload<int>&, collector_context&) -> task<int> {
        throw std::runtime_error("thrown at once");
        co_return 0;
    };
    auto throws_later = [](const payload<int>&, collector_context& ctx) -> task<result<int>> {
        co_await ctx.loop().sleep_for(1ms);
        throw std::runtime_error("thrown later");
    };
    auto throws_before = [](const payload<int>& p, collector_context&) -> task<int> {
        if (p.value >= 0) throw std::runtime_error("no coroutine made"); // a plain function returning a task
        return task<int>{};
    };
    auto empty_task = [](const payload<int>&, collector_context&) { return task<int>{}; };
    collector_queue<int, int> q(loop, {{"at_once", ends_at_once},
                                       {"later", ends_later},
                                       {"throws_at_once", throws_at_once},
                                       {"throws_later", throws_later},
                                       {"throws_before", throws_before},
                                       {"empty", empty_task}});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto pub = q.get_publisher();
        for (int round = 0; round < 3; ++round) { // the calls' slots are reused by later payloads
            auto p = payload<int>::broadcast(10 * round);
            auto ev = co_await pub.send(std::move(p));
            const auto& r = co_await ev.wait();
            REQUIRE(r.size() == 6);
            CHECK(r[0].value() == 10 * round + 1);
            CHECK(r[1].value() == 10 * round + 2);
            CHECK(r[2].get_error().message == "thrown at once");
            CHECK(r[2].source() == "throws_at_once");
            CHECK(r[3].get_error().message == "thrown later");
            CHECK(r[4].get_error().message == "no coroutine made");
            CHECK(r[5].get_error().message == "the processor returned an empty task");
            CHECK(r[5].source() == "empty");
        }
        co_await q.stop();
    }());
    CHECK(q.stats().processed == 3);
    CHECK(q.stats().failed == 12);
}

TEST_CASE("void collectors answer with result<void> or nothing") {
    io_loop loop;
    std::vector<std::string> reported;
    queue_options opts;
    opts.on_unobserved_error = [&](const error& e) { reported.push_back(e.what()); };
    collector<int, void> quiet{"quiet", [](const payload<int>&, collector_context&) {}};
    collector<int, void> picky{"picky", [](const payload<int>& p, collector_context&) {
                                   return p.value == 0 ? result<void>::failure(error{"picky", "zero", {}, {}, {}}) : result<void>::ok();
                               }};
    collector_queue<int, void> q(loop, {quiet, picky}, opts);
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto one = payload<int>::broadcast(1);
        auto ev = co_await q.get_publisher().send(std::move(one));
        CHECK((co_await ev.wait()).all_ok());
        auto zero = payload<int>::broadcast(0);
        CHECK(co_await q.get_publisher().publish(std::move(zero)));
        co_await q.stop();
    }());
    CHECK(reported == std::vector<std::string>{"picky: zero"});
}

TEST_CASE("a call that releases its consumer lets the consumer take the next payloads while it waits") {
    io_loop loop;
    async_event ack;
    int started = 0;
    collector<int, int> acknowledged{"ack", [&](const payload<int>& p, collector_context& ctx) -> task<int> {
                                         ++started;
                                         ctx.release_consumer(); // from here on: only waiting for the acknowledgement
                                         co_await ack.wait();
                                         co_return p.value;
                                     }};
    collector_queue<int, int> q(loop, {acknowledged}, {.min_consumers = 1, .max_consumers = 1});
    constexpr int n = 200;
    std::vector<collector_event<int>> events;
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto pub = q.get_publisher();
        for (int i = 0; i < n; ++i) {
            auto p = payload<int>::broadcast(i);
            events.push_back(co_await pub.send(std::move(p)));
        }
        co_await wait_until(loop, [&] { return started == n; });
        CHECK(started == n); // with the consumer held it would be 1
        CHECK(q.stats().consumers == 1);
        CHECK(q.stats().in_flight == n);
        CHECK_FALSE(events.front().done());
        ack.set();
        for (int i = 0; i < n; ++i) CHECK((co_await events[static_cast<std::size_t>(i)].wait()).first().value() == i);
        co_await q.stop();
    }());
    CHECK(q.stats().processed == n);
    CHECK(q.stats().in_flight == 0);
}

TEST_CASE("a call that holds its consumer keeps max_consumers as the bound") {
    io_loop loop;
    async_event go;
    int started = 0;
    collector<int, int> working{"work", [&](const payload<int>& p, collector_context&) -> task<int> {
                                    ++started;
                                    co_await go.wait();
                                    co_return p.value;
                                }};
    collector_queue<int, int> q(loop, {working}, {.min_consumers = 1, .max_consumers = 3});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto pub = q.get_publisher();
        for (int i = 0; i < 10; ++i) CHECK(co_await pub.publish(payload<int>::broadcast(i)));
        co_await wait_until(loop, [&] { return started >= 3; });
        co_await loop.sleep_for(5ms);
        CHECK(started == 3);
        go.set();
        co_await q.stop();
    }());
    CHECK(started == 10);
}

TEST_CASE("capacity bounds calls that released their consumer; senders wait for room") {
    io_loop loop;
    async_event ack;
    int started = 0;
    collector<int, int> acknowledged{"ack", [&](const payload<int>& p, collector_context& ctx) -> task<int> {
                                         ++started;
                                         ctx.release_consumer();
                                         co_await ack.wait();
                                         co_return p.value;
                                     }};
    collector_queue<int, int> q(loop, {acknowledged}, {.capacity = 10});
    int sent = 0;
    auto sender = [&]() -> task<void> {
        auto pub = q.get_publisher();
        for (int i = 0; i < 30; ++i) {
            auto p = payload<int>::broadcast(i);
            CHECK(co_await pub.publish(std::move(p)));
            ++sent;
        }
    };
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        loop.spawn(sender());
        co_await wait_until(loop, [&] { return started == 10; });
        co_await loop.sleep_for(5ms);
        CHECK(started == 10);
        CHECK(sent == 10);                  // the 11th send waits for room
        CHECK(q.stats().in_flight == 10);
        ack.set();
        co_await wait_until(loop, [&] { return sent == 30; });
        co_await q.stop();
    }());
    CHECK(sent == 30);
    CHECK(started == 30);
}

TEST_CASE("end-to-end acknowledgement through a delivery pipeline with default queue options") {
    io_loop loop;
    null_sink sink;
    delivery_options o;
    o.batch = {.max_events = 500, .max_bytes = 1 << 20, .max_age = std::chrono::milliseconds(200)};
    delivery_pipeline<null_sink> pipeline(loop, sink, o);
    collector<int, unsigned> deliver{"deliver", [&](const payload<int>& p, collector_context& ctx) -> task<unsigned> {
                                         std::string record = "{\"id\":" + std::to_string(p.value) + "}";
                                         ctx.release_consumer();
                                         auto receipt = co_await pipeline.deliver(std::move(record));
                                         co_return receipt.attempts;
                                     }};
    collector_queue<int, unsigned> q(loop, {deliver}); // default options: 4 consumers at most
    constexpr int n = 1000;
    std::set<int> acknowledged;
    loop.run_until_complete([&]() -> task<void> {
        co_await pipeline.start();
        co_await q.start();
        auto pub = q.get_publisher();
        std::vector<std::pair<int, collector_event<unsigned>>> events;
        for (int i = 0; i < n; ++i) {
            auto p = payload<int>::broadcast(i);
            events.emplace_back(i, co_await pub.send(std::move(p)));
        }
        for (auto& [id, ev] : events) {
            const auto& r = co_await ev.wait();
            if (r.first().is_ok() && r.first().value() == 1u) acknowledged.insert(id);
        }
        co_await q.stop();
        co_await pipeline.stop();
    }());
    CHECK(acknowledged.size() == n);
    CHECK(sink.records() == n);
    // Batches filled up (with consumers held: 4 records per 200 ms batch, 250 batches).
    CHECK(pipeline.stats().batches <= 10);
}

TEST_CASE("keys and topics that match no collector are counted as unrouted, even beside matching ones") {
    io_loop loop;
    collector<int, int> a{"a", [](const payload<int>& p, collector_context&) { return p.value; }, {"t"}};
    collector_queue<int, int> q(loop, {a});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto pub = q.get_publisher();
        auto keyed = payload<int>::to_keys(1, {"a", "missing"});
        auto ev = co_await pub.send(std::move(keyed));
        const auto& r = co_await ev.wait();
        REQUIRE(r.size() == 1);
        CHECK(r[0].value() == 1);
        CHECK(q.stats().unrouted == 1);
        auto topics = payload<int>::to_topics(2, {"t", "nobody", "nobody-either"});
        auto ev2 = co_await pub.send(std::move(topics));
        CHECK((co_await ev2.wait()).size() == 1);
        CHECK(q.stats().unrouted == 3);
        auto none = payload<int>::to_keys(3, {"x", "y"});
        auto ev3 = co_await pub.send(std::move(none));
        const auto& r3 = co_await ev3.wait();
        REQUIRE(r3.size() == 1);
        CHECK(r3[0].is_ok());
        CHECK_FALSE(r3[0].has_value());
        CHECK(q.stats().unrouted == 5);
        co_await q.stop();
    }());
}

TEST_CASE("stop's hard deadline: a processor ignoring its stop token is abandoned, then reports what it did") {
    io_loop loop;
    async_event finish;
    std::vector<std::string> log;
    std::vector<std::string> reported;
    bool fail_late = false;
    collector<int, int> stubborn{"stubborn",
                                 [&](const payload<int>& p, collector_context&) -> task<int> {
                                     co_await finish.wait(); // no stop token: ignores stop
                                     log.push_back("finished " + std::to_string(p.value));
                                     if (fail_late && p.value == 2) throw std::runtime_error("late failure");
                                     co_return p.value;
                                 },
                                 {},
                                 {},
                                 [&](collector_context&) -> task<void> {
                                     log.push_back("teardown");
                                     co_return;
                                 }};
    collector<int, int> quick{"quick", [](const payload<int>& p, collector_context&) { return -p.value; }};
    queue_options opts;
    opts.max_consumers = 2;
    opts.abandon_after = 20ms;
    opts.on_unobserved_error = [&](const error& e) { reported.push_back(e.what()); };
    collector_queue<int, int> q(loop, {stubborn, quick}, opts);
    std::vector<collector_event<int>> events;
    stop_report report;
    fail_late = true;
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto pub = q.get_publisher();
        for (int i = 1; i <= 2; ++i) {
            auto p = payload<int>::broadcast(i);
            events.push_back(co_await pub.send(std::move(p)));
        }
        co_await loop.sleep_for(2ms);
        report = co_await q.stop(10ms); // returns although the processors never do
        CHECK(log.empty());
        CHECK(q.stats().abandoned == 2);
        finish.set(); // now they finish, after stop
        co_await wait_until(loop, [&] { return log.size() == 3; });
    }());
    CHECK_FALSE(report.drained);
    CHECK(report.abandoned == 2);
    CHECK(report.cancelled == 0);
    CHECK(report.teardown_errors.empty());
    for (std::size_t i = 0; i < events.size(); ++i) {
        REQUIRE(events[i].done());
        const auto& r = events[i].get_result();
        REQUIRE(r.size() == 2);
        REQUIRE(r[0].is_error());
        CHECK(r[0].source() == "stubborn");
        CHECK(r[0].get_error().abandoned());
        CHECK_FALSE(r[0].get_error().cancelled()); // retrying on "cancelled" would do the work twice
        CHECK(r[0].get_error().message.find("may still complete") != std::string::npos);
        CHECK(r[1].value() == -static_cast<int>(i + 1)); // the other collector's real answer
    }
    // The teardown of the stubborn collector waited for its last abandoned call.
    CHECK(log == std::vector<std::string>{"finished 1", "finished 2", "teardown"});
    CHECK(q.stats().completed_late == 1);
    CHECK(q.stats().failed_late == 1);
    CHECK(reported == std::vector<std::string>{"stubborn: finished after stop abandoned it: late failure"});
}

TEST_CASE("an abandoned call that finishes after its queue was destroyed touches nothing freed") {
    io_loop loop;
    async_event finish;
    auto counter = std::make_shared<int>(0);
    bool teardown_ran = false;
    collector_event<std::string> ev;
    {
        collector<std::string, std::string> stubborn{
            "stubborn",
            [counter](const payload<std::string>& p, collector_context& ctx) -> task<std::string> {
                co_await ctx.loop().sleep_for(1ms);
                co_await std::any_cast<async_event*>(ctx.state())->wait();
                // Everything it uses after resuming (payload, context, captures) must still be alive.
                ++*counter;
                co_return p.value + ":" + ctx.key();
            },
            {},
            [&](collector_context& ctx) -> task<void> {
                ctx.state() = &finish;
                co_return;
            },
            [&](collector_context&) -> task<void> {
                teardown_ran = true;
                co_return;
            }};
        collector_queue<std::string, std::string> q(loop, {stubborn}, {.abandon_after = 5ms});
        loop.run_until_complete([&]() -> task<void> {
            co_await q.start();
            auto p = payload<std::string>::broadcast(std::string(100, 'x'));
            ev = co_await q.get_publisher().send(std::move(p));
            co_await loop.sleep_for(3ms);
            auto report = co_await q.stop(1ms);
            CHECK(report.abandoned == 1);
        }());
        CHECK_FALSE(teardown_ran);
    } // the queue is gone; its abandoned call is not
    REQUIRE(ev.done());
    CHECK(ev.get_result().first().get_error().abandoned());
    finish.set();
    loop.run_until_complete([&]() -> task<void> { co_await wait_until(loop, [&] { return teardown_ran; }); }());
    CHECK(*counter == 1);
    CHECK(teardown_ran);
    CHECK(counter.use_count() == 1); // the processor's closure was freed with its collector
}

TEST_CASE("a second stop waits for the first and gets its report") {
    io_loop loop;
    collector<int, void> slow{"slow", [](const payload<int>&, collector_context& ctx) -> task<void> {
                                  co_await ctx.loop().sleep_for(5ms);
                              }};
    collector_queue<int, void> q(loop, {slow});
    stop_report first, second;
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        CHECK(co_await q.get_publisher().publish(payload<int>::broadcast(1)));
        auto other = [&]() -> task<void> { second = co_await q.stop(); };
        loop.spawn(other());
        first = co_await q.stop();
        co_await loop.sleep_for(1ms);
    }());
    CHECK(first.drained);
    CHECK(second.drained);
    CHECK(q.stats().processed == 1);
}

// ---- misuse ---------------------------------------------------------------------------------------

TEST_CASE("sending before start() is refused with a clear error, never a hang") {
    io_loop loop;
    std::vector<std::string> reported;
    queue_options opts;
    opts.on_unobserved_error = [&](const error& e) { reported.push_back(e.what()); };
    collector<int, int> c{"c", [](const payload<int>& p, collector_context&) { return p.value; }};
    collector_queue<int, int> q(loop, {c}, opts);
    auto pub = q.get_publisher();
    auto p = payload<int>::broadcast(7);
    CHECK_FALSE(pub.try_send(std::move(p)));
    CHECK(p.value == 7); // handed back
    auto ev = pub.send_blocking(payload<int>::broadcast(8));
    REQUIRE(ev.done());
    CHECK(ev.wait_blocking().first().get_error().what() ==
          "queue: queue not started: call start() before sending; payload not accepted");
    loop.run_until_complete([&]() -> task<void> {
        auto late = payload<int>::broadcast(9);
        auto ev2 = co_await pub.send(std::move(late));
        CHECK((co_await ev2.wait()).first().get_error().message.find("not started") != std::string::npos);
        CHECK_FALSE(co_await pub.publish(payload<int>::broadcast(10)));
        co_await q.start();
        auto fine = payload<int>::broadcast(11);
        auto ev3 = co_await pub.send(std::move(fine));
        CHECK((co_await ev3.wait()).first().value() == 11);
        co_await q.stop();
    }());
    CHECK(q.stats().rejected == 4);
    CHECK(q.stats().accepted == 1);
    // The refused try_send (from this thread, reported on the loop) and publish; sends carry theirs.
    CHECK(reported == std::vector<std::string>(2, "queue: queue not started: call start() before sending; payload not accepted"));
}

TEST_CASE("wait_blocking has a deadline: a loop that never runs is an error, not a hang") {
    io_loop loop;
    collector<int, int> c{"c", [](const payload<int>& p, collector_context&) { return p.value; }};
    collector_queue<int, int> q(loop, {c});
    loop.run_until_complete(q.start());
    // Accepted (handed in for the loop), but nobody runs the loop.
    auto ev = q.get_publisher().send_blocking(payload<int>::broadcast(3));
    CHECK_FALSE(ev.wait_blocking_for(20ms));
    CHECK_THROWS_WITH_AS(ev.wait_blocking(30ms), doctest::Contains("is the queue's loop running?"), wait_timeout);
    CHECK(collector_event<int>::default_blocking_timeout == 60s);
    auto report = loop.run_until_complete(q.stop());
    CHECK(report.drained);
    CHECK(ev.wait_blocking(0ns).first().value() == 3);
}

TEST_CASE("publish after stop from another thread is counted and reported on the loop") {
    io_loop loop;
    std::vector<std::string> reported;
    queue_options opts;
    opts.on_unobserved_error = [&](const error& e) { reported.push_back(e.what()); }; // loop thread only
    collector<int, void> c{"c", [](const payload<int>&, collector_context&) {}};
    collector_queue<int, void> q(loop, {c}, opts);
    loop.run_until_complete(q.start());
    (void)loop.run_until_complete(q.stop());
    std::thread([&] {
        CHECK_FALSE(q.get_publisher().publish_blocking(payload<int>::broadcast(1)));
        CHECK_FALSE(q.get_publisher().try_publish(payload<int>::broadcast(2)));
    }).join();
    CHECK(q.stats().rejected == 2);
    loop.run_once();
    CHECK(reported == std::vector<std::string>(2, "queue: queue stopped: payload not accepted"));
}

TEST_CASE("start and stop called from another thread hop to the loop [threads]") {
    io_loop loop;
    std::atomic<int> processed{0};
    collector<int, int> c{"c", [&](const payload<int>& p, collector_context& ctx) -> task<int> {
                              CHECK(ctx.loop().in_loop_thread());
                              ++processed;
                              co_return p.value;
                          }};
    collector_queue<int, int> q(loop, {c});
    {
        loop_thread runner(loop);
        sync_wait(q.start()); // runs on the loop's thread, not this one
        CHECK(q.running());
        auto pub = q.get_publisher();
        std::vector<collector_event<int>> events;
        for (int i = 0; i < 100; ++i) events.push_back(pub.send_blocking(payload<int>::broadcast(i)));
        for (int i = 0; i < 100; ++i) CHECK(events[static_cast<std::size_t>(i)].wait_blocking().first().value() == i);
        auto report = sync_wait(q.stop());
        CHECK(report.drained);
        CHECK_FALSE(q.running());
    }
    CHECK(processed.load() == 100);
}

TEST_CASE("send_blocking on the loop's own thread refuses to wait for itself") {
    io_loop loop;
    async_event go;
    collector<int, void> c{"c", [&](const payload<int>&, collector_context&) -> task<void> { co_await go.wait(); }};
    collector_queue<int, void> q(loop, {c}, {.capacity = 1});
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        auto pub = q.get_publisher();
        auto first = pub.send_blocking(payload<int>::broadcast(1)); // room: fine on the loop thread
        CHECK_THROWS_AS((void)pub.send_blocking(payload<int>::broadcast(2)), queue_state_error);
        CHECK_THROWS_AS((void)pub.publish_blocking(payload<int>::broadcast(3)), queue_state_error);
        go.set();
        co_await first.wait();
        co_await q.stop();
    }());
    CHECK(q.stats().accepted == 1);
}

TEST_CASE("bursts from other threads: every payload processed once, answered once [threads]") {
    io_loop loop;
    std::vector<int> seen; // loop thread only
    collector<int, int> c{"c", [&](const payload<int>& p, collector_context&) {
                              seen.push_back(p.value);
                              return p.value * 2;
                          }};
    collector_queue<int, int> q(loop, {c});
    loop.run_until_complete(q.start());
    constexpr int threads = 3;
    constexpr int per_thread = 5000;
    {
        loop_thread runner(loop);
        std::vector<std::thread> publishers;
        for (int t = 0; t < threads; ++t) {
            publishers.emplace_back([&, t] {
                auto pub = q.get_publisher();
                std::vector<std::pair<int, collector_event<int>>> events;
                for (int i = 0; i < per_thread; ++i) {
                    int v = t * per_thread + i;
                    if (i % 2 == 0) {
                        CHECK(pub.try_publish(payload<int>::broadcast(v)));
                    } else {
                        auto ev = pub.try_send(payload<int>::broadcast(v));
                        REQUIRE(ev);
                        events.emplace_back(v, std::move(*ev));
                    }
                }
                for (auto& [v, ev] : events) CHECK(ev.wait_blocking().first().value() == v * 2);
            });
        }
        for (auto& p : publishers) p.join();
        auto report = sync_wait(q.stop());
        CHECK(report.drained);
    }
    std::vector<int> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    REQUIRE(sorted.size() == threads * per_thread);
    for (int v = 0; v < threads * per_thread; ++v) CHECK(sorted[static_cast<std::size_t>(v)] == v);
    CHECK(q.stats().accepted == threads * per_thread);
}

}

} // namespace test_collector_queue_semantics

