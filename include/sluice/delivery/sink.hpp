#pragma once

// The contract between the delivery engine and a sink adapter. The engine owns batching, buffering,
// retries, rate limits and acknowledgement; an adapter only encodes a batch into its wire format,
// sends it, and says per entry how it went. Its limits are data, overridable, since services change
// them.

#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/core/outcome.hpp>
#include <sluice/core/task.hpp>

namespace sluice {

/// A sink's hard limits per request and per record.
struct sink_limits {
    /// Records per request; the engine never batches more.
    std::size_t max_batch_entries = 500;
    /// Bytes per request, counted by record weight (record_options::weight).
    std::size_t max_batch_bytes = 5u << 20;
    /// A larger record is refused as invalid before it is sent.
    std::size_t max_record_bytes = 1u << 20;
    /// The destination keeps records in order only if the engine sends them in order (a FIFO queue):
    /// unless delivery_options::order_by_key orders them per key, the engine runs ordered.
    bool needs_order = false;
};

/// How one entry (or a whole request) fared: the outcome type (core/outcome.hpp). A sink sets kind
/// (ok, retry, throttled, reject), message, service_code, request_id; the engine the rest.
using entry_result = outcome;

/// A sink's answer to one request.
struct batch_result {
    /// Set when the request as a whole failed: it applies to every entry.
    std::optional<outcome> request{};
    /// Per entry, in batch order. Empty (with no request error) means every entry was delivered.
    std::vector<outcome> entries{};

    /// Every entry delivered.
    static batch_result all_ok() { return {}; }
    /// The whole request failed with `why` (retryable or not, by its kind).
    static batch_result failed(outcome why) { return {std::move(why), {}}; }
};

/// One request's worth of records, as the engine hands it to a sink: records that share one batch
/// key (a stream, a table, a log stream: records with different keys never share a request).
struct sink_batch {
    /// The batch key every record here was delivered with (empty when the sink uses none).
    std::string_view key{};
    /// The encoded records, in order; views valid until the send completes.
    std::span<const std::string_view> records{};
    /// Fires at stop()'s deadline: abandon the request (hand it to the HTTP client) and answer with
    /// a retryable or cancelled outcome; the engine keeps the records on disk or reports them as not
    /// delivered. A sink that ignores it holds stop() until its request ends.
    std::stop_token cancel{};
};

/// A sink adapter: `limits()` and an awaitable `send` of one batch, either `send(sink_batch)` or,
/// for a sink without batch keys, `send(std::span<const std::string_view>)`.
template <class S>
concept sink_adapter = requires(S& s) {
    { s.limits() } -> std::convertible_to<sink_limits>;
} && (requires(S& s, sink_batch b) {
    { s.send(b) } -> std::same_as<task<batch_result>>;
} || requires(S& s, std::span<const std::string_view> records) {
    { s.send(records) } -> std::same_as<task<batch_result>>;
});

/// Calls whichever send() the sink has.
template <sink_adapter S>
[[nodiscard]] task<batch_result> send_batch_to(S& sink, sink_batch batch) {
    if constexpr (requires { { sink.send(batch) } -> std::same_as<task<batch_result>>; })
        return sink.send(batch);
    else
        return sink.send(batch.records);
}

} // namespace sluice
