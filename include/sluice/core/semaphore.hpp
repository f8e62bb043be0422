#pragma once

// async_semaphore: a counting semaphore for coroutines. Fair: release() hands permits straight to the
// longest waiters, so a permit is never taken by a newcomer while someone waits.

#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <mutex>
#include <optional>
#include <stop_token>
#include <utility>

#include <sluice/core/executor.hpp>

namespace sluice {

/// A counting semaphore coroutines await: bounds concurrent work without blocking a thread.
class async_semaphore {
public:
    /// Made afresh by each `co_await` of an acquire_operation; lives in the awaiting frame, never moves.
    class acquire_awaiter {
    public:
        /// @cond awaiter_protocol
        acquire_awaiter(async_semaphore& sem, std::stop_token token) noexcept
            : sem_(sem), wait_(sem.mutex_, sem.waiters_, std::move(token)) {}
        acquire_awaiter(const acquire_awaiter&) = delete;
        acquire_awaiter& operator=(const acquire_awaiter&) = delete;

        [[nodiscard]] bool await_ready() const noexcept { return false; }

        bool await_suspend(std::coroutine_handle<> h) {
            wait_.prepare(h);
            std::lock_guard lock(sem_.mutex_);
            // Permits are only ever free while nobody waits (release() hands them out first).
            if (const auto n = sem_.count_.load(std::memory_order_relaxed); n > 0) {
                sem_.count_.store(n - 1, std::memory_order_relaxed);
                return false;
            }
            return wait_.enqueue();
        }

        void await_resume() { wait_.finish(); }

        /// @endcond
    private:
        async_semaphore& sem_;
        detail::cancellable_wait wait_;
    };

    /// What acquire() returns: an awaitable (GCC copies awaiters awaited as lvalues, so the real awaiter
    /// is made by operator co_await).
    class acquire_operation {
    public:
        /// Made by acquire().
        acquire_operation(async_semaphore& sem, std::stop_token token) noexcept
            : sem_(&sem), token_(std::move(token)) {}
        /// Makes the awaiter that lives in the awaiting frame.
        acquire_awaiter operator co_await() const noexcept { return acquire_awaiter{*sem_, token_}; }

    private:
        async_semaphore* sem_;
        std::stop_token token_;
    };

    /// Starts with `initial` permits (>= 0).
    explicit async_semaphore(std::ptrdiff_t initial) noexcept : count_(initial) {
        assert(initial >= 0 && "async_semaphore needs a non-negative initial count");
    }
    async_semaphore(const async_semaphore&) = delete;
    async_semaphore& operator=(const async_semaphore&) = delete;
    ~async_semaphore() { assert(waiters_.empty() && "async_semaphore destroyed with coroutines waiting on it"); }

    /// `co_await sem.acquire()` returns once the calling coroutine holds a permit.
    [[nodiscard]] acquire_operation acquire() noexcept { return acquire_operation{*this, std::stop_token{}}; }
    /// As acquire(), but throws operation_cancelled (holding no permit) if `token` is stopped first.
    [[nodiscard]] acquire_operation acquire(std::stop_token token) noexcept {
        return acquire_operation{*this, std::move(token)};
    }

    /// Takes a permit if one is free.
    [[nodiscard]] bool try_acquire() noexcept {
        std::lock_guard lock(mutex_);
        const auto n = count_.load(std::memory_order_relaxed);
        if (n <= 0) return false;
        count_.store(n - 1, std::memory_order_relaxed);
        return true;
    }

    /// Returns `n` permits: each goes to the longest waiter, if any, which is resumed on its executor;
    /// the rest become available.
    void release(std::ptrdiff_t n = 1) {
        assert(n >= 0 && "release of a negative number of permits");
        detail::waiter_node* ready = nullptr;
        detail::waiter_node** tail = &ready;
        {
            std::lock_guard lock(mutex_);
            for (; n > 0; --n) {
                detail::waiter_node* w = waiters_.pop_front();
                if (w == nullptr) break;
                *tail = w;
                tail = &w->next;
            }
            count_.fetch_add(n, std::memory_order_relaxed);
        }
        // Outside the lock: a resumed waiter may release again, or destroy the semaphore.
        while (ready) {
            detail::waiter_node* next = ready->next;
            ready->resume();
            ready = next;
        }
    }

    /// Permits free right now (a snapshot when other threads use the semaphore).
    [[nodiscard]] std::ptrdiff_t available() const noexcept { return count_.load(std::memory_order_relaxed); }

private:
    std::mutex mutex_;
    std::atomic<std::ptrdiff_t> count_; // written under mutex_; read without it only by available()
    detail::waiter_list waiters_;
};

} // namespace sluice
