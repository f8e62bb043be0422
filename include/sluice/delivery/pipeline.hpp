#pragma once

// delivery_pipeline<Sink>: the one batching / buffering / retry engine in front of every sink,
// composed of parts named after what they do:
//
//   deliver(record, options) / submit(record, options, on_done)
//   -> admission (memory buffer bound: block or drop; or disk_spill: the disk buffer)
//   -> order_gates (order_by_key: one record per order key at a time)
//   -> batcher (an open batch per batch key; sealed on events, weight, age, the sink's limits)
//   -> dispatcher (concurrency and rate limits, sink.send(batch), settled per entry)
//   -> ok: acknowledged | retry: retry_scheduler (backoff, budget, ordered hold), back into a batch |
//      reject or out of attempts: dead letter, Error
//
// deliver() completes when the sink acknowledged the record (end-to-end acknowledgement), when the
// record is safely in the disk buffer (disk mode), or when it finally failed. Everything runs on one
// io_loop thread; deliver(), flush(), stop() and start() called from another thread hop onto it first
// (and continue there), submit() posts itself there. docs/engine.md describes every option.

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <sluice/core/async_scope.hpp>
#include <sluice/core/event.hpp>
#include <sluice/core/outcome.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/admission.hpp>
#include <sluice/delivery/alarm.hpp>
#include <sluice/delivery/backoff.hpp>
#include <sluice/delivery/batcher.hpp>
#include <sluice/delivery/concurrency.hpp>
#include <sluice/delivery/disk_buffer.hpp>
#include <sluice/delivery/disk_spill.hpp>
#include <sluice/delivery/dispatcher.hpp>
#include <sluice/delivery/options.hpp>
#include <sluice/delivery/order_gates.hpp>
#include <sluice/delivery/rate_limiter.hpp>
#include <sluice/delivery/record_envelope.hpp>
#include <sluice/delivery/record_node.hpp>
#include <sluice/delivery/retry_budget.hpp>
#include <sluice/delivery/retry_scheduler.hpp>
#include <sluice/delivery/sink.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/log.hpp>
#include <sluice/metrics/log_throttle.hpp>
#include <sluice/metrics/metrics.hpp>

