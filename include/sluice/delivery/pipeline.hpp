#pragma once

// delivery_pipeline<Sink>: the one batching / buffering / retry engine in front of every sink.
//
//   deliver(record) -> admission (memory buffer bound: block or drop) -> open batch
//   -> sealed on max events / max bytes / the sink's limits / max age -> dispatch (concurrency limit,
//   rate limit) -> sink.send(batch) -> per entry: ok (acknowledge), retry (backoff with full jitter,
//   back into a batch), reject or out of attempts (dead letter, Error) -> deliver() returns or throws.
//
// deliver() completes when the sink acknowledged the record (end-to-end acknowledgement) or it
// finally failed, so a collector whose processor awaits deliver() resolves its payload's result with
// the sink's answer. Runs entirely on one io_loop thread: no locks.

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sluice/core/executor.hpp>
#include <sluice/core/outcome.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/backoff.hpp>
#include <sluice/delivery/concurrency.hpp>
#include <sluice/delivery/disk_buffer.hpp>
#include <sluice/delivery/rate_limiter.hpp>
#include <sluice/delivery/sink.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/log.hpp>
#include <sluice/metrics/metrics.hpp>

namespace sluice {

struct batch_options {
    /// Seal a batch at this many records (also capped by the sink's max_batch_entries).
    std::size_t max_events = 500;
    /// Seal a batch at this many bytes (also capped by the sink's max_batch_bytes).
    std::size_t max_bytes = 1u << 20;
    /// Seal a non-empty batch this long after its first record arrived.
    std::chrono::milliseconds max_age{1000};
};

/// What to do with a record when the buffer is full.
enum class when_full {
    block,       ///< deliver() waits for room: backpressure up to the sender
    drop_newest, ///< the new record is refused with an Error and counted
    overflow,    ///< memory spills to the disk buffer, drained back in order (needs `disk`)
};

/// Where records wait between deliver() and the sink.
enum class buffer_type {
    memory, ///< in memory, bounded by events and bytes; deliver() returns on the sink's acknowledgement
    disk,   ///< written to the disk buffer first; deliver() returns once the record is persisted, and
            ///< what is on disk survives a crash or a stop and is delivered after the next start()
};

struct memory_buffer_options {
    /// Records in memory and not yet finished (batching, in flight, waiting to retry). With a disk
    /// buffer this also bounds how much is read back from disk at a time.
    std::size_t max_events = 100'000;
    std::size_t max_bytes = 64u << 20;
    when_full policy = when_full::block;
    buffer_type type = buffer_type::memory;
};

/// A record that finally failed, as handed to the dead-letter output.
struct dead_letter {
    std::string_view sink;
    std::string_view record;
    std::string_view reason;
    unsigned attempts;
};

struct delivery_options {
    /// Names the pipeline in errors, logs and metrics.
    std::string name = "sink";
    batch_options batch{};
    memory_buffer_options buffer{};
    retry_options retry{};
    rate_limit_options rate{};
    concurrency_options concurrency{};
    /// Receives every record that finally failed (another queue, a file...). Its own failure is
    /// reported in the record's Error, never swallowed.
    std::function<task<void>(const dead_letter&)> dead_letter_output{};
    /// Overrides for the sink's own limits (services change them); zero fields keep the sink's.
    sink_limits limit_overrides{0, 0, 0};
    /// The disk buffer, for buffer_type::disk and when_full::overflow (bounded by its max_bytes).
    std::optional<disk_buffer_options> disk{};
    /// Where to publish the sink's and the buffer's metrics (labelled with `name`); none if null.
    metrics_registry* metrics = nullptr;
    /// Where to log final failures, drops and disk buffer corruption (warn/error); none if null.
    /// Records' bodies are never logged.
    const logger* log = nullptr;
    /// Keep records in order (FIFO queues): one request at a time, and records to retry go out again,
    /// after their backoff, before anything newer. Forces a concurrency of 1.
    bool ordered = false;
};

/// How a record ended up.
struct delivery_receipt {
    /// Requests that carried the record (0 when it was persisted and not yet sent).
    unsigned attempts = 0;
    /// True when deliver() returned because the record reached the disk buffer: delivery goes on in
    /// the background and, after a crash or stop, after the next start().
    bool persisted = false;
};

/// Counters of one pipeline.
struct delivery_stats {
    std::uint64_t accepted = 0;
    std::uint64_t delivered = 0;
    std::uint64_t failed = 0;        ///< rejected or out of attempts
    std::uint64_t dropped = 0;       ///< refused by a full buffer (drop_newest)
    std::uint64_t retried = 0;       ///< entry retries scheduled
    std::uint64_t throttled = 0;     ///< responses that asked us to slow down
    std::uint64_t dead_lettered = 0;
    std::uint64_t requests = 0;
    std::uint64_t request_failures = 0;
    std::uint64_t unprocessed = 0;   ///< given up at stop
    std::uint64_t persisted = 0;     ///< written to the disk buffer (spilled, or every record in disk mode)
    std::uint64_t replayed = 0;      ///< read back from the disk buffer into memory
    std::uint64_t on_disk = 0;       ///< persisted, not yet read back
    std::uint64_t disk_full_waits = 0; ///< times a record waited for the disk buffer to have room
    std::size_t buffered_events = 0; ///< admitted, not finished
    std::size_t buffered_bytes = 0;
    std::size_t in_flight = 0;
    std::size_t concurrency_limit = 0;
    std::uint64_t batches = 0;
    std::uint64_t batched_records = 0; ///< sum of batch sizes (mean = batched_records / batches)
    std::chrono::nanoseconds total_latency{0};
};

struct delivery_report {
    /// True when everything was delivered (or finally failed) before the deadline.
    bool drained = true;
    /// Finished with an Error "unprocessed" at the deadline (no disk buffer to keep them).
    std::uint64_t unprocessed = 0;
    /// Left in the disk buffer at the deadline, for the next start().
    std::uint64_t persisted = 0;
};

template <sink_adapter Sink>
class delivery_pipeline {
    using clock = std::chrono::steady_clock;

