// collector_queue with deferred processors (queue/processor.hpp): a processor handed a
// processor_answer answers later, once, from the loop or another thread; it never holds its consumer;
// a throw before answering is its Error; an answer that never comes is abandoned at stop's deadline.
// And delivering_processor (delivery/collector_delivery.hpp): acknowledged delivery through a
// pipeline, receipts and failures counted by id.

#include <doctest/doctest.h>

#include "support.hpp"

#include <sluice/delivery/collector_delivery.hpp>
#include <sluice/delivery/pipeline.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/queue/collector_queue.hpp>
#include <sluice/sinks/fault_injecting_sink.hpp>

#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_collector_queue_deferred {

using namespace sluice;
using namespace std::chrono_literals;
using sluice_test::wait_until;

namespace {

/// Sends `n` broadcast payloads 0..n-1 and returns their events.
template <class R>
task<std::vector<collector_event<R>>> send_numbers(collector_queue<int, R>& q, int n) {
    auto pub = q.get_publisher();
    std::vector<collector_event<R>> events;
    for (int i = 0; i < n; ++i) {
        auto p = payload<int>::broadcast(i);
        events.push_back(co_await pub.send(std::move(p)));
    }
    co_return events;
}

} // namespace

TEST_SUITE("collector_queue deferred") {

TEST_CASE("a deferred processor answers later; its consumer takes the next payloads meanwhile") {
    io_loop loop;
    std::vector<processor_answer<int>> answers;
    collector<int, int> later{"later", [&](const payload<int>&, collector_context&, processor_answer<int> a) {
                                  answers.push_back(a);
                              }};
    queue_options o;
    o.min_consumers = 1;
    o.max_consumers = 1; // one consumer: if it waited for an answer, only one payload would be handed over
    collector_queue<int, int> q(loop, {later}, o);
    std::vector<collector_event<int>> events;
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        events = co_await send_numbers(q, 10);
        co_await wait_until(loop, [&] { return answers.size() == 10; });
        REQUIRE(answers.size() == 10);
        for (auto& e : events) CHECK_FALSE(e.done());
        CHECK(q.stats().in_flight == 10);
        // Answered out of order: odd ones Ok, even ones an Error; a second answer changes nothing.
        for (int i = 9; i >= 0; --i) {
            if (i % 2 == 1)
                answers[static_cast<std::size_t>(i)].ok(i * 10);
            else
                answers[static_cast<std::size_t>(i)].fail(error{{}, "even " + std::to_string(i), {}, {}, {}});
        }
        answers[1].ok(-1);
        answers[2].ok(-2);
        co_await q.stop();
    }());
    for (int i = 0; i < 10; ++i) {
        auto& e = events[static_cast<std::size_t>(i)];
        REQUIRE(e.done());
        const auto& r = e.get_result().first();
        CHECK(r.source() == "later");
        if (i % 2 == 1) {
            REQUIRE(r.is_ok());
            CHECK(r.value() == i * 10);
        } else {
            REQUIRE(r.is_error());
            CHECK(r.get_error().message == "even " + std::to_string(i));
        }
    }
    CHECK(q.stats().processed == 10);
    CHECK(q.stats().failed == 5);
}

TEST_CASE("deferred answers from another thread hop to the loop [threads]") {
    io_loop loop;
    std::vector<processor_answer<void>> answers;
    collector<int> later{"later", [&](const payload<int>&, collector_context&, processor_answer<void> a) { answers.push_back(a); }};
    collector_queue<int> q(loop, {later});
    constexpr int n = 200;
    std::vector<collector_event<void>> events;
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        events = co_await send_numbers(q, n);
        co_await wait_until(loop, [&] { return answers.size() == static_cast<std::size_t>(n); });
        REQUIRE(answers.size() == static_cast<std::size_t>(n));
        std::thread other([all = answers] {
            for (const auto& a : all) a.ok();
        });
        co_await wait_until(loop, [&] { return q.stats().processed == static_cast<std::uint64_t>(n); });
        other.join();
        co_await q.stop();
    }());
    for (auto& e : events) {
        REQUIRE(e.done());
        CHECK(e.get_result().first().is_ok());
    }
}

