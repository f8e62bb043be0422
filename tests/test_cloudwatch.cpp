// CloudWatch PutMetricData on the batch layer (JSON 1.0 with x-amzn-query-mode), against a loopback
// fixture that follows the API reference (no emulator exists): it checks the target, content type,
// query-mode header, 1,000 data and 1 MB per request, and every datum's rules, and refuses the
// request whole as CloudWatch does. And the metric aggregator: many observations from several threads
// folded into Values/Counts or StatisticValues, every observation counted once.

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON

#include "support/aws_harness.hpp"

#include <sluice/aws/cloudwatch.hpp>
#include <sluice/aws/cloudwatch_aggregator.hpp>
#include <sluice/core/when_all.hpp>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_cloudwatch {

using namespace sluice;
using namespace sluice::aws;
using namespace std::chrono_literals;
using sluice_test::aws_error;
using sluice_test::http_reply;

namespace {

using harness = sluice_test::aws_harness<sluice_test::fake_cloudwatch>;

cloudwatch_service metrics(std::string ns = "sluice/test") {
    cloudwatch_options o;
    o.namespace_name = std::move(ns);
    return cloudwatch_service(o);
}

metric_datum datum(double value, std::string name = "requests") {
    metric_datum d;
    d.name = std::move(name);
    d.dimensions = {{"service", "checkout"}};
    d.value = value;
    d.unit = "Count";
    return d;
}

} // namespace

TEST_SUITE("cloudwatch") {

TEST_CASE("cloudwatch: every rule CloudWatch applies to a datum refuses it before sending") {
    auto s = metrics();
    metric_datum ok = datum(1);
    CHECK(s.prepare(ok).empty());
    CHECK(ok.timestamp.time_since_epoch().count() != 0); // stamped
    auto refused = [&](auto change, std::string_view why) {
        metric_datum d = datum(1);
        change(d);
        const std::string got = s.prepare(d);
        CHECK_MESSAGE(got.find(why) != std::string::npos, got);
    };
    refused([](metric_datum& d) { d.name = ""; }, "metric name has 0 characters");
    refused([](metric_datum& d) { d.name = std::string(256, 'm'); }, "256 characters");
    refused([](metric_datum& d) { d.name = "   "; }, "only whitespace");
    refused([](metric_datum& d) { d.name = "bad\xff"; }, "invalid UTF-8");
    refused([](metric_datum& d) {
        for (int i = 0; i < 31; ++i) d.dimensions.push_back({"d" + std::to_string(i), "v"});
    }, "at most 30");
    refused([](metric_datum& d) { d.dimensions.push_back({"service", "again"}); }, "appears twice");
    refused([](metric_datum& d) { d.dimensions[0].name = ":x"; }, "cannot start with ':'");
    refused([](metric_datum& d) { d.dimensions[0].value = std::string(1025, 'v'); }, "1 to 1024");
    refused([](metric_datum& d) { d.value = std::nan(""); }, "not finite");
    refused([](metric_datum& d) { d.value = std::ldexp(1.0, 361); }, "range");
    refused([](metric_datum& d) { d.value = std::ldexp(1.0, -361); }, "range");
    refused([](metric_datum& d) { d.values = {1, 2}; }, "exactly one of");
    refused([](metric_datum& d) {
        d.value.reset();
        d.values.assign(151, 1.0);
    }, "at most 150");
    refused([](metric_datum& d) {
        d.value.reset();
        d.values = {1, 2};
        d.counts = {1};
    }, "differ in length");
    refused([](metric_datum& d) {
        d.value.reset();
        d.statistics = statistic_set{0, 1, 1, 1};
    }, "positive sample count");
    refused([](metric_datum& d) {
        d.value.reset();
        d.statistics = statistic_set{2, 3, 2, 1};
    }, "minimum above its maximum");
    refused([](metric_datum& d) { d.unit = "Furlongs"; }, "not one of CloudWatch's");
    refused([](metric_datum& d) { d.storage_resolution = 10; }, "1 or 60");
    CHECK_THROWS_AS(metrics("AWS/EC2"), std::invalid_argument);
    CHECK_THROWS_AS(metrics(""), std::invalid_argument);
}

TEST_CASE("cloudwatch: a datum is the JSON of the API reference, numbers in their shortest exact form") {
    auto s = metrics("sluice \"ns\"");
    metric_datum d;
    d.name = "latency";
    d.dimensions = {{"route", "/pay"}, {"zone", "caf\xC3\xA9"}};
    d.values = {0.1, 12.5, 1e100};
    d.counts = {3, 1, 2};
    d.unit = "Milliseconds";
    d.storage_resolution = 1;
    d.timestamp = std::chrono::system_clock::time_point(std::chrono::milliseconds(1767225600123));
    REQUIRE(s.prepare(d).empty());
    std::string e;
    const entry_meta meta = s.encode_entry(d, e);
    CHECK(meta.counted == e.size());
    CHECK(e == "{\"MetricName\":\"latency\",\"Dimensions\":[{\"Name\":\"route\",\"Value\":\"/pay\"},{\"Name\":\"zone\",\"Value\":\"caf\xC3\xA9\"}],"
               "\"Timestamp\":1767225600.123,\"Values\":[0.1,12.5,1e+100],\"Counts\":[3,1,2],\"Unit\":\"Milliseconds\",\"StorageResolution\":1}");
    metric_datum st;
    st.name = "size";
    st.statistics = statistic_set{4, 10, 1, 4};
    st.timestamp = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));
    std::string es;
    [[maybe_unused]] auto m = s.encode_entry(st, es);
    CHECK(es == R"({"MetricName":"size","Timestamp":1767225600,"StatisticValues":{"SampleCount":4,"Sum":10,"Minimum":1,"Maximum":4},"StorageResolution":60})");
    const std::vector<std::string_view> entries = {e, es};
    std::string body;
    [[maybe_unused]] auto state = s.encode_request(sink_batch{{}, entries}, body);
    CHECK(body == "{\"Namespace\":\"sluice \\\"ns\\\"\",\"MetricData\":[" + e + "," + es + "]}");
    REQUIRE(s.extra_headers().size() == 1);
    CHECK(s.extra_headers()[0].name == "x-amzn-query-mode");
}

