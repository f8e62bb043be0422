#pragma once

// sync_wait: block a plain thread until an awaitable completes. Coroutines that complete on another
// thread resume there (no executor on this thread), and the result is handed back through an atomic flag.

#include <condition_variable>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include <sluice/core/task.hpp>

namespace sluice {
namespace detail {

/// A one-shot flag a thread blocks on. A mutex and condition variable rather than an atomic wait: the
/// waiter may destroy the flag the moment it sees it set, and here the setter touches nothing after
/// releasing the mutex.
class completion_flag {
public:
    void set() {
        std::lock_guard lock(mutex_);
        set_ = true;
        cv_.notify_one();
    }
    void wait() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return set_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool set_ = false;
};

/// A coroutine that runs an awaitable to completion and signals a flag from its final suspend point.
template <class T>
class sync_wait_task {
public:
    struct promise_type {
        completion_flag* done = nullptr;
        std::exception_ptr exception;
        std::optional<std::conditional_t<std::is_reference_v<T>, std::add_pointer_t<T>, T>> value;

        sync_wait_task get_return_object() noexcept {
            return sync_wait_task{std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_always initial_suspend() const noexcept { return {}; }
        auto final_suspend() const noexcept {
            struct notify {
                bool await_ready() const noexcept { return false; }
                void await_suspend(std::coroutine_handle<promise_type> h) const noexcept { h.promise().done->set(); }
                void await_resume() const noexcept {}
            };
            return notify{};
        }
        void unhandled_exception() noexcept { exception = std::current_exception(); }
        template <class U>
        void return_value(U&& v) {
            if constexpr (std::is_reference_v<T>)
                value.emplace(std::addressof(v));
            else
                value.emplace(std::forward<U>(v));
        }
    };

    explicit sync_wait_task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
    sync_wait_task(sync_wait_task&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
    sync_wait_task(const sync_wait_task&) = delete;
    sync_wait_task& operator=(const sync_wait_task&) = delete;
    sync_wait_task& operator=(sync_wait_task&&) = delete;
    ~sync_wait_task() {
        if (handle_) handle_.destroy();
    }

    /// Starts the coroutine and blocks the calling thread until it finishes.
    T run() {
        completion_flag done;
        handle_.promise().done = &done;
        handle_.resume();
        done.wait();
        auto& p = handle_.promise();
        if (p.exception) std::rethrow_exception(p.exception);
        if constexpr (std::is_reference_v<T>)
            return static_cast<T>(**p.value);
        else
            return std::move(*p.value);
    }

private:
    std::coroutine_handle<promise_type> handle_;
};

/// Results returned as rvalue references are moved into the wait task: the awaitable they point into
/// dies at the end of the sync_wait expression.
template <class R>
using sync_wait_value_t = std::conditional_t<std::is_rvalue_reference_v<R>, std::remove_cvref_t<R>, R>;

template <class A>
sync_wait_task<sync_wait_value_t<await_result_t<A>>> make_sync_wait_task(A&& awaitable)
    requires(!std::is_void_v<await_result_t<A>>)
{
    co_return co_await std::forward<A>(awaitable);
}

struct void_value {};

template <class A>
sync_wait_task<void_value> make_sync_wait_task(A&& awaitable)
    requires std::is_void_v<await_result_t<A>>
{
    co_await std::forward<A>(awaitable);
    co_return void_value{};
}

} // namespace detail

/// Runs `awaitable` on the calling thread and blocks until it completes; returns its result or
/// rethrows its exception. Do not call it from a loop thread for work that needs that loop: use
/// io_loop::run_until_complete instead.
template <class A>
decltype(auto) sync_wait(A&& awaitable) {
    if constexpr (std::is_void_v<await_result_t<A>>)
        (void)detail::make_sync_wait_task(std::forward<A>(awaitable)).run();
    else
        return detail::make_sync_wait_task(std::forward<A>(awaitable)).run();
}

} // namespace sluice
