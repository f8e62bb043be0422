#pragma once

// A test-and-test-and-set lock for the queue's few-instruction critical sections: one atomic exchange
// to take it instead of std::mutex's futex protocol, and a yield so a preempted holder isn't spun on.

#include <atomic>
#include <thread>

namespace sluice::detail {

class spin_lock {
public:
    void lock() noexcept {
        for (;;) {
            if (!locked_.exchange(true, std::memory_order_acquire)) return;
            int spins = 0;
            while (locked_.load(std::memory_order_relaxed)) {
                if (++spins < 64)
                    __builtin_ia32_pause();
                else
                    std::this_thread::yield();
            }
        }
    }
    bool try_lock() noexcept {
        return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
    }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> locked_{false};
};

} // namespace sluice::detail
