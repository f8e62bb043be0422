#pragma once

// collector_queue: publishers send payloads (from any thread); consumer coroutines on the queue's loop
// take them in FIFO, LIFO or priority order, route each to its collectors, run those collectors at once
// and resolve the sender's collector_event with one result per collector, in routing order. Consumers
// grow with the backlog up to max_consumers and retire after idling down to min_consumers. A bounded
// queue pushes back on senders.
//
// The path of one payload:
//   publisher on the loop thread -> backlog
//   publisher on another thread -> intake -> pump (one wake-up per burst) -> backlog
//   backlog -> consumer -> router -> fan_out: synchronous processors inline, coroutine processors each
//   in a call of its own -> the last answer resolves the sender's event.
// A consumer waits for the calls of its payload unless they release it (an acknowledgement wait):
// then the job finishes on its own while the consumer takes the next payload.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <sluice/core/detail/detached_task.hpp>
#include <sluice/core/event.hpp>
#include <sluice/core/executor.hpp>
#include <sluice/core/result.hpp>
#include <sluice/core/sync_wait.hpp>
#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/log.hpp>
#include <sluice/metrics/metrics.hpp>
#include <sluice/queue/collector.hpp>
#include <sluice/queue/collector_event.hpp>
#include <sluice/queue/detail/backlog.hpp>
#include <sluice/queue/detail/fan_out.hpp>
#include <sluice/queue/detail/intake.hpp>
#include <sluice/queue/detail/loop_counter.hpp>
#include <sluice/queue/payload.hpp>
#include <sluice/queue/queue_options.hpp>
#include <sluice/queue/router.hpp>

namespace sluice {

/// Routes payloads from publishers on any thread to collectors on its loop and answers each sender
/// with a result_list (README's Usage section, docs/guide.md).
template <class T, class R = void, queue_discipline Discipline = queue_discipline::fifo,
          class Router = default_router>
    requires router_for<Router, T>
class collector_queue : private detail::fan_out_host {
    using state_type = detail::event_state<R>;
    using clock = std::chrono::steady_clock;

    struct item {
        payload<T> value;
        state_type* state = nullptr; // null for fire-and-forget
        int priority = 0;
        std::uint64_t sequence = 0;
    };

    using intake_type = detail::intake<item>;
    using verdict = typename intake_type::verdict;
    using waiting_sender = typename intake_type::waiting_sender;
    using fan_type = detail::fan_out<T, R, item>;
    using job = typename fan_type::job;

    /// An idle consumer, parked until there is work or it is told to retire.
    struct consumer_waiter {
        std::coroutine_handle<> handle{};
        clock::time_point idle_since{};
        consumer_waiter* next = nullptr;
        consumer_waiter* prev = nullptr;
        bool retired = false;
    };

    /// How a report posted from another thread learns whether the queue still exists.
    struct lifeline {
        collector_queue* queue;
    };

    enum class phase : std::uint8_t { idle, starting, running, stopping, stopped };

public:
    /// The payload's value type.
    using value_type = T;
    /// What each collector's processor returns.
    using result_type = R;
    /// What send() gives back.
    using event_type = collector_event<R>;

    /// Sends payloads into the queue. Cheap to copy; valid while the queue lives; usable from any
    /// thread (a burst from another thread costs the loop one wake-up).
    class publisher {
    public:
        /// Publishers are handed out by get_publisher().
        explicit publisher(collector_queue* q) noexcept : queue_(q) {}

        /// `co_await send(p)` enqueues p, suspending while a bounded queue is full, and yields the
        /// event that resolves with p's results. Before start() or after stop() it yields an event
        /// already resolved with an Error saying so.
        [[nodiscard]] auto send(payload<T> p) { return send_awaiter{queue_, std::move(p), true}; }

        /// Like send, without a result: cheaper, for fire-and-forget. Errors are counted and go to
        /// queue_options::on_unobserved_error. Yields false when refused (not started, stopped),
        /// which is counted and reported there too.
        [[nodiscard]] auto publish(payload<T> p) { return publish_awaiter{queue_, std::move(p)}; }

