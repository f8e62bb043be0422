#pragma once

// processor_fn<T, R>: what a collector runs for each payload routed to it. Any callable taking
// (const payload<T>&, collector_context&) and returning one of
//
//   R                 synchronous: runs inline on the consumer, no coroutine frame (nothing when R is void)
//   result<R>         synchronous, answering Ok or Error without throwing
//   task<R>           a coroutine: may suspend (I/O, timers, an acknowledgement)
//   task<result<R>>   a coroutine answering Ok or Error without throwing
//
// or a callable taking (const payload<T>&, collector_context&, processor_answer<R>) and returning
// nothing: it hands the payload on (typically to delivery_pipeline::submit) and answers later, once,
// through the processor_answer, from any thread. It runs inline like a synchronous processor and never
// holds its consumer, so an acknowledged path costs no coroutine frame per payload.
//
// An exception thrown by any of them becomes that collector's Error. The kind is decided once, when
// the callable is stored, so the queue picks the cheapest way to run it without a check per call
// beyond one switch.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include <sluice/core/result.hpp>
#include <sluice/core/task.hpp>
#include <sluice/queue/payload.hpp>

namespace sluice {

class collector_context;

/// How a processor answers, as decided from its return type.
enum class processor_kind {
    none,         ///< no callable
    value,        ///< returns R (or nothing for R = void), synchronously
    result,       ///< returns result<R>, synchronously
    task_value,   ///< returns task<R>
    task_result,  ///< returns task<result<R>>
    deferred,     ///< takes a processor_answer<R> and answers through it later
};

namespace detail {

/// The queue's side of a deferred call (the queue implements it): where a processor_answer goes.
template <class R>
class answer_target {
public:
    /// Resolves the call started as `generation` with `r`, once; from any thread (the queue hops to
    /// its loop). A call that already answered, or a later call reusing this target, ignores it.
    virtual void resolve(std::uint64_t generation, result<R>&& r) = 0;

protected:
    answer_target() = default;
    answer_target(const answer_target&) = default;
    answer_target& operator=(const answer_target&) = default;
    ~answer_target() = default;
};

} // namespace detail

/// How a deferred processor answers for its payload, later and exactly once: ok(), fail() or a whole
/// result<R>. Copyable (it fits a std::function's inline storage, so handing it to a callback does not
/// allocate) and callable from any thread. Answer before the queue is destroyed; a second answer is
/// ignored while the payload's job lives, and must not come after the queue is gone. A payload whose
/// answer never comes resolves "abandoned" at the queue's stop deadline (queue_options::abandon_after),
/// and what its call holds (the payload, its collector) stays allocated until the answer comes, as
/// for a coroutine processor that never returns.
template <class R>
class processor_answer {
public:
    /// An answer to the call `target` started as `generation` (the queue makes these).
    processor_answer(detail::answer_target<R>* target, std::uint64_t generation) noexcept
        : target_(target), generation_(generation) {}

    /// Answers with `r` (Ok or Error).
    void operator()(result<R> r) const { target_->resolve(generation_, std::move(r)); }