TEST_CASE("deferred processors beside others: an inline answer, a throw before answering, a synchronous one") {
    io_loop loop;
    collector<int, int> inline_answer{"inline", [](const payload<int>& p, collector_context&, processor_answer<int> a) {
                                          a.ok(p.value + 100);
                                      }};
    collector<int, int> thrower{"thrower", [](const payload<int>& p, collector_context&, processor_answer<int> a) {
                                    if (p.value == 1) {
                                        a.ok(1); // answered, then threw: the answer stands
                                        throw std::runtime_error("after answering");
                                    }
                                    throw std::runtime_error("refused " + std::to_string(p.value));
                                }};
    collector<int, int> sync{"sync", [](const payload<int>& p, collector_context&) { return -p.value; }};
    collector_queue<int, int> q(loop, {inline_answer, thrower, sync});
    std::vector<collector_event<int>> events;
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        events = co_await send_numbers(q, 3);
        for (auto& e : events) (void)co_await e.wait();
        co_await q.stop();
    }());
    for (int i = 0; i < 3; ++i) {
        const auto& r = events[static_cast<std::size_t>(i)].get_result();
        REQUIRE(r.size() == 3);
        CHECK(r[0].value() == i + 100);
        CHECK(r[2].value() == -i);
        if (i == 1) {
            CHECK(r[1].value() == 1);
        } else {
            REQUIRE(r[1].is_error());
            CHECK(r[1].source() == "thrower");
            CHECK(r[1].get_error().message == "refused " + std::to_string(i));
        }
    }
}

TEST_CASE("a deferred answer that never comes is abandoned at stop's deadline; a late one is counted") {
    io_loop loop;
    std::vector<processor_answer<int>> answers;
    collector<int, int> forgetful{"forgetful", [&](const payload<int>&, collector_context&, processor_answer<int> a) {
                                      answers.push_back(a);
                                  }};
    queue_options o;
    o.abandon_after = 20ms;
    collector_queue<int, int> q(loop, {forgetful}, o);
    std::vector<collector_event<int>> events;
    stop_report report;
    loop.run_until_complete([&]() -> task<void> {
        co_await q.start();
        events = co_await send_numbers(q, 2);
        co_await wait_until(loop, [&] { return answers.size() == 2; });
        report = co_await q.stop(10ms);
        // After abandonment: counted as completed (or failed) late; the payloads were answered already.
        // The last answer frees the abandoned job.
        answers[0].ok(7);
        answers[1].fail(error{{}, "late", {}, {}, {}});
    }());
    CHECK(report.abandoned == 2);
    for (auto& e : events) {
        REQUIRE(e.done());
        CHECK(e.get_result().first().get_error().abandoned());
    }
    CHECK(q.stats().completed_late == 1);
    CHECK(q.stats().failed_late == 1);
}

TEST_CASE("delivering_processor: every record acknowledged or refused, by id, with the outcome's details") {
    io_loop loop;
    fault_options faults;
    faults.reject = [](std::string_view record) { return record.find("\"id\":13,") != std::string_view::npos; };
    fault_injecting_sink sink(loop, faults);
    delivery_options d;
    d.name = "orders";
    d.batch = {.max_events = 500, .max_bytes = 1 << 20, .max_age = std::chrono::milliseconds(200)};
    d.limit_overrides.max_record_bytes = 64;
    delivery_pipeline<fault_injecting_sink> pipeline(loop, sink, d);
    collector<int, delivery_receipt> deliver{
        "deliver", delivering_processor<int>(pipeline, [](const payload<int>& p) {
            // Record 7 is too large for the limit: refused before it enters, answered at once.
            return "{\"id\":" + std::to_string(p.value) + ",\"pad\":\"" + std::string(p.value == 7 ? 80 : 4, 'x') + "\"}";
        })};
    collector_queue<int, delivery_receipt> q(loop, {deliver}); // default options
    constexpr int n = 2000;
    std::set<int> acknowledged, rejected, invalid;
    loop.run_until_complete([&]() -> task<void> {
        co_await pipeline.start();
        co_await q.start();
        auto events = co_await send_numbers(q, n);
        for (int i = 0; i < n; ++i) {
            const auto& list = co_await events[static_cast<std::size_t>(i)].wait();
            const auto& r = list.first();
            if (r.is_ok() && r.value().attempts == 1 && !r.value().persisted) acknowledged.insert(i);
            if (r.is_error() && r.get_error().details) {
                if (r.get_error().details->kind == outcome_kind::reject) rejected.insert(i);
                if (r.get_error().details->kind == outcome_kind::invalid) invalid.insert(i);
                CHECK(r.source() == "deliver");
                CHECK_THROWS_AS(r.get_error().rethrow(), delivery_error);
            }
        }
        co_await q.stop();
        co_await pipeline.stop();
    }());
    CHECK(acknowledged.size() == n - 2);
    CHECK(rejected == std::set<int>{13});
    CHECK(invalid == std::set<int>{7});
    CHECK(sink.delivered().size() == n - 2);
    // Full batches: the age timer did not decide (with consumers held, 4 per 200 ms batch).
    CHECK(pipeline.stats().batches <= 10);
}

} // TEST_SUITE

} // namespace test_collector_queue_deferred
