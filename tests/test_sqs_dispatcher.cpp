// sqs_dispatcher + sqs_sink + service_client against the loopback fixture server playing SQS with
// faults the emulator cannot produce: throttling, 500/503, per-entry failures in a 200, hung and
// dropped responses, clock skew. Every test accounts for every message by id: delivered once, or
// returned unprocessed with its reason. (The real emulator: test_sqs_emulator.cpp.)

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON

#include "support/http_server.hpp"

#include <sluice/aws/sqs.hpp>
#include <sluice/queue/collector_queue.hpp>

#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_sqs_dispatcher {

using namespace sluice;
using namespace sluice::aws;
using namespace std::chrono_literals;
using sluice_test::http_exchange;
using sluice_test::http_reply;
using sluice_test::http_server;
using sluice_test::unused_port;

namespace {

constexpr const char* test_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr const char* test_token = "SESSIONTOKENabcdef0123456789";

struct parsed_entry {
    std::string id;
    std::string body;
    std::string group;
    std::string dedup;
    std::map<std::string, std::string> attributes; // name -> "Type:value"
};

std::vector<parsed_entry> parse_entries(const std::string& json, std::string* queue_url = nullptr) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(json);
    if (queue_url) *queue_url = std::string(std::string_view(doc["QueueUrl"]));
    std::vector<parsed_entry> out;
    for (simdjson::dom::element e : doc["Entries"].get_array()) {
        parsed_entry p;
        p.id = std::string(std::string_view(e["Id"]));
        p.body = std::string(std::string_view(e["MessageBody"]));
        std::string_view v;
        if (e["MessageGroupId"].get(v) == simdjson::SUCCESS) p.group = std::string(v);
        if (e["MessageDeduplicationId"].get(v) == simdjson::SUCCESS) p.dedup = std::string(v);
        simdjson::dom::object attrs;
        if (e["MessageAttributes"].get(attrs) == simdjson::SUCCESS) {
            for (auto [name, value] : attrs) {
                std::string_view type = value["DataType"];
                std::string_view text;
                if (value["StringValue"].get(text) != simdjson::SUCCESS) text = value["BinaryValue"];
                p.attributes[std::string(name)] = std::string(type) + ":" + std::string(text);
            }
        }
        out.push_back(std::move(p));
    }
    return out;
}

// A fake SQS: answers SendMessageBatch, with per-entry and per-request faults chosen by the test.
struct fake_sqs {
    struct verdict {
        enum kind { ok, fail_retryable, fail_sender } what = ok;
        std::string code = "InternalError";
    };
    std::mutex mutex;
    std::vector<std::string> accepted;                 // bodies, in acceptance order
    std::vector<std::size_t> batch_sizes;
    std::vector<std::string> authorizations;
    std::vector<std::string> amz_dates;
    std::vector<std::string> tokens;
    std::size_t requests = 0;
    // Per request (1-based): a whole-request fault, decided before looking at the entries.
    std::function<std::optional<http_reply>(std::size_t request)> request_fault = [](std::size_t) {
        return std::optional<http_reply>{};
    };
    // Per entry: ok, or a failure in the 200 response.
    std::function<verdict(const parsed_entry&)> entry_fault = [](const parsed_entry&) { return verdict{}; };

    http_reply handle(const http_exchange& ex) {
        std::lock_guard lock(mutex);
        ++requests;
        if (ex.header("x-amz-target") != "AmazonSQS.SendMessageBatch") return http_reply::json(400, "{}");
        authorizations.push_back(std::string(ex.header("authorization").value_or("")));
        amz_dates.push_back(std::string(ex.header("x-amz-date").value_or("")));
        tokens.push_back(std::string(ex.header("x-amz-security-token").value_or("")));
        if (auto fault = request_fault(requests)) return *fault;
        auto entries = parse_entries(ex.body);
        batch_sizes.push_back(entries.size());
        std::string ok = "[", failed = "[";
        for (const auto& e : entries) {
            const verdict v = entry_fault(e);
            if (v.what == verdict::ok) {
                accepted.push_back(e.body);
                if (ok.size() > 1) ok += ',';
                ok += R"({"Id":")" + e.id + R"(","MessageId":"m-)" + std::to_string(accepted.size()) +
                      R"(","MD5OfMessageBody":"00000000000000000000000000000000"})";
            } else {
                if (failed.size() > 1) failed += ',';
                failed += R"({"Id":")" + e.id + R"(","SenderFault":)" +
                          (v.what == verdict::fail_sender ? "true" : "false") + R"(,"Code":")" + v.code +
                          R"(","Message":"entry failed on purpose"})";
            }
        }
        return http_reply::json(200, R"({"Successful":)" + ok + R"(],"Failed":)" + failed + "]}");
    }
};

