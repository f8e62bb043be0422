#pragma once

// What a reload (SIGHUP) restarts: the parts of the running configuration that the new file changes or
// removes, and everything that depends on them, so that nothing keeps a reference to a part being
// replaced. Everything else keeps running, its buffers and connections untouched.
//
//   a sink: changed or removed, or its dead-letter sink is restarted (it holds a pointer to it)
//   a queue: changed or removed, or a route names a restarted sink (its collectors hold the sinks)
//   a source: changed or removed; a line source also when its queue is restarted (it feeds it);
//             an HTTP source finds pipelines by name at each request, so only its own changes count
//
// After stopping those, the service starts whatever the new file names that is not running.

#include <algorithm>
#include <set>
#include <string>

#include <sluice/config/pipeline_config.hpp>

namespace sluiced {

/// The names to stop before the new configuration's missing parts are started.
struct reload_plan {
    std::set<std::string> sinks;
    std::set<std::string> queues;
    std::set<std::string> sources;

    /// True when the new file changes nothing that runs.
    [[nodiscard]] bool empty() const noexcept { return sinks.empty() && queues.empty() && sources.empty(); }
};

/// The plan from `running` to `next`.
inline reload_plan plan_reload(const sluice::config::pipeline_config& running, const sluice::config::pipeline_config& next) {
    reload_plan plan;
    for (const auto& s : running.sinks) {
        const auto* n = next.find_sink(s.name);
        if (!n || !(*n == s)) plan.sinks.insert(s.name);
    }
    for (bool grew = true; grew;) { // dead letters chain: restart whatever points at a restarted sink
        grew = false;
        for (const auto& s : running.sinks)
            if (s.delivery.dead_letter && plan.sinks.count(*s.delivery.dead_letter) && plan.sinks.insert(s.name).second) grew = true;
    }
    for (const auto& q : running.queues) {
        const auto* n = next.find_queue(q.name);
        const bool uses_restarted = std::any_of(q.routes.begin(), q.routes.end(), [&](const auto& r) {
            return std::any_of(r.sinks.begin(), r.sinks.end(), [&](const auto& s) { return plan.sinks.count(s) != 0; });
        });
        if (!n || !(*n == q) || uses_restarted) plan.queues.insert(q.name);
    }
    for (const auto& s : running.sources) {
        const auto it = std::find_if(next.sources.begin(), next.sources.end(), [&](const auto& n) { return n.name == s.name; });
        const bool line_source = !std::holds_alternative<sluice::config::http_source>(s.kind);
        if (it == next.sources.end() || !(*it == s) || (line_source && plan.queues.count(s.queue))) plan.sources.insert(s.name);
    }
    return plan;
}

} // namespace sluiced
