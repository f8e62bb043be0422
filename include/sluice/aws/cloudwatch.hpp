#pragma once

// Amazon CloudWatch PutMetricData on the shared AWS batch layer: cloudwatch_service is its traits,
// cloudwatch_dispatcher the batch dispatcher for it (aws/cloudwatch_aggregator.hpp folds many
// observations into a few data before they get here).
//
//   POST / HTTP/1.1
//   Content-Type: application/x-amz-json-1.0
//   X-Amz-Target: GraniteServiceVersion20100801.PutMetricData
//   x-amzn-query-mode: true
//   {"Namespace":"checkout","MetricData":[{"MetricName":"latency","Dimensions":[{"Name":"route",
//     "Value":"/pay"}],"Timestamp":1767225600.5,"Values":[12.5,40],"Counts":[30,2],"Unit":"Milliseconds",
//     "StorageResolution":60}]}
//   -> 200 {}
//
// What current AWS SDKs send: the JSON 1.0 protocol (signing name "monitoring"); the query protocol
// is not spoken. Limits (AWS, 2026; overridable): 1,000 metric data per request and 1 MB per request;
// per datum 30 dimensions, 150 entries in Values/Counts, values finite within +-2^360 (and zero or
// at least 2^-360 in magnitude), StorageResolution 1 or 60. Each datum is checked before it is sent,
// since the request succeeds or fails as a whole. EntityMetricData is not supported. A datum may
// name its own namespace: it is the datum's batch key, so a request holds one namespace.

#if !SLUICE_HAS_CURL || !SLUICE_HAS_OPENSSL || !SLUICE_HAS_SIMDJSON
#error "sluice/aws/cloudwatch.hpp needs libcurl, OpenSSL and simdjson (SLUICE_HAS_CURL, SLUICE_HAS_OPENSSL, SLUICE_HAS_SIMDJSON)"
#endif

#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/aws/batch/dispatcher.hpp>
#include <sluice/aws/batch/response.hpp>
#include <sluice/aws/batch/service.hpp>
#include <sluice/http/client.hpp>
#include <sluice/text/json_writer.hpp>
#include <sluice/text/utf8.hpp>

namespace sluice::aws {

/// A dimension of a metric.
struct metric_dimension {
    std::string name;  ///< 1 to 255 characters, not only whitespace, not starting with ':', once per datum.
    std::string value; ///< 1 to 1024 characters, not only whitespace.
    friend bool operator==(const metric_dimension&, const metric_dimension&) = default;
};

/// Sample count, sum, minimum and maximum of many observations.
struct statistic_set {
    double sample_count = 0; ///< How many observations: positive.
    double sum = 0;          ///< Their sum.
    double minimum = 0;      ///< The smallest: not above `maximum`.
    double maximum = 0;      ///< The largest.
};

/// One metric datum: exactly one of `value`, `values` (with optional `counts`) or `statistics`.
struct metric_datum {
    /// MetricName: 1 to 255 characters, not only whitespace.
    std::string name;
    /// Up to 30, each name at most once.
    std::vector<metric_dimension> dimensions{};
    /// One observation (Value).
    std::optional<double> value{};
    /// Up to 150 observed values (Values), each in CloudWatch's range.
    std::vector<double> values{};
    /// Times each of `values` was observed; empty: once each.
    std::vector<double> counts{};
    /// A summary of many observations (StatisticValues).
    std::optional<statistic_set> statistics{};
    /// One of CloudWatch's units ("Count", "Milliseconds", "Bytes/Second", ...); empty: none given.
    std::string unit{};
    /// 1 (high resolution) or 60.
    int storage_resolution = 60;
    /// The epoch (default): stamped with the time of submission.
    std::chrono::system_clock::time_point timestamp{};
    /// The namespace; empty: the dispatcher's. Data of different namespaces never share a request
    /// (PutMetricData takes one): the namespace is the batch key.
    std::string namespace_name{};
};

/// PutMetricData's limits as AWS documents them (2026); entries count as their JSON, with room left
/// for the request's namespace and separators.
[[nodiscard]] constexpr batch_limits cloudwatch_default_limits() noexcept {
    return {1000, 1'000'000 - 8192, 1'000'000 - 8192, 0, size_basis::json};
}

/// Where metrics go.
struct cloudwatch_options {
    /// 1 to 255 ASCII characters, no control characters, not starting with "AWS/".
    std::string namespace_name{};
    /// Overrides of PutMetricData's limits (zero fields keep them).
    batch_limits limits = no_overrides;
};

/// PutMetricData's error codes (per request: it has no per-datum errors).
[[nodiscard]] inline const error_table& cloudwatch_errors() noexcept {
    static constexpr error_rule rules[] = {
        {"InvalidParameterValue", error_verdict::reject},
        {"InvalidParameterCombination", error_verdict::reject},
        {"MissingParameter", error_verdict::reject},
        {"InternalServiceError", error_verdict::retry},
        {"InternalServiceFault", error_verdict::retry},
        {"Throttling", error_verdict::throttle},
    };
    static const error_table table{rules, error_verdict::retry};
    return table;
}

} // namespace sluice::aws

