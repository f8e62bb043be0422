#pragma once

// What the AWS batch services parse from untrusted input: JSON documents turned into DynamoDB items
// (plain JSON and AttributeValue JSON), decimal number text, and the services' responses (Firehose
// RequestResponses, DynamoDB UnprocessedItems, CloudWatch Logs rejectedLogEventsInfo, Kinesis
// Records in JSON and in CBOR). What must hold besides the sanitizers:
//   - an item is either refused with a message or converted to AttributeValue JSON that reads back
//     (as AttributeValue input) to the very same text, size and key: conversion is a fixed point;
//   - a decimal's canonical text parses back to the same decimal, in both grammars;
//   - a response yields one outcome per entry of the batch, or a whole-request outcome, never another
//     count, never throws, and every outcome describes itself without a control character (safe to log).
//
// Input: u8 selector (% 4: 0 plain JSON item, 1 AttributeValue item, 2 decimal, 3 response of service
// selector / 4 % 4: Firehose, DynamoDB, CloudWatch Logs, Kinesis; for Kinesis selector / 16 % 2: JSON,
// CBOR), then the text.

#include "../fuzz.hpp"

#include <sluice/aws/cloudwatch_logs.hpp>
#include <sluice/aws/dynamodb.hpp>
#include <sluice/aws/firehose.hpp>
#include <sluice/aws/kinesis.hpp>
#include <sluice/text/decimal.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace sluice_fuzz {

namespace aws_services_detail {

using namespace sluice;
using namespace sluice::aws;

inline void item(std::string_view json, bool typed) {
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
    const std::string again_why = reader.from_attribute_values(text, schema, false, options, again);
    SLUICE_FUZZ_CHECK(again_why.empty(), again_why);
    SLUICE_FUZZ_CHECK(again.attribute_values == text, "conversion is not a fixed point: " + show(text));
    SLUICE_FUZZ_CHECK(again.size == out.size, "the item's size changed on reading it back");
    SLUICE_FUZZ_CHECK(again.key == out.key, "the item's key changed on reading it back");
}

inline void decimal(std::string_view input) {
    for (auto grammar : {text::decimal_grammar::json, text::decimal_grammar::lenient}) {
        const auto d = text::parse_decimal(input, grammar);
        if (!d) continue;
        const std::string canonical = d->canonical();
        if (d->exponent >= 2147483647 || d->exponent <= -2147483647) continue; // saturated: not exact
        SLUICE_FUZZ_CHECK(text::parse_decimal(canonical, text::decimal_grammar::json) == d, show(canonical));
        SLUICE_FUZZ_CHECK(text::parse_decimal(canonical, text::decimal_grammar::lenient) == d, show(canonical));
    }
}

template <class Service>
void response(Service& service, const std::vector<std::string>& entries, std::string_view body) {
    const std::vector<std::string_view> views(entries.begin(), entries.end());
    std::string request;
    auto state = service.encode_request(sink_batch{{}, views}, request);
    const batch_result r = service.read_response(body, sink_batch{{}, views}, state);
    SLUICE_FUZZ_CHECK(r.request.has_value() || r.entries.empty() || r.entries.size() == views.size(),
                      std::to_string(r.entries.size()) + " outcomes for " + std::to_string(views.size()) + " entries");
    if (r.request) SLUICE_FUZZ_CHECK(!has_control(r.request->describe()), show(r.request->describe()));
    for (const auto& o : r.entries) SLUICE_FUZZ_CHECK(!has_control(o.describe()), show(o.describe()));
}

template <class Service, class Record>
void encode_and_read(Service& s, const std::vector<Record>& records, std::string_view body) {
    std::vector<std::string> entries;
    for (const auto& r : records) {
        entries.emplace_back();
        [[maybe_unused]] auto m = s.encode_entry(r, entries.back());
    }
    response(s, entries, body);
}

inline void responses(unsigned which, std::string_view body) {
    switch (which % 4) {
    case 0: {
        static firehose_service s(firehose_options{"events", true, (which / 4) % 2 == 0, 50'000, no_overrides});
        std::vector<firehose_record> records;
        for (int i = 0; i < 4; ++i) records.push_back(firehose_record{"record " + std::to_string(i)});
        encode_and_read(s, records, body);
        break;
    }
    case 1: {
        static dynamodb_service s([] {
            dynamodb_options o;
            o.table = {"orders", {"id", key_type::any, "", key_type::any}};
            return o;
        }());
        std::vector<std::string> entries;
        for (int i = 0; i < 3; ++i) {
            dynamodb_write w = dynamodb_write::put("{\"id\":" + std::to_string(i) + "}");
            SLUICE_FUZZ_CHECK(s.prepare(w).empty(), "a plain item refused");
            entries.emplace_back();
            [[maybe_unused]] auto m = s.encode_entry(w, entries.back());
        }
        response(s, entries, body);
        break;
    }
    case 2: {
        static logs_service s(logs_options{"app", "web", false, no_overrides});
        std::vector<log_event> events;
        for (int i = 0; i < 5; ++i)
            events.push_back(log_event{"event " + std::to_string(i),
                                       std::chrono::system_clock::time_point(std::chrono::hours(400'000 + 11 * i)), {}, {}});
        encode_and_read(s, events, body);
        break;
    }
    default: {
        static kinesis_service json(kinesis_options{"stream", "", no_overrides, {}, false});
        static kinesis_service cbor(kinesis_options{"stream", "", no_overrides, {}, false, wire_protocol::cbor_1_1});
        std::vector<kinesis_record> records;
        for (int i = 0; i < 4; ++i) records.push_back(kinesis_record{"data " + std::to_string(i), "key", ""});
        encode_and_read((which / 4) % 2 == 0 ? json : cbor, records, body);
        break;
    }
    }
}

} // namespace aws_services_detail

SLUICE_FUZZ_TARGET(aws_services) {
    if (data.empty()) return;
    const std::string_view input = as_text(data).substr(1);
    switch (data[0] % 4) {
    case 0: aws_services_detail::item(input, false); break;
    case 1: aws_services_detail::item(input, true); break;
    case 2: aws_services_detail::decimal(input); break;
    default: aws_services_detail::responses(data[0] / 4u, input); break;
    }
}

} // namespace sluice_fuzz