        /// Enqueues unless the queue is full, not started or stopped; never waits. A refused payload is
        /// handed back intact (a refusal other than "full" is also reported to on_unobserved_error).
        [[nodiscard]] std::optional<event_type> try_send(payload<T>&& p) { return queue_->try_enqueue(p, true); }
        /// Fire-and-forget try_send: true when accepted.
        [[nodiscard]] bool try_publish(payload<T>&& p) { return queue_->try_enqueue(p, false).has_value(); }

        /// For plain threads: blocks while a bounded queue is full. On the queue's own loop thread it
        /// throws queue_state_error instead of blocking (it would wait for itself).
        event_type send_blocking(payload<T> p) { return queue_->send_blocking(p); }
        /// Fire-and-forget send_blocking: true when accepted.
        bool publish_blocking(payload<T> p) { return queue_->publish_blocking(p); }

    private:
        collector_queue* queue_;
    };

    /// Nothing runs until start(). Throws std::invalid_argument on bad options or duplicate collector keys.
    collector_queue(io_loop& loop, std::vector<collector<T, R>> collectors, queue_options options = {},
                    Router router = Router{})
        : metrics_(options.metrics ? queue_metrics(*options.metrics, options.name) : queue_metrics{}), loop_(&loop),
          options_(std::move(options)), router_(std::move(router)), fan_(loop, collectors, *this, metrics_),
          intake_(options_.capacity), lifeline_(std::make_shared<lifeline>(lifeline{this})) {
        if (options_.max_consumers == 0) throw std::invalid_argument("collector_queue: max_consumers must be >= 1");
        if (options_.min_consumers > options_.max_consumers)
            throw std::invalid_argument("collector_queue: min_consumers exceeds max_consumers");
    }

    collector_queue(const collector_queue&) = delete;
    collector_queue& operator=(const collector_queue&) = delete;

    /// A running queue is stopped with no grace period, on the calling thread (its loop must not be
    /// running on another one). Destroying a running queue from inside its own loop is a bug
    /// (co_await stop() first) and terminates. Calls abandoned at stop may outlive the queue: they
    /// keep what they use and report nothing once it is gone.
    ~collector_queue() {
        phase p = phase_.load(std::memory_order_relaxed);
        if (p != phase::idle && p != phase::stopped) {
            if (loop_->in_loop_thread()) {
                std::fputs("sluice: collector_queue destroyed while running inside its loop; co_await stop() first\n", stderr);
                std::terminate();
            }
            (void)loop_->run_until_complete(stop(std::chrono::milliseconds(0)));
        }
        lifeline_->queue = nullptr;
    }

    /// A cheap handle for sending; valid while the queue lives.
    [[nodiscard]] publisher get_publisher() noexcept { return publisher(this); }
    /// The loop every consumer and collector runs on.
    [[nodiscard]] io_loop& loop() const noexcept { return *loop_; }
    /// The collectors as a router sees them.
    [[nodiscard]] const route_table& routes() const noexcept { return fan_.table(); }
    /// True between start() and stop(). Any thread.
    [[nodiscard]] bool running() const noexcept { return phase_.load(std::memory_order_relaxed) == phase::running; }

    /// Opens the queue, runs every collector's setup, then starts min_consumers consumers. Called from
    /// another thread (or another loop), it runs on the queue's loop and comes back. A failing setup
    /// does not stop the others: that collector then answers every payload with its Error. Throws
    /// queue_state_error when called twice or after stop.
    task<void> start() {
        executor* origin = detail::current_executor;
        const bool hop = !loop_->in_loop_thread();
        if (hop) co_await loop_->schedule();
        std::exception_ptr failure;
        try {
            co_await start_on_loop();
        } catch (...) {
            failure = std::current_exception();
        }
        if (hop) co_await detail::continue_on{origin};
        if (failure) std::rethrow_exception(failure);
    }

