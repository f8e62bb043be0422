#pragma once

// collector_queue: publishers send payloads (from any thread); consumer coroutines on the queue's loop
// take them in FIFO, LIFO or priority order, route each to its collectors and resolve the sender's
// collector_event with one result per collector. Consumers grow with the backlog up to max_consumers
// and retire after idling down to min_consumers. A bounded queue pushes back on senders.
//
// The path of one payload: publisher::send -> enqueue (or hand-off to an idle consumer) -> consumer ->
// router -> each collector's processor -> event_state::resolve -> the sender's co_await ev.wait().

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <sluice/core/detail/ring_buffer.hpp>
#include <sluice/core/detail/spin_lock.hpp>
#include <sluice/core/executor.hpp>
#include <sluice/core/result.hpp>
#include <sluice/core/sync_wait.hpp>
#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/log.hpp>
#include <sluice/metrics/metrics.hpp>
#include <sluice/queue/collector.hpp>
#include <sluice/queue/collector_event.hpp>
#include <sluice/queue/payload.hpp>
#include <sluice/queue/router.hpp>

namespace sluice {

/// The order in which a backlog is taken: oldest first, newest first, or lowest priority value first
/// (ties in arrival order).
enum class queue_discipline { fifo, lifo, priority };

struct queue_options {
    /// Consumers kept alive even when idle (at least 1 once started is typical; 0 is allowed).
    std::size_t min_consumers = 1;
    /// Upper bound on concurrent consumers (and so on payloads processed at once).
    std::size_t max_consumers = 4;
    /// Priority of payloads that set none (priority queues only; lower runs first).
    int default_priority = 0;
    /// Most payloads waiting in the queue; 0 means unbounded. When full, send() suspends and
    /// try_send() refuses.
    std::size_t capacity = 0;
    /// A consumer above min_consumers that waited this long for work retires.
    std::chrono::milliseconds idle_timeout{1000};
    /// Called on the loop thread for each Error no caller will see (fire-and-forget payloads), so
    /// failures are never silent. Default: counted only.
    std::function<void(const error&)> on_unobserved_error{};
    /// Where to publish this queue's metrics, labelled name=`name`; none if null.
    metrics_registry* metrics = nullptr;
    /// Where to log (warn) the Errors no caller will see; none if null. Payloads are never logged.
    const logger* log = nullptr;
    std::string name = "queue";
};

/// Counters and gauges of one queue. Counters only grow.
struct queue_stats {
    std::uint64_t accepted = 0;   ///< payloads taken in by send/publish
    std::uint64_t rejected = 0;   ///< refused by try_send/try_publish (full) or after stop
    std::uint64_t processed = 0;  ///< payloads fully handled (all collectors reported)
    std::uint64_t deliveries = 0; ///< collector invocations
    std::uint64_t failed = 0;     ///< Error results (processor threw, setup failed)
    std::uint64_t unrouted = 0;   ///< payloads that matched no collector (resolved as an empty Ok)
    std::uint64_t cancelled = 0;  ///< payloads resolved as "cancelled" at stop
    std::size_t pending = 0;      ///< waiting in the queue now
    std::size_t consumers = 0;    ///< consumer coroutines alive now
    std::size_t idle_consumers = 0;
    std::size_t peak_consumers = 0;
};

/// What stop() reports.
struct stop_report {
    /// True when everything accepted was processed before the deadline.
    bool drained = true;
    /// Payloads resolved with Error "cancelled" because the deadline passed.
    std::uint64_t cancelled = 0;
    /// Failures of teardown coroutines, one per collector that failed.
    std::vector<error> teardown_errors;
};

/// Thrown by start() when called twice, or by operations on a queue in the wrong state.
class queue_state_error : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

template <class T, class R = void, queue_discipline Discipline = queue_discipline::fifo,
          class Router = default_router>
    requires router_for<Router, T>
class collector_queue {
    using state_type = detail::event_state<R>;

