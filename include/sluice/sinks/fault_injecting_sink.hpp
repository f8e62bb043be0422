#pragma once

// A sink for tests and chaos drills: it keeps what it was sent and fails on purpose: the first N
// requests, a fraction of requests, a fraction of entries (partial batch failures), records matching
// a predicate (rejected as the sender's fault), with throttling, added latency, or hanging until told
// to stop. Everything it does is counted so a test can account for every record.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include <sluice/core/executor.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/sink.hpp>
#include <sluice/io/loop.hpp>

namespace sluice {

/// How a fault_injecting_sink misbehaves; the defaults deliver everything.
struct fault_options {
    /// The first N requests fail as a whole (retryable).
    std::size_t fail_first_requests = 0;
    /// Each request fails as a whole with this probability (retryable).
    double request_failure_rate = 0;
    /// Each entry of an otherwise successful request fails with this probability (retryable).
    double entry_failure_rate = 0;
    /// Failures are reported as throttling.
    bool throttle = false;
    /// Records for which this returns true are rejected (not retryable).
    std::function<bool(std::string_view)> reject{};
    /// Records for which this returns true fail retryably (throttled when `throttle`).
    std::function<bool(std::string_view)> fail{};
    /// Added to every request.
    std::chrono::milliseconds latency{0};
    /// While true, requests hang until `stop_hanging()` (or until hang_timeout, then fail retryable).
    bool hang = false;
    /// A hanging request gives up after this and fails retryably.
    std::chrono::milliseconds hang_timeout{std::chrono::hours(1)};
    /// What limits() reports.
    sink_limits limits{};
    /// Seeds the failure draws, so a run is reproducible.
    std::uint64_t seed = 42;
};

/// A sink that keeps what it was sent and fails on purpose, for tests and drills.
class fault_injecting_sink {
public:
    /// Requests run on `loop` (latency and hangs sleep there).
    fault_injecting_sink(io_loop& loop, fault_options options = {})
        : loop_(&loop), options_(std::move(options)), rng_(options_.seed) {}

    /// The limits of fault_options::limits.
    [[nodiscard]] sink_limits limits() const { return options_.limits; }

    /// One request: the batch's records (and its key, kept in keys()). A hanging request ends when
    /// released, at hang_timeout, or when `request.cancel` fires (answered "cancelled").
    task<batch_result> send(sink_batch request) {
        const std::span<const std::string_view> batch = request.records;
        in_flight_tracker tracker{this};
        ++requests_;
        max_batch_seen_ = std::max(max_batch_seen_, batch.size());
        batch_sizes_.push_back(batch.size());
        keys_.emplace_back(request.key);
        if (options_.latency.count() > 0) co_await loop_->sleep_for(options_.latency);
        if (options_.hang) {
            ++hung_;
            const bool cancelled = co_await hang_until_released(request.cancel);
            if (cancelled)
                co_return batch_result::failed(outcome::make(outcome_kind::cancelled, "request cancelled"));
            co_return batch_result::failed(entry_result::retry("request timed out", options_.throttle));
        }
        if (requests_ <= options_.fail_first_requests || chance(options_.request_failure_rate)) {
            ++failed_requests_;
            co_return batch_result::failed(
                entry_result::retry(options_.throttle ? "throttled" : "service unavailable (503)", options_.throttle));
        }
        batch_result result;
        bool any_failure = false;
        result.entries.reserve(batch.size());
        for (auto record : batch) {
            if (options_.reject && options_.reject(record)) {
                result.entries.push_back(entry_result::reject("invalid record"));
                ++rejected_entries_;
                any_failure = true;
            } else if ((options_.fail && options_.fail(record)) || chance(options_.entry_failure_rate)) {
                result.entries.push_back(entry_result::retry("entry failed (internal error)", options_.throttle));
                ++failed_entries_;
                any_failure = true;
            } else {
                result.entries.push_back(entry_result::ok());
                delivered_.emplace_back(record);
            }
        }
        if (!any_failure) result.entries.clear();
        co_return result;
    }

    /// The same request without a batch key or cancellation (for callers that build batches by hand).
    task<batch_result> send(std::span<const std::string_view> batch) { return send(sink_batch{{}, batch, {}}); }

