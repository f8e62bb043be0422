#pragma once

// Retry-After (RFC 9110 10.2.3): delay-seconds ("120") or an HTTP date ("Sun, 22 Nov 2026 10:00:00
// GMT"). A sink puts what it reads into outcome::retry_after and the delivery engine waits at least
// that long before the next attempt: no sink sleeps.

#include <algorithm>
#include <chrono>
#include <optional>
#include <string_view>

#include <sluice/aws/dates.hpp>
#include <sluice/text/ascii.hpp>

namespace sluice::http {

/// The delay a Retry-After value asks for, measured from `now` for an HTTP date (a date in the past
/// is zero). nullopt when the value is neither form. Seconds are capped at one day: a larger number
/// is a server's mistake, not a plan.
[[nodiscard]] inline std::optional<std::chrono::milliseconds>
parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) {
    value = sluice::text::trim(value);
    if (value.empty()) return std::nullopt;
    constexpr long long one_day = 86'400;
    if (value.front() >= '0' && value.front() <= '9') {
        long long seconds = 0;
        for (char c : value) {
            if (c < '0' || c > '9') return std::nullopt;
            seconds = std::min(seconds * 10 + (c - '0'), one_day);
        }
        return std::chrono::milliseconds(seconds * 1000);
    }
    const auto at = sluice::aws::parse_http_date(value);
    if (!at) return std::nullopt;
    if (*at <= now) return std::chrono::milliseconds(0);
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*at - now);
    return std::min(wait, std::chrono::milliseconds(one_day * 1000));
}

} // namespace sluice::http