namespace sluice {

/// The delivery engine in front of one sink; see the top of this header and docs/engine.md.
template <sink_adapter Sink>
class delivery_pipeline final : private detail::admission_hooks,
                                private detail::batcher_hooks,
                                private detail::retry_hooks,
                                private detail::dispatch_hooks,
                                private detail::spill_hooks {
    using clock = std::chrono::steady_clock;
    using node = detail::record_node;

public:
    /// Checks the options (std::invalid_argument for unusable ones); nothing runs until used.
    delivery_pipeline(io_loop& loop, Sink& sink, delivery_options options = {})
        : loop_(&loop), sink_(&sink), options_(checked(std::move(options), sink.limits())), limits_(effective_limits()),
          admission_(loop, scope_, options_.buffer, *this),
          batcher_(loop, scope_, batch_limits_of(options_, limits_), *this),
          retries_(loop, scope_, options_.retry, options_.ordered, *this),
          dispatcher_(loop, scope_, sink, options_, retries_, *this, stats_, sink_metrics_),
          spill_(loop, scope_, pool_, options_, *this, stats_),
          deadline_(loop, scope_, [this] { deadline_reached(); }) {
        if (options_.metrics) {
            sink_metrics_ = sink_metrics(*options_.metrics, options_.name);
            buffer_metrics_ = buffer_metrics(*options_.metrics, options_.name);
            age_only_metric_ = options_.metrics->get_counter(
                "sluice_batch_age_only_waits_total",
                "Batches sealed by max_age while every sender in them waited for its acknowledgement.",
                {{"component", "sink"}, {"name", options_.name}});
        }
    }

    delivery_pipeline(const delivery_pipeline&) = delete;
    delivery_pipeline& operator=(const delivery_pipeline&) = delete;

    ~delivery_pipeline() {
        // Frames parked in this pipeline would be left dangling: stop() must have run.
        if (outstanding_ != 0 || deliveries_ != 0 || scope_.live() != 0) {
            std::fputs("sluice: delivery_pipeline destroyed with records or requests in it; co_await stop() first\n",
                       stderr);
            std::terminate();
        }
    }

    /// Opens the disk buffer (when configured) and starts delivering what it holds from before.
    /// Without a disk buffer there is nothing to do. Call once, before deliver().
    task<void> start() {
        if (!loop_->in_loop_thread()) co_await loop_->schedule();
        if (!options_.disk || spill_.is_open()) co_return;
        disk_buffer_options disk = *options_.disk;
        if (options_.log && !disk.on_corruption) {
            const logger* log = options_.log;
            std::string name = options_.name;
            disk.on_corruption = [log, name](const std::string& what) {
                log->error("disk_buffer", "corrupt data skipped", {field::plain("sink", name), field::plain("where", what)});
            };
        }
        co_await spill_.open(std::move(disk));
    }

    /// The disk buffer, once started (null without one).
    [[nodiscard]] disk_buffer* disk() noexcept { return spill_.buffer(); }

    /// The sink's limits after limit_overrides: what batches and records are checked against.
    [[nodiscard]] const sink_limits& limits() const noexcept { return limits_; }
    /// The pipeline's name (delivery_options::name).
    [[nodiscard]] const std::string& name() const noexcept { return options_.name; }

    /// Delivers one encoded record; returns when the sink acknowledged it (or, in disk mode, once it
    /// is persisted). Throws delivery_error when it was not delivered: `invalid` (larger than the sink
    /// or the disk buffer accepts, or deliver() before start() with a disk buffer: never sent),
    /// `dropped` (a full buffer under drop_newest, max_block passed, a disk write failed), `reject`
    /// or out of attempts (`retry`, `throttled`), `cancelled` (stopped). From another thread it hops
    /// onto the loop and continues there.
    ///
    /// With GCC 12, pass `options` as a named variable when awaiting inside a coroutine: a braced
    /// temporary in a co_await operand is copied bytewise there (see the README).
    task<delivery_receipt> deliver(std::string record, record_options options) {
        if (!loop_->in_loop_thread()) [[unlikely]]
            return deliver_from_elsewhere(std::move(record), std::move(options));
        return deliver_node(lease(detail::node_origin::awaiting, std::move(record), std::move(options)));
    }

    /// deliver(record, {}): the default options are made here, not in the caller's co_await.
    task<delivery_receipt> deliver(std::string record) {
        record_options none;
        return deliver(std::move(record), std::move(none));
    }

    /// deliver() without a coroutine frame: `on_done` runs on the loop with the record's outcome
    /// (kind ok or persisted, with attempts, or why it was not delivered; valid during the call) once
    /// it finished; at once, before submit() returns, when it is refused before entering (invalid,
    /// stopped, dropped). Never waits: under when_full::block a record that finds the buffer full waits inside the engine, so
    /// a caller bounds what it has submitted and not yet seen finished. `on_done` must not throw. Any
    /// thread (it is posted to the loop).
    void submit(std::string record, record_options options, std::function<void(const outcome&)> on_done) {
        submit_node(std::move(record), std::move(options), detail::node_callback(std::move(on_done)));
    }

    /// submit() for a sender that keeps nothing of the record but what it needs on success: when the
    /// record is not delivered, `on_done` also gets its bytes back (moved out of the engine), e.g.
    /// to rebuild the caller's record for a list of what was not sent.
    void submit(std::string record, record_options options,
                std::function<void(const outcome&, std::string&&)> on_done) {
        submit_node(std::move(record), std::move(options), detail::node_callback(std::move(on_done)));
    }

    /// Seals the open batches now and waits until every record admitted so far has finished (and,
    /// with a disk buffer, until it is empty).
    task<void> flush() {
        if (!loop_->in_loop_thread()) co_await loop_->schedule();
        batcher_.seal_all();
        while (!idle()) {
            co_await wait_for_change();
            batcher_.seal_all();
        }
    }

    /// Stops accepting, sends what is batched and lets retries run until `grace` passes. Then the
    /// requests in flight are cancelled (sink_batch::cancel), and every record not delivered is kept
    /// in the disk buffer (with one) or finished as "unprocessed". Every accepted record has finished
    /// when this returns; a second call returns an empty report.
    task<delivery_report> stop(clock::duration grace = std::chrono::seconds(5)) {
        if (!loop_->in_loop_thread()) co_await loop_->schedule();
        delivery_report report;
        if (stopping_) co_return report;
        stopping_ = true;
        deadline_.set(clock::now() + grace);
        admission_.refuse_all(outcome::make(outcome_kind::cancelled, "pipeline stopped while the record waited for buffer room"));
        spill_.stop_waiting();
        scope_.request_stop(); // a commit waiting for disk room looks again now, and refuses
        batcher_.seal_all();
        while (!idle() && !deadline_reached_) {
            co_await wait_for_change();
            batcher_.seal_all();
        }
        deadline_.cancel();
        spill_.stop_reading(); // what is still on disk stays there for the next start()
        if (outstanding_ != 0 || spill_.committing()) co_await abandon_at_deadline(report);
        report.persisted += spill_.on_disk() + kept_replayed_; // appended and not read back, or read back and kept
        report.drained = report.persisted == 0 && report.unprocessed == 0;
        admission_.shutdown();
        batcher_.shutdown();
        retries_.shutdown();
        dispatcher_.shutdown();
        deadline_.shutdown();
        co_await scope_.join();
        co_await spill_.close();
        co_return report;
    }

    /// The counters. On the loop's thread (or any thread while the loop is not running).
    [[nodiscard]] delivery_stats stats() const {
        delivery_stats s = stats_;
        s.buffered_events = admission_.events();
        s.buffered_bytes = admission_.bytes();
        s.in_flight = dispatcher_.in_flight();
        s.concurrency_limit = dispatcher_.limit();
        s.on_disk = spill_.on_disk();
        s.open_batches = batcher_.open_batches();
        s.budget_delays = retries_.budget_delays();
        return s;
    }

private:
    /// A pooled node that goes back to the pool unless released into the engine: deliver()'s record
    /// lives in one, so that its coroutine frame stays small (and its memory hot).
    class node_lease {
    public:
        node_lease(detail::node_pool& pool, node* n) noexcept : pool_(&pool), n_(n) {}
        node_lease(node_lease&& o) noexcept : pool_(o.pool_), n_(std::exchange(o.n_, nullptr)) {}
        node_lease& operator=(node_lease&&) = delete;
        ~node_lease() {
            if (n_) pool_->release(n_);
        }
        [[nodiscard]] node* get() const noexcept { return n_; }
        [[nodiscard]] node* release() noexcept { return std::exchange(n_, nullptr); }

    private:
        detail::node_pool* pool_;
        node* n_;
    };

    // By reference from the public submit()s: each by-value std::string costs a copy of its inline
    // buffer, per record.
    void submit_node(std::string&& record, record_options&& options, detail::node_callback&& on_done) {
        if (!loop_->in_loop_thread()) {
            loop_->call_soon([this, r = std::move(record), o = std::move(options), f = std::move(on_done)]() mutable {
                submit_node(std::move(r), std::move(o), std::move(f));
            });
            return;
        }
        node_lease n = lease(detail::node_origin::callback, std::move(record), std::move(options));
        if (auto why = check(*n.get())) {
            detail::call_back(on_done, *why, std::move(n.get()->data));
            return;
        }
        n.get()->callback = std::move(on_done);
        enter(n.release());
    }

    node_lease lease(detail::node_origin origin, std::string&& record, record_options&& options) {
        node* n = pool_.make(origin);
        n->data = std::move(record);
        n->batch_key = std::move(options.batch_key);
        n->order_key = std::move(options.order_key);
        n->weight = options.weight;
        return node_lease(pool_, n);
    }

    task<delivery_receipt> deliver_from_elsewhere(std::string record, record_options options) {
        co_await loop_->schedule();
        co_return co_await deliver(std::move(record), std::move(options));
    }

    task<delivery_receipt> deliver_node(node_lease lease) {
        node* n = lease.get();
        check_or_throw(*n);
        deliveries_guard guard{this};
        enter(n);
        co_await finished{n};
        if (n->state == detail::node_state::delivered) co_return delivery_receipt{n->attempts, false};
        if (n->state == detail::node_state::persisted) co_return delivery_receipt{n->attempts, true};
        // The dead-letter step lives in its own coroutine: GCC 12 mishandles a string local that
        // spans a co_await inside try/catch and is then used to build the thrown exception.
        if (dead_letters(*n)) co_await send_to_dead_letter(*n);
        throw delivery_error(std::move(*n->failure));
    }

    // ---- options ----

    static delivery_options checked(delivery_options o, const sink_limits& sink) {
        if (o.batch.max_events == 0 || o.batch.max_bytes == 0 || o.batch.max_open_batches == 0)
            throw std::invalid_argument(o.name + ": batch limits must be positive");
        if (o.buffer.max_events == 0 || o.buffer.max_bytes == 0)
            throw std::invalid_argument(o.name + ": buffer limits must be positive");
        if ((o.buffer.policy == when_full::overflow || o.buffer.type == buffer_type::disk) && !o.disk)
            throw std::invalid_argument(o.name + ": overflow and disk buffering need disk buffer options");
        if (o.buffer.type == buffer_type::disk && o.buffer.policy == when_full::overflow)
            throw std::invalid_argument(o.name + ": a disk buffer cannot overflow; choose block or drop_newest");
        if (o.ordered && o.order_by_key)
            throw std::invalid_argument(o.name + ": ordered and order_by_key exclude each other; choose one");
        if (sink.needs_order && !o.order_by_key) o.ordered = true; // a FIFO destination
        return o;
    }

    sink_limits effective_limits() const {
        sink_limits l = sink_->limits();
        if (options_.limit_overrides.max_batch_entries) l.max_batch_entries = options_.limit_overrides.max_batch_entries;
        if (options_.limit_overrides.max_batch_bytes) l.max_batch_bytes = options_.limit_overrides.max_batch_bytes;
        if (options_.limit_overrides.max_record_bytes) l.max_record_bytes = options_.limit_overrides.max_record_bytes;
        return l;
    }

    static detail::batch_limits batch_limits_of(const delivery_options& o, const sink_limits& l) {
        return {std::min(o.batch.max_events, l.max_batch_entries), std::min(o.batch.max_bytes, l.max_batch_bytes),
                o.batch.max_age, o.batch.max_open_batches};
    }

    /// Why a record cannot enter now (never sent), or nothing.
    std::optional<outcome> check(const node& n) {
        if (stopping_) [[unlikely]]
            return refusal(outcome_kind::cancelled, "pipeline stopped; record not accepted");
        if (options_.disk && !spill_.is_open()) [[unlikely]]
            return refusal(outcome_kind::invalid, "start() the pipeline first");
        std::size_t limit = limits_.max_record_bytes;
        std::size_t size = n.cost();
        if (spill_.is_open()) {
            if (n.batch_key.size() > detail::envelope_max_key || n.order_key.size() > detail::envelope_max_key ||
                n.weight > std::numeric_limits<std::uint32_t>::max())
                return invalid("batch key, order key or weight too large for the disk buffer; not sent");
            if (!spill_.fits_record(n)) {
                size = detail::stored_size(detail::disk_spill::meta_of(n), n.data);
                limit = spill_.buffer()->max_record_bytes();
            }
        }
        if (size > limit) [[unlikely]]
            return invalid("record of " + std::to_string(size) + " bytes exceeds the sink's limit of " +
                           std::to_string(limit) + " bytes; not sent");
        return std::nullopt;
    }

    /// check() for deliver(): a refusal is thrown (outside the coroutine's frame).
    void check_or_throw(const node& n) {
        if (auto why = check(n)) [[unlikely]]
            throw delivery_error(std::move(*why));
    }

    outcome refusal(outcome_kind kind, const std::string& why) const { return outcome::make(kind, options_.name + ": " + why); }
    outcome invalid(const std::string& why) {
        ++stats_.failed;
        return refusal(outcome_kind::invalid, why);
    }

    // ---- a record's way in ----

    /// Whether a record goes to the disk buffer rather than straight into memory.
    [[nodiscard]] bool goes_to_disk(const node& n) const noexcept {
        if (!spill_.is_open()) return false;
        if (options_.buffer.type == buffer_type::disk) return true;
        // Overflow: once anything waits on disk, later records follow it there, keeping the order.
        return options_.buffer.policy == when_full::overflow &&
               (spill_.on_disk() != 0 || spill_.committing() || !admission_.fits(n.data.size()) || admission_.has_waiters());
    }

    void enter(node* n) {
        if (goes_to_disk(*n)) {
            spill_.persist(n);
            return;
        }
        switch (admission_.offer(*n)) {
        case detail::admission::verdict::admitted: accept(n); break;
        case detail::admission::verdict::waiting: break;
        case detail::admission::verdict::full:
            count_drop("memory");
            finish_failed(n, refusal(outcome_kind::dropped, "buffer full (" + std::to_string(admission_.events()) +
                                                                " records, " + std::to_string(admission_.bytes()) +
                                                                " bytes): record dropped"));
            break;
        }
    }

    /// `n` holds room in memory: it is in the engine now.
    void accept(node* n) {
        n->counted = n->accepted = true;
        ++outstanding_;
        if (n->origin != detail::node_origin::replay) {
            ++stats_.accepted;
            sink_metrics_.events_in.inc();
            buffer_metrics_.events_in.inc();
        }
        route(n, false);
        update_gauges();
    }

    /// Into a batch, unless an earlier record of its order key is still on its way.
    void route(node* n, bool prompt) {
        if (options_.order_by_key && !n->order_key.empty() && !n->gated && !gates_.enter(n)) {
            ++stats_.order_key_waits;
            return;
        }
        batcher_.add(n, prompt);
    }

    // ---- parts' hooks ----

    void admitted(node* n) override { accept(n); }
    void refused(node* n, outcome why) override {
        why.message = options_.name + ": " + why.message;
        if (why.kind == outcome_kind::dropped) count_drop("memory");
        finish_failed(n, std::move(why));
    }

    void sealed(detail::sealed_batch&& b) override {
        if (b.reason == detail::seal_reason::age) note_age_seal(b);
        dispatcher_.enqueue(std::move(b));
    }

    void settle(node* n, const outcome& o, bool budget_paid) override {
        if (o.is_ok()) {
            succeed(n);
        } else if (deadline_passed_ && (o.retryable() || o.kind == outcome_kind::cancelled)) {
            give_up(n);
        } else if (!o.retryable()) {
            const std::string why = o.kind == outcome_kind::reject ? "rejected: " + o.message
                                                                  : std::string(to_string(o.kind)) + ": " + o.message;
            finish_final(n, o, options_.name + ": " + why);
        } else {
            const auto now = clock::now();
            if (!retries_.may_retry(*n, now)) {
                finish_final(n, o, options_.name + ": gave up after " + std::to_string(n->attempts) + " attempt(s): " + o.message);
                return;
            }
            ++stats_.retried;
            sink_metrics_.events_retried.inc();
            retries_.schedule(n, now, budget_paid, o.retry_after);
        }
    }

    void response_started() override { in_response_ = true; }

    void response_settled() override {
        in_response_ = false;
        retries_.response_done();
        batcher_.seal_prompt();
        notify_change();
    }

    void retries_due(std::vector<node*>& nodes) override {
        for (node* n : nodes) route(n, true);
        batcher_.seal_prompt();
    }

    void retry_first(std::vector<node*>&& nodes, clock::time_point hold_until) override {
        // Runs of one batch key become batches, queued in front in reverse so their order holds.
        std::size_t end = nodes.size();
        while (end != 0) {
            std::size_t begin = end - 1;
            while (begin != 0 && nodes[begin - 1]->batch_key == nodes[end - 1]->batch_key) --begin;
            detail::sealed_batch b;
            b.key = nodes[begin]->batch_key;
            for (std::size_t i = begin; i < end; ++i) {
                b.nodes.push_back(nodes[i]);
                b.bytes += nodes[i]->data.size();
                b.weight += nodes[i]->cost();
            }
            b.reason = detail::seal_reason::asked;
            dispatcher_.enqueue_first(std::move(b), hold_until);
            end = begin;
        }
    }

    void committed(node* n) override {
        n->state = detail::node_state::persisted;
        if (!n->kept) { // (one kept at stop is counted with what is on disk)
            sink_metrics_.events_in.inc();
            buffer_metrics_.events_in.inc();
            note_disk();
        }
        finish(n);
    }

    void not_committed(node* n, outcome why) override {
        if (n->kept) {
            ++unprocessed_at_stop_;
            finish_final(n, outcome::make(outcome_kind::cancelled, {}),
                         options_.name + ": unprocessed: stop deadline passed after " + std::to_string(n->attempts) +
                             " attempt(s) and the disk buffer did not take it (" + why.message + ")");
            return;
        }
        if (why.kind == outcome_kind::dropped) {
            sink_metrics_.events_dropped.inc();
            buffer_metrics_.events_dropped.inc();
            log_drop("disk");
        }
        why.message = options_.name + ": " + why.message;
        finish_failed(n, std::move(why));
    }

    void replayed(node* n) override {
        admission_.take(*n);
        accept(n);
        note_disk();
    }

    /// Publishes what the disk buffer holds: records and bytes.
    void note_disk() {
        buffer_metrics_.disk_events.set(static_cast<double>(spill_.on_disk()));
        if (const disk_buffer* b = spill_.buffer()) buffer_metrics_.disk_bytes.set(static_cast<double>(b->stats().bytes_on_disk));
    }
    bool room_for_replay() override { return admission_.room_for_replay(); }
    void disk_changed() override { notify_change(); }

    // ---- a record's way out ----

    void succeed(node* n) {
        n->state = detail::node_state::delivered;
        ++stats_.delivered;
        sink_metrics_.events_out.inc();
        buffer_metrics_.events_out.inc();
        finish(n);
    }

    /// A final failure of an accepted record (rejected, out of attempts, unprocessed): counted, logged.
    void finish_final(node* n, const outcome& why, std::string message) {
        outcome o = why;
        o.message = std::move(message);
        ++stats_.failed;
        sink_metrics_.events_failed.inc();
        // One line per cause and interval: a misconfiguration fails every record for one reason.
        if (options_.log && options_.log->enabled(log_level::warn)) {
            if (const auto held = log_limit_.admit(log_cause(o)))
                options_.log->warn("delivery", "record not delivered",
                                   {field::plain("sink", options_.name), field::plain("reason", o.message),
                                    field::plain("attempts", static_cast<std::uint64_t>(n->attempts)),
                                    field::plain("similar_not_logged", *held)});
        }
        finish_failed(n, std::move(o));
    }

    void finish_failed(node* n, outcome o) {
        n->state = detail::node_state::failed;
        n->failure = std::make_unique<outcome>(std::move(o));
        n->failure->attempts = n->attempts;
        n->failure->sent = n->sent;
        finish(n);
    }

    /// After stop's deadline: a record is not retried any more. With a disk buffer nothing is given
    /// up: a record read from disk stays there (unacknowledged), one from memory is written there;
    /// without one it finishes as "unprocessed".
    void give_up(node* n) {
        if (n->origin == detail::node_origin::replay) {
            n->state = detail::node_state::persisted;
            ++kept_replayed_;
            finish(n);
        } else if (spill_.is_open()) {
            spill_.persist(n, true);
        } else {
            ++unprocessed_at_stop_;
            finish_final(n, outcome::make(outcome_kind::cancelled, {}),
                         options_.name + ": unprocessed: stop deadline passed after " + std::to_string(n->attempts) +
                             " attempt(s)");
        }
    }

    /// `n`'s state is final: gives back its room and its order key's turn, tells whoever waits.
    void finish(node* n) {
        const bool had_room = n->admitted;
        admission_.release(*n);
        if (n->gated) {
            if (node* next = gates_.leave(n)) {
                if (deadline_passed_) {
                    give_up(next);
                } else {
                    batcher_.add(next, true); // it waited behind `n`: out promptly
                    if (!in_response_) batcher_.seal_prompt();
                }
            }
        }
        if (n->counted) {
            n->counted = false;
            --outstanding_;
        }
        if (had_room) {
            spill_.room_changed();
            update_gauges();
        }
        complete(n);
        notify_change();
    }

    /// Tells the sender: resumes deliver(), runs submit()'s callback, or acknowledges a record read
    /// back from disk; the last two give the node back to the pool.
    void complete(node* n) {
        switch (n->origin) {
        case detail::node_origin::awaiting:
            if (n->waiter) loop_->post(n->waiter);
            return;
        case detail::node_origin::callback:
        case detail::node_origin::replay:
            if (n->state == detail::node_state::failed && dead_letters(*n)) {
                scope_.spawn(dead_letter_then_release(n));
                return;
            }
            release(n);
            return;
        }
    }

    void release(node* n) {
        if (n->origin == detail::node_origin::replay) {
            if (n->state != detail::node_state::persisted) spill_.acknowledge(*n);
            pool_.release(n);
            return;
        }
        // One outcome object serves every success: building one per record costs more than the rest
        // of the way back.
        std::unique_ptr<outcome> failure = std::move(n->failure);
        const outcome* o = failure.get();
        if (!o) {
            success_.kind = n->state == detail::node_state::persisted ? outcome_kind::persisted : outcome_kind::ok;
            success_.attempts = n->attempts;
            success_.sent = n->sent;
            o = &success_;
        }
        // The callback runs after the node went back to the pool (it may submit again): what it
        // needs of the node is moved out first.
        detail::node_callback callback = std::move(n->callback);
        std::string data = o->is_ok() ? std::string() : std::move(n->data);
        pool_.release(n);
        detail::call_back(callback, *o, std::move(data));
    }

    task<void> dead_letter_then_release(node* n) {
        co_await send_to_dead_letter(*n);
        release(n);
    }

    [[nodiscard]] bool dead_letters(const node& n) const noexcept {
        return options_.dead_letter_output && n.accepted && n.failure && n.failure->kind != outcome_kind::dropped;
    }

    /// Hands a finally failed record to the dead-letter output; notes the outcome in its failure.
    task<bool> send_to_dead_letter(node& n) {
        std::exception_ptr failure;
        try {
            co_await options_.dead_letter_output(dead_letter{options_.name, n.data, n.failure->message, n.attempts});
        } catch (...) {
            failure = std::current_exception();
        }
        if (!failure) {
            ++stats_.dead_lettered;
            n.failure->dead_lettered = true;
            n.failure->message += " (dead-lettered)";
            co_return true;
        }
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            n.failure->message += std::string(" (dead-letter output failed too: ") + e.what() + ")";
        } catch (...) {
            n.failure->message += " (dead-letter output failed too)";
        }
        co_return false;
    }

