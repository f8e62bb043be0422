#pragma once

// Metrics: counters, gauges and histograms with label sets, owned by a metrics_registry that renders
// them in the Prometheus text exposition format 0.0.4 or hands out a plain snapshot.
//
// Registration takes a lock and may allocate; it happens when a component is built, which then keeps
// the handles it got. An update through a handle is one relaxed atomic operation on a cell of its own
// cache line: no lock, no lookup, no allocation. A counter is a single atomic rather than per-thread
// shards: measured on 2 cores (bench/bench_metrics.cpp), an 8-shard counter was within noise of it,
// single-threaded and with 2 threads on one counter, and costs 8 cache lines per series. The queues'
// publish path already serialises on a lock, so a counter next to it is not the bottleneck.
//
// queue_metrics, buffer_metrics and sink_metrics are the standard sets a component registers, so every
// queue, buffer and sink reports under the same names (sluice_events_in_total{component,name} ...).

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {

/// What a series is, in Prometheus' terms: a total that only grows, a value, or a distribution.
enum class metric_type { counter, gauge, histogram };

/// "counter", "gauge" or "histogram", as the Prometheus # TYPE line spells it.
[[nodiscard]] inline std::string_view to_string(metric_type type) noexcept {
    switch (type) {
    case metric_type::counter: return "counter";
    case metric_type::gauge: return "gauge";
    case metric_type::histogram: return "histogram";
    }
    return "untyped";
}

/// One label of a series: {"component", "sink"}.
struct label {
    /// The label's name (Prometheus rules: [a-zA-Z_][a-zA-Z0-9_]*).
    std::string name;
    /// The label's value (escaped when rendered).
    std::string value;
    friend auto operator<=>(const label&, const label&) = default;
};

/// The labels of a series, e.g. {{"component", "sink"}, {"name", "sqs-main"}}. Order does not matter:
/// the registry sorts them by name, so {a, b} and {b, a} name the same series.
using label_set = std::vector<label>;

/// `count` upper bounds start, start*factor, start*factor^2, ... (start > 0, factor > 1, count >= 1).
[[nodiscard]] inline std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
    if (!(start > 0) || !(factor > 1) || count == 0 || !std::isfinite(start) || !std::isfinite(factor))
        throw std::invalid_argument("sluice metrics: exponential_buckets needs start > 0, factor > 1, count >= 1");
    std::vector<double> bounds;
    bounds.reserve(count);
    for (double b = start; bounds.size() < count; b *= factor) bounds.push_back(b);
    return bounds;
}

/// `count` upper bounds start, start+width, start+2*width, ... (width > 0, count >= 1).
[[nodiscard]] inline std::vector<double> linear_buckets(double start, double width, std::size_t count) {
    if (!(width > 0) || count == 0 || !std::isfinite(start) || !std::isfinite(width))
        throw std::invalid_argument("sluice metrics: linear_buckets needs width > 0, count >= 1");
    std::vector<double> bounds;
    bounds.reserve(count);
    for (std::size_t i = 0; i < count; ++i) bounds.push_back(start + width * static_cast<double>(i));
    return bounds;
}

/// Request latencies in seconds, 1 ms to 30 s.
[[nodiscard]] inline std::vector<double> default_latency_buckets() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

