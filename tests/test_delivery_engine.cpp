// The delivery engine's per-record options and its guarantees under failure: batch keys (never mixed
// in a request, an age per key, a bound on open batches), weights, order keys (no overtaking through
// failures, other keys not held up), the retry budget (an empty budget delays, never loses), stop's
// deadline cancelling hung requests, submit() and calls from other threads, the age-only signal, and
// the record envelope in the disk buffer. Every record is counted by id. The disk-full regression
// (issue 8 §4) is in test_delivery_disk_full.cpp.

#include <doctest/doctest.h>

#include <sluice/delivery/pipeline.hpp>
#include <sluice/core/sync_wait.hpp>
#include <sluice/delivery/record_envelope.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/log.hpp>
#include <sluice/sinks/fault_injecting_sink.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <stdlib.h>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_delivery_engine {

using namespace sluice;
using namespace std::chrono_literals;

namespace {

using fault_pipeline = delivery_pipeline<fault_injecting_sink>;

retry_options quick_retries(unsigned attempts = 200) {
    return {.max_attempts = attempts, .initial_backoff = 1ms, .max_backoff = 4ms, .max_elapsed = 60s};
}

/// "<key>/<id>": the key and id a test record carries.
std::string record_of(const std::string& key, int id) { return key + "/" + std::to_string(id); }
std::string key_of(std::string_view record) { return std::string(record.substr(0, record.find('/'))); }
int id_of(std::string_view record) { return std::stoi(std::string(record.substr(record.find('/') + 1))); }

/// Outcomes of deliver() by record.
struct ledger {
    std::map<std::string, delivery_receipt> delivered;
    std::map<std::string, outcome_kind> failed;

    task<void> deliver(fault_pipeline& p, std::string record, record_options options) {
        std::string name = record;
        try {
            auto receipt = co_await p.deliver(std::move(record), std::move(options));
            delivered[name] = receipt;
        } catch (const delivery_error& e) {
            failed[name] = e.kind();
        }
    }
};

/// The requests a fault sink saw, as (key, records) in order: requires that none failed.
std::vector<std::pair<std::string, std::vector<std::string>>> requests_of(const fault_injecting_sink& sink) {
    std::vector<std::pair<std::string, std::vector<std::string>>> out;
    std::size_t at = 0;
    for (std::size_t i = 0; i < sink.batch_sizes().size(); ++i) {
        std::vector<std::string> records(sink.delivered().begin() + static_cast<std::ptrdiff_t>(at),
                                         sink.delivered().begin() + static_cast<std::ptrdiff_t>(at + sink.batch_sizes()[i]));
        at += sink.batch_sizes()[i];
        out.emplace_back(sink.keys()[i], std::move(records));
    }
    return out;
}

task<void> deliver_one(fault_pipeline& p, std::string record) { co_await p.deliver(std::move(record)); }

std::filesystem::path fresh_dir(const std::string& tag) {
    char tmpl[] = "/tmp/sluice-engine-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    return std::filesystem::path(tmpl) / tag;
}

} // namespace

