#pragma once

// channel<T>: a bounded multi-producer multi-consumer queue for coroutines. Senders suspend while it is
// full and receivers while it is empty; a value goes straight from a waiting sender or to a waiting
// receiver when it can. close() ends the stream: receivers drain what is buffered, then get nullopt.

#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/core/executor.hpp>

namespace sluice {

/// Thrown by channel::send on a closed channel, including to senders waiting when it closes.
class channel_closed : public std::runtime_error {
public:
    channel_closed() : std::runtime_error("send on a closed channel") {}
};

namespace detail {
enum class channel_status : unsigned char { pending, done, closed, cancelled };

// Unlinks every node of `list` (so a racing stop callback finds its node gone), chaining them via next.
inline waiter_node* channel_take_all(waiter_list& list) noexcept {
    waiter_node* head = nullptr;
    waiter_node** tail = &head;
    while (waiter_node* n = list.pop_front()) {
        *tail = n;
        tail = &n->next;
    }
    return head;
}

inline void channel_resume_all(waiter_node* n) {
    while (n) {
        waiter_node* next = n->next;
        n->resume();
        n = next;
    }
}
} // namespace detail

template <class T>
/// A bounded multi-producer multi-consumer channel between coroutines: send() suspends while it is full,
/// receive() while it is empty; close() ends both sides.
class channel {
    // Values move under the channel's lock, where a throwing move could lose one.
    static_assert(std::is_object_v<T> && !std::is_const_v<T>, "channel<T> needs a non-const object type");
    static_assert(std::is_nothrow_move_constructible_v<T>, "channel<T> needs a nothrow move constructor");

    struct send_node : detail::waiter_node {
        T* value = nullptr;
        detail::channel_status status = detail::channel_status::pending;
    };
    struct receive_node : detail::waiter_node {
        std::optional<T>* slot = nullptr;
        detail::channel_status status = detail::channel_status::pending;
    };

    // The part common to both awaiters: the stop callback and the race between it and the channel.
    template <class Node, bool Sending>
    class awaiter_base {
    protected:
        awaiter_base(channel& ch, std::stop_token token) noexcept : channel_(ch), token_(std::move(token)) {}
        awaiter_base(const awaiter_base&) = delete;
        awaiter_base& operator=(const awaiter_base&) = delete;

        // Registered before the node is queued: the callback takes the lock, and once queued this
        // coroutine may be resumed (and this awaiter destroyed) by the other side at any moment.
        void prepare(std::coroutine_handle<> h) {
            node_.handle = h;
            node_.home = detail::current_executor;
            if (token_.stop_possible()) stop_callback_.emplace(token_, canceller{this});
        }

        // Called under the lock when the operation cannot complete now: false if already cancelled.
        bool enqueue() {
            if (token_.stop_requested()) {
                node_.status = detail::channel_status::cancelled;
                return false;
            }
            list().push_back(&node_);
            return true;
        }

        void finish() {
            stop_callback_.reset(); // waits for a callback still running on another thread
            if (node_.status == detail::channel_status::cancelled) throw operation_cancelled();
        }

        detail::waiter_list& list() noexcept {
            if constexpr (Sending)
                return channel_.senders_;
            else
                return channel_.receivers_;
        }

        channel& channel_;
        Node node_;

    private:
        struct canceller {
            awaiter_base* self;
            void operator()() const noexcept { self->cancel(); }
        };

        // Whoever unlinks the node under the lock (the channel or this) is the one that resumes it.
        void cancel() noexcept {
            {
                std::lock_guard lock(channel_.mutex_);
                if (!list().contains(&node_)) return;
                list().erase(&node_);
                node_.status = detail::channel_status::cancelled;
            }
            node_.resume();
        }

        std::stop_token token_;
        std::optional<std::stop_callback<canceller>> stop_callback_;
    };

public:
    /// Made by each `co_await` of a send_operation; lives in the awaiting frame and never moves.
    class send_awaiter : awaiter_base<send_node, true> {
        using base = awaiter_base<send_node, true>;

    public:
        /// @cond awaiter_protocol
        send_awaiter(channel& ch, T& value, std::stop_token token) noexcept
            : base(ch, std::move(token)), value_(value) {}

        [[nodiscard]] bool await_ready() const noexcept { return false; }

