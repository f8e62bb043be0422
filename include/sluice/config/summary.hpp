#pragma once

// A short, human summary of a configuration (what `sluiced validate` prints for a valid file): names,
// types and how they connect. No option value that could be a secret: only names, types, topics,
// keys and fields (which the file spells out and never takes from the environment), and the HTTP
// listener's address when it is not a secret.

#include <string>

#include <sluice/config/pipeline_config.hpp>

namespace sluice::config {

namespace detail {

/// "1 sink", "3 sinks".
[[nodiscard]] inline std::string counted(std::size_t n, std::string_view noun) {
    return std::to_string(n) + ' ' + std::string(noun) + (n == 1 ? "" : "s");
}

/// What a route matches, as the summary says it.
[[nodiscard]] inline std::string route_match(const route_config& r) {
    switch (r.by) {
    case route_kind::key: return "key '" + r.key + "'";
    case route_kind::topic: return "topic '" + r.topic + "'";
    case route_kind::broadcast: return "every record";
    case route_kind::field: return "field '" + r.field + "' = '" + r.topic + "'";
    }
    return {};
}

} // namespace detail

/// Several lines: the counts, then each source, queue (with its routes) and sink.
[[nodiscard]] inline std::string describe(const pipeline_config& c) {
    std::string out = detail::counted(c.sources.size(), "source") + ", " + detail::counted(c.queues.size(), "queue") +
                      ", " + detail::counted(c.sinks.size(), "sink") + '\n';
    for (const auto& s : c.sources) {
        out += "source " + s.name + ": " + std::string(type_name(s));
        if (const auto* h = std::get_if<http_source>(&s.kind))
            out += " on " + std::string(h->address.shown()) + ':' + std::to_string(h->port) +
                   (h->bearer_token ? " (bearer token)" : "");
        out += " -> queue " + s.queue + (s.topic ? " (topic '" + *s.topic + "')" : std::string()) + '\n';
    }
    for (const auto& q : c.queues) {
        out += "queue " + q.name + ": " + std::string(to_string(q.discipline)) + ", " +
               detail::counted(q.routes.size(), "route") + '\n';
        for (const auto& r : q.routes) {
            out += "  " + detail::route_match(r) + " ->";
            for (const auto& sink : r.sinks) out += ' ' + sink;
            out += '\n';
        }
    }
    for (const auto& s : c.sinks) {
        out += "sink " + s.name + ": " + std::string(type_name(s));
        if (const auto* o = std::get_if<file_sink>(&s.options)) out += " (" + std::string(to_string(o->format)) + ')';
        if (const auto* o = std::get_if<s3_sink>(&s.options)) out += " (" + std::string(to_string(o->format)) + ')';
        if (const auto* o = std::get_if<opensearch_sink_config>(&s.options))
            out += " (index '" + o->index + "', " + (o->create ? "create" : "index") + ')';
        if (const auto* o = std::get_if<http_sink_config>(&s.options)) {
            constexpr std::string_view framings[] = {"ndjson", "json_array", "single"};
            out += " (" + o->method + ", " + std::string(framings[static_cast<int>(o->framing)]) + ')';
        }
        if (s.delivery.buffer.type == buffer_type::disk) out += ", disk buffer";
        if (s.delivery.dead_letter) out += ", dead letters to " + *s.delivery.dead_letter;
        out += '\n';
    }
    return out;
}

} // namespace sluice::config
