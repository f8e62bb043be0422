#pragma once

// sluiced's service: the pipelines of a configuration (sinks, collector queues with their routes,
// sources) and the firehoses the HTTP API creates, all on one io_loop, built from the library's parts.
//
//   source (HTTP API, stdin, a tailed file) -> collector_queue (routes) -> collector per sink
//   -> sink_runner (AWS dispatcher, object engine, Pulsar pipeline) -> outcome -> result_list
//
// Start order: sinks, queues, firehoses persisted by an earlier run, HTTP servers, line sources.
// Stop (SIGTERM, SIGINT, or every finite source done): HTTP servers stop taking requests, sources
// stop, queues drain within the grace period, then sinks flush and stop (a dead-letter sink after the
// sinks that feed it). A reload (SIGHUP) restarts only what the new file changes (reload_plan.hpp).

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sluice/config/pipeline_config.hpp>
#include <sluice/core/async_scope.hpp>
#include <sluice/core/event.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/router.hpp>
#include <sluice/http/server.hpp>

#include "firehoses.hpp"
#include "queues.hpp"
#include "reload_plan.hpp"
#include "sinks.hpp"
#include "source_set.hpp"

namespace sluiced {

/// How the service runs (from the command line).
struct service_options {
    /// Journals, upload states, persisted firehoses.
    std::filesystem::path state_directory = "sluiced-state";
    /// How long a stop lets queues and sinks deliver what they hold.
    std::chrono::milliseconds grace{std::chrono::seconds(30)};
};

/// A queue and the sinks it feeds, as the API and the status page see it.
struct pipeline_view {
    std::string name;
    bool firehose = false;
    queue_runner* queue = nullptr;
    std::vector<sink_runner*> sinks;
    std::vector<std::string> sources;
    /// Keeps a firehose alive while a request uses it, even if it is deleted meanwhile.
    std::shared_ptr<void> keep_alive;
};

/// The whole service (see the top).
class service {
public:
    /// `mount` puts the API on each HTTP source's router.
    service(sluice::io_loop& loop, sluice::config::pipeline_config config, service_options options, const sluice::logger& log,
            source_set::mount_fn mount)
        : loop_(loop), config_(std::move(config)), options_(std::move(options)), log_(log), http_(loop),
          ctx_{loop, http_, metrics_, log_, options_.state_directory},
          firehoses_(ctx_, options_.state_directory / "firehoses"),
          sources_(loop, metrics_, log_, std::move(mount), [this] { request_stop(); }) {}

    service(const service&) = delete;
    service& operator=(const service&) = delete;

    /// The registry every component publishes to.
    [[nodiscard]] sluice::metrics_registry& metrics() noexcept { return metrics_; }
    [[nodiscard]] const sluice::logger& log() const noexcept { return log_; }
    [[nodiscard]] firehose_registry& firehoses() noexcept { return firehoses_; }
    [[nodiscard]] const sluice::config::pipeline_config& config() const noexcept { return config_; }
    /// When the service started.
    [[nodiscard]] std::chrono::system_clock::time_point started_at() const noexcept { return started_at_; }

    /// Makes and starts everything; throws what a component's construction or start throws.
    sluice::task<void> start() {
        started_at_ = std::chrono::system_clock::now();
        std::filesystem::create_directories(options_.state_directory);
        co_await start_missing();
        co_await firehoses_.load(reserved_names());
        start_missing_sources();
    }

    /// Applies `next`: stops what it changes or removes (reload_plan.hpp), then starts what is missing.
    /// Everything else keeps running. Throws what starting a new part throws (the parts already
    /// stopped stay stopped: the log says which).
    sluice::task<void> reload(sluice::config::pipeline_config next) {
        const reload_plan plan = plan_reload(config_, next);
        for (const auto& name : plan.sources) co_await sources_.stop(name);
        for (const auto& name : plan.queues) {
            std::shared_ptr<queue_runner> q = queues_.at(name);
            queues_.erase(name);
            (void)co_await q->stop(options_.grace);
        }
        std::vector<sink_runner*> stopping;
        for (const auto& name : plan.sinks) stopping.push_back(sinks_.at(name).get());
        co_await stop_sinks(stopping, options_.grace);
        for (const auto& name : plan.sinks) sinks_.erase(name);
        config_ = std::move(next);
        co_await start_missing();
        firehoses_.set_reserved(reserved_names());
        start_missing_sources();
        log_.info("sluiced", "reloaded: restarted " + std::to_string(plan.sinks.size()) + " sink(s), " +
                                 std::to_string(plan.queues.size()) + " queue(s), " + std::to_string(plan.sources.size()) +
                                 " source(s); the rest kept running");
    }

    /// Waits until stop is asked for (request_stop) or every source was finite and ended.
    sluice::task<void> wait() { co_await stop_requested_.wait(); }

