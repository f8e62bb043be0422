#pragma once

// Dates in AWS responses: HTTP dates (RFC 9110; the Date header, read for clock-skew correction) and
// ISO-8601 times (credential expirations). Text reaches year 9999, system_clock's nanoseconds end in
// 2262 (and begin in 1677): an HTTP date outside that range is refused (a Date header years away is no
// clock to correct ours with) and an ISO-8601 time saturates (so "9999-12-31T23:59:59Z", a common
// "never expires", stays in the far future); neither ever overflows into the past.

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>

#include <sluice/text/ascii.hpp>

namespace sluice::detail::aws_dates {

// Month names of HTTP dates.
inline int month_index(std::string_view m) noexcept {
    constexpr std::string_view months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                           "jul", "aug", "sep", "oct", "nov", "dec"};
    if (m.size() != 3) return -1;
    for (int i = 0; i < 12; ++i)
        if (sluice::text::iequals(m, months[i])) return i + 1;
    return -1;
}

inline bool parse_digits(std::string_view s, int& out) noexcept {
    if (s.empty() || s.size() > 4) return false;
    out = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        out = out * 10 + (c - '0');
    }
    return true;
}

inline bool parse_clock(std::string_view s, int& h, int& m, int& sec) noexcept {
    return s.size() == 8 && s[2] == ':' && s[5] == ':' && parse_digits(s.substr(0, 2), h) &&
           parse_digits(s.substr(3, 2), m) && parse_digits(s.substr(6, 2), sec) && h < 24 && m < 60 && sec <= 60;
}

/// `t` (plus `fraction`, under a second) as a system_clock time point, or nothing when system_clock
/// cannot hold it: its nanoseconds span about 1678 to 2262, while dates in text reach year 9999, and
/// converting those would overflow.
inline std::optional<std::chrono::system_clock::time_point> to_system_time(
    std::chrono::sys_seconds t, std::chrono::nanoseconds fraction = std::chrono::nanoseconds{0}) noexcept {
    using namespace std::chrono;
    using clock_duration = system_clock::duration;
    constexpr auto lo = duration_cast<seconds>(system_clock::time_point::min().time_since_epoch()) + seconds{1};
    constexpr auto hi = duration_cast<seconds>(system_clock::time_point::max().time_since_epoch()) - seconds{1};
    if (t.time_since_epoch() < lo || t.time_since_epoch() > hi) return std::nullopt;
    return time_point_cast<clock_duration>(t) + duration_cast<clock_duration>(fraction);
}

/// The same, saturated: a time before system_clock's range is its min(), one after it its max() (so
/// "9999-12-31T23:59:59Z", a common "never expires", stays in the far future).
inline std::chrono::system_clock::time_point to_system_time_saturated(
    std::chrono::sys_seconds t, std::chrono::nanoseconds fraction = std::chrono::nanoseconds{0}) noexcept {
    if (auto tp = to_system_time(t, fraction)) return *tp;
    return t.time_since_epoch().count() < 0 ? std::chrono::system_clock::time_point::min()
                                             : std::chrono::system_clock::time_point::max();
}

/// A UTC date and time as seconds since the epoch (no overflow for years 0 to 9999); nothing for a
/// date that does not exist. A leap second (60) counts as 59.
inline std::optional<std::chrono::sys_seconds> make_seconds(int y, int mon, int d, int h, int m, int s) noexcept {
    using namespace std::chrono;
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(mon)}, day{static_cast<unsigned>(d)}};
    if (!ymd.ok() || h > 23 || m > 59 || s > 60) return std::nullopt;
    if (s == 60) s = 59; // close enough for expirations and clock skew
    return sys_days{ymd} + hours{h} + minutes{m} + seconds{s};
}

/// An HTTP date's time point; nothing when the date does not exist or system_clock cannot hold it (a
/// Date header years away is no clock to correct ours with).
inline std::optional<std::chrono::system_clock::time_point> make_time(int y, int mon, int d, int h, int m, int s) noexcept {
    const auto t = make_seconds(y, mon, d, h, m, s);
    if (!t) return std::nullopt;
    return to_system_time(*t);
}

