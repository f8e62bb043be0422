#pragma once

// result<T>: the outcome one collector (or sink) reports for one payload: Ok with a value, an empty Ok
// (nothing to report, e.g. no collector matched), or an Error that says what failed and why.
// result_list<T>: one result per collector a payload was delivered to.

#include <cstddef>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <sluice/core/executor.hpp>
#include <sluice/core/outcome.hpp>

namespace sluice {

/// Why something failed. Never carries credentials or payload bodies: it is meant to be logged.
struct error {
    /// What failed: a collector key, "queue", "router", a sink name.
    std::string source;
    /// A human-readable explanation.
    std::string message;
    /// The system or library error code, when there is one.
    std::error_code code{};
    /// The exception that caused the failure, when there was one (rethrow() raises it).
    std::exception_ptr exception{};
    /// How the record fared, when the failure came from the delivery path (a delivery_error): kind,
    /// the service's error code, request id, attempts, whether it was sent.
    std::shared_ptr<const outcome> details{};

    /// An error carrying `o`, how a record fared on the delivery path, as its details: what a caught
    /// delivery_error gives (message and details), without throwing one.
    static error from_outcome(std::string source, const outcome& o) {
        error e;
        e.source = std::move(source);
        e.message = o.message;
        e.details = std::make_shared<const outcome>(o);
        return e;
    }

    /// Builds an error from the exception currently being handled.
    static error from_current_exception(std::string source) {
        error e;
        e.source = std::move(source);
        e.exception = std::current_exception();
        try {
            throw;
        } catch (const delivery_error& ex) {
            e.message = ex.what();
            e.details = std::make_shared<const outcome>(ex.details());
        } catch (const operation_cancelled& ex) {
            // A processor that gave up on its stop token: it did not do the work, as "cancelled" says.
            e.code = std::make_error_code(std::errc::operation_canceled);
            e.message = ex.what();
        } catch (const std::system_error& ex) {
            e.code = ex.code();
            e.message = ex.what();
        } catch (const std::exception& ex) {
            e.message = ex.what();
        } catch (...) {
            e.message = "unknown exception";
        }
        return e;
    }

    /// Throws the original exception, or a delivery_error (with details), std::system_error or
    /// std::runtime_error built from this.
    [[noreturn]] void rethrow() const {
        if (exception) std::rethrow_exception(exception);
        if (details) throw delivery_error(*details);
        if (code) throw std::system_error(code, what());
        throw std::runtime_error(what());
    }

    /// Cancelled (code operation_canceled): the work was not done (the queue stopped before it ran,
    /// or the processor gave up on its stop token), so sending it again does it once.
    [[nodiscard]] bool cancelled() const noexcept { return code == std::errc::operation_canceled; }
    /// Abandoned (code operation_in_progress): still running when a queue's stop gave up waiting for
    /// it. It may still complete: sending it again may do the work twice.
    [[nodiscard]] bool abandoned() const noexcept { return code == std::errc::operation_in_progress; }

    /// "source: message".
    [[nodiscard]] std::string what() const { return source.empty() ? message : source + ": " + message; }
};

/// Thrown when a result's value is read but the result holds an error or nothing.
class bad_result_access : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

template <class T>
/// Ok with a value (or without one: an unrouted payload, a void processor) or Error with what failed, tagged
/// with the collector it came from.
class result {
    using stored_type = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

public:
    /// The value's type (void allowed).
    using value_type = T;

    /// An empty Ok.
    result() = default;

    /// Ok holding `value`.
    template <class U = stored_type>
        requires(!std::is_void_v<T> && std::is_constructible_v<stored_type, U &&> &&
                 !std::is_same_v<std::remove_cvref_t<U>, result> && !std::is_same_v<std::remove_cvref_t<U>, error>)
    static result ok(U&& value) {
        result r;
        r.state_.template emplace<1>(std::forward<U>(value));
        return r;
    }

    /// Ok with no value (the void case, or "nothing to report").
    static result ok() { return result{}; }

    /// An Error.
    static result failure(error e) {
        result r;
        r.state_.template emplace<2>(std::move(e));
        return r;
    }

    /// True unless it is an Error (an Ok without a value is Ok).
    [[nodiscard]] bool is_ok() const noexcept { return state_.index() != 2; }
    /// True for an Error.
    [[nodiscard]] bool is_error() const noexcept { return state_.index() == 2; }
    /// True for an Ok that carries a value.
    [[nodiscard]] bool has_value() const noexcept { return state_.index() == 1; }
    /// Same as is_ok().
    explicit operator bool() const noexcept { return is_ok(); }

