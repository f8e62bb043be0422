#pragma once

// async_mutex: mutual exclusion for coroutines. A coroutine that finds it locked suspends instead of
// blocking its thread. Fair: unlock() hands ownership straight to the longest waiter, so a stream of
// new lockers cannot starve it.

#include <cassert>
#include <coroutine>
#include <mutex>
#include <utility>

#include <sluice/core/executor.hpp>

namespace sluice {

class async_mutex;

/// Owns a lock on an async_mutex and unlocks it on destruction. Returned by `co_await m.scoped_lock()`.
class [[nodiscard]] async_mutex_lock {
public:
    /// An empty guard that owns nothing.
    async_mutex_lock() noexcept = default;
    /// Takes over a lock the caller already holds.
    async_mutex_lock(async_mutex& m, std::adopt_lock_t) noexcept : mutex_(&m) {}
    /// Moves the lock; the source owns nothing.
    async_mutex_lock(async_mutex_lock&& o) noexcept : mutex_(std::exchange(o.mutex_, nullptr)) {}
    /// Unlocks what it held, then takes `o`'s lock.
    async_mutex_lock& operator=(async_mutex_lock&& o) noexcept {
        if (this != &o) {
            unlock();
            mutex_ = std::exchange(o.mutex_, nullptr);
        }
        return *this;
    }
    async_mutex_lock(const async_mutex_lock&) = delete;
    async_mutex_lock& operator=(const async_mutex_lock&) = delete;
    ~async_mutex_lock() { unlock(); }

    /// Unlocks early; the guard then owns nothing.
    void unlock() noexcept;
    /// True while it holds the lock.
    [[nodiscard]] bool owns_lock() const noexcept { return mutex_ != nullptr; }
    /// The mutex it locks, or null.
    [[nodiscard]] async_mutex* mutex() const noexcept { return mutex_; }

private:
    async_mutex* mutex_ = nullptr;
};

/// A mutex for coroutines: lock() suspends instead of blocking the thread, and waiters resume on their own
/// executors.
class async_mutex {
public:
    /// What lock() returns; await it in place.
    class lock_awaiter {
    public:
        /// @cond awaiter_protocol
        explicit lock_awaiter(async_mutex& m) noexcept : mutex_(m) {}
        [[nodiscard]] bool await_ready() const noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> h) {
            node_.handle = h;
            node_.home = detail::current_executor;
            std::lock_guard lock(mutex_.mutex_);
            if (!mutex_.locked_) {
                mutex_.locked_ = true;
                return false;
            }
            mutex_.waiters_.push_back(&node_);
            return true;
        }
        void await_resume() const noexcept {}

    protected:
        async_mutex& mutex_;
        detail::waiter_node node_;
        /// @endcond
    };

    /// What scoped_lock() returns: lock_awaiter yielding a guard.
    class scoped_lock_awaiter : public lock_awaiter {
    public:
        /// @cond awaiter_protocol
        using lock_awaiter::lock_awaiter;
        async_mutex_lock await_resume() const noexcept { return async_mutex_lock{mutex_, std::adopt_lock}; }
        /// @endcond
    };

    async_mutex() noexcept = default;
    async_mutex(const async_mutex&) = delete;
    async_mutex& operator=(const async_mutex&) = delete;
    ~async_mutex() { assert(waiters_.empty() && "async_mutex destroyed with coroutines waiting on it"); }

    /// `co_await m.lock()` returns once the calling coroutine owns the mutex; pair it with unlock().
    [[nodiscard]] lock_awaiter lock() noexcept { return lock_awaiter{*this}; }
    /// `auto guard = co_await m.scoped_lock();` locks and returns a guard that unlocks.
    [[nodiscard]] scoped_lock_awaiter scoped_lock() noexcept { return scoped_lock_awaiter{*this}; }

    /// Takes the mutex if it is free (and nobody waits for it, which implies the same).
    [[nodiscard]] bool try_lock() noexcept {
        std::lock_guard lock(mutex_);
        if (locked_) return false;
        locked_ = true;
        return true;
    }

    /// Releases the mutex, or passes it to the next waiter and resumes that waiter (on its executor).
    void unlock() {
        detail::waiter_node* next = nullptr;
        {
            std::lock_guard lock(mutex_);
            assert(locked_ && "unlock of an async_mutex that is not locked");
            next = waiters_.pop_front();
            if (next == nullptr) locked_ = false; // otherwise it stays locked, now owned by `next`
        }
        if (next) next->resume();
    }

private:
    std::mutex mutex_;
    bool locked_ = false;
    detail::waiter_list waiters_;
};

inline void async_mutex_lock::unlock() noexcept {
    if (mutex_) std::exchange(mutex_, nullptr)->unlock();
}

} // namespace sluice