TEST_SUITE("delivery engine") {

TEST_CASE("batch keys: records with different keys never share a request, and the key reaches the sink") {
    io_loop loop;
    fault_injecting_sink sink(loop);
    fault_pipeline p(loop, sink, {.batch = {.max_events = 4, .max_bytes = 1u << 20, .max_age = 10s}});
    ledger log;
    std::vector<std::string> all;
    loop.run_until_complete([&]() -> task<void> {
        for (int id = 0; id < 150; ++id) {
            std::string key = "stream-" + std::to_string(id * 7 % 5);
            std::string record = record_of(key, id);
            all.push_back(record);
            record_options o;
            o.batch_key = key;
            loop.spawn(log.deliver(p, record, std::move(o)));
        }
        co_await loop.schedule();
        co_await p.flush();
        co_await p.stop();
    }());
    loop.drain();
    CHECK(log.delivered.size() == 150);
    CHECK(log.failed.empty());
    std::multiset<std::string> landed;
    for (const auto& [key, records] : requests_of(sink)) {
        CHECK(records.size() <= 4);
        for (const auto& r : records) {
            CHECK(key_of(r) == key); // the request's key is every record's key
            landed.insert(r);
        }
    }
    for (const auto& r : all) CHECK(landed.count(r) == 1);
    // Records of one key keep their order across that key's batches.
    std::map<std::string, int> last;
    for (const auto& r : sink.delivered()) {
        auto it = last.find(key_of(r));
        if (it != last.end()) CHECK(it->second < id_of(r));
        last[key_of(r)] = id_of(r);
    }
}

TEST_CASE("batch keys: each key's batch has its own age") {
    io_loop loop;
    fault_injecting_sink sink(loop);
    fault_pipeline p(loop, sink, {.batch = {.max_events = 100, .max_bytes = 1u << 20, .max_age = 200ms}});
    ledger log;
    std::size_t open_when_first_sent = 0;
    loop.run_until_complete([&]() -> task<void> {
        record_options a;
        a.batch_key = "a";
        loop.spawn(log.deliver(p, record_of("a", 1), std::move(a)));
        co_await loop.sleep_for(100ms);
        record_options b;
        b.batch_key = "b";
        loop.spawn(log.deliver(p, record_of("b", 2), std::move(b)));
        while (sink.requests() == 0) co_await loop.sleep_for(1ms);
        open_when_first_sent = p.stats().open_batches;
        while (log.delivered.size() < 2) co_await loop.sleep_for(1ms);
        co_await p.stop();
    }());
    loop.drain();
    // "a" aged out alone: "b", opened later, was still open with its own deadline.
    CHECK(sink.keys() == std::vector<std::string>{"a", "b"});
    CHECK(open_when_first_sent == 1);
    CHECK(p.stats().sealed_by_age == 2);
}

TEST_CASE("batch keys: opening more than max_open_batches seals the oldest") {
    io_loop loop;
    fault_injecting_sink sink(loop);
    fault_pipeline p(loop, sink,
                     {.batch = {.max_events = 100, .max_bytes = 1u << 20, .max_age = 10s, .max_open_batches = 3}});
    ledger log;
    std::size_t requests_before_flush = 0, open_before_flush = 0;
    loop.run_until_complete([&]() -> task<void> {
        for (int k = 0; k < 5; ++k) {
            record_options o;
            o.batch_key = "k" + std::to_string(k);
            std::string record = record_of(o.batch_key, k); // before `o` is moved from
            loop.spawn(log.deliver(p, std::move(record), std::move(o)));
        }
        co_await loop.schedule();
        co_await loop.schedule();
        requests_before_flush = sink.requests();
        open_before_flush = p.stats().open_batches;
        co_await p.flush();
        co_await p.stop();
    }());
    loop.drain();
    CHECK(requests_before_flush == 2); // k0 and k1 went early to make room for k3 and k4
    CHECK(open_before_flush == 3);
    CHECK(sink.keys() == std::vector<std::string>{"k0", "k1", "k2", "k3", "k4"});
    CHECK(log.delivered.size() == 5);
}

TEST_CASE("weights: a batch closes by the records' weight, and a weight over the sink's record limit is refused") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.limits = {.max_batch_entries = 100, .max_batch_bytes = 1u << 20, .max_record_bytes = 64}});
    fault_pipeline p(loop, sink, {.batch = {.max_events = 100, .max_bytes = 100, .max_age = 10s}});
    ledger log;
    loop.run_until_complete([&]() -> task<void> {
        for (int id = 0; id < 9; ++id) {
            record_options o;
            o.weight = 40; // 10-byte records that cost 40 each: two fit in 100
            loop.spawn(log.deliver(p, record_of("w", id) + "xxxxx", std::move(o)));
        }
        record_options heavy;
        heavy.weight = 65; // over the sink's 64 per record, although the record is 4 bytes
        loop.spawn(log.deliver(p, "tiny", std::move(heavy)));
        co_await loop.schedule();
        co_await p.flush();
        co_await p.stop();
    }());
    loop.drain();
    CHECK(sink.batch_sizes() == std::vector<std::size_t>{2, 2, 2, 2, 1});
    CHECK(log.delivered.size() == 9);
    REQUIRE(log.failed.count("tiny") == 1);
    CHECK(log.failed["tiny"] == outcome_kind::invalid);
    CHECK(std::find(sink.delivered().begin(), sink.delivered().end(), "tiny") == sink.delivered().end());
}