    /// Answers Ok with `value`.
    template <class V = R>
        requires(!std::is_void_v<V>)
    void ok(V value) const {
        (*this)(result<R>::ok(std::move(value)));
    }
    /// Answers Ok.
    void ok() const
        requires std::is_void_v<R>
    {
        (*this)(result<R>::ok());
    }
    /// Answers with the Error `e`.
    void fail(error e) const { (*this)(result<R>::failure(std::move(e))); }

private:
    detail::answer_target<R>* target_;
    std::uint64_t generation_;
};

namespace detail {

template <class F, class T>
using processor_return_t = std::invoke_result_t<F&, const payload<T>&, collector_context&>;

/// The kind a callable F would be as a processor of T answering R; none when it fits no kind.
template <class F, class T, class R>
consteval processor_kind kind_of_processor() {
    if constexpr (std::is_invocable_r_v<void, F&, const payload<T>&, collector_context&, processor_answer<R>>) {
        return processor_kind::deferred;
    } else if constexpr (!std::is_invocable_v<F&, const payload<T>&, collector_context&>) {
        return processor_kind::none;
    } else {
        using ret = processor_return_t<F, T>;
        if constexpr (std::is_same_v<ret, task<R>>)
            return processor_kind::task_value;
        else if constexpr (std::is_same_v<ret, task<result<R>>>)
            return processor_kind::task_result;
        else if constexpr (std::is_same_v<std::remove_cvref_t<ret>, result<R>>)
            return processor_kind::result;
        else if constexpr (std::is_void_v<R>)
            return std::is_void_v<ret> ? processor_kind::value : processor_kind::none;
        else
            return std::is_convertible_v<ret, R> ? processor_kind::value : processor_kind::none;
    }
}

} // namespace detail

/// A collector's processor: a type-erased callable of one of the five kinds above. Empty when
/// default-constructed (a queue refuses a collector without one).
template <class T, class R>
class processor_fn {
public:
    /// Returns a value at once; a throw is that collector's Error.
    using value_fn = std::function<R(const payload<T>&, collector_context&)>;
    /// Returns Ok or Error without throwing.
    using result_fn = std::function<result<R>(const payload<T>&, collector_context&)>;
    /// A coroutine returning a value.
    using task_value_fn = std::function<task<R>(const payload<T>&, collector_context&)>;
    /// A coroutine returning Ok or Error.
    using task_result_fn = std::function<task<result<R>>(const payload<T>&, collector_context&)>;
    /// Hands the payload on and answers later through the processor_answer.
    using deferred_fn = std::function<void(const payload<T>&, collector_context&, processor_answer<R>)>;

    processor_fn() noexcept = default;
    /// No processor (empty), as for a default-constructed one.
    processor_fn(std::nullptr_t) noexcept {}

    /// Stores `f`, whose return type decides how it runs (see the file comment).
    template <class F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, processor_fn> &&
                 detail::kind_of_processor<std::remove_cvref_t<F>, T, R>() != processor_kind::none)
    processor_fn(F&& f) {
        constexpr processor_kind k = detail::kind_of_processor<std::remove_cvref_t<F>, T, R>();
        if constexpr (k == processor_kind::value)
            fn_.template emplace<1>(std::forward<F>(f));
        else if constexpr (k == processor_kind::result)
            fn_.template emplace<2>(std::forward<F>(f));
        else if constexpr (k == processor_kind::task_value)
            fn_.template emplace<3>(std::forward<F>(f));
        else if constexpr (k == processor_kind::task_result)
            fn_.template emplace<4>(std::forward<F>(f));
        else
            fn_.template emplace<5>(std::forward<F>(f));
    }

    /// True when it holds a callable.
    explicit operator bool() const noexcept { return kind() != processor_kind::none; }

    /// Which of the five shapes it holds.
    [[nodiscard]] processor_kind kind() const noexcept { return static_cast<processor_kind>(fn_.index()); }

    /// True for the kinds that never suspend (value, result): they run inline, without a frame.
    [[nodiscard]] bool synchronous() const noexcept {
        return kind() == processor_kind::value || kind() == processor_kind::result;
    }

    /// Runs a synchronous processor; what it throws becomes an Error from `source`.
    /// Precondition: synchronous().
    [[nodiscard]] result<R> call(const payload<T>& p, collector_context& ctx, const std::string& source) const {
        try {
            if (kind() == processor_kind::result) return std::get<2>(fn_)(p, ctx);
            if constexpr (std::is_void_v<R>) {
                std::get<1>(fn_)(p, ctx);
                return result<R>::ok();
            } else {
                return result<R>::ok(std::get<1>(fn_)(p, ctx));
            }
        } catch (...) {
            return result<R>::failure(error::from_current_exception(source));
        }
    }

    /// The lazy task of a task_value processor. Precondition: kind() == task_value.
    [[nodiscard]] task<R> call_task(const payload<T>& p, collector_context& ctx) const { return std::get<3>(fn_)(p, ctx); }

    /// The lazy task of a task_result processor. Precondition: kind() == task_result.
    [[nodiscard]] task<result<R>> call_task_result(const payload<T>& p, collector_context& ctx) const {
        return std::get<4>(fn_)(p, ctx);
    }

    /// Runs a deferred processor, which answers through `answer`. Precondition: kind() == deferred.
    void call_deferred(const payload<T>& p, collector_context& ctx, processor_answer<R> answer) const {
        std::get<5>(fn_)(p, ctx, answer);
    }

private:
    std::variant<std::monostate, value_fn, result_fn, task_value_fn, task_result_fn, deferred_fn> fn_;
};

} // namespace sluice