TEST_CASE("cloudwatch: 2,500 data arrive once each, at most 1,000 per request, with the query-mode header") {
    harness h("monitoring");
    h.run(metrics(), {}, [&](cloudwatch_dispatcher& d) -> task<void> {
        for (int i = 0; i < 2500; ++i) d.submit(datum(i));
        CHECK((co_await d.flush()).empty());
        CHECK(d.stats().delivered == 2500);
    });
    std::set<double> values;
    for (const auto& d : h.fake.accepted["sluice/test"]) values.insert(*d.value);
    CHECK(values.size() == 2500);
    CHECK(h.fake.accepted["sluice/test"].size() == 2500);
    CHECK(h.fake.limit_violations == 0);
    for (auto n : h.fake.batch_sizes) CHECK(n <= 1000);
}

TEST_CASE("cloudwatch: data of several namespaces never share a request; each arrives under its own") {
    harness h("monitoring");
    const std::string spaces[] = {"", "sluice/other", "third"}; // "": the dispatcher's sluice/test
    h.run(metrics(), {}, [&](cloudwatch_dispatcher& d) -> task<void> {
        for (int i = 0; i < 3000; ++i) {
            metric_datum m = datum(i);
            m.namespace_name = spaces[i % 3];
            d.submit(std::move(m));
        }
        metric_datum reserved = datum(-1);
        reserved.namespace_name = "AWS/EC2";
        d.submit(std::move(reserved));
        auto unprocessed = co_await d.flush();
        REQUIRE(unprocessed.size() == 1);
        CHECK(unprocessed[0].details.kind == outcome_kind::invalid);
        CHECK(unprocessed[0].reason.find("namespace") != std::string::npos);
    });
    // The fixture files each request's data under the one Namespace the request names.
    const std::string stored[] = {"sluice/test", "sluice/other", "third"};
    for (int k = 0; k < 3; ++k) {
        std::set<int> ids;
        for (const auto& d : h.fake.accepted[stored[k]]) {
            CHECK(static_cast<int>(*d.value) % 3 == k);
            ids.insert(static_cast<int>(*d.value));
        }
        CHECK(ids.size() == 1000);
        CHECK(h.fake.accepted[stored[k]].size() == 1000);
    }
    CHECK(h.fake.accepted.size() == 3);
    CHECK(h.fake.limit_violations == 0);
}