    /// Stops accepting, lets consumers drain the backlog for up to `grace`, then answers what never
    /// started "cancelled", fires the collectors' stop tokens and gives the processors still running
    /// queue_options::abandon_after to return; the payloads of those that do not are answered
    /// "abandoned" (they may still complete) and stop() returns without them. Then the teardowns run.
    /// Every accepted payload is answered when this returns. Called from another thread (or loop), it
    /// runs on the queue's loop and comes back; a second call waits for the first.
    task<stop_report> stop(clock::duration grace = std::chrono::seconds(5)) {
        executor* origin = detail::current_executor;
        const bool hop = !loop_->in_loop_thread();
        if (hop) co_await loop_->schedule();
        stop_report report = co_await stop_on_loop(grace);
        if (hop) co_await detail::continue_on{origin};
        co_return report;
    }

    /// The async scope form: start, run `body(publisher)` on the loop, then stop with `grace` whether
    /// the body returned or threw (the body's exception is rethrown after the stop).
    template <class Body>
    task<stop_report> run(Body body, clock::duration grace = std::chrono::seconds(5)) {
        executor* origin = detail::current_executor;
        const bool hop = !loop_->in_loop_thread();
        if (hop) co_await loop_->schedule();
        std::exception_ptr failure;
        try {
            co_await start_on_loop();
            co_await body(get_publisher());
        } catch (...) {
            failure = std::current_exception();
        }
        stop_report report = co_await stop_on_loop(grace);
        if (hop) co_await detail::continue_on{origin};
        if (failure) std::rethrow_exception(failure);
        co_return report;
    }

    /// A snapshot of the counters; any thread.
    [[nodiscard]] queue_stats stats() const {
        queue_stats s;
        s.accepted = accepted_.get();
        s.rejected = rejected_.load(std::memory_order_relaxed);
        s.processed = fan_.processed_.get();
        s.deliveries = fan_.deliveries_.get();
        s.failed = fan_.failed_.get();
        s.unrouted = fan_.unrouted_.get();
        s.cancelled = cancelled_.get();
        s.abandoned = fan_.abandoned_.get();
        s.completed_late = fan_.completed_late_.get();
        s.failed_late = fan_.failed_late_.get();
        s.pending = pending_.get() + intake_.waiting();
        s.in_flight = fan_.active_count_.get();
        s.consumers = live_consumers_.get();
        s.idle_consumers = idle_count_.get();
        s.peak_consumers = peak_consumers_.get();
        return s;
    }

    /// Errors of collectors whose setup failed (read once start() has returned).
    [[nodiscard]] std::vector<error> setup_errors() const { return fan_.setup_errors(); }

private:
    // ---- publishing (any thread) ----

    item make_item(payload<T>& p, bool with_result) {
        item it{std::move(p), nullptr, 0, 0};
        it.priority = it.value.priority.value_or(options_.default_priority);
        if (with_result) {
            it.state = state_type::create();
            it.state->add_ref(); // one for the queue, one for the caller's event
        }
        return it;
    }

    /// Takes `it` unless refused (then `it` is untouched); never waits.
    verdict admit(item& it) {
        if (loop_->in_loop_thread()) {
            verdict v = intake_.admit_local();
            if (v == verdict::accepted) enqueue_local(std::move(it));
            return v;
        }
        bool wake = false;
        verdict v = intake_.hand_in(it, wake);
        if (wake) loop_->post(pump_);
        return v;
    }

    std::optional<event_type> try_enqueue(payload<T>& p, bool with_result) {
        item it = make_item(p, with_result);
        state_type* state = it.state;
        verdict v = admit(it);
        if (v == verdict::accepted) return event_type{state}; // empty for fire-and-forget
        p = std::move(it.value);
        drop(state);
        refused(v, true);
        return std::nullopt;
    }

    event_type send_blocking(payload<T>& p) {
        item it = make_item(p, true);
        state_type* state = it.state;
        verdict v = admit(it);
        if (v == verdict::accepted) return event_type{state};
        if (v == verdict::full) {
            drop(state);
            check_may_block();
            return sync_wait(send_awaiter{this, std::move(it.value), true});
        }
        refused(v, false);
        return refused_event(state, v);
    }

