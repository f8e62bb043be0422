#pragma once

// A binary min-heap of timer ops ordered by (deadline, sequence). Each op records its index so a
// cancelled timer is removed in O(log n) instead of being left behind as a tombstone.

#include <cstddef>
#include <utility>
#include <vector>

#include <sluice/io/detail/io_op.hpp>

namespace sluice::detail {

class timer_heap {
public:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    [[nodiscard]] bool empty() const noexcept { return heap_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return heap_.size(); }
    [[nodiscard]] io_op* top() const noexcept { return heap_.front(); }

    void push(io_op* op) {
        op->sequence = next_sequence_++;
        op->heap_index = heap_.size();
        heap_.push_back(op);
        sift_up(op->heap_index);
    }

    void pop() { erase(heap_.front()); }

    /// Removes `op` if it is still queued; returns whether it was.
    bool erase(io_op* op) noexcept {
        std::size_t i = op->heap_index;
        if (i == npos || i >= heap_.size() || heap_[i] != op) return false;
        std::size_t last = heap_.size() - 1;
        if (i != last) {
            place(i, heap_[last]);
            heap_.pop_back();
            sift_down(i);
            sift_up(i);
        } else {
            heap_.pop_back();
        }
        op->heap_index = npos;
        return true;
    }

private:
    static bool before(const io_op* a, const io_op* b) noexcept {
        return a->deadline < b->deadline || (a->deadline == b->deadline && a->sequence < b->sequence);
    }
    void place(std::size_t i, io_op* op) noexcept {
        heap_[i] = op;
        op->heap_index = i;
    }
    void sift_up(std::size_t i) noexcept {
        io_op* op = heap_[i];
        while (i > 0) {
            std::size_t parent = (i - 1) / 2;
            if (!before(op, heap_[parent])) break;
            place(i, heap_[parent]);
            i = parent;
        }
        place(i, op);
    }
    void sift_down(std::size_t i) noexcept {
        io_op* op = heap_[i];
        std::size_t n = heap_.size();
        for (;;) {
            std::size_t child = 2 * i + 1;
            if (child >= n) break;
            if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
            if (!before(heap_[child], op)) break;
            place(i, heap_[child]);
            i = child;
        }
        place(i, op);
    }

    std::vector<io_op*> heap_;
    std::uint64_t next_sequence_ = 0;
};

} // namespace sluice::detail
