#pragma once

// The payloads a collector_queue holds before a consumer takes them, in the queue's discipline:
// a ring (FIFO), a stack (LIFO) or a heap on (priority, arrival) (priority). Used on the loop thread only.

#include <algorithm>
#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/core/detail/ring_buffer.hpp>
#include <sluice/queue/queue_options.hpp>

namespace sluice::detail {

/// Item must have `int priority` and `std::uint64_t sequence` (the arrival order).
template <class Item, queue_discipline Discipline>
class backlog {
public:
    [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }

    void push(Item&& it) {
        items_.push_back(std::move(it));
        if constexpr (Discipline == queue_discipline::priority) std::push_heap(items_.begin(), items_.end(), later);
    }

    /// Moves the next item into `out` (one move: this is the hot path).
    void pop_into(std::optional<Item>& out) {
        if constexpr (Discipline == queue_discipline::fifo) {
            out.emplace(std::move(items_.front()));
            items_.pop_front();
        } else {
            if constexpr (Discipline == queue_discipline::priority) std::pop_heap(items_.begin(), items_.end(), later);
            out.emplace(std::move(items_.back()));
            items_.pop_back();
        }
    }

    /// Everything, in the order it would have been taken.
    std::vector<Item> take_all() {
        std::vector<Item> all;
        all.reserve(items_.size());
        std::optional<Item> one;
        while (!items_.empty()) {
            pop_into(one);
            all.push_back(std::move(*one));
        }
        return all;
    }

private:
    // Heap order: the "largest" element is the one to run first.
    static bool later(const Item& a, const Item& b) noexcept {
        return a.priority != b.priority ? a.priority > b.priority : a.sequence > b.sequence;
    }

    std::conditional_t<Discipline == queue_discipline::fifo, ring_buffer<Item>, std::vector<Item>> items_;
};

} // namespace sluice::detail
