#pragma once

// One record inside the delivery engine, the pool that recycles them and the intrusive FIFO that
// queues them (waiting for room, behind an earlier record of their order key, waiting for the disk).
// A record delivered with deliver() lives in deliver()'s coroutine frame; one submitted with a
// callback or read back from the disk buffer comes from the pool, so the hot path allocates nothing
// once the pool is warm.

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <sluice/core/outcome.hpp>

namespace sluice::detail {

/// Where a record stands.
enum class node_state : std::uint8_t { pending, delivered, failed, persisted };

/// submit()'s callback: the outcome only.
using record_callback = std::function<void(const outcome&)>;
/// submit()'s other callback: the outcome, and the record's bytes when it was not delivered (moved
/// out of the engine), for a sender that keeps nothing else of it (the AWS batch dispatcher).
using record_callback_with_data = std::function<void(const outcome&, std::string&&)>;
/// Either (one member, so that a pooled node stays small).
using node_callback = std::variant<record_callback, record_callback_with_data>;

/// Runs a submit() callback with `o`; the with-data form also gets `data`, the record's bytes
/// (empty when `o` is a delivery).
inline void call_back(node_callback& callback, const outcome& o, std::string&& data) {
    if (auto* plain = std::get_if<record_callback>(&callback))
        (*plain)(o);
    else
        std::get<record_callback_with_data>(callback)(o, std::move(data));
}

/// Who learns how a record ended.
enum class node_origin : std::uint8_t {
    awaiting, ///< a deliver() frame, resumed through `waiter`
    callback, ///< submit(): `callback` runs, then the node goes back to the pool
    replay,   ///< read back from the disk buffer: acknowledged there, then back to the pool
};

/// One record in the engine.
struct record_node {
    using clock = std::chrono::steady_clock;

    std::string data;
    std::string batch_key;
    std::string order_key;
    /// What it counts against the batch byte limits (its size unless the sender said otherwise).
    std::size_t weight = 0;
    unsigned attempts = 0;
    /// A request that left this process carried it (see outcome::sent).
    bool sent = false;
    node_state state = node_state::pending;
    node_origin origin = node_origin::awaiting;
    bool admitted = false; ///< holds room in the memory buffer
    bool counted = false;  ///< counted as outstanding (admitted and not finished)
    bool gated = false;    ///< holds its order key's turn
    bool kept = false;     ///< to be kept in the disk buffer at stop (for the next start)
    bool accepted = false; ///< entered the engine (a final failure then goes to the dead-letter output)
    bool has_disk_id = false;
    std::uint64_t disk_id = 0;
    /// The retry budget tokens its last retry drew (refunded when that retry succeeds).
    unsigned budget_held = 0;
    clock::time_point first_attempt{};
    /// When a retry is due, or until when it may wait for room (under when_full::block).
    clock::time_point due{};
    /// The final failure (kind, message, service code, request id) once state is failed; on the heap,
    /// so that the record (and deliver()'s frame) stays small on the path where nothing fails.
    std::unique_ptr<outcome> failure{};
    std::coroutine_handle<> waiter{};
    node_callback callback{};
    /// Intrusive link of the one node_list it waits in, if any.
    record_node* next = nullptr;

    [[nodiscard]] bool finished() const noexcept { return state != node_state::pending; }
    /// What it costs a batch.
    [[nodiscard]] std::size_t cost() const noexcept { return weight != 0 ? weight : data.size(); }
};

/// An intrusive FIFO of nodes through record_node::next; a node is in at most one list.
class node_list {
public:
    node_list() = default;
    node_list(const node_list&) = delete;
    node_list& operator=(const node_list&) = delete;
    node_list(node_list&& o) noexcept : head_(std::exchange(o.head_, nullptr)), tail_(std::exchange(o.tail_, nullptr)),
                                        size_(std::exchange(o.size_, 0)) {}
    node_list& operator=(node_list&& o) noexcept {
        head_ = std::exchange(o.head_, nullptr);
        tail_ = std::exchange(o.tail_, nullptr);
        size_ = std::exchange(o.size_, 0);
        return *this;
    }

    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] record_node* front() const noexcept { return head_; }

    void push_back(record_node* n) noexcept {
        n->next = nullptr;
        (tail_ ? tail_->next : head_) = n;
        tail_ = n;
        ++size_;
    }
    void push_front(record_node* n) noexcept {
        n->next = head_;
        head_ = n;
        if (!tail_) tail_ = n;
        ++size_;
    }
    record_node* pop_front() noexcept {
        record_node* n = head_;
        if (!n) return nullptr;
        head_ = n->next;
        if (!head_) tail_ = nullptr;
        n->next = nullptr;
        --size_;
        return n;
    }
    /// Moves every node of `other` to the back of this list.
    void splice_back(node_list& other) noexcept {
        while (record_node* n = other.pop_front()) push_back(n);
    }

private:
    record_node* head_ = nullptr;
    record_node* tail_ = nullptr;
    std::size_t size_ = 0;
};

/// Recycles the nodes of submitted and replayed records. Strings keep their capacity, so a warm pool
/// allocates nothing for records of similar size. Loop thread only.
class node_pool {
public:
    node_pool() = default;
    node_pool(const node_pool&) = delete;
    node_pool& operator=(const node_pool&) = delete;

    [[nodiscard]] record_node* make(node_origin origin) {
        record_node* n = nullptr;
        if (free_.empty()) {
            all_.push_back(std::make_unique<record_node>());
            // release() never allocates; grown geometrically (reserve() alone grows to the exact size,
            // which copied the whole list for every node added while the pool filled up)
            if (free_.capacity() < all_.size()) free_.reserve(std::max<std::size_t>(all_.size(), 2 * free_.capacity()));
            n = all_.back().get();
        } else {
            n = free_.back();
            free_.pop_back();
        }
        n->origin = origin;
        return n;
    }

    void release(record_node* n) noexcept {
        n->data.clear();
        n->batch_key.clear();
        n->order_key.clear();
        n->weight = 0;
        n->attempts = 0;
        n->sent = false;
        n->state = node_state::pending;
        n->admitted = n->counted = n->gated = n->kept = n->accepted = n->has_disk_id = false;
        n->budget_held = 0;
        n->failure.reset();
        n->callback = record_callback{};
        n->waiter = {};
        n->next = nullptr;
        if (n->data.capacity() > max_kept_capacity) n->data.shrink_to_fit();
        free_.push_back(n);
    }

private:
    static constexpr std::size_t max_kept_capacity = 64 * 1024;
    std::vector<std::unique_ptr<record_node>> all_;
    std::vector<record_node*> free_;
};

} // namespace sluice::detail
