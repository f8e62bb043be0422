#pragma once

// The MiniFirehose HTTP API of sluiced, on the library's http::server and router. Every pipeline is
// addressable by name: the queues of the configuration file and the firehoses created here.
//
//   POST   /minifirehoses                 create a firehose (firehose_definition.hpp has the body)
//   GET    /minifirehoses                 list pipelines and firehoses
//   DELETE /minifirehoses/{name}          flush, stop and remove a firehose
//   POST   /minifirehoses/{name}/message  one JSON message, a JSON array of them, or NDJSON
//                                         (Content-Type: application/x-ndjson); ?wait=false answers
//                                         202 once queued, ?key=K and ?topic=T select key and topic routes
//   GET    /minifirehoses/{name}/stats    counters, per sink
//   POST   /message                       the HTTP source's own queue (and topic)
//   GET    /openapi.json                  the OpenAPI 3 document of all of this
//   GET    /, /metrics, /health, /status.json   the status page and what it reads (metrics/status_page.hpp)
//
// With a bearer token configured, every API route needs `Authorization: Bearer <token>`; the
// read-only observability routes do not (they hold no record and no secret).
// Errors are JSON with a reason; no message body and no credential is ever echoed.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include <sluice/http/json_body.hpp>
#include <sluice/http/router.hpp>
#include <sluice/http/server_request.hpp>
#include <sluice/http/server_response.hpp>
#include <sluice/metrics/status_page.hpp>
#include <sluice/text/json_escape.hpp>

#include "openapi.hpp"
#include "service.hpp"
#include "status.hpp"

namespace sluiced {

namespace detail {

using sluice::http::server_request;
using sluice::http::server_response;
using handler = sluice::http::router::handler;

/// The messages of a request body, each checked JSON; or the reason the body is refused.
struct message_batch {
    std::vector<std::string> records;
    bool single = false; ///< one JSON value (not an array, not NDJSON)
    std::string error;
};

inline message_batch split_messages(const server_request& r) {
    message_batch out;
    thread_local simdjson::dom::parser parser;
    const auto type = r.header("content-type").value_or("application/json");
    const std::string_view bare = type.substr(0, type.find(';'));
    if (bare == "application/x-ndjson" || bare == "application/jsonl") {
        std::string_view rest = r.body;
        for (std::size_t line = 1; !rest.empty(); ++line) {
            const std::size_t nl = rest.find('\n');
            std::string_view text = rest.substr(0, nl);
            rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
            if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
            if (text.find_first_not_of(" \t") == std::string_view::npos) continue;
            simdjson::dom::element e;
            if (parser.parse(text.data(), text.size()).get(e) != simdjson::SUCCESS) {
                out.error = "line " + std::to_string(line) + " is not JSON";
                return out;
            }
            out.records.emplace_back(text);
        }
        return out;
    }
    if (!sluice::http::json_body_parser::is_json_type(type)) {
        out.error = "Content-Type must be application/json or application/x-ndjson";
        return out;
    }
    simdjson::dom::element root;
    if (parser.parse(r.body).get(root) != simdjson::SUCCESS) {
        out.error = "the body is not JSON";
        return out;
    }
    simdjson::dom::array many;
    if (root.get_array().get(many) == simdjson::SUCCESS) {
        for (auto e : many) out.records.push_back(simdjson::minify(e));
    } else {
        out.single = true;
        out.records.push_back(simdjson::minify(root));
    }
    return out;
}

/// {"error": reason} with `status`.
inline server_response error(int status, std::string_view reason) { return server_response::error(status, reason); }

/// True when `a` equals `b`, in time that depends only on their lengths.
inline bool same_secret(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    unsigned char d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
    return d == 0;
}

/// `h`, refusing requests without the bearer token (when there is one).
inline handler guarded(std::shared_ptr<const std::string> token, handler h) {
    if (!token) return h;
    return [token, h = std::move(h)](server_request& r) -> sluice::task<server_response> {
        const auto auth = r.header("authorization").value_or("");
        const bool ok = auth.size() > 7 && auth.substr(0, 7) == "Bearer " && same_secret(auth.substr(7), *token);
        if (!ok) {
            auto refused = error(401, "a bearer token is required (Authorization: Bearer <token>)");
            refused.add_header("WWW-Authenticate", "Bearer");
            co_return refused;
        }
        co_return co_await h(r);
    };
}

/// Queues every record of `batch` into `p` and, unless told not to wait, answers with the outcomes.
inline sluice::task<server_response> deliver_batch(pipeline_view p, message_batch batch, std::optional<std::string> key,
                                                   std::optional<std::string> topic, const server_request& r) {
    const auto wait = r.query_param("wait");
    const bool waiting = !(wait && (*wait == "false" || *wait == "0"));
    std::vector<queue_runner::event_type> events;
    events.reserve(batch.records.size());
    for (auto& record : batch.records) {
        sluice::payload<std::string> payload = sluice::payload<std::string>::broadcast(std::move(record));
        if (key) payload.keys.push_back(*key);
        if (topic) payload.topics.push_back(*topic);
        events.push_back(co_await p.queue->send(std::move(payload)));
    }
    if (!waiting) co_return server_response::json(202, "{\"queued\":" + std::to_string(events.size()) + "}");
    std::string errors;
    std::size_t failed = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const auto& results = co_await events[i].wait();
        bool ok = true;
        for (const auto& result : results) {
            if (result.is_ok()) continue;
            ok = false;
            errors += errors.empty() ? "" : ",";
            errors += "{\"index\":" + std::to_string(i) + ",\"sink\":";
            sluice::text::append_json_string(errors, result.source());
            errors += ",\"reason\":";
            sluice::text::append_json_string(errors, result.get_error().what());
            errors += '}';
        }
        failed += ok ? 0 : 1;
    }
    std::string body = "{\"accepted\":" + std::to_string(events.size() - failed) + ",\"failed\":" +
                       std::to_string(failed) + ",\"errors\":[" + errors + "]}";
    co_return server_response::json(batch.single && failed != 0 ? 502 : 200, std::move(body));
}

/// POST .../message for the pipeline `name`.
inline sluice::task<server_response> add_messages(service& svc, std::string name, server_request& r) {
    auto p = svc.find(name);
    if (!p) co_return error(404, "no pipeline or firehose called '" + name + "'");
    const auto key = r.query_param("key");
    const auto topic = r.query_param("topic");
    if ((key && key->find('\0') != std::string::npos) || (topic && topic->find('\0') != std::string::npos))
        co_return error(400, "key and topic must not contain NUL characters");
    message_batch batch = split_messages(r);
    if (!batch.error.empty()) co_return error(batch.error.starts_with("Content-Type") ? 415 : 400, batch.error);
    if (batch.records.empty()) co_return error(400, "the body holds no message");
    co_return co_await deliver_batch(std::move(*p), std::move(batch), key, topic, r);
}

inline sluice::task<server_response> create_firehose(service& svc, server_request& r) {
    auto parsed = parse_firehose(r.body);
    if (!parsed.definition) {
        std::string body = "{\"error\":\"invalid firehose definition\",\"errors\":[";
        for (std::size_t i = 0; i < parsed.errors.size(); ++i) {
            if (i) body += ',';
            sluice::text::append_json_string(body, parsed.errors[i]);
        }
        co_return server_response::json(400, body + "]}");
    }
    const std::string name = parsed.definition->name;
    const std::string why = co_await svc.firehoses().add(std::move(*parsed.definition));
    if (!why.empty()) co_return error(why.find("exists") != std::string::npos || why.find("names a") != std::string::npos ? 409 : 400, why);
    auto view = svc.find(name);
    co_return server_response::json(201, view ? pipeline_json(*view, false) : "{}");
}

inline sluice::task<server_response> delete_firehose(service& svc, std::string name, std::chrono::milliseconds grace) {
    if (!svc.firehoses().find(name)) {
        if (svc.find(name)) co_return error(409, "'" + name + "' is defined in the configuration file; it cannot be deleted here");
        co_return error(404, "no firehose called '" + name + "'");
    }
    const bool removed = co_await svc.firehoses().remove(name, grace);
    if (!removed) co_return error(404, "no firehose called '" + name + "'");
    std::string body = "{\"deleted\":";
    sluice::text::append_json_string(body, name);
    co_return server_response::json(200, body + "}");
}

inline sluice::task<server_response> list_pipelines(service& svc) {
    std::string body = "{\"minifirehoses\":[";
    bool first = true;
    for (const auto& p : svc.pipelines()) {
        body += first ? "" : ",";
        first = false;
        body += pipeline_json(p, false);
    }
    co_return server_response::json(200, body + "]}");
}

inline sluice::task<server_response> pipeline_stats(service& svc, std::string name) {
    auto p = svc.find(name);
    if (!p) co_return error(404, "no pipeline or firehose called '" + name + "'");
    co_return server_response::json(200, pipeline_json(*p, true));
}

} // namespace detail

