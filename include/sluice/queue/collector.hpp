#pragma once

// collector: a named destination inside a collector_queue. Its processor coroutine handles each payload
// routed to it; optional setup and teardown bracket its life (teardown runs at stop, even after errors).

#include <any>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include <sluice/core/task.hpp>
#include <sluice/queue/payload.hpp>

namespace sluice {

class io_loop;

/// What a collector's coroutines see of their collector: its identity, the loop they run on, a stop
/// token that fires when the queue's stop deadline passes, and a slot for the collector's own state.
class collector_context {
public:
    collector_context(std::string key, std::vector<std::string> topics, io_loop* loop)
        : key_(std::move(key)), topics_(std::move(topics)), loop_(loop) {}

    [[nodiscard]] const std::string& key() const noexcept { return key_; }
    [[nodiscard]] const std::vector<std::string>& topics() const noexcept { return topics_; }
    /// The loop the queue runs on.
    [[nodiscard]] io_loop& loop() const noexcept { return *loop_; }
    /// Fires when stop's deadline passes: long-running processors should give up then.
    [[nodiscard]] std::stop_token stop_token() const noexcept { return stop_.get_token(); }
    /// The collector's own state (a file, a connection...), typically created by setup.
    [[nodiscard]] std::any& state() noexcept { return state_; }

    /// Used by the queue when the stop deadline passes.
    void request_stop() noexcept { stop_.request_stop(); }

private:
    std::string key_;
    std::vector<std::string> topics_;
    io_loop* loop_;
    std::stop_source stop_;
    std::any state_;
};

/// A collector of payloads of T producing results of R (void: only Ok/Error).
template <class T, class R = void>
struct collector {
    using processor_type = std::function<task<R>(const payload<T>&, collector_context&)>;
    using lifecycle_type = std::function<task<void>(collector_context&)>;

    /// Unique within its queue; the target of delivery::key.
    std::string key;
    /// Handles one payload; its return value (or exception) becomes this collector's result.
    processor_type processor;
    /// The topics this collector subscribes to, for delivery::topic.
    std::vector<std::string> topics{};
    /// Runs once before the first payload. If it throws, every payload routed here gets an Error.
    lifecycle_type setup{};
    /// Runs once at stop after the last payload, whatever happened before, if setup succeeded.
    lifecycle_type teardown{};
};

} // namespace sluice
