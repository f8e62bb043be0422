// Encode and parse cost per record of the AWS batch services of issue 9 (Firehose, DynamoDB,
// CloudWatch metrics, CloudWatch Logs) next to the floor of the same bytes, measured in the same run:
//
//   floor/<service>      the least any encoder must do with the records' bytes: base64 them into a
//                        buffer (Firehose) or copy them (the others)
//   encode/<service>     prepare (validate, fill defaults) + encode_entry for each record of a full
//                        batch, then encode_request around the entries: what the batch layer does
//   parse/<service>      read_response of an all-success response for that batch
//   floor/dynamodb-parse simdjson parsing each DynamoDB item's JSON (the least a converter that
//                        checks its input must do), as a second, stricter reference for DynamoDB
//   aggregate/<mode>     metric_aggregator: one observation recorded on a series handle (100 distinct
//                        values), next to floor/atomic (one relaxed fetch_add: a thread-safe counter)
//
// Records are ~200-byte JSON events (DynamoDB: the same event as an item; CloudWatch: a datum with
// two dimensions). The summary prints ns per record and the ratio (encode + parse) / floor.
// Build it optimised (the `dev` preset is a Debug build):
//   cmake --preset release && cmake --build --preset release --target bench_aws_services
// On a shared machine `--benchmark_repetitions=5 --benchmark_enable_random_interleaving=true`
// steadies the ratios (the summary then uses medians).

#include <benchmark/benchmark.h>

#include "median_reporter.hpp"

#if SLUICE_HAS_SIMDJSON && SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL

#include <sluice/aws/cloudwatch.hpp>
#include <sluice/aws/cloudwatch_aggregator.hpp>
#include <sluice/aws/cloudwatch_logs.hpp>
#include <sluice/aws/dynamodb.hpp>
#include <sluice/aws/firehose.hpp>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace sluice;
using namespace sluice::aws;

/// A ~200-byte JSON event, as a service would publish.
std::string event(std::size_t i) {
    std::string e = R"({"ts":"2026-03-14T09:26:53.589Z","service":"checkout","event":"order_placed","order":"ord-)" +
                    std::to_string(100000 + i) + R"(","region":"us-east-1","amount":)" + std::to_string(1299 + i % 97) +
                    R"(,"currency":"EUR","items":3,"customer":"cust-)" + std::to_string(i % 5000) + R"(","pad":")";
    while (e.size() < 198) e += 'x';
    return e + "\"}";
}

void per_record(benchmark::State& state, std::size_t records) {
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(records));
}

/// Encodes a whole batch of `records` with `service`, as the dispatcher and the sink would.
template <class Service, class Record>
std::vector<std::string> encode_all(Service& service, std::vector<Record>& records) {
    std::vector<std::string> entries(records.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (!service.prepare(records[i]).empty()) std::abort();
        [[maybe_unused]] auto meta = service.encode_entry(records[i], entries[i]);
    }
    return entries;
}

template <class Service, class Record>
void encode_bench(benchmark::State& state, Service (*make)(), std::vector<Record> (*make_records)()) {
    Service service = make();
    std::vector<Record> records = make_records(); // stamped already: prepare() changes nothing in them
    std::vector<std::string> entries(records.size());
    std::vector<std::string_view> views(records.size());
    std::string body;
    for (auto _ : state) {
        for (std::size_t i = 0; i < records.size(); ++i) {
            benchmark::DoNotOptimize(service.prepare(records[i]).size());
            entries[i].clear();
            [[maybe_unused]] auto meta = service.encode_entry(records[i], entries[i]);
            views[i] = entries[i];
        }
        body.clear();
        [[maybe_unused]] auto request = service.encode_request(sink_batch{{}, views}, body);
        benchmark::DoNotOptimize(body.data());
        benchmark::ClobberMemory();
    }
    state.counters["request_bytes"] = static_cast<double>(body.size());
    per_record(state, records.size());
}

template <class Service, class Record>
void parse_bench(benchmark::State& state, Service (*make)(), std::vector<Record> (*make_records)(), std::string response) {
    Service service = make();
    std::vector<Record> records = make_records();
    const std::vector<std::string> entries = encode_all(service, records);
    const std::vector<std::string_view> views(entries.begin(), entries.end());
    std::string body;
    auto request = service.encode_request(sink_batch{{}, views}, body);
    response.reserve(response.size() + 64);
    for (auto _ : state) {
        batch_result r = service.read_response(response, sink_batch{{}, views}, request);
        benchmark::DoNotOptimize(r.entries.data());
    }
    const batch_result check = service.read_response(response, sink_batch{{}, views}, request);
    if (check.request || !check.entries.empty()) state.SkipWithError("the response did not read as all-successful");
    per_record(state, records.size());
}

