#pragma once

// Where payloads enter a collector_queue: the gate (not started yet, open, closed at stop), the capacity
// count (payloads accepted and not yet answered), the buffer other threads hand payloads into, and the
// senders waiting for room.
//
// Publishers on the loop thread skip the buffer: the queue enqueues their payload directly. Other
// threads append to the buffer under one short lock; the first append of a burst asks the caller to
// wake the loop, which swaps the whole buffer out in one lock. So a burst from another thread costs one
// wake-up, not one per payload, and the loop's backlog is never locked.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <sluice/core/detail/spin_lock.hpp>
#include <sluice/core/executor.hpp>

namespace sluice::detail {

template <class Item>
class intake {
public:
    enum class verdict : std::uint8_t {
        accepted,    ///< taken
        full,        ///< at capacity (a waiting sender is now queued)
        not_started, ///< the queue has not been started
        stopped,     ///< the queue stopped accepting
    };

    /// A sender waiting for room. When a payload is answered, the loop admits it: `outcome` becomes
    /// accepted and the loop takes `pending`; at stop it becomes stopped and `pending` stays.
    struct waiting_sender : waiter_node {
        std::optional<Item> pending;
        verdict outcome = verdict::full;
    };

    /// What the loop must do after closing the gate.
    struct closing {
        std::vector<Item> handed_in;           ///< accepted from other threads, not drained yet
        std::vector<waiting_sender*> refused;  ///< waiting senders, now refused: resume them
        bool wake_pump = false;                ///< the pump is not scheduled: schedule it so it ends
    };

    explicit intake(std::size_t capacity) : capacity_(capacity) {}
    intake(const intake&) = delete;
    intake& operator=(const intake&) = delete;

    // ---- the loop thread ----

    /// Opens the gate (start()).
    void open() {
        std::lock_guard lock(lock_);
        state_ = gate::open;
    }

    /// Closes the gate for good (stop()).
    closing close() {
        closing c;
        std::lock_guard lock(lock_);
        state_ = gate::closed;
        c.handed_in.swap(buffer_);
        while (auto* w = static_cast<waiting_sender*>(blocked_.pop_front())) {
            w->outcome = verdict::stopped;
            c.refused.push_back(w);
        }
        c.wake_pump = !wake_pending_;
        wake_pending_ = true;
        return c;
    }

    /// For a publisher on the loop thread: counts one payload in, or says why not. The caller
    /// enqueues it itself.
    verdict admit_local() {
        if (state_ != gate::open) return refusal(); // written on this thread: no lock to read it
        if (capacity_ == 0) return verdict::accepted;
        std::lock_guard lock(lock_);
        if (unanswered_ >= capacity_) return verdict::full;
        ++unanswered_;
        return verdict::accepted;
    }

    /// Swaps out what other threads handed in (into `out`, which must be empty) and re-arms the
    /// wake-up. Returns false once the gate is closed (the pump's cue to end).
    bool drain(std::vector<Item>& out) {
        std::lock_guard lock(lock_);
        out.swap(buffer_);
        wake_pending_ = false;
        return state_ != gate::closed;
    }

    /// One accepted payload was answered. In a bounded queue that makes room: the longest-waiting
    /// senders are admitted into `admitted` (their items must be enqueued, then they resumed).
    void answered(std::vector<waiting_sender*>& admitted) {
        if (capacity_ == 0) return;
        std::lock_guard lock(lock_);
        --unanswered_;
        while (unanswered_ < capacity_ && !blocked_.empty()) {
            auto* w = static_cast<waiting_sender*>(blocked_.pop_front());
            w->outcome = verdict::accepted;
            ++unanswered_;
            admitted.push_back(w);
        }
    }

    // ---- any thread ----

    /// From a thread other than the loop's: moves `it` into the buffer unless refused (then `it` is
    /// untouched). Sets `wake` when the caller must wake the loop's pump.
    verdict hand_in(Item& it, bool& wake) {
        std::lock_guard lock(lock_);
        if (state_ != gate::open) return refusal();
        if (capacity_ != 0) {
            if (unanswered_ >= capacity_) return verdict::full;
            ++unanswered_;
        }
        push_locked(std::move(it), wake);
        return verdict::accepted;
    }

    /// As admit_local (`local`) or hand_in, but when full queues `w` (with its item in `w.pending`)
    /// to be admitted when room appears, and returns full: the caller suspends. On accepted from
    /// another thread the item has moved into the buffer; from the loop thread the caller enqueues it.
    verdict admit_or_wait(waiting_sender& w, bool local, bool& wake) {
        std::lock_guard lock(lock_);
        if (state_ != gate::open) return refusal();
        if (capacity_ != 0) {
            if (unanswered_ >= capacity_) {
                w.outcome = verdict::full;
                blocked_.push_back(&w);
                return verdict::full;
            }
            ++unanswered_;
        }
        if (!local) {
            push_locked(std::move(*w.pending), wake);
            w.pending.reset();
        }
        return verdict::accepted;
    }

    /// Payloads handed in by other threads and not drained yet.
    [[nodiscard]] std::size_t waiting() const {
        std::lock_guard lock(lock_);
        return buffer_.size();
    }

private:
    enum class gate : std::uint8_t { not_started, open, closed };

    verdict refusal() const noexcept { return state_ == gate::not_started ? verdict::not_started : verdict::stopped; }

    void push_locked(Item&& it, bool& wake) {
        buffer_.push_back(std::move(it));
        if (!wake_pending_) {
            wake_pending_ = true;
            wake = true;
        }
    }

    mutable spin_lock lock_;
    std::vector<Item> buffer_;   // under lock_
    waiter_list blocked_;        // under lock_
    const std::size_t capacity_;
    std::size_t unanswered_ = 0; // under lock_ (bounded queues only)
    gate state_ = gate::not_started; // written on the loop thread under lock_
    bool wake_pending_ = false;  // under lock_: the pump is scheduled and will drain
};

} // namespace sluice::detail
