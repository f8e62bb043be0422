#pragma once

// The AWS SDKs' "standard" retry mode, and clock-skew correction.
//
// retry_strategy decides, after a failed attempt, whether to try again and after how long:
//   - at most retry_config::max_attempts attempts in all (default 3, AWS_MAX_ATTEMPTS overrides);
//   - only retryable failures (aws::classify: throttling, transient, clock skew);
//   - exponential backoff with full jitter: delay = random[0,1) * min(base * 2^(attempts - 1), 20 s),
//     base 1 s (botocore's ExponentialBackoff, the Go and JS v3 SDKs: the first retry waits up to 1 s,
//     the second up to 2 s, ...);
//   - a retry quota shared by every request of a client: a token bucket of 500 that each retry draws
//     from (5, or 10 for a timeout) and that successes refill (the cost of the last retry when the
//     request needed retries, 1 otherwise), capped at 500. When a long outage drains it, requests fail
//     after their first attempt instead of multiplying the load on a struggling service; it comes back
//     as requests succeed again.
// botocore's newer "2.1" revision of the mode (50 ms base for non-throttling errors, retry cost 14,
// 5 for throttling) is a matter of configuration: see retry_config.
//
// clock_skew keeps the offset between the service's clock (its Date header) and ours, to be added to
// the signing time. It adopts a new offset when the service reported skew (retry_kind::clock_skew), or
// when the clocks disagree by more than 4 minutes on any response (the Java SDK's threshold; SigV4
// allows 5), so that one slow response cannot move it.
//
// retry_quota is delivery/retry_budget.hpp's bucket (one implementation); retry_strategy applies
// retry_config's costs itself (throttling may cost differently from other retries).
//
// Thread-safety: retry_quota and clock_skew are atomic and may be shared between threads and loops. A
// retry_strategy holds a random source (not thread-safe): one per io_loop, sharing a quota through
// the shared_ptr constructor when several loops talk to the same service. Tokens belong to one request.

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string_view>
#include <system_error>
#include <utility>

#include <sluice/aws/error.hpp>
#include <sluice/delivery/retry_budget.hpp>
#include <sluice/http/error.hpp>

namespace sluice::aws {

/// The AWS SDKs' standard retry mode: attempts, backoff with full jitter, and the retry quota.
struct retry_config {
    /// Attempts in all, the first included (1: never retry).
    unsigned max_attempts = 3;
    /// Backoff base for transient errors and clock skew (botocore 2.1: 50 ms).
    std::chrono::milliseconds base_delay{1000};
    /// Backoff base for throttling errors.
    std::chrono::milliseconds throttling_base_delay{1000};
    /// No single delay is longer than this.
    std::chrono::milliseconds max_backoff{20'000};
    /// The retry quota: off means every retryable failure is retried up to max_attempts.
    bool use_quota = true;
    /// The quota's size (the SDKs' 500).
    unsigned quota_capacity = 500;
    /// What a retry draws from the quota (botocore 2.1: 14).
    unsigned retry_cost = 5;
    /// ... after a timeout (botocore 2.1: the same as retry_cost).
    unsigned timeout_retry_cost = 10;
    /// ... after a throttling error; 0 means retry_cost (botocore 2.1: 5).
    unsigned throttling_retry_cost = 0;
    /// What a success at the first attempt gives back.
    unsigned no_retry_increment = 1;

    /// The max_attempts setting as the SDKs read it (a whole number greater than 0); nullopt otherwise.
    [[nodiscard]] static std::optional<unsigned> parse_max_attempts(std::string_view text) noexcept {
        while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
        while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
        unsigned value = 0;
        const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc{} || ptr != text.data() + text.size() || value == 0) return std::nullopt;
        return value;
    }

