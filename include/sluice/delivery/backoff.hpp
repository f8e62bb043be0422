#pragma once

// Retry timing: exponential backoff with full jitter (sleep a uniform random time between zero and
// the capped exponential), bounded by attempts and by total elapsed time. Full jitter spreads a herd
// of retries after an outage instead of synchronising it. An optional retry budget (retry_budget.hpp)
// delays retries to the ceiling while a long outage has emptied it.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>

#include <sluice/delivery/retry_budget.hpp>

namespace sluice {

/// How the delivery engine retries: it owns attempts and backoff (a sink makes one attempt per call).
struct retry_options {
    /// Attempts in all, the first included. 1 means never retry.
    unsigned max_attempts = 8;
    /// Ceiling of the first retry's delay (full jitter: uniform in [0, ceiling]).
    std::chrono::milliseconds initial_backoff{100};
    /// Cap of the ceiling, which doubles per attempt.
    std::chrono::milliseconds max_backoff{20'000};
    /// After this long since the first attempt a record is not retried again.
    std::chrono::milliseconds max_elapsed{300'000};
    /// The retry quota (null: none). Each response with records to retry draws retry_cost from it
    /// (timeout_cost when the failure's code is a timeout); when it cannot pay, those retries wait
    /// the full max_backoff instead of a jittered delay. Never a reason to give a record up.
    std::shared_ptr<retry_budget> budget{};
};

/// Delays per attempt (full jitter under an exponential ceiling) and whether another attempt is allowed.
class backoff_policy {
public:
    /// A fixed `seed` makes the delays reproducible (tests).
    explicit backoff_policy(retry_options options, std::uint64_t seed = std::random_device{}())
        : options_(options), rng_(seed) {}

    /// The delay before attempt number `next_attempt` (2 for the first retry).
    std::chrono::milliseconds delay(unsigned next_attempt) {
        auto cap = ceiling(next_attempt);
        std::uniform_int_distribution<std::int64_t> pick(0, cap.count());
        return std::chrono::milliseconds(pick(rng_));
    }

    /// The upper bound of delay(next_attempt): initial * 2^(n-2), capped.
    [[nodiscard]] std::chrono::milliseconds ceiling(unsigned next_attempt) const {
        unsigned shift = std::min(next_attempt < 2 ? 0u : next_attempt - 2, 30u);
        auto d = options_.initial_backoff.count() * (std::int64_t{1} << shift);
        return std::chrono::milliseconds(std::min<std::int64_t>(d, options_.max_backoff.count()));
    }

    /// True when a record that has had `attempts` attempts since `first_attempt` may try again.
    [[nodiscard]] bool may_retry(unsigned attempts, std::chrono::steady_clock::time_point first_attempt,
                                 std::chrono::steady_clock::time_point now) const {
        return attempts < options_.max_attempts && now - first_attempt < options_.max_elapsed;
    }

    /// The options it was made with.
    [[nodiscard]] const retry_options& options() const noexcept { return options_; }

private:
    retry_options options_;
    std::minstd_rand rng_;
};

} // namespace sluice
