#pragma once

// fan_out: how a collector_queue runs one payload's collectors. A consumer hands it a job (the payload
// and the collectors it was routed to): synchronous processors run inline, without a coroutine frame;
// each coroutine processor runs as a call of its own, all of them at once; a deferred processor is
// handed the payload inline and answers later through its processor_answer (a call that never holds
// its consumer). The job resolves the sender's
// event, in routing order, when the last one answers.
//
// A consumer waits for its job's calls unless they release it (collector_context::release_consumer):
// then the job is detached, finishes when its last call answers, and the consumer takes the next
// payload meanwhile.
//
// At stop, a call that outlives the grace period and abandon_after is abandoned: its payload is answered
// "abandoned" and the call goes on. It keeps the collector it uses (processor closure, context, state)
// and its payload alive; when it finishes, it reports its real answer (counters, on_unobserved_error)
// if the queue still exists, runs the collector's deferred teardown if it was the last, and frees it
// all. So an abandoned call that finishes after the queue is gone touches nothing freed. One that never
// finishes (its loop destroyed first) keeps what it holds, as any coroutine suspended on a dead loop.

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/core/result.hpp>
#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/metrics.hpp>
#include <sluice/queue/collector.hpp>
#include <sluice/queue/collector_event.hpp>
#include <sluice/queue/detail/loop_counter.hpp>
#include <sluice/queue/router.hpp>

namespace sluice::detail {

/// What a fan_out needs from its queue.
class fan_out_host {
public:
    /// An accepted payload got its answer (room in a bounded queue; progress for a stop).
    virtual void payload_answered() = 0;
    /// An Error nobody will see otherwise.
    virtual void report_unobserved(const error& e) const = 0;

protected:
    fan_out_host() = default;
    fan_out_host(const fan_out_host&) = default;
    fan_out_host& operator=(const fan_out_host&) = default;
    ~fan_out_host() = default;
};

/// Item has `payload<T> value` and `event_state<R>* state` (null for fire-and-forget).
template <class T, class R, class Item>
class fan_out {
    using state_type = event_state<R>;

public:
    /// One collector. Shared with the calls abandoned at stop that still use it.
    struct entry {
        collector<T, R> spec;
        collector_core core;
        bool setup_ok = false;
        std::optional<error> setup_error;
        std::size_t abandoned_calls = 0; // abandoned at stop and still running
        bool teardown_pending = false;   // its teardown waits for them
    };

    struct job;

    /// One collector's call for one payload, when its processor is a coroutine or deferred. A coroutine
    /// processor's task runs with this call as its completion (no coroutine frame around it), and the
    /// context it was handed lives here while it runs.
    struct call final : processor_call, answer_target<R>, task_completion {
        job* owner = nullptr;
        entry* target = nullptr;
        std::optional<collector_context> context;
        std::uint64_t generation = 0; // which start of this slot a processor_answer belongs to
        std::uint32_t slot = 0;       // position in the payload's result_list
        bool running = false;
        bool held = false; // its consumer waits for it
        bool abandoned = false;
        // The processor's task ended: its answer (or what it threw), then its frame goes.
        void task_done(std::coroutine_handle<> finished) noexcept override {
            const bool answers_result = target->spec.processor.kind() == processor_kind::task_result;
            result<R> r = answers_result ? take_answer<result<R>>(*this, finished) : take_answer<R>(*this, finished);
            complete(*this, std::move(r)); // may free this call (an abandoned job's last)
        }
        void release_consumer() noexcept override {
            if (held && !abandoned) owner->host->drop_hold(*this);
        }
        // A deferred processor's answer: on the loop, once, for this start of the call only.
        void resolve(std::uint64_t g, result<R>&& r) override {
            io_loop& loop = *target->core.loop;
            if (!loop.in_loop_thread()) {
                auto boxed = std::make_shared<result<R>>(std::move(r)); // R may be move-only
                loop.call_soon([this, g, boxed] { resolve(g, std::move(*boxed)); });
                return;
            }
            if (g != generation || !running) return;
            complete(*this, std::move(r));
        }
    };

    /// How abandoned calls learn whether their fan_out (and so its queue) still exists.
    struct lifeline {
        fan_out* owner;
    };

    /// One payload being processed. Recycled through a pool while the queue lives.
    struct job {
        std::optional<Item> it;
        route_targets targets;
        std::vector<call> calls; // by target position (coroutine processors only)
        std::uint32_t running = 0;
        std::uint32_t held = 0;
        std::uint64_t failures = 0;
        std::coroutine_handle<> consumer{}; // parked until held == 0
        bool detached = false;              // its consumer moved on: the last call finishes it
        fan_out* host = nullptr;
        std::shared_ptr<lifeline> life;           // set when abandoned
        std::vector<std::shared_ptr<entry>> keep; // abandoned: the collectors its calls still use
        job* prev = nullptr;                      // the active list
        job* next = nullptr;
    };