    struct item {
        payload<T> value;
        state_type* state = nullptr; // null for fire-and-forget
        int priority = 0;
        std::uint64_t sequence = 0;
    };

    /// The backlog in the queue's discipline. Touched only under lock_.
    class backlog {
    public:
        [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
        [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
        void push(item&& it) {
            items_.push_back(std::move(it));
            if constexpr (Discipline == queue_discipline::priority)
                std::push_heap(items_.begin(), items_.end(), later);
        }
        /// Moves the next item into `out` (one move: this is the hot path).
        void pop_into(std::optional<item>& out) {
            if constexpr (Discipline == queue_discipline::fifo) {
                out.emplace(std::move(items_.front()));
                items_.pop_front();
            } else {
                if constexpr (Discipline == queue_discipline::priority)
                    std::pop_heap(items_.begin(), items_.end(), later);
                out.emplace(std::move(items_.back()));
                items_.pop_back();
            }
        }
        std::vector<item> take_all() {
            std::vector<item> all;
            all.reserve(items_.size());
            std::optional<item> one;
            while (!items_.empty()) {
                pop_into(one);
                all.push_back(std::move(*one));
            }
            return all;
        }

    private:
        // Heap order: the "largest" element is the one to run first.
        static bool later(const item& a, const item& b) noexcept {
            return a.priority != b.priority ? a.priority > b.priority : a.sequence > b.sequence;
        }
        std::conditional_t<Discipline == queue_discipline::fifo, detail::ring_buffer<item>, std::vector<item>> items_;
    };

    /// An idle consumer, parked until an item is handed to it or it is told to retire.
    struct consumer_waiter : detail::waiter_node {
        std::optional<item>* slot = nullptr; // the consumer's current-item slot, filled on hand-off
        std::chrono::steady_clock::time_point idle_since{};
        consumer_waiter* next_idle = nullptr;
        consumer_waiter* prev_idle = nullptr;
    };

    /// A sender blocked on a full queue; its item moves in when a consumer makes room.
    struct sender_waiter : detail::waiter_node {
        std::optional<item> pending;
        bool refused = false; // the queue stopped while it waited
    };

    struct collector_entry {
        collector<T, R> spec;
        collector_context context;
        bool setup_ok = false;
        std::optional<error> setup_error;
    };

public:
    using value_type = T;
    using result_type = R;
    using event_type = collector_event<R>;

    /// Sends payloads into the queue. Cheap to copy; valid while the queue lives.
    class publisher {
    public:
        explicit publisher(collector_queue* q) noexcept : queue_(q) {}

        /// `co_await send(p)` enqueues p, suspending while a bounded queue is full, and yields the
        /// event that resolves with p's results. After stop it yields an event already resolved
        /// with an Error "queue stopped".
        [[nodiscard]] auto send(payload<T> p) { return send_awaiter{queue_, std::move(p), true}; }

        /// Like send, without a result: cheaper, for fire-and-forget. Errors are counted and go to
        /// queue_options::on_unobserved_error. Yields false if the queue had stopped.
        [[nodiscard]] auto publish(payload<T> p) { return publish_awaiter{queue_, std::move(p)}; }

        /// Enqueues unless the queue is full or stopped; never waits.
        [[nodiscard]] std::optional<event_type> try_send(payload<T>&& p) { return queue_->try_enqueue(p, true); }
        /// Fire-and-forget try_send: true when accepted.
        [[nodiscard]] bool try_publish(payload<T>&& p) { return queue_->try_enqueue(p, false).has_value(); }

        /// For plain threads (never the queue's loop thread): blocks while full.
        event_type send_blocking(payload<T> p) { return sync_wait(send(std::move(p))); }
        bool publish_blocking(payload<T> p) { return sync_wait(publish(std::move(p))); }

    private:
        collector_queue* queue_;
    };

    collector_queue(io_loop& loop, std::vector<collector<T, R>> collectors, queue_options options = {},
                    Router router = Router{})
        : loop_(&loop), options_(std::move(options)), router_(std::move(router)) {
        if (options_.max_consumers == 0) throw std::invalid_argument("collector_queue: max_consumers must be >= 1");
        if (options_.min_consumers > options_.max_consumers)
            throw std::invalid_argument("collector_queue: min_consumers exceeds max_consumers");
        std::vector<std::string> keys;
        std::vector<std::vector<std::string>> topics;
        entries_.reserve(collectors.size());
        for (auto& c : collectors) {
            if (!c.processor) throw std::invalid_argument("collector '" + c.key + "' has no processor");
            keys.push_back(c.key);
            topics.push_back(c.topics);
            collector_context ctx(c.key, c.topics, loop_);
            entries_.push_back(std::make_unique<collector_entry>(collector_entry{std::move(c), std::move(ctx), false, std::nullopt}));
        }
        table_ = route_table(keys, topics);
        if (options_.metrics) metrics_ = queue_metrics(*options_.metrics, options_.name);
    }

    collector_queue(const collector_queue&) = delete;
    collector_queue& operator=(const collector_queue&) = delete;

    /// A running queue is stopped with no grace period (what is pending resolves as "cancelled").
    /// Destroying a running queue from inside its own loop is a bug (co_await stop() first) and
    /// terminates.
    ~collector_queue() {
        if (running_) {
            if (loop_->in_loop_thread()) {
                std::fputs("sluice: collector_queue destroyed while running inside its loop; "
                           "co_await stop() first\n",
                           stderr);
                std::terminate();
            }
            loop_->run_until_complete(stop(std::chrono::milliseconds(0)));
        }
        cancel_backlog("queue destroyed before it was started");
    }

    [[nodiscard]] publisher get_publisher() noexcept { return publisher(this); }
    [[nodiscard]] io_loop& loop() const noexcept { return *loop_; }
    [[nodiscard]] const route_table& routes() const noexcept { return table_; }
    [[nodiscard]] bool running() const noexcept { return running_; }

    /// Runs every collector's setup, then starts min_consumers consumers. Call on the loop. A failing
    /// setup does not stop the others: that collector then answers every payload with its Error.
    task<void> start() {
        if (started_) throw queue_state_error("collector_queue already started");
        started_ = true;
        for (auto& e : entries_) {
            if (!e->spec.setup) {
                e->setup_ok = true;
                continue;
            }
            try {
                co_await e->spec.setup(e->context);
                e->setup_ok = true;
            } catch (...) {
                e->setup_error = error::from_current_exception(e->spec.key);
                e->setup_error->message = "setup failed: " + e->setup_error->message;
            }
        }
        running_ = true;
        std::size_t initial = 0;
        {
            std::lock_guard lock(lock_);
            // Enough consumers for what queued up before start, within the bounds.
            initial = std::clamp<std::size_t>(backlog_.size(), options_.min_consumers, options_.max_consumers);
            live_consumers_ += initial;
            peak_consumers_ = std::max(peak_consumers_, live_consumers_);
        }
        for (std::size_t i = 0; i < initial; ++i) loop_->spawn(consume());
        housekeeper_stop_ = std::stop_source{};
        housekeeping_ = true;
        loop_->spawn(housekeep(housekeeper_stop_.get_token()));
    }

    /// Stops accepting, lets consumers drain the backlog for up to `grace`, then cancels what is left
    /// (pending and in-flight payloads resolve with Error "cancelled", processors see their context's
    /// stop token), waits for consumers to finish, and runs every teardown. Every accepted payload
    /// is resolved when this returns.
    task<stop_report> stop(std::chrono::steady_clock::duration grace = std::chrono::seconds(5)) {
        stop_report report;
        if (!running_) {
            report.cancelled = cancel_backlog("queue stopped before it was started");
            co_return report;
        }
        auto deadline = std::chrono::steady_clock::now() + grace;
        std::vector<sender_waiter*> refused;
        {
            std::lock_guard lock(lock_);
            accepting_ = false;
            while (auto* s = static_cast<sender_waiter*>(blocked_senders_.pop_front())) refused.push_back(s);
            retire_idle_locked(0, retiring_consumers_);
        }
        for (auto* s : refused) {
            s->refused = true;
            s->resume();
        }
        wake_retired();

        // Sleep until the deadline, cut short (as a "cancellation") by the last consumer leaving.
        if (live_consumers() != 0) {
            drained_signal_ = std::stop_source{};
            try {
                co_await loop_->sleep_until(deadline, drained_signal_.get_token());
            } catch (const operation_cancelled&) {
            }
        }
        if (live_consumers() != 0) {
            report.drained = false;
            report.cancelled += cancel_backlog("cancelled: stop deadline passed");
            report.cancelled += cancel_in_flight();
            for (auto& e : entries_) e->context.request_stop();
            // Processors were told; now they must finish before teardown may run.
            drained_signal_ = std::stop_source{};
            while (live_consumers() != 0) {
                try {
                    co_await loop_->sleep_for(std::chrono::hours(24), drained_signal_.get_token());
                } catch (const operation_cancelled&) {
                }
            }
        }
        housekeeper_stop_.request_stop();
        while (housekeeping_) co_await loop_->schedule();
        for (auto& e : entries_) {
            if (!e->setup_ok || !e->spec.teardown) continue;
            try {
                co_await e->spec.teardown(e->context);
            } catch (...) {
                report.teardown_errors.push_back(error::from_current_exception(e->spec.key));
            }
        }
        running_ = false;
        cancelled_.fetch_add(report.cancelled, std::memory_order_relaxed);
        co_return report;
    }

    /// The async scope form: start, run `body(publisher)`, then stop with `grace` whether the body
    /// returned or threw (the body's exception is rethrown after the stop).
    template <class Body>
    task<stop_report> run(Body body, std::chrono::steady_clock::duration grace = std::chrono::seconds(5)) {
        co_await start();
        std::exception_ptr failure;
        try {
            co_await body(get_publisher());
        } catch (...) {
            failure = std::current_exception();
        }
        stop_report report = co_await stop(grace);
        if (failure) std::rethrow_exception(failure);
        co_return report;
    }

    /// A snapshot of the counters; callable from any thread.
    [[nodiscard]] queue_stats stats() const {
        queue_stats s;
        {
            std::lock_guard lock(lock_);
            s.accepted = accepted_;
            s.pending = backlog_.size();
            s.consumers = live_consumers_;
            s.idle_consumers = idle_count_;
            s.peak_consumers = peak_consumers_;
        }
        s.rejected = rejected_.load(std::memory_order_relaxed);
        s.processed = processed_.load(std::memory_order_relaxed);
        s.deliveries = deliveries_.load(std::memory_order_relaxed);
        s.failed = failed_.load(std::memory_order_relaxed);
        s.unrouted = unrouted_.load(std::memory_order_relaxed);
        s.cancelled = cancelled_.load(std::memory_order_relaxed);
        return s;
    }

    /// Errors of collectors whose setup failed.
    [[nodiscard]] std::vector<error> setup_errors() const {
        std::vector<error> out;
        for (auto& e : entries_)
            if (e->setup_error) out.push_back(*e->setup_error);
        return out;
    }

private:
    // ---- enqueueing (any thread) ----

    /// What must happen after the lock is released.
    struct wake_action {
        consumer_waiter* consumer = nullptr; // hand-off done: resume it
        bool spawn_consumer = false;
    };

    item make_item(payload<T>& p, bool with_result) {
        item it{std::move(p), nullptr, 0, 0};
        it.priority = it.value.priority.value_or(options_.default_priority);
        if (with_result) {
            it.state = state_type::create();
            it.state->add_ref(); // one for the queue, one for the caller's event
        }
        return it;
    }

    /// Under lock_: puts `it` where it belongs. Returns the wake-up to perform after unlocking.
    wake_action enqueue_locked(item&& it) {
        wake_action action;
        ++accepted_;
        metrics_.events_in.inc();
        it.sequence = next_sequence_++;
        if (idle_head_ != nullptr) {
            // Someone is idle, so the backlog is empty: hand the item straight over.
            consumer_waiter* c = pop_idle_locked();
            c->slot->emplace(std::move(it));
            action.consumer = c;
            return action;
        }
        backlog_.push(std::move(it));
        if (running_ && live_consumers_ < options_.max_consumers && backlog_.size() > live_consumers_) {
            ++live_consumers_;
            peak_consumers_ = std::max(peak_consumers_, live_consumers_);
            action.spawn_consumer = true;
        }
        return action;
    }

    void perform(const wake_action& action) {
        if (action.consumer) {
            // Never inline: the consumer runs on the loop after the sender yields, so a burst of sends
            // queues up and the discipline decides the order.
            loop_->post(action.consumer->handle);
        }
        if (action.spawn_consumer) {
            if (loop_->in_loop_thread())
                loop_->spawn(consume());
            else
                loop_->call_soon([this] { loop_->spawn(consume()); });
        }
    }

    std::optional<event_type> try_enqueue(payload<T>& p, bool with_result) {
        // The item is built before taking the lock (it may allocate); a refused payload is handed back
        // to the caller untouched.
        item it = make_item(p, with_result);
        state_type* state = it.state;
        wake_action action;
        {
            std::lock_guard lock(lock_);
            if (!accepting_ || (options_.capacity != 0 && backlog_.size() >= options_.capacity)) {
                p = std::move(it.value);
                if (state) {
                    state->release();
                    state->release();
                }
                rejected_.fetch_add(1, std::memory_order_relaxed);
                metrics_.events_dropped.inc();
                return std::nullopt;
            }
            action = enqueue_locked(std::move(it));
        }
        perform(action);
        return event_type{state}; // empty for fire-and-forget
    }

    struct send_awaiter {
        collector_queue* queue;
        sender_waiter node;
        state_type* state = nullptr;
        bool with_result;

        send_awaiter(collector_queue* q, payload<T>&& p, bool result) : queue(q), with_result(result) {
            node.pending.emplace(q->make_item(p, result));
            state = node.pending->state;
        }
        // Movable only before it is awaited (sync_wait and some compilers move awaiters into a frame);
        // once suspended, its node is linked into the queue and must stay put.
        send_awaiter(send_awaiter&& o) noexcept
            : queue(o.queue), state(std::exchange(o.state, nullptr)), with_result(o.with_result) {
            node.pending = std::move(o.node.pending);
            o.node.pending.reset();
        }
        send_awaiter(const send_awaiter&) = delete;
        send_awaiter& operator=(const send_awaiter&) = delete;
        send_awaiter& operator=(send_awaiter&&) = delete;
        ~send_awaiter() {
            // Never handed over (refused): drop both references.
            if (node.pending && state) {
                state->release();
                state->release();
            }
        }

        bool await_ready() const noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> h) {
            wake_action action;
            {
                std::lock_guard lock(queue->lock_);
                if (!queue->accepting_) {
                    node.refused = true;
                    return false;
                }
                if (queue->options_.capacity != 0 && queue->backlog_.size() >= queue->options_.capacity) {
                    node.handle = h;
                    node.home = detail::current_executor;
                    queue->blocked_senders_.push_back(&node);
                    return true;
                }
                action = queue->enqueue_locked(std::move(*node.pending));
                node.pending.reset();
            }
            queue->perform(action);
            return false;
        }
        event_type await_resume() {
            if (node.refused) {
                queue->rejected_.fetch_add(1, std::memory_order_relaxed);
                queue->metrics_.events_dropped.inc();
                if (!with_result) return event_type{};
                // The caller still gets an answer, not silence.
                state_type* s = std::exchange(state, nullptr);
                node.pending.reset();
                s->release(); // the queue's reference: it will never see this item
                error e;
                e.source = "queue";
                e.message = "queue stopped: payload not accepted";
                s->claim();
                s->results().push_back(result<R>::failure(std::move(e)));
                s->resolve();
                return event_type{s};
            }
            node.pending.reset();
            if (!with_result) return event_type{};
            return event_type{std::exchange(state, nullptr)};
        }
    };

