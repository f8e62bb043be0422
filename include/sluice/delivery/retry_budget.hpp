#pragma once

// retry_budget: the retry quota token bucket of the AWS SDKs' standard retry mode, as a generic class.
// Every retried request draws from it (more after a timeout), every success puts a little back, so a
// long outage, where every attempt fails, soon stops multiplying the load on a struggling service.
//
// The delivery engine never gives a record up because the budget is empty: it delays the retry to
// the backoff ceiling instead (a circuit that opens while the service keeps failing and closes as
// successes refill the bucket), so nothing is lost; attempts and max_elapsed still bound a record.
//
// Thread-safe and lock-free: share one between pipelines (and loops) talking to one service through a
// shared_ptr (retry_options::budget).

#include <atomic>
#include <cstdint>

namespace sluice {

/// The costs and capacity of a retry_budget (the AWS standard retry mode's values by default).
struct retry_budget_options {
    /// Tokens when full (and at the start).
    unsigned capacity = 500;
    /// Drawn by a retried request.
    unsigned retry_cost = 5;
    /// Drawn by a request retried after a timeout.
    unsigned timeout_cost = 10;
    /// Given back by a successful request that was not a retry.
    unsigned success_refund = 1;
};

/// A token bucket for retries; see the top of this header.
class retry_budget {
public:
    /// Starts full.
    explicit retry_budget(retry_budget_options options = {}) noexcept
        : options_(options), available_(options.capacity) {}
    retry_budget(const retry_budget&) = delete;
    retry_budget& operator=(const retry_budget&) = delete;

    /// Takes `amount` tokens if that many are left; false (nothing taken) otherwise.
    [[nodiscard]] bool try_acquire(unsigned amount) noexcept {
        unsigned now = available_.load(std::memory_order_relaxed);
        do {
            if (now < amount) return false;
        } while (!available_.compare_exchange_weak(now, now - amount, std::memory_order_relaxed));
        return true;
    }

    /// Gives back up to `amount` tokens, never above the capacity.
    void release(unsigned amount) noexcept {
        unsigned now = available_.load(std::memory_order_relaxed);
        while (now < options_.capacity) {
            const unsigned next = options_.capacity - now < amount ? options_.capacity : now + amount;
            if (available_.compare_exchange_weak(now, next, std::memory_order_relaxed)) return;
        }
    }

    /// For a request about to be retried: takes its cost (timeout_cost after a timeout) and returns
    /// it, or 0 when the budget cannot pay (nothing taken).
    [[nodiscard]] unsigned acquire_retry(bool timeout) noexcept {
        const unsigned cost = timeout ? options_.timeout_cost : options_.retry_cost;
        return try_acquire(cost) ? cost : 0;
    }

    /// After a successful request: gives back what its retry cost (`held`, as the SDKs do when a retry
    /// succeeds) or, for a request that was no retry (`held` 0), success_refund.
    void on_success(unsigned held = 0) noexcept { release(held != 0 ? held : options_.success_refund); }

    /// Tokens left now.
    [[nodiscard]] unsigned available() const noexcept { return available_.load(std::memory_order_relaxed); }
    /// Tokens when full.
    [[nodiscard]] unsigned capacity() const noexcept { return options_.capacity; }
    /// The options it was made with.
    [[nodiscard]] const retry_budget_options& options() const noexcept { return options_; }

private:
    retry_budget_options options_;
    std::atomic<unsigned> available_;
};

} // namespace sluice
