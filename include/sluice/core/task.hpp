#pragma once

// task<T>: a lazy coroutine. Nothing runs until it is awaited (or handed to sync_wait, a scope, a loop);
// completion resumes the awaiter by symmetric transfer, so chains of tasks never grow the stack.

#include <atomic>
#include <cassert>
#include <concepts>
#include <coroutine>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>

#include <sluice/core/detail/frame_allocator.hpp>

namespace sluice {

template <class T = void>
class task;

namespace detail {

// Symmetric transfer only keeps the stack flat when the compiler turns the resumption of the returned
// handle into a tail call. Clang always does; GCC only when optimizing and not under AddressSanitizer.
// Otherwise a loop awaiting tasks that finish at once nests one frame per await and overflows, so
// there the awaiter starts the child itself and a handshake decides who resumes the parent.
#if defined(__clang__) || (defined(__OPTIMIZE__) && !defined(SLUICE_DETAIL_ASAN))
#define SLUICE_DETAIL_TAIL_CALLS 1
#else
#define SLUICE_DETAIL_TAIL_CALLS 0
#endif

/// Who learns that a task ended when nothing awaits it: an executor that runs many tasks (a queue's
/// coroutine processors) without a coroutine frame of its own around each. task_done() runs on the
/// thread that finished the task, at its final suspend point; it takes the result from `finished` (the
/// task's handle) and may destroy the frame.
class task_completion {
public:
    virtual void task_done(std::coroutine_handle<> finished) noexcept = 0;

protected:
    task_completion() = default;
    task_completion(const task_completion&) = default;
    task_completion& operator=(const task_completion&) = default;
    ~task_completion() = default;
};

struct task_promise_base : recycled_frame {
    std::coroutine_handle<> continuation_{std::noop_coroutine()};
    task_completion* completion_ = nullptr; // instead of a continuation, when set (see task_completion)
#if !SLUICE_DETAIL_TAIL_CALLS
    // Set by whichever of "the awaiter finished starting the child" and "the child finished" comes
    // second's partner: the second to arrive resumes the parent.
    std::atomic<bool> handoff_{false};
#endif

    struct final_awaiter {
        [[nodiscard]] bool await_ready() const noexcept { return false; }
        template <class Promise>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
            if (task_completion* c = self.promise().completion_) {
                c->task_done(self); // may destroy this frame: nothing below touches it
                return std::noop_coroutine();
            }
#if SLUICE_DETAIL_TAIL_CALLS
            return self.promise().continuation_;
#else
            // The awaiter is still inside resume(): it will see the flag and carry on itself.
            if (!self.promise().handoff_.exchange(true, std::memory_order_acq_rel)) return std::noop_coroutine();
            return self.promise().continuation_;
#endif
        }
        void await_resume() const noexcept {}
    };

    std::suspend_always initial_suspend() const noexcept { return {}; }
    final_awaiter final_suspend() const noexcept { return {}; }
};

template <class T>
class task_promise final : public task_promise_base {
    // References are stored as pointers; the referent must outlive the awaiter's use, as with any function.
    using stored_type = std::conditional_t<std::is_reference_v<T>, std::add_pointer_t<T>, T>;

public:
    task<T> get_return_object() noexcept;

    void unhandled_exception() noexcept { result_.template emplace<2>(std::current_exception()); }

    template <class U>
        requires std::convertible_to<U&&, T>
    void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<stored_type, U&&>) {
        if constexpr (std::is_reference_v<T>)
            result_.template emplace<1>(std::addressof(value));
        else
            result_.template emplace<1>(std::forward<U>(value));
    }

    decltype(auto) result() & { return get(*this); }
    decltype(auto) result() && { return get(std::move(*this)); }

private:
    template <class Self>
    static decltype(auto) get(Self&& self) {
        if (self.result_.index() == 2) std::rethrow_exception(std::get<2>(self.result_));
        assert(self.result_.index() == 1 && "task result read before completion");
        if constexpr (std::is_reference_v<T>)
            return static_cast<T>(*std::get<1>(self.result_));
        else if constexpr (std::is_lvalue_reference_v<Self>)
            return static_cast<T&>(std::get<1>(self.result_));
        else
            return static_cast<T&&>(std::get<1>(self.result_));
    }