namespace detail {

// Cells are each on their own cache line, so two counters updated by different threads do not slow
// each other down (false sharing).
inline constexpr std::size_t metric_cell_alignment = 64;

struct alignas(metric_cell_alignment) counter_cell {
    std::atomic<std::uint64_t> value{0};
};

struct alignas(metric_cell_alignment) gauge_cell {
    std::atomic<double> value{0};
};

struct alignas(metric_cell_alignment) histogram_cell {
    explicit histogram_cell(std::vector<double> b)
        : bounds(std::move(b)), buckets(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {}

    void observe(double v) noexcept {
        buckets[bucket_of(v)].fetch_add(1, std::memory_order_relaxed);
        sum.fetch_add(v, std::memory_order_relaxed);
    }

    /// The first bound >= v ("le": less or equal); NaN and values above every bound land in +Inf.
    [[nodiscard]] std::size_t bucket_of(double v) const noexcept {
        auto it = std::partition_point(bounds.begin(), bounds.end(), [v](double b) { return !(v <= b); });
        return static_cast<std::size_t>(it - bounds.begin());
    }

    const std::vector<double> bounds;                         // finite, strictly increasing
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets;    // per bucket (not cumulative); last: +Inf
    std::atomic<double> sum{0};                               // the count is the buckets' total
};

[[nodiscard]] inline bool valid_metric_name(std::string_view name) noexcept {
    if (name.empty()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

[[nodiscard]] inline bool valid_label_name(std::string_view name) noexcept {
    if (name.empty()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

/// Prometheus spelling of a sample value: shortest round-trip decimal, "+Inf", "-Inf", "NaN".
inline void append_double(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
    } else if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
    } else {
        char text[32];
        auto r = std::to_chars(text, text + sizeof text, v);
        out.append(text, r.ptr);
    }
}

inline void append_uint(std::string& out, std::uint64_t v) {
    char text[24];
    auto r = std::to_chars(text, text + sizeof text, v);
    out.append(text, r.ptr);
}

/// Label values escape backslash, double quote and newline; HELP text escapes backslash and newline.
inline void append_escaped(std::string& out, std::string_view text, bool quotes) {
    for (char c : text) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '"' && quotes) out += "\\\"";
        else out += c;
    }
}

/// `{a="x",b="y"}` (nothing for no labels), with `le` appended for histogram buckets.
inline void append_labels(std::string& out, const label_set& labels, std::string_view le = {}) {
    if (labels.empty() && le.empty()) return;
    out += '{';
    bool first = true;
    for (const auto& l : labels) {
        if (!first) out += ',';
        first = false;
        out += l.name;
        out += "=\"";
        append_escaped(out, l.value, true);
        out += '"';
    }
    if (!le.empty()) {
        if (!first) out += ',';
        out += "le=\"";
        out += le;
        out += '"';
    }
    out += '}';
}

} // namespace detail

/// A monotonic count (events, bytes, retries). Cheap to copy; valid while its registry lives. A
/// default-constructed counter is detached: updates do nothing, value() is 0.
class counter {
public:
    counter() noexcept = default;

    /// Adds 1.
    void inc() const noexcept { add(1); }
    /// Adds `n` (relaxed atomic: safe from any thread).
    void add(std::uint64_t n) const noexcept {
        if (cell_) cell_->value.fetch_add(n, std::memory_order_relaxed);
    }
    /// The count now (0 when detached).
    [[nodiscard]] std::uint64_t value() const noexcept {
        return cell_ ? cell_->value.load(std::memory_order_relaxed) : 0;
    }
    /// False for a detached (default-constructed) handle.
    [[nodiscard]] explicit operator bool() const noexcept { return cell_ != nullptr; }

private:
    friend class metrics_registry;
    explicit counter(detail::counter_cell* cell) noexcept : cell_(cell) {}
    detail::counter_cell* cell_ = nullptr;
};

/// A value that goes up and down (events or bytes held now). Same handle rules as counter.
class gauge {
public:
    gauge() noexcept = default;

    /// Sets the value (from any thread).
    void set(double v) const noexcept {
        if (cell_) cell_->value.store(v, std::memory_order_relaxed);
    }
    /// Adds `v`.
    void add(double v) const noexcept {
        if (cell_) cell_->value.fetch_add(v, std::memory_order_relaxed);
    }
    /// Subtracts `v`.
    void sub(double v) const noexcept {
        if (cell_) cell_->value.fetch_sub(v, std::memory_order_relaxed);
    }
    /// Adds 1.
    void inc() const noexcept { add(1); }
    /// Subtracts 1.
    void dec() const noexcept { sub(1); }
    /// The value now (0 when detached).
    [[nodiscard]] double value() const noexcept { return cell_ ? cell_->value.load(std::memory_order_relaxed) : 0; }
    /// True when attached to a registry.
    [[nodiscard]] explicit operator bool() const noexcept { return cell_ != nullptr; }

private:
    friend class metrics_registry;
    explicit gauge(detail::gauge_cell* cell) noexcept : cell_(cell) {}
    detail::gauge_cell* cell_ = nullptr;
};

/// A distribution over fixed buckets (batch sizes, latencies). Same handle rules as counter.
class histogram {
public:
    histogram() noexcept = default;

