#pragma once

// The SQS SendMessageBatch protocol: messages encoded, the request parsed back (encode -> parse round
// trip), and responses parsed, generated or raw. What must hold: a message either fails validation
// with a reason free of control characters, or is encoded into JSON that parses back to exactly it
// (both encoders, byte for byte the same); a response gives one outcome per entry (or a whole-request
// failure), each as generated, with reasons free of control characters.
//
// Input: u8 message count (1 + n % 10); per message: u16-length body, u8 attribute count (% 4), per
// attribute: name, u8 type (String, Number, Binary, Binary.label), value; u8 flags (1: delay, 2: group
// id, 4: deduplication id) and those; the queue URL; then u8 response mode (even: generated from u8
// outcome, code, message and u8 sender fault per entry; odd: the rest of the input as the body).

#include "../fuzz.hpp"

#include <sluice/aws/sqs_protocol.hpp>

#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice_fuzz {

namespace sqs_detail {

inline std::string str(std::span<const std::uint8_t> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

/// A JSON string literal of arbitrary bytes (non-ASCII bytes as \u00XX: valid UTF-8 whatever they are).
inline std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b >= 0x7f || c == '"' || c == '\\') {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(b));
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

inline std::optional<std::string> base64_decode(std::string_view in) {
    static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (in.size() % 4 != 0) return std::nullopt;
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '=') {
            if (i + 2 < in.size()) return std::nullopt;
            break;
        }
        const std::size_t v = alphabet.find(in[i]);
        if (v == std::string_view::npos) return std::nullopt;
        acc = acc << 6 | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    return out;
}

inline sluice::aws::sqs_message read_message(reader& r) {
    sluice::aws::sqs_message m;
    m.body = str(r.chunk());
    const unsigned attributes = r.u8() % 4;
    for (unsigned i = 0; i < attributes; ++i) {
        std::string name = str(r.chunk());
        static constexpr const char* types[] = {"String", "Number", "Binary", "Binary.png"};
        const char* type = types[r.u8() % 4];
        m.attributes.push_back({std::move(name), type, str(r.chunk())});
    }
    const std::uint8_t flags = r.u8();
    if (flags & 1) m.delay_seconds = static_cast<int>(r.u16()) - 100;
    if (flags & 2) m.group_id = str(r.chunk());
    if (flags & 4) m.deduplication_id = str(r.chunk());
    return m;
}

/// The request parses back to exactly the messages.
inline void check_round_trip(const std::string& json, std::string_view url, const std::vector<std::string_view>& ids,
                             const std::vector<sluice::aws::sqs_message>& messages) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    SLUICE_FUZZ_CHECK(parser.parse(json).get(doc) == simdjson::SUCCESS, "the request is not JSON: " + show(json));
    SLUICE_FUZZ_CHECK(std::string_view(doc["QueueUrl"].get_string().value_unsafe()) == url, "QueueUrl");
    simdjson::dom::array entries = doc["Entries"].get_array().value_unsafe();
    SLUICE_FUZZ_CHECK(entries.size() == messages.size(), "entry count");
    std::size_t i = 0;
    for (simdjson::dom::element e : entries) {
        const auto& m = messages[i];
        auto get = [&](const char* key) -> std::optional<std::string_view> {
            std::string_view v;
            if (e[key].get_string().get(v) != simdjson::SUCCESS) return std::nullopt;
            return v;
        };
        SLUICE_FUZZ_CHECK(get("Id") == ids[i], "Id");
        SLUICE_FUZZ_CHECK(get("MessageBody") == std::string_view(m.body), "MessageBody");
        std::int64_t delay = 0;
        const bool has_delay = e["DelaySeconds"].get_int64().get(delay) == simdjson::SUCCESS;
        SLUICE_FUZZ_CHECK(has_delay == m.delay_seconds.has_value() && (!has_delay || delay == *m.delay_seconds), "DelaySeconds");
        SLUICE_FUZZ_CHECK((m.group_id.empty() && !get("MessageGroupId")) || get("MessageGroupId") == std::string_view(m.group_id), "MessageGroupId");
        SLUICE_FUZZ_CHECK((m.deduplication_id.empty() && !get("MessageDeduplicationId")) ||
                              get("MessageDeduplicationId") == std::string_view(m.deduplication_id),
                          "MessageDeduplicationId");
        for (const auto& a : m.attributes) {
            simdjson::dom::element attr;
            SLUICE_FUZZ_CHECK(e["MessageAttributes"][a.name].get(attr) == simdjson::SUCCESS, "attribute " + show(a.name));
            std::string_view type, value;
            SLUICE_FUZZ_CHECK(attr["DataType"].get_string().get(type) == simdjson::SUCCESS && type == a.data_type, "DataType");
            if (a.is_binary()) {
                SLUICE_FUZZ_CHECK(attr["BinaryValue"].get_string().get(value) == simdjson::SUCCESS &&
                                      base64_decode(value) == a.value,
                                  "BinaryValue");
            } else {
                SLUICE_FUZZ_CHECK(attr["StringValue"].get_string().get(value) == simdjson::SUCCESS && value == a.value, "StringValue");
            }
        }
        ++i;
    }
}

