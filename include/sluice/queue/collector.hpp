#pragma once

// collector: a named destination inside a collector_queue. Its processor handles each payload routed to
// it; optional setup and teardown bracket its life (teardown runs at stop, even after errors).

#include <any>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <sluice/core/task.hpp>
#include <sluice/queue/payload.hpp>
#include <sluice/queue/processor.hpp>

namespace sluice {

class io_loop;

namespace detail {

/// What every call of one collector shares: its identity, its loop, the stop source fired at the
/// queue's stop deadline and the state slot setup fills.
struct collector_core {
    std::string key;
    std::vector<std::string> topics;
    io_loop* loop = nullptr;
    std::stop_source stop;
    std::any state;
};

/// One running call of an asynchronous processor, as its context sees it (the queue implements it).
class processor_call {
public:
    virtual void release_consumer() noexcept = 0;

protected:
    processor_call() = default;
    processor_call(const processor_call&) = default;
    processor_call& operator=(const processor_call&) = default;
    ~processor_call() = default;
};

} // namespace detail

/// What a collector's coroutines see of their collector: its identity, the loop they run on, a stop
/// token that fires when the queue's stop deadline passes, and a slot for the collector's own state.
/// A processor's context is valid for that call; setup and teardown get the collector's own.
class collector_context {
public:
    /// A context of its own, outside any queue (to run a setup or test a processor by hand).
    collector_context(std::string key, std::vector<std::string> topics, io_loop* loop)
        : owned_(std::make_shared<detail::collector_core>()), core_(owned_.get()) {
        core_->key = std::move(key);
        core_->topics = std::move(topics);
        core_->loop = loop;
    }

    /// The context a queue hands to one call (`call` set) or to setup and teardown (`call` null).
    explicit collector_context(detail::collector_core& core, detail::processor_call* call = nullptr) noexcept
        : core_(&core), call_(call) {}

    /// The collector's unique key (what delivery::key routes by).
    [[nodiscard]] const std::string& key() const noexcept { return core_->key; }
    /// The topics it subscribes to.
    [[nodiscard]] const std::vector<std::string>& topics() const noexcept { return core_->topics; }
    /// The loop the queue runs on.
    [[nodiscard]] io_loop& loop() const noexcept { return *core_->loop; }
    /// Fires when stop's deadline passes: long-running processors should give up then.
    [[nodiscard]] std::stop_token stop_token() const noexcept { return core_->stop.get_token(); }
    /// The collector's own state (a file, a connection...), typically created by setup.
    [[nodiscard]] std::any& state() noexcept { return core_->state; }

    /// Tells the queue that the rest of this call only waits (typically for a delivery pipeline's
    /// acknowledgement): its consumer goes on to the next payload at once, and this payload's result
    /// still resolves with what the processor returns. Calls released this way are bounded by the
    /// queue's capacity, not by max_consumers. Call it after whatever should push back on the queue
    /// (admission into a bounded buffer, a rate limit). A no-op outside an asynchronous processor's
    /// call, and after the first time.
    void release_consumer() noexcept {
        if (call_ != nullptr) std::exchange(call_, nullptr)->release_consumer();
    }

    /// Fires the stop token (the queue does this when its stop deadline passes).
    void request_stop() noexcept { core_->stop.request_stop(); }

private:
    std::shared_ptr<detail::collector_core> owned_; // only for a context of its own
    detail::collector_core* core_;
    detail::processor_call* call_ = nullptr;
};

/// A collector of payloads of T producing results of R (void: only Ok/Error).
template <class T, class R = void>
struct collector {
    /// Any of the processor shapes processor_fn accepts.
    using processor_type = processor_fn<T, R>;
    /// setup and teardown: coroutines run once, on the queue's loop.
    using lifecycle_type = std::function<task<void>(collector_context&)>;

    /// Unique within its queue; the target of delivery::key.
    std::string key;
    /// Handles one payload; its answer (a value, a result<R>, or a task of either; or an exception; or,
    /// later, through a processor_answer) becomes this collector's result. Synchronous and deferred
    /// processors run inline, without a coroutine frame.
    processor_type processor;
    /// The topics this collector subscribes to, for delivery::topic.
    std::vector<std::string> topics{};
    /// Runs once before the first payload. If it throws, every payload routed here gets an Error.
    lifecycle_type setup{};
    /// Runs once at stop after the last payload, whatever happened before, if setup succeeded.
    lifecycle_type teardown{};
};

} // namespace sluice