    struct publish_awaiter : send_awaiter {
        publish_awaiter(collector_queue* q, payload<T>&& p) : send_awaiter(q, std::move(p), false) {}
        bool await_resume() {
            bool accepted = !this->node.refused;
            (void)send_awaiter::await_resume();
            return accepted;
        }
    };

    // ---- consuming (loop thread) ----

    /// Fills the consumer's slot with the next item, parking the consumer while there is none.
    /// Leaves the slot empty when the consumer should exit (retired, or stopped and drained).
    struct next_item_awaiter {
        collector_queue* queue;
        std::optional<item>* slot;
        consumer_waiter node{};

        bool await_ready() {
            std::lock_guard lock(queue->lock_);
            return queue->try_pop_locked(*slot) || queue->should_exit_locked();
        }
        bool await_suspend(std::coroutine_handle<> h) {
            std::lock_guard lock(queue->lock_);
            // Re-check under the same lock as the registration: a sender between await_ready and
            // here would otherwise see no idle consumer and no wake-up would come.
            if (queue->try_pop_locked(*slot) || queue->should_exit_locked()) return false;
            node.handle = h;
            node.home = detail::current_executor;
            node.slot = slot;
            node.idle_since = std::chrono::steady_clock::now();
            queue->push_idle_locked(&node);
            return true;
        }
        void await_resume() const noexcept {}
    };

