#pragma once

// Amazon CloudWatch Logs PutLogEvents on the shared AWS batch layer: logs_service is its traits,
// logs_dispatcher the batch dispatcher for it.
//
//   POST / HTTP/1.1
//   Content-Type: application/x-amz-json-1.1
//   X-Amz-Target: Logs_20140328.PutLogEvents
//   {"logGroupName":"app","logStreamName":"web-1","logEvents":[{"timestamp":1767225600000,"message":"..."}]}
//   ->
//   {"nextSequenceToken":"...","rejectedLogEventsInfo":{"tooOldLogEventEndIndex":1}}
//
// Limits (AWS, 2026; overridable): 10,000 events and 1,048,576 bytes per request, counting each
// message's UTF-8 bytes plus 26 per event; events in chronological order within a request; a request
// spans at most 24 hours. Sequence tokens are no longer needed (nor sent).
//
// Batches never mix log streams, and never span more than 24 hours: each event's batch key is its
// group, its stream and the 24-hour bucket of its time. Each request's events are sorted by time (the
// permutation kept, so rejectedLogEventsInfo's index ranges map back to the right events). The engine
// keeps an open batch per key, so a request never holds two streams nor two days.
//
// Events AWS rejects by range (too old, too new, older than the group's retention) are rejected (never
// retried); the rest of the request is delivered. With create_missing, a put answered with
// ResourceNotFoundException creates the group and the stream (tolerating
// ResourceAlreadyExistsException) and is sent again, once.

#if !SLUICE_HAS_CURL || !SLUICE_HAS_OPENSSL || !SLUICE_HAS_SIMDJSON
#error "sluice/aws/cloudwatch_logs.hpp needs libcurl, OpenSSL and simdjson (SLUICE_HAS_CURL, SLUICE_HAS_OPENSSL, SLUICE_HAS_SIMDJSON)"
#endif

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/aws/batch/dispatcher.hpp>
#include <sluice/aws/batch/response.hpp>
#include <sluice/aws/batch/service.hpp>
#include <sluice/aws/service_client.hpp>
#include <sluice/core/task.hpp>
#include <sluice/text/json_writer.hpp>
#include <sluice/text/utf8.hpp>

namespace sluice::aws {

/// One log event.
struct log_event {
    /// Non-empty UTF-8 text.
    std::string message;
    /// The epoch (default): stamped with the time of submission.
    std::chrono::system_clock::time_point time{};
    /// The group and stream; empty: the dispatcher's.
    std::string group{};
    /// The log stream.
    std::string stream{};
};

/// PutLogEvents's limits as AWS documents them (2026): message bytes plus 26 per event.
[[nodiscard]] constexpr batch_limits logs_default_limits() noexcept {
    return {10'000, 1'048'576, 1'048'576 - 26, 26, size_basis::raw};
}

/// Where events go.
struct logs_options {
    /// The log group (1 to 512 characters of `[.-_/#A-Za-z0-9]`) and stream (1 to 512, no ':' or '*').
    std::string group{};
    /// The log stream.
    std::string stream{};
    /// Create the group and the stream when a put says they do not exist, then send it again.
    bool create_missing = false;
    /// Overrides of PutLogEvents's limits (zero fields keep them).
    batch_limits limits = no_overrides;
};

/// PutLogEvents's error codes.
[[nodiscard]] inline const error_table& logs_errors() noexcept {
    static constexpr error_rule rules[] = {
        {"ServiceUnavailableException", error_verdict::retry},
        {"ThrottlingException", error_verdict::throttle},
        {"InvalidParameterException", error_verdict::reject},
        {"ResourceNotFoundException", error_verdict::reject},
        {"UnrecognizedClientException", error_verdict::reject},
        {"DataAlreadyAcceptedException", error_verdict::reject},
    };
    static const error_table table{rules, error_verdict::retry};
    return table;
}

} // namespace sluice::aws

namespace sluice::detail::logs {

inline constexpr std::int64_t day_ms = 86'400'000;
/// Every entry starts with this; its timestamp follows.
inline constexpr std::string_view entry_head = "{\"timestamp\":";

inline bool valid_group(std::string_view g) noexcept {
    if (g.empty() || g.size() > 512) return false;
    for (char c : g) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '-' || c == '_' || c == '/' || c == '#';
        if (!ok) return false;
    }
    return true;
}

inline bool valid_stream(std::string_view s) noexcept {
    if (s.empty() || text::utf8_length(s) > 512 || !text::check_utf8(s).ok()) return false;
    for (char c : s)
        if (c == ':' || c == '*' || static_cast<unsigned char>(c) < 0x20) return false;
    return true;
}

inline std::int64_t millis(std::chrono::system_clock::time_point t) noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

/// The timestamp an entry starts with (0 when it cannot be read: it then sorts first).
inline std::int64_t entry_time(std::string_view entry) noexcept {
    std::int64_t t = 0;
    for (std::size_t i = entry_head.size(); i < entry.size() && entry[i] >= '0' && entry[i] <= '9'; ++i) t = t * 10 + (entry[i] - '0');
    return t;
}

/// group:stream:day (neither names may hold ':').
inline std::string batch_key(std::string_view group, std::string_view stream, std::int64_t ms) {
    std::string key;
    key.reserve(group.size() + stream.size() + 24);
    key += group;
    key += ':';
    key += stream;
    key += ':';
    key += std::to_string(ms / day_ms);
    return key;
}

} // namespace sluice::detail::logs