namespace sluice::detail::cloudwatch {

inline constexpr std::string_view units[] = {
    "Seconds",          "Microseconds",     "Milliseconds",     "Bytes",           "Kilobytes",
    "Megabytes",        "Gigabytes",        "Terabytes",        "Bits",            "Kilobits",
    "Megabits",         "Gigabits",         "Terabits",         "Percent",         "Count",
    "Bytes/Second",     "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
    "Bits/Second",      "Kilobits/Second",  "Megabits/Second",  "Gigabits/Second", "Terabits/Second",
    "Count/Second",     "None"};

/// CloudWatch's range: finite, |v| <= 2^360, and zero or |v| >= 2^-360.
inline bool in_range(double v) noexcept {
    if (!std::isfinite(v)) return false;
    const double m = std::fabs(v);
    return m == 0 || (m <= std::ldexp(1.0, 360) && m >= std::ldexp(1.0, -360));
}

/// A name or value CloudWatch takes: valid UTF-8, `min` to `max` characters, not only whitespace.
inline std::string check_text(std::string_view text, std::string_view what, std::size_t max) {
    if (auto c = text::check_utf8(text); !c.ok()) return text::describe(c, what);
    const std::size_t chars = text::utf8_length(text);
    if (chars == 0 || chars > max) return std::string(what) + " has " + std::to_string(chars) + " characters; CloudWatch takes 1 to " + std::to_string(max);
    bool blank = true;
    for (char c : text) blank = blank && (c == ' ' || c == '\t' || c == '\n' || c == '\r');
    if (blank) return std::string(what) + " is only whitespace";
    return {};
}

inline std::string check_values(const aws::metric_datum& d) {
    if (d.values.size() > 150) return "Values has " + std::to_string(d.values.size()) + " entries; CloudWatch takes at most 150";
    if (!d.counts.empty() && d.counts.size() != d.values.size()) return "Counts and Values differ in length";
    for (double v : d.values)
        if (!in_range(v)) return "a value is not finite or outside CloudWatch's range (2^-360 to 2^360)";
    for (double c : d.counts)
        if (!std::isfinite(c) || c < 0) return "a count is negative or not finite";
    if (d.value && !in_range(*d.value)) return "the value is not finite or outside CloudWatch's range (2^-360 to 2^360)";
    if (const auto& s = d.statistics) {
        if (!in_range(s->sample_count) || !in_range(s->sum) || !in_range(s->minimum) || !in_range(s->maximum))
            return "a statistic is not finite or outside CloudWatch's range (2^-360 to 2^360)";
        if (s->sample_count <= 0) return "StatisticValues needs a positive sample count";
        if (s->minimum > s->maximum) return "StatisticValues has a minimum above its maximum";
    }
    return {};
}

/// Every check CloudWatch makes of one datum (the request fails whole if one datum is bad).
/// 1 to 255 printable ASCII characters, not starting with "AWS/" (reserved for AWS's own metrics).
inline bool valid_namespace(std::string_view ns) noexcept {
    bool ok = !ns.empty() && ns.size() <= 255 && !ns.starts_with("AWS/");
    for (char c : ns) ok = ok && static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7F;
    return ok;
}

inline std::string check_datum(const aws::metric_datum& d) {
    if (std::string why = check_text(d.name, "metric name", 255); !why.empty()) return why;
    if (d.dimensions.size() > 30) return "metric has " + std::to_string(d.dimensions.size()) + " dimensions; CloudWatch takes at most 30";
    for (std::size_t i = 0; i < d.dimensions.size(); ++i) {
        const auto& dim = d.dimensions[i];
        if (std::string why = check_text(dim.name, "dimension name", 255); !why.empty()) return why;
        if (dim.name.front() == ':') return "a dimension name cannot start with ':'";
        if (std::string why = check_text(dim.value, "dimension value", 1024); !why.empty()) return why;
        for (std::size_t k = 0; k < i; ++k)
            if (d.dimensions[k].name == dim.name) return "dimension '" + dim.name + "' appears twice";
    }
    const int kinds = (d.value ? 1 : 0) + (d.values.empty() ? 0 : 1) + (d.statistics ? 1 : 0);
    if (kinds != 1) return "a datum has exactly one of Value, Values or StatisticValues";
    if (std::string why = check_values(d); !why.empty()) return why;
    if (d.storage_resolution != 1 && d.storage_resolution != 60) return "StorageResolution is 1 or 60";
    if (!d.unit.empty()) {
        bool known = false;
        for (auto u : units) known = known || u == d.unit;
        if (!known) return "unit '" + d.unit.substr(0, 32) + "' is not one of CloudWatch's";
    }
    return {};
}

template <class E>
void emit_numbers(E& e, std::span<const double> v) {
    e.raw("[");
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i != 0) e.raw(",");
        e.number(v[i]);
    }
    e.raw("]");
}