    /// `co_await until_released(j)`: a consumer waits until no call of j holds it.
    struct until_released {
        job* j;
        [[nodiscard]] bool await_ready() const noexcept { return j->held == 0; }
        void await_suspend(std::coroutine_handle<> h) const noexcept { j->consumer = h; }
        void await_resume() const noexcept {}
    };

    fan_out(io_loop& loop, std::vector<collector<T, R>>& collectors, fan_out_host& host, const queue_metrics& metrics)
        : loop_(&loop), host_(&host), metrics_(&metrics), life_(std::make_shared<lifeline>(lifeline{this})) {
        std::vector<std::string> keys;
        std::vector<std::vector<std::string>> topics;
        entries_.reserve(collectors.size());
        for (auto& c : collectors) {
            if (!c.processor) throw std::invalid_argument("collector '" + c.key + "' has no processor");
            keys.push_back(c.key);
            topics.push_back(c.topics);
            auto e = std::make_shared<entry>();
            e->core.key = c.key;
            e->core.topics = c.topics;
            e->core.loop = loop_;
            e->spec = std::move(c);
            entries_.push_back(std::move(e));
        }
        table_ = route_table(keys, topics);
    }

    fan_out(const fan_out&) = delete;
    fan_out& operator=(const fan_out&) = delete;

    ~fan_out() {
        life_->owner = nullptr;
        for (job* j : pool_) delete j;
    }

    [[nodiscard]] const route_table& table() const noexcept { return table_; }

    // ---- jobs (loop thread) ----

    job* acquire() {
        if (pool_.empty()) {
            job* j = new job;
            j->host = this;
            // Sized once, so that calls do not move while a stray second answer may point at one (a
            // router adding a collector twice grows it in start(), between payloads).
            j->calls.resize(entries_.size());
            return j;
        }
        job* j = pool_.back();
        pool_.pop_back();
        return j;
    }

    void recycle(job* j) {
        if (j != nullptr) pool_.push_back(j);
    }

    /// Runs the payload in `j`, already routed into j.targets: every collector at once.
    void start(job& j) {
        const auto n = static_cast<std::uint32_t>(j.targets.size());
        unrouted_.add(std::max<std::uint32_t>(j.targets.unrouted(), n == 0 ? 1u : 0u));
        deliveries_.add(n);
        if (state_type* s = j.it->state) s->results().resize(n == 0 ? 1 : n); // unrouted: one empty Ok
        j.running = j.held = 0;
        j.failures = 0;
        j.detached = false;
        link_active(j);
        if (j.calls.size() < n) j.calls.resize(n);
        for (std::uint32_t i = 0; i < n; ++i) {
            entry& e = *entries_[j.targets.indices()[i]];
            if (!e.setup_ok) {
                record(j, i, e, result<R>::failure(e.setup_error ? *e.setup_error : error{e.core.key, "collector not started", {}, {}, {}}));
            } else if (e.spec.processor.synchronous()) {
                collector_context ctx(e.core);
                record(j, i, e, e.spec.processor.call(j.it->value, ctx, e.core.key));
            } else if (e.spec.processor.kind() == processor_kind::deferred) {
                run_deferred(begin_call(j, i, e, false));
            } else {
                run_task(begin_call(j, i, e, true));
            }
        }
    }

    /// After start and the consumer's wait: finishes `j` when every call answered (true: the consumer
    /// keeps j for its next payload), else detaches it (false: its last call finishes it).
    bool settle(job& j) {
        if (j.running != 0) {
            j.detached = true;
            return false;
        }
        finish(j);
        return true;
    }

    // ---- stop (loop thread) ----

    /// Runs every collector's setup; a failure is kept as that collector's Error.
    task<void> setup() {
        for (auto& e : entries_) {
            if (!e->spec.setup) {
                e->setup_ok = true;
                continue;
            }
            try {
                collector_context ctx(e->core);
                co_await e->spec.setup(ctx);
                e->setup_ok = true;
            } catch (...) {
                e->setup_error = error::from_current_exception(e->core.key);
                e->setup_error->message = "setup failed: " + e->setup_error->message;
            }
        }
    }

    /// Fires every collector's stop token.
    void request_stop() noexcept {
        for (auto& e : entries_) e->core.stop.request_stop();
    }

