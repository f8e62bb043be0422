#pragma once

// What sluiced says about its pipelines: one pipeline as JSON (the list and stats routes), and every
// pipeline as the library's service_status describes them (/status.json, which the status page reads
// next to /metrics). Names, types, counters and
// the last error's message only: never a record, never a credential.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <vector>

#include <sluice/metrics/service_status.hpp>
#include <sluice/text/json_escape.hpp>

#include "service.hpp"

namespace sluiced {

namespace detail {

inline void append_field(std::string& out, std::string_view key, std::uint64_t v) {
    out += '"';
    out += key;
    out += "\":" + std::to_string(v);
}

inline void append_sink(std::string& out, const sink_runner& s, bool stats) {
    out += "{\"name\":";
    sluice::text::append_json_string(out, s.name());
    out += ",\"type\":";
    sluice::text::append_json_string(out, s.type());
    out += ",\"dead_letter\":";
    if (s.dead_letter()) sluice::text::append_json_string(out, s.dead_letter()->name());
    else out += "null";
    if (stats) {
        out += ',';
        append_field(out, "delivered", s.delivered());
        out += ',';
        append_field(out, "failed", s.failed());
    }
    out += ",\"last_error\":";
    if (const auto& e = s.last_failure()) {
        out += "{\"message\":";
        sluice::text::append_json_string(out, e->message);
        char at[32];
        out += ",\"at\":\"";
        out += sluice::text::format_rfc3339_utc(e->at, at);
        out += "\"}";
    } else {
        out += "null";
    }
    out += '}';
}

inline void append_queue_stats(std::string& out, const sluice::queue_stats& q) {
    const std::pair<std::string_view, std::uint64_t> fields[] = {{"accepted", q.accepted}, {"rejected", q.rejected},
                                                                 {"processed", q.processed}, {"failed", q.failed},
                                                                 {"unrouted", q.unrouted}, {"pending", q.pending}};
    out += '{';
    for (const auto& [key, value] : fields) {
        if (out.back() != '{') out += ',';
        append_field(out, key, value);
    }
    out += '}';
}

} // namespace detail

/// One pipeline: name, kind, queue, sources and sinks; with `stats`, the counters too.
inline std::string pipeline_json(const pipeline_view& p, bool stats) {
    std::string out = "{\"name\":";
    sluice::text::append_json_string(out, p.name);
    out += p.firehose ? ",\"kind\":\"firehose\"" : ",\"kind\":\"pipeline\"";
    out += ",\"queue\":";
    sluice::text::append_json_string(out, p.queue->name());
    out += ",\"sources\":[";
    for (std::size_t i = 0; i < p.sources.size(); ++i) {
        if (i) out += ',';
        sluice::text::append_json_string(out, p.sources[i]);
    }
    out += "],\"sinks\":[";
    for (std::size_t i = 0; i < p.sinks.size(); ++i) {
        if (i) out += ',';
        detail::append_sink(out, *p.sinks[i], stats);
    }
    out += ']';
    if (stats) {
        out += ",\"queue_stats\":";
        detail::append_queue_stats(out, p.queue->stats());
    }
    out += '}';
    return out;
}

/// The pipelines as /status.json describes them (metrics/service_status.hpp): the counters come from
/// /metrics, by each sink's and queue's name.
inline std::vector<sluice::pipeline_status> pipeline_statuses(service& svc) {
    std::vector<sluice::pipeline_status> out;
    for (const auto& p : svc.pipelines()) {
        sluice::pipeline_status ps;
        ps.name = p.name;
        ps.kind = p.firehose ? sluice::pipeline_kind::firehose : sluice::pipeline_kind::pipeline;
        ps.queue = p.queue->name();
        ps.sources = p.sources;
        for (const auto* s : p.sinks) {
            sluice::sink_status ss{s->name(), s->type(), {}, {}};
            if (s->dead_letter()) ss.dead_letter = s->dead_letter()->name();
            if (const auto& e = s->last_failure()) ss.last_error = sluice::sink_error{e->message, e->at};
            ps.sinks.push_back(std::move(ss));
        }
        out.push_back(std::move(ps));
    }
    return out;
}

} // namespace sluiced
