#pragma once

// collector_event<R>: the caller's handle on one sent payload. It resolves once, when every collector
// the payload was routed to has reported (or the queue gave up on it at stop), with a result_list.

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <climits>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <stdexcept>
#include <string>
#include <utility>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sluice/core/detail/frame_allocator.hpp>
#include <sluice/core/detail/spin_lock.hpp>
#include <sluice/core/executor.hpp>
#include <sluice/core/result.hpp>

namespace sluice {

namespace detail {

/// Shared by the queue (which resolves it) and the collector_event (which reads it); freed by whichever
/// lets go last. One waiting coroutine at a time is supported, plus any number of blocking threads.
template <class R>
class event_state {
public:
    event_state(const event_state&) = delete;
    event_state& operator=(const event_state&) = delete;

    /// A fresh state with one reference. States are recycled per thread (with their results'
    /// capacity), so an awaited send costs no allocation at steady state.
    static event_state* create() {
#if SLUICE_FRAME_RECYCLING
        auto& pool = free_list();
        if (pool.head) {
            event_state* s = pool.head;
            pool.head = s->next_free_;
            --pool.count;
            s->refs_.store(1, std::memory_order_relaxed);
            return s;
        }
#endif
        return new event_state();
    }

    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
#if SLUICE_FRAME_RECYCLING
        auto& pool = free_list();
        if (pool.count < pool_limit) {
            results_.clear();
            claimed_.store(false, std::memory_order_relaxed);
            done_.store(0, std::memory_order_relaxed);
            blocking_waiters_.store(false, std::memory_order_relaxed);
            waiter_.store(nullptr, std::memory_order_relaxed);
            next_free_ = pool.head;
            pool.head = this;
            ++pool.count;
            return;
        }
#endif
        delete this;
    }

    /// Claims the right to resolve. Exactly one claim succeeds: the queue's normal completion races
    /// with the stop deadline's cancellation, and the loser's results are dropped.
    bool claim() noexcept { return !claimed_.exchange(true, std::memory_order_acq_rel); }

    [[nodiscard]] bool claimed() const noexcept { return claimed_.load(std::memory_order_acquire); }

    /// Only the claimant writes results, then calls resolve().
    result_list<R>& results() noexcept { return results_; }

    /// Publishes the results and wakes the waiter, if any, on its own executor.
    void resolve() {
        // Only a thread blocked in wait_blocking() needs the notify (a shared futex table otherwise).
        // seq_cst pairs with wait_blocking: either we see its flag or it sees done_.
        done_.store(1, std::memory_order_seq_cst);
        if (blocking_waiters_.load(std::memory_order_seq_cst)) futex(FUTEX_WAKE_PRIVATE, INT_MAX, nullptr);
        void* prev = waiter_.exchange(resolved_marker(), std::memory_order_acq_rel);
        if (prev != nullptr) static_cast<waiter_node*>(prev)->resume();
    }

    [[nodiscard]] bool done() const noexcept { return done_.load(std::memory_order_acquire) != 0; }

    /// Registers a waiting coroutine; false when already resolved (don't suspend).
    bool set_waiter(waiter_node* node) noexcept {
        void* expected = nullptr;
        bool ok = waiter_.compare_exchange_strong(expected, node, std::memory_order_acq_rel);
        assert((ok || expected == resolved_marker()) && "only one coroutine may wait on a collector_event");
        return ok;
    }

    /// Blocks the calling thread until resolved or `deadline`; true when resolved. A futex rather than
    /// std::atomic::wait, which has no timeout.
    bool wait_blocking_until(std::chrono::steady_clock::time_point deadline) noexcept {
        // A payload is often a microsecond or two from done when a sender waits for it (a window of
        // sends waiting for its oldest): spin that long before sleeping, which spares both threads a
        // futex call (the wait, and the wake in resolve()).
        const auto spin_until = std::min(deadline, std::chrono::steady_clock::now() + spin_before_sleep);
        for (unsigned i = 1; done_.load(std::memory_order_acquire) == 0; ++i) {
            if (i % 16 == 0 && std::chrono::steady_clock::now() >= spin_until) break;
            cpu_relax();
        }
        if (done_.load(std::memory_order_acquire) != 0) return true;
        blocking_waiters_.store(true, std::memory_order_seq_cst);
        while (done_.load(std::memory_order_seq_cst) == 0) {
            auto left = deadline - std::chrono::steady_clock::now();
            if (left <= decltype(left)::zero()) return false;
            // Sleeps at most an hour at a time: a far deadline needs no special case.
            auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::min<decltype(left)>(left, std::chrono::hours(1)));
            timespec relative{static_cast<time_t>(ns.count() / 1'000'000'000), static_cast<long>(ns.count() % 1'000'000'000)};
            futex(FUTEX_WAIT_PRIVATE, 0, &relative); // returns at once unless done_ is still 0
        }
        return true;
    }