    /// Answers every payload whose calls still run "abandoned"; the calls go on and report late.
    /// Returns how many payloads were answered so.
    std::uint64_t abandon(std::chrono::milliseconds after) {
        std::uint64_t n = 0;
        while (job* j = active_head_) {
            unlink_active(*j);
            j->life = life_;
            state_type* s = j->it->state;
            const bool answer = s != nullptr && s->claim();
            for (std::uint32_t i = 0; i < j->targets.size(); ++i) {
                call& c = j->calls[i];
                if (!c.running || c.owner != j) continue;
                c.abandoned = true;
                c.held = false;
                ++c.target->abandoned_calls;
                j->keep.push_back(entries_[j->targets.indices()[i]]);
                if (answer) {
                    auto r = result<R>::failure(abandoned_error(after));
                    r.set_source(c.target->core.key);
                    s->results()[i] = std::move(r);
                }
            }
            j->held = 0;
            failed_.add(j->failures);
            abandoned_.add(1);
            ++n;
            if (j->consumer) loop_->post(std::exchange(j->consumer, {})); // it detaches the job
            host_->payload_answered();
            if (answer) s->resolve();
        }
        return n;
    }

    /// Runs the teardowns; a collector with abandoned calls is torn down when the last one returns.
    task<void> teardown(std::vector<error>& errors) {
        for (auto& e : entries_) {
            if (!e->setup_ok || !e->spec.teardown) continue;
            if (e->abandoned_calls != 0) {
                e->teardown_pending = true;
                continue;
            }
            try {
                collector_context ctx(e->core);
                co_await e->spec.teardown(ctx);
            } catch (...) {
                errors.push_back(error::from_current_exception(e->core.key));
            }
        }
    }

    [[nodiscard]] std::vector<error> setup_errors() const {
        std::vector<error> out;
        for (auto& e : entries_)
            if (e->setup_error) out.push_back(*e->setup_error);
        return out;
    }

    /// Payloads being processed (including detached ones); loop thread.
    [[nodiscard]] std::size_t active() const noexcept { return active_count_.get(); }

    // Counters: written on the loop thread, read anywhere.
    loop_counter<std::uint64_t> processed_, deliveries_, failed_, unrouted_, abandoned_, completed_late_, failed_late_;
    loop_counter<std::size_t> active_count_;

private:
    /// Call slot `i` of `j`, started for `e`; `held`: its consumer waits for it (coroutines, until they
    /// release it). A deferred call never holds its consumer.
    call& begin_call(job& j, std::uint32_t i, entry& e, bool held) {
        call& c = j.calls[i];
        c.owner = &j;
        c.target = &e;
        c.slot = i;
        ++c.generation;
        c.running = true;
        c.held = held;
        c.abandoned = false;
        ++j.running;
        if (held) ++j.held;
        return c;
    }

    /// Hands the payload to a deferred processor, which answers now or later through its answer.
    static void run_deferred(call& c) {
        entry& e = *c.target;
        collector_context ctx(e.core);
        const std::uint64_t generation = c.generation;
        try {
            e.spec.processor.call_deferred(c.owner->it->value, ctx, processor_answer<R>(&c, generation));
        } catch (...) {
            // Thrown instead of answering: the Error, unless it answered before throwing.
            if (c.running && c.generation == generation)
                complete(c, result<R>::failure(error::from_current_exception(e.core.key)));
        }
    }

    /// Starts a coroutine processor's task with `c` as its completion; it runs until it first suspends
    /// (or ends, answering at once).
    static void run_task(call& c) {
        entry& e = *c.target;
        collector_context& ctx = c.context.emplace(e.core, &c);
        std::coroutine_handle<> h;
        try {
            if (e.spec.processor.kind() == processor_kind::task_result)
                h = adopt(e.spec.processor.call_task_result(c.owner->it->value, ctx), c);
            else
                h = adopt(e.spec.processor.call_task(c.owner->it->value, ctx), c);
        } catch (...) { // the callable threw before its coroutine began
            complete(c, result<R>::failure(error::from_current_exception(e.core.key)));
            return;
        }
        if (!h) {
            complete(c, result<R>::failure(error{e.core.key, "the processor returned an empty task", {}, {}, {}}));
            return;
        }
        h.resume();
    }

    /// Takes over `t`'s frame, with `c` as the completion that frees it.
    template <class V>
    static std::coroutine_handle<> adopt(task<V>&& t, call& c) noexcept {
        auto h = t.release();
        if (h) h.promise().completion_ = &c;
        return h;
    }