    /// Counts `v` in the first bucket whose upper bound is >= v (+Inf for NaN and beyond the last).
    void observe(double v) const noexcept {
        if (cell_) cell_->observe(v);
    }
    /// A duration is observed in seconds, the Prometheus base unit.
    template <class Rep, class Period>
    void observe(std::chrono::duration<Rep, Period> d) const noexcept {
        observe(std::chrono::duration<double>(d).count());
    }
    /// Observations so far (0 when detached).
    [[nodiscard]] std::uint64_t count() const noexcept {
        if (!cell_) return 0;
        std::uint64_t n = 0;
        for (std::size_t i = 0; i <= cell_->bounds.size(); ++i) n += cell_->buckets[i].load(std::memory_order_relaxed);
        return n;
    }
    /// Sum of the observations.
    [[nodiscard]] double sum() const noexcept { return cell_ ? cell_->sum.load(std::memory_order_relaxed) : 0; }
    /// The finite upper bounds (+Inf is implied).
    [[nodiscard]] std::span<const double> bounds() const noexcept {
        return cell_ ? std::span<const double>(cell_->bounds) : std::span<const double>();
    }
    /// True when attached to a registry.
    [[nodiscard]] explicit operator bool() const noexcept { return cell_ != nullptr; }

private:
    friend class metrics_registry;
    explicit histogram(detail::histogram_cell* cell) noexcept : cell_(cell) {}
    detail::histogram_cell* cell_ = nullptr;
};

/// One histogram bucket in a snapshot: observations <= upper_bound (cumulative, as Prometheus has it).
struct histogram_bucket {
    double upper_bound = 0; ///< +infinity for the last
    /// Observations at or below upper_bound.
    std::uint64_t cumulative_count = 0;
};

/// One series in a snapshot.
struct metric_sample {
    /// The metric's name.
    std::string name;
    /// Its help text.
    std::string help;
    /// Counter, gauge or histogram.
    metric_type type = metric_type::counter;
    label_set labels;                      ///< sorted by name
    double value = 0;                      ///< counter or gauge value; histogram: the sum
    std::uint64_t count = 0;               ///< histogram: observations (counter: the value)
    std::vector<histogram_bucket> buckets; ///< histogram only, ending with +Inf
};

/// Every series of a registry at one moment, ordered by name, then labels.
struct metrics_snapshot {
    /// Every series, ordered by name, then labels.
    std::vector<metric_sample> samples;

    /// The series `name` with exactly `labels` (any order), or null.
    [[nodiscard]] const metric_sample* find(std::string_view name, label_set labels = {}) const {
        std::sort(labels.begin(), labels.end());
        for (const auto& s : samples)
            if (s.name == name && s.labels == labels) return &s;
        return nullptr;
    }
};

/// Owns metric families and hands out handles. Thread-safe: register, update and render from any
/// thread. Handles stay valid while the registry lives; there is no unregistering.
class metrics_registry {
public:
    metrics_registry() = default;
    metrics_registry(const metrics_registry&) = delete;
    metrics_registry& operator=(const metrics_registry&) = delete;

    /// The counter `name` with `labels`, created on first use; later calls with the same name and
    /// labels return the same counter. Throws std::invalid_argument for an invalid metric or label
    /// name, a label named twice, or a name registered as another type. `help` is kept from the first
    /// registration that gives one.
    [[nodiscard]] counter get_counter(std::string_view name, std::string_view help, label_set labels = {}) {
        std::lock_guard lock(mutex_);
        family& f = family_for(name, help, metric_type::counter, nullptr, labels);
        auto& cell = f.counters[std::move(labels)];
        if (!cell) cell = std::make_unique<detail::counter_cell>();
        return counter(cell.get());
    }

    /// The gauge `name` with `labels`, created on first use (same handle rules as get_counter).
    [[nodiscard]] gauge get_gauge(std::string_view name, std::string_view help, label_set labels = {}) {
        std::lock_guard lock(mutex_);
        family& f = family_for(name, help, metric_type::gauge, nullptr, labels);
        auto& cell = f.gauges[std::move(labels)];
        if (!cell) cell = std::make_unique<detail::gauge_cell>();
        return gauge(cell.get());
    }