    /// Suspends deliver() until its record finished.
    struct finished {
        node* n;
        bool await_ready() const noexcept { return n->finished(); }
        void await_suspend(std::coroutine_handle<> h) noexcept { n->waiter = h; }
        void await_resume() const noexcept {}
    };

    struct deliveries_guard {
        delivery_pipeline* self;
        explicit deliveries_guard(delivery_pipeline* p) noexcept : self(p) { ++self->deliveries_; }
        ~deliveries_guard() { --self->deliveries_; }
        deliveries_guard(const deliveries_guard&) = delete;
        deliveries_guard& operator=(const deliveries_guard&) = delete;
    };

    // ---- stop ----

    void deadline_reached() {
        deadline_reached_ = true;
        changed_.set();
    }

    /// At stop's deadline: cancels the requests in flight and gives up (keeps on disk, or reports
    /// unprocessed) every record not delivered; waits until each has finished.
    task<void> abandon_at_deadline(delivery_report& report) {
        deadline_passed_ = true;
        const std::size_t cancelled = dispatcher_.cancel_requests();
        stats_.cancelled_requests += cancelled;
        report.cancelled_requests += cancelled;
        std::vector<node*> abandon = retries_.take_all();
        const std::vector<node*> queued = dispatcher_.take_queued();
        const std::vector<node*> batched = batcher_.take_all();
        const std::vector<node*> held = gates_.take_waiting();
        abandon.insert(abandon.end(), queued.begin(), queued.end());
        abandon.insert(abandon.end(), batched.begin(), batched.end());
        abandon.insert(abandon.end(), held.begin(), held.end());
        for (node* n : abandon) give_up(n);
        // Requests in flight end as they end (cancelled); their records are given up as they come back.
        while (outstanding_ != 0 || spill_.committing()) co_await wait_for_change();
        report.unprocessed += unprocessed_at_stop_;
        stats_.unprocessed += unprocessed_at_stop_;
    }

