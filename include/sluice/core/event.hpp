#pragma once

// async_event: a manual-reset event. Once set, every waiter (current and future) passes until reset().

#include <atomic>
#include <cassert>
#include <coroutine>
#include <mutex>
#include <optional>
#include <stop_token>
#include <utility>

#include <sluice/core/executor.hpp>

namespace sluice {

/// A manual-reset event coroutines can await (from any thread: set() resumes waiters on their executors).
class async_event {
public:
    class wait_awaiter;

    /// What wait() returns. Each `co_await` of it makes a fresh wait_awaiter, which lives in the
    /// awaiting frame and never moves (GCC copies awaiters that are awaited as lvalues).
    class wait_operation {
    public:
        /// Made by wait().
        wait_operation(async_event& ev, std::stop_token token) noexcept : event_(&ev), token_(std::move(token)) {}
        /// Makes the awaiter that lives in the awaiting frame.
        wait_awaiter operator co_await() const noexcept;

    private:
        async_event* event_;
        std::stop_token token_;
    };

    /// Set from the start when `initially_set`.
    explicit async_event(bool initially_set = false) noexcept : set_(initially_set) {}
    async_event(const async_event&) = delete;
    async_event& operator=(const async_event&) = delete;
    ~async_event() { assert(waiters_.empty() && "async_event destroyed with coroutines waiting on it"); }

    /// Sets the event and resumes every waiter (each on its own executor). Safe from any thread.
    void set() {
        detail::waiter_node* ready = nullptr;
        {
            std::lock_guard lock(mutex_);
            set_.store(true, std::memory_order_release);
            ready = waiters_.take_all(); // a racing stop callback finds its node gone
        }
        // Outside the lock: a resumed waiter may destroy the event, or wait on it again.
        while (ready) {
            detail::waiter_node* next = ready->next;
            ready->resume();
            ready = next;
        }
    }

    /// Clears the event; later waits suspend again.
    void reset() noexcept {
        std::lock_guard lock(mutex_);
        set_.store(false, std::memory_order_relaxed);
    }

    /// True while set.
    [[nodiscard]] bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }

    /// `co_await ev.wait()` completes once the event is set (at once if it is).
    [[nodiscard]] wait_operation wait() noexcept { return wait_operation{*this, std::stop_token{}}; }
    /// As wait(), but throws operation_cancelled if `token` is stopped before the event is set.
    [[nodiscard]] wait_operation wait(std::stop_token token) noexcept { return wait_operation{*this, std::move(token)}; }

    /// The awaiter of one wait (internal: made by operator co_await, never by hand).
    class wait_awaiter {
    public:
        /// @cond awaiter_protocol
        wait_awaiter(async_event& ev, std::stop_token token) noexcept
            : event_(ev), wait_(ev.mutex_, ev.waiters_, std::move(token)) {}
        wait_awaiter(const wait_awaiter&) = delete;
        wait_awaiter& operator=(const wait_awaiter&) = delete;

        // Always takes the lock rather than peeking at set_: a set() still holding the lock could
        // otherwise be unlocking a mutex that this waiter, having passed, has already destroyed.
        [[nodiscard]] bool await_ready() const noexcept { return false; }

        bool await_suspend(std::coroutine_handle<> h) {
            wait_.prepare(h);
            std::lock_guard lock(event_.mutex_);
            if (event_.set_.load(std::memory_order_relaxed)) return false;
            return wait_.enqueue();
        }

        void await_resume() { wait_.finish(); }

        /// @endcond
    private:
        async_event& event_;
        detail::cancellable_wait wait_;
    };

private:
    std::mutex mutex_;
    std::atomic<bool> set_; // written under mutex_; read without it only by is_set()
    detail::waiter_list waiters_;
};

inline async_event::wait_awaiter async_event::wait_operation::operator co_await() const noexcept {
    return wait_awaiter{*event_, token_};
}

} // namespace sluice