        bool await_suspend(std::coroutine_handle<> h) {
            this->prepare(h);
            this->node_.value = std::addressof(value_);
            channel& ch = this->channel_;
            std::unique_lock lock(ch.mutex_);
            if (ch.closed_.load(std::memory_order_relaxed)) {
                this->node_.status = detail::channel_status::closed;
                return false;
            }
            this->node_.status = detail::channel_status::done; // unless it has to wait, below
            if (auto* r = static_cast<receive_node*>(ch.receivers_.pop_front())) {
                r->slot->emplace(std::move(value_));
                r->status = detail::channel_status::done;
                lock.unlock();
                r->resume();
                return false;
            }
            if (ch.size_ < ch.capacity()) {
                ch.push(std::move(value_));
                return false;
            }
            this->node_.status = detail::channel_status::pending;
            return this->enqueue();
        }

        /// Throws channel_closed if the channel closed before the value went in, operation_cancelled
        /// if the token stopped first. Either way the value is dropped.
        void await_resume() {
            this->finish();
            if (this->node_.status == detail::channel_status::closed) throw channel_closed();
        }

        /// @endcond
    private:
        T& value_; // in the send_operation, which outlives the co_await expression
    };

    /// What send() returns: holds the value until it is awaited, once. (The real awaiter is made by
    /// operator co_await because GCC copies awaiters that are awaited as lvalues.)
    class send_operation {
    public:
        /// Made by send().
        send_operation(channel& ch, T&& value, std::stop_token token) noexcept
            : channel_(&ch), value_(std::move(value)), token_(std::move(token)) {}
        /// Makes the awaiter that lives in the awaiting frame.
        send_awaiter operator co_await() & noexcept { return send_awaiter{*channel_, value_, token_}; }
        /// Makes the awaiter that lives in the awaiting frame.
        send_awaiter operator co_await() && noexcept { return send_awaiter{*channel_, value_, token_}; }

    private:
        channel* channel_;
        T value_;
        std::stop_token token_;
    };

    /// Made by each `co_await` of a receive_operation; lives in the awaiting frame and never moves.
    class receive_awaiter : awaiter_base<receive_node, false> {
        using base = awaiter_base<receive_node, false>;

    public:
        /// @cond awaiter_protocol
        receive_awaiter(channel& ch, std::stop_token token) noexcept : base(ch, std::move(token)) {}

        [[nodiscard]] bool await_ready() const noexcept { return false; }

        bool await_suspend(std::coroutine_handle<> h) {
            this->prepare(h);
            this->node_.slot = &result_;
            channel& ch = this->channel_;
            std::unique_lock lock(ch.mutex_);
            if (ch.size_ > 0) {
                this->node_.status = detail::channel_status::done;
                result_.emplace(ch.pop());
                if (detail::waiter_node* s = ch.refill()) {
                    lock.unlock();
                    s->resume();
                }
                return false;
            }
            // Empty, so no sender waits (senders wait only while it is full).
            if (ch.closed_.load(std::memory_order_relaxed)) {
                this->node_.status = detail::channel_status::done; // with no value
                return false;
            }
            return this->enqueue();
        }

        /// The next value, or nullopt once the channel is closed and drained. Throws
        /// operation_cancelled if the token stopped first.
        std::optional<T> await_resume() {
            this->finish();
            return std::move(result_);
        }

        /// @endcond
    private:
        std::optional<T> result_;
    };

    /// What receive() returns: an awaitable, each `co_await` of which receives one value.
    class receive_operation {
    public:
        /// Made by receive().
        receive_operation(channel& ch, std::stop_token token) noexcept : channel_(&ch), token_(std::move(token)) {}
        /// Makes the awaiter that lives in the awaiting frame.
        receive_awaiter operator co_await() const noexcept { return receive_awaiter{*channel_, token_}; }

    private:
        channel* channel_;
        std::stop_token token_;
    };

    /// A channel buffering up to `capacity` values (at least 1).
    explicit channel(std::size_t capacity) {
        if (capacity == 0) throw std::invalid_argument("sluice::channel capacity must be at least 1");
        slots_.resize(capacity);
    }
    channel(const channel&) = delete;
    channel& operator=(const channel&) = delete;
    ~channel() {
        assert(senders_.empty() && receivers_.empty() && "channel destroyed with coroutines waiting on it");
    }