namespace sluice::aws {

/// PutLogEvents's traits for the batch layer.
class logs_service {
public:
    /// What one entry carries.
    using record_type = log_event;
    /// The batch's entries in the order sent (sorted by time).
    struct request_state {
        /// Indexes into the batch, in the order sent.
        std::vector<std::size_t> sent{};
    };
    /// AWS JSON 1.1.
    static constexpr wire_protocol protocol = wire_protocol::json_1_1;
    /// The X-Amz-Target of the operation.
    static constexpr std::string_view target = "Logs_20140328.PutLogEvents";

    /// Throws std::invalid_argument for an invalid group or stream name.
    explicit logs_service(logs_options options)
        : options_(std::move(options)), limits_(logs_default_limits().overridden_by(options_.limits)) {
        if (!sluice::detail::logs::valid_group(options_.group))
            throw std::invalid_argument("sluice: a log group name has 1 to 512 characters of [.-_/#A-Za-z0-9]");
        if (!sluice::detail::logs::valid_stream(options_.stream))
            throw std::invalid_argument("sluice: a log stream name has 1 to 512 characters, without ':' or '*'");
    }

    /// The log stream (what logs and metrics name).
    [[nodiscard]] std::string_view name() const noexcept { return options_.stream; }
    /// PutLogEvents's limits with the options' overrides.
    [[nodiscard]] batch_limits limits() const noexcept { return limits_; }
    /// Its documented error codes and their verdicts.
    [[nodiscard]] const error_table& errors() const noexcept { return logs_errors(); }
    /// The largest message escaped (`\u00XX`: six bytes per byte), and the entry's fields.
    [[nodiscard]] std::size_t max_encoded_record() const noexcept { return limits_.max_record_bytes * 6 + 64; }
    /// Identical events are all sent.
    [[nodiscard]] duplicate_policy duplicates() const noexcept { return duplicate_policy::keep; }

    /// Stamps an event without a time with now; then CloudWatch Logs' rules. Empty when valid.
    [[nodiscard]] std::string prepare(log_event& e) const {
        if (e.time.time_since_epoch().count() == 0) e.time = std::chrono::system_clock::now();
        if (e.time.time_since_epoch().count() < 0) return "event time before 1970";
        if (e.message.empty()) return "message is empty; CloudWatch Logs takes 1 byte or more";
        if (e.message.size() > limits_.max_record_bytes)
            return "message is " + std::to_string(e.message.size()) + " bytes; the limit is " + std::to_string(limits_.max_record_bytes) +
                   " (1 MiB per event, 26 bytes of it overhead)";
        if (auto c = text::check_utf8(e.message); !c.ok()) return text::describe(c, "message");
        if (!e.group.empty() && !sluice::detail::logs::valid_group(e.group)) return "log group name is not valid (1 to 512 of [.-_/#A-Za-z0-9])";
        if (!e.stream.empty() && !sluice::detail::logs::valid_stream(e.stream)) return "log stream name is not valid (1 to 512 characters, no ':' or '*')";
        return {};
    }

    /// {"timestamp":..,"message":".."}; its batch key is the group, the stream and the event's day.
    [[nodiscard]] entry_meta encode_entry(const log_event& e, std::string& out) const {
        const std::int64_t ms = sluice::detail::logs::millis(e.time);
        text::append_exact(out, [&](auto& w) {
            w.raw(sluice::detail::logs::entry_head);
            w.integer(ms);
            w.raw(",\"message\":\"");
            w.escaped(e.message);
            w.raw("\"}");
        });
        entry_meta meta;
        meta.counted = e.message.size();
        meta.batch_key = sluice::detail::logs::batch_key(group_of(e), stream_of(e), ms);
        return meta;
    }

    /// The batch key's stream, its events sorted by time (one day of them: the key holds the day).
    [[nodiscard]] request_state encode_request(sink_batch batch, std::string& body) const {
        // Named views, not a structured binding: clang 14 cannot capture one in the lambda below.
        const auto where = destination(batch);
        const std::string_view group = where.first, stream = where.second;
        const std::size_t n = batch.records.size();
        std::vector<std::int64_t> times(n);
        request_state state;
        state.sent.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            times[i] = sluice::detail::logs::entry_time(batch.records[i]);
            state.sent[i] = i;
        }
        // The batch key holds the day, so the events span less than 24 hours: sorting is all it takes.
        std::stable_sort(state.sent.begin(), state.sent.end(), [&](std::size_t a, std::size_t b) { return times[a] < times[b]; });
        std::size_t size = 64 + group.size() + stream.size() * 6 + n;
        for (std::size_t i : state.sent) size += batch.records[i].size();
        body.reserve(size);
        text::append_exact(body, [&](auto& w) {
            w.raw("{\"logGroupName\":\"");
            w.raw(group);
            w.raw("\",\"logStreamName\":\"");
            w.escaped(stream);
            w.raw("\",\"logEvents\":[");
        });
        for (std::size_t k = 0; k < state.sent.size(); ++k) {
            if (k != 0) body += ',';
            body += batch.records[state.sent[k]];
        }
        body += "]}";
        return state;
    }

