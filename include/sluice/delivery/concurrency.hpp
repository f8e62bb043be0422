#pragma once

// How many requests a sink may have in flight. Fixed, or adaptive the way Vector's adaptive request
// concurrency is: additive increase while responses stay fast and clean, multiplicative decrease on
// throttling, failures or a latency spike, so a struggling service is given room to recover.

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstddef>

namespace sluice {

/// How many requests a sink may have in flight.
struct concurrency_options {
    /// Upper bound on requests in flight (the fixed limit when not adaptive).
    std::size_t max_in_flight = 8;
    /// Adapt between min_in_flight and max_in_flight (AIMD).
    bool adaptive = false;
    /// Adaptive only: the limit never falls below this.
    std::size_t min_in_flight = 1;
    /// Starting limit when adaptive.
    std::size_t initial_in_flight = 1;
    /// Multiplier on throttling or failure.
    double decrease_ratio = 0.5;
    /// A response slower than this many times the running mean counts as a latency spike.
    double latency_tolerance = 2.0;
};

/// The concurrency limit: fixed, or adapted to the responses (AIMD).
class adaptive_concurrency {
public:
    /// Starts at initial_in_flight (adaptive) or max_in_flight (fixed).
    explicit adaptive_concurrency(concurrency_options o)
        : options_(o), limit_(o.adaptive ? static_cast<double>(std::clamp(o.initial_in_flight, o.min_in_flight,
                                                                          o.max_in_flight))
                                         : static_cast<double>(o.max_in_flight)) {
        if (options_.min_in_flight == 0) options_.min_in_flight = 1;
        if (options_.max_in_flight < options_.min_in_flight) options_.max_in_flight = options_.min_in_flight;
    }

    /// Requests allowed in flight now.
    [[nodiscard]] std::size_t limit() const noexcept { return static_cast<std::size_t>(limit_); }

    /// Feeds one response: its latency and whether the service pushed back (throttled, 5xx, timeout).
    void on_response(std::chrono::nanoseconds latency, bool pushed_back) {
        if (!options_.adaptive) return;
        double rtt = static_cast<double>(latency.count());
        bool spike = samples_ >= 5 && rtt > mean_rtt_ * options_.latency_tolerance;
        if (pushed_back) {
            decrease(options_.decrease_ratio);
        } else if (spike) {
            decrease(0.9);
        } else if (++clean_since_change_ >= limit()) {
            // One step up per window of `limit` clean responses: +1 per round trip.
            limit_ = std::min(limit_ + 1, static_cast<double>(options_.max_in_flight));
            clean_since_change_ = 0;
        }
        mean_rtt_ = samples_ == 0 ? rtt : mean_rtt_ * 0.9 + rtt * 0.1;
        ++samples_;
    }

private:
    void decrease(double ratio) {
        limit_ = std::max(static_cast<double>(options_.min_in_flight), std::floor(limit_ * ratio));
        clean_since_change_ = 0;
    }

    concurrency_options options_;
    double limit_;
    double mean_rtt_ = 0;
    std::size_t samples_ = 0;
    std::size_t clean_since_change_ = 0;
};

} // namespace sluice
