#pragma once

// The running sources of sluiced, each startable and stoppable on its own (a reload restarts only the
// sources it changed): an HTTP source is a router with the API mounted and an http::server; a line
// source (stdin, a tailed file) a task feeding its queue until it ends or is stopped.

#include <functional>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <sluice/config/pipeline_config.hpp>
#include <sluice/core/async_scope.hpp>
#include <sluice/core/event.hpp>
#include <sluice/http/router.hpp>
#include <sluice/http/server.hpp>

#include "queues.hpp"
#include "sources.hpp"

namespace sluiced {

/// Every running source, by name.
class source_set {
public:
    /// Mounts the API of an HTTP source on its router.
    using mount_fn = std::function<void(sluice::http::router&, const sluice::config::source_config&)>;

    source_set(sluice::io_loop& loop, sluice::metrics_registry& metrics, const sluice::logger& log, mount_fn mount,
               std::function<void()> on_finite_sources_ended)
        : loop_(loop), metrics_(metrics), log_(log), mount_(std::move(mount)), on_ended_(std::move(on_finite_sources_ended)) {}

    source_set(const source_set&) = delete;
    source_set& operator=(const source_set&) = delete;

    /// Starts source `s`, feeding `queue` (line sources). Throws what binding an HTTP server throws.
    void start(const sluice::config::source_config& s, queue_runner* queue) {
        auto made = std::make_unique<running_source>();
        running_source& r = *made;
        r.config = s;
        if (const auto* h = std::get_if<sluice::config::http_source>(&s.kind)) {
            r.routes = std::make_unique<sluice::http::router>();
            mount_(*r.routes, s);
            sluice::http::server_options o;
            o.address = h->address.value;
            o.port = h->port;
            o.log = &log_;
            r.server = std::make_unique<sluice::http::server>(loop_, r.routes->as_handler(), std::move(o));
            r.server->start();
            log_.info("sluiced", "source '" + s.name + "' listening on " + r.server->url());
            r.ended.set();
            running_[s.name] = std::move(made);
            return;
        }
        r.feeder = std::make_unique<line_feeder>(s.name, publisher_for(s, queue), metrics_, log_);
        r.finite = std::holds_alternative<sluice::config::stdin_source>(s.kind);
        running_[s.name] = std::move(made); // first: a source may end before spawn() returns
        scope_.spawn(run_line_source(r));
    }

    /// Stops source `name` (an HTTP source lets requests under way finish) and forgets it.
    sluice::task<void> stop(std::string name) {
        auto it = running_.find(name);
        if (it == running_.end()) co_return;
        std::unique_ptr<running_source> r = std::move(it->second);
        running_.erase(it);
        if (r->server) co_await r->server->stop(std::chrono::seconds(2));
        r->stop.request_stop();
        co_await r->ended.wait();
    }

    /// Stops every source.
    sluice::task<void> stop_all() {
        std::vector<std::string> names;
        for (const auto& [name, r] : running_) names.push_back(name);
        for (auto& n : names) co_await stop(n);
        co_await scope_.join();
    }

    /// True when source `name` runs.
    [[nodiscard]] bool running(const std::string& name) const { return running_.count(name) != 0; }

    /// True when only finite sources were configured and all of them ended.
    [[nodiscard]] bool only_finished_finite_sources() const {
        if (running_.empty()) return false;
        for (const auto& [name, r] : running_)
            if (!r->finite || !r->ended.is_set()) return false;
        return true;
    }

private:
    struct running_source {
        sluice::config::source_config config;
        std::unique_ptr<sluice::http::router> routes;
        std::unique_ptr<sluice::http::server> server;
        std::unique_ptr<line_feeder> feeder;
        std::stop_source stop;
        sluice::async_event ended;
        bool finite = false;
    };

    sluice::task<void> run_line_source(running_source& r) {
        if (r.finite) {
            co_await read_stdin(loop_, *r.feeder, r.stop.get_token());
        } else {
            const auto& file = std::get<sluice::config::file_source>(r.config.kind);
            co_await tail_file(loop_, file.path.value, file.from_beginning, *r.feeder, log_, r.stop.get_token());
        }
        const bool ended_by_itself = r.finite && !r.stop.stop_requested();
        r.ended.set(); // may resume stop(), which destroys `r`: nothing of it is touched after this
        if (ended_by_itself && only_finished_finite_sources()) on_ended_();
    }

    /// Publishes a source's records into its queue, under its topic.
    static publish_fn publisher_for(const sluice::config::source_config& s, queue_runner* q) {
        std::optional<std::string> topic = s.topic;
        return [q, topic](std::string json) -> sluice::task<bool> {
            auto p = topic ? sluice::payload<std::string>::to_topics(std::move(json), sluice::string_list(*topic))
                           : sluice::payload<std::string>::broadcast(std::move(json));
            co_return co_await q->publish(std::move(p));
        };
    }

    sluice::io_loop& loop_;
    sluice::metrics_registry& metrics_;
    const sluice::logger& log_;
    mount_fn mount_;
    std::function<void()> on_ended_;
    std::map<std::string, std::unique_ptr<running_source>> running_;
    sluice::async_scope scope_;
};

} // namespace sluiced
