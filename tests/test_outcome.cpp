// The one outcome type: what a sink says about an entry reaches the caller intact, through
// delivery_error and a result_list's error.

#include <doctest/doctest.h>

#include <sluice/core/outcome.hpp>
#include <sluice/core/result.hpp>
#include <sluice/delivery/pipeline.hpp>
#include <sluice/io/loop.hpp>

#include <string>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_outcome {

using namespace sluice;

namespace {

/// Answers every entry with the outcome it is given, as a service would.
struct scripted_sink {
    outcome answer;
    [[nodiscard]] sink_limits limits() const { return {}; }
    task<batch_result> send(sink_batch batch) {
        batch_result r;
        r.entries.assign(batch.records.size(), answer);
        co_return r;
    }
};
static_assert(sink_adapter<scripted_sink>);

} // namespace

TEST_SUITE("outcome") {

TEST_CASE("outcome: kinds, retryability and a description safe to log") {
    CHECK(outcome::ok().is_ok());
    CHECK(outcome::make(outcome_kind::persisted, "on disk").is_ok());
    CHECK(outcome::retry("503").retryable());
    CHECK_FALSE(outcome::retry("503").throttled());
    CHECK(outcome::throttle("slow down").throttled());
    CHECK(outcome::throttle("slow down").retryable());
    CHECK_FALSE(outcome::reject("bad").retryable());
    CHECK_FALSE(outcome::reject("bad").is_ok());
    for (auto k : {outcome_kind::invalid, outcome_kind::dropped, outcome_kind::cancelled})
        CHECK_FALSE(outcome::make(k, "x").retryable());

    outcome o = outcome::throttle("Rate exceeded").from_service("ThrottlingException", "req-1");
    o.attempts = 3;
    CHECK(o.describe() == "throttled after 3 attempt(s): Rate exceeded [ThrottlingException, request req-1]");
    CHECK(outcome::reject("no").describe() == "reject: no");
    CHECK(to_string(outcome_kind::cancelled) == "cancelled");
}

TEST_CASE("outcome: a delivery_error caught by a collector keeps its details in the result's error") {
    outcome o = outcome::reject("ValidationException: bad key").from_service("ValidationException", "r-42");
    o.attempts = 1;
    o.sent = true;
    error e;
    try {
        throw delivery_error(o);
    } catch (...) {
        e = error::from_current_exception("kinesis");
    }
    REQUIRE(e.details);
    CHECK(e.details->kind == outcome_kind::reject);
    CHECK(e.details->service_code == "ValidationException");
    CHECK(e.details->request_id == "r-42");
    CHECK(e.details->attempts == 1);
    CHECK(e.details->sent);
    CHECK(e.message == "ValidationException: bad key");

    error plain;
    try {
        throw std::runtime_error("boom");
    } catch (...) {
        plain = error::from_current_exception("x");
    }
    CHECK_FALSE(plain.details);
}

TEST_CASE("outcome: the service's code, request id, attempts and sent travel from the sink to deliver()") {
    io_loop loop;
    scripted_sink sink;
    sink.answer = outcome::reject("AccessDenied: not allowed").from_service("AccessDeniedException", "req-9");
    delivery_options o;
    o.name = "s";
    o.batch.max_age = std::chrono::milliseconds(1);
    delivery_pipeline<scripted_sink> p(loop, sink, o);
    auto run = [&]() -> task<void> {
        co_await p.start();
        bool threw = false;
        try {
            co_await p.deliver("r1");
        } catch (const delivery_error& e) {
            threw = true;
            CHECK(e.kind() == outcome_kind::reject);
            CHECK(e.service_code() == "AccessDeniedException");
            CHECK(e.request_id() == "req-9");
            CHECK(e.attempts() == 1);
            CHECK(e.sent());
            CHECK(std::string(e.what()).find("AccessDenied: not allowed") != std::string::npos);
        }
        CHECK(threw);

        // Refused before sending: never sent, no attempts.
        threw = false;
        try {
            co_await p.deliver(std::string(2u << 20, 'x'));
        } catch (const delivery_error& e) {
            threw = true;
            CHECK(e.kind() == outcome_kind::invalid);
            CHECK_FALSE(e.sent());
            CHECK(e.attempts() == 0);
        }
        CHECK(threw);
        co_await p.stop();
    };
    loop.run_until_complete(run());
}

TEST_CASE("outcome: sent counts only requests that left; an attempt that never left is not a send") {
    io_loop loop;
    scripted_sink sink;
    delivery_options o;
    o.name = "s";
    o.batch.max_age = std::chrono::milliseconds(1);
    o.retry.max_attempts = 3;
    o.retry.initial_backoff = std::chrono::milliseconds(1);
    o.retry.max_backoff = std::chrono::milliseconds(2);
    delivery_pipeline<scripted_sink> p(loop, sink, o);
    auto expect = [&](bool sent, unsigned attempts) -> task<void> {
        bool threw = false;
        try {
            co_await p.deliver("r");
        } catch (const delivery_error& e) {
            threw = true;
            CHECK(e.kind() == outcome_kind::retry);
            CHECK(e.attempts() == attempts);
            CHECK(e.sent() == sent);
        }
        CHECK(threw);
    };
    auto run = [&]() -> task<void> {
        co_await p.start();
        sink.answer = outcome::retry("no response: could not connect");
        sink.answer.never_left = true;
        co_await expect(false, 3); // three attempts, none left
        sink.answer.never_left = false;
        co_await expect(true, 3); // e.g. a timeout after the request went out
        co_await p.stop();
    };
    loop.run_until_complete(run());
}

} // TEST_SUITE

} // namespace test_outcome
