#pragma once

// The OpenSearch/Elasticsearch _bulk sink's readers of what it does not control: a server's _bulk
// response (sinks/detail/bulk_response.hpp), a server's error body for a whole request, and the
// records it encodes (sinks/detail/bulk_encoder.hpp). What must hold besides the sanitizers:
//   - any response gives a retryable request failure, "all ok", or exactly one outcome per action;
//     reasons and codes are free of control characters, bounded, and never carry Elasticsearch's
//     preview of a document's value;
//   - a generated response (statuses and error texts from the input) maps each item exactly: 2xx
//     ok, 429 throttled, other >= 400 rejected, unreadable or missing items retried;
//   - a record is either refused with a reason and the body untouched, or adds exactly two lines,
//     each ending with '\n', the first a JSON object naming a valid index.
//
// Input: u8 mode. 0: generated response: u8 item count, per item u16 status and type/reason chunks,
// then u8 count of actions asked for. 1: u16 action count, then the rest as a response body.
// 2: u8 template choice, then the rest as a record. 3: the rest as an error body of a 400.

#include "../fuzz.hpp"

#include <sluice/sinks/detail/bulk_encoder.hpp>
#include <sluice/sinks/detail/bulk_response.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace sluice_fuzz {

namespace bulk_detail {

inline void check_safe(const sluice::outcome& o) {
    SLUICE_FUZZ_CHECK(!has_control(o.message), show(o.message));
    SLUICE_FUZZ_CHECK(!has_control(o.service_code), show(o.service_code));
    SLUICE_FUZZ_CHECK(o.message.size() <= 800, "a reason of " + std::to_string(o.message.size()) + " bytes");
    SLUICE_FUZZ_CHECK(!sluice::text::icontains(o.message, "preview of field"), show(o.message));
}

inline void check_shape(const sluice::batch_result& r, std::size_t count) {
    if (r.request) {
        SLUICE_FUZZ_CHECK(r.request->retryable(), "an unreadable response is not retried: " + show(r.request->message));
        SLUICE_FUZZ_CHECK(r.entries.empty(), "a request failure with entries");
        check_safe(*r.request);
        return;
    }
    SLUICE_FUZZ_CHECK(r.entries.empty() || r.entries.size() == count,
                      std::to_string(r.entries.size()) + " outcomes for " + std::to_string(count) + " actions");
    for (const auto& o : r.entries) check_safe(o);
}

// A JSON string of the bytes, those above 0x7f as '?' (the response stays valid UTF-8, so valid JSON).
inline std::string json_text(std::span<const std::uint8_t> b) {
    std::string raw;
    for (std::uint8_t c : b) raw += c < 0x80 ? static_cast<char>(c) : '?';
    std::string out;
    sluice::text::append_json_string(out, raw);
    return out;
}

inline void generated(reader& r) {
    struct item {
        int status;
    };
    std::vector<item> items(r.u8() % 16);
    std::string body = "{\"took\":1,\"errors\":true,\"items\":[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        items[i].status = r.u16() % 700;
        const std::string type = json_text(r.chunk());
        const std::string reason = json_text(r.chunk());
        if (i != 0) body += ',';
        body += "{\"index\":{\"_index\":\"x\",\"_id\":\"" + std::to_string(i) + "\",\"status\":" + std::to_string(items[i].status);
        if (items[i].status >= 300) body += ",\"error\":{\"type\":" + type + ",\"reason\":" + reason + "}";
        body += "}}";
    }
    body += "]}";
    const std::size_t count = r.u8() % 20;
    sluice::detail::bulk_response_reader reader;
    const sluice::batch_result out = reader.read(body, count);
    check_shape(out, count);
    SLUICE_FUZZ_CHECK(!out.request && out.entries.size() == count, "a well-formed response misread");
    for (std::size_t i = 0; i < count; ++i) {
        const auto kind = out.entries[i].kind;
        if (i >= items.size()) {
            SLUICE_FUZZ_CHECK(kind == sluice::outcome_kind::retry, "a missing item is not retried");
            continue;
        }
        const int s = items[i].status;
        const auto expected = s >= 200 && s <= 299 ? sluice::outcome_kind::ok
                              : s == 429           ? sluice::outcome_kind::throttled
                                                   : sluice::outcome_kind::reject;
        SLUICE_FUZZ_CHECK(kind == expected, "status " + std::to_string(s) + " read as " + std::string(to_string(kind)));
    }
}

inline void encode(reader& r) {
    const std::uint8_t choice = r.u8();
    sluice::bulk_format f;
    f.index = (choice & 1) ? "logs-{service}-%Y.%m.%d" : "static";
    if (choice & 2) f.id_field = "id";
    if (choice & 4) f.timestamp_field = "@timestamp";
    if (choice & 8) f.action = sluice::bulk_action::create;
    sluice::detail::bulk_encoder e(f);
    const std::string_view record = as_text(r.rest());
    std::string body = "prefix\n";
    const std::string why = e.append(record, body, std::chrono::system_clock::time_point(std::chrono::hours(500'000)));
    if (!why.empty()) {
        SLUICE_FUZZ_CHECK(body == "prefix\n", "a refused record changed the body");
        SLUICE_FUZZ_CHECK(!has_control(why), show(why));
        return;
    }
    const std::string_view added = std::string_view(body).substr(7);
    std::size_t lines = 0;
    for (char c : added) lines += c == '\n';
    SLUICE_FUZZ_CHECK(lines == 2 && added.back() == '\n', "not two lines: " + show(added));
    const std::string_view action = added.substr(0, added.find('\n'));
    simdjson::dom::parser p;
    simdjson::dom::object a;
    SLUICE_FUZZ_CHECK(p.parse(action.data(), action.size(), true).get_object().get(a) == simdjson::SUCCESS, show(action));
    std::string_view index;
    SLUICE_FUZZ_CHECK((*a.begin()).value["_index"].get_string().get(index) == simdjson::SUCCESS, show(action));
    SLUICE_FUZZ_CHECK(sluice::detail::index_name_problem(index).empty(), show(index));
}

} // namespace bulk_detail

SLUICE_FUZZ_TARGET(bulk_response) {
    reader r(data);
    const std::uint8_t mode = r.u8() % 4;
    if (mode == 0) {
        bulk_detail::generated(r);
    } else if (mode == 1) {
        const std::size_t count = r.u16() % 2048;
        sluice::detail::bulk_response_reader reader;
        bulk_detail::check_shape(reader.read(as_text(r.rest()), count), count);
    } else if (mode == 2) {
        bulk_detail::encode(r);
    } else {
        simdjson::dom::parser p;
        simdjson::dom::object root;
        simdjson::dom::element error;
        const std::string_view body = as_text(r.rest());
        std::string code;
        if (p.parse(body.data(), body.size(), true).get_object().get(root) == simdjson::SUCCESS &&
            root["error"].get(error) == simdjson::SUCCESS) {
            const std::string text = sluice::detail::bulk_error_text(error, code);
            SLUICE_FUZZ_CHECK(!has_control(text) && !has_control(code), show(text));
        }
    }
}

} // namespace sluice_fuzz
