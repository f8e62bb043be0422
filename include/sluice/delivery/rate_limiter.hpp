#pragma once

// Token buckets for requests/s and bytes/s. A request takes one request token and its size in byte
// tokens; when either bucket is short, the caller sleeps on the loop until it has refilled enough.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <stop_token>

#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>

namespace sluice {

/// Limits on the rate of requests to a sink.
struct rate_limit_options {
    /// Requests per second; 0 means unlimited.
    double requests_per_second = 0;
    /// Bytes per second; 0 means unlimited.
    double bytes_per_second = 0;
    /// How many seconds' worth of tokens may accumulate while idle.
    double burst_seconds = 1.0;
};

/// One token bucket: `rate` tokens per second, at most `burst` saved up.
class token_bucket {
public:
    /// `rate` tokens per second, at most `burst` kept while idle; rate <= 0 is unlimited.
    token_bucket(double rate, double burst) : rate_(rate), burst_(std::max(burst, 1.0)), tokens_(burst_) {}

    /// True when it never makes anyone wait.
    [[nodiscard]] bool unlimited() const noexcept { return rate_ <= 0; }

    /// Takes `n` tokens if available; otherwise returns how long until they will be.
    std::chrono::nanoseconds take(double n, std::chrono::steady_clock::time_point now) {
        if (unlimited()) return std::chrono::nanoseconds::zero();
        refill(now);
        // A request larger than the burst may still go once the bucket is full.
        double need = std::min(n, burst_);
        if (tokens_ >= need) {
            tokens_ -= n;
            return std::chrono::nanoseconds::zero();
        }
        return std::chrono::nanoseconds(static_cast<long long>((need - tokens_) / rate_ * 1e9) + 1);
    }

private:
    void refill(std::chrono::steady_clock::time_point now) {
        if (last_ != std::chrono::steady_clock::time_point{}) {
            double elapsed = std::chrono::duration<double>(now - last_).count();
            tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
        }
        last_ = now;
    }

    double rate_;
    double burst_;
    double tokens_;
    std::chrono::steady_clock::time_point last_{};
};

/// Requests per second and bytes per second, each a token bucket.
class rate_limiter {
public:
    /// One bucket for requests, one for bytes.
    explicit rate_limiter(rate_limit_options o)
        : requests_(o.requests_per_second, o.requests_per_second * o.burst_seconds),
          bytes_(o.bytes_per_second, o.bytes_per_second * o.burst_seconds) {}

    /// True when neither bucket limits.
    [[nodiscard]] bool unlimited() const noexcept { return requests_.unlimited() && bytes_.unlimited(); }

    /// Waits on `loop` until a request of `bytes` may go. Returns the time spent waiting; throws
    /// operation_cancelled when `token` is stopped first (no tokens taken).
    task<std::chrono::nanoseconds> acquire(io_loop& loop, std::size_t bytes, std::stop_token token = {}) {
        std::chrono::nanoseconds waited{0};
        for (;;) {
            auto now = std::chrono::steady_clock::now();
            auto wait_requests = requests_.take(1, now);
            if (wait_requests.count() == 0) {
                auto wait_bytes = bytes_.take(static_cast<double>(bytes), now);
                if (wait_bytes.count() == 0) co_return waited;
                requests_.take(-1, now); // give the request token back while we wait for bytes
                co_await loop.sleep_for(wait_bytes, token);
                waited += wait_bytes;
            } else {
                co_await loop.sleep_for(wait_requests, token);
                waited += wait_requests;
            }
        }
    }

private:
    token_bucket requests_;
    token_bucket bytes_;
};

} // namespace sluice