TEST_CASE("order keys: records of a key never overtake each other through 40% failures") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.request_failure_rate = 0.2, .entry_failure_rate = 0.4, .seed = 5});
    delivery_options o;
    o.batch = {.max_events = 16, .max_bytes = 1u << 20, .max_age = 1ms};
    o.retry = quick_retries(500);
    o.concurrency.max_in_flight = 8;
    o.order_by_key = true;
    fault_pipeline p(loop, sink, o);
    ledger log;
    constexpr int keys = 12, per_key = 30;
    loop.run_until_complete([&]() -> task<void> {
        for (int i = 0; i < per_key; ++i)
            for (int k = 0; k < keys; ++k) {
                record_options ro;
                ro.order_key = "key" + std::to_string(k);
                std::string record = record_of(ro.order_key, i); // before `ro` is moved from
                loop.spawn(log.deliver(p, std::move(record), std::move(ro)));
            }
        co_await loop.schedule();
        co_await p.flush();
        co_await p.stop();
    }());
    loop.drain();
    CHECK(log.delivered.size() == keys * per_key);
    CHECK(sink.failed_entries() + sink.failed_requests() > 50);
    CHECK(p.stats().order_key_waits > 0);
    std::map<std::string, std::vector<int>> by_key;
    for (const auto& r : sink.delivered()) by_key[key_of(r)].push_back(id_of(r));
    REQUIRE(by_key.size() == keys);
    std::vector<int> expected(per_key);
    for (int i = 0; i < per_key; ++i) expected[static_cast<std::size_t>(i)] = i;
    for (const auto& entry : by_key) {
        CAPTURE(entry.first);
        CHECK(entry.second == expected); // each once, in order
    }
}