/// Copies (or base64s) each record's bytes into one buffer: the floor of any encoding of them.
void floor_bench(benchmark::State& state, std::vector<std::string> bytes, bool base64) {
    std::size_t total = 0;
    for (const auto& b : bytes) total += base64 ? text::base64_size(b.size()) : b.size();
    std::string out(total, '\0');
    for (auto _ : state) {
        char* p = out.data();
        for (const auto& b : bytes) {
            if (base64) {
                p = text::write_base64(p, b);
            } else {
                std::memcpy(p, b.data(), b.size());
                p += b.size();
            }
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    per_record(state, bytes.size());
}

/// Parses each document with simdjson's DOM parser: the floor of anything that validates JSON.
void floor_parse(benchmark::State& state, std::vector<std::string> docs) {
    simdjson::dom::parser parser;
    for (auto _ : state)
        for (const auto& d : docs) {
            simdjson::dom::element e;
            benchmark::DoNotOptimize(parser.parse(d).get(e));
        }
    per_record(state, docs.size());
}

// ---- the services' batches ----------------------------------------------------------------------

constexpr std::size_t firehose_batch = 500, dynamodb_batch = 25, cloudwatch_batch = 1000, logs_batch = 1000;

firehose_service firehose() { return firehose_service(firehose_options{"events", true, false, 50'000, no_overrides}); }
std::vector<firehose_record> firehose_records() {
    std::vector<firehose_record> r;
    for (std::size_t i = 0; i < firehose_batch; ++i) r.push_back({event(i)});
    return r;
}
std::string firehose_ok() {
    std::string r = R"({"FailedPutCount":0,"Encrypted":false,"RequestResponses":[)";
    for (std::size_t i = 0; i < firehose_batch; ++i)
        r += std::string(i ? "," : "") + R"({"RecordId":"49543463076548007577105092703039560359975228518395012)" + std::to_string(i) + "\"}";
    return r + "]}";
}

dynamodb_service dynamodb() {
    dynamodb_options o;
    o.table = {"orders", {"order", key_type::string, {}, key_type::any}};
    return dynamodb_service(o);
}
std::vector<dynamodb_write> dynamodb_records() {
    std::vector<dynamodb_write> r;
    for (std::size_t i = 0; i < dynamodb_batch; ++i) r.push_back(dynamodb_write::put(event(i)));
    return r;
}

cloudwatch_service cloudwatch() { return cloudwatch_service(cloudwatch_options{"checkout", no_overrides}); }
std::vector<metric_datum> cloudwatch_records() {
    std::vector<metric_datum> r;
    for (std::size_t i = 0; i < cloudwatch_batch; ++i) {
        metric_datum d;
        d.name = "order_amount";
        d.dimensions = {{"service", "checkout"}, {"region", "us-east-1"}};
        d.value = 1299.5 + static_cast<double>(i % 97);
        d.unit = "Count";
        d.timestamp = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'773'480'413'589LL + static_cast<long long>(i)));
        r.push_back(std::move(d));
    }
    return r;
}

logs_service logs() { return logs_service(logs_options{"app", "web-1", false, no_overrides}); }
std::vector<log_event> logs_records() {
    std::vector<log_event> r;
    const auto t0 = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'773'480'413'589LL));
    for (std::size_t i = 0; i < logs_batch; ++i) r.push_back({event(i), t0 + std::chrono::milliseconds((i * 7919) % 60000), {}, {}});
    return r;
}

std::vector<std::string> bytes_of(const std::vector<firehose_record>& r) {
    std::vector<std::string> b;
    for (const auto& x : r) b.push_back(x.data + "\n");
    return b;
}
std::vector<std::string> bytes_of(const std::vector<dynamodb_write>& r) {
    std::vector<std::string> b;
    for (const auto& x : r) b.push_back(x.document);
    return b;
}
std::vector<std::string> bytes_of(const std::vector<log_event>& r) {
    std::vector<std::string> b;
    for (const auto& x : r) b.push_back(x.message);
    return b;
}
std::vector<std::string> bytes_of(std::vector<metric_datum> r) { // the datum's JSON, copied
    cloudwatch_service s = cloudwatch();
    return encode_all(s, r);
}

// ---- the aggregator ----------------------------------------------------------------------------

void floor_atomic(benchmark::State& state) {
    std::atomic<std::uint64_t> counter{0};
    double v = 0;
    for (auto _ : state) {
        counter.fetch_add(1, std::memory_order_relaxed);
        v += 1;
        benchmark::DoNotOptimize(v);
    }
    benchmark::DoNotOptimize(counter.load());
    per_record(state, 1);
}

void aggregate_bench(benchmark::State& state, aggregate_as mode) {
    metric_aggregator agg({.period = std::chrono::seconds(60), .mode = mode, .max_series = 10});
    auto& s = agg.series("latency", {{"route", "/pay"}}, "Milliseconds");
    std::size_t i = 0;
    for (auto _ : state) s.record(static_cast<double>(i++ % 100));
    benchmark::DoNotOptimize(agg.stats().observations);
    per_record(state, 1);
}