/// Epoch seconds with milliseconds: what the JSON protocols carry as a timestamp.
template <class E>
void emit_timestamp(E& e, std::chrono::system_clock::time_point t) {
    const std::int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    e.integer(ms / 1000);
    if (const std::int64_t frac = ms % 1000; frac != 0) {
        char digits[4] = {'.', static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                          static_cast<char>('0' + frac % 10)};
        e.raw(std::string_view(digits, 4));
    }
}

template <class E>
void emit_datum(E& e, const aws::metric_datum& d) {
    e.raw("{\"MetricName\":\"");
    e.escaped(d.name);
    e.raw("\"");
    if (!d.dimensions.empty()) {
        e.raw(",\"Dimensions\":[");
        for (std::size_t i = 0; i < d.dimensions.size(); ++i) {
            e.raw(i == 0 ? "{\"Name\":\"" : ",{\"Name\":\"");
            e.escaped(d.dimensions[i].name);
            e.raw("\",\"Value\":\"");
            e.escaped(d.dimensions[i].value);
            e.raw("\"}");
        }
        e.raw("]");
    }
    e.raw(",\"Timestamp\":");
    emit_timestamp(e, d.timestamp);
    if (d.value) {
        e.raw(",\"Value\":");
        e.number(*d.value);
    }
    if (!d.values.empty()) {
        e.raw(",\"Values\":");
        emit_numbers(e, d.values);
        if (!d.counts.empty()) {
            e.raw(",\"Counts\":");
            emit_numbers(e, d.counts);
        }
    }
    if (const auto& s = d.statistics) {
        e.raw(",\"StatisticValues\":{\"SampleCount\":");
        e.number(s->sample_count);
        e.raw(",\"Sum\":");
        e.number(s->sum);
        e.raw(",\"Minimum\":");
        e.number(s->minimum);
        e.raw(",\"Maximum\":");
        e.number(s->maximum);
        e.raw("}");
    }
    if (!d.unit.empty()) {
        e.raw(",\"Unit\":\"");
        e.raw(d.unit);
        e.raw("\"");
    }
    e.raw(",\"StorageResolution\":");
    e.integer(d.storage_resolution);
    e.raw("}");
}

} // namespace sluice::detail::cloudwatch

namespace sluice::aws {

/// PutMetricData's traits for the batch layer.
class cloudwatch_service {
public:
    /// What one entry carries.
    using record_type = metric_datum;
    /// Nothing to remember between a request and its response.
    struct request_state {};
    /// AWS JSON 1.0 (with x-amzn-query-mode: see extra_headers()).
    static constexpr wire_protocol protocol = wire_protocol::json_1_0;
    /// The X-Amz-Target of the operation.
    static constexpr std::string_view target = "GraniteServiceVersion20100801.PutMetricData";

    /// Throws std::invalid_argument when the options' namespace is not a valid one.
    explicit cloudwatch_service(cloudwatch_options options)
        : options_(std::move(options)), limits_(cloudwatch_default_limits().overridden_by(options_.limits)) {
        if (!sluice::detail::cloudwatch::valid_namespace(options_.namespace_name))
            throw std::invalid_argument("sluice: a CloudWatch namespace has 1 to 255 printable ASCII characters and does not start with AWS/");
        request_head_ = head_of(options_.namespace_name);
    }