TEST_CASE("order keys: a key whose records keep failing does not hold up the others") {
    io_loop loop;
    bool stuck_down = true;
    fault_injecting_sink sink(loop, {.fail = [&](std::string_view r) { return stuck_down && key_of(r) == "stuck"; }});
    delivery_options o;
    o.batch = {.max_events = 8, .max_bytes = 1u << 20, .max_age = 1ms};
    o.retry = {.max_attempts = 100'000, .initial_backoff = 1ms, .max_backoff = 2ms, .max_elapsed = 600s};
    o.order_by_key = true;
    fault_pipeline p(loop, sink, o);
    ledger log;
    std::size_t others_while_stuck = 0;
    loop.run_until_complete([&]() -> task<void> {
        for (int i = 0; i < 5; ++i) {
            record_options ro;
            ro.order_key = "stuck";
            loop.spawn(log.deliver(p, record_of("stuck", i), std::move(ro)));
        }
        for (int i = 0; i < 200; ++i) {
            record_options ro;
            ro.order_key = "k" + std::to_string(i % 10);
            std::string record = record_of(ro.order_key, i); // before `ro` is moved from
            loop.spawn(log.deliver(p, std::move(record), std::move(ro)));
        }
        while (log.delivered.size() < 200) co_await loop.sleep_for(1ms);
        others_while_stuck = log.delivered.size();
        CHECK(sink.failed_entries() > 0);
        stuck_down = false;
        co_await p.flush();
        co_await p.stop();
    }());
    loop.drain();
    CHECK(others_while_stuck == 200); // every other key got through while "stuck" kept failing
    std::vector<int> stuck;
    for (const auto& r : sink.delivered())
        if (key_of(r) == "stuck") stuck.push_back(id_of(r));
    CHECK(stuck == std::vector<int>{0, 1, 2, 3, 4});
    CHECK(log.delivered.size() == 205);
}

TEST_CASE("ordered and order_by_key together are refused at construction") {
    io_loop loop;
    fault_injecting_sink sink(loop);
    delivery_options o;
    o.ordered = true;
    o.order_by_key = true;
    CHECK_THROWS_AS(fault_pipeline(loop, sink, o), std::invalid_argument);
}

TEST_CASE("retry budget: AWS standard mode costs, capped refunds, shared between threads") {
    retry_budget b({.capacity = 20, .retry_cost = 5, .timeout_cost = 10, .success_refund = 1});
    CHECK(b.available() == 20);
    CHECK(b.acquire_retry(false) == 5);
    CHECK(b.acquire_retry(true) == 10);
    CHECK(b.available() == 5);
    CHECK(b.acquire_retry(true) == 0); // cannot pay 10: nothing taken
    CHECK(b.available() == 5);
    CHECK(b.acquire_retry(false) == 5);
    CHECK(b.acquire_retry(false) == 0);
    b.on_success();  // +1
    b.on_success(5); // a retry that succeeded gives its cost back
    CHECK(b.available() == 6);
    b.release(100);
    CHECK(b.available() == 20); // never above the capacity

    auto shared = std::make_shared<retry_budget>(retry_budget_options{.capacity = 100'000});
    std::atomic<unsigned> taken{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 10'000; ++i) {
                if (unsigned c = shared->acquire_retry(false)) taken += c;
                shared->on_success();
            }
        });
    for (auto& t : threads) t.join();
    CHECK(shared->available() <= 100'000);
    CHECK(taken.load() > 0);
}

TEST_CASE("retry budget: when it is empty retries wait the ceiling, and nothing is given up") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.fail_first_requests = 12});
    auto budget = std::make_shared<retry_budget>(retry_budget_options{.capacity = 10, .retry_cost = 5});
    delivery_options o;
    o.batch = {.max_events = 50, .max_bytes = 1u << 20, .max_age = 1ms};
    o.retry = {.max_attempts = 50, .initial_backoff = 1ms, .max_backoff = 15ms, .max_elapsed = 60s, .budget = budget};
    fault_pipeline p(loop, sink, o);
    ledger log;
    std::vector<std::string> all;
    loop.run_until_complete([&]() -> task<void> {
        for (int id = 0; id < 40; ++id) {
            all.push_back(record_of("r", id));
            loop.spawn(log.deliver(p, all.back(), record_options{}));
        }
        co_await loop.schedule();
        co_await p.flush();
        co_await p.stop();
    }());
    loop.drain();
    CHECK(sink.failed_requests() == 12);
    CHECK(p.stats().budget_delays >= 10); // the budget paid for two retries, then the circuit opened
    CHECK(p.stats().failed == 0);
    CHECK(log.failed.empty());
    std::multiset<std::string> landed(sink.delivered().begin(), sink.delivered().end());
    for (const auto& r : all) CHECK(landed.count(r) == 1);
    CHECK(budget->available() > 0); // successes refilled it
}

TEST_CASE("stop: a hung request is cancelled at the deadline; its records are reported, not waited for") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.hang = true}); // hangs for an hour unless cancelled
    fault_pipeline p(loop, sink, {.batch = {.max_events = 5, .max_bytes = 1u << 20, .max_age = 1ms}});
    ledger log;
    delivery_report report;
    loop.run_until_complete([&]() -> task<void> {
        for (int id = 0; id < 12; ++id) loop.spawn(log.deliver(p, record_of("h", id), record_options{}));
        while (sink.hung() < 3) co_await loop.sleep_for(1ms);
        report = co_await p.stop(20ms);
    }());
    loop.drain();
    CHECK(report.cancelled_requests == 3);
    CHECK(report.unprocessed == 12);
    CHECK_FALSE(report.drained);
    CHECK(log.failed.size() == 12);
    for (const auto& [r, kind] : log.failed) CHECK(kind == outcome_kind::cancelled);
    CHECK(p.stats().cancelled_requests == 3);
}