TEST_CASE("cloudwatch: data with 150 values each split requests by size, under 1 MB") {
    harness h("monitoring");
    h.run(metrics(), {}, [&](cloudwatch_dispatcher& d) -> task<void> {
        for (int i = 0; i < 600; ++i) {
            metric_datum m = datum(0, "wide-" + std::to_string(i));
            m.value.reset();
            for (int k = 0; k < 150; ++k) m.values.push_back(1.0 / 3 + k * 1e-7 + i);
            d.submit(std::move(m));
        }
        CHECK((co_await d.flush()).empty());
    });
    CHECK(h.fake.accepted["sluice/test"].size() == 600);
    CHECK(h.fake.limit_violations == 0);
    CHECK(h.fake.batch_sizes.size() >= 2); // ~1.7 MB of JSON
}

TEST_CASE("cloudwatch: a refused request rejects all its data; throttling and 5xx are retried; an outage hands them back") {
    harness h("monitoring");
    h.fake.request_fault = [](std::size_t) -> std::optional<http_reply> {
        return aws_error(400, "InvalidParameterValue", "The value for parameter MetricData is invalid.", sluice_test::json_1_0);
    };
    std::vector<batch_unprocessed<metric_datum>> unprocessed;
    h.run(metrics(), {}, [&](cloudwatch_dispatcher& d) -> task<void> {
        for (int i = 0; i < 10; ++i) d.submit(datum(i));
        unprocessed = co_await d.flush();
    });
    REQUIRE(unprocessed.size() == 10);
    for (const auto& u : unprocessed) {
        CHECK(u.details.kind == outcome_kind::reject);
        CHECK(u.details.service_code == "InvalidParameterValue");
        CHECK(u.attempts == 1);
    }

    harness flaky("monitoring");
    flaky.fake.request_fault = [](std::size_t n) -> std::optional<http_reply> {
        if (n <= 6 && n % 2 == 1) return aws_error(400, "Throttling", "Rate exceeded", sluice_test::json_1_0);
        if (n <= 6) return aws_error(500, "InternalServiceError", "oops", sluice_test::json_1_0);
        return std::nullopt;
    };
    std::uint64_t throttled = 0;
    flaky.run(metrics(), {}, [&](cloudwatch_dispatcher& d) -> task<void> {
        for (int i = 0; i < 30; ++i) d.submit(datum(i));
        CHECK((co_await d.flush()).empty());
        throttled = d.pipeline().stats().throttled;
    });
    std::set<double> values;
    for (const auto& d : flaky.fake.accepted["sluice/test"]) values.insert(*d.value);
    CHECK(values.size() == 30);
    CHECK(flaky.fake.accepted["sluice/test"].size() == 30);
    CHECK(throttled >= 1);

    harness down("monitoring");
    batch_dispatcher_options two;
    two.delivery = sluice_test::fast_delivery(metrics().default_delivery(), 2);
    std::vector<batch_unprocessed<metric_datum>> lost;
    down.run(metrics(), two, [&](cloudwatch_dispatcher& d) -> task<void> {
        for (int i = 0; i < 7; ++i) d.submit(datum(i));
        lost = co_await d.flush();
    }, "http://127.0.0.1:" + std::to_string(sluice_test::unused_port()));
    REQUIRE(lost.size() == 7);
    std::set<double> ids;
    for (const auto& u : lost) {
        ids.insert(*u.record.value);
        CHECK(u.details.retryable());
    }
    CHECK(ids.size() == 7);
}