http_reply service_error_reply(int status, std::string code, std::string message = "fault on purpose") {
    http_reply r = http_reply::json(status, R"({"__type":"com.amazonaws.sqs#)" + code + R"(","message":")" + message + "\"}");
    r.headers.emplace_back("x-amzn-RequestId", "req-fault");
    return r;
}

retry_config fast_retry(unsigned attempts = 3) {
    retry_config r;
    r.max_attempts = attempts;
    r.base_delay = 1ms;
    r.throttling_base_delay = 1ms;
    r.max_backoff = 5ms;
    return r;
}

delivery_options fast_delivery(unsigned attempts = 5) {
    delivery_options d = sqs_dispatcher_options::default_delivery();
    d.batch.max_age = 5ms;
    d.retry.max_attempts = attempts;
    d.retry.initial_backoff = 1ms;
    d.retry.max_backoff = 5ms;
    return d;
}

struct harness {
    fake_sqs sqs;
    http_server server{[this](const http_exchange& ex) { return sqs.handle(ex); }};
    std::string queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/events";

    std::shared_ptr<credentials_provider> credentials_instead; // when set, used instead of credentials()

    std::shared_ptr<credentials_provider> credentials() const {
        if (credentials_instead) return credentials_instead;
        aws_credentials c;
        c.access_key_id = "AKIDEXAMPLE123456";
        c.secret_access_key = test_secret;
        c.session_token = test_token;
        return std::make_shared<static_credentials_provider>(c);
    }

    service_client_options client_options(retry_config retry = fast_retry()) const {
        service_client_options o;
        o.service = "sqs";
        o.region = "us-east-1";
        o.endpoint = server.url();
        o.retry = retry;
        o.attempt_timeout = 2s;
        return o;
    }

};

// Runs `body(dispatcher)` on a fresh loop with a client and dispatcher built from the harness.
template <class Body>
void run_dispatcher(harness& h, sqs_dispatcher_options options, Body body, retry_config retry = fast_retry()) {
    io_loop loop;
    auto main = [&]() -> task<void> {
        http::client http(loop);
        service_client client(http, h.credentials(), h.client_options(retry));
        if (options.queue_url.empty()) options.queue_url = h.queue_url;
        if (!options.delivery) options.delivery = fast_delivery();
        sqs_dispatcher d(loop, client, options);
        co_await d.start();
        co_await body(d);
        co_await d.stop(5s);
    };
    loop.run_until_complete(main());
    loop.drain();
}

/// A credentials source that always fails with `code`, counting how often it was asked.
class failing_credentials final : public credentials_provider {
public:
    explicit failing_credentials(credentials_errc code) : code_(code) {}
    task<result<aws_credentials>> load() override {
        ++loads;
        co_return sluice::detail::aws_creds::fail(name(), code_, "nothing set up here (test)");
    }
    std::string_view name() const noexcept override { return "test"; }
    int loads = 0;

private:
    credentials_errc code_;
};

/// The warn lines a logger got, by message.
struct warn_lines {
    std::map<std::string, int> count;
    logger log{{.level = log_level::debug}, [this](const log_record& r) {
                   if (r.level == log_level::warn) ++count[std::string(r.message)];
               }};
};

sqs_dispatcher_options options_with(delivery_options delivery, const logger* log = nullptr) {
    sqs_dispatcher_options o;
    o.delivery = std::move(delivery);
    o.log = log;
    return o;
}

sqs_message body_message(std::string body) {
    sqs_message m;
    m.body = std::move(body);
    return m;
}

} // namespace

