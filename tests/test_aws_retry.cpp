// The AWS standard retry mode (attempts, full-jitter backoff with an injected random source, the retry
// quota) and clock-skew correction from Date headers, all deterministic.

#include <doctest/doctest.h>

#include <sluice/aws/retry.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_aws_retry {

using namespace std::chrono_literals;
using sluice::aws::clock_skew;
using sluice::aws::retry_config;
using sluice::aws::retry_kind;
using sluice::aws::retry_quota;
using sluice::aws::retry_strategy;
using sluice::aws::retry_token;
using sluice::aws::retry_verdict;

namespace {

// A random source that always returns `value`.
retry_strategy::random_source fixed(double value) {
    return [value] { return value; };
}

std::chrono::system_clock::time_point utc(int y, unsigned mo, unsigned d, int h, int mi, int s) {
    using namespace std::chrono;
    return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

} // namespace

TEST_SUITE("aws retry") {

TEST_CASE("aws retry: defaults are the standard mode's") {
    const retry_config c;
    CHECK(c.max_attempts == 3);
    CHECK(c.base_delay == 1s);
    CHECK(c.throttling_base_delay == 1s);
    CHECK(c.max_backoff == 20s);
    CHECK(c.use_quota);
    CHECK(c.quota_capacity == 500);
    CHECK(c.retry_cost == 5);
    CHECK(c.timeout_retry_cost == 10);
    CHECK(c.no_retry_increment == 1);
    retry_strategy s;
    CHECK(s.quota().capacity() == 500);
    CHECK(s.quota().available() == 500);
}

TEST_CASE("aws retry: the backoff ceiling doubles from the base and caps at 20 s") {
    const retry_strategy s;
    CHECK(s.backoff_ceiling(1, retry_kind::transient) == 1s);
    CHECK(s.backoff_ceiling(2, retry_kind::transient) == 2s);
    CHECK(s.backoff_ceiling(3, retry_kind::transient) == 4s);
    CHECK(s.backoff_ceiling(5, retry_kind::transient) == 16s);
    CHECK(s.backoff_ceiling(6, retry_kind::transient) == 20s);
    CHECK(s.backoff_ceiling(100, retry_kind::transient) == 20s); // no overflow
    CHECK(s.backoff_ceiling(0, retry_kind::transient) == 1s);

    retry_config v21; // botocore's "2.1" revision: a short base for non-throttling errors
    v21.base_delay = 50ms;
    const retry_strategy s21(v21);
    CHECK(s21.backoff_ceiling(1, retry_kind::transient) == 50ms);
    CHECK(s21.backoff_ceiling(3, retry_kind::clock_skew) == 200ms);
    CHECK(s21.backoff_ceiling(1, retry_kind::throttling) == 1s);
}

TEST_CASE("aws retry: full jitter stays within [0, ceiling]") {
    for (double r : {0.0, 0.25, 0.5, 0.999999, 1.0, -3.0, 7.0}) {
        CAPTURE(r);
        retry_strategy s({}, fixed(r));
        for (unsigned attempts = 1; attempts <= 8; ++attempts) {
            const auto ceiling = s.backoff_ceiling(attempts, retry_kind::transient);
            const auto d = s.backoff(attempts, retry_kind::transient);
            CHECK(d >= 0ms);
            CHECK(d <= ceiling);
        }
    }
    retry_strategy half({}, fixed(0.5));
    CHECK(half.backoff(1, retry_kind::transient) == 500ms);
    CHECK(half.backoff(3, retry_kind::throttling) == 2s);
    CHECK(half.backoff(9, retry_kind::transient) == 10s);
    retry_strategy zero({}, fixed(0.0));
    CHECK(zero.backoff(4, retry_kind::transient) == 0ms);

    // The default source: spread over the range, never outside it.
    retry_strategy real;
    std::chrono::milliseconds lo = 1h, hi = 0ms;
    for (int i = 0; i < 2000; ++i) {
        const auto d = real.backoff(2, retry_kind::transient);
        REQUIRE(d >= 0ms);
        REQUIRE(d <= 2s);
        lo = std::min(lo, d);
        hi = std::max(hi, d);
    }
    CHECK(lo < 200ms);
    CHECK(hi > 1800ms);
}

TEST_CASE("aws retry: at most max_attempts attempts") {
    retry_strategy s({}, fixed(0.5));
    retry_token t = s.begin();
    CHECK(t.attempts == 1);
    auto d1 = s.on_failure(t, retry_kind::transient);
    CHECK(d1.should_retry());
    CHECK(d1.delay == 500ms);
    CHECK(t.attempts == 2);
    auto d2 = s.on_failure(t, retry_kind::throttling);
    CHECK(d2.should_retry());
    CHECK(d2.delay == 1s);
    CHECK(d2.kind == retry_kind::throttling);
    CHECK(t.attempts == 3);
    auto d3 = s.on_failure(t, retry_kind::transient);
    CHECK_FALSE(d3.should_retry());
    CHECK(d3.verdict == retry_verdict::attempts_exhausted);
    CHECK(t.attempts == 3);

    retry_config once;
    once.max_attempts = 1;
    retry_strategy never(once);
    retry_token t1 = never.begin();
    CHECK(never.on_failure(t1, retry_kind::transient).verdict == retry_verdict::attempts_exhausted);
    CHECK(never.quota().available() == 500);
}

TEST_CASE("aws retry: what is not retryable is not retried and costs nothing") {
    retry_strategy s;
    retry_token t = s.begin();
    const auto d = s.on_failure(t, retry_kind::none);
    CHECK(d.verdict == retry_verdict::not_retryable);
    CHECK(t.attempts == 1);
    CHECK(s.quota().available() == 500);

    sluice::aws::service_error denied;
    denied.http_status = 403;
    denied.code = "AccessDenied";
    CHECK(s.on_failure(t, denied).verdict == retry_verdict::not_retryable);
    sluice::aws::service_error throttled = denied;
    throttled.code = "ThrottlingException";
    CHECK(s.on_failure(t, throttled).should_retry());
    CHECK(s.quota().available() == 495);
    retry_token t2 = s.begin();
    CHECK(s.on_failure(t2, make_error_code(sluice::http::transport_error::tls_failure)).verdict ==
          retry_verdict::not_retryable);
    CHECK(s.on_failure(t2, make_error_code(sluice::http::transport_error::connection_reset)).should_retry());
    CHECK(s.quota().available() == 490);
}

TEST_CASE("aws retry: the quota drains by retry costs and then fails fast") {
    retry_config c;
    c.max_attempts = 1000;
    retry_strategy s(c, fixed(0));
    // 500 / 10 = 50 timeouts drain it.
    retry_token t = s.begin();
    for (int i = 0; i < 50; ++i) {
        const auto d = s.on_failure(t, make_error_code(sluice::http::transport_error::timed_out));
        REQUIRE(d.should_retry());
        CHECK(t.quota_held == 10);
    }
    CHECK(s.quota().available() == 0);
    const auto d = s.on_failure(t, retry_kind::transient);
    CHECK(d.verdict == retry_verdict::quota_exhausted);
    CHECK(sluice::aws::to_string(d.verdict) == "retry quota exhausted");

    // A retry needs the whole cost: 4 left is not enough for 5.
    retry_quota q({.capacity = 14});
    CHECK(q.try_acquire(5));
    CHECK(q.try_acquire(5));
    CHECK_FALSE(q.try_acquire(5));
    CHECK(q.available() == 4);

    // Without the quota, only attempts limit retries.
    retry_config free = c;
    free.use_quota = false;
    retry_strategy unlimited(free, fixed(0));
    REQUIRE(unlimited.quota().try_acquire(500)); // drained, and it does not matter
    retry_token u = unlimited.begin();
    CHECK(unlimited.on_failure(u, retry_kind::transient).should_retry());
}

TEST_CASE("aws retry: successes refill the quota, capped at its capacity") {
    retry_strategy s({}, fixed(0));
    // A success without retries gives back 1, but never above 500.
    retry_token fresh = s.begin();
    s.on_success(fresh);
    CHECK(s.quota().available() == 500);

    retry_token t = s.begin();
    REQUIRE(s.on_failure(t, retry_kind::transient).should_retry());
    CHECK(s.quota().available() == 495);
    REQUIRE(s.on_failure(t, make_error_code(sluice::http::transport_error::timed_out)).should_retry());
    CHECK(s.quota().available() == 485);
    // Success after retries refunds what the last retry drew (10), not the sum.
    s.on_success(t);
    CHECK(s.quota().available() == 495);
    CHECK(t.quota_held == 0);
    // Then successes without retries add 1 each, up to the capacity.
    for (int i = 0; i < 10; ++i) {
        retry_token ok = s.begin();
        s.on_success(ok);
    }
    CHECK(s.quota().available() == 500);

    // Drained entirely, then refilled by successes until retries are possible again.
    retry_quota& q = s.quota();
    REQUIRE(q.try_acquire(500));
    retry_token blocked = s.begin();
    CHECK(s.on_failure(blocked, retry_kind::transient).verdict == retry_verdict::quota_exhausted);
    for (int i = 0; i < 4; ++i) {
        retry_token ok = s.begin();
        s.on_success(ok);
    }
    retry_token still = s.begin();
    CHECK(s.on_failure(still, retry_kind::transient).verdict == retry_verdict::quota_exhausted);
    retry_token ok = s.begin();
    s.on_success(ok);
    retry_token again = s.begin();
    CHECK(s.on_failure(again, retry_kind::transient).should_retry());
    CHECK(q.available() == 0);
}

TEST_CASE("aws retry: retry costs by kind, and the 2.1 configuration") {
    retry_config v21;
    v21.retry_cost = 14;
    v21.timeout_retry_cost = 14;
    v21.throttling_retry_cost = 5;
    retry_strategy s(v21, fixed(0));
    retry_token a = s.begin();
    REQUIRE(s.on_failure(a, retry_kind::throttling).should_retry());
    CHECK(s.quota().available() == 495);
    retry_token b = s.begin();
    REQUIRE(s.on_failure(b, retry_kind::transient).should_retry());
    CHECK(s.quota().available() == 481);
    retry_token c = s.begin();
    REQUIRE(s.on_failure(c, retry_kind::clock_skew).should_retry());
    CHECK(s.quota().available() == 467);
    CHECK(s.retry_cost(retry_kind::throttling, true) == 14); // a timeout is a timeout
}

TEST_CASE("aws retry: strategies can share one quota") {
    auto shared = std::make_shared<retry_quota>(sluice::retry_budget_options{.capacity = 20});
    retry_strategy a({}, fixed(0), shared);
    retry_strategy b({}, fixed(0), shared);
    retry_token ta = a.begin(), tb = b.begin();
    REQUIRE(a.on_failure(ta, retry_kind::transient).should_retry());
    REQUIRE(b.on_failure(tb, retry_kind::transient).should_retry());
    CHECK(shared->available() == 10);
    CHECK(&a.quota() == &b.quota());
    a.on_success(ta);
    CHECK(b.quota().available() == 15);
}

TEST_CASE("aws retry: the quota is safe to share between threads") {
    retry_quota q({.capacity = 100'000});
    std::atomic<unsigned> kept{0};
    std::vector<std::thread> threads;
    for (int k = 0; k < 4; ++k)
        threads.emplace_back([&] {
            for (int i = 0; i < 20'000; ++i) {
                if (!q.try_acquire(5)) continue;
                if (i % 2 == 0) q.release(5);
                else kept.fetch_add(1, std::memory_order_relaxed);
            }
        });
    for (auto& t : threads) t.join();
    CHECK(kept.load() <= 20'000); // never below zero
    CHECK(kept.load() > 0);
    CHECK(q.available() == 100'000 - 5 * kept.load());
    CHECK(q.available() <= q.capacity());
}

TEST_CASE("aws retry: max attempts from AWS_MAX_ATTEMPTS") {
    CHECK(retry_config::parse_max_attempts("5") == 5u);
    CHECK(retry_config::parse_max_attempts(" 10 ") == 10u);
    CHECK_FALSE(retry_config::parse_max_attempts("0"));
    CHECK_FALSE(retry_config::parse_max_attempts("-1"));
    CHECK_FALSE(retry_config::parse_max_attempts("3x"));
    CHECK_FALSE(retry_config::parse_max_attempts(""));
    CHECK_FALSE(retry_config::parse_max_attempts("99999999999999999999"));

    const char* saved = std::getenv("AWS_MAX_ATTEMPTS");
    const std::string restore = saved ? saved : "";
    ::setenv("AWS_MAX_ATTEMPTS", "7", 1);
    CHECK(retry_config::from_environment().max_attempts == 7);
    ::setenv("AWS_MAX_ATTEMPTS", "nope", 1);
    CHECK(retry_config::from_environment().max_attempts == 3);
    ::unsetenv("AWS_MAX_ATTEMPTS");
    CHECK(retry_config::from_environment().max_attempts == 3);
    if (saved) ::setenv("AWS_MAX_ATTEMPTS", restore.c_str(), 1);
}

TEST_CASE("aws clock skew: adopted when the service reports it, whatever its size") {
    clock_skew skew;
    const auto local = utc(2026, 11, 22, 10, 0, 0);
    CHECK(skew.offset() == 0ms);
    CHECK(skew.adjust(local) == local);
    // 90 s behind: under the threshold, but the service said the time was skewed.
    CHECK(skew.update(local + 90s, local, true));
    CHECK(skew.offset() == 90s);
    CHECK(skew.adjust(local) == local + 90s);
    // The same again changes nothing.
    CHECK_FALSE(skew.update(local + 90s, local, true));
    skew.reset();
    CHECK(skew.offset() == 0ms);
}

TEST_CASE("aws clock skew: unreported differences count only beyond 4 minutes") {
    clock_skew skew;
    const auto local = utc(2026, 11, 22, 10, 0, 0);
    CHECK_FALSE(skew.update(local + 3min, local, false));
    CHECK_FALSE(skew.update(local + 4min, local, false));
    CHECK(skew.offset() == 0ms);
    CHECK(skew.update(local - 4min - 1s, local, false));
    CHECK(skew.offset() == -(4min + 1s));
    // Once corrected, a response in line with the corrected clock leaves it alone...
    CHECK_FALSE(skew.update(local - 4min, local, false));
    // ...and one 4+ minutes off the corrected clock (the local clock was fixed) moves it back.
    CHECK(skew.update(local + 30s, local, false));
    CHECK(skew.offset() == 30s);

    clock_skew tight(std::chrono::milliseconds(10s));
    CHECK(tight.update(local + 11s, local, false));
}

TEST_CASE("aws clock skew: from Date headers and service errors") {
    clock_skew skew;
    const auto local = utc(2026, 11, 22, 10, 0, 0);
    CHECK(skew.update("Sun, 22 Nov 2026 10:20:00 GMT", local, false));
    CHECK(skew.offset() == 20min);
    CHECK_FALSE(skew.update("not a date", local, true));
    CHECK(skew.offset() == 20min);

    clock_skew from_error;
    const auto e = sluice::aws::parse_service_error(
        400, std::vector<std::pair<std::string, std::string>>{{"Date", "Sun, 22 Nov 2026 10:01:30 GMT"}},
        R"j({"__type":"com.amazonaws.sqs#InvalidSignatureException","message":"Signature expired: 20261122T094500Z is now )j"
        R"j(earlier than 20261122T095630Z (20261122T100130Z - 5 min.)"})j");
    CHECK(sluice::aws::classify(e) == retry_kind::clock_skew);
    CHECK(from_error.update(e, local));
    CHECK(from_error.offset() == 90s);

    // An error that is not about the clock moves it only beyond the threshold.
    clock_skew unrelated;
    const auto other = sluice::aws::parse_service_error(
        500, std::vector<std::pair<std::string, std::string>>{{"date", "Sun, 22 Nov 2026 10:01:30 GMT"}}, "");
    CHECK_FALSE(unrelated.update(other, local));
    CHECK(unrelated.offset() == 0ms);
}

} // TEST_SUITE

} // namespace test_aws_retry