    enum class node_state : std::uint8_t { pending, delivered, failed, persisted };

    /// One record inside the engine. Lives in the deliver() frame that owns it.
    struct record_node {
        std::string data;
        unsigned attempts = 0;
        clock::time_point first_attempt{};
        clock::time_point due{};
        node_state state = node_state::pending;
        /// The final failure (kind, message, service code, request id) once state is failed.
        outcome failure;
        /// The deliver() awaiting this record; null for a record read back from the disk buffer.
        std::coroutine_handle<> waiter{};
        /// Its id in the disk buffer, when it came from there.
        std::optional<record_id> disk_id{};
    };

    struct batch {
        std::vector<record_node*> nodes;
        std::size_t bytes = 0;
    };

public:
    delivery_pipeline(io_loop& loop, Sink& sink, delivery_options options = {})
        : loop_(&loop), sink_(&sink), options_(std::move(options)), limits_(effective_limits()),
          backoff_(options_.retry), limiter_(options_.rate), concurrency_(effective_concurrency(options_)) {
        if (options_.metrics) {
            sink_metrics_ = sink_metrics(*options_.metrics, options_.name);
            buffer_metrics_ = buffer_metrics(*options_.metrics, options_.name);
        }
        if (options_.batch.max_events == 0 || options_.batch.max_bytes == 0)
            throw std::invalid_argument(options_.name + ": batch limits must be positive");
        if (options_.buffer.max_events == 0 || options_.buffer.max_bytes == 0)
            throw std::invalid_argument(options_.name + ": buffer limits must be positive");
        if ((options_.buffer.policy == when_full::overflow || options_.buffer.type == buffer_type::disk) &&
            !options_.disk)
            throw std::invalid_argument(options_.name + ": overflow and disk buffering need disk buffer options");
        if (options_.buffer.type == buffer_type::disk && options_.buffer.policy == when_full::overflow)
            throw std::invalid_argument(options_.name + ": a disk buffer cannot overflow; choose block or drop_newest");
        open_.nodes.reserve(batch_events());
    }

    delivery_pipeline(const delivery_pipeline&) = delete;
    delivery_pipeline& operator=(const delivery_pipeline&) = delete;

    ~delivery_pipeline() {
        // Frames parked in this pipeline would be left dangling: stop() must have run.
        if (outstanding_ != 0 || background_ != 0 || deliveries_ != 0) {
            std::fputs("sluice: delivery_pipeline destroyed with records in it; co_await stop() first\n", stderr);
            std::terminate();
        }
    }

    /// Opens the disk buffer (when configured) and starts delivering what it holds from before.
    /// Without a disk buffer there is nothing to do. Call once, on the loop, before deliver().
    task<void> start() {
        if (!options_.disk || disk_) co_return;
        if (options_.log && !options_.disk->on_corruption) {
            const logger* log = options_.log;
            std::string name = options_.name;
            options_.disk->on_corruption = [log, name](const std::string& what) {
                log->error("disk_buffer", "corrupt data skipped", {field::plain("sink", name), field::plain("where", what)});
            };
        }
        disk_ = co_await disk_buffer::open(*loop_, *options_.disk);
        on_disk_ = disk_->recovery().records_recovered;
        if (on_disk_ != 0) ensure_drainer();
    }

    /// The disk buffer, once started (null without one).
    [[nodiscard]] disk_buffer* disk() noexcept { return disk_.get(); }

    [[nodiscard]] const sink_limits& limits() const noexcept { return limits_; }
    [[nodiscard]] const std::string& name() const noexcept { return options_.name; }

