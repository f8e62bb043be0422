#pragma once

// The operation records shared by the loop and its backends. Each lives inside the awaiter, in the
// suspended coroutine's frame, so an I/O operation never allocates; its address is the backend's tag.

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <sys/types.h>

namespace sluice::detail {

enum class io_op_kind : std::uint8_t { poll, timer, read, write, fsync, fdatasync, open, close };

struct io_op {
    io_op_kind kind{};
    std::coroutine_handle<> handle{};
    /// The kernel-style outcome: >= 0 on success (bytes, fd, revents), -errno on failure.
    int result = 0;
    /// Non-zero when the op may be cancelled by a stop_token; the loop's key for finding it.
    std::uint64_t cancel_id = 0;

    // Poll.
    int fd = -1;
    std::uint32_t events = 0;

    // File I/O.
    void* buffer = nullptr;
    std::size_t length = 0;
    std::uint64_t offset = 0;
    const char* path = nullptr;
    int open_flags = 0;
    mode_t mode = 0;

    // Timers: position in the loop's heap and order among equal deadlines.
    std::chrono::steady_clock::time_point deadline{};
    std::uint64_t sequence = 0;
    std::size_t heap_index = static_cast<std::size_t>(-1);
};

} // namespace sluice::detail
