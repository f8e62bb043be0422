#pragma once

// How sluiced reads a CloudWatch metric datum from a JSON record:
//
//   {"name": "latency", "value": 12.5, "unit": "Milliseconds", "dimensions": {"service": "api"},
//    "timestamp": 1767225600000, "storage_resolution": 1}
//
// `values` (and `counts`) replace `value` for many observations; `timestamp` is epoch milliseconds
// (absent: the time of submission); `namespace` overrides the sink's. Anything else is refused with
// the field's name, so a typo does not silently drop a dimension.

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>

#include <simdjson.h>

#include <sluice/aws/cloudwatch.hpp>

namespace sluiced {

namespace detail {

inline double metric_number(simdjson::dom::element e, std::string_view field) {
    double v = 0;
    if (e.get_double().get(v) != simdjson::SUCCESS) throw std::invalid_argument("metric field '" + std::string(field) + "' must be a number");
    return v;
}

inline std::string metric_string(simdjson::dom::element e, std::string_view field) {
    std::string_view v;
    if (e.get_string().get(v) != simdjson::SUCCESS) throw std::invalid_argument("metric field '" + std::string(field) + "' must be a string");
    return std::string(v);
}

inline void metric_numbers(simdjson::dom::element e, std::string_view field, std::vector<double>& out) {
    simdjson::dom::array a;
    if (e.get_array().get(a) != simdjson::SUCCESS) throw std::invalid_argument("metric field '" + std::string(field) + "' must be an array of numbers");
    for (auto v : a) out.push_back(metric_number(v, field));
}

inline void metric_dimensions(simdjson::dom::element e, sluice::aws::metric_datum& d) {
    simdjson::dom::object o;
    if (e.get_object().get(o) != simdjson::SUCCESS) throw std::invalid_argument("metric field 'dimensions' must be an object of strings");
    for (auto [k, v] : o) d.dimensions.push_back({std::string(k), metric_string(v, "dimensions." + std::string(k))});
}

} // namespace detail

/// The metric datum `json` describes (see the top); throws std::invalid_argument saying what is wrong.
inline sluice::aws::metric_datum metric_datum_from_json(std::string_view json) {
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS)
        throw std::invalid_argument("a metric record must be JSON");
    simdjson::dom::object o;
    if (root.get_object().get(o) != simdjson::SUCCESS) throw std::invalid_argument("a metric record must be a JSON object");
    sluice::aws::metric_datum d;
    for (auto [key, value] : o) {
        if (key == "name") d.name = detail::metric_string(value, key);
        else if (key == "value") d.value = detail::metric_number(value, key);
        else if (key == "values") detail::metric_numbers(value, key, d.values);
        else if (key == "counts") detail::metric_numbers(value, key, d.counts);
        else if (key == "unit") d.unit = detail::metric_string(value, key);
        else if (key == "namespace") d.namespace_name = detail::metric_string(value, key);
        else if (key == "dimensions") detail::metric_dimensions(value, d);
        else if (key == "storage_resolution") d.storage_resolution = static_cast<int>(detail::metric_number(value, key));
        else if (key == "timestamp") {
            const auto ms = static_cast<long long>(detail::metric_number(value, key));
            d.timestamp = std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
        } else
            throw std::invalid_argument("unknown metric field '" + std::string(key) +
                                        "' (expected name, value, values, counts, unit, dimensions, timestamp, "
                                        "storage_resolution or namespace)");
    }
    if (d.name.empty()) throw std::invalid_argument("a metric record needs a 'name'");
    return d;
}

} // namespace sluiced
