#pragma once

// batch_dispatcher<Service>: submit records, they go out in batch requests of the service, signed,
// retried entry by entry, and what could not be sent comes back from flush() with the reason: the
// shape of boto3-batch-utils' dispatchers (submit_payload / flush_payloads), asynchronous, for every
// AWS batch API that implements batch_service.
//
//   submit(record) -> prepare (fill defaults, validate: refused at once, never sent) -> encode the
//   entry once -> (duplicate of a pending record? drop with a warning; a write of a key already in
//   flight? wait, replacing an older waiting write with a warning) -> delivery_pipeline<batch_sink>
//   ::submit(entry, record_options{batch_key, weight, order_key}, on_done): the engine batches by count,
//   weight (what the service counts) and age, one open batch per batch key, one record per order key
//   at a time with order_by_key; memory or disk buffer; per-entry retries; rate and concurrency limits;
//   dead letters -> batch_sink (one signed request per batch) -> per entry an outcome -> on_done ->
//   send()'s receipt or delivery_error, or flush()'s unprocessed list. No coroutine frame per record.

#if !SLUICE_HAS_CURL || !SLUICE_HAS_OPENSSL || !SLUICE_HAS_SIMDJSON
#error "sluice/aws/batch/dispatcher.hpp needs libcurl, OpenSSL and simdjson (SLUICE_HAS_CURL, SLUICE_HAS_OPENSSL, SLUICE_HAS_SIMDJSON)"
#endif

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sluice/aws/batch/service.hpp>
#include <sluice/aws/batch/sink.hpp>
#include <sluice/aws/service_client.hpp>
#include <sluice/core/detail/block_pool.hpp>
#include <sluice/core/sync_wait.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/pipeline.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/log.hpp>
#include <sluice/metrics/log_throttle.hpp>
#include <sluice/queue/collector.hpp>

namespace sluice::aws {

/// What every dispatcher takes besides its service's own options.
struct batch_dispatcher_options {
    /// With duplicate_policy::drop_newer services: a record identical to one still pending is dropped
    /// with a warning, as boto3-batch-utils does; its outcome is the pending one's.
    bool drop_duplicates = true;
    /// Batching, buffering, retries, rate and concurrency; the service's default_delivery() if unset.
    /// Without a retry.budget, the client's retry quota is the engine's budget (see service_client).
    std::optional<delivery_options> delivery{};
    /// Invalid records, duplicates and final failures are logged here (never record bodies).
    const logger* log = nullptr;
};

/// Counters of one dispatcher.
struct batch_dispatcher_stats {
    std::uint64_t submitted = 0;  ///< submit() and send() calls
    std::uint64_t invalid = 0;    ///< refused before sending
    std::uint64_t duplicates = 0; ///< dropped as duplicates of a pending record
    std::uint64_t superseded = 0; ///< replaced by a newer write of the same key before being sent
    /// Accepted by the service.
    std::uint64_t delivered = 0;
    std::uint64_t failed = 0;     ///< sent (or accepted into the engine), but finally not delivered
    std::size_t pending = 0;      ///< submitted, outcome not known yet
};

namespace detail_batch {
/// The type flush() hands back for service S: batch_unprocessed of its records by default.
template <class S>
struct unprocessed_of {
    /// The default.
    using type = batch_unprocessed<typename S::record_type>;
};
/// A service that names its own unprocessed_type.
template <class S>
    requires requires { typename S::unprocessed_type; }
struct unprocessed_of<S> {
    /// The service's own.
    using type = typename S::unprocessed_type;
};
} // namespace detail_batch

/// Submits records of one AWS batch API and reports each one's outcome: the service traits on the
/// delivery engine (batching, buffering, retries), with the original dispatchers' submit/flush API.
template <batch_service Service>
class batch_dispatcher {
public:
    /// What one entry carries.
    using record_type = typename Service::record_type;
    /// What flush() hands back: the record, the reason, whether it was sent, attempts, the outcome.
    using unprocessed_type = typename detail_batch::unprocessed_of<Service>::type;

