#pragma once

// The collector queues of sluiced: one collector_queue per [queues.NAME], one collector per sink its
// routes name, and a router that applies the routes in file order (by key, by topic, broadcast, or by
// a field of the record). A collector hands its record to its sink and releases its consumer at once,
// so a slow acknowledgement holds a slot of the queue's capacity, never a consumer; the payload's
// result_list still says, per sink, how it went.

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <simdjson.h>

#include <sluice/config/pipeline_config.hpp>
#include <sluice/queue/collector_queue.hpp>

#include "sink_runner.hpp"

namespace sluiced {

/// A queue's routes, compiled against its collectors (one per sink, in first-use order).
class config_router {
public:
    /// One route and the collectors it reaches.
    struct compiled_route {
        sluice::config::route_config route;
        std::vector<std::uint32_t> collectors;
    };

    config_router() = default;
    /// Compiles `routes`; `index_of` gives a sink's collector index.
    template <class IndexOf>
    config_router(const std::vector<sluice::config::route_config>& routes, IndexOf index_of) {
        for (const auto& r : routes) {
            compiled_route c{r, {}};
            for (const auto& s : r.sinks) c.collectors.push_back(index_of(s));
            routes_.push_back(std::move(c));
        }
    }

    /// Adds the collectors of every route the payload matches; notes a payload no route matches.
    void route(const sluice::payload<std::string>& p, const sluice::route_table&, sluice::route_targets& out) const {
        parsed_record doc;
        for (const auto& r : routes_) {
            if (!matches(r.route, p, doc)) continue;
            for (auto i : r.collectors) out.add(i);
        }
        if (out.empty()) out.note_unrouted();
    }

private:
    /// The record parsed once, by the first field route that needs it.
    struct parsed_record {
        bool tried = false;
        bool object = false;
        simdjson::dom::element root;
    };

    bool matches(const sluice::config::route_config& r, const sluice::payload<std::string>& p, parsed_record& doc) const {
        using sluice::config::route_kind;
        switch (r.by) {
        case route_kind::broadcast: return true;
        case route_kind::key: return p.keys.contains(r.key);
        case route_kind::topic: return p.topics.contains(r.topic);
        case route_kind::field: break;
        }
        if (!doc.tried) {
            doc.tried = true;
            doc.object = parser().parse(p.value).get(doc.root) == simdjson::SUCCESS && doc.root.is_object();
        }
        if (!doc.object) return false;
        simdjson::dom::element v;
        if (doc.root.at_key(r.field).get(v) != simdjson::SUCCESS) return false;
        std::string_view s;
        if (v.get_string().get(s) == simdjson::SUCCESS) return s == r.topic;
        // Numbers and booleans match their JSON text ("tenant": 7 matches topic "7").
        return simdjson::minify(v) == r.topic;
    }

    static simdjson::dom::parser& parser() {
        thread_local simdjson::dom::parser p;
        return p;
    }

    std::vector<compiled_route> routes_;
};

/// One running queue, whatever its discipline.
class queue_runner {
public:
    using event_type = sluice::collector_event<void>;
    virtual ~queue_runner() = default;
    /// Its name.
    [[nodiscard]] virtual const std::string& name() const noexcept = 0;
    /// The sinks its routes reach, in collector order.
    [[nodiscard]] virtual const std::vector<std::string>& sinks() const noexcept = 0;
    /// Starts it. On the loop.
    virtual sluice::task<void> start() = 0;
    /// Sends one record (suspends while the queue is full); the event resolves with one result per sink.
    virtual sluice::task<event_type> send(sluice::payload<std::string> p) = 0;
    /// Sends one record without waiting for its results (suspends while the queue is full); its
    /// failures are logged by the queue. False when the queue refused it (stopped).
    virtual sluice::task<bool> publish(sluice::payload<std::string> p) = 0;
    /// Stops it: drains for up to `grace`. On the loop.
    virtual sluice::task<sluice::stop_report> stop(std::chrono::milliseconds grace) = 0;
    /// Its counters.
    [[nodiscard]] virtual sluice::queue_stats stats() const = 0;
};

namespace detail {

template <sluice::queue_discipline D>
class queue_runner_of final : public queue_runner {
    using queue_type = sluice::collector_queue<std::string, void, D, config_router>;

public:
    queue_runner_of(sluice::io_loop& loop, std::vector<sluice::collector<std::string>> collectors,
                    sluice::queue_options o, config_router router, std::vector<std::string> sinks)
        : name_(o.name), sinks_(std::move(sinks)), queue_(loop, std::move(collectors), std::move(o), std::move(router)) {}