    std::variant<std::monostate, stored_type, std::exception_ptr> result_;
};

template <>
class task_promise<void> final : public task_promise_base {
public:
    task<void> get_return_object() noexcept;
    void unhandled_exception() noexcept { exception_ = std::current_exception(); }
    void return_void() noexcept {}
    void result() const {
        if (exception_) std::rethrow_exception(exception_);
    }

private:
    std::exception_ptr exception_;
};

} // namespace detail

/// A lazily started coroutine producing a T (or an exception). Move-only; destroying an
/// unstarted or finished task frees its frame.
template <class T>
class [[nodiscard]] task {
public:
    /// The coroutine machinery (internal).
    using promise_type = detail::task_promise<T>;
    /// What co_await gives.
    using value_type = T;
    /// The coroutine handle a task owns.
    using handle_type = std::coroutine_handle<promise_type>;

    task() noexcept = default;
    /// Takes ownership of a started-suspended coroutine (what the promise does).
    explicit task(handle_type handle) noexcept : handle_(handle) {}
    /// Moves ownership; the source is empty.
    task(task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
    /// Destroys the coroutine it held, then takes `other`'s.
    task& operator=(task&& other) noexcept {
        if (this != &other) {
            destroy();
            handle_ = std::exchange(other.handle_, {});
        }
        return *this;
    }
    task(const task&) = delete;
    task& operator=(const task&) = delete;
    ~task() { destroy(); }

    /// True when the task holds a coroutine (not default-constructed or moved-from).
    [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(handle_); }
    /// True once the coroutine ran to completion.
    [[nodiscard]] bool done() const noexcept { return !handle_ || handle_.done(); }

    /// Awaiting an lvalue task starts it and leaves it owned by the caller.
    auto operator co_await() & noexcept { return awaiter<false>{handle_}; }
    /// Awaiting a temporary task starts it; its frame dies with the awaiter.
    auto operator co_await() && noexcept { return awaiter<true>{handle_}; }

    /// The raw handle, for executors that start tasks themselves. Ownership stays with the task.
    [[nodiscard]] handle_type handle() const noexcept { return handle_; }
    /// Gives up ownership of the frame; the caller destroys it.
    [[nodiscard]] handle_type release() noexcept { return std::exchange(handle_, {}); }

private:
    template <bool Move>
    struct awaiter {
        handle_type handle;
        [[nodiscard]] bool await_ready() const noexcept { return !handle || handle.done(); }
#if SLUICE_DETAIL_TAIL_CALLS
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
            handle.promise().continuation_ = awaiting;
            return handle;
        }
#else
        bool await_suspend(std::coroutine_handle<> awaiting) noexcept {
            handle.promise().continuation_ = awaiting;
            handle.resume();
            // First to the flag: the child is still running and will resume us when it ends.
            return !handle.promise().handoff_.exchange(true, std::memory_order_acq_rel);
        }
#endif
        decltype(auto) await_resume() {
            assert(handle && "awaiting an empty task");
            if constexpr (Move)
                return std::move(handle.promise()).result();
            else
                return handle.promise().result();
        }
    };

    void destroy() noexcept {
        if (handle_) handle_.destroy();
        handle_ = {};
    }

    handle_type handle_{};
};

namespace detail {
template <class T>
inline task<T> task_promise<T>::get_return_object() noexcept {
    return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
    return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}
} // namespace detail

namespace detail {
/// The awaiter that `co_await a` would use, whichever way `a` provides it.
template <class A>
decltype(auto) get_awaiter(A&& a) {
    if constexpr (requires { std::forward<A>(a).operator co_await(); })
        return std::forward<A>(a).operator co_await();
    else if constexpr (requires { operator co_await(std::forward<A>(a)); })
        return operator co_await(std::forward<A>(a));
    else
        return std::forward<A>(a);
}
} // namespace detail

/// What `co_await a` yields for an awaitable of type A (a task, an event wait, ...).
template <class A>
using await_result_t = decltype(detail::get_awaiter(std::declval<A>()).await_resume());

} // namespace sluice