    /// A dispatcher on `loop` sending through `client` (both outlive it).
    batch_dispatcher(io_loop& loop, service_client& client, Service service, batch_dispatcher_options options = {})
        : loop_(&loop),
          options_(std::move(options)),
          service_(std::move(service)),
          sink_(client, service_),
          pipeline_(loop, sink_, effective_delivery(client)),
          entry_overhead_(batch_limits(service_.limits()).entry_overhead) {}

    batch_dispatcher(const batch_dispatcher&) = delete;
    batch_dispatcher& operator=(const batch_dispatcher&) = delete;

    /// The service traits.
    [[nodiscard]] Service& service() noexcept { return service_; }
    /// The service traits.
    [[nodiscard]] const Service& service() const noexcept { return service_; }
    /// The delivery engine under it (metrics, buffer, stop).
    [[nodiscard]] delivery_pipeline<batch_sink<Service>>& pipeline() noexcept { return pipeline_; }
    /// The loop it runs on.
    [[nodiscard]] io_loop& loop() const noexcept { return *loop_; }

    /// Opens the disk buffer when one is configured. Call once on the loop before submitting.
    [[nodiscard]] task<void> start() { return pipeline_.start(); }

    /// Queues `r` and returns at once; batches go out when full, when old enough, or at flush(). An
    /// invalid record is never sent: it comes back from the next flush() with the reason. Any thread
    /// (it hops onto the loop).
    void submit(record_type r) {
        if (!loop_->in_loop_thread()) {
            auto shared = std::make_shared<record_type>(std::move(r));
            loop_->call_soon([this, shared] { submit(std::move(*shared)); });
            return;
        }
        ++stats_.submitted;
        auto admitted = admit(r);
        if (!admitted.entry) {
            outcome why = outcome::make(outcome_kind::invalid, admitted.invalid);
            unprocessed_.push_back(unprocessed_type{std::move(r), std::move(admitted.invalid), false, 0, std::move(why)});
            return;
        }
        if (admitted.duplicate) return;
        admitted.entry->report = true;
        if constexpr (!rebuilds_records) admitted.entry->record.emplace(std::move(r));
        enqueue(std::move(admitted.entry), std::move(admitted.bytes));
    }

    /// Queues `r` and completes when the service took it; throws delivery_error when it was refused as
    /// invalid (at once) or finally failed (its outcome says why). Any thread (it continues on the
    /// loop). Not reported again by flush().
    [[nodiscard]] task<batch_receipt> send(record_type r) {
        if (!loop_->in_loop_thread()) co_await loop_->schedule();
        ++stats_.submitted;
        auto admitted = admit(r);
        if (!admitted.entry) throw delivery_error(outcome::make(outcome_kind::invalid, admitted.invalid));
        std::shared_ptr<pending> p = admitted.entry;
        if (!admitted.duplicate) enqueue(p, std::move(admitted.bytes));
        co_await done_awaiter{p.get()};
        if (!p->ok) {
            outcome failure = *p->failure;
            throw delivery_error(std::move(failure));
        }
        co_return batch_receipt{p->attempts, admitted.duplicate, p->superseded};
    }

    /// Sends everything submitted so far and waits for the outcomes; returns what was not sent or not
    /// accepted since the previous flush(), each with its reason. Call on the loop.
    [[nodiscard]] task<std::vector<unprocessed_type>> flush() {
        co_await pipeline_.flush();
        while (outstanding_ != 0) {
            co_await loop_->schedule(); // lets submitted records reach the pipeline, finished ones report
            co_await pipeline_.flush();
        }
        co_return std::exchange(unprocessed_, {});
    }

    /// flush() for a thread that is not the loop's (the loop must be running elsewhere).
    [[nodiscard]] std::vector<unprocessed_type> flush_blocking() {
        if (loop_->in_loop_thread())
            throw std::logic_error("sluice: flush_blocking() on the loop's thread would wait forever; co_await flush()");
        auto on_loop = [this]() -> task<std::vector<unprocessed_type>> {
            co_await loop_->schedule();
            co_return co_await flush();
        };
        return sync_wait(on_loop());
    }

