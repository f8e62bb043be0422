#pragma once

// A MiniFirehose as the HTTP API creates it:
//
//   {"name": "clicks",
//    "sinks": {"local": {"type": "file", "directory": "/var/lib/clicks", "format": "parquet"}},
//    "buffer_count_limit": 10000, "buffer_size_limit_mb": 16, "buffer_time_limit": 60}
//
// `sinks` has exactly the shape of the configuration file's [sinks.NAME] tables (every sink type, every
// option), and is read by the same reader, so an API request and a file are checked the same way. The
// buffer limits are MiniFirehose's (records, MiB, seconds): each sink's batch (files and S3: when an
// object closes) unless the sink sets its own. Every message goes to every sink (broadcast).
// `${NAME}` environment references are refused here: an API caller must not read the service's
// environment.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>
#include <toml++/toml.h>

#include <sluice/config/toml_config.hpp>

namespace sluiced {

/// A firehose: its name, its sinks (read like the file's) and the JSON it was created from.
struct firehose_definition {
    std::string name;
    std::vector<sluice::config::sink_config> sinks;
    std::string json; ///< the request body, minified: what is persisted and re-read at start
};

/// A definition, or every reason it is refused.
struct firehose_parse {
    std::optional<firehose_definition> definition;
    std::vector<std::string> errors;
};

namespace detail {

/// The TOML value of a JSON value (null has none: an error).
inline bool to_toml(simdjson::dom::element e, std::string_view key, toml::table& into, std::vector<std::string>& errors);

inline std::optional<toml::array> to_toml_array(simdjson::dom::array a, std::string_view key, std::vector<std::string>& errors) {
    toml::array out;
    for (auto v : a) {
        toml::table holder;
        if (!to_toml(v, key, holder, errors)) return std::nullopt;
        out.push_back(std::move(*holder.get(key)));
    }
    return out;
}

inline bool to_toml(simdjson::dom::element e, std::string_view key, toml::table& into, std::vector<std::string>& errors) {
    using simdjson::dom::element_type;
    switch (e.type()) {
    case element_type::OBJECT: {
        toml::table t;
        for (auto [k, v] : simdjson::dom::object(e))
            if (!to_toml(v, k, t, errors)) return false;
        into.insert_or_assign(key, std::move(t));
        return true;
    }
    case element_type::ARRAY: {
        auto a = to_toml_array(simdjson::dom::array(e), key, errors);
        if (!a) return false;
        into.insert_or_assign(key, std::move(*a));
        return true;
    }
    case element_type::STRING: into.insert_or_assign(key, std::string(std::string_view(e))); return true;
    case element_type::INT64: into.insert_or_assign(key, std::int64_t(e)); return true;
    case element_type::UINT64: errors.push_back("'" + std::string(key) + "' is too large"); return false;
    case element_type::DOUBLE: into.insert_or_assign(key, double(e)); return true;
    case element_type::BOOL: into.insert_or_assign(key, bool(e)); return true;
    case element_type::NULL_VALUE: break;
    }
    errors.push_back("'" + std::string(key) + "' is null (leave an option out to keep its default)");
    return false;
}

/// Reads one of the buffer limits: a positive number.
inline std::optional<double> buffer_limit(simdjson::dom::object root, std::string_view key, std::vector<std::string>& errors) {
    simdjson::dom::element e;
    if (root.at_key(key).get(e) != simdjson::SUCCESS) return std::nullopt;
    double v = 0;
    if (e.get_double().get(v) != simdjson::SUCCESS || !(v > 0) || v > 1e12) {
        errors.push_back("'" + std::string(key) + "' must be a positive number");
        return std::nullopt;
    }
    return v;
}

/// Applies the firehose's buffer limits to each sink's batch, where the sink sets none.
inline void apply_buffer_limits(simdjson::dom::object root, firehose_definition& d, std::vector<std::string>& errors) {
    const auto count = buffer_limit(root, "buffer_count_limit", errors);
    const auto mib = buffer_limit(root, "buffer_size_limit_mb", errors);
    const auto seconds = buffer_limit(root, "buffer_time_limit", errors);
    for (auto& s : d.sinks) {
        auto& b = s.delivery.batch;
        if (count && !b.max_events) b.max_events = static_cast<std::size_t>(*count);
        if (mib && !b.max_bytes) b.max_bytes = static_cast<std::size_t>(*mib * 1024 * 1024);
        if (seconds && !b.max_age) b.max_age = std::chrono::milliseconds(static_cast<std::int64_t>(*seconds * 1000));
    }
}

/// Reads the sinks table with the configuration file's reader.
inline void read_sinks(const toml::table& sinks, firehose_definition& d, std::vector<std::string>& errors) {
    std::vector<sluice::config::config_error> found;
    const sluice::aws::env_lookup no_environment = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
    sluice::config::detail::reader_context ctx("request", found, no_environment);
    std::vector<std::string_view> names;
    for (auto&& [k, v] : sinks) names.push_back(k.str());
    for (auto&& [k, v] : sinks) {
        if (!v.is_table()) {
            errors.push_back("sink '" + std::string(k.str()) + "' must be an object");
            continue;
        }
        d.sinks.push_back(sluice::config::detail::read_sink(k.str(), *v.as_table(), names, ctx));
    }
    sluice::config::pipeline_config c;
    c.sinks = d.sinks;
    sluice::config::detail::check_dead_letter_cycles(c, &sinks, ctx);
    for (auto& e : found) errors.push_back(std::move(e.message));
}

/// A firehose name: what names a sink of the configuration may be, so it can label metrics and folders.
inline bool valid_firehose_name(std::string_view n) {
    if (n.empty() || n.size() > 64) return false;
    for (char c : n)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
    return n.front() != '-';
}

} // namespace detail

/// Reads a create request's body (see the top).
inline firehose_parse parse_firehose(std::string_view body) {
    firehose_parse out;
    auto& errors = out.errors;
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    simdjson::dom::object object;
    if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS || root.get_object().get(object) != simdjson::SUCCESS) {
        errors.push_back("the body must be a JSON object");
        return out;
    }
    firehose_definition d;
    std::string_view name;
    if (object["name"].get_string().get(name) != simdjson::SUCCESS) errors.push_back("'name' (a string) is required");
    else if (!detail::valid_firehose_name(name))
        errors.push_back("'name' must be 1 to 64 letters, digits, '_' or '-' (not starting with '-')");
    d.name = name;
    for (auto [k, v] : object)
        if (k != "name" && k != "sinks" && k != "buffer_count_limit" && k != "buffer_size_limit_mb" && k != "buffer_time_limit")
            errors.push_back("unknown field '" + std::string(k) +
                             "' (expected name, sinks, buffer_count_limit, buffer_size_limit_mb, buffer_time_limit)");
    simdjson::dom::element sinks;
    if (object["sinks"].get(sinks) != simdjson::SUCCESS || !sinks.is_object() || simdjson::dom::object(sinks).size() == 0) {
        errors.push_back("'sinks' (an object of at least one sink, as in the configuration file's [sinks.NAME]) is required");
    } else {
        toml::table holder;
        if (detail::to_toml(sinks, "sinks", holder, errors))
            detail::read_sinks(*holder.get_as<toml::table>("sinks"), d, errors);
    }
    detail::apply_buffer_limits(object, d, errors);
    if (!errors.empty()) return out;
    d.json = simdjson::minify(root);
    out.definition = std::move(d);
    return out;
}

} // namespace sluiced
