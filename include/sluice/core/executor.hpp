#pragma once

// The seam between the coroutine primitives (core/) and the io loop (io/): a primitive that is completed
// from another thread must resume its waiter on the thread the waiter suspended on, never on the
// completing thread, or two threads would run one loop's coroutines at once.

#include <coroutine>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <utility>

namespace sluice {

/// Runs coroutines on one thread. io_loop is the implementation; primitives only need `post`.
class executor {
public:
    /// Queues `h` to be resumed on this executor's thread. Safe to call from any thread.
    virtual void post(std::coroutine_handle<> h) = 0;

protected:
    executor() = default;
    /// @cond
    executor(const executor&) = default;
    executor& operator=(const executor&) = default;
    ~executor() = default;
    /// @endcond
};

/// Thrown by awaitables whose std::stop_token was triggered before they completed.
class operation_cancelled : public std::runtime_error {
public:
    operation_cancelled() : std::runtime_error("operation cancelled") {}
    using std::runtime_error::runtime_error;
};

namespace detail {

/// The executor driving the calling thread, set by io_loop while it runs; null on plain threads.
inline thread_local executor* current_executor = nullptr;

/// RAII: makes `ex` the calling thread's executor for a scope.
class executor_scope {
public:
    explicit executor_scope(executor* ex) noexcept : previous_(current_executor) { current_executor = ex; }
    ~executor_scope() { current_executor = previous_; }
    executor_scope(const executor_scope&) = delete;
    executor_scope& operator=(const executor_scope&) = delete;

private:
    executor* previous_;
};

/// Resumes `h` where it belongs: inline when it suspended on the calling thread's executor (or on a
/// thread with none, e.g. under sync_wait), otherwise posted to its home executor.
inline void resume_on(executor* home, std::coroutine_handle<> h) {
    if (home == nullptr || home == current_executor)
        h.resume();
    else
        home->post(h);
}

/// `co_await continue_on(ex)` moves the calling coroutine to executor `ex` (a coroutine that hopped to
/// another loop comes back to its own this way). A null executor means "wherever": no hop.
struct continue_on {
    executor* target;
    [[nodiscard]] bool await_ready() const noexcept { return target == nullptr || target == current_executor; }
    void await_suspend(std::coroutine_handle<> h) const { target->post(h); }
    void await_resume() const noexcept {}
};

/// A suspended coroutine parked in a primitive's wait list. Lives in the awaiter, inside the coroutine
/// frame, so waiting never allocates.
struct waiter_node {
    std::coroutine_handle<> handle{};
    executor* home = nullptr;
    waiter_node* next = nullptr;
    waiter_node* prev = nullptr;

    void resume() { resume_on(home, handle); }
};

/// An intrusive doubly linked FIFO of waiter_node; the owner provides the locking.
class waiter_list {
public:
    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }

    void push_back(waiter_node* n) noexcept {
        n->next = nullptr;
        n->prev = tail_;
        if (tail_)
            tail_->next = n;
        else
            head_ = n;
        tail_ = n;
    }

    waiter_node* pop_front() noexcept {
        waiter_node* n = head_;
        if (n) erase(n);
        return n;
    }

    /// Unlinks `n`, which must be in this list.
    void erase(waiter_node* n) noexcept {
        (n->prev ? n->prev->next : head_) = n->next;
        (n->next ? n->next->prev : tail_) = n->prev;
        n->next = n->prev = nullptr;
    }

    /// True when `n` is linked in this list (a node is linked iff it is the head or has a predecessor).
    [[nodiscard]] bool contains(const waiter_node* n) const noexcept { return n == head_ || n->prev != nullptr; }

    /// Takes every node out, leaving the list empty; the nodes stay chained through `next`, and none
    /// of them counts as contained any more.
    waiter_node* take_all() noexcept {
        waiter_node* h = head_;
        for (waiter_node* n = h; n != nullptr; n = n->next) n->prev = nullptr;
        head_ = tail_ = nullptr;
        return h;
    }

private:
    waiter_node* head_ = nullptr;
    waiter_node* tail_ = nullptr;
};

/// The cancellable part of an awaiter that parks its coroutine in a waiter_list guarded by a mutex
/// (async_event::wait, async_semaphore::acquire). Whoever unlinks the node under the lock, the
/// primitive waking it or the stop callback cancelling it, is the one that resumes it.
class cancellable_wait {
public:
    cancellable_wait(std::mutex& mutex, waiter_list& waiters, std::stop_token token) noexcept
        : mutex_(mutex), waiters_(waiters), token_(std::move(token)) {}
    cancellable_wait(const cancellable_wait&) = delete;
    cancellable_wait& operator=(const cancellable_wait&) = delete;

    /// First thing in await_suspend, before taking the lock. The stop callback is registered before the
    /// node is queued: the callback takes the lock, and once queued the coroutine may be resumed (and
    /// the awaiter destroyed) at any moment.
    void prepare(std::coroutine_handle<> h) {
        node_.handle = h;
        node_.home = current_executor;
        if (token_.stop_possible()) stop_callback_.emplace(token_, canceller{this});
    }

    /// Under the lock, when the wait cannot complete at once: queues the node and returns true (suspend),
    /// or returns false when a stop came first (it found no node to cancel, so this sees to it).
    bool enqueue() noexcept {
        if (token_.stop_requested()) {
            cancelled_ = true;
            return false;
        }
        waiters_.push_back(&node_);
        return true;
    }

    /// await_resume: waits out a stop callback still running on another thread; throws
    /// operation_cancelled when the wait was cancelled.
    void finish() {
        stop_callback_.reset();
        if (cancelled_) throw operation_cancelled();
    }

private:
    struct canceller {
        cancellable_wait* self;
        void operator()() const noexcept { self->cancel(); }
    };

    void cancel() noexcept {
        {
            std::lock_guard lock(mutex_);
            if (!waiters_.contains(&node_)) return;
            waiters_.erase(&node_);
            cancelled_ = true;
        }
        node_.resume();
    }

    std::mutex& mutex_;
    waiter_list& waiters_;
    std::stop_token token_;
    waiter_node node_;
    bool cancelled_ = false;
    std::optional<std::stop_callback<canceller>> stop_callback_;
};

} // namespace detail
} // namespace sluice