TEST_SUITE("sqs dispatcher") {

TEST_CASE("endpoint_url: the Host header curl sends and the path SigV4 signs") {
    auto a = endpoint_url::parse("https://sqs.eu-west-1.amazonaws.com");
    CHECK(a.host == "sqs.eu-west-1.amazonaws.com");
    CHECK(a.path == "/");
    CHECK(a.url == "https://sqs.eu-west-1.amazonaws.com/");
    auto b = endpoint_url::parse("http://127.0.0.1:9324/base?x=1");
    CHECK(b.host == "127.0.0.1:9324");
    CHECK(b.path == "/base");
    CHECK(endpoint_url::parse("https://Example.COM:443/").host == "example.com");
    CHECK(endpoint_url::parse("http://h:80").host == "h");
    CHECK_THROWS_AS(endpoint_url::parse("sqs.amazonaws.com"), std::invalid_argument);
    CHECK_THROWS_AS(endpoint_url::parse("ftp://x"), std::invalid_argument);
    CHECK_THROWS_AS(endpoint_url::parse("https://user:pw@x/"), std::invalid_argument);
}

TEST_CASE("batches of at most 10, signed SendMessageBatch requests, attributes and the queue URL on the wire") {
    harness h;
    std::vector<std::string> bodies;
    run_dispatcher(h, {}, [&](sqs_dispatcher& d) -> task<void> {
        for (int i = 0; i < 25; ++i) {
            sqs_message m = body_message("event " + std::to_string(i) + " \"quoted\" \\ \t\n caf\xc3\xa9 \xf0\x9f\x9a\x80");
            m.attributes.push_back({"kind", "String", "order"});
            m.attributes.push_back({"n", "Number", std::to_string(i)});
            m.attributes.push_back({"blob", "Binary", std::string("\x00\xff", 2)});
            bodies.push_back(m.body);
            d.submit(std::move(m));
        }
        auto unprocessed = co_await d.flush();
        CHECK(unprocessed.empty());
        CHECK(d.stats().delivered == 25);
    });
    std::multiset<std::string> accepted(h.sqs.accepted.begin(), h.sqs.accepted.end());
    CHECK(accepted == std::multiset<std::string>(bodies.begin(), bodies.end()));
    for (auto n : h.sqs.batch_sizes) CHECK(n <= 10);
    CHECK(h.sqs.batch_sizes.size() >= 3);
    REQUIRE_FALSE(h.sqs.authorizations.empty());
    for (const auto& a : h.sqs.authorizations) {
        CHECK(a.rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE123456/", 0) == 0);
        CHECK(a.find("/us-east-1/sqs/aws4_request") != std::string::npos);
        CHECK(a.find("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target") != std::string::npos);
    }
    CHECK(h.sqs.tokens.front() == test_token);
    // What reached the server, decoded: attributes survive, the queue URL is in the body.
    const auto requests = h.server.requests();
    std::string queue_url;
    auto entries = parse_entries(requests.front().body, &queue_url);
    CHECK(queue_url == h.queue_url);
    REQUIRE_FALSE(entries.empty());
    CHECK(entries[0].attributes["kind"] == "String:order");
    CHECK(entries[0].attributes["blob"] == "Binary:AP8=");
    CHECK(requests.front().header("content-type") == "application/x-amz-json-1.0");
}

TEST_CASE("partial failures: only failed entries are retried; the sender's faults come back from flush()") {
    harness h;
    std::map<std::string, int> failures_left;
    h.sqs.entry_fault = [&](const parsed_entry& e) {
        if (e.body.find("bad") != std::string::npos) return fake_sqs::verdict{fake_sqs::verdict::fail_sender, "InvalidParameterValue"};
        int& left = failures_left[e.body];
        if (e.body.find("flaky") != std::string::npos && left < 2) {
            ++left;
            return fake_sqs::verdict{fake_sqs::verdict::fail_retryable, "InternalError"};
        }
        return fake_sqs::verdict{};
    };
    std::vector<sqs_unprocessed> unprocessed;
    std::size_t flaky = 0;
    run_dispatcher(h, {}, [&](sqs_dispatcher& d) -> task<void> {
        for (int i = 0; i < 40; ++i) {
            std::string kind = i % 10 == 3 ? "bad" : i % 4 == 1 ? "flaky" : "fine";
            if (kind == "flaky") ++flaky;
            d.submit(body_message(kind + "-" + std::to_string(i)));
        }
        unprocessed = co_await d.flush();
    });
    // 4 bad ones refused by the service, never retried; every other message accepted exactly once.
    REQUIRE(unprocessed.size() == 4);
    for (const auto& u : unprocessed) {
        CHECK(u.message.body.find("bad") == 0);
        CHECK(u.sent);
        CHECK(u.attempts == 1);
        CHECK(u.reason.find("InvalidParameterValue") != std::string::npos);
    }
    std::map<std::string, int> seen;
    for (const auto& b : h.sqs.accepted) ++seen[b];
    CHECK(seen.size() == 36);
    for (const auto& entry : seen) CHECK_MESSAGE(entry.second == 1, entry.first);
    // Retries carried only the failed entries: entries sent = 40 + 2 retries per flaky message.
    std::size_t sent = 0;
    for (auto n : h.sqs.batch_sizes) sent += n;
    CHECK(flaky == 8);
    CHECK(sent == 40 + 2 * flaky);
}

TEST_CASE("throttling, 500 and 503 are retried until accepted; nothing is lost or duplicated") {
    harness h;
    h.sqs.request_fault = [](std::size_t n) -> std::optional<http_reply> {
        if (n % 3 == 1) return service_error_reply(400, "ThrottlingException", "Rate exceeded");
        if (n % 5 == 2) return http_reply::text(500, "oops");
        if (n % 7 == 3) return http_reply::text(503, "<html>Service Unavailable</html>");
        return std::nullopt;
    };
    // About half the requests fail: 40 attempts make a record's running out of them (0.55^40) as good
    // as impossible, whatever the batching under load.
    run_dispatcher(h, options_with(fast_delivery(40)), [&](sqs_dispatcher& d) -> task<void> {
        for (int i = 0; i < 100; ++i) d.submit(body_message("m" + std::to_string(i)));
        auto unprocessed = co_await d.flush();
        CHECK(unprocessed.empty());
        // The engine owns the attempts: each of its requests is one HTTP request.
        CHECK(h.sqs.requests == d.pipeline().stats().requests);
    }, fast_retry(6));
    // The engine retried the failed requests: more requests than batches.
    CHECK(h.sqs.requests > h.sqs.batch_sizes.size());
    std::set<std::string> seen(h.sqs.accepted.begin(), h.sqs.accepted.end());
    CHECK(seen.size() == 100);
    CHECK(h.sqs.accepted.size() == 100);
}

TEST_CASE("hung and dropped responses are retried on a fresh connection") {
    harness h;
    h.sqs.request_fault = [](std::size_t n) -> std::optional<http_reply> {
        http_reply r;
        if (n == 1) {
            r.action = http_reply::fault::hang;
            return r;
        }
        if (n == 2) {
            r.action = http_reply::fault::close_without_reply;
            return r;
        }
        return std::nullopt;
    };
    run_dispatcher(h, {}, [&](sqs_dispatcher& d) -> task<void> {
        // The client's per-attempt timeout is 2 s; make the first attempt give up sooner.
        for (int i = 0; i < 5; ++i) d.submit(body_message("m" + std::to_string(i)));
        auto unprocessed = co_await d.flush();
        CHECK(unprocessed.empty());
    });
    CHECK(h.sqs.accepted.size() == 5);
    CHECK(h.server.connection_count() >= 2);
    h.server.stop();
}

TEST_CASE("a service that keeps failing: every message comes back unprocessed with the reason") {
    harness h;
    h.sqs.request_fault = [](std::size_t) -> std::optional<http_reply> { return service_error_reply(503, "ServiceUnavailable"); };
    std::vector<sqs_unprocessed> unprocessed;
    std::uint64_t engine_requests = 0;
    run_dispatcher(h, options_with(fast_delivery(2)), [&](sqs_dispatcher& d) -> task<void> {
        for (int i = 0; i < 23; ++i) d.submit(body_message("m" + std::to_string(i)));
        unprocessed = co_await d.flush();
        engine_requests = d.pipeline().stats().requests;
    }, fast_retry(2));
    REQUIRE(unprocessed.size() == 23);
    std::set<std::string> ids;
    for (const auto& u : unprocessed) {
        ids.insert(u.message.body);
        CHECK(u.sent);
        CHECK(u.attempts == 2);
        CHECK(u.reason.find("ServiceUnavailable") != std::string::npos);
        CHECK(u.reason.find("req-fault") != std::string::npos);
        CHECK(u.reason.find(test_secret) == std::string::npos);
        CHECK(u.reason.find(test_token) == std::string::npos);
    }
    CHECK(ids.size() == 23);
    CHECK(h.sqs.accepted.empty());
    // The engine owns attempts and backoff: each engine request was exactly one HTTP request (the
    // client's own standard-mode retries are off), and each record had 2 engine attempts.
    CHECK(engine_requests >= 3 * 2);
    CHECK(h.sqs.requests == engine_requests);
}

TEST_CASE("credentials not set up fail every message at once, with the reason, in one log line") {
    // Issue 13: no retry can fix a source that is not set up (before, each batch was retried up to the
    // engine's attempts, looking the credentials up again every time, and every record logged a line).
    harness h;
    auto missing = std::make_shared<failing_credentials>(credentials_errc::not_configured);
    h.credentials_instead = missing;
    warn_lines warnings;
    std::vector<sqs_unprocessed> unprocessed;
    run_dispatcher(h, options_with(fast_delivery(5), &warnings.log), [&](sqs_dispatcher& d) -> task<void> {
        for (int i = 0; i < 23; ++i) d.submit(body_message("m" + std::to_string(i)));
        unprocessed = co_await d.flush();
    });
    REQUIRE(unprocessed.size() == 23);
    std::set<std::string> bodies;
    for (const auto& u : unprocessed) {
        bodies.insert(u.message.body);
        CHECK(u.attempts == 1);
        CHECK_FALSE(u.sent); // no request left: the engine counts the attempt, not a send
        CHECK(u.reason.find("no credentials") != std::string::npos);
    }
    CHECK(bodies.size() == 23);
    CHECK(h.sqs.requests == 0);
    CHECK(missing->loads == 3); // one lookup per batch of at most 10, none repeated
    CHECK(warnings.count["record not delivered"] == 1);
}

TEST_CASE("a source that was asked and failed is retried; a queue that does not exist is one log line") {
    harness h;
    auto flaky = std::make_shared<failing_credentials>(credentials_errc::provider_failed);
    h.credentials_instead = flaky;
    std::vector<sqs_unprocessed> unprocessed;
    run_dispatcher(h, options_with(fast_delivery(3)), [&](sqs_dispatcher& d) -> task<void> {
        d.submit(body_message("one"));
        unprocessed = co_await d.flush();
    });
    REQUIRE(unprocessed.size() == 1);
    CHECK(unprocessed[0].attempts == 3);
    CHECK_FALSE(unprocessed[0].sent);
    CHECK(flaky->loads == 3);

    harness gone;
    gone.sqs.request_fault = [](std::size_t) -> std::optional<http_reply> {
        return service_error_reply(400, "QueueDoesNotExist", "The specified queue does not exist.");
    };
    warn_lines warnings;
    run_dispatcher(gone, options_with(fast_delivery(3), &warnings.log), [&](sqs_dispatcher& d) -> task<void> {
        for (int i = 0; i < 40; ++i) d.submit(body_message("m" + std::to_string(i)));
        unprocessed = co_await d.flush();
    });
    REQUIRE(unprocessed.size() == 40);
    for (const auto& u : unprocessed) {
        CHECK(u.attempts == 1);
        CHECK(u.sent); // the service answered: it saw the request
        CHECK(u.reason.find("QueueDoesNotExist") != std::string::npos);
    }
    CHECK(warnings.count["record not delivered"] == 1);
}

TEST_CASE("an endpoint nobody listens on: every message unprocessed after its attempts, none of them sent") {
    // `sent` tells a caller whether resending may deliver twice: a refused connection carried nothing.
    harness h;
    std::vector<sqs_unprocessed> unprocessed;
    io_loop loop;
    auto main = [&]() -> task<void> {
        http::client http(loop);
        service_client_options co = h.client_options();
        co.endpoint = "http://127.0.0.1:" + std::to_string(unused_port());
        service_client client(http, h.credentials(), co);
        sqs_dispatcher_options so = options_with(fast_delivery(2));
        so.queue_url = h.queue_url;
        sqs_dispatcher d(loop, client, so);
        co_await d.start();
        d.submit(body_message("one"));
        d.submit(body_message("two"));
        unprocessed = co_await d.flush();
        co_await d.stop(5s);
    };
    loop.run_until_complete(main());
    loop.drain();
    REQUIRE(unprocessed.size() == 2);
    for (const auto& u : unprocessed) {
        CHECK(u.attempts == 2);
        CHECK_FALSE(u.sent);
        CHECK(u.details.never_left);
        CHECK(u.reason.find("connect") != std::string::npos);
    }
}

TEST_CASE("bad input is refused at once, named, never sent, and nothing else is held up") {
    harness h;
    std::vector<sqs_unprocessed> unprocessed;
    run_dispatcher(h, {}, [&](sqs_dispatcher& d) -> task<void> {
        d.submit(body_message(std::string(1'048'577, 'x')));     // one byte over 1 MiB
        d.submit(body_message(std::string(1'048'576, 'y')));     // exactly 1 MiB: fine
        d.submit(body_message(std::string("bad utf-8 \xc3\x28", 12)));
        d.submit(body_message(std::string("nul \0 inside", 12)));
        d.submit(body_message(""));
        sqs_message big_attr = body_message("small body");
        big_attr.attributes.push_back({"a", "String", std::string(1'048'576, 'z')});
        d.submit(std::move(big_attr));
        sqs_message delayed = body_message("delay out of range");
        delayed.delay_seconds = 901;
        d.submit(std::move(delayed));
        d.submit(body_message("fine"));
        unprocessed = co_await d.flush();
        CHECK(d.stats().invalid == 6);
        bool threw = false;
        try {
            co_await d.send(body_message(std::string(1'048'577, 'x')));
        } catch (const sqs_send_error& e) {
            threw = true;
            CHECK_FALSE(e.sent());
            CHECK(std::string(e.what()).find("1048577") != std::string::npos);
        }
        CHECK(threw);
    });
    REQUIRE(unprocessed.size() == 6);
    for (const auto& u : unprocessed) {
        CHECK_FALSE(u.sent);
        CHECK(u.attempts == 0);
        CHECK_FALSE(u.reason.empty());
    }
    CHECK(unprocessed[0].reason.find("1048577") != std::string::npos);
    CHECK(unprocessed[1].reason.find("UTF-8") != std::string::npos);
    CHECK(unprocessed[0].message.body.size() == 1'048'577); // handed back intact
    // Only the two valid messages reached the server.
    REQUIRE(h.sqs.accepted.size() == 2);
    CHECK(h.sqs.accepted[0].size() == 1'048'576);
    CHECK(h.sqs.accepted[1] == "fine");
}

TEST_CASE("a duplicate of a pending message is dropped with a warning; both resolve with its outcome") {
    harness h;
    std::vector<std::string> warnings;
    logger log({.level = log_level::debug}, [&](const log_record& r) {
        if (r.level == log_level::warn) warnings.push_back(std::string(r.message));
    });
    run_dispatcher(h, options_with(fast_delivery(), &log), [&](sqs_dispatcher& d) -> task<void> {
        d.submit(body_message("same"));
        d.submit(body_message("same"));
        d.submit(body_message("other"));
        auto unprocessed = co_await d.flush();
        CHECK(unprocessed.empty());
        CHECK(d.stats().duplicates == 1);
        // Once the first is delivered, the same body is no longer pending: it goes out again.
        auto receipt = co_await d.send(body_message("same"));
        CHECK_FALSE(receipt.duplicate);
    });
    CHECK(std::count(h.sqs.accepted.begin(), h.sqs.accepted.end(), "same") == 2);
    CHECK(std::count(warnings.begin(), warnings.end(), "duplicate of a pending record dropped") == 1);
}

TEST_CASE("clock skew: the signing time follows the service's Date header and the request is retried") {
    harness h;
    const auto server_time = std::chrono::system_clock::now() + std::chrono::hours(2);
    h.sqs.request_fault = [&](std::size_t n) -> std::optional<http_reply> {
        if (n != 1) return std::nullopt;
        http_reply r = service_error_reply(400, "InvalidSignatureException",
                                           "Signature expired: 20261122T080000Z is now earlier than 20261122T095500Z");
        const std::time_t t = std::chrono::system_clock::to_time_t(server_time);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char date[64];
        std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        r.headers.emplace_back("Date", date);
        return r;
    };
    run_dispatcher(h, {}, [&](sqs_dispatcher& d) -> task<void> {
        auto receipt = co_await d.send(body_message("skewed"));
        CHECK(receipt.attempts == 1); // one engine attempt: the call retried inside itself
    });
    REQUIRE(h.sqs.amz_dates.size() == 2);
    // X-Amz-Date is yyyymmddThhmmssZ: the retry is signed about two hours ahead of the first.
    auto hour = [](const std::string& d) { return std::stoi(d.substr(9, 2)) * 60 + std::stoi(d.substr(11, 2)); };
    const int diff = (hour(h.sqs.amz_dates[1]) - hour(h.sqs.amz_dates[0]) + 24 * 60) % (24 * 60);
    CHECK(diff >= 119);
    CHECK(diff <= 121);
    CHECK(h.sqs.accepted.size() == 1);
}

// Hands out a new session token at every load, and counts the loads.
class rotating_credentials final : public credentials_provider {
public:
    int loads = 0;
    task<result<aws_credentials>> load() override {
        ++loads;
        aws_credentials c;
        c.access_key_id = "AKIDROTATING00000000";
        c.secret_access_key = test_secret;
        c.session_token = "token-" + std::to_string(loads);
        co_return result<aws_credentials>::ok(std::move(c));
    }
    std::string_view name() const noexcept override { return "rotating"; }
};

TEST_CASE("ExpiredToken: cached credentials are dropped and the call is made again with fresh ones") {
    harness h;
    h.sqs.request_fault = [](std::size_t n) -> std::optional<http_reply> {
        if (n == 1) return service_error_reply(400, "ExpiredTokenException", "The security token included in the request is expired");
        return std::nullopt;
    };
    auto inner = std::make_shared<rotating_credentials>();
    io_loop loop;
    auto main = [&]() -> task<void> {
        http::client http(loop);
        auto cached = std::make_shared<caching_credentials_provider>(loop, inner);
        service_client client(http, cached, h.client_options(fast_retry(1))); // no standard-mode retries
        sqs_dispatcher_options o = options_with(fast_delivery(1));           // nor engine retries
        o.queue_url = h.queue_url;
        sqs_dispatcher d(loop, client, o);
        auto receipt = co_await d.send(body_message("after refresh"));
        CHECK(receipt.attempts == 1);
        co_await d.stop(5s);
    };
    loop.run_until_complete(main());
    loop.drain();
    CHECK(inner->loads == 2);
    REQUIRE(h.sqs.tokens.size() == 2);
    CHECK(h.sqs.tokens[0] == "token-1");
    CHECK(h.sqs.tokens[1] == "token-2");
    CHECK(h.sqs.accepted == std::vector<std::string>{"after refresh"});
}

TEST_CASE("FIFO: group ids and generated deduplication ids on the wire, order kept through failures") {
    harness h;
    h.queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo";
    h.sqs.request_fault = [](std::size_t n) -> std::optional<http_reply> {
        if (n % 3 == 0) return service_error_reply(400, "ThrottlingException");
        if (n % 4 == 0) return http_reply::text(500, "oops");
        return std::nullopt;
    };
    std::vector<std::string> sent_order;
    run_dispatcher(h, {}, [&](sqs_dispatcher& d) -> task<void> {
        CHECK(d.fifo());
        for (int i = 0; i < 60; ++i) {
            sqs_message m = body_message("f" + std::to_string(i));
            m.group_id = i % 2 == 0 ? "even" : "odd";
            sent_order.push_back(m.body);
            d.submit(std::move(m));
        }
        sqs_message no_group = body_message("no group");
        d.submit(std::move(no_group));
        sqs_message delayed = body_message("per-message delay");
        delayed.group_id = "g";
        delayed.delay_seconds = 5;
        d.submit(std::move(delayed));
        auto unprocessed = co_await d.flush();
        REQUIRE(unprocessed.size() == 2);
        CHECK(unprocessed[0].message.body == "no group");
        CHECK(unprocessed[1].message.body == "per-message delay");
        CHECK(d.pipeline().stats().request_failures + d.pipeline().stats().requests > 0);
    }, fast_retry(1)); // no retries inside the call: the engine's ordered retries do it all
    CHECK(h.sqs.accepted == sent_order);
    std::set<std::string> dedup_ids;
    for (const auto& ex : h.server.requests()) {
        if (ex.header("x-amz-target") != "AmazonSQS.SendMessageBatch") continue;
        for (const auto& e : parse_entries(ex.body)) {
            CHECK((e.group == "even" || e.group == "odd"));
            CHECK(e.dedup.size() == 32);
            dedup_ids.insert(e.dedup + "|" + e.body);
        }
    }
    // A retried entry carries the same deduplication id: exactly one id per message.
    std::set<std::string> per_body;
    for (const auto& s : dedup_ids) per_body.insert(s.substr(33));
    CHECK(per_body.size() == 60);
    CHECK(dedup_ids.size() == 60);
}

TEST_CASE("sqs_sink on a .fifo URL: a plain pipeline runs ordered, so failed requests never let later ones by") {
    // The raw sink (pre-encoded entries, the caller's own pipeline options) used to leave FIFO order
    // to the caller: default options sent several requests at once and retried a failed one after
    // newer ones were accepted.
    harness h;
    h.queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo";
    h.sqs.request_fault = [](std::size_t n) -> std::optional<http_reply> {
        if (n == 1 || n == 4) return http_reply::text(500, "oops");
        return std::nullopt;
    };
    std::vector<std::string> order;
    io_loop loop;
    auto main = [&]() -> task<void> {
        http::client http(loop);
        service_client client(http, h.credentials(), h.client_options(fast_retry(1)));
        sqs_sink sink(client, h.queue_url);
        CHECK(sink.fifo());
        CHECK(sink.limits().needs_order);
        delivery_options o = fast_delivery(5);
        o.ordered = false; // what a caller who did not know would leave
        o.concurrency.adaptive = false;
        o.concurrency.max_in_flight = 8;
        delivery_pipeline<sqs_sink> pipeline(loop, sink, o);
        co_await pipeline.start();
        int failed = 0;
        for (int i = 0; i < 45; ++i) {
            sqs_message m = body_message("f" + std::to_string(i));
            m.group_id = "g";
            m.deduplication_id = "d" + std::to_string(i);
            order.push_back(m.body);
            std::string entry;
            append_sqs_entry_fields(entry, m);
            pipeline.submit(std::move(entry), record_options{}, [&failed](const outcome& r) { failed += r.is_ok() ? 0 : 1; });
        }
        co_await pipeline.flush();
        co_await pipeline.stop();
        CHECK(failed == 0);
        CHECK(pipeline.stats().request_failures == 2);
    };
    loop.run_until_complete(main());
    loop.drain();
    CHECK(h.sqs.accepted == order);
}

TEST_CASE("as a collector's processor: send on the queue resolves with the SQS outcome") {
    harness h;
    h.sqs.entry_fault = [](const parsed_entry& e) {
        if (e.body == "refused") return fake_sqs::verdict{fake_sqs::verdict::fail_sender, "InvalidParameterValue"};
        return fake_sqs::verdict{};
    };
    io_loop loop;
    auto main = [&]() -> task<void> {
        http::client http(loop);
        service_client client(http, h.credentials(), h.client_options());
        sqs_dispatcher_options o = options_with(fast_delivery());
        o.queue_url = h.queue_url;
        sqs_dispatcher d(loop, client, o);
        collector<std::string> sqs_collector;
        sqs_collector.key = "sqs";
        sqs_collector.processor = d.processor<std::string>([](const payload<std::string>& p) {
            sqs_message m;
            m.body = p.value;
            return m;
        });
        std::vector<collector<std::string>> collectors;
        collectors.push_back(std::move(sqs_collector));
        collector_queue<std::string> queue(loop, std::move(collectors));
        co_await queue.start();
        auto pub = queue.get_publisher();
        auto ok = co_await pub.send(payload<std::string>::to_keys("hello", {"sqs"}));
        auto refused = co_await pub.send(payload<std::string>::to_keys("refused", {"sqs"}));
        auto invalid = co_await pub.send(payload<std::string>::to_keys(std::string("\xff", 1), {"sqs"}));
        const auto& ok_results = co_await ok.wait();
        REQUIRE(ok_results.size() == 1);
        CHECK(ok_results[0].is_ok());
        const auto& refused_results = co_await refused.wait();
        REQUIRE(refused_results.size() == 1);
        CHECK(refused_results[0].is_error());
        CHECK(refused_results[0].get_error().message.find("InvalidParameterValue") != std::string::npos);
        const auto& invalid_results = co_await invalid.wait();
        REQUIRE(invalid_results.size() == 1);
        CHECK(invalid_results[0].is_error());
        CHECK(invalid_results[0].get_error().message.find("UTF-8") != std::string::npos);
        co_await queue.stop(5s);
        co_await d.stop(5s);
    };
    loop.run_until_complete(main());
    loop.drain();
    CHECK(h.sqs.accepted == std::vector<std::string>{"hello"});
}

TEST_CASE("flush_blocking from another thread, submit from any thread") {
    harness h;
    io_loop loop;
    std::atomic<sqs_dispatcher*> dispatcher{nullptr};
    std::atomic<bool> done{false};
    std::thread runner([&] {
        auto main = [&]() -> task<void> {
            http::client http(loop);
            service_client client(http, h.credentials(), h.client_options());
            sqs_dispatcher_options o = options_with(fast_delivery());
            o.queue_url = h.queue_url;
            sqs_dispatcher d(loop, client, o);
            dispatcher = &d;
            while (!done.load()) co_await loop.sleep_for(1ms);
            co_await d.stop(5s);
        };
        loop.run_until_complete(main());
        loop.drain();
    });
    while (!dispatcher.load()) std::this_thread::yield();
    for (int i = 0; i < 30; ++i) dispatcher.load()->submit(body_message("t" + std::to_string(i)));
    auto unprocessed = dispatcher.load()->flush_blocking();
    CHECK(unprocessed.empty());
    CHECK(dispatcher.load()->stats().delivered == 30);
    done = true;
    runner.join();
    CHECK(h.sqs.accepted.size() == 30);
}

} // TEST_SUITE

} // namespace test_sqs_dispatcher

#endif
