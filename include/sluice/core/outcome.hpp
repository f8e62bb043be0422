#pragma once

// outcome: how one record fared, or one attempt at sending it. The one type that travels from a
// sink's answer (per entry or per request) through the delivery engine to the caller: deliver()'s
// delivery_error, a dispatcher's unprocessed list and the payload's result_list all carry it, so
// nothing that mattered (the kind, the service's error code, the request id, the attempts, whether
// the record was ever sent) is lost on the way.
//
// A sink fills kind / message / service_code / request_id / code for one attempt; the engine adds
// attempts, sent and dead_lettered and, for a final failure, says why it stopped trying.

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace sluice {

/// What happened. `ok` and `persisted` are successes; the rest are failures, each of one cause.
enum class outcome_kind : std::uint8_t {
    ok,        ///< delivered: the sink acknowledged it
    persisted, ///< accepted into the disk buffer, not sent yet: delivery goes on in the background
               ///< (or after the next start(), when kept there at stop)
    retry,     ///< transient (5xx, timeout, reset, internal error): retried with backoff; as a final
               ///< outcome, attempts or time ran out
    throttled, ///< the service asked to slow down: retried with backoff, lowers concurrency; as a final
               ///< outcome, attempts or time ran out
    reject,    ///< the sender's fault (the service refused it: validation, access, size): never retried
    invalid,   ///< refused before sending (too large, malformed, characters the service refuses)
    dropped,   ///< refused by a full buffer (when_full::drop_newest)
    cancelled, ///< stopped: the pipeline stopped before it could be delivered
};

/// "ok", "persisted", "retry", "throttled", "reject", "invalid", "dropped", "cancelled".
[[nodiscard]] constexpr std::string_view to_string(outcome_kind k) noexcept {
    switch (k) {
    case outcome_kind::ok: return "ok";
    case outcome_kind::persisted: return "persisted";
    case outcome_kind::retry: return "retry";
    case outcome_kind::throttled: return "throttled";
    case outcome_kind::reject: return "reject";
    case outcome_kind::invalid: return "invalid";
    case outcome_kind::dropped: return "dropped";
    case outcome_kind::cancelled: return "cancelled";
    }
    return "unknown";
}

/// How one record (or one attempt, or one whole request) fared. Safe to log: never holds
/// credentials, signatures or the record's body.
struct outcome {
    /// What happened; the engine retries only retry and throttled.
    outcome_kind kind = outcome_kind::ok;
    /// Why, for anything but ok: "ProvisionedThroughputExceededException: Rate exceeded for shard...".
    std::string message{};
    /// The service's error code ("ThrottlingException", "InternalFailure"), when it gave one.
    std::string service_code{};
    /// The service's request id of the request that decided this, when known.
    std::string request_id{};
    /// A transport or system error behind it, when there is one.
    std::error_code code{};
    /// For retry/throttled: the service asked not to be asked again before this long (HTTP
    /// Retry-After). The engine waits at least this long (capped at retry_options::max_backoff)
    /// instead of sleeping in the sink. Zero: no hint.
    std::chrono::milliseconds retry_after{0};
    /// Requests that carried the record (set by the engine).
    unsigned attempts = 0;
    /// True when at least one request that left this process carried it: the service may have seen it
    /// (set by the engine, from never_left).
    bool sent = false;
    /// Set by a sink on a failed request that never left this process (no credentials, the host not
    /// resolved, the connection refused, the TLS handshake failed): that attempt does not make the
    /// record sent.
    bool never_left = false;
    /// True when a final failure was handed to the dead-letter output (set by the engine).
    bool dead_lettered = false;

    /// Delivered.
    [[nodiscard]] static outcome ok() { return {}; }
    /// Transient: try again later. `throttled` marks a request to slow down.
    [[nodiscard]] static outcome retry(std::string why, bool throttled = false) {
        outcome o;
        o.kind = throttled ? outcome_kind::throttled : outcome_kind::retry;
        o.message = std::move(why);
        return o;
    }
    /// Retryable, and a request to slow down (lowers the adaptive concurrency).
    [[nodiscard]] static outcome throttle(std::string why) { return retry(std::move(why), true); }
    /// The sender's fault: never retried.
    [[nodiscard]] static outcome reject(std::string why) { return make(outcome_kind::reject, std::move(why)); }
    /// Any kind with its reason.
    [[nodiscard]] static outcome make(outcome_kind k, std::string why) {
        outcome o;
        o.kind = k;
        o.message = std::move(why);
        return o;
    }

    /// Sets the service's error code and request id (chainable).
    outcome& from_service(std::string code_, std::string request_id_ = {}) & {
        service_code = std::move(code_);
        request_id = std::move(request_id_);
        return *this;
    }
    /// Adds the service's error code and request id, so an error can be traced at the service.
    outcome&& from_service(std::string code_, std::string request_id_ = {}) && {
        return std::move(from_service(std::move(code_), std::move(request_id_)));
    }

    /// Delivered, or safely in the disk buffer.
    [[nodiscard]] bool is_ok() const noexcept { return kind == outcome_kind::ok || kind == outcome_kind::persisted; }
    /// Another attempt may succeed (retry or throttled).
    [[nodiscard]] bool retryable() const noexcept {
        return kind == outcome_kind::retry || kind == outcome_kind::throttled;
    }
    /// True when the service asked to slow down.
    [[nodiscard]] bool throttled() const noexcept { return kind == outcome_kind::throttled; }

    /// "throttled after 3 attempt(s): <message> [ThrottlingException, request 1a2b]": safe to log.
    /// (The engine appends " (dead-lettered)" to the message of a record it dead-lettered.)
    [[nodiscard]] std::string describe() const {
        std::string s(to_string(kind));
        if (attempts != 0) s += " after " + std::to_string(attempts) + " attempt(s)";
        if (!message.empty()) s += ": " + message;
        if (!service_code.empty() || !request_id.empty()) {
            s += " [";
            s += service_code;
            if (!request_id.empty()) s += (service_code.empty() ? "request " : ", request ") + request_id;
            s += "]";
        }
        return s;
    }
};

/// Thrown where a record was not delivered (deliver(), a dispatcher's send()); carries its outcome.
/// what() is the outcome's message, prefixed by where it happened; nothing secret in it.
class delivery_error : public std::runtime_error {
public:
    /// The message is the outcome's, so what() says why without the record.
    explicit delivery_error(outcome o) : std::runtime_error(o.message), outcome_(std::move(o)) {}

    /// The whole outcome (kind, codes, attempts).
    [[nodiscard]] const outcome& details() const noexcept { return outcome_; }
    /// Why it failed: reject and invalid are the sender's fault, retry/throttled ran out.
    [[nodiscard]] outcome_kind kind() const noexcept { return outcome_.kind; }
    /// Requests that carried the record.
    [[nodiscard]] unsigned attempts() const noexcept { return outcome_.attempts; }
    /// True when the service may have seen the record (a retry elsewhere could duplicate it).
    [[nodiscard]] bool sent() const noexcept { return outcome_.sent; }
    /// True when the dead-letter output took the record.
    [[nodiscard]] bool dead_lettered() const noexcept { return outcome_.dead_lettered; }
    /// The service's error code, when it gave one.
    [[nodiscard]] const std::string& service_code() const noexcept { return outcome_.service_code; }
    /// The service's request id, for its support.
    [[nodiscard]] const std::string& request_id() const noexcept { return outcome_.request_id; }

private:
    outcome outcome_;
};

} // namespace sluice