    /// `co_await ch.send(v)`: enqueues v, suspending while the channel is full. Throws channel_closed.
    [[nodiscard]] send_operation send(T value) noexcept {
        return send_operation{*this, std::move(value), std::stop_token{}};
    }
    /// As send(), but throws operation_cancelled (the value not sent) if `token` is stopped first.
    [[nodiscard]] send_operation send(T value, std::stop_token token) noexcept {
        return send_operation{*this, std::move(value), std::move(token)};
    }

    /// `co_await ch.receive()`: the next value, suspending while the channel is empty; nullopt once it
    /// is closed and drained.
    [[nodiscard]] receive_operation receive() noexcept { return receive_operation{*this, std::stop_token{}}; }
    /// As receive(), but throws operation_cancelled if `token` is stopped first.
    [[nodiscard]] receive_operation receive(std::stop_token token) noexcept {
        return receive_operation{*this, std::move(token)};
    }

    /// Sends without waiting. Moves from `value` only on success: returns false, leaving it intact, if
    /// the channel is full or closed.
    [[nodiscard]] bool try_send(T&& value) {
        std::unique_lock lock(mutex_);
        if (closed_.load(std::memory_order_relaxed)) return false;
        if (auto* r = static_cast<receive_node*>(receivers_.pop_front())) {
            r->slot->emplace(std::move(value));
            r->status = detail::channel_status::done;
            lock.unlock();
            r->resume();
            return true;
        }
        if (size_ == capacity()) return false;
        push(std::move(value));
        return true;
    }

    /// Receives without waiting: nullopt if nothing is buffered (whether or not it is closed).
    [[nodiscard]] std::optional<T> try_receive() {
        std::unique_lock lock(mutex_);
        if (size_ == 0) return std::nullopt;
        std::optional<T> v{pop()};
        if (detail::waiter_node* s = refill()) {
            lock.unlock();
            s->resume();
        }
        return v;
    }

    /// Closes the channel: waiting and later senders get channel_closed; receivers drain the buffer,
    /// then get nullopt. Idempotent.
    void close() {
        detail::waiter_node* senders = nullptr;
        detail::waiter_node* receivers = nullptr;
        {
            std::lock_guard lock(mutex_);
            if (closed_.load(std::memory_order_relaxed)) return;
            closed_.store(true, std::memory_order_release);
            senders = detail::channel_take_all(senders_);
            for (auto* n = senders; n; n = n->next) static_cast<send_node*>(n)->status = detail::channel_status::closed;
            receivers = detail::channel_take_all(receivers_); // waiting means empty: no value for them
            for (auto* n = receivers; n; n = n->next) static_cast<receive_node*>(n)->status = detail::channel_status::done;
        }
        detail::channel_resume_all(senders);
        detail::channel_resume_all(receivers);
    }

    /// Values buffered right now.
    [[nodiscard]] std::size_t size() const {
        std::lock_guard lock(mutex_);
        return size_;
    }
    /// Most values it holds at once.
    [[nodiscard]] std::size_t capacity() const noexcept { return slots_.size(); }
    /// True once close() was called (values still buffered can be received).
    [[nodiscard]] bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

private:
    // Ring buffer of fixed size, allocated up front so nothing under the lock allocates.
    void push(T&& v) noexcept {
        slots_[(head_ + size_) % slots_.size()].emplace(std::move(v));
        ++size_;
    }
    T pop() noexcept {
        std::optional<T>& slot = slots_[head_];
        T v(std::move(*slot));
        slot.reset();
        head_ = (head_ + 1) % slots_.size();
        --size_;
        return v;
    }
    // After a pop: moves the longest-waiting sender's value in, returning that sender to resume.
    detail::waiter_node* refill() noexcept {
        auto* s = static_cast<send_node*>(senders_.pop_front());
        if (s == nullptr) return nullptr;
        push(std::move(*s->value));
        s->status = detail::channel_status::done;
        return s;
    }

    mutable std::mutex mutex_;
    std::vector<std::optional<T>> slots_;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
    detail::waiter_list senders_;
    detail::waiter_list receivers_;
    std::atomic<bool> closed_{false}; // written under mutex_; read without it only by closed()
};

} // namespace sluice
