#pragma once

// payload<T>: what a publisher sends. The value plus how to deliver it: to every collector (broadcast,
// the default), to collectors by key, or to the collectors subscribed to a topic.

#include <array>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace sluice {

enum class delivery {
    broadcast, ///< every collector of the queue
    key,       ///< the collectors whose key is in payload::keys
    topic,     ///< the collectors subscribed to any of payload::topics
};

/// A short list of strings that keeps its first element inline, so the usual payload with one key or
/// one topic costs no allocation beyond the strings' own (and short strings need none).
class string_list {
public:
    string_list() = default;
    /// `{"a", "b"}` works through this constructor rather than std::initializer_list, whose backing
    /// array GCC 12 cannot keep in a coroutine frame ("array used as initializer").
    template <class... S>
        requires(sizeof...(S) > 0 && (std::is_convertible_v<S&&, std::string_view> && ...))
    string_list(S&&... items) {
        (push_back(std::string(std::string_view(std::forward<S>(items)))), ...);
    }
    template <class Range>
        requires requires(const Range& r) { std::begin(r); std::string(*std::begin(r)); }
    explicit string_list(const Range& items) {
        for (const auto& s : items) push_back(std::string(s));
    }

    void push_back(std::string s) {
        if (size_ < inline_capacity)
            inline_[size_] = std::move(s);
        else
            overflow_.push_back(std::move(s));
        ++size_;
    }

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] const std::string& operator[](std::size_t i) const noexcept {
        return i < inline_capacity ? inline_[i] : overflow_[i - inline_capacity];
    }
    [[nodiscard]] bool contains(std::string_view s) const noexcept {
        for (std::size_t i = 0; i < size_; ++i)
            if ((*this)[i] == s) return true;
        return false;
    }

    class const_iterator {
    public:
        using value_type = std::string;
        using difference_type = std::ptrdiff_t;
        using reference = const std::string&;
        using pointer = const std::string*;
        using iterator_category = std::forward_iterator_tag;
        const_iterator() = default;
        const_iterator(const string_list* l, std::size_t i) : list_(l), i_(i) {}
        reference operator*() const { return (*list_)[i_]; }
        pointer operator->() const { return &(*list_)[i_]; }
        const_iterator& operator++() {
            ++i_;
            return *this;
        }
        const_iterator operator++(int) {
            auto c = *this;
            ++i_;
            return c;
        }
        bool operator==(const const_iterator& o) const noexcept { return i_ == o.i_; }

    private:
        const string_list* list_ = nullptr;
        std::size_t i_ = 0;
    };
    [[nodiscard]] const_iterator begin() const noexcept { return {this, 0}; }
    [[nodiscard]] const_iterator end() const noexcept { return {this, size_}; }

private:
    static constexpr std::size_t inline_capacity = 1;
    std::array<std::string, inline_capacity> inline_{}; // std::array: GCC 12 coroutine frames cannot copy C arrays
    std::vector<std::string> overflow_;
    std::size_t size_ = 0;
};

template <class T>
struct payload {
    using value_type = T;

    T value{};
    delivery mode = delivery::broadcast;
    /// Collector keys, for delivery::key.
    string_list keys{};
    /// Topics, for delivery::topic.
    string_list topics{};
    /// For priority queues: lower runs first. Unset means the queue's default_priority.
    std::optional<int> priority{};

    /// Delivered to every collector.
    static payload broadcast(T v, std::optional<int> prio = {}) {
        return payload{std::move(v), delivery::broadcast, {}, {}, prio};
    }
    /// Delivered to the collectors with these keys.
    static payload to_keys(T v, string_list k, std::optional<int> prio = {}) {
        return payload{std::move(v), delivery::key, std::move(k), {}, prio};
    }
    /// Delivered to the collectors subscribed to any of these topics.
    static payload to_topics(T v, string_list t, std::optional<int> prio = {}) {
        return payload{std::move(v), delivery::topic, {}, std::move(t), prio};
    }
};

} // namespace sluice