/// Outcomes of a generated response, checked against what the parser says.
inline void check_generated_response(reader& r, const std::vector<std::string_view>& ids) {
    enum outcome { success, failed, missing };
    std::vector<outcome> want;
    std::vector<bool> sender;
    std::string ok = "{\"Successful\":[", bad = "],\"Failed\":[";
    bool first_ok = true, first_bad = true;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const outcome o = static_cast<outcome>(r.u8() % 3);
        const std::string code = str(r.chunk()), message = str(r.chunk());
        const bool fault = (r.u8() & 1) != 0;
        want.push_back(o);
        sender.push_back(fault);
        if (o == success) {
            ok += (first_ok ? "" : ",") + std::string("{\"Id\":") + json_string(ids[i]) + ",\"MessageId\":\"m\"}";
            first_ok = false;
        } else if (o == failed) {
            bad += (first_bad ? "" : ",") + std::string("{\"Id\":") + json_string(ids[i]) + ",\"Code\":" + json_string(code) +
                   ",\"Message\":" + json_string(message) + ",\"SenderFault\":" + (fault ? "true" : "false") + "}";
            first_bad = false;
        }
    }
    const std::string body = ok + bad + "]}";
    sluice::aws::sqs_batch_response_parser parser;
    const sluice::batch_result result = parser.parse(body, ids);
    SLUICE_FUZZ_CHECK(!result.request, "a well-formed response failed as a whole");
    bool all_ok = true;
    for (outcome o : want) all_ok = all_ok && o == success;
    if (all_ok) {
        SLUICE_FUZZ_CHECK(result.entries.empty(), "all accepted, yet per-entry results");
        return;
    }
    SLUICE_FUZZ_CHECK(result.entries.size() == ids.size(), "one result per entry");
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const auto& e = result.entries[i];
        SLUICE_FUZZ_CHECK(!has_control(e.message), show(e.message));
        if (want[i] == success) SLUICE_FUZZ_CHECK(e.is_ok(), "an accepted entry failed");
        else SLUICE_FUZZ_CHECK(!e.is_ok(), "a failed or missing entry counted as ok");
        if (want[i] == missing) SLUICE_FUZZ_CHECK(e.retryable(), "a missing entry is not retried");
    }
}

} // namespace sqs_detail

SLUICE_FUZZ_TARGET(sqs_response) {
    using namespace sqs_detail;
    reader r(data);
    const unsigned count = 1 + r.u8() % 10;
    std::vector<sluice::aws::sqs_message> messages;
    for (unsigned i = 0; i < count; ++i) messages.push_back(read_message(r));
    std::string url = str(r.chunk());
    for (char& c : url) c = static_cast<char>(0x20 + static_cast<unsigned char>(c) % 0x5f); // printable ASCII
    std::vector<sluice::aws::sqs_message> valid;
    for (const auto& m : messages) {
        const auto v = sluice::aws::validate_sqs_message(m, {.fifo = !m.group_id.empty(), .content_based_deduplication = true});
        SLUICE_FUZZ_CHECK(!has_control(v.reason), show(v.reason));
        if (v.ok()) valid.push_back(m);
    }
    std::vector<std::string> id_text;
    for (std::size_t i = 0; i < valid.size(); ++i) id_text.push_back(std::to_string(i));
    const std::vector<std::string_view> ids(id_text.begin(), id_text.end());
    if (!valid.empty()) {
        std::string direct, spliced;
        sluice::aws::append_send_message_batch(direct, url, ids, valid);
        std::vector<std::string> fields_text;
        for (const auto& m : valid) {
            std::string f;
            sluice::aws::append_sqs_entry_fields(f, m);
            SLUICE_FUZZ_CHECK(f.size() == sluice::aws::sqs_entry_fields_size(m), "sqs_entry_fields_size");
            fields_text.push_back(std::move(f));
        }
        const std::vector<std::string_view> entry_fields(fields_text.begin(), fields_text.end());
        sluice::aws::append_send_message_batch_encoded(spliced, url, ids, entry_fields);
        SLUICE_FUZZ_CHECK(direct == spliced, "the two encoders differ");
        check_round_trip(direct, url, ids, valid);
    }
    std::vector<std::string_view> response_ids = ids;
    if (response_ids.empty()) response_ids.push_back("0");
    if ((r.u8() & 1) == 0) {
        check_generated_response(r, response_ids);
        return;
    }
    const std::string body = str(r.rest());
    sluice::aws::sqs_batch_response_parser parser;
    const sluice::batch_result result = parser.parse(body, response_ids);
    if (result.request) SLUICE_FUZZ_CHECK(!has_control(result.request->message), show(result.request->message));
    SLUICE_FUZZ_CHECK(result.entries.empty() || result.entries.size() == response_ids.size(), "one result per entry");
    for (const auto& e : result.entries) SLUICE_FUZZ_CHECK(!has_control(e.message), show(e.message));
}

} // namespace sluice_fuzz