    /// `bounds`: the finite bucket upper bounds, strictly increasing (a trailing +Inf is accepted and
    /// dropped). Every series of one histogram name shares the bounds it was first registered with;
    /// different bounds throw std::invalid_argument. The label `le` is reserved.
    [[nodiscard]] histogram get_histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                                          label_set labels = {}) {
        if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) bounds.pop_back();
        for (std::size_t i = 0; i < bounds.size(); ++i)
            if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i])))
                throw std::invalid_argument("sluice metrics: histogram '" + std::string(name) +
                                            "' needs finite, strictly increasing bucket bounds");
        std::lock_guard lock(mutex_);
        family& f = family_for(name, help, metric_type::histogram, &bounds, labels);
        auto& cell = f.histograms[std::move(labels)];
        if (!cell) cell = std::make_unique<detail::histogram_cell>(f.bounds);
        return histogram(cell.get());
    }

    /// Everything in the Prometheus text exposition format 0.0.4 (Content-Type:
    /// text/plain; version=0.0.4): per family # HELP (when given) and # TYPE, then one line per series;
    /// histograms as cumulative name_bucket{...,le="..."} ending with le="+Inf", then name_sum and
    /// name_count. Families by name, series by labels.
    [[nodiscard]] std::string render_prometheus() const {
        std::string out;
        std::lock_guard lock(mutex_);
        for (const auto& [name, f] : families_) {
            if (!f.help.empty()) {
                out += "# HELP ";
                out += name;
                out += ' ';
                detail::append_escaped(out, f.help, false);
                out += '\n';
            }
            out += "# TYPE ";
            out += name;
            out += ' ';
            out += to_string(f.type);
            out += '\n';
            for (const auto& [labels, cell] : f.counters) {
                out += name;
                detail::append_labels(out, labels);
                out += ' ';
                detail::append_uint(out, cell->value.load(std::memory_order_relaxed));
                out += '\n';
            }
            for (const auto& [labels, cell] : f.gauges) {
                out += name;
                detail::append_labels(out, labels);
                out += ' ';
                detail::append_double(out, cell->value.load(std::memory_order_relaxed));
                out += '\n';
            }
            std::string le;
            for (const auto& [labels, cell] : f.histograms) {
                std::uint64_t cumulative = 0;
                for (std::size_t i = 0; i <= cell->bounds.size(); ++i) {
                    cumulative += cell->buckets[i].load(std::memory_order_relaxed);
                    le.clear();
                    if (i < cell->bounds.size()) detail::append_double(le, cell->bounds[i]);
                    else le = "+Inf";
                    out += name;
                    out += "_bucket";
                    detail::append_labels(out, labels, le);
                    out += ' ';
                    detail::append_uint(out, cumulative);
                    out += '\n';
                }
                out += name;
                out += "_sum";
                detail::append_labels(out, labels);
                out += ' ';
                detail::append_double(out, cell->sum.load(std::memory_order_relaxed));
                out += '\n';
                out += name;
                out += "_count";
                detail::append_labels(out, labels);
                out += ' ';
                detail::append_uint(out, cumulative);
                out += '\n';
            }
        }
        return out;
    }

    /// Every series' current values, in render_prometheus()'s order.
    [[nodiscard]] metrics_snapshot snapshot() const {
        metrics_snapshot snap;
        std::lock_guard lock(mutex_);
        auto sample_of = [](const family& f, const label_set& labels) {
            metric_sample s;
            s.name = f.name;
            s.help = f.help;
            s.type = f.type;
            s.labels = labels;
            return s;
        };
        for (const auto& [name, f] : families_) {
            for (const auto& [labels, cell] : f.counters) {
                auto s = sample_of(f, labels);
                s.count = cell->value.load(std::memory_order_relaxed);
                s.value = static_cast<double>(s.count);
                snap.samples.push_back(std::move(s));
            }
            for (const auto& [labels, cell] : f.gauges) {
                auto s = sample_of(f, labels);
                s.value = cell->value.load(std::memory_order_relaxed);
                snap.samples.push_back(std::move(s));
            }
            for (const auto& [labels, cell] : f.histograms) {
                auto s = sample_of(f, labels);
                std::uint64_t cumulative = 0;
                for (std::size_t i = 0; i <= cell->bounds.size(); ++i) {
                    cumulative += cell->buckets[i].load(std::memory_order_relaxed);
                    s.buckets.push_back({i < cell->bounds.size() ? cell->bounds[i] : std::numeric_limits<double>::infinity(),
                                         cumulative});
                }
                s.count = cumulative;
                s.value = cell->sum.load(std::memory_order_relaxed);
                snap.samples.push_back(std::move(s));
            }
        }
        return snap;
    }