    /// Asks the service to stop (from a signal, or when the sources ended).
    void request_stop() { stop_requested_.set(); }

    /// Stops everything in order (see the top).
    sluice::task<void> stop() {
        const auto deadline = std::chrono::steady_clock::now() + options_.grace;
        const auto left = [&] {
            return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                              deadline - std::chrono::steady_clock::now()));
        };
        co_await sources_.stop_all();
        for (auto& [name, q] : queues_) (void)co_await q->stop(left());
        co_await firehoses_.stop_all(left());
        std::vector<sink_runner*> all;
        for (auto& [name, s] : sinks_) all.push_back(s.get());
        co_await stop_sinks(all, left());
    }

    /// Every pipeline (configured queues, then firehoses), for the API and the status page.
    [[nodiscard]] std::vector<pipeline_view> pipelines() {
        std::vector<pipeline_view> out;
        for (const auto& [name, q] : queues_) out.push_back(view_of(q));
        for (const auto& f : firehoses_.all()) out.push_back(view_of(f));
        return out;
    }

    /// The pipeline called `name`, if any (once per message request: only its own view is built).
    [[nodiscard]] std::optional<pipeline_view> find(std::string_view name) {
        if (const auto it = queues_.find(std::string(name)); it != queues_.end()) return view_of(it->second);
        for (const auto& f : firehoses_.all())
            if (f->definition().name == name) return view_of(f);
        return std::nullopt;
    }

    /// Names firehoses may not take: the configured queues' and sinks'.
    [[nodiscard]] std::vector<std::string> reserved_names() const {
        std::vector<std::string> out;
        for (const auto& q : config_.queues) out.push_back(q.name);
        for (const auto& s : config_.sinks) out.push_back(s.name);
        return out;
    }

private:
    pipeline_view view_of(const std::shared_ptr<queue_runner>& q) const {
        pipeline_view v{q->name(), false, q.get(), {}, {}, q};
        for (const auto& s : q->sinks()) v.sinks.push_back(sinks_.at(s).get());
        for (const auto& src : config_.sources)
            if (src.queue == q->name()) v.sources.push_back(src.name);
        return v;
    }

    static pipeline_view view_of(const std::shared_ptr<firehose>& f) {
        pipeline_view v{f->definition().name, true, &f->queue(), {}, {}, f};
        for (const auto& s : f->sinks()) v.sinks.push_back(s.get());
        return v;
    }

    /// Makes and starts the sinks and queues of the configuration that are not running.
    sluice::task<void> start_missing() {
        std::vector<sink_runner*> made;
        for (const auto& s : config_.sinks) {
            if (sinks_.count(s.name)) continue;
            sinks_[s.name] = make_sink(s, ctx_);
            made.push_back(sinks_[s.name].get());
        }
        for (const auto& s : config_.sinks)
            sinks_.at(s.name)->set_dead_letter(s.delivery.dead_letter ? sinks_.at(*s.delivery.dead_letter).get() : nullptr);
        for (auto* sink : made) co_await sink->start();
        for (const auto& q : config_.queues) {
            if (queues_.count(q.name)) continue;
            auto sink_of = [this](const std::string& n) -> sink_runner& { return *sinks_.at(n); };
            std::shared_ptr<queue_runner> made_queue = make_queue(loop_, q, sink_of, metrics_, log_);
            queues_[q.name] = made_queue;
            co_await made_queue->start();
        }
    }

    void start_missing_sources() {
        for (const auto& s : config_.sources)
            if (!sources_.running(s.name)) sources_.start(s, queues_.count(s.queue) ? queues_.at(s.queue).get() : nullptr);
    }

    /// Stops sinks no running sink dead-letters into first, so a dead-letter sink outlives its feeders.
    static sluice::task<void> stop_sinks(std::vector<sink_runner*> running, std::chrono::milliseconds grace) {
        while (!running.empty()) {
            std::vector<sink_runner*> now;
            for (auto* s : running) {
                const bool feeds_it = std::any_of(running.begin(), running.end(), [&](auto* o) { return o->dead_letter() == s; });
                if (!feeds_it) now.push_back(s);
            }
            for (auto* s : now) {
                co_await s->stop(grace);
                running.erase(std::find(running.begin(), running.end(), s));
            }
        }
    }

    sluice::io_loop& loop_;
    sluice::config::pipeline_config config_;
    service_options options_;
    const sluice::logger& log_;
    sluice::metrics_registry metrics_;
    sluice::http::client http_;
    sink_context ctx_;
    std::map<std::string, std::unique_ptr<sink_runner>> sinks_;
    std::map<std::string, std::shared_ptr<queue_runner>> queues_; // shared: a request under way keeps its queue
    firehose_registry firehoses_;
    source_set sources_;
    sluice::async_event stop_requested_;
    std::chrono::system_clock::time_point started_at_{};
};

} // namespace sluiced
