#pragma once

// A test-and-test-and-set lock for the queue's few-instruction critical sections: one atomic exchange
// to take it instead of std::mutex's futex protocol, and a yield so a preempted holder isn't spun on.

#include <atomic>
#include <thread>

namespace sluice::detail {

/// Tells the CPU this is a spin-wait (x86 PAUSE, Arm YIELD): cheaper for the sibling hyper-thread and
/// for the memory system than a bare load loop.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    asm volatile("yield" ::: "memory");
#endif
}

/// A lock for critical sections of a few instructions (see the top of this file).
class spin_lock {
public:
    void lock() noexcept {
        for (;;) {
            if (!locked_.exchange(true, std::memory_order_acquire)) return;
            int spins = 0;
            while (locked_.load(std::memory_order_relaxed)) {
                if (++spins < 64)
                    cpu_relax();
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
