#pragma once

// The interface the loop drives; io_uring and epoll implement it. The loop owns timers, the ready
// queue and cross-thread posts; a backend only waits for kernel events and completes io ops.

#include <chrono>
#include <vector>

#include <sluice/io/detail/io_op.hpp>

namespace sluice::detail {

class io_backend_base {
public:
    virtual ~io_backend_base() = default;

    /// Starts an I/O op (poll or file). Completion is reported later through wait(). A backend may
    /// complete the op at once (epoll does file I/O synchronously): then it returns true and the
    /// caller must not suspend.
    virtual bool start(io_op* op) = 0;

    /// Asks for an outstanding op to end early with -ECANCELED (it is still reported through wait()).
    virtual void cancel(io_op* op) = 0;

    /// Waits up to `timeout` (negative: forever, zero: don't block) for kernel events, appending
    /// completed ops to `done`. Returns true when the loop's wake-up was signalled.
    virtual bool wait(std::chrono::nanoseconds timeout, std::vector<io_op*>& done) = 0;

    /// Interrupts a wait() from another thread.
    virtual void wake() noexcept = 0;
};

} // namespace sluice::detail
