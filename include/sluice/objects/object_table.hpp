#pragma once

// The object engine's live objects: every object from its first record to its completion, the open
// one of each partition, the open ones by age, and the memory they hold together.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sluice/objects/live_object.hpp>

namespace sluice::objects::detail {

/// Live objects (see the top of this header). Loop thread only.
class object_table {
public:
    using clock = std::chrono::steady_clock;

    /// Adds an object; it becomes its partition's open object (the one before, if any, is returned:
    /// it must close, as a new object of its partition opened).
    live_object* add(std::unique_ptr<live_object> object, live_object*& replaced) {
        live_object* o = object.get();
        replaced = nullptr;
        if (auto it = open_.find(o->partition); it != open_.end()) {
            replaced = it->second;
            seal(*replaced);
        }
        open_[o->partition] = o;
        ages_.insert({o->opened, o->sequence});
        all_.emplace(o->sequence, std::move(object));
        return o;
    }

    /// The open object of `partition`, or null.
    [[nodiscard]] live_object* open_for(const std::string& partition) const {
        const auto it = open_.find(partition);
        return it == open_.end() ? nullptr : it->second;
    }

    [[nodiscard]] live_object* find(std::uint64_t sequence) const {
        const auto it = all_.find(sequence);
        return it == all_.end() ? nullptr : it->second.get();
    }

    /// Marks `o` full: it leaves the open set (later records of its partition open a new object).
    void seal(live_object& o) {
        if (o.full) return;
        o.full = true;
        if (auto it = open_.find(o.partition); it != open_.end() && it->second == &o) open_.erase(it);
        ages_.erase({o.opened, o.sequence});
    }

    /// Removes an object for good (completed, failed, or rolled back).
    void erase(std::uint64_t sequence) {
        const auto it = all_.find(sequence);
        if (it == all_.end()) return;
        seal(*it->second);
        all_.erase(it);
    }

    /// The open object opened first, or null; and when.
    [[nodiscard]] live_object* oldest_open() const {
        return ages_.empty() ? nullptr : find(ages_.begin()->second);
    }

    /// The open object holding the most memory, or null.
    [[nodiscard]] live_object* largest_open() const {
        live_object* best = nullptr;
        std::size_t most = 0;
        for (const auto& [partition, o] : open_) {
            const std::size_t m = o->memory();
            if (!best || m > most) {
                best = o;
                most = m;
            }
        }
        return best;
    }

    /// Memory of the open objects and of the others (full, completing).
    [[nodiscard]] std::pair<std::size_t, std::size_t> memory() const {
        std::size_t open = 0, other = 0;
        for (const auto& [seq, o] : all_) (o->full ? other : open) += o->memory();
        return {open, other};
    }

    /// True when an object with a sequence number below `mark` is live.
    [[nodiscard]] bool any_below(std::uint64_t mark) const noexcept {
        return !all_.empty() && all_.begin()->first < mark;
    }

    [[nodiscard]] std::size_t size() const noexcept { return all_.size(); }
    [[nodiscard]] std::size_t open_count() const noexcept { return open_.size(); }
    [[nodiscard]] bool empty() const noexcept { return all_.empty(); }

    /// Every open object, in no order.
    [[nodiscard]] std::vector<live_object*> open_objects() const {
        std::vector<live_object*> out;
        out.reserve(open_.size());
        for (const auto& [partition, o] : open_) out.push_back(o);
        return out;
    }

    /// One more than the highest sequence number of a live object (0 when there is none).
    [[nodiscard]] std::uint64_t next_sequence() const noexcept {
        return all_.empty() ? 0 : all_.rbegin()->first + 1;
    }

    /// Every live object, by sequence number.
    [[nodiscard]] const std::map<std::uint64_t, std::unique_ptr<live_object>>& all() const noexcept { return all_; }

private:
    std::map<std::uint64_t, std::unique_ptr<live_object>> all_;
    std::unordered_map<std::string, live_object*> open_;
    std::set<std::pair<clock::time_point, std::uint64_t>> ages_;
};

} // namespace sluice::objects::detail
