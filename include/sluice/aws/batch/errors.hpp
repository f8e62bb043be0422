#pragma once

// One classifier of AWS batch errors, per entry and per request, into the outcome kinds the delivery
// engine acts on: ok, retry (transient), throttled (slow down, then retry), reject (the sender's
// fault, never retried). Driven by data: each service lists the per-entry codes it documents with
// their verdict (an error_table); what no table lists falls back on the AWS SDKs' standard retry
// mode (throttling codes, transient codes), then on the service's SenderFault flag where it gives one.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include <sluice/aws/error.hpp>
#include <sluice/core/outcome.hpp>

namespace sluice::aws {

/// What to do with an error code.
enum class error_verdict : unsigned char { retry, throttle, reject };

/// One service-documented error code and its verdict.
struct error_rule {
    /// The code as the service spells it, without a namespace.
    std::string_view code;
    /// What that code means for the entry.
    error_verdict verdict;
};

/// A service's per-entry error codes. Codes it does not list: the standard mode's throttling and
/// transient codes, then SenderFault (true: reject, false: retry), then `unknown`.
struct error_table {
    /// The codes this service documents (static data: the table only views it).
    std::span<const error_rule> rules{};
    /// For a code found nowhere, when the service says nothing about fault. Retry by default: an
    /// unknown failure is not proof that the record is bad, and the engine bounds the attempts.
    error_verdict unknown = error_verdict::retry;
};

} // namespace sluice::aws

namespace sluice::detail::aws_batch {

/// An error code as it may appear in an outcome or a log: only [A-Za-z0-9._-], at most 128 bytes,
/// after the usual decorations are cut ("ns#Code:uri" -> "Code"). Anything else a server sends (line
/// breaks, escapes, secrets pasted in a code) cannot reach a log through it.
inline std::string safe_code(std::string_view code) {
    // sanitize_code returns a string: keep it alive (a string_view of it dangled here after the merges).
    const std::string sanitized = sluice::detail::aws_error::sanitize_code(code);
    std::string out;
    out.reserve(std::min<std::size_t>(sanitized.size(), 128));
    for (char c : sanitized) {
        if (out.size() == 128) break;
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (ok) out += c;
    }
    return out;
}

inline outcome make_outcome(aws::error_verdict v, std::string message) {
    switch (v) {
    case aws::error_verdict::throttle: return outcome::throttle(std::move(message));
    case aws::error_verdict::reject: return outcome::reject(std::move(message));
    case aws::error_verdict::retry: break;
    }
    return outcome::retry(std::move(message));
}

} // namespace sluice::detail::aws_batch

namespace sluice::aws {

/// The verdict the service's table gives `code`, when it lists it.
[[nodiscard]] inline std::optional<error_verdict> listed_verdict(const error_table& table, std::string_view code) noexcept {
    for (const error_rule& r : table.rules)
        if (r.code == code) return r.verdict;
    return std::nullopt;
}

/// The verdict for one entry's error `code` (see error_table).
[[nodiscard]] inline error_verdict entry_verdict(const error_table& table, std::string_view code,
                                                 std::optional<bool> sender_fault = std::nullopt) noexcept {
    if (auto listed = listed_verdict(table, code)) return *listed;
    if (is_throttling_code(code)) return error_verdict::throttle;
    if (is_transient_code(code)) return error_verdict::retry;
    if (sender_fault) return *sender_fault ? error_verdict::reject : error_verdict::retry;
    return table.unknown;
}

/// The outcome of one failed entry: its verdict, and "Code: message" (the message cleaned and cut,
/// the code reduced to safe characters) with the code as the outcome's service_code.
[[nodiscard]] inline outcome classify_entry(const error_table& table, std::string_view code, std::string_view message,
                                            std::optional<bool> sender_fault = std::nullopt,
                                            std::string_view request_id = {}) {
    std::string safe = sluice::detail::aws_batch::safe_code(code);
    std::string why = safe.empty() ? std::string("unknown error") : safe;
    const std::string clean = sluice::detail::aws_error::clean_message(message, 512);
    if (!clean.empty()) {
        why += ": ";
        why += clean;
    }
    outcome o = sluice::detail::aws_batch::make_outcome(entry_verdict(table, safe, sender_fault), std::move(why));
    o.service_code = std::move(safe);
    o.request_id = std::string(request_id);
    return o;
}

/// The outcome of a whole request the service answered with an error (non-2xx): the standard retry
/// mode's classification (throttling, transient, clock skew: retry; anything else: reject).
[[nodiscard]] inline outcome classify_request(const service_error& e) { return to_entry_result(e); }

/// The same where the service's table lists the code: its verdict wins (Firehose answers a whole
/// request with ServiceUnavailableException and HTTP 500 when it means "slow down").
[[nodiscard]] inline outcome classify_request(const error_table& table, outcome o) {
    if (o.service_code.empty()) return o;
    if (auto listed = listed_verdict(table, sluice::detail::aws_batch::safe_code(o.service_code))) {
        switch (*listed) {
        case error_verdict::throttle: o.kind = outcome_kind::throttled; break;
        case error_verdict::retry: o.kind = outcome_kind::retry; break;
        case error_verdict::reject: o.kind = outcome_kind::reject; break;
        }
    }
    return o;
}

/// The outcome of a request that got no answer (see to_entry_result(std::error_code)).
[[nodiscard]] inline outcome classify_transport(std::error_code transport) { return to_entry_result(transport); }

} // namespace sluice::aws