TEST_CASE("stop: with a disk buffer, the records of cancelled requests stay on disk for the next start") {
    auto dir = fresh_dir("cancel");
    io_loop loop;
    disk_buffer_options d;
    d.directory = dir;
    d.fsync = fsync_policy::os;
    std::vector<std::string> all;
    {
        fault_injecting_sink sink(loop, {.hang = true});
        delivery_options o;
        o.batch = {.max_events = 4, .max_bytes = 1u << 20, .max_age = 1ms};
        o.disk = d;
        fault_pipeline p(loop, sink, o); // memory buffer: kept on disk at the deadline
        ledger log;
        auto report = loop.run_until_complete([&]() -> task<delivery_report> {
            co_await p.start();
            for (int id = 0; id < 10; ++id) {
                all.push_back(record_of("c", id));
                loop.spawn(log.deliver(p, all.back(), record_options{}));
            }
            while (sink.hung() < 3) co_await loop.sleep_for(1ms);
            co_return co_await p.stop(10ms);
        }());
        loop.drain();
        CHECK(report.cancelled_requests == 3);
        CHECK(report.persisted == 10);
        CHECK(report.unprocessed == 0);
        for (const auto& r : all) CHECK(log.delivered[r].persisted);
    }
    {
        fault_injecting_sink sink(loop);
        delivery_options o;
        o.batch = {.max_events = 4, .max_bytes = 1u << 20, .max_age = 1ms};
        o.disk = d;
        fault_pipeline p(loop, sink, o);
        loop.run_until_complete([&]() -> task<void> {
            co_await p.start();
            co_await p.flush();
            co_await p.stop();
        }());
        loop.drain();
        std::multiset<std::string> landed(sink.delivered().begin(), sink.delivered().end());
        for (const auto& r : all) CHECK(landed.count(r) == 1);
    }
    std::filesystem::remove_all(dir.parent_path());
}

TEST_CASE("submit: outcomes through a callback, no coroutine per record") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.entry_failure_rate = 0.2, .reject = [](std::string_view r) { return id_of(r) % 50 == 7; }});
    fault_pipeline p(loop, sink, {.batch = {.max_events = 32, .max_bytes = 1u << 20, .max_age = 1ms}, .retry = quick_retries()});
    std::map<int, outcome_kind> outcomes;
    std::map<int, unsigned> attempts;
    loop.run_until_complete([&]() -> task<void> {
        for (int id = 0; id < 500; ++id)
            p.submit(record_of("s", id), {}, [&outcomes, &attempts, id](const outcome& o) {
                outcomes[id] = o.kind;
                attempts[id] = o.attempts;
            });
        co_await p.flush();
        co_await p.stop();
        bool refused_at_once = false;
        p.submit("late/1", {}, [&](const outcome& o) { refused_at_once = o.kind == outcome_kind::cancelled; });
        CHECK(refused_at_once);
    }());
    loop.drain();
    REQUIRE(outcomes.size() == 500);
    for (const auto& [id, kind] : outcomes) {
        CHECK(kind == (id % 50 == 7 ? outcome_kind::reject : outcome_kind::ok));
        CHECK(attempts[id] >= 1);
    }
    CHECK(sink.delivered().size() == 490);
}

TEST_CASE("submit: the callback with data gets back the bytes of every record not delivered, none of the rest") {
    io_loop loop;
    fault_injecting_sink sink(loop, {.reject = [](std::string_view r) { return id_of(r) % 10 == 3; }});
    fault_pipeline p(loop, sink, {.batch = {.max_events = 16, .max_bytes = 1u << 20, .max_age = 1ms}, .retry = quick_retries()});
    std::map<int, std::pair<outcome_kind, std::string>> outcomes;
    std::string refused;
    outcome_kind refused_kind = outcome_kind::ok;
    loop.run_until_complete([&]() -> task<void> {
        for (int id = 0; id < 200; ++id)
            p.submit(record_of("s", id), {}, [&outcomes, id](const outcome& o, std::string&& data) {
                outcomes[id] = {o.kind, std::move(data)};
            });
        co_await p.flush();
        co_await p.stop();
        p.submit("late/1", {}, [&](const outcome& o, std::string&& data) {
            refused_kind = o.kind;
            refused = std::move(data);
        });
    }());
    loop.drain();
    REQUIRE(outcomes.size() == 200);
    for (const auto& [id, result] : outcomes) {
        if (id % 10 == 3) {
            CHECK(result.first == outcome_kind::reject);
            CHECK(result.second == record_of("s", id)); // the bytes, for the sender to rebuild its record
        } else {
            CHECK(result.first == outcome_kind::ok);
            CHECK(result.second.empty());
        }
    }
    CHECK(refused_kind == outcome_kind::cancelled); // refused at once, after stop()
    CHECK(refused == "late/1");
    CHECK(sink.delivered().size() == 180);
}