    /// Stops accepting, delivers what it can within `grace`; whatever is left ends unprocessed (or
    /// stays in the disk buffer, when there is one). Call flush() afterwards to collect it.
    [[nodiscard]] task<delivery_report> stop(std::chrono::steady_clock::duration grace = std::chrono::seconds(5)) {
        auto report = co_await pipeline_.stop(grace);
        while (outstanding_ != 0) co_await loop_->schedule();
        co_return report;
    }

    /// Counters so far.
    [[nodiscard]] batch_dispatcher_stats stats() const noexcept {
        batch_dispatcher_stats s = stats_;
        s.pending = outstanding_;
        return s;
    }

    /// A collector processor sending each payload as one record: `send` on the collector queue then
    /// resolves with that record's outcome (Ok, or an Error whose details() say why).
    template <class T>
    [[nodiscard]] typename collector<T>::processor_type processor(std::function<record_type(const payload<T>&)> to_record) {
        return [this, to_record = std::move(to_record)](const payload<T>& p, collector_context&) -> task<void> {
            record_type r = to_record(p);
            co_await send(std::move(r));
        };
    }

private:
    /// A service that rebuilds a record from its encoded entry (decode_entry) lets submit() keep
    /// nothing of the record but the entry inside the engine, which hands the entry back when the
    /// record fails: thousands of records in flight then cost their entries, not their entries and
    /// their originals too (about a quarter less memory for Kinesis).
    static constexpr bool rebuilds_records = requires(const Service& s, std::string_view entry) {
        { s.decode_entry(entry) } -> std::same_as<record_type>;
    };
    /// In place of the record where the service rebuilds it.
    struct no_record {};

    /// An encoded record on its way to the engine: the entry and what the service said of it.
    struct encoded {
        std::string entry;
        entry_meta meta;
    };

    /// One submitted record until its outcome is known. The engine's callback holds it through `self`
    /// (a raw pointer fits std::function's inline storage: no allocation beyond this one, which comes
    /// from pool_). Small (about 100 bytes): thousands are alive while a burst goes out, so its entry
    /// lives in the engine and what few records need is on the heap.
    struct pending {
        /// What few records have (on the heap, made on first use).
        struct followers {
            /// The send()s after the first waiting for it.
            std::vector<std::coroutine_handle<>> waiters;
            /// Older writes of the same dedup key this one replaced: they end with its outcome.
            std::vector<std::shared_ptr<pending>> riders;
        };

        /// The duplicate check's key: the whole entry (drop_newer) or its dedup key (replace_older).
        std::string key;
        bool done = false;
        bool ok = false;
        bool superseded = false;
        bool report = false; // submit(): a failure goes to flush()'s unprocessed list
        unsigned attempts = 0;
        /// Why it failed (set when done and not ok); on the heap, since most records succeed.
        std::unique_ptr<outcome> failure;
        std::coroutine_handle<> waiter{}; // the first send() waiting for it
        std::unique_ptr<followers> more;
        /// submit(): the record, for the unprocessed list (unless the service rebuilds it).
        using kept_record = std::conditional_t<rebuilds_records, no_record, std::optional<record_type>>;
        [[no_unique_address]] kept_record record;
        /// Set while the engine has it; released when its outcome arrives.
        std::shared_ptr<pending> self;

        /// The followers, made on first use.
        followers& others() {
            if (!more) more = std::make_unique<followers>();
            return *more;
        }
    };

    /// duplicate_policy::replace_older: the write of a key in the engine, and the newest one waiting
    /// with its entry.
    struct key_slot {
        std::shared_ptr<pending> in_engine;
        std::shared_ptr<pending> waiting;
        encoded waiting_bytes;
    };

    struct admission {
        std::shared_ptr<pending> entry;
        encoded bytes;
        bool duplicate = false;
        std::string invalid;
    };

    /// Freed pending records kept for reuse.
    static constexpr std::size_t max_spare_pending = 8192;

    struct done_awaiter {
        pending* p;
        bool await_ready() const noexcept { return p->done; }
        void await_suspend(std::coroutine_handle<> h) {
            if (!p->waiter)
                p->waiter = h;
            else
                p->others().waiters.push_back(h);
        }
        void await_resume() const noexcept {}
    };