    bool publish_blocking(payload<T>& p) {
        item it = make_item(p, false);
        verdict v = admit(it);
        if (v == verdict::accepted) return true;
        if (v == verdict::full) {
            check_may_block();
            return sync_wait(publish_awaiter{this, std::move(it.value)});
        }
        refused(v, true);
        return false;
    }

    void check_may_block() const {
        if (loop_->in_loop_thread())
            throw queue_state_error("collector_queue: send_blocking/publish_blocking on the queue's own loop thread "
                                    "would wait for itself; co_await send()/publish() there");
    }

    /// Drops both references of a state that never entered the queue.
    static void drop(state_type* s) noexcept {
        if (s == nullptr) return;
        s->release();
        s->release();
    }

    /// Counts a refusal; reports one that is not flow control ("full") when nobody else is told.
    void refused(verdict v, bool report) {
        rejected_.fetch_add(1, std::memory_order_relaxed);
        metrics_.events_dropped.inc();
        if (!report || v == verdict::full) return;
        error e = refusal_error(v);
        if (loop_->in_loop_thread()) {
            report_unobserved(e);
            return;
        }
        // on_unobserved_error runs on the loop thread, and only while the queue exists.
        loop_->call_soon([life = lifeline_, e] {
            if (life->queue) life->queue->report_unobserved(e);
        });
    }

    static error refusal_error(verdict v) {
        error e;
        e.source = "queue";
        e.message = v == verdict::not_started ? "queue not started: call start() before sending; payload not accepted"
                                              : "queue stopped: payload not accepted";
        return e;
    }

    /// The caller's event for a refused send: already resolved with the reason.
    event_type refused_event(state_type* s, verdict v) {
        s->release(); // the queue's reference: it will never see this payload
        s->claim();
        s->results().push_back(result<R>::failure(refusal_error(v)));
        s->resolve();
        return event_type{s};
    }

    struct send_awaiter {
        collector_queue* queue;
        waiting_sender node;
        state_type* state = nullptr;
        bool with_result;

        send_awaiter(collector_queue* q, payload<T>&& p, bool result) : queue(q), with_result(result) {
            node.pending.emplace(q->make_item(p, result));
            state = node.pending->state;
        }
        // Movable only before it is awaited (sync_wait moves awaiters into its frame); once
        // suspended, its node may be linked into the intake and must stay put.
        send_awaiter(send_awaiter&& o) noexcept
            : queue(o.queue), state(std::exchange(o.state, nullptr)), with_result(o.with_result) {
            node.pending = std::move(o.node.pending);
            o.node.pending.reset();
        }
        send_awaiter(const send_awaiter&) = delete;
        send_awaiter& operator=(const send_awaiter&) = delete;
        send_awaiter& operator=(send_awaiter&&) = delete;
        ~send_awaiter() {
            if (node.pending) drop(state); // never taken (refused, or never awaited)
        }

        bool await_ready() const noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> h) {
            node.handle = h;
            node.home = detail::current_executor;
            const bool local = queue->loop_->in_loop_thread();
            bool wake = false;
            verdict v = queue->intake_.admit_or_wait(node, local, wake);
            if (wake) queue->loop_->post(queue->pump_);
            if (v == verdict::full) return true; // until admitted, or refused at stop
            node.outcome = v;
            if (v == verdict::accepted && local) {
                queue->enqueue_local(std::move(*node.pending));
                node.pending.reset();
            }
            return false;
        }
        event_type await_resume() {
            if (node.outcome == verdict::accepted) return with_result ? event_type{std::exchange(state, nullptr)} : event_type{};
            node.pending.reset();
            state_type* s = std::exchange(state, nullptr);
            queue->refused(node.outcome, !with_result);
            if (!with_result) return event_type{};
            return queue->refused_event(s, node.outcome); // the caller still gets an answer, not silence
        }
    };

    struct publish_awaiter : send_awaiter {
        publish_awaiter(collector_queue* q, payload<T>&& p) : send_awaiter(q, std::move(p), false) {}
        bool await_resume() {
            bool accepted = this->node.outcome == verdict::accepted;
            (void)send_awaiter::await_resume();
            return accepted;
        }
    };

    // ---- the backlog and the pump (loop thread) ----