    [[nodiscard]] bool idle() const noexcept {
        return outstanding_ == 0 && spill_.on_disk() == 0 && !spill_.committing();
    }

    /// Waits until something that flush() or stop() waits for may have changed.
    task<void> wait_for_change() {
        changed_.reset();
        ++change_waiters_;
        co_await changed_.wait();
        --change_waiters_;
        co_await loop_->schedule(); // set() resumed us inside whoever finished a record
    }

    void notify_change() {
        if (change_waiters_ != 0) changed_.set();
    }

    // ---- metrics and logs ----

    void note_age_seal(const detail::sealed_batch& b) {
        ++stats_.sealed_by_age;
        if (dispatcher_.in_flight() != 0 || dispatcher_.queued() != 0 || retries_.waiting() != 0) return;
        for (const node* n : b.nodes)
            if (n->origin == detail::node_origin::replay) return;
        ++stats_.age_only_waits;
        age_only_metric_.inc();
        const auto now = clock::now();
        if (options_.log && now - last_age_log_ >= std::chrono::seconds(10)) {
            last_age_log_ = now;
            options_.log->debug("delivery",
                                "batch sealed by max_age while every sender waited for its acknowledgement: more "
                                "concurrent senders or a shorter max_age would fill batches",
                                {field::plain("sink", options_.name),
                                 field::plain("records", static_cast<std::uint64_t>(b.nodes.size())),
                                 field::plain("max_events", static_cast<std::uint64_t>(batcher_.limits().max_events))});
        }
    }

