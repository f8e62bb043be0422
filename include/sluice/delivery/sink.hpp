#pragma once

// The contract between the delivery engine and a sink adapter. The engine owns batching, buffering,
// retries, rate limits and acknowledgement; an adapter only encodes a batch into its wire format,
// sends it, and says per entry how it went. Its limits are data, overridable, since services change
// them.

#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <sluice/core/task.hpp>

namespace sluice {

/// A sink's hard limits per request and per record.
struct sink_limits {
    std::size_t max_batch_entries = 500;
    std::size_t max_batch_bytes = 5u << 20;
    std::size_t max_record_bytes = 1u << 20;
};

/// How one entry (or a whole request) fared.
enum class entry_status {
    ok,     ///< delivered
    retry,  ///< transient: throttling, 5xx, timeouts, resets; retried with backoff
    reject, ///< the sender's fault (validation, too large, access denied): never retried
};

struct entry_result {
    entry_status status = entry_status::ok;
    /// Why, for retry and reject. Never contains credentials or the record's body.
    std::string message{};
    std::error_code code{};
    /// The service asked us to slow down (lowers adaptive concurrency).
    bool throttled = false;

    static entry_result ok() { return {}; }
    static entry_result retry(std::string why, bool throttled = false) {
        return {entry_status::retry, std::move(why), {}, throttled};
    }
    static entry_result reject(std::string why) { return {entry_status::reject, std::move(why), {}, false}; }
};

/// A sink's answer to one request.
struct batch_result {
    /// Set when the request as a whole failed: it applies to every entry.
    std::optional<entry_result> request{};
    /// Per entry, in batch order. Empty (with no request error) means every entry was delivered.
    std::vector<entry_result> entries{};

    static batch_result all_ok() { return {}; }
    static batch_result failed(entry_result why) { return {std::move(why), {}}; }
};

/// A sink adapter: `limits()` and `send(batch)` where batch holds the encoded records (views valid
/// until the send completes) and the result is awaitable.
template <class S>
concept sink_adapter = requires(S& s, std::span<const std::string_view> batch) {
    { s.limits() } -> std::convertible_to<sink_limits>;
    { s.send(batch) } -> std::same_as<task<batch_result>>;
};

} // namespace sluice
