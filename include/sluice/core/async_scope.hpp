#pragma once

// async_scope: structured fire-and-forget. spawn() starts a task at once and the scope tracks it until
// it finishes; join() waits for all of them. Like std::thread, a scope destroyed while its tasks still
// run terminates the program, so no task can outlive what it borrowed from the scope's owner.

#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <mutex>
#include <stop_token>
#include <utility>

#include <sluice/core/executor.hpp>
#include <sluice/core/task.hpp>

namespace sluice {
namespace detail {

/// The bookkeeping shared by a scope and its running tasks.
class scope_state {
public:
    void add() {
        std::lock_guard lock(mutex_);
        live_.fetch_add(1, std::memory_order_relaxed);
    }

    /// Called once per spawned task, after its frame (and everything it captured) is gone.
    void finish() {
        waiter_node* ready = nullptr;
        {
            std::lock_guard lock(mutex_);
            if (live_.fetch_sub(1, std::memory_order_release) == 1) ready = take_joiners();
        }
        // Outside the lock: a resumed joiner may destroy the scope.
        while (ready) {
            waiter_node* next = ready->next;
            ready->resume();
            ready = next;
        }
    }

    void record(std::exception_ptr e) noexcept {
        std::lock_guard lock(mutex_);
        if (!exception_) exception_ = std::move(e);
    }

    /// False when nothing is live, so the joiner need not suspend.
    bool add_joiner(waiter_node* n) {
        std::lock_guard lock(mutex_);
        if (live_.load(std::memory_order_relaxed) == 0) return false;
        joiners_.push_back(n);
        return true;
    }

    /// Hands the stored exception to one join, which rethrows it.
    void rethrow_if_failed() {
        std::exception_ptr e;
        {
            std::lock_guard lock(mutex_);
            e = std::exchange(exception_, nullptr);
        }
        if (e) std::rethrow_exception(e);
    }

    [[nodiscard]] std::size_t live() const noexcept { return live_.load(std::memory_order_acquire); }

private:
    waiter_node* take_joiners() noexcept {
        waiter_node* head = nullptr;
        waiter_node** tail = &head;
        while (waiter_node* n = joiners_.pop_front()) {
            *tail = n;
            tail = &n->next;
        }
        return head;
    }

    std::mutex mutex_;
    std::atomic<std::size_t> live_{0}; // written under mutex_, read without it by live()
    waiter_list joiners_;
    std::exception_ptr exception_;
};

/// The coroutine that runs one spawned task and then destroys itself.
struct scope_runner {
    struct promise_type {
        scope_state* state = nullptr;

        struct final_awaiter {
            [[nodiscard]] bool await_ready() const noexcept { return false; }
            void await_suspend(std::coroutine_handle<promise_type> self) noexcept {
                scope_state* s = self.promise().state;
                // Free the frame first, so a joiner that wakes up sees every capture destroyed.
                self.destroy();
                s->finish();
            }
            void await_resume() const noexcept {}
        };

        scope_runner get_return_object() noexcept {
            return scope_runner{std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_always initial_suspend() const noexcept { return {}; }
        final_awaiter final_suspend() const noexcept { return {}; }
        void return_void() const noexcept {}
        void unhandled_exception() const noexcept { std::terminate(); } // the body catches everything
    };

    std::coroutine_handle<promise_type> handle;
};

inline scope_runner run_in_scope(scope_state* state, task<void> t) {
    try {
        co_await std::move(t);
    } catch (...) {
        state->record(std::current_exception());
    }
}

class scope_join_awaiter {
public:
    explicit scope_join_awaiter(scope_state& state) noexcept : state_(&state) {}

    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) {
        node_.handle = h;
        node_.home = current_executor;
        return state_->add_joiner(&node_);
    }
    void await_resume() { state_->rethrow_if_failed(); }

private:
    scope_state* state_;
    waiter_node node_;
};

} // namespace detail

/// Owns spawned tasks so none outlives the scope: structured concurrency for fire-and-forget work.
/// co_await join() before destroying it.
class async_scope {
public:
    async_scope() = default;
    async_scope(const async_scope&) = delete;
    async_scope& operator=(const async_scope&) = delete;

    /// Terminates the program if tasks are still live: join() first.
    ~async_scope() {
        if (const std::size_t n = state_.live(); n != 0) {
            std::fprintf(stderr, "sluice: async_scope destroyed with %zu live task(s); co_await join() first\n", n);
            std::terminate();
        }
    }

    /// Starts `t` now, on the calling thread, until its first suspension, and tracks it until it
    /// finishes. An exception it throws is kept for join().
    void spawn(task<void> t) {
        assert(t.valid() && "spawning an empty task");
        if (!t.valid()) return;
        detail::scope_runner runner = detail::run_in_scope(&state_, std::move(t)); // may throw bad_alloc
        runner.handle.promise().state = &state_;
        state_.add();
        runner.handle.resume();
    }

    /// `co_await scope.join()` completes once no spawned task is live (at once if none is), then
    /// rethrows the first exception a spawned task threw since the last join that reported one.
    /// Tasks spawned while a join waits are waited for too.
    [[nodiscard]] detail::scope_join_awaiter join() noexcept { return detail::scope_join_awaiter{state_}; }

    /// Asks the spawned tasks to stop; they see it through get_token(). True if this call made the request.
    bool request_stop() noexcept { return stop_.request_stop(); }
    /// The token every spawned task may watch; request_stop() fires it.
    [[nodiscard]] std::stop_token get_token() const noexcept { return stop_.get_token(); }

    /// How many spawned tasks have not finished yet.
    [[nodiscard]] std::size_t live() const noexcept { return state_.live(); }

private:
    detail::scope_state state_;
    std::stop_source stop_;
};

} // namespace sluice
