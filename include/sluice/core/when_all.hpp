#pragma once

// when_all: start several tasks together and resume once every one of them has finished.
//
// The children are wrapped in small coroutines that count down a shared latch as they finish. The latch
// starts at count + 1 and the awaiting coroutine takes the last unit itself after starting every child,
// so children that finish synchronously (or on other threads before the awaiter has suspended) can never
// resume it early, and no mutex is needed.

#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <sluice/core/executor.hpp>
#include <sluice/core/task.hpp>

namespace sluice {
namespace detail {

class when_all_latch {
public:
    static constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

    explicit when_all_latch(std::size_t children) noexcept : count_(children + 1) {}
    when_all_latch(const when_all_latch&) = delete;
    when_all_latch& operator=(const when_all_latch&) = delete;

    /// Called once by the awaiting coroutine after it started every child. False when they have all
    /// finished already, so the awaiter does not suspend.
    bool try_await(std::coroutine_handle<> awaiting) noexcept {
        awaiting_ = awaiting;
        home_ = current_executor;
        return count_.fetch_sub(1, std::memory_order_acq_rel) > 1;
    }

    /// Called by each child as it finishes; returns what that child's final suspend transfers to.
    std::coroutine_handle<> child_done() noexcept {
        if (count_.fetch_sub(1, std::memory_order_acq_rel) != 1) return std::noop_coroutine();
        // Last one out: the awaiter has suspended, and belongs to its own executor's thread.
        executor* home = home_;
        if (home == nullptr || home == current_executor) return awaiting_;
        home->post(awaiting_);
        return std::noop_coroutine();
    }

    /// Remembers the first child to fail, in completion order.
    void record_failure(std::size_t index) noexcept {
        std::size_t expected = none;
        first_failed_.compare_exchange_strong(expected, index, std::memory_order_acq_rel);
    }
    [[nodiscard]] std::size_t first_failed() const noexcept { return first_failed_.load(std::memory_order_acquire); }

private:
    std::atomic<std::size_t> count_;
    std::atomic<std::size_t> first_failed_{none};
    std::coroutine_handle<> awaiting_{};
    executor* home_ = nullptr;
};

/// What when_all yields for a child of type T: void becomes std::monostate, an rvalue reference a value
/// (the referent may not outlive the child), an lvalue reference stays one.
template <class T>
using when_all_value_t = std::conditional_t<
    std::is_void_v<T>, std::monostate,
    std::conditional_t<std::is_rvalue_reference_v<T>, std::remove_reference_t<T>, T>>;

/// The element type of the vector form (a vector cannot hold references).
template <class T>
using when_all_element_t = std::conditional_t<std::is_lvalue_reference_v<T>,
                                              std::reference_wrapper<std::remove_reference_t<T>>,
                                              std::remove_reference_t<T>>;

template <class T>
class when_all_child;

struct when_all_child_promise_base {
    when_all_latch* latch = nullptr;
    std::size_t index = 0;
    std::exception_ptr exception;

    struct final_awaiter {
        [[nodiscard]] bool await_ready() const noexcept { return false; }
        template <class Promise>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
            return self.promise().latch->child_done();
        }
        void await_resume() const noexcept {}
    };

    std::suspend_always initial_suspend() const noexcept { return {}; }
    final_awaiter final_suspend() const noexcept { return {}; }
    void unhandled_exception() noexcept {
        exception = std::current_exception();
        latch->record_failure(index);
    }
};

template <class T>
struct when_all_child_promise : when_all_child_promise_base {
    using stored_type = std::conditional_t<std::is_lvalue_reference_v<T>, std::add_pointer_t<T>,
                                           std::remove_reference_t<T>>;
    std::optional<stored_type> value;

    when_all_child<T> get_return_object() noexcept;
    template <class U>
    void return_value(U&& v) {
        if constexpr (std::is_lvalue_reference_v<T>)
            value.emplace(std::addressof(v));
        else
            value.emplace(std::forward<U>(v));
    }
    when_all_value_t<T> take() {
        if constexpr (std::is_lvalue_reference_v<T>)
            return static_cast<T>(**value);
        else
            return std::move(*value);
    }
};

template <>
struct when_all_child_promise<void> : when_all_child_promise_base {
    when_all_child<void> get_return_object() noexcept;
    void return_void() noexcept {}
    std::monostate take() noexcept { return {}; }
};

/// Owns one child coroutine (which owns the task it awaits). Destroying it unstarted frees both.
template <class T>
class when_all_child {
public:
    using promise_type = when_all_child_promise<T>;

