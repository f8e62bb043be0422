// libFuzzer harness for what the AWS batch services of issue 9 parse from untrusted input: JSON
// documents turned into DynamoDB items (plain JSON and AttributeValue JSON), decimal number text, and
// the services' responses (Firehose RequestResponses, DynamoDB UnprocessedItems, CloudWatch Logs
// rejectedLogEventsInfo).
//
// The first byte picks the target; the rest is the input. Oracles besides the sanitizers:
//   - an item is either refused with a message or converted to AttributeValue JSON that reads back
//     (as AttributeValue input) to the very same text, size and key: conversion is a fixed point;
//   - a decimal's canonical text parses back to the same decimal, in both grammars;
//   - a response yields one outcome per entry of the batch, or a whole-request outcome, never another
//     count, and never throws.
//
// Build and run (clang 14, libFuzzer; from the repository root):
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize=function \
//     -DSLUICE_HAS_SIMDJSON=1 -DSLUICE_HAS_CURL=1 -DSLUICE_HAS_OPENSSL=1 -Iinclude \
//     fuzz/fuzz_aws_services.cpp -o /tmp/fuzz_aws_services -lsimdjson -lcurl -lssl -lcrypto -luring
//   mkdir -p /tmp/fuzz_aws_corpus && /tmp/fuzz_aws_services -max_total_time=60 /tmp/fuzz_aws_corpus

#include <sluice/aws/cloudwatch_logs.hpp>
#include <sluice/aws/dynamodb.hpp>
#include <sluice/aws/firehose.hpp>
#include <sluice/text/decimal.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace sluice;
using namespace sluice::aws;

void require(bool ok) {
    if (!ok) std::abort();
}

void item(std::string_view json, bool typed) {
    static dynamodb_item_reader reader;
    dynamodb_item_options options;
    options.hints = {{"ss", attribute_hint::string_set}, {"ns", attribute_hint::number_set}, {"b", attribute_hint::binary}};
    const dynamodb_key_schema schema{"id", key_type::any, "", key_type::any};
    dynamodb_item out;
    const std::string why = typed ? reader.from_attribute_values(json, schema, false, options, out)
                                  : reader.from_json(json, schema, false, options, out);
    if (!why.empty()) return;
    dynamodb_item again;
    const std::string text = out.attribute_values; // the reader reuses its buffers
    require(reader.from_attribute_values(text, schema, false, options, again).empty());
    require(again.attribute_values == text);
    require(again.size == out.size);
    require(again.key == out.key);
}

void decimal(std::string_view text) {
    for (auto grammar : {text::decimal_grammar::json, text::decimal_grammar::lenient}) {
        const auto d = text::parse_decimal(text, grammar);
        if (!d) continue;
        const std::string canonical = d->canonical();
        if (d->exponent >= 2147483647 || d->exponent <= -2147483647) continue; // saturated: not exact
        require(text::parse_decimal(canonical, text::decimal_grammar::json) == d);
        require(text::parse_decimal(canonical, text::decimal_grammar::lenient) == d);
    }
}

template <class Service>
void response(Service& service, std::vector<std::string> entries, std::string_view body) {
    const std::vector<std::string_view> views(entries.begin(), entries.end());
    std::string request;
    auto state = service.encode_request(sink_batch{{}, views}, request);
    const batch_result r = service.read_response(body, sink_batch{{}, views}, state);
    require(r.request.has_value() || r.entries.empty() || r.entries.size() == views.size());
}

void responses(std::uint8_t which, std::string_view body) {
    if (which % 3 == 0) {
        static firehose_service s(firehose_options{"events", true, which % 2 == 0, 50'000, no_overrides});
        std::vector<std::string> entries;
        for (int i = 0; i < 4; ++i) {
            firehose_record r{"record " + std::to_string(i)};
            entries.emplace_back();
            [[maybe_unused]] auto m = s.encode_entry(r, entries.back());
        }
        response(s, entries, body);
    } else if (which % 3 == 1) {
        static dynamodb_service s([] {
            dynamodb_options o;
            o.table = {"orders", {"id", key_type::any, "", key_type::any}};
            return o;
        }());
        std::vector<std::string> entries;
        for (int i = 0; i < 3; ++i) {
            dynamodb_write w = dynamodb_write::put("{\"id\":" + std::to_string(i) + "}");
            require(s.prepare(w).empty());
            entries.emplace_back();
            [[maybe_unused]] auto m = s.encode_entry(w, entries.back());
        }
        response(s, entries, body);
    } else {
        static logs_service s(logs_options{"app", "web", false, no_overrides});
        std::vector<std::string> entries;
        for (int i = 0; i < 5; ++i) {
            log_event e{"event " + std::to_string(i), std::chrono::system_clock::time_point(std::chrono::hours(400'000 + 11 * i)), {}, {}};
            entries.emplace_back();
            [[maybe_unused]] auto m = s.encode_entry(e, entries.back());
        }
        response(s, entries, body);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 4) {
    case 0: item(input, false); break;
    case 1: item(input, true); break;
    case 2: decimal(input); break;
    default: responses(data[0] / 4, input); break;
    }
    return 0;
}