    /// rejectedLogEventsInfo's ranges (indexes as sent) mapped back to the batch; the rest delivered.
    [[nodiscard]] batch_result read_response(std::string_view body, sink_batch batch, request_state& state) {
        simdjson::dom::object root;
        if (!reader_.parse(body, root))
            return batch_result::failed(outcome::retry("unreadable PutLogEvents response (not a JSON object)"));
        rejected_ranges ranges;
        simdjson::dom::object info;
        if (root["rejectedLogEventsInfo"].get_object().get(info) == simdjson::SUCCESS) {
            std::int64_t v = 0;
            if (batch_response_reader::read(info["tooNewLogEventStartIndex"].get_int64(), v) && v >= 0)
                ranges.too_new_start = static_cast<std::size_t>(v);
            if (batch_response_reader::read(info["tooOldLogEventEndIndex"].get_int64(), v) && v >= 0)
                ranges.too_old_end = static_cast<std::size_t>(v);
            if (batch_response_reader::read(info["expiredLogEventEndIndex"].get_int64(), v) && v >= 0)
                ranges.expired_end = static_cast<std::size_t>(v);
        }
        const batch_result as_sent = by_index_ranges(state.sent.size(), ranges);
        return in_batch_order(as_sent, state.sent, batch.records.size(), outcome::retry("no result for entry"));
    }

    /// With create_missing: on ResourceNotFoundException, creates the batch's group and stream (each
    /// may exist already) and says whether the put should be sent again.
    [[nodiscard]] task<bool> recover(service_client& client, sink_batch batch, const call_failure& failure) const {
        if (!options_.create_missing || !failure.service || failure.service->code != "ResourceNotFoundException") co_return false;
        const auto where = destination(batch);
        std::string group_body;
        text::append_exact(group_body, [&](auto& w) {
            w.raw("{\"logGroupName\":\"");
            w.raw(where.first);
            w.raw("\"}");
        });
        std::string stream_body;
        text::append_exact(stream_body, [&](auto& w) {
            w.raw("{\"logGroupName\":\"");
            w.raw(where.first);
            w.raw("\",\"logStreamName\":\"");
            w.escaped(where.second);
            w.raw("\"}");
        });
        const bool group_made = co_await create(client, "Logs_20140328.CreateLogGroup", group_body);
        if (!group_made) co_return false;
        co_return co_await create(client, "Logs_20140328.CreateLogStream", stream_body);
    }

    /// Batches of up to 10,000 sealed after 500 ms, 4 requests in flight, 8 attempts with backoff
    /// from 100 ms to 20 s.
    [[nodiscard]] delivery_options default_delivery() const {
        delivery_options d;
        d.name = "cloudwatch-logs";
        d.batch.max_events = limits_.max_entries;
        d.batch.max_bytes = limits_.max_request_bytes;
        d.batch.max_age = std::chrono::milliseconds(500);
        d.retry.max_attempts = 8;
        d.retry.initial_backoff = std::chrono::milliseconds(100);
        d.retry.max_backoff = std::chrono::milliseconds(20'000);
        d.concurrency.max_in_flight = 4;
        return d;
    }

    /// The options it was made with.
    [[nodiscard]] const logs_options& options() const noexcept { return options_; }

private:
    [[nodiscard]] std::string_view group_of(const log_event& e) const noexcept { return e.group.empty() ? options_.group : e.group; }
    [[nodiscard]] std::string_view stream_of(const log_event& e) const noexcept { return e.stream.empty() ? options_.stream : e.stream; }

    /// The group and stream of a batch: from its key (group:stream:day), or the dispatcher's.
    [[nodiscard]] std::pair<std::string_view, std::string_view> destination(sink_batch batch) const noexcept {
        const std::string_view key = batch.key;
        const auto first = key.find(':'), last = key.rfind(':');
        if (key.empty() || first == std::string_view::npos || first == last) return {options_.group, options_.stream};
        return {key.substr(0, first), key.substr(first + 1, last - first - 1)};
    }

    /// One creation call; true when it succeeded or the resource was there already.
    static task<bool> create(service_client& client, std::string_view target, const std::string& body) {
        call_options o;
        o.content_type = content_type(protocol);
        o.single_attempt = true;
        const auto out = co_await client.call_json(target, body, o);
        co_return out.ok() || (out.failure.service && out.failure.service->code == "ResourceAlreadyExistsException");
    }

    logs_options options_;
    batch_limits limits_;
    batch_response_reader reader_{};
};

static_assert(batch_service<logs_service>);

/// CloudWatch Logs' batch dispatcher: submit / send / flush / stop, as for every AWS batch API.
using logs_dispatcher = batch_dispatcher<logs_service>;

} // namespace sluice::aws