/// Mounts the API on `routes` for the HTTP source `source` (its queue takes POST /message).
inline void add_api_routes(sluice::http::router& routes, service& svc, const sluice::config::source_config& source,
                           std::chrono::milliseconds delete_grace) {
    using detail::server_request;
    using detail::server_response;
    const auto& http = std::get<sluice::config::http_source>(source.kind);
    std::shared_ptr<const std::string> token;
    if (http.bearer_token) token = std::make_shared<const std::string>(http.bearer_token->value);
    service* s = &svc;
    const auto guard = [&](detail::handler h) { return detail::guarded(token, std::move(h)); };
    routes.post("/minifirehoses", guard([s](server_request& r) { return detail::create_firehose(*s, r); }));
    routes.get("/minifirehoses", guard([s](server_request&) { return detail::list_pipelines(*s); }));
    routes.del("/minifirehoses/{name}", guard([s, delete_grace](server_request& r) {
                   return detail::delete_firehose(*s, std::string(r.param("name")), delete_grace);
               }));
    routes.post("/minifirehoses/{name}/message",
                guard([s](server_request& r) { return detail::add_messages(*s, std::string(r.param("name")), r); }));
    routes.get("/minifirehoses/{name}/stats", guard([s](server_request& r) { return detail::pipeline_stats(*s, std::string(r.param("name"))); }));
    const std::string own_queue = source.queue;
    routes.post("/message", guard([s, own_queue](server_request& r) { return detail::add_messages(*s, own_queue, r); }));
    routes.get("/openapi.json", guard([](server_request&) -> sluice::task<server_response> {
                   co_return server_response::json(200, std::string(openapi_document));
               }));
    // /metrics, /health, /status.json and the status page at /: read-only, no record bodies or
    // secrets, and open to whoever can reach the address (a browser or Prometheus without the token).
    sluice::observability_options observe;
    observe.started_at = svc.started_at();
    observe.pipelines = [s] { return pipeline_statuses(*s); };
    sluice::add_observability_routes(routes, svc.metrics(), std::move(observe));
}

} // namespace sluiced