    /// Delivers one encoded record; returns when the sink acknowledged it, throws delivery_error
    /// when it was not delivered (rejected, out of attempts, dropped by a full buffer, stopped) and
    /// std::invalid_argument for a record larger than the sink accepts (never sent). Call on the loop.
    task<delivery_receipt> deliver(std::string record) {
        if (stopping_)
            throw refused(outcome_kind::cancelled, options_.name + ": pipeline stopped; record not accepted");
        if (options_.disk && !disk_)
            throw refused(outcome_kind::invalid, options_.name + ": start() the pipeline first");
        std::size_t limit = limits_.max_record_bytes;
        if (disk_) limit = std::min(limit, disk_->max_record_bytes());
        if (record.size() > limit) {
            ++stats_.failed;
            throw refused(outcome_kind::invalid, options_.name + ": record of " + std::to_string(record.size()) +
                                     " bytes exceeds the sink's limit of " + std::to_string(limit) + " bytes; not sent");
        }
        ++deliveries_;
        deliveries_guard guard{this};
        if (goes_to_disk(record.size())) {
            co_await persist(record);
            co_return delivery_receipt{0, true};
        }
        record_node node;
        node.data = std::move(record);
        co_await admit(node);
        ++stats_.accepted;
        sink_metrics_.events_in.inc();
        buffer_metrics_.events_in.inc();
        ++outstanding_;
        node.first_attempt = clock::now();
        add_to_batch(&node);
        co_await finished{&node};
        release_buffer(node);
        --outstanding_;
        wake_drain_waiter();
        if (node.state == node_state::delivered) co_return delivery_receipt{node.attempts, false};
        if (node.state == node_state::persisted) co_return delivery_receipt{node.attempts, true};

        // The dead-letter step lives in its own coroutine: GCC 12 mishandles a string local that
        // spans a co_await inside try/catch and is then used to build the thrown exception.
        if (options_.dead_letter_output && node.failure.kind != outcome_kind::dropped)
            co_await send_to_dead_letter(node);
        throw delivery_error(std::move(node.failure));
    }

    /// Seals the open batch now and waits until every record admitted so far has finished.
    task<void> flush() {
        seal();
        while (outstanding_ != 0 || on_disk_ != 0) {
            co_await wait_for_drain(clock::time_point::max());
            seal();
        }
    }

    /// Stops accepting, sends what is batched and lets retries run until `grace` passes; then the
    /// records not in flight are finished as "unprocessed" and the in-flight requests are awaited.
    /// Every accepted record has finished when this returns.
    task<delivery_report> stop(clock::duration grace = std::chrono::seconds(5)) {
        delivery_report report;
        stopping_ = true;
        auto deadline = clock::now() + grace;
        release_blocked();
        seal();
        while ((outstanding_ != 0 || on_disk_ != 0) && clock::now() < deadline) {
            co_await wait_for_drain(deadline);
            seal();
        }
        // The drainer reads no more; what is still on disk stays there for the next start().
        drainer_stop_.request_stop();
        room_signal_.request_stop();
        report.persisted += on_disk_;
        if (outstanding_ != 0) {
            // Not in flight: waiting to retry, or batched but not yet dispatched.
            std::vector<record_node*> abandon;
            for (auto& r : retry_heap_) abandon.push_back(r.node);
            retry_heap_.clear();
            for (auto& b : ready_)
                for (auto* n : b.nodes) abandon.push_back(n);
            ready_.clear();
            for (auto* n : open_.nodes) abandon.push_back(n);
            open_ = {};
            deadline_passed_ = true;
            for (auto* n : abandon) co_await give_up_at_stop(n);
            // Requests still in flight end as they end; a retryable failure among them is not
            // retried any more but given up the same way (settle() sees deadline_passed_).
            while (outstanding_ != 0) co_await wait_for_drain(clock::time_point::max());
            report.persisted += kept_at_stop_;
            report.unprocessed += unprocessed_at_stop_;
            stats_.unprocessed += unprocessed_at_stop_;
        }
        report.drained = report.persisted == 0 && report.unprocessed == 0;
        retry_stop_.request_stop();
        retry_wake_.request_stop();
        age_stop_.request_stop();
        age_wake_.request_stop();
        while (background_ != 0) co_await loop_->schedule();
        if (disk_) co_await disk_->close();
        co_return report;
    }

    [[nodiscard]] delivery_stats stats() const {
        delivery_stats s = stats_;
        s.buffered_events = buffered_events_;
        s.buffered_bytes = buffered_bytes_;
        s.in_flight = in_flight_;
        s.concurrency_limit = concurrency_.limit();
        s.on_disk = on_disk_;
        return s;
    }

private:
    /// Hands a finally failed record to the dead-letter output; notes the outcome in its failure.
    task<bool> send_to_dead_letter(record_node& node) {
        std::exception_ptr failure;
        try {
            co_await options_.dead_letter_output(dead_letter{options_.name, node.data, node.failure.message, node.attempts});
        } catch (...) {
            failure = std::current_exception();
        }
        if (!failure) {
            ++stats_.dead_lettered;
            node.failure.dead_lettered = true;
            node.failure.message += " (dead-lettered)";
            co_return true;
        }
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            node.failure.message += std::string(" (dead-letter output failed too: ") + e.what() + ")";
        } catch (...) {
            node.failure.message += " (dead-letter output failed too)";
        }
        co_return false;
    }

