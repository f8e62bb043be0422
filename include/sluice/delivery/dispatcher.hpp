#pragma once

// dispatcher: sealed batches out to the sink. Batches wait in line until the concurrency limit
// (fixed, or adaptive) lets one more request go; each request takes its tokens from the rate limiter,
// carries the batch key and the cancellation token of stop()'s deadline, and its answer is settled per
// entry: the engine (dispatch_hooks) decides what each outcome means for its record. A request is a
// coroutine in the pipeline's async_scope that starts on the loop's next turn, so sealing a batch
// never runs the sink inside the caller.

#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/core/async_scope.hpp>
#include <sluice/core/outcome.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/alarm.hpp>
#include <sluice/delivery/batcher.hpp>
#include <sluice/delivery/concurrency.hpp>
#include <sluice/delivery/options.hpp>
#include <sluice/delivery/rate_limiter.hpp>
#include <sluice/delivery/record_node.hpp>
#include <sluice/delivery/retry_scheduler.hpp>
#include <sluice/delivery/sink.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/metrics.hpp>

namespace sluice::detail {

/// What the engine does with each entry's outcome.
class dispatch_hooks {
public:
    /// The entries of one response are about to be settled.
    virtual void response_started() = 0;
    /// `n`'s outcome in its request's answer. `budget_paid`: whether a retry may use a jittered
    /// backoff (the retry budget could pay for this response's retries).
    virtual void settle(record_node* n, const outcome& o, bool budget_paid) = 0;
    /// Every entry of a response was settled.
    virtual void response_settled() = 0;

protected:
    ~dispatch_hooks() = default;
};

/// The requests to one sink; loop thread only.
template <sink_adapter Sink>
class dispatcher {
public:
    using clock = std::chrono::steady_clock;

    dispatcher(io_loop& loop, async_scope& scope, Sink& sink, const delivery_options& options, retry_scheduler& retries,
               dispatch_hooks& hooks, delivery_stats& stats, sink_metrics& metrics)
        : loop_(&loop), scope_(&scope), sink_(&sink), ordered_(options.ordered), limiter_(options.rate),
          concurrency_(effective_concurrency(options)), retries_(&retries), hooks_(&hooks), stats_(&stats),
          metrics_(&metrics), hold_(loop, scope, [this] { pump(); }) {}
    dispatcher(const dispatcher&) = delete;
    dispatcher& operator=(const dispatcher&) = delete;

    /// Queues a sealed batch behind the others and sends what the limits allow.
    void enqueue(sealed_batch&& b) {
        ready_.push_back(std::move(b));
        pump();
    }

    /// Ordered: `b` goes out before anything queued, not before `hold_until`.
    void enqueue_first(sealed_batch&& b, clock::time_point hold_until) {
        ready_.push_front(std::move(b));
        hold_until_ = std::max(hold_until_, hold_until);
        pump();
    }

    /// Sends queued batches while the concurrency limit (and, ordered, the hold) allows.
    void pump() {
        if (ordered_ && !ready_.empty() && hold_until_ > clock::now()) {
            hold_.set(hold_until_); // the head of the line waits out its backoff; nothing overtakes it
            return;
        }
        while (!ready_.empty() && in_flight_ < concurrency_.limit()) {
            ++in_flight_;
            sealed_batch b = std::move(ready_.front());
            ready_.pop_front();
            scope_->spawn(send(std::move(b)));
        }
    }

    /// Takes every queued (not in flight) record out (at stop's deadline).
    std::vector<record_node*> take_queued() {
        std::vector<record_node*> out;
        for (auto& b : ready_) out.insert(out.end(), b.nodes.begin(), b.nodes.end());
        ready_.clear();
        return out;
    }

    /// Fires sink_batch::cancel of the requests in flight and of any started later. Returns how many
    /// were in flight.
    std::size_t cancel_requests() {
        cancel_.request_stop();
        return in_flight_;
    }
    [[nodiscard]] bool cancelled() const noexcept { return cancel_.stop_requested(); }

    [[nodiscard]] std::size_t in_flight() const noexcept { return in_flight_; }
    [[nodiscard]] std::size_t queued() const noexcept { return ready_.size(); }
    [[nodiscard]] std::size_t limit() const noexcept { return concurrency_.limit(); }
    void shutdown() { hold_.shutdown(); }

private:
    static concurrency_options effective_concurrency(const delivery_options& o) {
        concurrency_options c = o.concurrency;
        if (o.ordered) {
            c.adaptive = false;
            c.max_in_flight = c.min_in_flight = c.initial_in_flight = 1;
        }
        return c;
    }

