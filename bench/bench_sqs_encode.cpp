// SQS protocol costs per SendMessageBatch request of 10 entries with 2 KiB bodies, next to a memcpy
// baseline in the same run:
//
//   baseline/memcpy       the 10 raw bodies appended to a string with room for them: the least any
//                         encoder must do (touch every body byte once)
//   encode/json           append_send_message_batch: realistic JSON event bodies (about one byte in
//                         ten is a '"' to escape) with two attributes each, into a reused string
//   encode/plain          the same with bodies that need no escaping (base64 or plain text payloads)
//   encode/spliced        append_send_message_batch_encoded: entries encoded once at submit (what the
//                         SQS sink stores), spliced into each attempt's request
//   encode/fields         append_sqs_entry_fields for the 10 messages: the submit-time encoding
//   validate/json         validate_sqs_message for the 10 messages (UTF-8 and SQS's characters)
//   parse/ok              sqs_batch_response_parser on a 10-entry all-successful response
//   parse/partial         the same with 3 failed entries (retry, reject, throttled)
//   parse/md5             parse/ok with every MD5OfMessageBody checked against the bodies
//
// The summary gives each encoder's time per request and ratio to the baseline, GB/s of body bytes,
// and the parser's time per response. Build it optimised (the `dev` preset is a Debug build):
//   cmake --preset release && cmake --build --preset release --target bench_sqs_encode
//   g++ -O2 -DNDEBUG -std=c++20 -Iinclude -DSLUICE_HAS_SIMDJSON=1 -DSLUICE_HAS_OPENSSL=1
//       bench/bench_sqs_encode.cpp -o bench_sqs_encode -lbenchmark -lsimdjson -lcrypto -pthread
// On a shared machine `--benchmark_repetitions=10 --benchmark_enable_random_interleaving=true`
// steadies the ratios (the summary then uses medians).

#include <benchmark/benchmark.h>

#include "median_reporter.hpp"

#if SLUICE_HAS_SIMDJSON

#include <sluice/aws/sqs_protocol.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::size_t entries = 10;
constexpr std::size_t body_bytes = 2048;
const std::string queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/sluice-events";

// A JSON event of exactly `size` bytes: an order with line items, as a service would publish.
std::string json_body(std::size_t index, std::size_t size) {
    std::string b = R"({"ts":"2026-03-14T09:26:53.589Z","service":"checkout","event":"order_placed","order":"ord-)" +
                    std::to_string(100000 + index) + R"(","region":"us-east-1","items":[)";
    for (int i = 0; b.size() < size; ++i) {
        if (i != 0) b += ',';
        b += R"({"sku":"SKU-)" + std::to_string(4000 + i) + R"(","qty":)" + std::to_string(1 + i % 3) +
             R"(,"price_cents":)" + std::to_string(1299 + 7 * i) + R"(,"title":"Item number )" + std::to_string(i) +
             R"("})";
    }
    b.resize(size);
    return b;
}

std::string plain_body(std::size_t index, std::size_t size) {
    std::string b;
    const std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::size_t i = 0; i < size; ++i) b += alphabet[(i * 7 + index) % alphabet.size()];
    return b;
}

struct batch {
    std::vector<sluice::aws::sqs_message> messages;
    std::vector<std::string> id_storage;
    std::vector<std::string_view> ids;
    std::vector<std::string_view> bodies;

    explicit batch(bool json) {
        for (std::size_t i = 0; i < entries; ++i) {
            sluice::aws::sqs_message m;
            m.body = json ? json_body(i, body_bytes) : plain_body(i, body_bytes);
            m.attributes.push_back(sluice::aws::sqs_attribute::string("trace", "Root=1-65f2c3a1-9d3e0c5b7a1f4e2d8c6b0a93"));
            m.attributes.push_back(sluice::aws::sqs_attribute::number("schema", "3"));
            messages.push_back(std::move(m));
            id_storage.push_back(std::to_string(i));
        }
        for (const auto& id : id_storage) ids.push_back(id);
        for (const auto& m : messages) bodies.push_back(m.body);
    }