    bool try_pop_locked(std::optional<item>& out) {
        if (backlog_.empty()) return false;
        backlog_.pop_into(out);
        metrics_.depth.set(static_cast<double>(backlog_.size()));
        if (!blocked_senders_.empty()) {
            // Room appeared: the longest-waiting sender's item moves in now, preserving send order.
            auto* s = static_cast<sender_waiter*>(blocked_senders_.pop_front());
            ++accepted_;
            s->pending->sequence = next_sequence_++;
            backlog_.push(std::move(*s->pending));
            s->pending.reset();
            unblocked_.push_back(s);
        }
        return true;
    }

    bool should_exit_locked() const noexcept { return !accepting_ && backlog_.empty(); }

    /// One consumer: a single coroutine frame for its whole life, so an item costs no frame of its own
    /// beyond the processor's.
    task<void> consume() {
        route_targets targets;
        std::optional<item> it;
        bool last = false;
        unsigned since_yield = 0;
        for (;;) {
            it.reset();
            // A consumer with a steady backlog never suspends on its own; yielding now and then lets
            // timers, I/O and other coroutines of the loop run (not too often: each costs a loop turn).
            if (++since_yield == yield_every) {
                since_yield = 0;
                co_await loop_->schedule();
            }
            co_await next_item_awaiter{this, &it};
            resume_unblocked();
            if (!it) {
                std::lock_guard lock(lock_);
                // Work that arrived while this consumer was being retired must not be stranded.
                if (!backlog_.empty()) continue;
                last = --live_consumers_ == 0;
                break;
            }
            state_type* state = begin_item(*it, targets);
            std::uint64_t failures = 0;
            for (auto index : targets.indices()) {
                collector_entry& e = *entries_[index];
                result<R> r;
                if (!e.setup_ok) {
                    r = result<R>::failure(e.setup_error ? *e.setup_error
                                                         : error{e.spec.key, "collector not started", {}, {}});
                } else {
                    try {
                        if constexpr (std::is_void_v<R>)
                            co_await e.spec.processor(it->value, e.context);
                        else
                            r = result<R>::ok(co_await e.spec.processor(it->value, e.context));
                    } catch (...) {
                        r = result<R>::failure(error::from_current_exception(e.spec.key));
                    }
                }
                if (r.is_error()) {
                    ++failures;
                    if (!state) report_unobserved(r.get_error());
                }
                // Stop's deadline may have answered for this payload while a processor ran.
                if (state && !state->claimed()) {
                    r.set_source(e.spec.key);
                    state->results().push_back(std::move(r));
                }
            }
            finish_item(state, targets.size(), failures);
        }
        if (last) drained_signal_.request_stop();
    }