    /// A record refused before it entered the engine (stopped, invalid, dropped): never sent.
    static delivery_error refused(outcome_kind kind, std::string why) {
        return delivery_error(outcome::make(kind, std::move(why)));
    }

    void log_drop(const char* where) const {
        if (options_.log)
            options_.log->warn("delivery", "record dropped: buffer full",
                               {field::plain("sink", options_.name), field::plain("buffer", where)});
    }

    /// A kernel error that means "no room" (full disk, file size limit, quota): treated like a full
    /// disk buffer (backpressure or drop), not as a failure of the record.
    static bool out_of_space(const std::system_error& e) noexcept {
        int v = e.code().value();
        return e.code().category() == std::system_category() && (v == ENOSPC || v == EFBIG || v == EDQUOT);
    }

    // ---- the disk buffer ----

    struct deliveries_guard {
        delivery_pipeline* self;
        ~deliveries_guard() { --self->deliveries_; }
    };

    /// Whether a record of `bytes` goes to the disk buffer rather than straight into memory.
    [[nodiscard]] bool goes_to_disk(std::size_t bytes) const noexcept {
        if (!disk_) return false;
        if (options_.buffer.type == buffer_type::disk) return true;
        // Overflow: once anything waits on disk, later records follow it there, keeping the order.
        return options_.buffer.policy == when_full::overflow && (on_disk_ != 0 || !fits(bytes) || !blocked_.empty());
    }

    /// Appends a record to the disk buffer and makes it durable per the buffer's fsync policy; waits
    /// (block) or refuses (drop_newest) while the disk buffer is full.
    task<void> persist(std::string_view record) {
        for (;;) {
            bool full = false;
            try {
                co_await disk_->append(record);
            } catch (const disk_buffer_full&) {
                full = true;
            } catch (const std::system_error& e) {
                if (!out_of_space(e)) throw;
                full = true; // the disk buffer rolled the failed write back; it stays valid
            }
            if (!full) break;
            if (options_.buffer.policy == when_full::drop_newest) {
                ++stats_.dropped;
                sink_metrics_.events_dropped.inc();
                buffer_metrics_.events_dropped.inc();
                log_drop("disk");
                throw refused(outcome_kind::dropped, options_.name + ": disk buffer full: record dropped");
            }
            if (stopping_)
                throw refused(outcome_kind::cancelled, options_.name + ": pipeline stopped while the disk buffer was full");
            ++stats_.disk_full_waits;
            // Room appears as the sink acknowledges records and their segments are deleted.
            co_await loop_->sleep_for(std::chrono::milliseconds(5));
        }
        // Group commit: one flusher writes whatever was appended meanwhile, for every waiting record.
        std::uint64_t seq = ++appended_seq_;
        ensure_disk_flusher();
        if (durable_seq_ < seq) co_await durable{this, seq};
        if (flush_error_) std::rethrow_exception(flush_error_);
        ++stats_.persisted;
        ++on_disk_;
        sink_metrics_.events_in.inc();
        buffer_metrics_.events_in.inc();
        buffer_metrics_.disk_events.set(static_cast<double>(on_disk_));
        buffer_metrics_.disk_bytes.set(static_cast<double>(disk_->stats().bytes_on_disk));
        ensure_drainer();
    }

    /// Suspends a persist() until the flusher has made its record durable.
    struct durable {
        delivery_pipeline* self;
        std::uint64_t seq;
        bool await_ready() const noexcept { return self->durable_seq_ >= seq; }
        void await_suspend(std::coroutine_handle<> h) { self->durable_waiters_.push_back({seq, h}); }
        void await_resume() const noexcept {}
    };

    void ensure_disk_flusher() {
        if (disk_flusher_running_) return;
        disk_flusher_running_ = true;
        ++background_;
        loop_->spawn(flush_disk());
    }

    /// Flushes the disk buffer while records wait to be durable, waking those each flush covered.
    task<void> flush_disk() {
        while (durable_seq_ < appended_seq_) {
            std::uint64_t target = appended_seq_;
            flush_error_ = nullptr;
            try {
                co_await disk_->flush();
            } catch (...) {
                flush_error_ = std::current_exception();
            }
            durable_seq_ = target;
            std::erase_if(durable_waiters_, [&](const std::pair<std::uint64_t, std::coroutine_handle<>>& w) {
                if (w.first > target) return false;
                loop_->post(w.second);
                return true;
            });
        }
        disk_flusher_running_ = false;
        --background_;
    }