    void count_drop(const char* where) {
        ++stats_.dropped;
        sink_metrics_.events_dropped.inc();
        buffer_metrics_.events_dropped.inc();
        log_drop(where);
    }

    void log_drop(const char* where) {
        if (!options_.log || !options_.log->enabled(log_level::warn)) return;
        if (const auto held = log_limit_.admit(std::string("dropped:") + where))
            options_.log->warn("delivery", "record dropped: buffer full",
                               {field::plain("sink", options_.name), field::plain("buffer", where),
                                field::plain("similar_not_logged", *held)});
    }

    void update_gauges() {
        if (!options_.metrics) return;
        buffer_metrics_.memory_events.set(static_cast<double>(admission_.events()));
        buffer_metrics_.memory_bytes.set(static_cast<double>(admission_.bytes()));
    }

    io_loop* loop_;
    log_throttle log_limit_;
    Sink* sink_;
    delivery_options options_;
    sink_limits limits_;
    delivery_stats stats_{};
    sink_metrics sink_metrics_{}; // no-ops without a registry
    buffer_metrics buffer_metrics_{};
    counter age_only_metric_{};
    async_scope scope_;
    detail::node_pool pool_;
    detail::admission admission_;
    detail::batcher batcher_;
    detail::retry_scheduler retries_;
    detail::dispatcher<Sink> dispatcher_;
    detail::disk_spill spill_;
    detail::order_gates gates_;
    detail::alarm deadline_;
    outcome success_{};
    async_event changed_;
    std::size_t change_waiters_ = 0;
    std::size_t outstanding_ = 0; // admitted records not yet finished
    std::size_t deliveries_ = 0;  // deliver() calls in progress
    std::uint64_t kept_replayed_ = 0; // read back from disk, left there unacknowledged at stop
    std::uint64_t unprocessed_at_stop_ = 0;
    clock::time_point last_age_log_{};
    bool in_response_ = false;
    bool stopping_ = false;
    bool deadline_reached_ = false;
    bool deadline_passed_ = false;
};

} // namespace sluice