    void resume_unblocked() {
        // unblocked_ is only ever filled by consumers, on this (the loop) thread: no lock to peek.
        if (unblocked_.empty()) return;
        std::vector<sender_waiter*> wake;
        {
            std::lock_guard lock(lock_);
            wake.swap(unblocked_);
        }
        // Senders on this loop go through the ready queue rather than running inside the consumer.
        for (auto* s : wake) {
            if (s->home == loop_)
                loop_->post(s->handle);
            else
                s->resume();
        }
    }

    void report_unobserved(const error& e) const {
        if (options_.on_unobserved_error) options_.on_unobserved_error(e);
        if (options_.log)
            options_.log->warn("queue", "fire-and-forget payload failed",
                               {field::plain("queue", options_.name), field::plain("collector", e.source),
                                field::plain("error", e.message)});
    }

    /// Routes the item; returns its result state (null for fire-and-forget).
    state_type* begin_item(item& it, route_targets& targets) {
        targets.clear();
        router_.route(it.value, table_, targets);
        state_type* state = it.state;
        if (state != nullptr) {
            in_flight_.push_back(state);
            state->results().reserve(std::max<std::size_t>(targets.size(), 1));
        }
        if (targets.empty()) {
            bump(unrouted_, 1);
            if (state && !state->claimed()) state->results().push_back(result<R>::ok());
        }
        return state;
    }

