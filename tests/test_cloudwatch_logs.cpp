// CloudWatch Logs PutLogEvents on the batch layer, against a loopback fixture that follows the API
// reference (no emulator exists) and enforces what a batcher can break: 10,000 events and 1,048,576
// bytes (message bytes + 26 each) per request, chronological order, a span of at most 24 hours. It
// rejects too old, too new and expired events by index range as CloudWatch does, and creates groups
// and streams. Every event is accounted for by id.

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON

#include "support/aws_harness.hpp"

#include <sluice/aws/cloudwatch_logs.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_cloudwatch_logs {

using namespace sluice;
using namespace sluice::aws;
using namespace std::chrono_literals;
using sluice_test::aws_error;
using sluice_test::http_reply;

namespace {

using harness = sluice_test::aws_harness<sluice_test::fake_logs>;
using clock_type = std::chrono::system_clock;

logs_service logs(bool create = false) {
    logs_options o;
    o.group = "app";
    o.stream = "web-1";
    o.create_missing = create;
    return logs_service(o);
}

log_event event(int id, clock_type::time_point t, std::size_t pad = 0) {
    return log_event{"{\"id\":" + std::to_string(id) + ",\"pad\":\"" + std::string(pad, 'p') + "\"}", t, {}, {}};
}

int id_of(const std::string& message) { return std::stoi(message.substr(6)); }

std::multiset<int> stored_ids(sluice_test::fake_logs& f, const std::string& group = "app", const std::string& stream = "web-1") {
    std::multiset<int> ids;
    for (const auto& e : f.groups[group][stream]) ids.insert(id_of(e.message));
    return ids;
}

} // namespace

TEST_SUITE("cloudwatch-logs") {

TEST_CASE("cloudwatch logs: events are checked before sending") {
    auto s = logs();
    log_event ok{"hello", {}, {}, {}};
    CHECK(s.prepare(ok).empty());
    CHECK(ok.time.time_since_epoch().count() != 0);
    log_event empty{"", {}, {}, {}};
    CHECK(s.prepare(empty).find("empty") != std::string::npos);
    log_event big{std::string(1'048'551, 'x'), {}, {}, {}};
    CHECK(s.prepare(big).find("1048551 bytes") != std::string::npos);
    log_event max{std::string(1'048'550, 'x'), {}, {}, {}};
    CHECK(s.prepare(max).empty());
    log_event bad{"caf\xC3", {}, {}, {}};
    CHECK(s.prepare(bad).find("invalid UTF-8") != std::string::npos);
    log_event other{"x", {}, "app", "web-2"};
    CHECK(s.prepare(other).empty()); // another stream: its own batch key
    log_event bad_stream{"x", {}, "app", "a:b"};
    CHECK(s.prepare(bad_stream).find("log stream name") != std::string::npos);
    CHECK_THROWS_AS(logs_service(logs_options{"bad group!", "s", false, no_overrides}), std::invalid_argument);
    CHECK_THROWS_AS(logs_service(logs_options{"g", "s*", false, no_overrides}), std::invalid_argument);
}

TEST_CASE("cloudwatch logs: a request's events are sorted by time and the rejected ranges map back through the permutation") {
    auto s = logs();
    const auto t0 = clock_type::time_point(std::chrono::milliseconds(1'767'225'600'000));
    const int offsets[] = {50, 10, 40, 10, 0}; // batch order; sorted: 4, 1, 3, 2, 0 (stable for equal times)
    std::vector<std::string> storage;
    std::vector<std::string> keys;
    for (int i = 0; i < 5; ++i) {
        log_event e = event(i, t0 + std::chrono::milliseconds(offsets[i]));
        std::string entry;
        const entry_meta m = s.encode_entry(e, entry);
        CHECK(m.counted == e.message.size());
        keys.push_back(m.batch_key);
        storage.push_back(std::move(entry));
    }
    CHECK(keys[0] == "app:web-1:" + std::to_string(1'767'225'600'000LL / 86'400'000));
    const std::vector<std::string_view> entries(storage.begin(), storage.end());
    std::string body;
    auto state = s.encode_request(sink_batch{{}, entries}, body);
    CHECK(state.sent == std::vector<std::size_t>{4, 1, 3, 2, 0});
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(body).get(doc) == simdjson::SUCCESS);
    CHECK(std::string_view(doc["logGroupName"]) == "app");
    CHECK(std::string_view(doc["logStreamName"]) == "web-1");
    std::int64_t previous = 0;
    for (simdjson::dom::element e : doc["logEvents"].get_array()) {
        CHECK(std::int64_t(e["timestamp"]) >= previous);
        previous = std::int64_t(e["timestamp"]);
    }
    // Sent positions 0 (batch 4) and 1 (batch 1) too old, 4 (batch 0) too new.
    const batch_result r =
        s.read_response(R"({"rejectedLogEventsInfo":{"tooOldLogEventEndIndex":1,"tooNewLogEventStartIndex":4}})", sink_batch{{}, entries}, state);
    REQUIRE(r.entries.size() == 5);
    CHECK(r.entries[4].service_code == "TooOldLogEvent");
    CHECK(r.entries[1].service_code == "TooOldLogEvent");
    CHECK(r.entries[0].service_code == "TooNewLogEvent");
    CHECK(r.entries[2].is_ok());
    CHECK(r.entries[3].is_ok());
    // With a batch key, the key's stream is used.
    std::string keyed;
    [[maybe_unused]] auto s2 = s.encode_request(sink_batch{"other:stream-7:20454", entries}, keyed);
    CHECK(keyed.starts_with(R"({"logGroupName":"other","logStreamName":"stream-7",)"));
}

