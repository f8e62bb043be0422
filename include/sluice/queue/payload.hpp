#pragma once

// payload<T>: what a publisher sends. The value plus how to deliver it: to every collector (broadcast,
// the default), to collectors by key, or to the collectors subscribed to a topic.

#include <cstddef>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace sluice {

/// Which collectors of a queue receive a payload (payload::mode).
enum class delivery {
    broadcast, ///< every collector of the queue
    key,       ///< the collectors whose key is in payload::keys
    topic,     ///< the collectors subscribed to any of payload::topics
};

/// A short list of strings (keys or topics) packed into one std::string, entries separated by '\0'.
/// A payload is moved several times between publisher and consumer; one short string moves without
/// allocating (small-string buffer) where a vector of strings would cost an allocation and more moves.
/// Entries must not contain '\0'.
class string_list {
public:
    string_list() = default;
    /// `{"a", "b"}` works through this constructor rather than std::initializer_list, whose backing
    /// array GCC 12 cannot keep in a coroutine frame ("array used as initializer").
    template <class... S>
        requires(sizeof...(S) > 0 && (std::is_convertible_v<S&&, std::string_view> && ...))
    string_list(S&&... items) {
        (push_back(std::string_view(std::forward<S>(items))), ...);
    }
    /// Any range of strings (a vector, an array, a view).
    template <class Range>
        requires requires(const Range& r) {
            std::begin(r);
            std::string_view(*std::begin(r));
        }
    explicit string_list(const Range& items) {
        for (const auto& s : items) push_back(std::string_view(s));
    }

    /// Appends `s`; throws std::invalid_argument if it contains '\0'.
    void push_back(std::string_view s) {
        if (s.find('\0') != std::string_view::npos)
            throw std::invalid_argument("sluice: keys and topics must not contain NUL characters");
        if (size_ != 0) packed_.push_back('\0');
        packed_.append(s);
        ++size_;
    }

    /// Number of strings.
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    /// True when it holds none.
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

    /// The i-th entry (linear in i: lists are short).
    [[nodiscard]] std::string_view operator[](std::size_t i) const noexcept {
        auto it = begin();
        while (i-- > 0) ++it;
        return *it;
    }

    /// True when `s` is one of the strings (a linear scan: lists are short).
    [[nodiscard]] bool contains(std::string_view s) const noexcept {
        for (auto e : *this)
            if (e == s) return true;
        return false;
    }

    /// Walks the packed strings as string_views (valid while the list lives).
    class const_iterator {
    public:
        /// @cond iterator_boilerplate
        using value_type = std::string_view;
        using difference_type = std::ptrdiff_t;
        using reference = std::string_view;
        using pointer = void;
        using iterator_category = std::forward_iterator_tag;
        const_iterator() = default;
        /// @endcond
        /// Positioned at the first string of `rest`, or the end.
        const_iterator(std::string_view rest, bool at_end) : rest_(rest), at_end_(at_end) { cut(); }
        /// The current string.
        std::string_view operator*() const noexcept { return current_; }
        /// The next string.
        const_iterator& operator++() {
            if (current_.size() == rest_.size()) {
                at_end_ = true;
                rest_ = {};
                current_ = {};
            } else {
                rest_.remove_prefix(current_.size() + 1);
                cut();
            }
            return *this;
        }
        /// The next string, returning the current position.
        const_iterator operator++(int) {
            auto c = *this;
            ++*this;
            return c;
        }
        /// Same position.
        bool operator==(const const_iterator& o) const noexcept {
            return at_end_ == o.at_end_ && (at_end_ || rest_.data() == o.rest_.data());
        }

    private:
        void cut() noexcept { current_ = rest_.substr(0, rest_.find('\0')); }
        std::string_view rest_;
        std::string_view current_;
        bool at_end_ = true;
    };
    /// The first string.
    [[nodiscard]] const_iterator begin() const noexcept { return {packed_, size_ == 0}; }
    /// Past the last string.
    [[nodiscard]] const_iterator end() const noexcept { return {{}, true}; }

private:
    std::string packed_;
    std::size_t size_ = 0;
};

template <class T>
/// What a publisher sends: a value, where it goes (mode with keys or topics) and its priority.
struct payload {
    /// The value's type.
    using value_type = T;

    /// What the collectors' processors receive (by const reference; never copied per collector).
    T value{};
    /// Broadcast (default), by key or by topic.
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
