#pragma once

// Durations and sizes as a configuration file writes them: "200ms", "5s", "1m", "2h"; 65536, "512KiB",
// "64MiB", "1GB". A duration always names its unit (a bare number is ambiguous); a size without one
// is in bytes. Whole numbers only, checked for overflow.

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace sluice::config {

namespace detail {

/// The digits at the start of `text` as a number (nullopt: none, or too large); `text` keeps the rest.
[[nodiscard]] inline std::optional<std::uint64_t> leading_number(std::string_view& text) noexcept {
    std::size_t i = 0;
    std::uint64_t n = 0;
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        const auto digit = static_cast<std::uint64_t>(text[i] - '0');
        if (n > (max - digit) / 10) return std::nullopt;
        n = n * 10 + digit;
        ++i;
    }
    if (i == 0) return std::nullopt;
    text.remove_prefix(i);
    return n;
}

/// `n * unit`, or nullopt when it does not fit in `limit`.
[[nodiscard]] inline std::optional<std::uint64_t> scaled(std::uint64_t n, std::uint64_t unit, std::uint64_t limit) noexcept {
    if (n != 0 && unit > limit / n) return std::nullopt;
    return n * unit;
}

} // namespace detail

/// What a duration may be written as (for error messages).
inline constexpr std::string_view duration_syntax = "a duration such as \"200ms\", \"5s\", \"1m\" or \"2h\"";
/// What a size may be written as (for error messages).
inline constexpr std::string_view size_syntax = "a size in bytes or a string such as \"512KiB\", \"64MiB\" or \"1GB\"";

/// Parses "<digits><unit>" with unit ms, s, m or h; nullopt when malformed or too long.
[[nodiscard]] inline std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept {
    const auto n = detail::leading_number(text);
    if (!n) return std::nullopt;
    std::uint64_t unit = 0;
    if (text == "ms") unit = 1;
    else if (text == "s") unit = 1000;
    else if (text == "m") unit = 60'000;
    else if (text == "h") unit = 3'600'000;
    else return std::nullopt;
    // Bounded well below what milliseconds holds, so adding durations later cannot overflow.
    constexpr std::uint64_t limit = std::uint64_t{1} << 52;
    const auto ms = detail::scaled(*n, unit, limit);
    if (!ms) return std::nullopt;
    return std::chrono::milliseconds(static_cast<std::int64_t>(*ms));
}

/// Parses "<digits>[unit]" with unit B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (of
/// 1024); nullopt when malformed or over 2^62 bytes.
[[nodiscard]] inline std::optional<std::uint64_t> parse_size(std::string_view text) noexcept {
    const auto n = detail::leading_number(text);
    if (!n) return std::nullopt;
    struct unit_name {
        std::string_view name;
        std::uint64_t bytes;
    };
    constexpr unit_name units[] = {{"", 1},
                                   {"B", 1},
                                   {"KB", 1000},
                                   {"MB", 1000 * 1000},
                                   {"GB", 1000 * 1000 * 1000},
                                   {"TB", std::uint64_t{1000} * 1000 * 1000 * 1000},
                                   {"KiB", std::uint64_t{1} << 10},
                                   {"MiB", std::uint64_t{1} << 20},
                                   {"GiB", std::uint64_t{1} << 30},
                                   {"TiB", std::uint64_t{1} << 40}};
    for (const auto& u : units)
        if (text == u.name) return detail::scaled(*n, u.bytes, std::uint64_t{1} << 62);
    return std::nullopt;
}

} // namespace sluice::config