    [[nodiscard]] std::size_t raw_bytes() const {
        std::size_t n = 0;
        for (const auto& m : messages) n += m.body.size();
        return n;
    }
};

const batch& json_batch() {
    static const batch b(true);
    return b;
}
const batch& plain_batch() {
    static const batch b(false);
    return b;
}

void set_bytes(benchmark::State& state, std::size_t bytes_per_iteration) {
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(bytes_per_iteration));
    state.SetItemsProcessed(state.iterations());
}

void baseline_memcpy(benchmark::State& state) {
    const batch& b = json_batch();
    std::string out;
    out.reserve(b.raw_bytes() + 64);
    for (auto _ : state) {
        out.clear();
        for (const auto& m : b.messages) out.append(m.body);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, b.raw_bytes());
}

void encode_bench(benchmark::State& state, bool json) {
    const batch& b = json ? json_batch() : plain_batch();
    std::string out;
    for (auto _ : state) {
        out.clear();
        sluice::aws::append_send_message_batch(out, queue_url, b.ids, b.messages);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.counters["request_bytes"] = static_cast<double>(out.size());
    set_bytes(state, b.raw_bytes());
}

void encode_spliced(benchmark::State& state) {
    const batch& b = json_batch();
    std::vector<std::string> fields(entries);
    for (std::size_t i = 0; i < entries; ++i) sluice::aws::append_sqs_entry_fields(fields[i], b.messages[i]);
    const std::vector<std::string_view> views(fields.begin(), fields.end());
    std::string out;
    for (auto _ : state) {
        out.clear();
        sluice::aws::append_send_message_batch_encoded(out, queue_url, b.ids, views);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, b.raw_bytes());
}

void encode_fields(benchmark::State& state) {
    const batch& b = json_batch();
    std::vector<std::string> fields(entries);
    for (auto _ : state) {
        for (std::size_t i = 0; i < entries; ++i) {
            fields[i].clear();
            sluice::aws::append_sqs_entry_fields(fields[i], b.messages[i]);
            benchmark::DoNotOptimize(fields[i].data());
        }
        benchmark::ClobberMemory();
    }
    set_bytes(state, b.raw_bytes());
}

void validate_bench(benchmark::State& state) {
    const batch& b = json_batch();
    for (auto _ : state) {
        for (const auto& m : b.messages) {
            auto v = sluice::aws::validate_sqs_message(m);
            benchmark::DoNotOptimize(v.problem);
        }
    }
    set_bytes(state, b.raw_bytes());
}

std::string ok_response() {
    std::string r = R"({"Successful":[)";
    for (std::size_t i = 0; i < entries; ++i) {
        if (i != 0) r += ',';
        r += R"({"Id":")" + std::to_string(i) + R"(","MessageId":"5fea7756-0ea4-451a-a703-a558b933e2)" +
             std::to_string(10 + i) + R"(","MD5OfMessageBody":"fafb00f5732ab283681e124bf8747ed1",)" +
             R"("MD5OfMessageAttributes":"3ae8f24a165a8cedc005670c81a27295"})";
    }
    r += R"(],"Failed":[]})";
    return r;
}

std::string partial_response() {
    std::string r = R"({"Successful":[)";
    for (std::size_t i = 3; i < entries; ++i) {
        if (i != 3) r += ',';
        r += R"({"Id":")" + std::to_string(i) + R"(","MessageId":"5fea7756-0ea4-451a-a703-a558b933e2)" +
             std::to_string(10 + i) + R"(","MD5OfMessageBody":"fafb00f5732ab283681e124bf8747ed1"})";
    }
    r += R"(],"Failed":[{"Id":"0","SenderFault":false,"Code":"InternalError","Message":"We encountered an internal error. Please try again."},)"
         R"({"Id":"1","SenderFault":true,"Code":"InvalidParameterValue","Message":"Value '...' at 'messageBody' failed"},)"
         R"({"Id":"2","SenderFault":true,"Code":"RequestThrottled","Message":"Request is throttled."}]})";
    return r;
}

