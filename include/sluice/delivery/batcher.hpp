#pragma once

// batcher: the open batches, one per batch key, each sealed when it reaches max_events, when the next
// record would take it past max_bytes (of record weight), when its first record is max_age old, when
// more than max_open_batches are open (the oldest goes), or when asked (flush, stop, retries and
// records released by their order key go out promptly). Sealed batches go to the dispatcher through
// batcher_hooks. One alarm follows the oldest open batch: all share max_age, so the order in which
// batches opened is the order in which they age.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sluice/core/async_scope.hpp>
#include <sluice/delivery/alarm.hpp>
#include <sluice/delivery/record_node.hpp>
#include <sluice/io/loop.hpp>

namespace sluice::detail {

/// Why a batch was sealed.
enum class seal_reason : std::uint8_t { full, age, asked, evicted };

/// A batch on its way to the sink: records sharing one batch key, in the order they were added.
struct sealed_batch {
    std::string key;
    std::vector<record_node*> nodes;
    std::size_t bytes = 0;  ///< encoded bytes (what goes over the wire)
    std::size_t weight = 0; ///< what the batch counts against the byte limits
    seal_reason reason = seal_reason::full;
};

/// Where sealed batches go.
class batcher_hooks {
public:
    virtual void sealed(sealed_batch&& batch) = 0;

protected:
    ~batcher_hooks() = default;
};

/// Batch limits after the sink's own limits were applied.
struct batch_limits {
    std::size_t max_events = 500;
    std::size_t max_weight = 1u << 20;
    std::chrono::milliseconds max_age{1000};
    std::size_t max_open = 1024;
};

/// The open batches; loop thread only.
class batcher {
public:
    using clock = std::chrono::steady_clock;

    batcher(io_loop& loop, async_scope& scope, batch_limits limits, batcher_hooks& hooks)
        : limits_(limits), hooks_(&hooks), age_(loop, scope, [this] { seal_aged(); }) {
        limits_.max_events = std::max<std::size_t>(1, limits_.max_events);
        limits_.max_weight = std::max<std::size_t>(1, limits_.max_weight);
        limits_.max_open = std::max<std::size_t>(1, limits_.max_open);
    }
    batcher(const batcher&) = delete;
    batcher& operator=(const batcher&) = delete;

    /// Adds `n` to its key's open batch (opening one if needed). `prompt`: the batch goes out at the
    /// next seal_prompt() rather than waiting for its age (retries, records released by their order key).
    void add(record_node* n, bool prompt = false) {
        open_batch* b = find(n->batch_key);
        const std::size_t cost = n->cost();
        if (b != nullptr && b->weight + cost > limits_.max_weight) {
            seal(b, seal_reason::full); // it goes into the next one
            b = nullptr;
        }
        if (b == nullptr) b = open(n->batch_key);
        b->nodes.push_back(n);
        b->weight += cost;
        b->bytes += n->data.size();
        if (prompt && !b->prompt) {
            b->prompt = true;
            prompt_.push_back(b);
        }
        if (b->nodes.size() >= limits_.max_events || b->weight >= limits_.max_weight) seal(b, seal_reason::full);
    }

    /// Seals the batches that hold prompt records.
    void seal_prompt() {
        auto list = std::move(prompt_);
        prompt_.clear();
        for (open_batch* b : list)
            if (b->prompt && !b->nodes.empty()) seal(b, seal_reason::asked);
    }

    /// Seals every open batch, oldest first.
    void seal_all() {
        while (oldest_ != nullptr) seal(oldest_, seal_reason::asked);
    }

    /// Takes every record out of the open batches (at stop's deadline), oldest batch first.
    std::vector<record_node*> take_all() {
        std::vector<record_node*> out;
        while (oldest_ != nullptr) {
            open_batch* b = oldest_;
            out.insert(out.end(), b->nodes.begin(), b->nodes.end());
            b->nodes.clear();
            close(b);
        }
        return out;
    }

    [[nodiscard]] std::size_t open_batches() const noexcept { return open_count_; }
    [[nodiscard]] const batch_limits& limits() const noexcept { return limits_; }
    void shutdown() { age_.shutdown(); }

private:
    struct open_batch {
        std::string key;
        std::vector<record_node*> nodes;
        std::size_t bytes = 0;
        std::size_t weight = 0;
        clock::time_point opened{};
        bool prompt = false;
        open_batch* older = nullptr; // the age list, oldest first
        open_batch* newer = nullptr;
    };

    open_batch* find(const std::string& key) {
        if (last_ != nullptr && last_->key == key) return last_;
        auto it = by_key_.find(key);
        if (it == by_key_.end()) return nullptr;
        last_ = it->second;
        return last_;
    }

    open_batch* open(const std::string& key) {
        if (open_count_ >= limits_.max_open) seal(oldest_, seal_reason::evicted);
        open_batch* b = nullptr;
        if (spare_.empty()) {
            all_.push_back(std::make_unique<open_batch>());
            spare_.reserve(all_.size());
            b = all_.back().get();
        } else {
            b = spare_.back();
            spare_.pop_back();
        }
        b->key = key;
        b->nodes.reserve(std::min<std::size_t>(limits_.max_events, 1024));
        b->opened = clock::now();
        b->newer = nullptr;
        b->older = newest_;
        (newest_ ? newest_->newer : oldest_) = b;
        newest_ = b;
        ++open_count_;
        by_key_.emplace(b->key, b);
        last_ = b;
        age_.set(oldest_->opened + limits_.max_age);
        return b;
    }

    /// Unlinks `b` and puts it aside for reuse.
    void close(open_batch* b) {
        (b->older ? b->older->newer : oldest_) = b->newer;
        (b->newer ? b->newer->older : newest_) = b->older;
        b->older = b->newer = nullptr;
        by_key_.erase(b->key);
        if (last_ == b) last_ = nullptr;
        b->bytes = b->weight = 0;
        b->prompt = false;
        --open_count_;
        spare_.push_back(b);
        if (open_count_ == 0) age_.cancel(); // nothing to age: no coroutine left sleeping
    }

    void seal(open_batch* b, seal_reason why) {
        sealed_batch out;
        out.nodes = std::move(b->nodes);
        b->nodes = {};
        out.bytes = b->bytes;
        out.weight = b->weight;
        out.reason = why;
        out.key = b->key; // the key stays with the open_batch until close() removes it from the map
        close(b);
        hooks_->sealed(std::move(out)); // last: the hook may add records again
    }

    void seal_aged() {
        const auto now = clock::now();
        while (oldest_ != nullptr && oldest_->opened + limits_.max_age <= now) seal(oldest_, seal_reason::age);
        if (oldest_ != nullptr) age_.set(oldest_->opened + limits_.max_age);
    }

    batch_limits limits_;
    batcher_hooks* hooks_;
    std::unordered_map<std::string_view, open_batch*> by_key_;
    std::vector<std::unique_ptr<open_batch>> all_;
    std::vector<open_batch*> spare_;
    std::vector<open_batch*> prompt_;
    open_batch* last_ = nullptr;
    open_batch* oldest_ = nullptr;
    open_batch* newest_ = nullptr;
    std::size_t open_count_ = 0;
    alarm age_;
};

} // namespace sluice::detail