    /// Changes behaviour mid-test (e.g. an outage that ends).
    fault_options& options() noexcept { return options_; }

    /// Releases hanging requests and stops new ones from hanging.
    void stop_hanging() {
        options_.hang = false;
        hang_release_.request_stop();
        hang_release_ = std::stop_source{};
    }

    /// Every record acknowledged, in the order they were acknowledged.
    [[nodiscard]] const std::vector<std::string>& delivered() const noexcept { return delivered_; }
    /// Entries per request, in request order.
    [[nodiscard]] const std::vector<std::size_t>& batch_sizes() const noexcept { return batch_sizes_; }
    /// The batch key of every request, in order.
    [[nodiscard]] const std::vector<std::string>& keys() const noexcept { return keys_; }
    /// Requests received.
    [[nodiscard]] std::size_t requests() const noexcept { return requests_; }
    /// Requests failed as a whole.
    [[nodiscard]] std::size_t failed_requests() const noexcept { return failed_requests_; }
    /// Entries failed retryably.
    [[nodiscard]] std::size_t failed_entries() const noexcept { return failed_entries_; }
    /// Entries rejected.
    [[nodiscard]] std::size_t rejected_entries() const noexcept { return rejected_entries_; }
    /// Requests that hung.
    [[nodiscard]] std::size_t hung() const noexcept { return hung_; }
    /// The largest batch received.
    [[nodiscard]] std::size_t max_batch_seen() const noexcept { return max_batch_seen_; }

    /// The most requests that were in flight at once.
    [[nodiscard]] std::size_t max_concurrent() const noexcept { return max_concurrent_; }

private:
    struct in_flight_tracker {
        fault_injecting_sink* sink;
        explicit in_flight_tracker(fault_injecting_sink* s) : sink(s) {
            sink->max_concurrent_ = std::max(sink->max_concurrent_, ++sink->in_flight_);
        }
        ~in_flight_tracker() { --sink->in_flight_; }
        in_flight_tracker(const in_flight_tracker&) = delete;
        in_flight_tracker& operator=(const in_flight_tracker&) = delete;
    };

    /// Waits until stop_hanging(), hang_timeout or `cancel`; true when `cancel` ended it.
    task<bool> hang_until_released(std::stop_token cancel) {
        std::stop_source wake;
        std::stop_callback on_release(hang_release_.get_token(), [&wake] { wake.request_stop(); });
        std::stop_callback on_cancel(cancel, [&wake] { wake.request_stop(); });
        try {
            co_await loop_->sleep_for(options_.hang_timeout, wake.get_token());
        } catch (const operation_cancelled&) {
        }
        co_return cancel.stop_requested();
    }

    bool chance(double p) {
        if (p <= 0) return false;
        return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
    }

    io_loop* loop_;
    fault_options options_;
    std::mt19937_64 rng_;
    std::stop_source hang_release_;
    std::vector<std::string> delivered_;
    std::vector<std::size_t> batch_sizes_;
    std::vector<std::string> keys_;
    std::size_t requests_ = 0;
    std::size_t failed_requests_ = 0;
    std::size_t failed_entries_ = 0;
    std::size_t rejected_entries_ = 0;
    std::size_t hung_ = 0;
    std::size_t max_batch_seen_ = 0;
    std::size_t in_flight_ = 0;
    std::size_t max_concurrent_ = 0;
};

/// Accepts everything and keeps nothing: the baseline for measuring the engine itself.
class null_sink {
public:
    /// Reports `limits` as its own.
    explicit null_sink(sink_limits limits = {}) : limits_(limits) {}
    /// The limits it was made with.
    [[nodiscard]] sink_limits limits() const { return limits_; }
    /// Counts the batch and acknowledges every entry.
    task<batch_result> send(std::span<const std::string_view> batch) {
        records_ += batch.size();
        for (auto r : batch) bytes_ += r.size();
        co_return batch_result::all_ok();
    }
    /// Records acknowledged.
    [[nodiscard]] std::uint64_t records() const noexcept { return records_; }
    /// Bytes acknowledged.
    [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }

private:
    sink_limits limits_;
    std::uint64_t records_ = 0;
    std::uint64_t bytes_ = 0;
};

static_assert(sink_adapter<fault_injecting_sink>);
static_assert(sink_adapter<null_sink>);

} // namespace sluice