void parse_bench(benchmark::State& state, int which) {
    const batch& b = json_batch();
    std::string response = which == 1 ? partial_response() : ok_response();
    response.reserve(response.size() + 64); // padding: parsed in place, as a client's body buffer allows
    if (which == 2) {
        // MD5s that match, so every body is hashed and compared.
        response = R"({"Successful":[)";
        for (std::size_t i = 0; i < entries; ++i) {
            if (i != 0) response += ',';
            char hex[33] = {};
#if SLUICE_SQS_MD5
            sluice::detail::md5_hasher md5;
            md5.hex_digest(b.bodies[i], hex);
#endif
            response += R"({"Id":")" + std::to_string(i) + R"(","MessageId":"m","MD5OfMessageBody":")" + hex + "\"}";
        }
        response += "]}";
        response.reserve(response.size() + 64);
    }
    sluice::aws::sqs_batch_response_parser parser;
    std::span<const std::string_view> bodies;
    if (which == 2) bodies = b.bodies;
    for (auto _ : state) {
        auto r = parser.parse(response, b.ids, bodies);
        benchmark::DoNotOptimize(r.entries.data());
    }
    const auto check = parser.parse(response, b.ids, bodies);
    if (which != 1 && !check.entries.empty()) state.SkipWithError("the response did not parse as all-successful");
    state.SetItemsProcessed(state.iterations());
}

BENCHMARK(baseline_memcpy)->Name("baseline/memcpy");
BENCHMARK_CAPTURE(encode_bench, json, true)->Name("encode/json");
BENCHMARK_CAPTURE(encode_bench, plain, false)->Name("encode/plain");
BENCHMARK(encode_spliced)->Name("encode/spliced");
BENCHMARK(encode_fields)->Name("encode/fields");
BENCHMARK(validate_bench)->Name("validate/json");
BENCHMARK_CAPTURE(parse_bench, ok, 0)->Name("parse/ok");
BENCHMARK_CAPTURE(parse_bench, partial, 1)->Name("parse/partial");
#if SLUICE_SQS_MD5
BENCHMARK_CAPTURE(parse_bench, md5, 2)->Name("parse/md5");
#endif


} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    sluice_bench::median_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();

    const batch& b = json_batch();
    std::string request;
    sluice::aws::append_send_message_batch(request, queue_url, b.ids, b.messages);
    std::printf("\nSQS SendMessageBatch, %zu entries of %zu-byte bodies (%zu-byte JSON request), same run, CPU time:\n",
                entries, body_bytes, request.size());
    const double base = reporter.median_ns("baseline/memcpy");
    if (base > 0)
        std::printf("  %-16s %9.0f ns per request  %6.2f GB/s of body bytes\n", "baseline/memcpy", base,
                    static_cast<double>(b.raw_bytes()) / base);
    for (const char* name : {"encode/json", "encode/plain", "encode/spliced", "encode/fields", "validate/json"}) {
        const double t = reporter.median_ns(name);
        if (t <= 0) continue;
        std::printf("  %-16s %9.0f ns per request  %6.2f GB/s of body bytes", name, t, static_cast<double>(b.raw_bytes()) / t);
        if (base > 0) std::printf("  %6.1fx the memcpy baseline", t / base);
        std::printf("\n");
    }
    for (const char* name : {"parse/ok", "parse/partial", "parse/md5"}) {
        const double t = reporter.median_ns(name);
        if (t > 0) std::printf("  %-16s %9.0f ns per response (%9.0f responses/s)\n", name, t, 1e9 / t);
    }
#if !defined(__OPTIMIZE__)
    std::printf("  note: built without optimisation (a Debug build?): the ratios say little; build with -O2\n");
#endif
    return 0;
}

#else // !SLUICE_HAS_SIMDJSON

#include <cstdio>

int main() {
    std::printf("bench_sqs_encode: skipped, sluice was built without simdjson\n");
    return 0;
}

#endif