TEST_CASE("calls from another thread hop onto the loop: deliver(), submit(), flush(), stop()") {
    io_loop loop;
    fault_injecting_sink sink(loop);
    fault_pipeline p(loop, sink, {.batch = {.max_events = 10, .max_bytes = 1u << 20, .max_age = 1ms}});
    std::thread runner([&] { loop.run(); });
    std::atomic<int> submitted_ok{0};
    std::vector<std::thread> senders;
    std::atomic<int> delivered{0};
    for (int t = 0; t < 3; ++t)
        senders.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                auto receipt = sync_wait(p.deliver(record_of("t" + std::to_string(t), i)));
                if (receipt.attempts == 1) ++delivered;
                p.submit(record_of("u" + std::to_string(t), i), {}, [&](const outcome& o) {
                    if (o.kind == outcome_kind::ok) ++submitted_ok;
                });
            }
        });
    for (auto& s : senders) s.join();
    sync_wait(p.flush());
    auto report = sync_wait(p.stop());
    loop.stop();
    runner.join();
    CHECK(report.drained);
    CHECK(delivered.load() == 150);
    CHECK(submitted_ok.load() == 150);
    CHECK(sink.delivered().size() == 300);
}

TEST_CASE("the engine says when senders only wait for the age timer (metric and debug log)") {
    io_loop loop;
    std::vector<std::string> lines;
    logger log({.level = log_level::debug}, [&](const log_record& r) { lines.push_back(format_log_line(r)); });
    metrics_registry registry;
    fault_injecting_sink sink(loop);
    delivery_options o;
    o.name = "mis-sized";
    o.batch = {.max_events = 100, .max_bytes = 1u << 20, .max_age = 5ms};
    o.log = &log;
    o.metrics = &registry;
    fault_pipeline p(loop, sink, o);
    // 8 senders that each await their acknowledgement can never fill a batch of 100.
    int done = 0;
    auto sender = [&](int s) -> task<void> {
        for (int i = 0; i < 5; ++i) co_await p.deliver(record_of("s" + std::to_string(s), i));
        ++done;
    };
    loop.run_until_complete([&]() -> task<void> {
        for (int s = 0; s < 8; ++s) loop.spawn(sender(s));
        while (done < 8) co_await loop.sleep_for(1ms);
        co_await p.stop();
    }());
    loop.drain();
    CHECK(p.stats().age_only_waits >= 5);
    CHECK(p.stats().age_only_waits <= p.stats().sealed_by_age);
    const auto snap = registry.snapshot();
    const auto* m = snap.find("sluice_batch_age_only_waits_total", {{"component", "sink"}, {"name", "mis-sized"}});
    REQUIRE(m != nullptr);
    CHECK(m->value == static_cast<double>(p.stats().age_only_waits));
    REQUIRE_FALSE(lines.empty()); // once per 10 s at most
    CHECK(lines.size() == 1);
    CHECK(lines[0].find("batch sealed by max_age while every sender waited") != std::string::npos);

    // Enough senders to fill batches: nothing is sealed by age.
    fault_injecting_sink sink2(loop);
    fault_pipeline full(loop, sink2, {.batch = {.max_events = 10, .max_bytes = 1u << 20, .max_age = 10s}});
    loop.run_until_complete([&]() -> task<void> {
        for (int i = 0; i < 100; ++i) loop.spawn(deliver_one(full, record_of("f", i)));
        co_await loop.schedule();
        co_await full.flush();
        co_await full.stop();
    }());
    loop.drain();
    CHECK(full.stats().age_only_waits == 0);
    CHECK(sink2.delivered().size() == 100);
}