    /// The dispatcher's namespace (what logs and metrics name).
    [[nodiscard]] std::string_view name() const noexcept { return options_.namespace_name; }
    /// PutMetricData's limits with the options' overrides.
    [[nodiscard]] batch_limits limits() const noexcept { return limits_; }
    /// Its documented error codes and their verdicts (they apply to the whole request).
    [[nodiscard]] const error_table& errors() const noexcept { return cloudwatch_errors(); }
    /// A datum's JSON: prepare() refuses one larger than the record limit.
    [[nodiscard]] std::size_t max_encoded_record() const noexcept { return limits_.max_record_bytes; }
    /// Identical data are all sent (the service does not de-duplicate).
    [[nodiscard]] duplicate_policy duplicates() const noexcept { return duplicate_policy::keep; }
    /// What current SDKs send with PutMetricData's JSON protocol.
    [[nodiscard]] std::span<const http::header> extra_headers() const noexcept { return query_mode_; }

    /// Stamps a datum without a timestamp with now; then CloudWatch's rules. Empty when valid.
    [[nodiscard]] std::string prepare(metric_datum& d) const {
        if (d.timestamp.time_since_epoch().count() == 0) d.timestamp = std::chrono::system_clock::now();
        if (d.timestamp.time_since_epoch().count() < 0) return "timestamp before 1970";
        if (!d.namespace_name.empty() && !sluice::detail::cloudwatch::valid_namespace(d.namespace_name))
            return "namespace is not 1 to 255 printable ASCII characters, or starts with AWS/";
        std::string why = sluice::detail::cloudwatch::check_datum(d);
        if (!why.empty()) return why;
        // Counting the JSON exactly costs a pass of number formatting: only near the limit.
        std::size_t bound = 512 + d.name.size() * 6 + d.unit.size() + (d.values.size() + d.counts.size()) * 33;
        for (const auto& dim : d.dimensions) bound += 32 + (dim.name.size() + dim.value.size()) * 6;
        if (bound <= limits_.max_record_bytes) return {};
        text::size_counter size;
        sluice::detail::cloudwatch::emit_datum(size, d);
        if (size.n > limits_.max_record_bytes)
            return "datum is " + std::to_string(size.n) + " bytes of JSON; the limit is " + std::to_string(limits_.max_record_bytes);
        return {};
    }

    /// The datum's JSON object; a namespace other than the dispatcher's is its batch key.
    [[nodiscard]] entry_meta encode_entry(const metric_datum& d, std::string& out) const {
        const std::size_t start = out.size();
        text::append_exact(out, [&](auto& e) { sluice::detail::cloudwatch::emit_datum(e, d); });
        entry_meta meta;
        meta.counted = out.size() - start;
        // The dispatcher's own namespace is the empty key: the common case builds no key at all.
        if (d.namespace_name != options_.namespace_name) meta.batch_key = d.namespace_name;
        return meta;
    }

    /// {"Namespace":"<the batch key's, or the dispatcher's>","MetricData":[entries]}
    bool frame_request(sink_batch batch, request_frame& frame, request_state&) const {
        frame.head = batch.key.empty() ? request_head_ : head_of(batch.key);
        frame.tail = "]}";
        return true;
    }

    /// The same request as one body.
    [[nodiscard]] request_state encode_request(sink_batch batch, std::string& body) const {
        return encode_framed(*this, batch, body);
    }

    /// A 2xx took every datum.
    [[nodiscard]] batch_result read_response(std::string_view, sink_batch, request_state&) const { return all_or_nothing(); }

    /// Batches of up to 1,000 sealed after 1 s, 4 requests in flight, 8 attempts with backoff from
    /// 200 ms to 20 s.
    [[nodiscard]] delivery_options default_delivery() const {
        delivery_options d;
        d.name = "cloudwatch";
        d.batch.max_events = limits_.max_entries;
        d.batch.max_bytes = limits_.max_request_bytes;
        d.batch.max_age = std::chrono::milliseconds(1000);
        d.retry.max_attempts = 8;
        d.retry.initial_backoff = std::chrono::milliseconds(200);
        d.retry.max_backoff = std::chrono::milliseconds(20'000);
        d.concurrency.max_in_flight = 4;
        return d;
    }

private:
    static std::string head_of(std::string_view ns) {
        std::string head;
        text::append_exact(head, [&](auto& e) {
            e.raw("{\"Namespace\":\"");
            e.escaped(ns);
            e.raw("\",\"MetricData\":[");
        });
        return head;
    }

    cloudwatch_options options_;
    batch_limits limits_;
    std::string request_head_;
    std::vector<http::header> query_mode_{http::header{"x-amzn-query-mode", "true"}};
};

static_assert(batch_service<cloudwatch_service>);

/// CloudWatch's batch dispatcher: submit / send / flush / stop, as for every AWS batch API.
using cloudwatch_dispatcher = batch_dispatcher<cloudwatch_service>;

} // namespace sluice::aws
