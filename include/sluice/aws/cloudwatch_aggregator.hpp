#pragma once

// metric_aggregator: folds many observations of one metric (name + dimensions + unit) within one
// timestamp bucket into a few CloudWatch metric data before they are sent, so a service can record
// millions of observations per second and send a handful of PutMetricData requests.
//
//     aws::metric_aggregator metrics({.period = std::chrono::seconds(60)});
//     auto& latency = metrics.series("latency", {{"route", "/pay"}}, "Milliseconds");
//     latency.record(12.5);                      // any thread: a spin lock and a binary search
//     ...
//     loop.spawn(aws::publish_every(loop, metrics, dispatcher, std::chrono::seconds(1), stop));
//
// Two ways to fold (CloudWatch keeps either):
//   - values (default): distinct values with their counts (Values/Counts, up to 150 per datum; a 151st
//     distinct value starts another datum for the same bucket). CloudWatch computes percentiles from
//     them exactly as from the raw observations.
//   - statistics: SampleCount, Sum, Minimum, Maximum (StatisticValues), one datum per bucket,
//     whatever the number of distinct values. No percentiles.
//
// Time: observations go into the bucket current at the aggregator's last tick (collect() ticks; so
// does publish_every, every interval), so an observation made just after a bucket boundary may land
// in the bucket before, by at most one tick interval. record_at() takes an explicit time instead.
// Values CloudWatch would refuse (NaN, infinities, beyond +-2^360) are dropped and counted.

#if !SLUICE_HAS_CURL || !SLUICE_HAS_OPENSSL || !SLUICE_HAS_SIMDJSON
#error "sluice/aws/cloudwatch_aggregator.hpp needs libcurl, OpenSSL and simdjson (SLUICE_HAS_CURL, SLUICE_HAS_OPENSSL, SLUICE_HAS_SIMDJSON)"
#endif

#include <algorithm>
#include <cmath>
#include <iterator>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <sluice/aws/cloudwatch.hpp>
#include <sluice/core/detail/spin_lock.hpp>
#include <sluice/core/executor.hpp>
#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>

namespace sluice::aws {

/// How observations are folded (see the file comment).
enum class aggregate_as : unsigned char { values, statistics };

/// Options of a metric_aggregator.
struct metric_aggregator_options {
    /// The timestamp bucket: 60 s (standard resolution), or 1 to 59 s (sent as high resolution).
    std::chrono::seconds period{60};
    /// Values with counts, or statistic sets (see the file comment).
    aggregate_as mode = aggregate_as::values;
    /// Distinct series (name + dimensions + unit) kept; observations of new ones beyond are dropped.
    std::size_t max_series = 100'000;
};

/// Counters of an aggregator.
struct metric_aggregator_stats {
    std::uint64_t observations = 0; ///< recorded into a bucket
    std::uint64_t dropped = 0;      ///< refused: a value CloudWatch does not take, or no room for the series
    std::uint64_t data = 0;         ///< metric data handed out by collect()
    /// Distinct series known.
    std::size_t series = 0;
};

/// Folds observations of CloudWatch metrics into few metric data per period (see the file comment).
/// Observations may be recorded from any thread.
class metric_aggregator {
    using clock = std::chrono::system_clock;

public:
    /// One series: what record() folds into. References stay valid as long as the aggregator.
    class series_handle {
    public:
        /// Folds `value`, observed `count` times, into the current bucket. Any thread.
        void record(double value, double count = 1) { owner_->fold(*this, owner_->current_bucket(), value, count); }
        /// The same for an observation made at `when` (its own bucket).
        void record_at(clock::time_point when, double value, double count = 1) {
            owner_->fold(*this, owner_->bucket_of(when), value, count);
        }

    private:
        friend class metric_aggregator;
        struct bucket {
            std::int64_t start = 0;                       // in periods since the epoch
            std::vector<std::pair<double, double>> values; // sorted by value (values mode)
            statistic_set stats{};                         // statistics mode
        };
        series_handle(metric_aggregator* owner, std::string name, std::vector<metric_dimension> dims, std::string unit)
            : owner_(owner), name_(std::move(name)), dimensions_(std::move(dims)), unit_(std::move(unit)) {}