TEST_CASE("cloudwatch logs: an event's batch key holds its stream and its day, so no request spans 24 hours") {
    auto s = logs();
    const auto t0 = clock_type::time_point(std::chrono::milliseconds(1'767'225'600'000)); // a midnight UTC
    std::map<std::string, std::vector<std::int64_t>> by_key;
    for (int i = 0; i < 12; ++i) {
        log_event e = event(i, t0 + std::chrono::hours(5 * i) - std::chrono::minutes(1));
        if (i % 3 == 2) e.stream = "web-2";
        std::string entry;
        const entry_meta m = s.encode_entry(e, entry);
        by_key[m.batch_key].push_back(sluice::detail::logs::millis(e.time));
    }
    CHECK(by_key.size() == 7); // days -1..2 of web-1 (4) and days 0..2 of web-2 (3)
    for (const auto& [key, times] : by_key) {
        const auto [lo, hi] = std::minmax_element(times.begin(), times.end());
        CHECK(*hi - *lo < 86'400'000);
    }
}

TEST_CASE("cloudwatch logs: 25,000 events out of order arrive once each, in order, within the limits") {
    harness h("logs");
    h.fake.create("app", "web-1");
    const auto now = clock_type::now();
    std::mt19937 rng(7);
    h.run(logs(), {}, [&](logs_dispatcher& d) -> task<void> {
        for (int i = 0; i < 25'000; ++i) d.submit(event(i, now - std::chrono::milliseconds(rng() % 3'600'000)));
        CHECK((co_await d.flush()).empty());
        CHECK(d.stats().delivered == 25'000);
    });
    const auto ids = stored_ids(h.fake);
    CHECK(ids.size() == 25'000);
    CHECK(std::set<int>(ids.begin(), ids.end()).size() == 25'000);
    CHECK(h.fake.limit_violations == 0);
    for (auto n : h.fake.batch_sizes) CHECK(n <= 10'000);
}

TEST_CASE("cloudwatch logs: large messages fill requests up to 1,048,576 bytes counting 26 per event") {
    harness h("logs");
    h.fake.create("app", "web-1");
    const auto now = clock_type::now();
    h.run(logs(), {}, [&](logs_dispatcher& d) -> task<void> {
        d.submit(log_event{std::string(1'048'550, 'x'), now, {}, {}}); // the largest event: a request alone
        for (int i = 0; i < 40; ++i) d.submit(event(i, now, 99'950));
        CHECK((co_await d.flush()).empty());
    });
    CHECK(h.fake.limit_violations == 0);
    CHECK(h.fake.groups["app"]["web-1"].size() == 41);
    CHECK(h.fake.batch_sizes.size() >= 5);
}

TEST_CASE("cloudwatch logs: events over three days are delivered, no request spanning more than 24 hours") {
    harness h("logs");
    h.fake.create("app", "web-1");
    const auto now = clock_type::now();
    h.run(logs(), {}, [&](logs_dispatcher& d) -> task<void> {
        for (int i = 0; i < 3000; ++i) d.submit(event(i, now - std::chrono::milliseconds(i * 86'400LL))); // 0 .. 72 h ago
        CHECK((co_await d.flush()).empty());
    });
    const auto ids = stored_ids(h.fake);
    CHECK(ids.size() == 3000);
    CHECK(std::set<int>(ids.begin(), ids.end()).size() == 3000);
    CHECK(h.fake.limit_violations == 0);
}

TEST_CASE("cloudwatch logs: too old, too new and expired events are rejected, the rest of each request delivered") {
    harness h("logs");
    h.fake.create("app", "web-1");
    h.fake.retention_days["app"] = 3;
    const auto now = clock_type::now();
    std::vector<batch_unprocessed<log_event>> unprocessed;
    h.run(logs(), {}, [&](logs_dispatcher& d) -> task<void> {
        for (int i = 0; i < 100; ++i) {
            auto t = now - std::chrono::minutes(i);
            if (i % 10 == 1) t = now + std::chrono::hours(3);  // too new
            if (i % 10 == 2) t = now - std::chrono::hours(24 * 4); // older than the retention: expired
            if (i % 10 == 3) t = now - std::chrono::hours(24 * 15); // too old
            d.submit(event(i, t));
        }
        unprocessed = co_await d.flush();
    });
    std::map<std::string, std::set<int>> rejected;
    for (const auto& u : unprocessed) {
        CHECK(u.details.kind == outcome_kind::reject);
        CHECK(u.sent);
        rejected[u.details.service_code].insert(id_of(u.record.message));
    }
    for (int i = 0; i < 100; ++i) {
        CAPTURE(i);
        if (i % 10 == 1) CHECK(rejected["TooNewLogEvent"].contains(i));
        if (i % 10 == 2) CHECK(rejected["ExpiredLogEvent"].contains(i));
        // Older than 14 days is also older than the retention: either range may claim it.
        if (i % 10 == 3) CHECK((rejected["TooOldLogEvent"].contains(i) || rejected["ExpiredLogEvent"].contains(i)));
    }
    CHECK(unprocessed.size() == 30);
    const auto ids = stored_ids(h.fake);
    CHECK(ids.size() == 70);
    for (int id : ids) CHECK((id % 10 > 3 || id % 10 == 0));
}

TEST_CASE("cloudwatch logs: a missing group and stream are created when asked, then the events delivered; else rejected") {
    harness h("logs");
    h.run(logs(true), {}, [&](logs_dispatcher& d) -> task<void> {
        for (int i = 0; i < 50; ++i) d.submit(event(i, clock_type::now()));
        CHECK((co_await d.flush()).empty());
    });
    CHECK(stored_ids(h.fake).size() == 50);
    CHECK(h.fake.creations >= 2);

    harness exists("logs");
    exists.fake.groups["app"]; // the group is there, the stream is not
    exists.run(logs(true), {}, [&](logs_dispatcher& d) -> task<void> {
        for (int i = 0; i < 5; ++i) d.submit(event(i, clock_type::now()));
        CHECK((co_await d.flush()).empty());
    });
    CHECK(stored_ids(exists.fake).size() == 5);

    harness no("logs");
    std::vector<batch_unprocessed<log_event>> unprocessed;
    no.run(logs(false), {}, [&](logs_dispatcher& d) -> task<void> {
        for (int i = 0; i < 5; ++i) d.submit(event(i, clock_type::now()));
        unprocessed = co_await d.flush();
    });
    REQUIRE(unprocessed.size() == 5);
    for (const auto& u : unprocessed) CHECK(u.details.service_code == "ResourceNotFoundException");
    CHECK(no.fake.creations == 0);
}

TEST_CASE("cloudwatch logs: throttling and unavailability are retried; every event arrives once") {
    harness h("logs");
    h.fake.create("app", "web-1");
    h.fake.request_fault = [](std::size_t n) -> std::optional<http_reply> {
        if (n <= 16 && n % 2 == 1) return aws_error(400, "ThrottlingException", "Rate exceeded", sluice_test::json_1_1);
        if (n <= 16) return aws_error(503, "ServiceUnavailableException", "try later", sluice_test::json_1_1);
        return std::nullopt;
    };
    batch_dispatcher_options common;
    common.delivery = sluice_test::fast_delivery(logs().default_delivery(), 20);
    common.delivery->batch.max_events = 100;
    h.run(logs(), common, [&](logs_dispatcher& d) -> task<void> {
        for (int i = 0; i < 1000; ++i) d.submit(event(i, clock_type::now()));
        CHECK((co_await d.flush()).empty());
    });
    const auto ids = stored_ids(h.fake);
    CHECK(ids.size() == 1000);
    CHECK(std::set<int>(ids.begin(), ids.end()).size() == 1000);
}

TEST_CASE("cloudwatch logs: events for several streams go in separate requests, each to its stream") {
    harness h("logs");
    for (const char* s : {"web-1", "web-2", "web-3"}) h.fake.create("app", s);
    h.fake.create("audit", "all");
    h.run(logs(), {}, [&](logs_dispatcher& d) -> task<void> {
        for (int i = 0; i < 4000; ++i) {
            log_event e = event(i, clock_type::now() - std::chrono::hours(i % 50));
            if (i % 4 == 3) {
                e.group = "audit";
                e.stream = "all";
            } else {
                e.stream = "web-" + std::to_string(1 + i % 4);
            }
            d.submit(std::move(e));
        }
        CHECK((co_await d.flush()).empty());
    });
    CHECK(h.fake.limit_violations == 0);
    for (int k = 1; k <= 3; ++k) {
        const auto ids = stored_ids(h.fake, "app", "web-" + std::to_string(k));
        CHECK(ids.size() == 1000);
        for (int id : ids) CHECK(id % 4 == k - 1);
    }
    CHECK(stored_ids(h.fake, "audit", "all").size() == 1000);
}

} // TEST_SUITE

} // namespace test_cloudwatch_logs

#endif