    /// The defaults with AWS_MAX_ATTEMPTS applied when it is set and valid (an invalid value is
    /// ignored, as the default is safe).
    [[nodiscard]] static retry_config from_environment() {
        retry_config config;
        if (const char* env = std::getenv("AWS_MAX_ATTEMPTS"))
            if (auto n = parse_max_attempts(env)) config.max_attempts = *n;
        return config;
    }
};

/// The retry token bucket: the delivery engine's retry_budget, so that one bucket can be shared by
/// a service_client and the pipelines that send through it (batch_dispatcher does).
using retry_quota = sluice::retry_budget;

/// A quota with `config`'s capacity and costs.
[[nodiscard]] inline std::shared_ptr<retry_quota> make_retry_quota(const retry_config& config) {
    retry_budget_options o;
    o.capacity = config.quota_capacity;
    o.retry_cost = config.retry_cost;
    o.timeout_cost = config.timeout_retry_cost;
    o.success_refund = config.no_retry_increment;
    return std::make_shared<retry_quota>(o);
}

/// The retry state of one logical request (all its attempts).
struct retry_token {
    /// Attempts made so far, the first included.
    unsigned attempts = 1;
    /// What the latest retry drew from the quota (given back if the request then succeeds).
    unsigned quota_held = 0;
};

/// Whether a failed attempt is retried and, when not, why.
enum class retry_verdict {
    retry,              ///< try again after `delay`
    not_retryable,      ///< the failure is not worth retrying
    attempts_exhausted, ///< max_attempts reached
    quota_exhausted,    ///< the retry quota is empty (a long outage): fail fast
};

/// "retry", "not retryable", "attempts exhausted" or "retry quota exhausted", as a failed call's
/// message ends.
[[nodiscard]] inline std::string_view to_string(retry_verdict v) noexcept {
    switch (v) {
    case retry_verdict::retry: return "retry";
    case retry_verdict::not_retryable: return "not retryable";
    case retry_verdict::attempts_exhausted: return "attempts exhausted";
    case retry_verdict::quota_exhausted: return "retry quota exhausted";
    }
    return "unknown";
}

/// What to do after a failed attempt.
struct retry_decision {
    /// Retry, or why not.
    retry_verdict verdict = retry_verdict::not_retryable;
    /// How the failure classified (throttling, transient, clock skew...).
    retry_kind kind = retry_kind::none;
    /// How long to wait before the next attempt.
    std::chrono::milliseconds delay{0};

    /// True when the request should be sent again after `delay`.
    [[nodiscard]] bool should_retry() const noexcept { return verdict == retry_verdict::retry; }
};

/// Decides, attempt by attempt, whether and when a failed AWS request is sent again (standard mode).
class retry_strategy {
public:
    /// Uniform in [0, 1). Injected by tests for deterministic jitter.
    using random_source = std::function<double()>;

    /// `random` defaults to a seeded generator; `quota` may be shared between strategies (one per
    /// client, as the SDKs do); a new one is made when none is given.
    explicit retry_strategy(retry_config config = {}, random_source random = {},
                            std::shared_ptr<retry_quota> quota = {})
        : config_(config),
          random_(random ? std::move(random) : default_random()),
          quota_(quota ? std::move(quota) : make_retry_quota(config)) {}

    /// The token for a new request (attempt 1 about to be made).
    [[nodiscard]] retry_token begin() const noexcept { return {}; }

    /// After attempt `token.attempts` failed with `kind`: retry (token updated for the next attempt)
    /// or not. `timeout` selects the timeout retry cost.
    [[nodiscard]] retry_decision on_failure(retry_token& token, retry_kind kind, bool timeout = false) {
        retry_decision d;
        d.kind = kind;
        if (kind == retry_kind::none) {
            d.verdict = retry_verdict::not_retryable;
            return d;
        }
        if (token.attempts >= config_.max_attempts) {
            d.verdict = retry_verdict::attempts_exhausted;
            return d;
        }
        const unsigned cost = retry_cost(kind, timeout);
        if (config_.use_quota) {
            if (!quota_->try_acquire(cost)) {
                d.verdict = retry_verdict::quota_exhausted;
                return d;
            }
            token.quota_held = cost;
        }
        d.verdict = retry_verdict::retry;
        d.delay = backoff(token.attempts, kind);
        ++token.attempts;
        return d;
    }

    /// After the service refused attempt `token.attempts`.
    [[nodiscard]] retry_decision on_failure(retry_token& token, const service_error& error) {
        return on_failure(token, classify(error), false);
    }

    /// After attempt `token.attempts` failed in transport (connection, timeout).
    [[nodiscard]] retry_decision on_failure(retry_token& token, std::error_code transport) {
        return on_failure(token, classify(transport), transport == http::transport_error::timed_out);
    }

    /// The request succeeded: refill the quota (what its last retry drew, or no_retry_increment).
    void on_success(retry_token& token) noexcept {
        if (!config_.use_quota) return;
        quota_->release(token.quota_held != 0 ? token.quota_held : config_.no_retry_increment);
        token.quota_held = 0;
    }

    /// random * backoff_ceiling(attempts_made, kind).
    [[nodiscard]] std::chrono::milliseconds backoff(unsigned attempts_made, retry_kind kind) {
        const double r = std::clamp(random_(), 0.0, 1.0);
        const auto ceiling = backoff_ceiling(attempts_made, kind);
        auto delay = std::chrono::milliseconds(static_cast<std::int64_t>(r * static_cast<double>(ceiling.count())));
        return std::min(delay, ceiling);
    }

