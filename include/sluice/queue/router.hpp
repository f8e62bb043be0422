#pragma once

// Routing: which collectors a payload goes to. The queue builds a route_table once from its collectors;
// a router reads a payload and appends collector indices to route_targets. Any type with a matching
// `route` member is a router (see the router_for concept); default_router implements key, topic and
// broadcast delivery.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <sluice/queue/payload.hpp>

namespace sluice {

namespace detail {
struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
} // namespace detail

/// The collectors of a queue as a router sees them: index by key, subscribers by topic.
class route_table {
public:
    route_table() = default;

    /// `keys[i]` and `topics[i]` describe collector i. Throws std::invalid_argument on a duplicate key.
    route_table(const std::vector<std::string>& keys, const std::vector<std::vector<std::string>>& topics)
        : keys_(keys) {
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (!by_key_.emplace(keys[i], static_cast<std::uint32_t>(i)).second)
                throw std::invalid_argument("duplicate collector key '" + keys[i] + "'");
            for (const auto& t : topics[i]) {
                auto& subs = by_topic_[t];
                if (subs.empty() || subs.back() != i) subs.push_back(static_cast<std::uint32_t>(i));
            }
        }
    }

    /// Number of collectors.
    [[nodiscard]] std::size_t size() const noexcept { return keys_.size(); }
    /// Key of collector `i`.
    [[nodiscard]] const std::string& key(std::size_t i) const { return keys_[i]; }

    /// The index of the collector with `key`, or -1.
    [[nodiscard]] std::int64_t find_key(std::string_view key) const noexcept {
        // A few string compares beat hashing for the usual handful of collectors.
        if (keys_.size() <= 8) {
            for (std::size_t i = 0; i < keys_.size(); ++i)
                if (keys_[i] == key) return static_cast<std::int64_t>(i);
            return -1;
        }
        auto it = by_key_.find(key);
        return it == by_key_.end() ? -1 : static_cast<std::int64_t>(it->second);
    }

    /// The collectors subscribed to `topic`, in collector order (empty when none).
    [[nodiscard]] std::span<const std::uint32_t> subscribers(std::string_view topic) const noexcept {
        auto it = by_topic_.find(topic);
        if (it == by_topic_.end()) return {};
        return it->second;
    }

private:
    std::vector<std::string> keys_;
    std::unordered_map<std::string, std::uint32_t, detail::string_hash, std::equal_to<>> by_key_;
    std::unordered_map<std::string, std::vector<std::uint32_t>, detail::string_hash, std::equal_to<>> by_topic_;
};

/// Where a router writes its decision: collector indices, each at most once, in delivery order.
class route_targets {
public:
    /// Adds collector `index` unless it is already a target.
    void add(std::uint32_t index) {
        for (auto i : targets_)
            if (i == index) return;
        targets_.push_back(index);
    }
    /// Adds every collector of the table (broadcast).
    void add_all(const route_table& table) {
        for (std::size_t i = 0; i < table.size(); ++i) targets_.push_back(static_cast<std::uint32_t>(i));
    }
    /// Records `n` keys or topics that matched no collector (counted in queue_stats::unrouted).
    void note_unrouted(std::uint32_t n = 1) noexcept { unrouted_ += n; }
    /// The targets, in order.
    [[nodiscard]] std::span<const std::uint32_t> indices() const noexcept { return targets_; }
    /// True when no collector was added (the payload is unrouted).
    [[nodiscard]] bool empty() const noexcept { return targets_.empty(); }
    /// Number of targets.
    [[nodiscard]] std::size_t size() const noexcept { return targets_.size(); }
    /// Keys or topics noted as matching no collector.
    [[nodiscard]] std::uint32_t unrouted() const noexcept { return unrouted_; }
    /// Empties the targets for the next payload (the queue reuses one instance).
    void clear() noexcept {
        targets_.clear();
        unrouted_ = 0;
    }

private:
    std::vector<std::uint32_t> targets_;
    std::uint32_t unrouted_ = 0;
};

/// A router decides, for each payload, which collectors receive it. It runs on the queue's loop thread
/// and must not block. Adding no target makes the payload "unrouted": it resolves as one empty Ok and
/// is counted in queue_stats::unrouted; a router notes keys or topics that matched nothing with
/// route_targets::note_unrouted so they are counted too.
template <class Router, class T>
concept router_for = requires(Router& r, const payload<T>& p, const route_table& table, route_targets& out) {
    r.route(p, table, out);
};

/// Delivery by the payload's mode: broadcast to all, by key, or by topic subscription. Unknown keys and
/// topics (and topics nobody subscribes to) add nothing and are noted as unrouted.
struct default_router {
    template <class T>
    /// Adds the payload's targets by its mode; notes unknown keys and topics as unrouted.
    void route(const payload<T>& p, const route_table& table, route_targets& out) const {
        switch (p.mode) {
        case delivery::broadcast: out.add_all(table); break;
        case delivery::key:
            for (const auto& k : p.keys) {
                auto i = table.find_key(k);
                if (i >= 0)
                    out.add(static_cast<std::uint32_t>(i));
                else
                    out.note_unrouted();
            }
            break;
        case delivery::topic:
            for (const auto& t : p.topics) {
                auto subscribers = table.subscribers(t);
                if (subscribers.empty()) out.note_unrouted();
                for (auto i : subscribers) out.add(i);
            }
            break;
        }
    }
};

} // namespace sluice