    void enqueue_local(item&& it) {
        it.sequence = next_sequence_++;
        accepted_.add(1);
        metrics_.events_in.inc();
        backlog_.push(std::move(it));
        pending_.add(1);
        metrics_.depth.set(static_cast<double>(backlog_.size()));
        // An idle consumer takes it (after this sender yields: a burst queues up and the discipline
        // orders it); otherwise a new one starts while the backlog exceeds the consumers.
        if (idle_head_ != nullptr) {
            loop_->post(pop_idle()->handle);
            return;
        }
        phase p = phase_.load(std::memory_order_relaxed);
        if (p != phase::running && p != phase::stopping) return;
        const std::size_t live = live_consumers_.get();
        if (live < options_.max_consumers && backlog_.size() > live) {
            live_consumers_.set(live + 1);
            peak_consumers_.set(std::max(peak_consumers_.get(), live + 1));
            loop_->spawn(consume());
        }
    }

    bool try_pop(job& j) {
        if (backlog_.empty()) return false;
        backlog_.pop_into(j.it);
        pending_.sub(1);
        metrics_.depth.set(static_cast<double>(backlog_.size()));
        return true;
    }

    /// Moves what other threads handed in into the backlog, one burst per wake-up, until stop.
    detail::detached_task pump_loop() {
        for (;;) {
            co_await std::suspend_always{}; // resumed by a post of pump_
            const bool open = intake_.drain(drained_);
            for (auto& it : drained_) enqueue_local(std::move(it));
            drained_.clear();
            if (!open) break;
        }
        pump_running_ = false;
        note_progress();
    }

    /// fan_out_host: an accepted payload was answered. In a bounded queue that admits waiting senders.
    void payload_answered() override {
        intake_.answered(admitted_);
        if (!admitted_.empty()) {
            std::vector<waiting_sender*> admitted;
            admitted.swap(admitted_);
            for (auto* w : admitted) {
                enqueue_local(std::move(*w->pending));
                w->pending.reset();
            }
            for (auto* w : admitted) resume_sender(w);
        }
        note_progress();
    }

    void resume_sender(waiting_sender* w) {
        // Senders on this loop go through the ready queue rather than running inside a consumer.
        if (w->home == loop_)
            loop_->post(w->handle);
        else
            w->resume();
    }

    /// fan_out_host: an Error nobody will see otherwise.
    void report_unobserved(const error& e) const override {
        if (options_.on_unobserved_error) options_.on_unobserved_error(e);
        if (options_.log)
            options_.log->warn("queue", "fire-and-forget payload failed (nobody waits for its result)",
                               {field::plain("queue", options_.name), field::plain("source", e.source),
                                field::plain("error", e.message)});
    }

    // ---- consumers (loop thread) ----

