#pragma once

// A number written by one thread (a queue's loop) and read by any: a relaxed load and store per change,
// no locked instruction on the hot path, and no data race for the readers of a snapshot.

#include <atomic>

namespace sluice::detail {

template <class T>
class loop_counter {
public:
    loop_counter() noexcept = default;
    loop_counter(const loop_counter&) = delete;
    loop_counter& operator=(const loop_counter&) = delete;

    /// Writer thread only.
    void add(T n) noexcept { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    /// Writer thread only.
    void sub(T n) noexcept { value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
    /// Writer thread only.
    void set(T v) noexcept { value_.store(v, std::memory_order_relaxed); }
    /// Any thread.
    [[nodiscard]] T get() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<T> value_{0};
};

} // namespace sluice::detail