/// An ISO-8601 / RFC 3339 UTC time: "2026-11-22T10:00:00Z", with optional fractional seconds and a
/// "+hh:mm"/"-hh:mm" offset instead of Z ('t' and 'z' accepted). nullopt when malformed. A time
/// system_clock cannot hold saturates: "9999-12-31T23:59:59Z" (credentials that never expire) is
/// system_clock::time_point::max(), not an overflow into the past.
[[nodiscard]] inline std::optional<std::chrono::system_clock::time_point>
parse_iso8601(std::string_view text) noexcept {
    using namespace std::chrono;
    text = sluice::text::trim(text);
    auto digits = [&](std::size_t pos, std::size_t count, int& out) {
        if (pos + count > text.size()) return false;
        out = 0;
        for (std::size_t i = pos; i < pos + count; ++i) {
            if (text[i] < '0' || text[i] > '9') return false;
            out = out * 10 + (text[i] - '0');
        }
        return true;
    };
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    if (!digits(0, 4, y) || text.size() < 19 || text[4] != '-' || !digits(5, 2, mo) || text[7] != '-' ||
        !digits(8, 2, d) || (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !digits(11, 2, h) ||
        text[13] != ':' || !digits(14, 2, mi) || text[16] != ':' || !digits(17, 2, s))
        return std::nullopt;
    const auto base = make_seconds(y, mo, d, h, mi, s);
    if (!base) return std::nullopt;
    std::size_t pos = 19;
    nanoseconds fraction{0};
    if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
        ++pos;
        long long value = 0;
        int count = 0;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            if (count < 9) {
                value = value * 10 + (text[pos] - '0');
                ++count;
            }
            ++pos;
        }
        if (count == 0) return std::nullopt;
        for (int i = count; i < 9; ++i) value *= 10;
        fraction = nanoseconds{value};
    }
    minutes offset{0};
    if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
        ++pos;
    } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
        const bool negative = text[pos] == '-';
        int oh = 0, om = 0;
        if (!digits(pos + 1, 2, oh)) return std::nullopt;
        pos += 3;
        if (pos < text.size() && text[pos] == ':') ++pos;
        if (!digits(pos, 2, om)) return std::nullopt;
        pos += 2;
        offset = hours{oh} + minutes{om};
        if (negative) offset = -offset;
    } else {
        return std::nullopt; // no zone: ambiguous, and the services always send one
    }
    if (pos != text.size()) return std::nullopt;
    return to_system_time_saturated(*base - offset, fraction);
}

} // namespace sluice::detail::aws_dates

namespace sluice::aws {

/// The parsed form of an HTTP date (RFC 9110: IMF-fixdate "Sun, 22 Nov 2026 10:00:00 GMT", and the
/// obsolete RFC 850 and asctime forms every recipient must accept); nullopt when malformed or outside
/// what system_clock holds.
[[nodiscard]] inline std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text) noexcept {
    using namespace sluice::detail::aws_dates;
    using sluice::text::iequals;
    using sluice::text::trim;
    text = trim(text);
    // Split on blanks (and the comma after the day name).
    std::array<std::string_view, 8> parts{};
    std::size_t count = 0;
    for (std::size_t i = 0; i < text.size();) {
        while (i < text.size() && (text[i] == ' ' || text[i] == ',')) ++i;
        const std::size_t start = i;
        while (i < text.size() && text[i] != ' ' && text[i] != ',') ++i;
        if (i > start) {
            if (count == parts.size()) return std::nullopt;
            parts[count++] = text.substr(start, i - start);
        }
    }
    int d = 0, y = 0, h = 0, m = 0, s = 0;
    if (count == 6 && iequals(parts[5], "GMT")) {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        const int mon = month_index(parts[2]);
        if (mon < 0 || !parse_digits(parts[1], d) || parts[3].size() != 4 || !parse_digits(parts[3], y) ||
            !parse_clock(parts[4], h, m, s))
            return std::nullopt;
        return make_time(y, mon, d, h, m, s);
    }
    if (count == 4 && iequals(parts[3], "GMT")) {
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
        const std::string_view date = parts[1];
        if (date.size() != 9 || date[2] != '-' || date[6] != '-') return std::nullopt;
        const int mon = month_index(date.substr(3, 3));
        int yy = 0;
        if (mon < 0 || !parse_digits(date.substr(0, 2), d) || !parse_digits(date.substr(7, 2), yy) ||
            !parse_clock(parts[2], h, m, s))
            return std::nullopt;
        // Two-digit years: RFC 9110 says a year more than 50 years in the future is in the past.
        y = yy < 70 ? 2000 + yy : 1900 + yy;
        return make_time(y, mon, d, h, m, s);
    }
    if (count == 5) {
        // asctime: Sun Nov  6 08:49:37 1994
        const int mon = month_index(parts[1]);
        if (mon < 0 || !parse_digits(parts[2], d) || !parse_clock(parts[3], h, m, s) || parts[4].size() != 4 ||
            !parse_digits(parts[4], y))
            return std::nullopt;
        return make_time(y, mon, d, h, m, s);
    }
    return std::nullopt;
}

} // namespace sluice::aws
