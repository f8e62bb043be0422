#pragma once

// Reads a 2xx _bulk response (elastic/elasticsearch-specification, _global/bulk/BulkResponse.ts):
//
//   {"took":30,"errors":true,"items":[
//     {"index":{"_index":"logs","_id":"1","status":201,"result":"created",...}},
//     {"create":{"_index":"logs","_id":"2","status":429,
//                "error":{"type":"es_rejected_execution_exception","reason":"rejected execution ..."}}},
//     {"index":{"_index":"logs","_id":"3","status":400,
//               "error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n] ..."}}}]}
//
// One item per action, in request order, each an object with one key (the action) whose value holds
// the status. Per item: 2xx ok; 429 throttled (retried with backoff); any other status of 400 or more
// rejected with "type: reason" (never the document: safe_reason cuts Elasticsearch's value preview);
// an item that cannot be read, or is missing, is retried (no proof the document is bad). errors:false
// is the fast path: every action succeeded. The body is untrusted: anything a server sends gives an
// answer for every action, never a crash (fuzz/targets/bulk_response.hpp).

#if !SLUICE_HAS_SIMDJSON
#error "sluice/sinks/detail/bulk_response.hpp needs simdjson (SLUICE_HAS_SIMDJSON)"
#endif

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <sluice/delivery/sink.hpp>
#include <sluice/sinks/detail/http_outcome.hpp>

namespace sluice::detail {

/// "type: reason" of an Elasticsearch error object ({"type":..,"reason":..}), made safe; the type is
/// also returned in `code`. Empty when `error` is not such an object.
[[nodiscard]] inline std::string bulk_error_text(simdjson::dom::element error, std::string& code) {
    simdjson::dom::object e;
    if (error.get_object().get(e) != simdjson::SUCCESS) return {};
    std::string_view type, reason;
    if (e["type"].get_string().get(type) != simdjson::SUCCESS) type = {};
    if (e["reason"].get_string().get(reason) != simdjson::SUCCESS) reason = {};
    code = safe_code(type);
    std::string out = code.empty() ? std::string("error") : code;
    const std::string clean = safe_reason(reason);
    if (!clean.empty()) {
        out += ": ";
        out += clean;
    }
    return out;
}

/// Per-action outcomes of _bulk responses. Not thread-safe: one per sink.
class bulk_response_reader {
public:
    /// The outcomes of the `count` actions a 2xx response answers: a request failure (retry) when
    /// the body is not a _bulk response, otherwise empty entries (all ok) or one entry per action.
    [[nodiscard]] batch_result read(std::string_view body, std::size_t count) {
        simdjson::dom::object root;
        if (parser_.parse(body.data(), body.size(), true).get_object().get(root) != simdjson::SUCCESS)
            return batch_result::failed(outcome::retry("unreadable _bulk response (not a JSON object)"));
        bool errors = true;
        if (root["errors"].get_bool().get(errors) == simdjson::SUCCESS && !errors) return batch_result::all_ok();
        simdjson::dom::array items;
        if (root["items"].get_array().get(items) != simdjson::SUCCESS)
            return batch_result::failed(outcome::retry("unreadable _bulk response (no items)"));
        batch_result out;
        out.entries.reserve(count);
        for (simdjson::dom::element item : items) {
            if (out.entries.size() == count) {
                ++extra_items_;
                break;
            }
            out.entries.push_back(read_item(item));
        }
        if (out.entries.size() < count) ++missing_items_;
        while (out.entries.size() < count) out.entries.push_back(outcome::retry("no item for this action in the _bulk response"));
        return out;
    }

    /// Responses with more items than actions (the extra ones are ignored).
    [[nodiscard]] std::uint64_t extra_items() const noexcept { return extra_items_; }
    /// Responses with fewer items than actions (the actions without one are retried).
    [[nodiscard]] std::uint64_t missing_items() const noexcept { return missing_items_; }

private:
    static outcome read_item(simdjson::dom::element item) {
        simdjson::dom::object wrapper;
        if (item.get_object().get(wrapper) != simdjson::SUCCESS || wrapper.begin() == wrapper.end())
            return outcome::retry("unreadable item in the _bulk response");
        simdjson::dom::object result;
        if ((*wrapper.begin()).value.get_object().get(result) != simdjson::SUCCESS)
            return outcome::retry("unreadable item in the _bulk response");
        std::int64_t status = 0;
        if (result["status"].get_int64().get(status) != simdjson::SUCCESS)
            return outcome::retry("item without a status in the _bulk response");
        if (status >= 200 && status <= 299) return outcome::ok();
        std::string code;
        simdjson::dom::element error;
        std::string text;
        if (result["error"].get(error) == simdjson::SUCCESS) text = bulk_error_text(error, code);
        std::string why = "item status " + std::to_string(status);
        if (!text.empty()) {
            why += ": ";
            why += text;
        }
        outcome o;
        if (status == 429)
            o = outcome::throttle(std::move(why));
        else if (status >= 400)
            o = outcome::reject(std::move(why));
        else
            o = outcome::reject("unexpected " + why);
        o.service_code = std::move(code);
        return o;
    }

    simdjson::dom::parser parser_;
    std::uint64_t extra_items_ = 0;
    std::uint64_t missing_items_ = 0;
};

} // namespace sluice::detail