private:
    struct family {
        std::string name;
        std::string help;
        metric_type type = metric_type::counter;
        std::vector<double> bounds; // histograms
        // One of these is used, by type. unique_ptr: cells never move, so handles stay valid.
        std::map<label_set, std::unique_ptr<detail::counter_cell>> counters;
        std::map<label_set, std::unique_ptr<detail::gauge_cell>> gauges;
        std::map<label_set, std::unique_ptr<detail::histogram_cell>> histograms;
    };

    [[noreturn]] static void reject(std::string_view name, const std::string& why) {
        throw std::invalid_argument("sluice metrics: '" + std::string(name) + "': " + why);
    }

    /// Under mutex_: validates name and labels (sorting the labels) and finds or creates the family.
    family& family_for(std::string_view name, std::string_view help, metric_type type, const std::vector<double>* bounds,
                       label_set& labels) {
        if (!detail::valid_metric_name(name)) reject(name, "invalid metric name (must match [a-zA-Z_:][a-zA-Z0-9_:]*)");
        std::sort(labels.begin(), labels.end());
        for (std::size_t i = 0; i < labels.size(); ++i) {
            const auto& l = labels[i].name;
            if (!detail::valid_label_name(l))
                reject(name, "invalid label name '" + l + "' (must match [a-zA-Z_][a-zA-Z0-9_]*)");
            if (l.starts_with("__")) reject(name, "label name '" + l + "' is reserved (starts with __)");
            if (type == metric_type::histogram && l == "le") reject(name, "label name 'le' is reserved in histograms");
            if (i > 0 && labels[i - 1].name == l) reject(name, "label '" + l + "' given twice");
        }

        if (auto it = families_.find(name); it != families_.end()) {
            family& f = it->second;
            if (f.type != type)
                reject(name, "already registered as a " + std::string(to_string(f.type)) + ", not a " +
                                 std::string(to_string(type)));
            if (bounds && *bounds != f.bounds) reject(name, "already registered with other bucket bounds");
            if (f.help.empty()) f.help = help;
            return f;
        }

        // A histogram's series are name_bucket, name_sum and name_count: no other family may use them.
        static constexpr std::string_view suffixes[] = {"_bucket", "_sum", "_count"};
        for (auto suffix : suffixes) {
            if (type == metric_type::histogram && families_.contains(std::string(name) + std::string(suffix)))
                reject(name, "clashes with the metric '" + std::string(name) + std::string(suffix) + "'");
            if (name.ends_with(suffix)) {
                auto stem = families_.find(name.substr(0, name.size() - suffix.size()));
                if (stem != families_.end() && stem->second.type == metric_type::histogram)
                    reject(name, "clashes with the series of histogram '" + stem->first + "'");
            }
        }

        family f;
        f.name = std::string(name);
        f.help = std::string(help);
        f.type = type;
        if (bounds) f.bounds = *bounds;
        return families_.emplace(f.name, std::move(f)).first->second;
    }

    mutable std::mutex mutex_;
    std::map<std::string, family, std::less<>> families_; // by name: the rendering order
};

// ---- the standard metric sets of queues, buffers and sinks ----

/// What flows through any component, labelled `{component=<kind>, name=<its name>}`. Default-constructed:
/// detached handles (a component built without a registry updates nothing).
struct flow_metrics {
    counter events_in;      ///< sluice_events_in_total: accepted
    counter events_out;     ///< sluice_events_out_total: delivered or passed on
    counter events_failed;  ///< sluice_events_failed_total: given up on (an Error reached the sender)
    counter events_dropped; ///< sluice_events_dropped_total: discarded (overflow, expiry, shutdown)
    counter events_retried; ///< sluice_events_retried_total: delivery attempts repeated

