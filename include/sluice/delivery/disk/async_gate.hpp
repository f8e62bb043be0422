#pragma once

// async_gate: a FIFO lock for the coroutines of one loop, held across I/O. Unlike async_mutex, which
// resumes the next waiter inline from unlock(), the gate hands over through the loop: a burst of
// appends queued behind a write would otherwise resume one another recursively, one stack frame per
// waiter, when each finishes without suspending.

#include <coroutine>
#include <deque>

#include <sluice/io/loop.hpp>

namespace sluice::detail::disk {

class async_gate {
public:
    explicit async_gate(io_loop& loop) noexcept : loop_(&loop) {}
    async_gate(const async_gate&) = delete;
    async_gate& operator=(const async_gate&) = delete;

    /// `co_await gate.lock()` returns once the caller holds the gate.
    [[nodiscard]] auto lock() noexcept {
        struct awaiter {
            async_gate* gate;
            bool await_ready() const noexcept {
                if (gate->held_) return false;
                gate->held_ = true;
                return true;
            }
            void await_suspend(std::coroutine_handle<> h) { gate->waiters_.push_back(h); }
            void await_resume() const noexcept {}
        };
        return awaiter{this};
    }
    /// Hands the gate to the next waiter (which then runs from the loop), or frees it.
    void unlock() {
        if (waiters_.empty()) {
            held_ = false;
            return;
        }
        auto next = waiters_.front();
        waiters_.pop_front();
        loop_->post(next);
    }

private:
    io_loop* loop_;
    bool held_ = false;
    std::deque<std::coroutine_handle<>> waiters_;
};

/// Unlocks a held gate at scope exit.
class gate_guard {
public:
    explicit gate_guard(async_gate& g) noexcept : gate_(&g) {}
    gate_guard(const gate_guard&) = delete;
    gate_guard& operator=(const gate_guard&) = delete;
    ~gate_guard() { gate_->unlock(); }

private:
    async_gate* gate_;
};

} // namespace sluice::detail::disk
