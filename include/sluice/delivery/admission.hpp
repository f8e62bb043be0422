#pragma once

// admission: the memory buffer's bound. A record takes room (one event, its size in bytes) when it
// enters the engine and gives it back when it finished. When the buffer is full the policy decides:
// `block` queues the record, in arrival order, until room appears, stop() refuses it or its
// memory_buffer_options::max_block passes; `drop_newest` refuses it at once. (`overflow` is the
// pipeline's: such a record goes to the disk buffer instead of waiting here.)

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

#include <sluice/core/async_scope.hpp>
#include <sluice/core/outcome.hpp>
#include <sluice/delivery/alarm.hpp>
#include <sluice/delivery/options.hpp>
#include <sluice/delivery/record_node.hpp>
#include <sluice/io/loop.hpp>

namespace sluice::detail {

/// What the engine does with a record admission let in late or refused.
class admission_hooks {
public:
    /// `n` got its room after waiting: it enters the engine.
    virtual void admitted(record_node* n) = 0;
    /// `n` waited and will not get in (stop, or max_block passed): it finishes with `why`.
    virtual void refused(record_node* n, outcome why) = 0;

protected:
    ~admission_hooks() = default;
};

/// The memory buffer bound; loop thread only.
class admission {
public:
    using clock = std::chrono::steady_clock;

    /// What became of a record offered to the buffer.
    enum class verdict { admitted, waiting, full };

    admission(io_loop& loop, async_scope& scope, const memory_buffer_options& options, admission_hooks& hooks)
        : options_(options), hooks_(&hooks), timeouts_(loop, scope, [this] { expire(); }) {}

    /// True when a record of `bytes` fits now. An empty buffer takes one record however large, or it
    /// could never make progress.
    [[nodiscard]] bool fits(std::size_t bytes) const noexcept {
        return events_ == 0 || (events_ + 1 <= options_.max_events && bytes_ + bytes <= options_.max_bytes);
    }
    [[nodiscard]] bool has_waiters() const noexcept { return !waiting_.empty(); }

    /// Offers `n` to the buffer: admitted (it holds room), waiting (block: hooks().admitted(n) or
    /// refused(n) follows) or full (drop_newest: the caller refuses it).
    verdict offer(record_node& n) {
        if (waiting_.empty() && fits(n.data.size())) {
            take(n);
            return verdict::admitted;
        }
        if (options_.policy == when_full::drop_newest) return verdict::full;
        if (options_.max_block.count() > 0) {
            n.due = clock::now() + options_.max_block;
            if (waiting_.empty()) timeouts_.set(n.due);
        }
        waiting_.push_back(&n);
        return verdict::waiting;
    }

    /// Gives `n` room whether it fits or not (a record read back from disk when there is room).
    void take(record_node& n) noexcept {
        ++events_;
        bytes_ += n.data.size();
        n.admitted = true;
    }

    /// Gives back `n`'s room and lets in the waiters that now fit, in arrival order.
    void release(record_node& n) {
        if (!n.admitted) return;
        n.admitted = false;
        --events_;
        bytes_ -= n.data.size();
        while (!waiting_.empty() && fits(waiting_.front()->data.size())) {
            record_node* w = waiting_.pop_front();
            take(*w);
            hooks_->admitted(w);
        }
        if (waiting_.empty()) timeouts_.cancel();
    }

    /// Refuses every waiting record with `why` (at stop).
    void refuse_all(const outcome& why) {
        node_list all = std::move(waiting_);
        timeouts_.cancel();
        while (record_node* w = all.pop_front()) hooks_->refused(w, why);
    }

    /// Room for one more record read back from disk: a free slot, and no sender waiting before it.
    [[nodiscard]] bool room_for_replay() const noexcept {
        return events_ == 0 || (events_ < options_.max_events && bytes_ < options_.max_bytes && waiting_.empty());
    }

    [[nodiscard]] std::size_t events() const noexcept { return events_; }
    [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
    [[nodiscard]] std::size_t waiting() const noexcept { return waiting_.size(); }

    void shutdown() { timeouts_.shutdown(); }

private:
    /// Refuses the waiters whose max_block passed (the oldest are first in line).
    void expire() {
        const auto now = clock::now();
        while (!waiting_.empty() && waiting_.front()->due <= now) {
            record_node* w = waiting_.pop_front();
            hooks_->refused(w, outcome::make(outcome_kind::dropped, "buffer full for " +
                                                                        std::to_string(options_.max_block.count()) +
                                                                        " ms (max_block): record not accepted"));
        }
        if (!waiting_.empty()) timeouts_.set(waiting_.front()->due);
    }

    const memory_buffer_options& options_;
    admission_hooks* hooks_;
    node_list waiting_;
    std::size_t events_ = 0;
    std::size_t bytes_ = 0;
    alarm timeouts_;
};

} // namespace sluice::detail
