#pragma once

// order_gates: per order key, one record at a time (delivery_options::order_by_key). The record that
// holds its key's turn may be batched, sent, retried; the records after it wait here, in the order
// they arrived, until it finished (delivered, finally failed, or given up at stop), and then the next
// one takes the turn. So records of one key never overtake each other, whatever fails in between,
// and other keys are never held up by it. A key's turn is one record per request round trip.

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include <sluice/delivery/record_node.hpp>

namespace sluice::detail {

/// The turns of the order keys; loop thread only.
class order_gates {
public:
    /// True when `n` may go now (it holds its key's turn); false when it waits behind an earlier
    /// record of its key.
    bool enter(record_node* n) {
        auto [it, first] = gates_.try_emplace(n->order_key);
        if (first) {
            n->gated = true;
            return true;
        }
        it->second.push_back(n);
        ++waiting_;
        return false;
    }

    /// `n` finished: its key's turn passes to the next record of the key, which is returned (it holds
    /// the turn now and may go), or null.
    record_node* leave(record_node* n) {
        if (!n->gated) return nullptr;
        n->gated = false;
        auto it = gates_.find(n->order_key);
        if (it == gates_.end()) return nullptr;
        record_node* next = it->second.pop_front();
        if (next == nullptr) {
            gates_.erase(it);
            return nullptr;
        }
        --waiting_;
        next->gated = true;
        return next;
    }

    /// Takes every waiting record out (at stop's deadline); the turns stay with their holders.
    std::vector<record_node*> take_waiting() {
        std::vector<record_node*> out;
        for (auto& [key, queue] : gates_)
            while (record_node* n = queue.pop_front()) out.push_back(n);
        waiting_ = 0;
        return out;
    }

    [[nodiscard]] std::size_t waiting() const noexcept { return waiting_; }
    [[nodiscard]] std::size_t keys() const noexcept { return gates_.size(); }

private:
    std::unordered_map<std::string, node_list> gates_;
    std::size_t waiting_ = 0;
};

} // namespace sluice::detail