    /// After stop's deadline: a record is not retried any more. With a disk buffer nothing is given
    /// up: a record read from disk stays there (unacknowledged), one from memory is written there;
    /// without one it finishes as "unprocessed".
    task<void> give_up_at_stop(record_node* n) {
        // No co_await inside the condition: GCC 12 miscompiles it in a short-circuit operand.
        bool kept = false;
        if (disk_) kept = n->disk_id.has_value();
        if (disk_ && !kept) kept = co_await persist_at_stop(n->data);
        if (kept) {
            n->state = node_state::persisted;
            ++kept_at_stop_;
            finish(n);
        } else {
            ++unprocessed_at_stop_;
            fail(n, outcome::make(outcome_kind::cancelled, {}),
                 options_.name + ": unprocessed: stop deadline passed after " + std::to_string(n->attempts) +
                     " attempt(s)");
        }
    }

    task<void> give_up_later(record_node* n) {
        co_await give_up_at_stop(n);
        --background_;
    }

    /// At stop: keeps a record that was in memory in the disk buffer instead of giving it up.
    task<bool> persist_at_stop(std::string_view record) {
        bool kept = true;
        try {
            co_await disk_->append(record);
        } catch (const std::exception&) {
            kept = false; // full or failing: reported as unprocessed instead
        }
        if (kept) ++stats_.persisted;
        co_return kept;
    }

    /// Room in memory for one more record read back from disk.
    [[nodiscard]] bool room_for_replay() const noexcept {
        return buffered_events_ == 0 || (buffered_events_ < options_.buffer.max_events &&
                                         buffered_bytes_ < options_.buffer.max_bytes && blocked_.empty());
    }

    void ensure_drainer() {
        if (drainer_running_) {
            room_signal_.request_stop();
            return;
        }
        drainer_running_ = true;
        ++background_;
        loop_->spawn(drain_disk());
    }

    /// Reads records back from disk into batches, in order, as memory has room.
    task<void> drain_disk() {
        while (on_disk_ != 0 && !drainer_stop_.stop_requested()) {
            if (!room_for_replay()) {
                co_await wait_signal(room_signal_, clock::now() + std::chrono::seconds(1));
                continue;
            }
            std::optional<disk_record> rec = co_await disk_->read_next();
            if (!rec) {
                // What was counted was lost to corruption found while reading (the buffer counts it).
                on_disk_ = 0;
                break;
            }
            --on_disk_;
            ++stats_.replayed;
            buffer_metrics_.disk_events.set(static_cast<double>(on_disk_));
            auto* n = new record_node;
            n->data.assign(reinterpret_cast<const char*>(rec->data.data()), rec->data.size());
            n->disk_id = rec->id;
            n->first_attempt = clock::now();
            take_buffer(n->data.size());
            ++outstanding_;
            add_to_batch(n);
        }
        drainer_running_ = false;
        --background_;
        wake_drain_waiter();
    }

    /// A record read back from disk finished: acknowledge it there (whatever the outcome: a final
    /// failure went to the dead-letter output and the error counters) and free it. One kept for the
    /// next start (persisted) stays unacknowledged.
    task<void> finish_replayed(record_node* n) {
        if (n->state == node_state::failed && options_.dead_letter_output) co_await send_to_dead_letter(*n);
        if (n->state != node_state::persisted) disk_->acknowledge(*n->disk_id);
        release_buffer(*n);
        --outstanding_;
        --background_;
        delete n;
        wake_drain_waiter();
    }

    /// Waits until `signal` is requested (re-armed here) or `deadline` passes. One waiter per signal.
    task<void> wait_signal(std::stop_source& signal, clock::time_point deadline) {
        signal = std::stop_source{};
        try {
            co_await loop_->sleep_until(deadline, signal.get_token());
        } catch (const operation_cancelled&) {
        }
    }

    // ---- admission: the memory buffer bound ----

    struct admission_waiter {
        std::coroutine_handle<> handle;
        record_node* node;
        bool refused = false;
    };

    task<void> admit(record_node& node) {
        std::size_t bytes = node.data.size();
        if (fits(bytes) && blocked_.empty()) {
            take_buffer(bytes);
            co_return;
        }
        if (options_.buffer.policy == when_full::drop_newest) {
            ++stats_.dropped;
            sink_metrics_.events_dropped.inc();
            buffer_metrics_.events_dropped.inc();
            log_drop("memory");
            throw refused(outcome_kind::dropped, options_.name + ": buffer full (" + std::to_string(buffered_events_) + " records, " +
                                     std::to_string(buffered_bytes_) + " bytes): record dropped");
        }
        admission_waiter w{{}, &node};
        co_await park{this, &w};
        if (w.refused)
            throw refused(outcome_kind::cancelled, options_.name + ": pipeline stopped while the record waited for buffer room");
    }