    /// The answer of `c`'s finished task<V> (V is R or result<R>) as this collector's result; frees the frame.
    template <class V>
    static result<R> take_answer(call& c, std::coroutine_handle<> finished) noexcept {
        auto h = std::coroutine_handle<task_promise<V>>::from_address(finished.address());
        result<R> r;
        try {
            if constexpr (std::is_same_v<V, result<R>>) {
                r = std::move(h.promise()).result();
            } else if constexpr (std::is_void_v<R>) {
                h.promise().result();
                r = result<R>::ok();
            } else {
                r = result<R>::ok(std::move(h.promise()).result());
            }
        } catch (...) {
            r = result<R>::failure(error::from_current_exception(c.target->core.key));
        }
        h.destroy();
        return r;
    }

    /// A call answered. Nothing is touched after the job is finished: resolving may run the sender's
    /// coroutine inline, which may destroy the queue.
    static void complete(call& c, result<R>&& r) {
        job& j = *c.owner;
        c.running = false;
        if (c.abandoned) {
            complete_abandoned(c, std::move(r));
            return;
        }
        fan_out& self = *j.host;
        self.record(j, c.slot, *c.target, std::move(r));
        --j.running;
        if (c.held) self.drop_hold(c);
        if (j.running == 0 && j.detached) self.finish(j);
    }

    static void complete_abandoned(call& c, result<R>&& r) {
        job& j = *c.owner;
        entry& e = *c.target;
        if (fan_out* self = j.life->owner) self->report_late(e, r);
        if (--e.abandoned_calls == 0 && e.teardown_pending) {
            e.teardown_pending = false;
            for (auto& kept : j.keep)
                if (kept.get() == &e) e.core.loop->spawn(deferred_teardown(kept, j.life));
        }
        if (--j.running == 0) {
            if (state_type* s = j.it->state) s->release();
            delete &j;
        }
    }

    static task<void> deferred_teardown(std::shared_ptr<entry> e, std::shared_ptr<lifeline> life) {
        try {
            collector_context ctx(e->core);
            co_await e->spec.teardown(ctx);
        } catch (...) {
            if (life->owner) life->owner->host_->report_unobserved(error::from_current_exception(e->core.key));
        }
    }

    void drop_hold(call& c) {
        c.held = false;
        job& j = *c.owner;
        if (--j.held == 0 && j.consumer) loop_->post(std::exchange(j.consumer, {}));
    }

    void record(job& j, std::uint32_t slot, const entry& e, result<R>&& r) {
        state_type* s = j.it->state;
        if (r.is_error()) {
            ++j.failures;
            if (s == nullptr) host_->report_unobserved(r.get_error());
        }
        if (s != nullptr && !s->claimed()) {
            r.set_source(e.core.key);
            s->results()[slot] = std::move(r);
        }
    }

    /// Counts, answers and (when detached) recycles `j`; resolving comes last.
    void finish(job& j) {
        processed_.add(1);
        metrics_->events_out.inc();
        if (j.failures != 0) {
            failed_.add(j.failures);
            metrics_->events_failed.add(j.failures);
        }
        unlink_active(j);
        state_type* s = j.it->state;
        j.it.reset();
        if (j.detached) recycle(&j);
        host_->payload_answered();
        if (s != nullptr) {
            if (s->claim()) s->resolve();
            s->release();
        }
    }

    void report_late(const entry& e, const result<R>& r) {
        if (r.is_ok()) {
            completed_late_.add(1);
            return;
        }
        failed_late_.add(1);
        error late = r.get_error();
        late.source = e.core.key;
        late.message = "finished after stop abandoned it: " + late.message;
        host_->report_unobserved(late);
    }

    static error abandoned_error(std::chrono::milliseconds after) {
        error e;
        e.source = "queue";
        e.message = "abandoned at stop: the processor was still running " + std::to_string(after.count()) +
                    " ms after the stop deadline; it may still complete";
        e.code = std::make_error_code(std::errc::operation_in_progress);
        return e;
    }

    void link_active(job& j) noexcept {
        j.prev = nullptr;
        j.next = active_head_;
        if (active_head_) active_head_->prev = &j;
        active_head_ = &j;
        active_count_.add(1);
    }
    void unlink_active(job& j) noexcept {
        (j.prev ? j.prev->next : active_head_) = j.next;
        if (j.next) j.next->prev = j.prev;
        j.prev = j.next = nullptr;
        active_count_.sub(1);
    }

    io_loop* loop_;
    fan_out_host* host_;
    const queue_metrics* metrics_;
    std::shared_ptr<lifeline> life_;
    std::vector<std::shared_ptr<entry>> entries_;
    route_table table_;
    std::vector<job*> pool_;
    job* active_head_ = nullptr;
};

} // namespace sluice::detail