        metric_aggregator* owner_;
        std::string name_;
        std::vector<metric_dimension> dimensions_;
        std::string unit_;
        sluice::detail::spin_lock lock_;
        std::vector<bucket> open_; // buckets with observations not collected yet, oldest first
    };

    /// Throws std::invalid_argument for a period CloudWatch does not take (1-60 s, dividing 60).
    explicit metric_aggregator(metric_aggregator_options options = {}) : options_(options) {
        if (options_.period.count() < 1 || options_.period.count() > 60 || (options_.period.count() < 60 && 60 % options_.period.count() != 0))
            throw std::invalid_argument("sluice: the aggregation period is 1 to 60 seconds, dividing a minute");
        tick(clock::now());
    }
    metric_aggregator(const metric_aggregator&) = delete;
    metric_aggregator& operator=(const metric_aggregator&) = delete;

    /// The series of `name` + `dimensions` + `unit`, made on first use. Keep the reference: record()
    /// on it is the fast path. Throws std::length_error beyond max_series, std::invalid_argument for a
    /// name, dimensions or unit CloudWatch refuses.
    series_handle& series(std::string name, std::vector<metric_dimension> dimensions = {}, std::string unit = {}) {
        std::string key = key_of(name, dimensions, unit);
        std::lock_guard guard(registry_lock_);
        if (auto it = series_.find(key); it != series_.end()) return *it->second;
        if (series_.size() >= options_.max_series) throw std::length_error("sluice: metric_aggregator holds max_series series");
        metric_datum probe;
        probe.name = name;
        probe.dimensions = dimensions;
        probe.unit = unit;
        probe.value = 0;
        if (std::string why = sluice::detail::cloudwatch::check_datum(probe); !why.empty())
            throw std::invalid_argument("sluice: metric " + why);
        auto handle = std::unique_ptr<series_handle>(new series_handle(this, std::move(name), std::move(dimensions), std::move(unit)));
        series_handle& ref = *handle;
        series_.emplace(std::move(key), std::move(handle));
        return ref;
    }

    /// record() by name: a lookup each time (keep series() handles where it matters). Never throws:
    /// a series that cannot be made drops the observation (counted).
    void record(const std::string& name, const std::vector<metric_dimension>& dimensions, double value,
                const std::string& unit = {}) {
        series_handle* s = nullptr;
        try {
            s = &series(name, dimensions, unit);
        } catch (const std::exception&) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        s->record(value);
    }

    /// Makes `now`'s bucket the current one, and hands out every bucket that ended by `now` (with
    /// `everything`, the current ones too, e.g. at shutdown) as metric data.
    [[nodiscard]] std::vector<metric_datum> collect(clock::time_point now, bool everything = false) {
        tick(now);
        const std::int64_t current = current_bucket();
        std::vector<series_handle*> all;
        {
            std::lock_guard guard(registry_lock_);
            all.reserve(series_.size());
            for (auto& [key, s] : series_) all.push_back(s.get());
        }
        std::vector<metric_datum> out;
        for (series_handle* s : all) {
            std::vector<series_handle::bucket> done;
            {
                std::lock_guard guard(s->lock_);
                auto split = std::stable_partition(s->open_.begin(), s->open_.end(), [&](const auto& b) {
                    return !everything && b.start >= current;
                });
                std::move(split, s->open_.end(), std::back_inserter(done));
                s->open_.erase(split, s->open_.end());
            }
            for (auto& b : done) emit(*s, b, out);
        }
        data_.fetch_add(out.size(), std::memory_order_relaxed);
        return out;
    }

    /// The counters so far (any thread).
    [[nodiscard]] metric_aggregator_stats stats() const {
        metric_aggregator_stats s;
        s.observations = observations_.load(std::memory_order_relaxed);
        s.dropped = dropped_.load(std::memory_order_relaxed);
        s.data = data_.load(std::memory_order_relaxed);
        std::lock_guard guard(registry_lock_);
        s.series = series_.size();
        return s;
    }

    /// The options it was made with.
    [[nodiscard]] const metric_aggregator_options& options() const noexcept { return options_; }

private:
    static std::string key_of(const std::string& name, const std::vector<metric_dimension>& dims, const std::string& unit) {
        std::string key = std::to_string(name.size()) + ':' + name + std::to_string(unit.size()) + ':' + unit;
        for (const auto& d : dims) key += std::to_string(d.name.size()) + ':' + d.name + std::to_string(d.value.size()) + ':' + d.value;
        return key;
    }

