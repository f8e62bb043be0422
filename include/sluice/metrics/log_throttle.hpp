#pragma once

// log_throttle: one log line per cause and interval instead of one per record. A misconfiguration (a
// queue that does not exist, credentials that are not set up) fails every record for the same reason;
// logging each of them buries the one line that matters and costs a formatted line per record. The
// first record of a cause is logged at once; later ones within `interval` are counted, and the next line
// of that cause says how many were held back. Counters and metrics still count every record.
//
// Not thread-safe: each owner (a pipeline, a dispatcher, a queue) uses its own on its loop's thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <sluice/core/outcome.hpp>

namespace sluice {

/// Lets the first log line of each cause through, then at most one per interval and cause.
class log_throttle {
public:
    using clock = std::chrono::steady_clock; ///< monotonic: intervals survive changes of the wall clock

    /// `interval`: how long a cause stays quiet after a line; `max_causes`: causes remembered at once
    /// (over it, the oldest are forgotten, so a flood of distinct causes cannot grow memory).
    explicit log_throttle(clock::duration interval = std::chrono::seconds(10), std::size_t max_causes = 256)
        : interval_(interval), max_causes_(max_causes == 0 ? 1 : max_causes) {}

    /// Whether a line of `cause` goes out now: the number of lines of it held back since the last one
    /// that went out (0 for the first), or nothing when this one is held back (and counted).
    [[nodiscard]] std::optional<std::uint64_t> admit(std::string_view cause, clock::time_point now = clock::now()) {
        auto it = causes_.find(std::string(cause));
        if (it == causes_.end()) {
            if (causes_.size() >= max_causes_) forget_oldest();
            causes_.emplace(std::string(cause), state{now, 0});
            return 0;
        }
        state& s = it->second;
        if (now - s.last < interval_) {
            ++s.held;
            ++held_total_;
            return std::nullopt;
        }
        const std::uint64_t held = s.held;
        s = state{now, 0};
        return held;
    }

    /// Lines held back in all, since construction.
    [[nodiscard]] std::uint64_t held_back() const noexcept { return held_total_; }

private:
    struct state {
        clock::time_point last;
        std::uint64_t held = 0;
    };

    void forget_oldest() {
        auto oldest = causes_.begin();
        for (auto it = causes_.begin(); it != causes_.end(); ++it)
            if (it->second.last < oldest->second.last) oldest = it;
        causes_.erase(oldest);
    }

    clock::duration interval_;
    std::size_t max_causes_;
    std::unordered_map<std::string, state> causes_;
    std::uint64_t held_total_ = 0;
};

/// The cause of an outcome, as log_throttle groups them: its kind with the service's error code, or
/// the transport/system error, or else its message with every run of digits as one '#' (sizes, ids and
/// counts differ from record to record; the reason does not). Request ids never take part.
[[nodiscard]] inline std::string log_cause(const outcome& o) {
    std::string cause = std::to_string(static_cast<int>(o.kind));
    cause += ':';
    if (!o.service_code.empty()) return cause + o.service_code;
    if (o.code) return cause + o.code.category().name() + ':' + std::to_string(o.code.value());
    bool in_digits = false;
    for (const char c : o.message) {
        const bool digit = c >= '0' && c <= '9';
        if (!digit) cause += c;
        else if (!in_digits) cause += '#';
        in_digits = digit;
    }
    return cause;
}

} // namespace sluice