    /// min(base * 2^(attempts_made - 1), max_backoff): the upper bound of the delay before attempt
    /// attempts_made + 1.
    [[nodiscard]] std::chrono::milliseconds backoff_ceiling(unsigned attempts_made, retry_kind kind) const noexcept {
        const auto base = kind == retry_kind::throttling ? config_.throttling_base_delay : config_.base_delay;
        const unsigned shift = std::min(attempts_made == 0 ? 0u : attempts_made - 1, 30u);
        const std::int64_t d = base.count() * (std::int64_t{1} << shift);
        return std::chrono::milliseconds(std::min<std::int64_t>(d, config_.max_backoff.count()));
    }

    /// What a retry of a failure of `kind` draws from the quota.
    [[nodiscard]] unsigned retry_cost(retry_kind kind, bool timeout) const noexcept {
        if (timeout) return config_.timeout_retry_cost;
        if (kind == retry_kind::throttling && config_.throttling_retry_cost != 0) return config_.throttling_retry_cost;
        return config_.retry_cost;
    }

    /// The configuration it was made with.
    [[nodiscard]] const retry_config& config() const noexcept { return config_; }
    /// The retry quota it draws from.
    [[nodiscard]] retry_quota& quota() noexcept { return *quota_; }
    /// The same, to share with another strategy.
    [[nodiscard]] const std::shared_ptr<retry_quota>& shared_quota() const noexcept { return quota_; }

private:
    static random_source default_random() {
        return [rng = std::mt19937_64(std::random_device{}())]() mutable {
            return std::generate_canonical<double, 53>(rng);
        };
    }

    retry_config config_;
    random_source random_;
    std::shared_ptr<retry_quota> quota_;
};

/// The offset between the service's clock and ours (server minus local), for the signing time.
class clock_skew {
public:
    /// Differences smaller than this are not corrected unless the service reports skew.
    static constexpr std::chrono::milliseconds default_threshold{std::chrono::minutes(4)};

    /// No offset yet; adopts server times beyond `threshold` (see update()).
    explicit clock_skew(std::chrono::milliseconds threshold = default_threshold) noexcept : threshold_(threshold) {}
    clock_skew(const clock_skew&) = delete;
    clock_skew& operator=(const clock_skew&) = delete;

    /// Server minus local; zero until a skew was seen.
    [[nodiscard]] std::chrono::milliseconds offset() const noexcept {
        return std::chrono::milliseconds(offset_ms_.load(std::memory_order_relaxed));
    }

    /// The time to sign with: local + offset.
    [[nodiscard]] std::chrono::system_clock::time_point adjust(std::chrono::system_clock::time_point local) const noexcept {
        return local + offset();
    }
    /// The time to sign with now.
    [[nodiscard]] std::chrono::system_clock::time_point now() const noexcept {
        return adjust(std::chrono::system_clock::now());
    }

    /// Feeds the server time of a response received at `local_time`. Adopts server - local when the
    /// service reported skew, or when it differs from the current offset by more than the threshold.
    /// True when the offset changed.
    bool update(std::chrono::system_clock::time_point server_time, std::chrono::system_clock::time_point local_time,
                bool service_reported_skew) noexcept {
        // A server time a year or more away is no clock to correct ours with (a broken or hostile Date
        // header), and the offset would overflow time arithmetic later: ignored. Compared before any
        // subtraction, which could overflow itself.
        constexpr auto limit = std::chrono::hours(24 * 366);
        if (server_time > local_time + limit || server_time < local_time - limit) return false;
        const auto candidate = std::chrono::duration_cast<std::chrono::milliseconds>(server_time - local_time);
        const auto current = offset();
        const auto diff = candidate > current ? candidate - current : current - candidate;
        if (!service_reported_skew && diff <= threshold_) return false;
        if (candidate == current) return false;
        offset_ms_.store(candidate.count(), std::memory_order_relaxed);
        return true;
    }

    /// The same from a Date header; false (nothing changes) when it does not parse.
    bool update(std::string_view date_header, std::chrono::system_clock::time_point local_time,
                bool service_reported_skew) noexcept {
        const auto server = parse_http_date(date_header);
        return server && update(*server, local_time, service_reported_skew);
    }

    /// The same from a parsed service error (its Date header and whether it classifies as clock_skew).
    bool update(const service_error& error, std::chrono::system_clock::time_point local_time) noexcept {
        return error.server_time && update(*error.server_time, local_time, classify(error) == retry_kind::clock_skew);
    }

    /// Forgets the offset.
    void reset() noexcept { offset_ms_.store(0, std::memory_order_relaxed); }
    /// The threshold it was made with.
    [[nodiscard]] std::chrono::milliseconds threshold() const noexcept { return threshold_; }

private:
    std::chrono::milliseconds threshold_;
    std::atomic<std::int64_t> offset_ms_{0};
};

} // namespace sluice::aws
