// Dates in AWS responses (issue 14, section 2): credential expirations (ISO 8601) and HTTP Date
// headers reach year 9999, system_clock's nanoseconds end in 2262. Out-of-range times saturate
// (expirations) or are refused (Date headers), never wrap; tested at the edges and with generated dates.

#include <doctest/doctest.h>

#include <sluice/aws/credentials.hpp>
#include <sluice/aws/credentials_provider.hpp>
#include <sluice/aws/error.hpp>
#include <sluice/aws/retry.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_aws_time {

using namespace std::chrono;
namespace creds = sluice::detail::aws_creds;

namespace {

using tp = system_clock::time_point;

/// "YYYY-MM-DDThh:mm:ssZ" of a time in seconds (any year 0..9999).
std::string iso(sys_seconds t) {
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{t - day};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()));
    return buf;
}

/// The same as an IMF-fixdate HTTP date.
std::string http_date(sys_seconds t) {
    static constexpr const char* days_of_week[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{t - day};
    char buf[48];
    std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02d:%02d:%02d GMT",
                  days_of_week[weekday{day}.c_encoding()], static_cast<unsigned>(ymd.day()),
                  months[static_cast<unsigned>(ymd.month()) - 1], static_cast<int>(ymd.year()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()));
    return buf;
}

// The first and last whole seconds system_clock holds with room to spare (what the parsers accept).
const sys_seconds last_second{duration_cast<seconds>(tp::max().time_since_epoch()) - seconds{1}};
const sys_seconds first_second{duration_cast<seconds>(tp::min().time_since_epoch()) + seconds{1}};

} // namespace

TEST_SUITE("aws time") {

TEST_CASE("9999-12-31T23:59:59Z, a common 'never expires', stays in the future") {
    const auto at = creds::parse_iso8601("9999-12-31T23:59:59Z");
    REQUIRE(at);
    CHECK(*at == tp::max());
    sluice::aws::aws_credentials c;
    c.access_key_id = "AKID";
    c.secret_access_key = "secret";
    c.expiration = *at;
    CHECK_FALSE(c.expired(system_clock::now(), minutes(5)));
    CHECK(creds::parse_iso8601("0000-01-01T00:00:00Z") == tp::min());
    CHECK(creds::parse_iso8601("9999-12-31T23:59:59.999999999-23:59") == tp::max());
}

TEST_CASE("the edges of system_clock: exact inside, saturated one second beyond") {
    CHECK(creds::parse_iso8601(iso(last_second)) == tp{last_second});
    CHECK(creds::parse_iso8601(iso(last_second + seconds{1})) == tp::max());
    CHECK(creds::parse_iso8601(iso(first_second)) == tp{first_second});
    CHECK(creds::parse_iso8601(iso(first_second - seconds{1})) == tp::min());
    // An offset can carry an in-range wall time out of range, and back.
    CHECK(creds::parse_iso8601(iso(last_second).substr(0, 19) + "-00:01") == tp::max());
    CHECK(creds::parse_iso8601(iso(last_second + seconds{60}).substr(0, 19) + "+00:01") == tp{last_second});

    CHECK(sluice::aws::parse_http_date(http_date(last_second)) == tp{last_second});
    CHECK_FALSE(sluice::aws::parse_http_date(http_date(last_second + seconds{1})));
    CHECK(sluice::aws::parse_http_date(http_date(first_second)) == tp{first_second});
    CHECK_FALSE(sluice::aws::parse_http_date(http_date(first_second - seconds{1})));
    CHECK_FALSE(sluice::aws::parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"));
    CHECK_FALSE(sluice::aws::parse_http_date("Fri Dec 31 23:59:59 9999"));
    CHECK_FALSE(sluice::aws::parse_http_date("Mon, 01 Jan 0001 00:00:00 GMT"));
}

TEST_CASE("generated dates of years 0 to 9999: exact in range, saturated or refused outside, never wrapped") {
    std::mt19937_64 rng(1234);
    const sys_seconds lo = sys_days{year{0} / 1 / 1};
    const sys_seconds hi = sys_days{year{9999} / 12 / 31} + hours{23} + minutes{59} + seconds{59};
    for (int i = 0; i < 50000; ++i) {
        const sys_seconds t{seconds{static_cast<long long>(rng() % static_cast<std::uint64_t>((hi - lo).count() + 1)) +
                                    lo.time_since_epoch().count()}};
        const auto parsed = creds::parse_iso8601(iso(t));
        const auto date = sluice::aws::parse_http_date(http_date(t));
        REQUIRE(parsed);
        if (t >= first_second && t <= last_second) {
            CHECK(*parsed == tp{t});
            CHECK(date == tp{t});
        } else {
            CHECK(*parsed == (t < first_second ? tp::min() : tp::max()));
            CHECK_FALSE(date);
        }
    }
}

TEST_CASE("a hostile Date header does not move the signing clock, nor overflow it") {
    const auto far = sluice::aws::parse_service_error(
        400, [](std::string_view name) -> std::optional<std::string_view> {
            if (name == "date") return std::string_view("Fri, 31 Dec 9999 23:59:59 GMT");
            return std::nullopt;
        },
        "<Error><Code>RequestTimeTooSkewed</Code></Error>");
    CHECK_FALSE(far.server_time);

    sluice::aws::clock_skew skew;
    const auto now = system_clock::now();
    // In system_clock's range, but centuries away: not a clock to correct ours with.
    CHECK_FALSE(skew.update(tp{last_second}, now, true));
    CHECK_FALSE(skew.update(tp{first_second}, now, true));
    CHECK(skew.offset() == milliseconds{0});
    CHECK(skew.adjust(now) == now);
    // A plausible skew is still adopted.
    CHECK(skew.update(now + minutes(20), now, true));
    CHECK(skew.offset() == minutes(20));
}

} // TEST_SUITE

} // namespace test_aws_time