    explicit when_all_child(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
    when_all_child(when_all_child&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
    when_all_child& operator=(when_all_child&&) = delete;
    when_all_child(const when_all_child&) = delete;
    when_all_child& operator=(const when_all_child&) = delete;
    ~when_all_child() {
        if (handle_) handle_.destroy();
    }

    void start(when_all_latch& latch, std::size_t index) noexcept {
        handle_.promise().latch = &latch;
        handle_.promise().index = index;
        handle_.resume();
    }
    void rethrow() const { std::rethrow_exception(handle_.promise().exception); }
    when_all_value_t<T> take() { return handle_.promise().take(); }

private:
    std::coroutine_handle<promise_type> handle_;
};

template <class T>
inline when_all_child<T> when_all_child_promise<T>::get_return_object() noexcept {
    return when_all_child<T>{std::coroutine_handle<when_all_child_promise<T>>::from_promise(*this)};
}
inline when_all_child<void> when_all_child_promise<void>::get_return_object() noexcept {
    return when_all_child<void>{std::coroutine_handle<when_all_child_promise<void>>::from_promise(*this)};
}

// The task is taken by value so that the child's frame owns it.
template <class T>
    requires(!std::is_void_v<T>)
when_all_child<T> make_when_all_child(task<T> t) {
    co_return co_await std::move(t);
}
template <class T>
    requires std::is_void_v<T>
when_all_child<T> make_when_all_child(task<T> t) {
    co_await std::move(t);
}

/// The awaitable returned by when_all(task<Ts>&&...): owns the children. Move it only before it is awaited.
template <class... Ts>
class [[nodiscard]] when_all_awaitable {
public:
    explicit when_all_awaitable(task<Ts>&&... tasks) : children_(make_when_all_child(std::move(tasks))...) {}
    when_all_awaitable(when_all_awaitable&& o) noexcept : children_(std::move(o.children_)) {
        assert(!o.started_ && "a when_all cannot move once awaited");
    }
    when_all_awaitable& operator=(when_all_awaitable&&) = delete;

    // The awaiter is a separate object pointing here, so awaiting an lvalue never copies the children.
    struct awaiter {
        when_all_awaitable* self;
        [[nodiscard]] bool await_ready() const noexcept { return sizeof...(Ts) == 0; }
        bool await_suspend(std::coroutine_handle<> awaiting) noexcept {
            self->started_ = true;
            self->start(std::index_sequence_for<Ts...>{});
            return self->latch_.try_await(awaiting);
        }
        std::tuple<when_all_value_t<Ts>...> await_resume() { return self->finish(std::index_sequence_for<Ts...>{}); }
    };
    awaiter operator co_await() & noexcept { return awaiter{this}; }
    awaiter operator co_await() && noexcept { return awaiter{this}; }

private:
    template <std::size_t... I>
    void start(std::index_sequence<I...>) noexcept {
        (std::get<I>(children_).start(latch_, I), ...);
    }
    template <std::size_t... I>
    std::tuple<when_all_value_t<Ts>...> finish(std::index_sequence<I...>) {
        const std::size_t failed = latch_.first_failed();
        ((failed == I ? std::get<I>(children_).rethrow() : void()), ...);
        return std::tuple<when_all_value_t<Ts>...>(std::get<I>(children_).take()...);
    }

    when_all_latch latch_{sizeof...(Ts)};
    std::tuple<when_all_child<Ts>...> children_;
    bool started_ = false;
};

/// The awaitable returned by when_all(std::vector<task<T>>). Move it only before it is awaited.
template <class T>
class [[nodiscard]] when_all_vector_awaitable {
public:
    using result_type = std::conditional_t<std::is_void_v<T>, void, std::vector<when_all_element_t<T>>>;

    explicit when_all_vector_awaitable(std::vector<task<T>> tasks) : latch_(tasks.size()) {
        children_.reserve(tasks.size());
        for (auto& t : tasks) children_.push_back(make_when_all_child(std::move(t)));
    }
    when_all_vector_awaitable(when_all_vector_awaitable&& o) noexcept
        : latch_(o.children_.size()), children_(std::move(o.children_)) {
        assert(!o.started_ && "a when_all cannot move once awaited");
    }
    when_all_vector_awaitable& operator=(when_all_vector_awaitable&&) = delete;

    struct awaiter {
        when_all_vector_awaitable* self;
        [[nodiscard]] bool await_ready() const noexcept { return self->children_.empty(); }
        bool await_suspend(std::coroutine_handle<> awaiting) noexcept { return self->start(awaiting); }
        result_type await_resume() { return self->finish(); }
    };
    awaiter operator co_await() & noexcept { return awaiter{this}; }
    awaiter operator co_await() && noexcept { return awaiter{this}; }

private:
    bool start(std::coroutine_handle<> awaiting) noexcept {
        started_ = true;
        for (std::size_t i = 0; i < children_.size(); ++i) children_[i].start(latch_, i);
        return latch_.try_await(awaiting);
    }
    result_type finish() {
        const std::size_t failed = latch_.first_failed();
        if (failed != when_all_latch::none) children_[failed].rethrow();
        if constexpr (!std::is_void_v<T>) {
            result_type results;
            results.reserve(children_.size());
            for (auto& c : children_) results.push_back(c.take());
            return results;
        }
    }

    when_all_latch latch_;
    std::vector<when_all_child<T>> children_;
    bool started_ = false;
};

} // namespace detail

/// Awaits every task concurrently and yields their results as a tuple, in argument order (void results
/// as std::monostate). Nothing starts until the result is awaited. If any task throws, the others still
/// run to completion, then the first exception to be thrown is rethrown.
template <class... Ts>
[[nodiscard]] detail::when_all_awaitable<Ts...> when_all(task<Ts>&&... tasks) {
    return detail::when_all_awaitable<Ts...>(std::move(tasks)...);
}

/// As above for a run-time number of tasks: yields a std::vector of their results in order (void for
/// task<void>; std::reference_wrapper for lvalue-reference results).
template <class T>
[[nodiscard]] detail::when_all_vector_awaitable<T> when_all(std::vector<task<T>> tasks) {
    return detail::when_all_vector_awaitable<T>(std::move(tasks));
}

} // namespace sluice
