#pragma once

// RFC 3339 timestamps ("2024-05-06T07:08:09.123Z", "2024-05-06 07:08:09+02:00") to a count of
// milliseconds or microseconds since 1970-01-01T00:00:00Z, for timestamp columns. Years 0000-9999;
// an offset is applied (the result is UTC); a fraction with more digits than the unit holds must have
// only zeros there (a value the column cannot hold exactly is refused, never rounded).

#include <cstdint>
#include <optional>
#include <string_view>

namespace sluice::formats {

/// The unit of a timestamp column.
enum class time_unit : std::uint8_t { millis, micros };

namespace detail {

/// Days from 1970-01-01 to year-month-day of the proleptic Gregorian calendar (H. Hinnant's
/// days_from_civil).
[[nodiscard]] constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

[[nodiscard]] constexpr bool leap_year(std::int64_t y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/// Reads exactly `n` digits at `pos`; advances `pos`.
[[nodiscard]] constexpr std::optional<unsigned> read_digits(std::string_view s, std::size_t& pos, std::size_t n) noexcept {
    if (pos + n > s.size()) return std::nullopt;
    unsigned v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = s[pos + i];
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    pos += n;
    return v;
}

[[nodiscard]] constexpr bool expect(std::string_view s, std::size_t& pos, char a, char b = '\0') noexcept {
    if (pos >= s.size() || (s[pos] != a && (b == '\0' || s[pos] != b))) return false;
    ++pos;
    return true;
}

/// The fraction after the seconds ("." digits), in units of 10^-digits_wanted; nullopt when malformed
/// or when a digit beyond the unit is not zero.
[[nodiscard]] constexpr std::optional<std::int64_t> read_fraction(std::string_view s, std::size_t& pos,
                                                                  unsigned digits_wanted) noexcept {
    std::int64_t v = 0;
    unsigned used = 0;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        const std::size_t start = pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            const auto digit = static_cast<std::int64_t>(s[pos] - '0');
            if (used < digits_wanted) {
                v = v * 10 + digit;
                ++used;
            } else if (digit != 0) {
                return std::nullopt;
            }
            ++pos;
        }
        if (pos == start || pos - start > 18) return std::nullopt;
    }
    for (; used < digits_wanted; ++used) v *= 10;
    return v;
}

/// The offset ("Z", "+hh:mm", "-hh:mm") in seconds east of UTC.
[[nodiscard]] constexpr std::optional<std::int64_t> read_offset(std::string_view s, std::size_t& pos) noexcept {
    if (expect(s, pos, 'Z', 'z')) return 0;
    if (pos >= s.size() || (s[pos] != '+' && s[pos] != '-')) return std::nullopt;
    const bool negative = s[pos++] == '-';
    const auto hh = read_digits(s, pos, 2);
    if (!hh || !expect(s, pos, ':')) return std::nullopt;
    const auto mm = read_digits(s, pos, 2);
    if (!mm || *hh > 23 || *mm > 59) return std::nullopt;
    const std::int64_t seconds = static_cast<std::int64_t>(*hh) * 3600 + static_cast<std::int64_t>(*mm) * 60;
    return negative ? -seconds : seconds;
}

} // namespace detail

/// `text` as a count of `unit` since the Unix epoch (UTC), or nullopt when it is not an RFC 3339
/// date-time (with 'T', 't' or a space between date and time, a required offset or 'Z'), or has more
/// precision than `unit` holds. A leap second (":60") is refused.
[[nodiscard]] constexpr std::optional<std::int64_t> parse_rfc3339(std::string_view text, time_unit unit) noexcept {
    std::size_t pos = 0;
    const auto year = detail::read_digits(text, pos, 4);
    if (!year || !detail::expect(text, pos, '-')) return std::nullopt;
    const auto month = detail::read_digits(text, pos, 2);
    if (!month || !detail::expect(text, pos, '-')) return std::nullopt;
    const auto day = detail::read_digits(text, pos, 2);
    if (!day || !detail::expect(text, pos, 'T', 't')) {
        if (!day || pos >= text.size() || text[pos] != ' ') return std::nullopt;
        ++pos;
    }
    const auto hour = detail::read_digits(text, pos, 2);
    if (!hour || !detail::expect(text, pos, ':')) return std::nullopt;
    const auto minute = detail::read_digits(text, pos, 2);
    if (!minute || !detail::expect(text, pos, ':')) return std::nullopt;
    const auto second = detail::read_digits(text, pos, 2);
    if (!second) return std::nullopt;
    const unsigned digits = unit == time_unit::millis ? 3 : 6;
    const auto fraction = detail::read_fraction(text, pos, digits);
    const auto offset = fraction ? detail::read_offset(text, pos) : std::nullopt;
    if (!offset || pos != text.size()) return std::nullopt;

    constexpr unsigned month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (*month < 1 || *month > 12 || *day < 1) return std::nullopt;
    const unsigned last = month_days[*month - 1] + (*month == 2 && detail::leap_year(*year) ? 1 : 0);
    if (*day > last || *hour > 23 || *minute > 59 || *second > 59) return std::nullopt;

    const std::int64_t days = detail::days_from_civil(*year, *month, *day);
    const std::int64_t seconds = days * 86400 + static_cast<std::int64_t>(*hour) * 3600 +
                                 static_cast<std::int64_t>(*minute) * 60 + static_cast<std::int64_t>(*second) - *offset;
    const std::int64_t per_second = unit == time_unit::millis ? 1000 : 1000000;
    return seconds * per_second + *fraction;
}

} // namespace sluice::formats