    struct park_idle {
        collector_queue* queue;
        consumer_waiter* node;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) const {
            node->handle = h;
            node->idle_since = clock::now();
            queue->push_idle(node);
        }
        void await_resume() const noexcept {}
    };

    /// One consumer: takes payloads, routes them and runs their collectors, waiting for the calls that
    /// hold it. A single frame for its whole life.
    task<void> consume() {
        job* j = nullptr;
        unsigned since_yield = 0;
        for (;;) {
            // A consumer with a steady backlog never suspends on its own; yielding now and then lets
            // timers, I/O and other coroutines of the loop run (not too often: each costs a loop turn).
            if (++since_yield == yield_every) {
                since_yield = 0;
                co_await loop_->schedule();
            }
            if (j == nullptr) j = fan_.acquire();
            bool leave = false;
            while (!try_pop(*j)) {
                if (phase_.load(std::memory_order_relaxed) >= phase::stopping) {
                    leave = true;
                    break;
                }
                consumer_waiter node;
                co_await park_idle{this, &node};
                if (node.retired) {
                    --retiring_;
                    // Work that arrived while this consumer was being retired must not be stranded.
                    if (backlog_.empty()) {
                        leave = true;
                        break;
                    }
                }
            }
            if (leave) break;
            j->targets.clear();
            router_.route(j->it->value, fan_.table(), j->targets);
            fan_.start(*j);
            if (j->held != 0) co_await typename fan_type::until_released{j};
            if (!fan_.settle(*j)) j = nullptr; // detached: its last call finishes it
        }
        fan_.recycle(j);
        live_consumers_.sub(1);
        note_progress();
    }

    void push_idle(consumer_waiter* c) noexcept {
        // Most recently idle at the head: it is the one reused first, so the oldest idlers retire.
        c->prev = nullptr;
        c->next = idle_head_;
        if (idle_head_) idle_head_->prev = c;
        idle_head_ = c;
        if (!idle_tail_) idle_tail_ = c;
        idle_count_.add(1);
    }
    consumer_waiter* pop_idle() noexcept {
        consumer_waiter* c = idle_head_;
        unlink_idle(c);
        return c;
    }
    void unlink_idle(consumer_waiter* c) noexcept {
        (c->prev ? c->prev->next : idle_head_) = c->next;
        (c->next ? c->next->prev : idle_tail_) = c->prev;
        c->next = c->prev = nullptr;
        idle_count_.sub(1);
    }

    /// Wakes idle consumers beyond `keep` (oldest idle first) that idled since `idle_before`, to retire.
    void retire_idle(std::size_t keep, clock::time_point idle_before) {
        while (idle_tail_ && live_consumers_.get() - retiring_ > keep && idle_tail_->idle_since <= idle_before) {
            consumer_waiter* c = idle_tail_;
            unlink_idle(c);
            c->retired = true;
            ++retiring_;
            loop_->post(c->handle);
        }
    }

    task<void> housekeep(std::stop_token token) {
        auto period = std::max<std::chrono::milliseconds>(options_.idle_timeout / 2, std::chrono::milliseconds(1));
        try {
            for (;;) {
                co_await loop_->sleep_for(period, token);
                retire_idle(options_.min_consumers, clock::now() - options_.idle_timeout);
            }
        } catch (const operation_cancelled&) {
        }
        housekeeping_ = false;
        note_progress();
    }

    // ---- start and stop (loop thread) ----

    task<void> start_on_loop() {
        phase p = phase_.load(std::memory_order_relaxed);
        if (p != phase::idle)
            throw queue_state_error(p == phase::stopped ? "collector_queue: cannot start again after stop"
                                                        : "collector_queue already started");
        phase_.store(phase::starting, std::memory_order_relaxed);
        pump_ = pump_loop().release();
        pump_running_ = true;
        pump_.resume(); // to its first suspension: from now on a post resumes it
        intake_.open(); // payloads sent during setup wait in the backlog
        co_await fan_.setup();
        phase_.store(phase::running, std::memory_order_relaxed);
        // Enough consumers for what queued up during setup, within the bounds.
        const std::size_t initial = std::clamp<std::size_t>(backlog_.size(), options_.min_consumers, options_.max_consumers);
        live_consumers_.set(initial);
        peak_consumers_.set(std::max(peak_consumers_.get(), initial));
        for (std::size_t i = 0; i < initial; ++i) loop_->spawn(consume());
        housekeeper_stop_ = std::stop_source{};
        housekeeping_ = true;
        loop_->spawn(housekeep(housekeeper_stop_.get_token()));
        started_.set();
    }

    task<stop_report> stop_on_loop(clock::duration grace) {
        if (phase_.load(std::memory_order_relaxed) == phase::starting) co_await started_.wait();
        phase p = phase_.load(std::memory_order_relaxed);
        if (p == phase::idle) {
            // Never started: nothing was accepted (sends were refused). Later sends are refused as stopped.
            intake_.close();
            phase_.store(phase::stopped, std::memory_order_relaxed);
            co_return stop_report{};
        }
        if (p != phase::running) {
            co_await stopped_.wait();
            co_return last_report_;
        }
        const auto deadline = clock::now() + grace;
        phase_.store(phase::stopping, std::memory_order_relaxed);
        close_intake();
        stop_report report;
        co_await settle_until(deadline);
        report.drained = drained();
        if (!report.drained) {
            report.cancelled = cancel_backlog();
            fan_.request_stop();
            co_await settle_until(clock::now() + options_.abandon_after);
            if (fan_.active() != 0) report.abandoned = fan_.abandon(options_.abandon_after);
            co_await settle_until(clock::time_point::max());
        }
        co_await fan_.teardown(report.teardown_errors);
        cancelled_.add(report.cancelled);
        last_report_ = report;
        phase_.store(phase::stopped, std::memory_order_relaxed);
        stopped_.set();
        co_return report;
    }

    /// Refuses from now on: takes in what other threads handed in, refuses waiting senders, ends the
    /// pump and the housekeeper, and lets idle consumers go.
    void close_intake() {
        auto closing = intake_.close();
        for (auto& it : closing.handed_in) enqueue_local(std::move(it));
        if (closing.wake_pump && pump_) loop_->post(pump_);
        for (auto* w : closing.refused) resume_sender(w);
        housekeeper_stop_.request_stop();
        retire_idle(0, clock::time_point::max());
    }

    /// Nothing accepted is waiting or being processed.
    bool drained() const noexcept { return backlog_.empty() && fan_.active() == 0; }
    /// ...and every coroutine of the queue has ended.
    bool settled() const noexcept {
        return drained() && live_consumers_.get() == 0 && !pump_running_ && !housekeeping_;
    }

    /// Waits until settled() or `deadline`.
    task<void> settle_until(clock::time_point deadline) {
        while (!settled() && clock::now() < deadline) {
            progress_ = std::stop_source{};
            // At most an hour per sleep: no timer arithmetic near time_point::max().
            auto wake = std::min(deadline, clock::now() + std::chrono::hours(1));
            try {
                co_await loop_->sleep_until(wake, progress_.get_token());
            } catch (const operation_cancelled&) {
            }
        }
    }

    /// Cuts a stop's wait short once everything has settled.
    void note_progress() {
        if (phase_.load(std::memory_order_relaxed) >= phase::stopping && settled()) progress_.request_stop();
    }

    /// Answers everything still waiting "cancelled" (it never started).
    std::uint64_t cancel_backlog() {
        std::vector<item> items = backlog_.take_all();
        pending_.set(0);
        metrics_.depth.set(0);
        for (auto& it : items) {
            error e;
            e.source = "queue";
            e.message = "cancelled: stop deadline passed before it started";
            e.code = std::make_error_code(std::errc::operation_canceled);
            if (it.state == nullptr) {
                report_unobserved(e);
            } else {
                if (it.state->claim()) {
                    it.state->results().clear();
                    it.state->results().push_back(result<R>::failure(std::move(e)));
                    it.state->resolve();
                }
                it.state->release();
            }
            payload_answered();
        }
        return items.size();
    }

    static constexpr unsigned yield_every = 1024; // ~0.2 ms of work at typical processor costs

    queue_metrics metrics_; // no-ops without a registry
    io_loop* loop_;
    queue_options options_;
    Router router_;
    fan_type fan_;
    intake_type intake_;
    std::shared_ptr<lifeline> lifeline_;
    std::atomic<phase> phase_{phase::idle}; // written on the loop thread, read anywhere

    // Loop thread only.
    detail::backlog<item, Discipline> backlog_;
    std::vector<item> drained_;              // what the pump took from the intake
    std::vector<waiting_sender*> admitted_;  // senders admitted by an answer
    std::coroutine_handle<> pump_{};
    bool pump_running_ = false;
    consumer_waiter* idle_head_ = nullptr;
    consumer_waiter* idle_tail_ = nullptr;
    std::size_t retiring_ = 0;
    std::uint64_t next_sequence_ = 0;
    bool housekeeping_ = false;
    std::stop_source housekeeper_stop_;
    std::stop_source progress_{std::nostopstate};
    async_event started_;
    async_event stopped_;
    stop_report last_report_;

    // Written on the loop thread, read anywhere.
    detail::loop_counter<std::uint64_t> accepted_, cancelled_;
    detail::loop_counter<std::size_t> pending_, live_consumers_, idle_count_, peak_consumers_;
    std::atomic<std::uint64_t> rejected_{0}; // any thread
};

} // namespace sluice