    task<void> send(sealed_batch b) {
        co_await loop_->schedule(); // on the loop's next turn, never inside the caller that sealed it
        bool admitted = true;
        if (!limiter_.unlimited()) admitted = co_await wait_for_rate(b.bytes);
        batch_result result;
        auto started = clock::now();
        if (admitted) {
            std::vector<std::string_view> views;
            views.reserve(b.nodes.size());
            for (record_node* n : b.nodes) {
                views.push_back(n->data);
                if (n->attempts++ == 0) n->first_attempt = started;
            }
            count_request(b);
            sink_batch request{b.key, std::span<const std::string_view>(views), cancel_.get_token()};
            result = co_await call_sink(request);
        } else {
            outcome cancelled = outcome::make(outcome_kind::cancelled, "request cancelled at stop's deadline");
            cancelled.never_left = true;
            result = batch_result::failed(std::move(cancelled));
        }
        const auto latency = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - started);
        stats_->total_latency += latency;
        metrics_->request_duration.observe(latency);
        settle(b, result, latency);
        --in_flight_;
        pump();
    }

    /// Waits for the rate limiter; false when stop's deadline came first.
    task<bool> wait_for_rate(std::size_t bytes) {
        bool ok = true;
        try {
            co_await limiter_.acquire(*loop_, bytes, cancel_.get_token());
        } catch (const operation_cancelled&) {
            ok = false;
        }
        co_return ok;
    }

    /// The sink's answer; an exception it throws is a retryable failure of the whole request.
    task<batch_result> call_sink(sink_batch request) {
        batch_result result;
        std::exception_ptr failure;
        try {
            result = co_await send_batch_to(*sink_, request);
        } catch (...) {
            failure = std::current_exception();
        }
        if (failure) result = batch_result::failed(describe_exception(failure));
        co_return result;
    }

    static outcome describe_exception(const std::exception_ptr& e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            return outcome::retry(std::string("sink error: ") + ex.what());
        } catch (...) {
            return outcome::retry("sink error: unknown exception");
        }
    }

    void count_request(const sealed_batch& b) {
        ++stats_->requests;
        ++stats_->batches;
        stats_->batched_records += b.nodes.size();
        metrics_->requests.inc();
        metrics_->batch_events.observe(static_cast<double>(b.nodes.size()));
        metrics_->batch_bytes.observe(static_cast<double>(b.bytes));
    }

    /// Settles every entry of one answer, then feeds the concurrency limit and the retry budget.
    void settle(sealed_batch& b, batch_result& result, std::chrono::nanoseconds latency) {
        if (!result.request && !result.entries.empty() && result.entries.size() != b.nodes.size()) {
            result = batch_result::failed(outcome::retry("sink answered " + std::to_string(result.entries.size()) +
                                                         " results for " + std::to_string(b.nodes.size()) + " entries"));
        }
        bool retry = false, throttled = false, timeout = false;
        std::size_t throttled_entries = 0;
        if (result.request) {
            ++stats_->request_failures;
            metrics_->retries.inc();
            retry = result.request->retryable();
            throttled = result.request->throttled();
            timeout = is_timeout(*result.request);
        }
        for (const auto& e : result.entries) {
            retry |= e.retryable();
            throttled_entries += e.throttled() ? 1 : 0;
            timeout |= e.retryable() && is_timeout(e);
        }
        throttled |= throttled_entries != 0;
        stats_->throttled_records += throttled_entries;
        if (throttled) {
            ++stats_->throttled;
            metrics_->throttles.inc();
        }
        const bool budget_paid = retry ? retries_->charge(timeout) : true;
        if (!retry && !result.request && retries_->options().budget) retries_->on_success(held_by(b));
        static const outcome delivered = outcome::ok();
        hooks_->response_started();
        for (std::size_t i = 0; i < b.nodes.size(); ++i) {
            const outcome& o = result.request ? *result.request : result.entries.empty() ? delivered : result.entries[i];
            if (!o.never_left) b.nodes[i]->sent = true;
            hooks_->settle(b.nodes[i], o, budget_paid);
        }
        // A minority of entries throttled in an answer that took the rest is a hot partition (a Kinesis
        // shard, a DynamoDB partition): those entries back off alone, by their own retries (and, with
        // order keys, only their key waits). The whole sink slows down (adaptive concurrency) only
        // when the request was pushed back as a whole or most of its entries were throttled.
        const bool pushed_back =
            (result.request && result.request->retryable()) || throttled_entries * 2 > b.nodes.size();
        concurrency_.on_response(latency, pushed_back);
        hooks_->response_settled();
    }

    /// What the retry that carried these records drew from the budget (refunded on success).
    static unsigned held_by(const sealed_batch& b) noexcept {
        unsigned held = 0;
        for (const record_node* n : b.nodes) held = std::max(held, n->budget_held);
        return held;
    }

    io_loop* loop_;
    async_scope* scope_;
    Sink* sink_;
    bool ordered_;
    rate_limiter limiter_;
    adaptive_concurrency concurrency_;
    retry_scheduler* retries_;
    dispatch_hooks* hooks_;
    delivery_stats* stats_;
    sink_metrics* metrics_;
    std::deque<sealed_batch> ready_;
    std::size_t in_flight_ = 0;
    clock::time_point hold_until_{};
    std::stop_source cancel_;
    alarm hold_;
};

} // namespace sluice::detail