    [[nodiscard]] bool dedups() const { return options_.drop_duplicates && service_.duplicates() == duplicate_policy::drop_newer; }
    /// Always on where the service asks for it: two writes of one key in a request fail it whole.
    [[nodiscard]] bool replaces() const { return service_.duplicates() == duplicate_policy::replace_older; }

    // Hands `p` to the engine, or (replace_older, its key in flight) parks it as its key's next write:
    // the engine's order gates would hold it too, but there it could no longer be replaced.
    // Entries are passed by reference down to the engine: every std::string moved by value costs a
    // copy of its inline buffer (a memcpy call even when empty), measurable at a million records/s.
    void enqueue(std::shared_ptr<pending> p, encoded&& bytes) {
        ++outstanding_;
        if (replaces() && !p->key.empty()) {
            key_slot& slot = slots_[p->key];
            if (slot.in_engine) {
                if (slot.waiting) supersede(*slot.waiting, *p, slot.waiting);
                slot.waiting = std::move(p);
                slot.waiting_bytes = std::move(bytes);
                return;
            }
            slot.in_engine = p;
        }
        hand_over(std::move(p), std::move(bytes));
    }

    void supersede(pending& older, pending& newer, std::shared_ptr<pending> owner) {
        ++stats_.superseded;
        if (options_.log && options_.log->enabled(log_level::warn))
            if (const auto held = log_limit_.admit("superseded"))
                options_.log->warn("aws", "write replaced by a newer write of the same key before it was sent",
                                   {field::plain("destination", service_.name()), field::plain("similar_not_logged", *held)});
        older.superseded = true;
        older.report = false; // the newer write stands for it in the unprocessed list
        if constexpr (!rebuilds_records) older.record.reset();
        auto& riders = newer.others().riders;
        if (older.more) {
            for (auto& r : older.more->riders) riders.push_back(std::move(r));
            older.more->riders.clear();
        }
        riders.push_back(std::move(owner));
    }

    // The engine's submit(): the entry with its batch key, its weight as the service counts it against
    // the request limit, and its order key; `settle` runs with its outcome (at once if refused).
    void hand_over(std::shared_ptr<pending> p, encoded&& bytes) {
        record_options o;
        o.batch_key = std::move(bytes.meta.batch_key);
        o.order_key = std::move(bytes.meta.order_key);
        o.weight = bytes.meta.counted + entry_overhead_;
        pending* raw = p.get();
        raw->self = std::move(p);
        if constexpr (rebuilds_records)
            pipeline_.submit(std::move(bytes.entry), std::move(o),
                             [this, raw](const outcome& result, std::string&& sent) { settle(*raw, result, sent); });
        else
            pipeline_.submit(std::move(bytes.entry), std::move(o),
                             [this, raw](const outcome& result) { settle(*raw, result, {}); });
    }

    // A record's outcome from the engine: counted, reported, and its key's next write handed over.
    // `sent` is its entry when it failed and the service rebuilds records.
    void settle(pending& p, const outcome& result, std::string_view sent) {
        const std::shared_ptr<pending> keep = std::move(p.self);
        p.ok = result.is_ok();
        p.attempts = result.attempts;
        if (p.ok) {
            ++stats_.delivered;
        } else {
            p.failure = std::make_unique<outcome>(result);
            ++stats_.failed;
            if (p.report)
                unprocessed_.push_back(
                    unprocessed_type{take_record(p, sent), result.message, result.sent, p.attempts, result});
        }
        if (dedups()) {
            auto it = pending_.find(std::string_view(p.key));
            if (it != pending_.end() && it->second == keep) pending_.erase(it);
        }
        if (p.more) {
            for (auto& rider : std::exchange(p.more->riders, {})) {
                rider->ok = p.ok;
                rider->attempts = p.attempts;
                if (p.failure) rider->failure = std::make_unique<outcome>(*p.failure);
                finish(*rider);
            }
        }
        if (replaces() && !p.key.empty()) next_write(keep);
        finish(p);
    }

