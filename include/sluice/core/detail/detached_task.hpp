#pragma once

// detached_task: a coroutine nobody awaits. It is created suspended, started once, and frees its own
// frame (a recycled one) when its body ends, so a component can run many short-lived concurrent
// operations (a collector call, a hand-over pump) without tracking their frames. Its body must catch
// everything: an exception escaping it terminates.

#include <coroutine>
#include <exception>
#include <utility>

#include <sluice/core/detail/frame_allocator.hpp>

namespace sluice::detail {

class [[nodiscard]] detached_task {
public:
    struct promise_type : recycled_frame {
        detached_task get_return_object() noexcept {
            return detached_task{std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_always initial_suspend() const noexcept { return {}; }
        std::suspend_never final_suspend() const noexcept { return {}; }
        void return_void() const noexcept {}
        void unhandled_exception() const noexcept { std::terminate(); }
    };

    detached_task(detached_task&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
    detached_task(const detached_task&) = delete;
    detached_task& operator=(const detached_task&) = delete;
    detached_task& operator=(detached_task&&) = delete;
    /// A task never started is destroyed with its frame.
    ~detached_task() {
        if (handle_) handle_.destroy();
    }

    /// Runs the body on the calling thread until it first suspends (or ends); from then on the frame
    /// belongs to whoever resumes it.
    void start() && { std::exchange(handle_, {}).resume(); }

    /// Gives up the frame without starting it: whoever holds the handle resumes it once.
    [[nodiscard]] std::coroutine_handle<> release() && noexcept { return std::exchange(handle_, {}); }

private:
    explicit detached_task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
    std::coroutine_handle<promise_type> handle_;
};

} // namespace sluice::detail