void register_all() {
    benchmark::RegisterBenchmark("floor/firehose", floor_bench, bytes_of(firehose_records()), true);
    benchmark::RegisterBenchmark("encode/firehose", encode_bench<firehose_service, firehose_record>, firehose, firehose_records);
    benchmark::RegisterBenchmark("parse/firehose", parse_bench<firehose_service, firehose_record>, firehose, firehose_records, firehose_ok());
    benchmark::RegisterBenchmark("floor/dynamodb", floor_bench, bytes_of(dynamodb_records()), false);
    benchmark::RegisterBenchmark("floor/dynamodb-parse", floor_parse, bytes_of(dynamodb_records()));
    benchmark::RegisterBenchmark("encode/dynamodb", encode_bench<dynamodb_service, dynamodb_write>, dynamodb, dynamodb_records);
    benchmark::RegisterBenchmark("parse/dynamodb", parse_bench<dynamodb_service, dynamodb_write>, dynamodb, dynamodb_records,
                                 std::string(R"({"UnprocessedItems":{}})"));
    benchmark::RegisterBenchmark("floor/cloudwatch", floor_bench, bytes_of(cloudwatch_records()), false);
    benchmark::RegisterBenchmark("encode/cloudwatch", encode_bench<cloudwatch_service, metric_datum>, cloudwatch, cloudwatch_records);
    benchmark::RegisterBenchmark("parse/cloudwatch", parse_bench<cloudwatch_service, metric_datum>, cloudwatch, cloudwatch_records,
                                 std::string("{}"));
    benchmark::RegisterBenchmark("floor/logs", floor_bench, bytes_of(logs_records()), false);
    benchmark::RegisterBenchmark("encode/logs", encode_bench<logs_service, log_event>, logs, logs_records);
    benchmark::RegisterBenchmark("parse/logs", parse_bench<logs_service, log_event>, logs, logs_records,
                                 std::string(R"({"nextSequenceToken":"49039859609212283374657349108340453227385734586723219042"})"));
    benchmark::RegisterBenchmark("floor/atomic", floor_atomic);
    benchmark::RegisterBenchmark("aggregate/values", aggregate_bench, aggregate_as::values);
    benchmark::RegisterBenchmark("aggregate/statistics", aggregate_bench, aggregate_as::statistics);
}

} // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    sluice_bench::median_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();

    // Google Benchmark's CPU time is per iteration: one batch (or one observation).
    const std::pair<const char*, std::size_t> services[] = {
        {"firehose", firehose_batch}, {"dynamodb", dynamodb_batch}, {"cloudwatch", cloudwatch_batch}, {"logs", logs_batch}};
    std::printf("\nPer record, ~200-byte JSON events, same run, CPU time (floor: base64 for Firehose, memcpy otherwise):\n");
    std::printf("  %-11s %6s %10s %10s %10s %14s\n", "service", "batch", "floor ns", "encode ns", "parse ns", "(enc+parse)/floor");
    for (const auto& [name, batch] : services) {
        const double n = static_cast<double>(batch);
        const double f = reporter.median_ns(std::string("floor/") + name) / n;
        const double e = reporter.median_ns(std::string("encode/") + name) / n;
        const double p = reporter.median_ns(std::string("parse/") + name) / n;
        if (f <= 0 || e <= 0) continue;
        std::printf("  %-11s %6zu %10.1f %10.1f %10.1f %13.1fx\n", name, batch, f, e, p, (e + p) / f);
    }
    if (const double parse = reporter.median_ns("floor/dynamodb-parse") / dynamodb_batch; parse > 0)
        std::printf("  dynamodb next to simdjson parsing the same items (%.1f ns): %.1fx\n", parse,
                    (reporter.median_ns("encode/dynamodb") + reporter.median_ns("parse/dynamodb")) / dynamodb_batch / parse);
    const double atomic = reporter.median_ns("floor/atomic");
    for (const char* mode : {"aggregate/values", "aggregate/statistics"}) {
        const double t = reporter.median_ns(mode);
        if (t > 0 && atomic > 0)
            std::printf("  %-21s %6.1f ns per observation (%5.1f M/s), %5.1fx a relaxed atomic add (%.1f ns)\n", mode, t, 1e3 / t,
                        t / atomic, atomic);
    }
#if !defined(__OPTIMIZE__)
    std::printf("  note: built without optimisation (a Debug build?): the ratios say little; build with -O2\n");
#endif
    return 0;
}

#else

#include <cstdio>

int main() {
    std::printf("bench_aws_services: skipped, sluice was built without simdjson, libcurl or OpenSSL\n");
    return 0;
}

#endif