TEST_CASE("metric aggregator: 200,000 observations from four threads fold into Values/Counts, each counted once") {
    metric_aggregator agg;
    auto& latency = agg.series("latency", {{"route", "/pay"}}, "Milliseconds");
    constexpr int per_thread = 50'000;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) latency.record((i * 7 + t) % 400); // 400 distinct values
        });
    for (auto& t : threads) t.join();
    agg.record("errors", {{"route", "/pay"}}, 1.0, "Count");
    latency.record(std::nan(""));
    latency.record(std::ldexp(1.0, 400));
    const auto data = agg.collect(std::chrono::system_clock::now() + 120s);
    double observed = 0;
    std::size_t latency_data = 0;
    std::set<double> distinct;
    for (const auto& d : data) {
        CHECK(d.values.size() <= 150);
        CHECK(d.counts.size() == d.values.size());
        CHECK(sluice::detail::cloudwatch::check_datum(d).empty());
        if (d.name != "latency") continue;
        ++latency_data;
        for (std::size_t i = 0; i < d.values.size(); ++i) {
            observed += d.counts[i];
            CHECK(distinct.insert(d.values[i]).second);
        }
    }
    CHECK(observed == 4.0 * per_thread);
    CHECK(distinct.size() == 400);
    CHECK(latency_data == 3); // 400 distinct values: 150 + 150 + 100
    CHECK(agg.stats().observations == 4u * per_thread + 1);
    CHECK(agg.stats().dropped == 2);
    CHECK(agg.collect(std::chrono::system_clock::now() + 120s).empty()); // handed out once
}

TEST_CASE("metric aggregator: statistics mode keeps count, sum, min and max exactly; buckets follow time") {
    metric_aggregator agg({.period = std::chrono::seconds(10), .mode = aggregate_as::statistics});
    auto& s = agg.series("size", {}, "Bytes");
    const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600)); // a multiple of 10 s
    for (int i = 1; i <= 100; ++i) s.record_at(t0 + std::chrono::milliseconds(i * 50), i); // 0.05 s .. 5 s
    for (int i = 1; i <= 10; ++i) s.record_at(t0 + 12s, i * 2.0, 3);                        // the next bucket, weighted
    auto current = agg.collect(t0 + 15s); // only the first bucket has ended
    REQUIRE(current.size() == 1);
    CHECK(current[0].timestamp == t0);
    CHECK(current[0].storage_resolution == 1); // 10 s buckets are high resolution
    REQUIRE(current[0].statistics);
    CHECK(current[0].statistics->sample_count == 100);
    CHECK(current[0].statistics->sum == 5050);
    CHECK(current[0].statistics->minimum == 1);
    CHECK(current[0].statistics->maximum == 100);
    auto rest = agg.collect(t0 + 15s, true);
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].timestamp == t0 + 10s);
    CHECK(rest[0].statistics->sample_count == 30);
    CHECK(rest[0].statistics->sum == 330);
    CHECK_THROWS_AS(metric_aggregator({.period = std::chrono::seconds(7)}), std::invalid_argument);
    CHECK_THROWS_AS(agg.series(""), std::invalid_argument);
}

TEST_CASE("metric aggregator: publish_every sends folded data through the dispatcher; stop sends what is left") {
    harness h("monitoring");
    metric_aggregator agg;
    std::stop_source stop;
    h.run(metrics(), {}, [&](cloudwatch_dispatcher& d) -> task<void> {
        auto& hits = agg.series("hits", {{"route", "/"}}, "Count");
        auto observe = [&]() -> task<void> {
            for (int i = 0; i < 20'000; ++i) hits.record(i % 10);
            co_await d.loop().sleep_for(30ms);
            stop.request_stop();
        };
        auto publisher = publish_every(d.loop(), agg, d, 10ms, stop.get_token());
        [[maybe_unused]] auto both = co_await when_all(std::move(publisher), observe());
        CHECK((co_await d.flush()).empty());
    });
    double counted = 0;
    for (const auto& d : h.fake.accepted["sluice/test"])
        for (double c : d.counts) counted += c;
    CHECK(counted == 20'000);
    CHECK(h.fake.requests <= 3); // 20,000 observations, a handful of requests
    CHECK(h.fake.limit_violations == 0);
}

} // TEST_SUITE

} // namespace test_cloudwatch

#endif