    /// The value of an Ok. Rethrows the error for an Error; throws bad_result_access for an empty Ok.
    decltype(auto) value() & { return get(*this); }
    /// The value; rethrows the Error's exception (or a std::runtime_error with its message).
    decltype(auto) value() const& { return get(*this); }
    /// The value, moved out; rethrows an Error as value() does.
    decltype(auto) value() && { return get(std::move(*this)); }

    /// The error of an Error; throws bad_result_access for an Ok.
    [[nodiscard]] const error& get_error() const {
        if (!is_error()) throw bad_result_access("result holds no error");
        return std::get<2>(state_).get();
    }

    /// The collector (or sink) that produced this result; empty when none did.
    [[nodiscard]] const std::string& source() const noexcept { return source_; }
    /// Tags the result with its collector's key (the queue does this).
    void set_source(std::string s) { source_ = std::move(s); }

private:
    template <class Self>
    static decltype(auto) get(Self&& self) {
        if (self.state_.index() == 2) std::get<2>(self.state_).get().rethrow();
        if constexpr (std::is_void_v<T>) {
            return;
        } else {
            if (self.state_.index() == 0) throw bad_result_access("result is an empty Ok");
            return std::get<1>(std::forward<Self>(self).state_);
        }
    }

    /// An Error's error, kept off line: an Ok result stays small (48 bytes for result<std::uint64_t>
    /// instead of 144), which matters because a result_list crosses from the loop's thread to the
    /// sender's: with 16 collectors that was 36 cache lines per payload, now 12.
    class boxed_error {
    public:
        explicit boxed_error(error e) : p_(std::make_unique<error>(std::move(e))) {}
        boxed_error(const boxed_error& o) : p_(o.p_ ? std::make_unique<error>(*o.p_) : nullptr) {}
        boxed_error(boxed_error&&) noexcept = default;
        boxed_error& operator=(const boxed_error& o) {
            if (this != &o) p_ = o.p_ ? std::make_unique<error>(*o.p_) : nullptr;
            return *this;
        }
        boxed_error& operator=(boxed_error&&) noexcept = default;
        ~boxed_error() = default;
        /// The error; an empty one for a moved-from box (a moved-from result is still readable).
        [[nodiscard]] const error& get() const noexcept {
            static const error none{};
            return p_ ? *p_ : none;
        }

    private:
        std::unique_ptr<error> p_;
    };

    std::variant<std::monostate, stored_type, boxed_error> state_;
    std::string source_;
};

/// The results of one payload, one per collector it reached, in routing order.
template <class T>
class result_list {
public:
    /// Each collector's result.
    using value_type = result<T>;
    /// Iterates the results.
    using iterator = typename std::vector<result<T>>::iterator;
    /// Iterates the results.
    using const_iterator = typename std::vector<result<T>>::const_iterator;

    result_list() = default;
    /// Takes the results as they are.
    explicit result_list(std::vector<result<T>> items) : items_(std::move(items)) {}

    /// Number of results (one per collector that got the payload; one for an unrouted payload).
    [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
    /// True when it holds no results yet (get_result() before the payload is done).
    [[nodiscard]] bool empty() const noexcept { return items_.empty(); }

    /// The first result; throws bad_result_access when there is none.
    [[nodiscard]] const result<T>& first() const {
        if (items_.empty()) throw bad_result_access("result_list is empty");
        return items_.front();
    }

    /// Result `i`, in collector order.
    [[nodiscard]] const result<T>& operator[](std::size_t i) const { return items_[i]; }
    /// The i-th result, to fill in (a queue writes each collector's answer at its routing position).
    [[nodiscard]] result<T>& operator[](std::size_t i) { return items_[i]; }
    /// First result.
    [[nodiscard]] iterator begin() noexcept { return items_.begin(); }
    /// Past the last result.
    [[nodiscard]] iterator end() noexcept { return items_.end(); }
    /// First result.
    [[nodiscard]] const_iterator begin() const noexcept { return items_.begin(); }
    /// Past the last result.
    [[nodiscard]] const_iterator end() const noexcept { return items_.end(); }

    /// True when no result is an Error.
    [[nodiscard]] bool all_ok() const noexcept {
        for (const auto& r : items_)
            if (r.is_error()) return false;
        return true;
    }

    /// The number of Error results.
    [[nodiscard]] std::size_t error_count() const noexcept {
        std::size_t n = 0;
        for (const auto& r : items_) n += r.is_error() ? 1 : 0;
        return n;
    }

    /// Appends a result.
    void push_back(result<T> r) { items_.push_back(std::move(r)); }
    /// Reserves room for `n` results.
    void reserve(std::size_t n) { items_.reserve(n); }
    /// Makes the list `n` long, new entries empty Oks.
    void resize(std::size_t n) { items_.resize(n); }
    /// Removes every result.
    void clear() noexcept { items_.clear(); }

private:
    std::vector<result<T>> items_;
};

} // namespace sluice
