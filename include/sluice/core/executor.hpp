#pragma once

// The seam between the coroutine primitives (core/) and the io loop (io/): a primitive that is completed
// from another thread must resume its waiter on the thread the waiter suspended on, never on the
// completing thread, or two threads would run one loop's coroutines at once.

#include <coroutine>
#include <stdexcept>

namespace sluice {

/// Runs coroutines on one thread. io_loop is the implementation; primitives only need `post`.
class executor {
public:
    /// Queues `h` to be resumed on this executor's thread. Safe to call from any thread.
    virtual void post(std::coroutine_handle<> h) = 0;

protected:
    executor() = default;
    executor(const executor&) = default;
    executor& operator=(const executor&) = default;
    ~executor() = default;
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

} // namespace detail
} // namespace sluice