    const std::string& name() const noexcept override { return name_; }
    const std::vector<std::string>& sinks() const noexcept override { return sinks_; }
    sluice::task<void> start() override { co_await queue_.start(); }
    sluice::task<event_type> send(sluice::payload<std::string> p) override {
        auto publisher = queue_.get_publisher();
        co_return co_await publisher.send(std::move(p));
    }
    sluice::task<bool> publish(sluice::payload<std::string> p) override {
        auto publisher = queue_.get_publisher();
        co_return co_await publisher.publish(std::move(p));
    }
    sluice::task<sluice::stop_report> stop(std::chrono::milliseconds grace) override { co_return co_await queue_.stop(grace); }
    sluice::queue_stats stats() const override { return queue_.stats(); }

private:
    std::string name_;
    std::vector<std::string> sinks_;
    queue_type queue_;
};

/// The collector that hands a queue's records to one sink.
inline sluice::collector<std::string> collector_for(sink_runner& sink) {
    return sluice::collector<std::string>{
        sink.name(), [&sink](const sluice::payload<std::string>& p, sluice::collector_context& ctx) -> sluice::task<void> {
            std::string json = p.value; // each sink gets its own copy: sinks consume their records
            ctx.release_consumer();
            co_await sink.deliver(std::move(json));
        }};
}

} // namespace detail

/// The queue `q`, its collectors delivering to the runners `sink_of` finds by name.
template <class SinkOf>
std::unique_ptr<queue_runner> make_queue(sluice::io_loop& loop, const sluice::config::queue_config& q, SinkOf sink_of,
                                         sluice::metrics_registry& metrics, const sluice::logger& log) {
    std::vector<std::string> names;
    std::vector<sluice::collector<std::string>> collectors;
    auto index_of = [&](const std::string& sink) {
        for (std::size_t i = 0; i < names.size(); ++i)
            if (names[i] == sink) return static_cast<std::uint32_t>(i);
        names.push_back(sink);
        collectors.push_back(detail::collector_for(sink_of(sink)));
        return static_cast<std::uint32_t>(names.size() - 1);
    };
    config_router router(q.routes, index_of);
    sluice::queue_options o;
    o.name = q.name;
    if (q.min_consumers) o.min_consumers = *q.min_consumers;
    if (q.max_consumers) o.max_consumers = *q.max_consumers;
    // Released calls are bounded by the capacity: an unbounded queue would let memory grow without end.
    o.capacity = q.capacity.value_or(std::size_t{1} << 16);
    o.metrics = &metrics;
    o.log = &log;
    using sluice::queue_discipline;
    switch (q.discipline) {
    case queue_discipline::lifo:
        return std::make_unique<detail::queue_runner_of<queue_discipline::lifo>>(loop, std::move(collectors), std::move(o),
                                                                                 std::move(router), std::move(names));
    case queue_discipline::priority:
        return std::make_unique<detail::queue_runner_of<queue_discipline::priority>>(
            loop, std::move(collectors), std::move(o), std::move(router), std::move(names));
    case queue_discipline::fifo: break;
    }
    return std::make_unique<detail::queue_runner_of<queue_discipline::fifo>>(loop, std::move(collectors), std::move(o),
                                                                             std::move(router), std::move(names));
}

} // namespace sluiced
