#pragma once

// RFC 3339 timestamps in UTC ("2025-01-02T03:04:05.678Z"), the one formatter that logs, status pages
// and redacted credential descriptions share. Parsing lives with the formats that read timestamps
// (formats/timestamp.hpp) and the AWS dates (aws/dates.hpp).

#include <chrono>
#include <cstdio>
#include <string_view>

namespace sluice::text {

/// How many digits of a second an RFC 3339 timestamp carries.
enum class rfc3339_precision {
    seconds, ///< "2025-01-02T03:04:05Z"
    millis,  ///< "2025-01-02T03:04:05.678Z"
};

/// `at` in UTC as RFC 3339, written into `buffer`, to the second or to the millisecond (truncated, not
/// rounded, so a timestamp never names a later instant than `at`). system_clock's range (1677 to 2262
/// with libstdc++'s nanoseconds) lies within RFC 3339's four-digit years.
[[nodiscard]] inline std::string_view format_rfc3339_utc(std::chrono::system_clock::time_point at, char (&buffer)[32],
                                                         rfc3339_precision precision = rfc3339_precision::millis) noexcept {
    using namespace std::chrono;
    const auto ms = floor<milliseconds>(at);
    const auto day = floor<days>(ms);
    const year_month_day ymd{day};
    const hh_mm_ss<milliseconds> time{ms - day};
    const int y = int(ymd.year()), h = int(time.hours().count()), mi = int(time.minutes().count()),
              s = int(time.seconds().count()), frac = int(time.subseconds().count());
    const unsigned mo = unsigned(ymd.month()), d = unsigned(ymd.day());
    const int n = precision == rfc3339_precision::millis
                      ? std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", y, mo, d, h, mi, s, frac)
                      : std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02dZ", y, mo, d, h, mi, s);
    return {buffer, n > 0 ? std::size_t(n) : 0};
}

} // namespace sluice::text