    void finish_item(state_type* state, std::size_t deliveries, std::uint64_t failures) {
        bump(deliveries_, deliveries);
        if (failures) {
            bump(failed_, failures);
            metrics_.events_failed.add(failures);
        }
        bump(processed_, 1);
        metrics_.events_out.inc();
        if (state != nullptr) {
            std::erase(in_flight_, state);
            // Lost the claim only when stop's deadline already answered "cancelled" for it.
            if (state->claim()) state->resolve();
            state->release();
        }
    }

    /// Counters written only on the loop thread: a plain load and store, no locked instruction.
    static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
        counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }

    // ---- idle consumers ----

    void push_idle_locked(consumer_waiter* c) noexcept {
        // Most recently idle at the head: it is the one reused first, so the oldest idlers retire.
        c->prev_idle = nullptr;
        c->next_idle = idle_head_;
        if (idle_head_) idle_head_->prev_idle = c;
        idle_head_ = c;
        if (!idle_tail_) idle_tail_ = c;
        ++idle_count_;
    }
    consumer_waiter* pop_idle_locked() noexcept {
        consumer_waiter* c = idle_head_;
        unlink_idle_locked(c);
        return c;
    }
    void unlink_idle_locked(consumer_waiter* c) noexcept {
        (c->prev_idle ? c->prev_idle->next_idle : idle_head_) = c->next_idle;
        (c->next_idle ? c->next_idle->prev_idle : idle_tail_) = c->prev_idle;
        c->next_idle = c->prev_idle = nullptr;
        --idle_count_;
    }