    const result_list<R>& results_after_done() const noexcept { return results_; }

private:
    event_state() = default;

    void* resolved_marker() noexcept { return this; }

    long futex(int op, int value, const timespec* timeout) noexcept {
        static_assert(sizeof(done_) == sizeof(std::uint32_t) && std::atomic<std::uint32_t>::is_always_lock_free);
        return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&done_), op, value, timeout, nullptr, 0);
    }

    static constexpr std::size_t pool_limit = 4096;
    static constexpr std::chrono::microseconds spin_before_sleep{4};
    struct pool {
        event_state* head = nullptr;
        std::size_t count = 0;
        pool() = default;
        pool(const pool&) = delete;
        pool& operator=(const pool&) = delete;
        ~pool() {
            while (head) delete std::exchange(head, head->next_free_);
        }
    };
    static pool& free_list() {
        thread_local pool p;
        return p;
    }

    event_state* next_free_ = nullptr;

    std::atomic<std::uint32_t> refs_{1};
    std::atomic<bool> claimed_{false};
    std::atomic<std::uint32_t> done_{0}; // a futex word: 0 pending, 1 resolved
    std::atomic<bool> blocking_waiters_{false};
    std::atomic<void*> waiter_{nullptr};
    result_list<R> results_;
};

} // namespace detail

/// Thrown by collector_event::wait_blocking when the results did not come within its deadline.
class wait_timeout : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The caller's handle on one sent payload: resolves once, with one result per collector.
template <class R>
class collector_event {
public:
    /// How long wait_blocking() waits when given no timeout, before it throws wait_timeout: far longer
    /// than a processor should take, and short enough that a queue whose loop never runs shows up as
    /// an error rather than a silent hang.
    static constexpr std::chrono::seconds default_blocking_timeout{60};

    collector_event() = default;
    /// Adopts one reference to `state`.
    explicit collector_event(detail::event_state<R>* state) noexcept : state_(state) {}
    /// Copies share the result (reference counted), so several waiters may await it.
    collector_event(const collector_event& o) noexcept : state_(o.state_) {
        if (state_) state_->add_ref();
    }
    /// Moves the reference; the source is empty.
    collector_event(collector_event&& o) noexcept : state_(std::exchange(o.state_, nullptr)) {}
    /// Copy-and-swap assignment.
    collector_event& operator=(collector_event o) noexcept {
        std::swap(state_, o.state_);
        return *this;
    }
    ~collector_event() {
        if (state_) state_->release();
    }

    /// True when it refers to a payload (false when default-constructed or moved from).
    [[nodiscard]] bool valid() const noexcept { return state_ != nullptr; }

    /// True once the results are in.
    [[nodiscard]] bool done() const noexcept { return state_ && state_->done(); }

    /// `co_await ev.wait()` yields the result_list (a reference valid while this event lives).
    [[nodiscard]] auto wait() const noexcept {
        struct awaiter {
            detail::event_state<R>* state;
            detail::waiter_node node{};
            bool await_ready() const noexcept { return state->done(); }
            bool await_suspend(std::coroutine_handle<> h) noexcept {
                node.handle = h;
                node.home = detail::current_executor;
                return state->set_waiter(&node);
            }
            const result_list<R>& await_resume() const noexcept { return state->results_after_done(); }
        };
        assert(state_ && "waiting on an empty collector_event");
        return awaiter{state_};
    }

    /// The results if done, else an empty list. Never blocks. The reference stays valid while this
    /// event lives.
    [[nodiscard]] const result_list<R>& get_result() const {
        static const result_list<R> none;
        if (!done()) return none;
        return state_->results_after_done();
    }

    /// Blocks the calling thread (never the queue's loop thread) until the results are in, for at
    /// most `timeout`, then throws wait_timeout. `std::chrono::nanoseconds::max()` waits without a
    /// deadline.
    const result_list<R>& wait_blocking(std::chrono::nanoseconds timeout = default_blocking_timeout) const {
        if (!wait_blocking_for(timeout))
            throw wait_timeout("collector_event: no result after " + std::to_string(timeout.count() / 1'000'000) +
                               " ms; is the queue's loop running? (wait_blocking(timeout) waits longer)");
        return state_->results_after_done();
    }

    /// Blocks the calling thread for at most `timeout`; true when the results are in (get_result()
    /// then has them).
    [[nodiscard]] bool wait_blocking_for(std::chrono::nanoseconds timeout) const {
        assert(state_ && "waiting on an empty collector_event");
        using clock = std::chrono::steady_clock;
        auto now = clock::now();
        auto deadline = timeout >= clock::time_point::max() - now ? clock::time_point::max() : now + timeout;
        return state_->wait_blocking_until(deadline);
    }

private:
    detail::event_state<R>* state_ = nullptr;
};

} // namespace sluice