    [[nodiscard]] std::int64_t bucket_of(clock::time_point t) const noexcept {
        const std::int64_t s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
        const std::int64_t p = options_.period.count();
        return s >= 0 ? s / p : (s - p + 1) / p;
    }
    [[nodiscard]] std::int64_t current_bucket() const noexcept { return current_.load(std::memory_order_relaxed); }
    void tick(clock::time_point now) noexcept { current_.store(bucket_of(now), std::memory_order_relaxed); }

    void fold(series_handle& s, std::int64_t bucket, double value, double count) {
        if (!sluice::detail::cloudwatch::in_range(value) || !(count > 0) || !std::isfinite(count)) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        {
            std::lock_guard guard(s.lock_);
            series_handle::bucket* b = nullptr;
            for (auto it = s.open_.rbegin(); it != s.open_.rend(); ++it)
                if (it->start == bucket) {
                    b = &*it;
                    break;
                }
            if (b == nullptr) b = &open_bucket(s, bucket);
            if (options_.mode == aggregate_as::statistics) {
                statistic_set& st = b->stats;
                if (st.sample_count == 0) st.minimum = st.maximum = value;
                st.sample_count += count;
                st.sum += value * count;
                st.minimum = std::min(st.minimum, value);
                st.maximum = std::max(st.maximum, value);
            } else {
                auto& v = b->values;
                auto it = std::lower_bound(v.begin(), v.end(), value, [](const auto& p, double x) { return p.first < x; });
                if (it != v.end() && it->first == value)
                    it->second += count;
                else
                    v.insert(it, {value, count});
            }
        }
        observations_.fetch_add(1, std::memory_order_relaxed);
    }

    // A new bucket, kept in time order (an explicit time may name an older one).
    static series_handle::bucket& open_bucket(series_handle& s, std::int64_t start) {
        auto at = std::find_if(s.open_.begin(), s.open_.end(), [&](const auto& b) { return b.start > start; });
        auto it = s.open_.insert(at, series_handle::bucket{});
        it->start = start;
        return *it;
    }

    // One bucket as metric data: one datum per 150 distinct values, or one StatisticValues.
    void emit(const series_handle& s, const series_handle::bucket& b, std::vector<metric_datum>& out) const {
        metric_datum base;
        base.name = s.name_;
        base.dimensions = s.dimensions_;
        base.unit = s.unit_;
        base.storage_resolution = options_.period.count() < 60 ? 1 : 60;
        base.timestamp = clock::time_point(std::chrono::seconds(b.start * options_.period.count()));
        if (options_.mode == aggregate_as::statistics) {
            if (b.stats.sample_count == 0) return;
            base.statistics = b.stats;
            out.push_back(std::move(base));
            return;
        }
        for (std::size_t i = 0; i < b.values.size(); i += 150) {
            metric_datum d = base;
            const std::size_t end = std::min(b.values.size(), i + 150);
            for (std::size_t k = i; k < end; ++k) {
                d.values.push_back(b.values[k].first);
                d.counts.push_back(b.values[k].second);
            }
            out.push_back(std::move(d));
        }
    }

    metric_aggregator_options options_;
    std::atomic<std::int64_t> current_{0};
    mutable std::mutex registry_lock_;
    std::map<std::string, std::unique_ptr<series_handle>> series_;
    std::atomic<std::uint64_t> observations_{0};
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> data_{0};
};

/// Collects the buckets that ended and submits them to `dispatcher`, every `interval`, until `stop`;
/// then collects and submits everything (the current buckets too). Runs on the dispatcher's loop.
inline task<void> publish_every(io_loop& loop, metric_aggregator& aggregator, cloudwatch_dispatcher& dispatcher,
                                std::chrono::milliseconds interval, std::stop_token stop) {
    while (!stop.stop_requested()) {
        bool stopped = false;
        try {
            co_await loop.sleep_for(interval, stop);
        } catch (const operation_cancelled&) {
            stopped = true;
        }
        if (stopped) break;
        for (auto& d : aggregator.collect(std::chrono::system_clock::now())) dispatcher.submit(std::move(d));
    }
    for (auto& d : aggregator.collect(std::chrono::system_clock::now(), true)) dispatcher.submit(std::move(d));
}

} // namespace sluice::aws