    /// Under lock_: moves idle consumers beyond `keep` (oldest idle first) to `out` to be woken empty.
    void retire_idle_locked(std::size_t keep, std::vector<consumer_waiter*>& out,
                            std::chrono::steady_clock::time_point idle_before = std::chrono::steady_clock::time_point::max()) {
        while (idle_tail_ && live_consumers_ - out.size() > keep && idle_tail_->idle_since <= idle_before) {
            consumer_waiter* c = idle_tail_;
            unlink_idle_locked(c);
            out.push_back(c);
        }
    }

    void wake_retired() {
        std::vector<consumer_waiter*> wake;
        wake.swap(retiring_consumers_);
        for (auto* c : wake) loop_->post(c->handle);
    }

    task<void> housekeep(std::stop_token token) {
        auto period = std::max<std::chrono::milliseconds>(options_.idle_timeout / 2, std::chrono::milliseconds(1));
        try {
            for (;;) {
                co_await loop_->sleep_for(period, token);
                {
                    std::lock_guard lock(lock_);
                    retire_idle_locked(options_.min_consumers, retiring_consumers_,
                                       std::chrono::steady_clock::now() - options_.idle_timeout);
                }
                wake_retired();
            }
        } catch (const operation_cancelled&) {
        }
        housekeeping_ = false;
    }

