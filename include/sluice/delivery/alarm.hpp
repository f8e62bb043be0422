#pragma once

// alarm: calls a function on the loop at the earliest time it was set for. The engine's timers (a
// batch's age, retries due, the ordered hold, senders' block deadlines, stop's deadline) are each one
// alarm: one coroutine, spawned into the owner's async_scope while armed, that sleeps on a loop timer
// and re-plans when set() asks for an earlier time. It ends when disarmed, so an idle pipeline has no
// coroutine parked anywhere; shutdown() ends it for good and the scope's join() waits for it.

#include <chrono>
#include <functional>
#include <stop_token>
#include <utility>

#include <sluice/core/async_scope.hpp>
#include <sluice/core/executor.hpp>
#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>

namespace sluice::detail {

/// A re-armable one-shot timer on an io_loop; loop thread only.
class alarm {
public:
    using clock = std::chrono::steady_clock;

    alarm(io_loop& loop, async_scope& scope, std::function<void()> fire)
        : loop_(&loop), scope_(&scope), fire_(std::move(fire)) {}
    alarm(const alarm&) = delete;
    alarm& operator=(const alarm&) = delete;

    /// Goes off at `when`, or at the earlier time it is already set for. Never calls the function
    /// before returning, even for a time in the past.
    void set(clock::time_point when) {
        if (done_ || (armed_ && when >= when_)) return;
        when_ = when;
        armed_ = true;
        if (!running_) {
            running_ = true;
            scope_->spawn(run());
        } else if (sleeping_) {
            wake_.request_stop(); // asleep until a later time: re-plan
        }
    }

    /// Disarms it (the function is not called until the next set()); its coroutine ends.
    void cancel() {
        armed_ = false;
        if (sleeping_) wake_.request_stop();
    }

    /// Disarms it for good; the coroutine ends at once (the scope's join() waits for it).
    void shutdown() {
        done_ = true;
        armed_ = false;
        if (sleeping_) wake_.request_stop();
    }

    [[nodiscard]] bool armed() const noexcept { return armed_; }
    [[nodiscard]] clock::time_point when() const noexcept { return when_; }

private:
    task<void> run() {
        // Never fire from inside set(): spawn() runs this up to its first suspension.
        co_await loop_->schedule();
        while (armed_ && !done_) {
            const clock::time_point when = when_;
            if (when > clock::now()) {
                wake_ = std::stop_source{};
                sleeping_ = true;
                bool interrupted = false;
                try {
                    co_await loop_->sleep_until(when, wake_.get_token());
                } catch (const operation_cancelled&) {
                    interrupted = true;
                }
                sleeping_ = false;
                if (interrupted) continue;
            }
            if (!armed_ || done_ || when_ > clock::now()) continue;
            armed_ = false;
            fire_(); // may set() again: the loop goes on without another spawn
        }
        running_ = false;
    }

    io_loop* loop_;
    async_scope* scope_;
    std::function<void()> fire_;
    clock::time_point when_{};
    std::stop_source wake_{std::nostopstate};
    bool armed_ = false;
    bool running_ = false;
    bool sleeping_ = false;
    bool done_ = false;
};

} // namespace sluice::detail