    struct park {
        delivery_pipeline* self;
        admission_waiter* w;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) {
            w->handle = h;
            self->blocked_.push_back(w);
        }
        void await_resume() const noexcept {}
    };

    [[nodiscard]] bool fits(std::size_t bytes) const noexcept {
        // An empty buffer always takes one record, however large, or it could never make progress.
        return buffered_events_ == 0 || (buffered_events_ + 1 <= options_.buffer.max_events &&
                                         buffered_bytes_ + bytes <= options_.buffer.max_bytes);
    }
    void take_buffer(std::size_t bytes) {
        ++buffered_events_;
        buffered_bytes_ += bytes;
        update_buffer_gauges();
    }
    void update_buffer_gauges() {
        buffer_metrics_.memory_events.set(static_cast<double>(buffered_events_));
        buffer_metrics_.memory_bytes.set(static_cast<double>(buffered_bytes_));
    }
    void release_buffer(const record_node& node) {
        --buffered_events_;
        buffered_bytes_ -= node.data.size();
        update_buffer_gauges();
        if (drainer_running_) room_signal_.request_stop();
        // Admit waiters in arrival order while they fit.
        while (!blocked_.empty() && fits(blocked_.front()->node->data.size())) {
            admission_waiter* w = blocked_.front();
            blocked_.erase(blocked_.begin());
            take_buffer(w->node->data.size());
            loop_->post(w->handle);
        }
    }
    void release_blocked() {
        auto waiting = std::move(blocked_);
        blocked_.clear();
        for (auto* w : waiting) {
            w->refused = true;
            loop_->post(w->handle);
        }
    }

    // ---- batching ----

    [[nodiscard]] std::size_t batch_events() const noexcept {
        return std::max<std::size_t>(1, std::min(options_.batch.max_events, limits_.max_batch_entries));
    }
    [[nodiscard]] std::size_t batch_bytes() const noexcept {
        return std::max<std::size_t>(1, std::min(options_.batch.max_bytes, limits_.max_batch_bytes));
    }

    void add_to_batch(record_node* n) {
        // A record that would push the batch past its byte limit goes into the next one.
        if (!open_.nodes.empty() && open_.bytes + n->data.size() > batch_bytes()) seal();
        if (open_.nodes.empty()) {
            open_since_ = clock::now();
            ++open_generation_;
            ensure_age_flusher();
        }
        open_.nodes.push_back(n);
        open_.bytes += n->data.size();
        if (open_.nodes.size() >= batch_events() || open_.bytes >= batch_bytes()) seal();
    }

    void seal() {
        if (open_.nodes.empty()) return;
        ready_.push_back(std::move(open_));
        open_ = batch{};
        open_.nodes.reserve(batch_events());
        pump();
    }

    /// Sends sealed batches while the concurrency limit allows.
    void pump() {
        if (options_.ordered && !ready_.empty() && clock::now() < hold_until_) {
            ensure_hold_timer(); // the head of the line waits out its backoff; nothing overtakes it
            return;
        }
        while (!ready_.empty() && in_flight_ < concurrency_.limit()) {
            ++in_flight_;
            ++background_;
            loop_->spawn(send_batch(std::move(ready_.front())));
            ready_.erase(ready_.begin());
        }
    }

    task<void> send_batch(batch b) {
        if (!limiter_.unlimited()) co_await limiter_.acquire(*loop_, b.bytes);
        std::vector<std::string_view> views;
        views.reserve(b.nodes.size());
        for (auto* n : b.nodes) {
            views.push_back(n->data);
            ++n->attempts;
        }
        ++stats_.requests;
        ++stats_.batches;
        stats_.batched_records += b.nodes.size();
        sink_metrics_.requests.inc();
        sink_metrics_.batch_events.observe(static_cast<double>(b.nodes.size()));
        sink_metrics_.batch_bytes.observe(static_cast<double>(b.bytes));
        auto started = clock::now();
        batch_result result;
        try {
            result = co_await send_batch_to(*sink_, sink_batch{{}, std::span<const std::string_view>(views)});
        } catch (const std::exception& e) {
            result = batch_result::failed(entry_result::retry(std::string("sink error: ") + e.what()));
        }
        auto latency = clock::now() - started;
        stats_.total_latency += std::chrono::duration_cast<std::chrono::nanoseconds>(latency);
        sink_metrics_.request_duration.observe(latency);
        if (!result.request && !result.entries.empty() && result.entries.size() != b.nodes.size()) {
            result = batch_result::failed(entry_result::retry(
                "sink answered " + std::to_string(result.entries.size()) + " results for " +
                std::to_string(b.nodes.size()) + " entries"));
        }
        bool pushed_back = false;
        if (result.request) {
            ++stats_.request_failures;
            sink_metrics_.retries.inc();
            pushed_back = result.request->retryable();
            if (result.request->throttled()) {
                ++stats_.throttled;
                sink_metrics_.throttles.inc();
            }
            for (auto* n : b.nodes) settle(n, *result.request);
        } else if (result.entries.empty()) {
            for (auto* n : b.nodes) succeed(n);
        } else {
            bool throttled = false;
            for (std::size_t i = 0; i < b.nodes.size(); ++i) {
                throttled |= result.entries[i].throttled();
                settle(b.nodes[i], result.entries[i]);
            }
            if (throttled) {
                ++stats_.throttled;
                sink_metrics_.throttles.inc();
                pushed_back = true;
            }
        }
        concurrency_.on_response(std::chrono::duration_cast<std::chrono::nanoseconds>(latency), pushed_back);
        if (!ordered_retry_.empty()) {
            // Ordered: the records to retry become the head of the line, in their original order.
            batch again;
            for (auto* n : ordered_retry_) again.bytes += n->data.size();
            again.nodes = std::move(ordered_retry_);
            ordered_retry_ = {};
            ready_.insert(ready_.begin(), std::move(again));
        }
        --in_flight_;
        --background_;
        pump();
    }

    void settle(record_node* n, const outcome& r) {
        if (r.is_ok()) {
            succeed(n);
            return;
        }
        if (!r.retryable()) {
            fail(n, r, options_.name + ": rejected: " + r.message);
            return;
        }
        if (deadline_passed_) {
            ++background_;
            loop_->spawn(give_up_later(n));
            return;
        }
        auto now = clock::now();
        if (!backoff_.may_retry(n->attempts, n->first_attempt, now)) {
            fail(n, r, options_.name + ": gave up after " + std::to_string(n->attempts) + " attempt(s): " + r.message);
            return;
        }
        ++stats_.retried;
        sink_metrics_.events_retried.inc();
        n->due = now + backoff_.delay(n->attempts + 1);
        if (options_.ordered) {
            ordered_retry_.push_back(n);
            hold_until_ = std::max(hold_until_, n->due);
            return;
        }
        retry_heap_.push_back(retry_entry{n->due, n});
        std::push_heap(retry_heap_.begin(), retry_heap_.end(), later);
        ensure_retry_timer();
    }

    void succeed(record_node* n) {
        n->state = node_state::delivered;
        ++stats_.delivered;
        sink_metrics_.events_out.inc();
        buffer_metrics_.events_out.inc();
        finish(n);
    }

    /// Hands a finished record back: to its deliver() or, for one read back from disk, to cleanup.
    void finish(record_node* n) {
        if (n->waiter) {
            loop_->post(n->waiter);
        } else {
            ++background_;
            loop_->spawn(finish_replayed(n));
        }
    }

    /// Finishes a record as failed with the outcome `why` (kind, service code, request id) and the
    /// message `message`; the engine adds attempts and whether it was sent.
    void fail(record_node* n, const outcome& why, std::string message) {
        n->state = node_state::failed;
        n->failure = why;
        n->failure.message = std::move(message);
        n->failure.attempts = n->attempts;
        n->failure.sent = n->attempts != 0;
        ++stats_.failed;
        sink_metrics_.events_failed.inc();
        if (options_.log)
            options_.log->warn("delivery", "record not delivered",
                               {field::plain("sink", options_.name), field::plain("reason", n->failure.message),
                                field::plain("attempts", static_cast<std::uint64_t>(n->attempts))});
        finish(n);
    }

    /// Suspends deliver() until its record is finished.
    struct finished {
        record_node* node;
        bool await_ready() const noexcept { return node->state != node_state::pending; }
        void await_suspend(std::coroutine_handle<> h) noexcept { node->waiter = h; }
        void await_resume() const noexcept {}
    };

    // ---- timers: batch age and retries ----

    void ensure_age_flusher() {
        if (age_flusher_running_) {
            // A sleeping flusher may be waiting for a later deadline (or none): wake it to re-plan.
            age_wake_.request_stop();
            return;
        }
        age_flusher_running_ = true;
        ++background_;
        age_wake_ = std::stop_source{};
        loop_->spawn(age_flusher());
    }

    task<void> age_flusher() {
        while (!open_.nodes.empty() && !age_stop_.stop_requested()) {
            auto generation = open_generation_;
            auto deadline = open_since_ + options_.batch.max_age;
            try {
                co_await loop_->sleep_until(deadline, age_wake_.get_token());
            } catch (const operation_cancelled&) {
                age_wake_ = std::stop_source{};
                continue;
            }
            if (generation == open_generation_ && !open_.nodes.empty()) seal();
        }
        age_flusher_running_ = false;
        --background_;
    }

    struct retry_entry {
        clock::time_point due;
        record_node* node;
    };
    static bool later(const retry_entry& a, const retry_entry& b) noexcept { return a.due > b.due; }

    void ensure_retry_timer() {
        if (retry_timer_running_) {
            retry_wake_.request_stop(); // an earlier due time may have arrived
            return;
        }
        retry_timer_running_ = true;
        ++background_;
        retry_wake_ = std::stop_source{};
        loop_->spawn(retry_timer());
    }

    task<void> retry_timer() {
        while (!retry_heap_.empty() && !retry_stop_.stop_requested()) {
            auto due = retry_heap_.front().due;
            try {
                co_await loop_->sleep_until(due, retry_wake_.get_token());
            } catch (const operation_cancelled&) {
                retry_wake_ = std::stop_source{};
                continue;
            }
            auto now = clock::now();
            while (!retry_heap_.empty() && retry_heap_.front().due <= now) {
                std::pop_heap(retry_heap_.begin(), retry_heap_.end(), later);
                record_node* n = retry_heap_.back().node;
                retry_heap_.pop_back();
                add_to_batch(n);
            }
            // Retries go out promptly rather than waiting for the batch's age.
            seal();
        }
        retry_timer_running_ = false;
        --background_;
    }

    static concurrency_options effective_concurrency(const delivery_options& o) {
        concurrency_options c = o.concurrency;
        if (o.ordered) {
            c.adaptive = false;
            c.max_in_flight = c.min_in_flight = c.initial_in_flight = 1;
        }
        return c;
    }

    void ensure_hold_timer() {
        if (hold_timer_running_) return;
        hold_timer_running_ = true;
        ++background_;
        loop_->spawn(hold_timer());
    }

    task<void> hold_timer() {
        while (clock::now() < hold_until_ && !retry_stop_.stop_requested()) {
            try {
                co_await loop_->sleep_until(hold_until_, retry_stop_.get_token());
            } catch (const operation_cancelled&) {
                break;
            }
        }
        hold_timer_running_ = false;
        --background_;
        if (!retry_stop_.stop_requested()) pump();
    }

    // ---- waiting for the pipeline to empty ----

    task<void> wait_for_drain(clock::time_point deadline) {
        drain_signal_ = std::stop_source{};
        try {
            if (deadline == clock::time_point::max())
                co_await loop_->sleep_for(std::chrono::hours(24 * 365), drain_signal_.get_token());
            else
                co_await loop_->sleep_until(deadline, drain_signal_.get_token());
        } catch (const operation_cancelled&) {
        }
    }

    void wake_drain_waiter() {
        if (outstanding_ == 0 && on_disk_ == 0) drain_signal_.request_stop();
    }

    sink_limits effective_limits() const {
        sink_limits l = sink_->limits();
        if (options_.limit_overrides.max_batch_entries) l.max_batch_entries = options_.limit_overrides.max_batch_entries;
        if (options_.limit_overrides.max_batch_bytes) l.max_batch_bytes = options_.limit_overrides.max_batch_bytes;
        if (options_.limit_overrides.max_record_bytes) l.max_record_bytes = options_.limit_overrides.max_record_bytes;
        return l;
    }

    io_loop* loop_;
    Sink* sink_;
    delivery_options options_;
    sink_limits limits_;
    backoff_policy backoff_;
    rate_limiter limiter_;
    adaptive_concurrency concurrency_;

    batch open_;
    clock::time_point open_since_{};
    std::uint64_t open_generation_ = 0;
    std::vector<batch> ready_;
    std::vector<retry_entry> retry_heap_;
    std::vector<record_node*> ordered_retry_;   // ordered mode: this response's records to retry
    clock::time_point hold_until_{};            // ordered mode: no request before this
    bool hold_timer_running_ = false;
    std::vector<admission_waiter*> blocked_;

    std::size_t buffered_events_ = 0;
    std::size_t buffered_bytes_ = 0;
    std::size_t outstanding_ = 0; // admitted records not yet finished
    std::size_t in_flight_ = 0;
    std::size_t background_ = 0; // spawned coroutines still referencing this pipeline
    std::size_t deliveries_ = 0; // deliver() calls in progress
    std::unique_ptr<disk_buffer> disk_;
    std::uint64_t on_disk_ = 0; // persisted records not yet read back
    bool drainer_running_ = false;
    std::stop_source drainer_stop_;
    std::uint64_t appended_seq_ = 0; // records appended to the disk buffer
    std::uint64_t durable_seq_ = 0;  // of those, flushed
    std::vector<std::pair<std::uint64_t, std::coroutine_handle<>>> durable_waiters_;
    bool disk_flusher_running_ = false;
    bool deadline_passed_ = false;
    std::uint64_t kept_at_stop_ = 0;
    std::uint64_t unprocessed_at_stop_ = 0;
    std::exception_ptr flush_error_;
    std::stop_source room_signal_{std::nostopstate};
    bool stopping_ = false;
    bool age_flusher_running_ = false;
    bool retry_timer_running_ = false;
    std::stop_source age_wake_{std::nostopstate};
    std::stop_source retry_wake_{std::nostopstate};
    std::stop_source age_stop_;
    std::stop_source retry_stop_;
    std::stop_source drain_signal_{std::nostopstate};
    delivery_stats stats_{};
    sink_metrics sink_metrics_{};     // no-ops without a registry
    buffer_metrics buffer_metrics_{};
};

} // namespace sluice
