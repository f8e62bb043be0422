#pragma once

// retry_scheduler: when a record that failed retryably goes out again. The engine owns attempts and
// backoff (a sink makes one attempt per call): full jitter under an exponential ceiling, bounded by
// max_attempts and max_elapsed, and the retry budget. Unordered, records wait in a heap by due time
// and one alarm hands them back to the batcher as they come due. Ordered (delivery_options::ordered),
// the records to retry of one response go back to the head of the line, in their order, and nothing
// is sent before their backoff passed.
//
// The budget is charged once per response that has records to retry (timeout_cost when its failure
// was a timeout). When it cannot pay, those records wait the full max_backoff: retries slow down to
// the ceiling while a service keeps failing, and nothing is given up for it.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include <sluice/core/async_scope.hpp>
#include <sluice/core/outcome.hpp>
#include <sluice/delivery/alarm.hpp>
#include <sluice/delivery/backoff.hpp>
#include <sluice/delivery/record_node.hpp>
#include <sluice/delivery/retry_budget.hpp>
#include <sluice/io/loop.hpp>

namespace sluice::detail {

/// Where records go when their retry is due.
class retry_hooks {
public:
    /// Unordered: the backoff of `nodes` passed; they go back into batches, promptly.
    virtual void retries_due(std::vector<record_node*>& nodes) = 0;
    /// Ordered: `nodes` (in order) go out again before anything newer, not before `hold_until`.
    virtual void retry_first(std::vector<record_node*>&& nodes, std::chrono::steady_clock::time_point hold_until) = 0;

protected:
    ~retry_hooks() = default;
};

/// True for an outcome whose error is a timeout (it costs the budget timeout_cost).
[[nodiscard]] inline bool is_timeout(const outcome& o) noexcept {
    return o.code && o.code == std::errc::timed_out;
}

/// Retry timing and the records waiting for it; loop thread only.
class retry_scheduler {
public:
    using clock = std::chrono::steady_clock;

    retry_scheduler(io_loop& loop, async_scope& scope, retry_options options, bool ordered, retry_hooks& hooks)
        : backoff_(std::move(options)), ordered_(ordered), hooks_(&hooks), due_(loop, scope, [this] { release_due(); }) {}

    /// Whether `n`, which just failed retryably, may have another attempt (attempts and time left).
    [[nodiscard]] bool may_retry(const record_node& n, clock::time_point now) const {
        return backoff_.may_retry(n.attempts, n.first_attempt, now);
    }

    /// Before the records of one response are scheduled: draws the retry cost from the budget. False
    /// when there is a budget and it could not pay (the retries then wait the full ceiling).
    bool charge(bool timeout) {
        held_ = 0;
        const auto& budget = backoff_.options().budget;
        if (!budget) return true;
        held_ = budget->acquire_retry(timeout);
        if (held_ == 0) ++budget_delays_;
        return held_ != 0;
    }

    /// A request that needed no retry succeeded: refunds the budget (what the retry that got there
    /// cost, when it carried retried records, otherwise success_refund).
    void on_success(unsigned held) {
        if (const auto& budget = backoff_.options().budget) budget->on_success(held);
    }

    /// Schedules `n`'s next attempt after its backoff (the full ceiling when the budget was empty),
    /// and not before `at_least` (the service's Retry-After), which max_backoff caps.
    void schedule(record_node* n, clock::time_point now, bool budget_paid,
                  std::chrono::milliseconds at_least = std::chrono::milliseconds(0)) {
        const unsigned next_attempt = n->attempts + 1;
        auto delay = budget_paid ? backoff_.delay(next_attempt) : backoff_.options().max_backoff;
        delay = std::max(delay, std::min(at_least, backoff_.options().max_backoff));
        n->due = now + delay;
        n->budget_held = held_;
        if (ordered_) {
            ordered_retry_.push_back(n);
            hold_until_ = std::max(hold_until_, n->due);
            return;
        }
        heap_.push_back(entry{n->due, n});
        std::push_heap(heap_.begin(), heap_.end(), later);
        due_.set(heap_.front().due);
    }

    /// After the records of one response were settled: ordered, those to retry become the head of
    /// the line.
    void response_done() {
        if (ordered_retry_.empty()) return;
        auto nodes = std::move(ordered_retry_);
        ordered_retry_.clear();
        hooks_->retry_first(std::move(nodes), hold_until_);
    }

    /// Takes every record waiting for its retry out (at stop's deadline).
    std::vector<record_node*> take_all() {
        std::vector<record_node*> out;
        out.reserve(heap_.size());
        for (auto& e : heap_) out.push_back(e.node);
        heap_.clear();
        due_.cancel();
        return out;
    }

    [[nodiscard]] std::size_t waiting() const noexcept { return heap_.size(); }
    [[nodiscard]] std::uint64_t budget_delays() const noexcept { return budget_delays_; }
    [[nodiscard]] const retry_options& options() const noexcept { return backoff_.options(); }
    void shutdown() { due_.shutdown(); }

private:
    struct entry {
        clock::time_point due;
        record_node* node;
    };
    static bool later(const entry& a, const entry& b) noexcept { return a.due > b.due; }

    void release_due() {
        const auto now = clock::now();
        due_now_.clear();
        while (!heap_.empty() && heap_.front().due <= now) {
            std::pop_heap(heap_.begin(), heap_.end(), later);
            due_now_.push_back(heap_.back().node);
            heap_.pop_back();
        }
        if (!heap_.empty()) due_.set(heap_.front().due);
        if (!due_now_.empty()) hooks_->retries_due(due_now_);
    }

    backoff_policy backoff_;
    bool ordered_;
    retry_hooks* hooks_;
    std::vector<entry> heap_;
    std::vector<record_node*> ordered_retry_;
    std::vector<record_node*> due_now_;
    clock::time_point hold_until_{};
    unsigned held_ = 0;
    std::uint64_t budget_delays_ = 0;
    alarm due_;
};

} // namespace sluice::detail
