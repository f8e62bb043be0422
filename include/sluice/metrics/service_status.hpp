#pragma once

// service_status: what a service built on sluice says about itself at GET /status.json, the document
// the status page (metrics/status_page.hpp) reads next to /metrics. The service describes its
// pipelines (names, sources, sinks, dead-letter sinks, each sink's last error); the numbers come from
// /metrics, where each sink's series carry name=<sink name>. The JSON, field by field:
//
//   {"service":"sluiced","version":"0.1.0","started_at":"2025-01-02T03:04:05.678Z","uptime_seconds":12.5,
//    "pipelines":[{"name":"orders","kind":"pipeline","queue":"orders","sources":["http"],
//      "sinks":[{"name":"orders-sqs","type":"sqs","dead_letter":"orders-dlq",
//                "last_error":{"message":"throttled","at":"2025-01-02T03:04:06.000Z"}}]}]}
//
// "kind" is "pipeline" or "firehose"; "dead_letter" and "last_error" are null when there is none.
// Times are RFC 3339 in UTC with milliseconds.

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sluice/text/rfc3339.hpp>
#include <sluice/text/json_writer.hpp>
#include <sluice/version.hpp>

namespace sluice {

/// A sink's most recent failure: what it was and when.
struct sink_error {
    /// Why (no record bodies or credentials: the page shows it to whoever can reach it).
    std::string message;
    /// When it happened.
    std::chrono::system_clock::time_point at{};
};

/// One sink of a pipeline.
struct sink_status {
    /// The sink's name: the `name` label of its series in /metrics.
    std::string name;
    /// What it delivers to: "sqs", "kinesis", "file", ...
    std::string type;
    /// The sink that takes its dead letters, if any.
    std::optional<std::string> dead_letter{};
    /// Its last failure, if any.
    std::optional<sink_error> last_error{};
};

/// Whether a pipeline comes from the configuration or was created over the MiniFirehose API.
enum class pipeline_kind { pipeline, firehose };

/// "pipeline" or "firehose".
[[nodiscard]] constexpr std::string_view to_string(pipeline_kind kind) noexcept {
    return kind == pipeline_kind::firehose ? "firehose" : "pipeline";
}

/// One pipeline or firehose: where its events come from, the queue they pass and the sinks they reach.
struct pipeline_status {
    /// The pipeline's (or firehose's) name.
    std::string name;
    /// Configured, or created over the API.
    pipeline_kind kind = pipeline_kind::pipeline;
    /// The `name` label of its queue's series in /metrics (empty: no queue).
    std::string queue{};
    /// The names of its sources.
    std::vector<std::string> sources{};
    /// Its sinks.
    std::vector<sink_status> sinks{};
};

/// The whole /status.json document.
struct service_status {
    /// The service's name.
    std::string service = "sluiced";
    /// Its version (sluice's, by default).
    std::string version = version_string;
    /// When it started.
    std::chrono::system_clock::time_point started_at{};
    /// How long it has been running (written in seconds, milliseconds precise).
    std::chrono::milliseconds uptime{0};
    /// Its pipelines and firehoses.
    std::vector<pipeline_status> pipelines{};
};

namespace detail {

using sluice::text::format_rfc3339_utc;

/// The JSON of service_status, through either text:: emitter (sized once, then written).
class status_json_writer {
public:
    template <class Emitter>
    static void emit(Emitter& e, const service_status& s) {
        e.raw("{\"service\":");
        string(e, s.service);
        e.raw(",\"version\":");
        string(e, s.version);
        e.raw(",\"started_at\":");
        time(e, s.started_at);
        e.raw(",\"uptime_seconds\":");
        e.number(static_cast<double>(s.uptime.count()) / 1000.0);
        e.raw(",\"pipelines\":[");
        for (std::size_t i = 0; i < s.pipelines.size(); ++i) {
            if (i > 0) e.raw(",");
            pipeline(e, s.pipelines[i]);
        }
        e.raw("]}");
    }

private:
    template <class Emitter>
    static void pipeline(Emitter& e, const pipeline_status& p) {
        e.raw("{\"name\":");
        string(e, p.name);
        e.raw(",\"kind\":");
        string(e, to_string(p.kind));
        e.raw(",\"queue\":");
        string(e, p.queue);
        e.raw(",\"sources\":[");
        for (std::size_t i = 0; i < p.sources.size(); ++i) {
            if (i > 0) e.raw(",");
            string(e, p.sources[i]);
        }
        e.raw("],\"sinks\":[");
        for (std::size_t i = 0; i < p.sinks.size(); ++i) {
            if (i > 0) e.raw(",");
            sink(e, p.sinks[i]);
        }
        e.raw("]}");
    }

    template <class Emitter>
    static void sink(Emitter& e, const sink_status& s) {
        e.raw("{\"name\":");
        string(e, s.name);
        e.raw(",\"type\":");
        string(e, s.type);
        e.raw(",\"dead_letter\":");
        if (s.dead_letter) string(e, *s.dead_letter);
        else e.raw("null");
        e.raw(",\"last_error\":");
        if (s.last_error) {
            e.raw("{\"message\":");
            string(e, s.last_error->message);
            e.raw(",\"at\":");
            time(e, s.last_error->at);
            e.raw("}");
        } else {
            e.raw("null");
        }
        e.raw("}");
    }

    template <class Emitter>
    static void string(Emitter& e, std::string_view s) {
        e.raw("\"");
        e.escaped(s);
        e.raw("\"");
    }

    template <class Emitter>
    static void time(Emitter& e, std::chrono::system_clock::time_point at) {
        char buffer[32];
        string(e, format_rfc3339_utc(at, buffer));
    }
};

} // namespace detail

/// Appends `status` as the /status.json document (see the file comment) to `out`.
inline void append_json(std::string& out, const service_status& status) {
    text::append_exact(out, [&](auto& e) { detail::status_json_writer::emit(e, status); });
}

/// `status` as the /status.json document.
[[nodiscard]] inline std::string to_json(const service_status& status) {
    std::string out;
    append_json(out, status);
    return out;
}

} // namespace sluice