    // The record a failed submit() hands back: kept, or rebuilt from the entry that was sent.
    record_type take_record(pending& p, std::string_view sent) {
        if constexpr (rebuilds_records)
            return service_.decode_entry(sent);
        else
            return std::move(*p.record);
    }

    void finish(pending& p) {
        p.done = true;
        if (p.waiter) loop_->post(std::exchange(p.waiter, {}));
        if (p.more)
            for (auto h : std::exchange(p.more->waiters, {})) loop_->post(h);
        --outstanding_;
    }

    // The write of `done`'s key that waited for it goes to the engine now: posted, since the engine
    // is still finishing `done` when its callback runs.
    void next_write(const std::shared_ptr<pending>& done) {
        auto it = slots_.find(done->key);
        if (it == slots_.end() || it->second.in_engine != done) return;
        if (!it->second.waiting) {
            slots_.erase(it);
            return;
        }
        it->second.in_engine = std::move(it->second.waiting);
        loop_->call_soon([this, next = it->second.in_engine, bytes = std::move(it->second.waiting_bytes)]() mutable {
            hand_over(std::move(next), std::move(bytes));
        });
    }

    // The service's settings (or the caller's), its adjust(), and the client's retry quota as the
    // engine's retry budget unless one was given: the AWS standard mode's bucket, one for both.
    delivery_options effective_delivery(const service_client& client) const {
        delivery_options d = options_.delivery ? *options_.delivery : service_.default_delivery();
        if (d.log == nullptr) d.log = options_.log;
        if (!d.retry.budget && client.options().retry.use_quota) d.retry.budget = client.quota();
        if constexpr (requires { service_.adjust(d); }) service_.adjust(d);
        return d;
    }

    // Prepares and validates (the service fills its defaults first), encodes, checks for a pending twin.
    admission admit(record_type& r) {
        admission out;
        if (std::string why = service_.prepare(r); !why.empty()) {
            ++stats_.invalid;
            out.invalid = std::string(service_.name()) + ": record not sent: " + why;
            if (options_.log && options_.log->enabled(log_level::warn))
                if (const auto held = log_limit_.admit(log_cause(outcome::reject(why))))
                    options_.log->warn("aws", "invalid record not sent",
                                       {field::plain("destination", service_.name()), field::plain("reason", why),
                                        field::plain("similar_not_logged", *held)});
            return out;
        }
        out.bytes.meta = service_.encode_entry(r, out.bytes.entry);
        if (dedups()) {
            auto it = pending_.find(std::string_view(out.bytes.entry));
            if (it != pending_.end()) {
                ++stats_.duplicates;
                if (options_.log && options_.log->enabled(log_level::warn))
                    if (const auto held = log_limit_.admit("duplicate"))
                        options_.log->warn("aws", "duplicate of a pending record dropped",
                                           {field::plain("destination", service_.name()),
                                            field::plain("similar_not_logged", *held)});
                out.entry = it->second;
                out.duplicate = true;
                return out;
            }
        }
        // Made only now: a duplicate needs none of its own.
        auto p = std::allocate_shared<pending>(detail::pool_allocator<pending>(pool_.get()));
        if (replaces()) p->key = std::move(out.bytes.meta.dedup_key);
        if (dedups()) {
            p->key = out.bytes.entry; // a copy: the entry itself goes to the engine
            pending_.emplace(std::string_view(p->key), p);
        }
        out.entry = std::move(p);
        return out;
    }

    /// Declared first: every other member that holds a pending goes before it.
    detail::block_pool_owner pool_{max_spare_pending};
    io_loop* loop_;
    batch_dispatcher_options options_;
    Service service_;
    log_throttle log_limit_; // one line per cause and interval, not one per record
    batch_sink<Service> sink_;
    delivery_pipeline<batch_sink<Service>> pipeline_;
    /// What the service adds to each entry's counted size when it sums a request.
    std::size_t entry_overhead_;
    std::unordered_map<std::string_view, std::shared_ptr<pending>> pending_{};
    std::unordered_map<std::string, key_slot> slots_{};
    std::vector<unprocessed_type> unprocessed_{};
    std::size_t outstanding_ = 0;
    batch_dispatcher_stats stats_{};
};

} // namespace sluice::aws