    std::size_t live_consumers() const {
        std::lock_guard lock(lock_);
        return live_consumers_;
    }

    // ---- cancellation at stop ----

    /// Resolves everything still queued (and blocked senders' items) as cancelled.
    std::uint64_t cancel_backlog(const char* why) {
        std::vector<item> items;
        {
            std::lock_guard lock(lock_);
            items = backlog_.take_all();
        }
        for (auto& it : items) resolve_cancelled(it.state, why);
        return items.size();
    }

    std::uint64_t cancel_in_flight() {
        std::uint64_t n = 0;
        for (state_type* s : in_flight_) n += resolve_cancelled(s, "cancelled: stop deadline passed", false) ? 1 : 0;
        return n;
    }

    /// Answers Error "cancelled" unless already answered. Drops the queue's reference when `release`.
    bool resolve_cancelled(state_type* s, const char* why, bool release = true) {
        if (s == nullptr) return true;
        bool claimed = s->claim();
        if (claimed) {
            s->results().clear();
            error e;
            e.source = "queue";
            e.message = why;
            e.code = std::make_error_code(std::errc::operation_canceled);
            s->results().push_back(result<R>::failure(std::move(e)));
            s->resolve();
        }
        if (release) s->release();
        return claimed;
    }

    static constexpr unsigned yield_every = 1024; // ~0.2 ms of work at typical processor costs

    queue_metrics metrics_{}; // no-ops without a registry

    io_loop* loop_;
    queue_options options_;
    Router router_;
    std::vector<std::unique_ptr<collector_entry>> entries_;
    route_table table_;

    mutable detail::spin_lock lock_;
    backlog backlog_;                  // under lock_
    detail::waiter_list blocked_senders_; // under lock_
    std::vector<sender_waiter*> unblocked_; // loop thread only
    consumer_waiter* idle_head_ = nullptr; // under lock_
    consumer_waiter* idle_tail_ = nullptr; // under lock_
    std::size_t idle_count_ = 0;           // under lock_
    std::size_t live_consumers_ = 0;       // under lock_
    std::size_t peak_consumers_ = 0;       // under lock_
    std::uint64_t accepted_ = 0;           // under lock_
    std::uint64_t next_sequence_ = 0;      // under lock_
    bool accepting_ = true;                // under lock_

    // Loop thread only.
    bool started_ = false;
    bool running_ = false;
    bool housekeeping_ = false;
    std::stop_source housekeeper_stop_;
    std::stop_source drained_signal_{std::nostopstate};
    std::vector<consumer_waiter*> retiring_consumers_; // unlinked from the idle list, to be woken empty
    std::vector<state_type*> in_flight_;

    // Written on the loop thread, read anywhere.
    std::atomic<std::uint64_t> rejected_{0};
    std::atomic<std::uint64_t> processed_{0};
    std::atomic<std::uint64_t> deliveries_{0};
    std::atomic<std::uint64_t> failed_{0};
    std::atomic<std::uint64_t> unrouted_{0};
    std::atomic<std::uint64_t> cancelled_{0};
};

} // namespace sluice