TEST_CASE("record envelope: options round-trip, plain records stay plain, old data reads back unchanged") {
    using namespace sluice::detail;
    std::string stored;
    wrap_record(stored, {"stream-1", "group-7", 123}, "payload");
    auto u = unwrap_record(stored);
    CHECK(u.meta.batch_key == "stream-1");
    CHECK(u.meta.order_key == "group-7");
    CHECK(u.meta.weight == 123);
    CHECK(u.data == "payload");

    std::string plain;
    wrap_record(plain, {}, R"({"a":1})");
    CHECK(plain == R"({"a":1})"); // no options, no envelope
    CHECK(unwrap_record(plain).data == plain);

    // A record that begins with the magic is enveloped, so it reads back unchanged.
    std::string tricky("\xFF\x00SE and more", 13);
    std::string wrapped;
    wrap_record(wrapped, {}, tricky);
    CHECK(wrapped.size() == tricky.size() + envelope_header_size);
    CHECK(unwrap_record(wrapped).data == tricky);
    // Old data that happens to begin with the magic but has no valid envelope stays as it is.
    CHECK(unwrap_record(tricky).data == tricky);
    std::string damaged = stored;
    damaged[8] = 'X'; // the order key's length: the CRC no longer matches
    CHECK(unwrap_record(damaged).data == damaged);
}

TEST_CASE("disk buffer: batch key, weight and order key survive a restart; plain old records still read") {
    auto dir = fresh_dir("meta");
    io_loop loop;
    disk_buffer_options d;
    d.directory = dir;
    d.fsync = fsync_policy::os;
    // Records written as the engine stored them before envelopes existed: plain bytes.
    loop.run_until_complete([&]() -> task<void> {
        auto raw = co_await disk_buffer::open(loop, d);
        co_await raw->append(std::string_view("old/0"));
        co_await raw->append(std::string_view("old/1"));
        co_await raw->close();
    }());
    std::vector<std::pair<std::string, std::string>> sent; // record, key
    {
        fault_injecting_sink down(loop, {.request_failure_rate = 1.0});
        delivery_options o;
        o.batch = {.max_events = 100, .max_bytes = 1u << 20, .max_age = 1ms};
        o.buffer.type = buffer_type::disk;
        o.retry = quick_retries(1'000'000);
        o.disk = d;
        fault_pipeline p(loop, down, o);
        loop.run_until_complete([&]() -> task<void> {
            co_await p.start();
            for (int id = 0; id < 40; ++id) {
                record_options ro;
                ro.batch_key = "table-" + std::to_string(id % 3);
                ro.order_key = "g" + std::to_string(id % 4);
                ro.weight = 30;
                std::string record = record_of(ro.batch_key, id);
                sent.emplace_back(record, ro.batch_key);
                auto receipt = co_await p.deliver(std::move(record), std::move(ro));
                CHECK(receipt.persisted);
            }
            co_await p.stop(1ms);
        }());
        loop.drain();
    }
    fault_injecting_sink up(loop);
    delivery_options o;
    o.batch = {.max_events = 100, .max_bytes = 100, .max_age = 1ms}; // weight 30: three per batch
    o.buffer.type = buffer_type::disk;
    o.order_by_key = true;
    o.disk = d;
    fault_pipeline p(loop, up, o);
    loop.run_until_complete([&]() -> task<void> {
        co_await p.start();
        co_await p.flush();
        co_await p.stop();
    }());
    loop.drain();
    std::multiset<std::string> landed(up.delivered().begin(), up.delivered().end());
    CHECK(landed.count("old/0") == 1);
    CHECK(landed.count("old/1") == 1);
    for (const auto& [record, key] : sent) CHECK(landed.count(record) == 1);
    for (const auto& [key, records] : requests_of(up)) {
        if (key.empty()) {
            for (const auto& r : records) CHECK(key_of(r) == "old");
            continue;
        }
        CHECK(records.size() <= 3); // the weight came back too
        for (const auto& r : records) CHECK(key_of(r) == key);
    }
    std::map<int, int> last_by_group; // order key g<id % 4>: ids in order
    for (const auto& r : up.delivered()) {
        if (key_of(r) == "old") continue;
        const int id = id_of(r);
        auto it = last_by_group.find(id % 4);
        if (it != last_by_group.end()) CHECK(it->second < id);
        last_by_group[id % 4] = id;
    }
    std::filesystem::remove_all(dir.parent_path());
}

} // TEST_SUITE

} // namespace test_delivery_engine

