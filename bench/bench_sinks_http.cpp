// The OpenSearch/Elasticsearch _bulk encoder and response reader, per request of 1,000 JSON documents
// of about 400 bytes, next to baselines measured in the same run:
//
//   baseline/memcpy     the 1,000 documents appended to a string with room for them, each followed by
//                       '\n': the least any NDJSON encoder does (touch every byte once)
//   baseline/firehose   the Firehose encoder on the same documents (base64 entries of PutRecordBatch),
//                       the library's other per-record JSON encoder (when built with OpenSSL and curl)
//   bulk/template       bulk_encoder with "logs-{service}-%Y.%m.%d", the date from "@timestamp" and
//                       _id from "id": each document parsed (simdjson, validated as a JSON object),
//                       three fields looked up, the action line written, the document copied
//   bulk/static         a fixed index, no _id: the parse and copy alone
//   read/ok             bulk_response_reader on a 1,000-item errors:false response (the fast path)
//   read/items          the same response with errors:true and 10 failed items: every item walked
//
// The summary gives records/s of each and its ratio to the memcpy baseline. Build it optimised:
//   cmake --preset release && cmake --build --preset release --target bench_sinks_http
// On a shared machine `--benchmark_repetitions=10 --benchmark_enable_random_interleaving=true`
// steadies the ratios (the summary then uses medians).

#include <benchmark/benchmark.h>

#include "median_reporter.hpp"

#include <cstdio>

#if SLUICE_HAS_SIMDJSON

#include <sluice/sinks/detail/bulk_encoder.hpp>
#include <sluice/sinks/detail/bulk_response.hpp>

#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL
#include <sluice/aws/firehose.hpp>
#define SLUICE_BENCH_FIREHOSE 1
#else
#define SLUICE_BENCH_FIREHOSE 0
#endif

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::size_t records = 1000;

const std::vector<std::string>& documents() {
    static const std::vector<std::string> docs = [] {
        std::vector<std::string> out;
        const char* services[] = {"checkout", "search", "billing"};
        for (std::size_t i = 0; i < records; ++i) {
            std::string d = R"({"id":"evt-)" + std::to_string(1'000'000 + i) + R"(","service":")" + services[i % 3] +
                            R"(","@timestamp":"2026-12-06T10:)" + std::to_string(10 + i % 50) +
                            R"(:00.123Z","level":"info","host":"web-12","trace":"Root=1-65f2c3a1-9d3e0c5b7a1f4e2d8c6b0a93",)"
                            R"("msg":"order \"ord-)" + std::to_string(i) + R"(\" placed","items":[)";
            for (int k = 0; d.size() < 380; ++k)
                d += (k ? "," : "") + std::string(R"({"sku":"SKU-)") + std::to_string(4000 + k) + R"(","qty":2})";
            d += "]}";
            out.push_back(std::move(d));
        }
        return out;
    }();
    return docs;
}

std::size_t total_bytes() {
    std::size_t n = 0;
    for (const auto& d : documents()) n += d.size();
    return n;
}

void baseline_memcpy(benchmark::State& state) {
    const auto& docs = documents();
    std::string out;
    for (auto _ : state) {
        out.clear();
        out.reserve(total_bytes() + records);
        for (const auto& d : docs) {
            out += d;
            out += '\n';
        }
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(baseline_memcpy)->Name("baseline/memcpy");

#if SLUICE_BENCH_FIREHOSE
void baseline_firehose(benchmark::State& state) {
    sluice::aws::firehose_options o;
    o.delivery_stream = "events";
    o.newline = true;
    sluice::aws::firehose_service s(o);
    std::vector<sluice::aws::firehose_record> recs;
    for (const auto& d : documents()) recs.push_back({d});
    std::string out;
    for (auto _ : state) {
        out.clear();
        for (const auto& r : recs) (void)s.encode_entry(r, out);
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(baseline_firehose)->Name("baseline/firehose");
#endif

void bulk_encode(benchmark::State& state, bool templated) {
    sluice::bulk_format f;
    if (templated) {
        f.index = "logs-{service}-%Y.%m.%d";
        f.id_field = "id";
        f.timestamp_field = "@timestamp";
    } else {
        f.index = "logs";
    }
    sluice::detail::bulk_encoder e(f);
    const auto now = std::chrono::system_clock::now();
    std::string out;
    for (auto _ : state) {
        out.clear();
        for (const auto& d : documents())
            if (!e.append(d, out, now).empty()) state.SkipWithError("refused");
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK_CAPTURE(bulk_encode, template, true)->Name("bulk/template");
BENCHMARK_CAPTURE(bulk_encode, static, false)->Name("bulk/static");

std::string bulk_response(bool errors) {
    std::string b = R"({"took":30,"errors":)" + std::string(errors ? "true" : "false") + R"(,"items":[)";
    for (std::size_t i = 0; i < records; ++i) {
        if (i) b += ',';
        if (errors && i % 100 == 7)
            b += R"({"index":{"_index":"logs-checkout-2026.12.06","_id":"evt-)" + std::to_string(i) +
                 R"(","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}})";
        else
            b += R"({"index":{"_index":"logs-checkout-2026.12.06","_id":"evt-)" + std::to_string(i) +
                 R"(","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":)" +
                 std::to_string(i) + R"(,"_primary_term":1,"status":201}})";
    }
    return b + "]}";
}

void read_response(benchmark::State& state, bool errors) {
    const std::string body = bulk_response(errors);
    sluice::detail::bulk_response_reader reader;
    for (auto _ : state) {
        auto r = reader.read(body, records);
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK_CAPTURE(read_response, ok, false)->Name("read/ok");
BENCHMARK_CAPTURE(read_response, items, true)->Name("read/items");

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    sluice_bench::median_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();

    std::printf("\n_bulk, %zu documents of %zu bytes on average per request, same run, CPU time:\n", records,
                total_bytes() / records);
    const double base = reporter.median_ns("baseline/memcpy");
    for (const char* name : {"baseline/memcpy", "baseline/firehose", "bulk/template", "bulk/static", "read/ok", "read/items"}) {
        const double t = reporter.median_ns(name);
        if (t <= 0) continue;
        std::printf("  %-18s %10.0f ns per request  %12.0f records/s", name, t, records * 1e9 / t);
        if (base > 0 && std::string_view(name) != "baseline/memcpy") std::printf("  %6.1fx the memcpy baseline", t / base);
        std::printf("\n");
    }
#if !defined(__OPTIMIZE__)
    std::printf("  note: built without optimisation (a Debug build?): the ratios say little; build with -O2\n");
#endif
    return 0;
}

#else
int main() {
    std::printf("bench_sinks_http needs simdjson\n");
    return 0;
}
#endif
