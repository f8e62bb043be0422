#pragma once

// The observability endpoints of a service built on sluice, mounted on any http::router (sluiced's,
// or a library user's own http::server):
//
//     GET /metrics      the registry in the Prometheus text format 0.0.4
//     GET /health       {"status":"ok"}
//     GET /status.json  service_status (metrics/service_status.hpp): the pipelines, their sinks, their
//                       dead-letter sinks and last errors, from the service's callback
//     GET /             a live status page (one self-contained HTML document) reading the two above
//
//     metrics_registry registry;              // handed to queues and pipelines as their `metrics`
//     http::router routes;
//     add_observability_routes(routes, registry, {.pipelines = [&] { return describe_pipelines(); }});
//     http::server server(loop, routes.as_handler());
//
// With a prefix ("/ops") the routes are /ops/metrics, /ops/health, /ops/status.json and the page at
// /ops/ (/ops redirects there); the page fetches relative URLs, so it works under any prefix.
// Handlers run on the server's loop: the callback is called there, once per GET /status.json.
// Every answer is `Cache-Control: no-store`; the page forbids itself every other origin through its
// Content-Security-Policy (nothing external is loaded, nothing is sent elsewhere).

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/core/task.hpp>
#include <sluice/http/router.hpp>
#include <sluice/http/server_request.hpp>
#include <sluice/http/server_response.hpp>
#include <sluice/metrics/detail/status_page_html.hpp>
#include <sluice/metrics/metrics.hpp>
#include <sluice/metrics/service_status.hpp>

namespace sluice {

/// The Content-Type of GET /metrics: the Prometheus text exposition format 0.0.4.
inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

/// What add_observability_routes serves besides the registry.
struct observability_options {
    /// The service's name in /status.json and the page's title.
    std::string service = "sluiced";
    /// The version in /status.json.
    std::string version = version_string;
    /// When the service started: /status.json's started_at; uptime counts from it.
    std::chrono::system_clock::time_point started_at = std::chrono::system_clock::now();
    /// Describes the pipelines for /status.json (called on the server's loop, once per request);
    /// null: none.
    std::function<std::vector<pipeline_status>()> pipelines{};
    /// Mounts the routes under this path ("" or "/ops"; no trailing slash).
    std::string prefix{};
    /// Serves the status page at prefix + "/".
    bool status_page = true;
};

namespace detail {

/// The page's own policy: its inline style and script, requests to its own origin, nothing else.
inline constexpr std::string_view status_page_csp =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `r` with the headers every observability answer carries.
inline http::server_response uncached(http::server_response r) {
    r.headers.push_back({"Cache-Control", "no-store"});
    r.headers.push_back({"X-Content-Type-Options", "nosniff"});
    return r;
}

/// A response with `type` and `body`.
inline http::server_response typed_response(std::string_view type, std::string body) {
    http::server_response r;
    r.headers.push_back({"Content-Type", std::string(type)});
    r.body = std::move(body);
    return uncached(std::move(r));
}

/// The state the handlers share: the options, and the steady clock's reading at started_at (uptime
/// must not jump with the wall clock).
struct observability_state {
    observability_options options;
    std::chrono::steady_clock::time_point started_steady;

    explicit observability_state(observability_options o) : options(std::move(o)) {
        const auto already = std::chrono::system_clock::now() - options.started_at;
        started_steady = std::chrono::steady_clock::now() -
                         std::chrono::duration_cast<std::chrono::steady_clock::duration>(already);
    }

    [[nodiscard]] service_status status() const {
        service_status s;
        s.service = options.service;
        s.version = options.version;
        s.started_at = options.started_at;
        const auto up = std::chrono::steady_clock::now() - started_steady;
        s.uptime = std::max(std::chrono::milliseconds{0}, std::chrono::duration_cast<std::chrono::milliseconds>(up));
        if (options.pipelines) s.pipelines = options.pipelines();
        return s;
    }
};

} // namespace detail

/// Adds GET /metrics, /health, /status.json and / (see the file comment) to `routes`. `registry`
/// must outlive the router's use. Throws std::invalid_argument for a prefix that does not start with
/// '/' or ends with one, or when one of the paths is routed already.
inline void add_observability_routes(http::router& routes, metrics_registry& registry, observability_options options = {}) {
    const std::string prefix = options.prefix;
    if (!prefix.empty() && (prefix.front() != '/' || prefix.back() == '/'))
        throw std::invalid_argument("add_observability_routes: prefix '" + prefix + "' must start with '/' and not end with one");
    const bool page = options.status_page;
    auto state = std::make_shared<const detail::observability_state>(std::move(options));

    routes.get(prefix + "/metrics", [&registry](http::server_request&) -> task<http::server_response> {
        co_return detail::typed_response(prometheus_content_type, registry.render_prometheus());
    });
    routes.get(prefix + "/health", [](http::server_request&) -> task<http::server_response> {
        co_return detail::typed_response("application/json", "{\"status\":\"ok\"}");
    });
    routes.get(prefix + "/status.json", [state](http::server_request&) -> task<http::server_response> {
        co_return detail::typed_response("application/json", to_json(state->status()));
    });
    if (!page) return;
    routes.get(prefix + "/", [](http::server_request&) -> task<http::server_response> {
        http::server_response r = detail::typed_response("text/html; charset=utf-8", std::string(detail::status_page_html));
        r.headers.push_back({"Content-Security-Policy", std::string(detail::status_page_csp)});
        r.headers.push_back({"Referrer-Policy", "no-referrer"});
        co_return r;
    });
    if (prefix.empty()) return;
    routes.get(prefix, [prefix](http::server_request&) -> task<http::server_response> {
        http::server_response r = detail::uncached(http::server_response{});
        r.status = 308;
        r.headers.push_back({"Location", prefix + "/"});
        co_return r;
    });
}

} // namespace sluice