    flow_metrics() = default;
    /// Registers the component's series in `registry`, labelled component and name.
    flow_metrics(metrics_registry& registry, std::string_view component, std::string_view name) {
        const label_set labels{{"component", std::string(component)}, {"name", std::string(name)}};
        auto make = [&](std::string_view metric, std::string_view help) { return registry.get_counter(metric, help, labels); };
        events_in = make("sluice_events_in_total", "Events accepted by the component.");
        events_out = make("sluice_events_out_total", "Events the component delivered or passed on.");
        events_failed = make("sluice_events_failed_total", "Events the component gave up on.");
        events_dropped = make("sluice_events_dropped_total", "Events the component discarded.");
        events_retried = make("sluice_events_retried_total", "Event delivery attempts the component repeated.");
    }
};

/// A queue's metrics: flow_metrics{component="queue"} and its depth.
struct queue_metrics : flow_metrics {
    gauge depth; ///< sluice_queue_depth: events waiting

    queue_metrics() = default;
    /// Registers a queue's series, labelled name=`name`.
    queue_metrics(metrics_registry& registry, std::string_view name) : flow_metrics(registry, "queue", name) {
        depth = registry.get_gauge("sluice_queue_depth", "Events waiting in the queue.",
                                   {{"component", "queue"}, {"name", std::string(name)}});
    }
};

/// A buffer's metrics: flow_metrics{component="buffer"} and what it holds, by medium.
struct buffer_metrics : flow_metrics {
    gauge memory_events; ///< sluice_buffer_events{medium="memory"}
    gauge memory_bytes;  ///< sluice_buffer_bytes{medium="memory"}
    gauge disk_events;   ///< sluice_buffer_events{medium="disk"}
    gauge disk_bytes;    ///< sluice_buffer_bytes{medium="disk"}

    buffer_metrics() = default;
    /// Registers a buffer's series, labelled name=`name`.
    buffer_metrics(metrics_registry& registry, std::string_view name) : flow_metrics(registry, "buffer", name) {
        auto make = [&](std::string_view metric, std::string_view help, std::string_view medium) {
            return registry.get_gauge(metric, help,
                                      {{"component", "buffer"}, {"medium", std::string(medium)}, {"name", std::string(name)}});
        };
        memory_events = make("sluice_buffer_events", "Events held in the buffer.", "memory");
        memory_bytes = make("sluice_buffer_bytes", "Bytes held in the buffer.", "memory");
        disk_events = make("sluice_buffer_events", "Events held in the buffer.", "disk");
        disk_bytes = make("sluice_buffer_bytes", "Bytes held in the buffer.", "disk");
    }
};

/// A sink's metrics: flow_metrics{component="sink"}, its batches and its requests to the destination.
struct sink_metrics : flow_metrics {
    histogram batch_events;     ///< sluice_batch_events: events per batch sent (1 .. 4096)
    histogram batch_bytes;      ///< sluice_batch_bytes: bytes per batch sent (256 B .. 64 MiB)
    histogram request_duration; ///< sluice_request_duration_seconds: request latency
    counter requests;           ///< sluice_requests_total: requests sent
    counter retries;            ///< sluice_request_retries_total: requests repeated after a failure
    counter throttles;          ///< sluice_request_throttles_total: requests the destination throttled

    sink_metrics() = default;
    /// Registers a sink's series, labelled name=`name`.
    sink_metrics(metrics_registry& registry, std::string_view name) : flow_metrics(registry, "sink", name) {
        const label_set labels{{"component", "sink"}, {"name", std::string(name)}};
        batch_events = registry.get_histogram("sluice_batch_events", "Events per batch sent.",
                                              exponential_buckets(1, 2, 13), labels);
        batch_bytes = registry.get_histogram("sluice_batch_bytes", "Bytes per batch sent.",
                                             exponential_buckets(256, 4, 10), labels);
        request_duration = registry.get_histogram("sluice_request_duration_seconds",
                                                  "Latency of requests to the destination.",
                                                  default_latency_buckets(), labels);
        requests = registry.get_counter("sluice_requests_total", "Requests sent to the destination.", labels);
        retries = registry.get_counter("sluice_request_retries_total", "Requests repeated after a failure.", labels);
        throttles = registry.get_counter("sluice_request_throttles_total", "Requests the destination throttled.",
                                         labels);
    }
};

} // namespace sluice
