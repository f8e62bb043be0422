// The generic HTTP sink on the delivery engine, against sluice's own http::server in process: each
// framing (NDJSON, JSON array, one record per request) with and without gzip/zstd (the server
// decompresses with zlib/libzstd and parses what arrived), the batch key in the URL, 429 with
// Retry-After (seconds and an HTTP date) honoured by the engine, 500 then success, 400 rejected to
// the dead letters, an unreachable endpoint, records a framing cannot carry. Every record is counted
// by id.

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL && SLUICE_HAS_SIMDJSON && SLUICE_HAS_ZLIB && SLUICE_HAS_ZSTD

#include "support/decompress.hpp"

#include <sluice/delivery/pipeline.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/retry_after.hpp>
#include <sluice/http/server.hpp>
#include <sluice/sinks/http_sink.hpp>

#include <simdjson.h>

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_http_sink {

using namespace sluice;
using namespace std::chrono_literals;

namespace {

struct scripted {
    int status;
    std::string retry_after{};
};

/// The receiving end: decompresses, splits by framing, counts ids per key; answers from a script.
struct receiver {
    http_framing framing = http_framing::ndjson;
    std::deque<scripted> script;                      // the next answers (then 200)
    std::map<std::string, std::multiset<int>> by_key; // path's last segment -> ids received in 2xx requests
    std::size_t requests = 0;
    std::vector<std::string> content_types, encodings, secrets;
    std::vector<std::chrono::steady_clock::time_point> arrivals;
    std::vector<std::string> errors; // what the receiver could not parse (must stay empty)
    simdjson::dom::parser parser;

    task<http::server_response> handle(http::server_request& r) {
        ++requests;
        arrivals.push_back(std::chrono::steady_clock::now());
        content_types.emplace_back(r.header("content-type").value_or(""));
        encodings.emplace_back(r.header("content-encoding").value_or(""));
        secrets.emplace_back(r.header("x-api-key").value_or(""));
        if (!script.empty()) {
            scripted s = script.front();
            script.pop_front();
            auto resp = http::server_response::text(s.status, "scripted");
            if (!s.retry_after.empty()) resp.add_header("Retry-After", s.retry_after);
            co_return resp;
        }
        std::string body = r.body;
        const std::string enc(r.header("content-encoding").value_or(""));
        if (enc == "gzip") body = sluice_test::decompress_object(compression::gzip, body);
        if (enc == "zstd") body = sluice_test::decompress_object(compression::zstd, body);
        const std::string key = r.path.substr(r.path.rfind('/') + 1);
        take(key, body);
        co_return http::server_response::json(200, "{}");
    }

    void take(const std::string& key, const std::string& body) {
        auto id_of = [&](std::string_view text) {
            simdjson::dom::object o;
            std::int64_t id = -1;
            if (parser.parse(text.data(), text.size(), true).get_object().get(o) != simdjson::SUCCESS ||
                o["id"].get_int64().get(id) != simdjson::SUCCESS)
                errors.push_back("not a record: " + std::string(text.substr(0, 40)));
            else
                by_key[key].insert(static_cast<int>(id));
        };
        if (framing == http_framing::ndjson) {
            if (body.empty() || body.back() != '\n') errors.push_back("NDJSON body without its last newline");
            for (std::size_t at = 0; at < body.size();) {
                const auto nl = body.find('\n', at);
                id_of(std::string_view(body).substr(at, nl - at));
                at = nl == std::string::npos ? body.size() : nl + 1;
            }
        } else if (framing == http_framing::json_array) {
            simdjson::dom::array a;
            if (parser.parse(body).get_array().get(a) != simdjson::SUCCESS) {
                errors.push_back("not a JSON array");
                return;
            }
            std::vector<std::string> items;
            for (auto e : a) items.push_back(simdjson::minify(e));
            for (const auto& item : items) id_of(item);
        } else {
            id_of(body);
        }
    }
};

struct harness {
    io_loop loop;
    receiver rx;
    std::optional<http::server> server;
    std::vector<std::string> dead;

    harness() { server.emplace(loop, [this](http::server_request& r) { return rx.handle(r); }); }

    http_sink_options options(http_framing f, compression c = compression::none) {
        rx.framing = f;
        http_sink_options o;
        o.url = server->url() + "/ingest/{key}";
        o.framing = f;
        o.body_compression = c;
        o.headers.push_back({"X-Api-Key", "k-very-secret"});
        return o;
    }

    delivery_options delivery() {
        delivery_options d;
        d.name = "http";
        d.batch.max_age = 5ms;
        d.retry.max_attempts = 5;
        d.retry.initial_backoff = 1ms;
        d.retry.max_backoff = 5ms;
        d.concurrency.max_in_flight = 4;
        d.dead_letter_output = [this](const dead_letter& l) -> task<void> {
            dead.emplace_back(l.reason);
            co_return;
        };
        return d;
    }

    /// Delivers record i (`{"id":i,...}`) with batch key keys[i % keys.size()]; outcome per record.
    std::vector<outcome> deliver(const http_sink_options& o, int n, std::optional<delivery_options> d = std::nullopt,
                                 std::vector<std::string> keys = {"a"}, std::function<std::string(int)> make = {}) {
        std::vector<outcome> results(static_cast<std::size_t>(n));
        auto main = [&]() -> task<void> {
            server->start();
            {
                http::client client(loop);
                http_sink sink(client, o);
                delivery_pipeline<http_sink> p(loop, sink, d ? *d : delivery());
                for (int i = 0; i < n; ++i) {
                    std::string r = make ? make(i) : "{\"id\":" + std::to_string(i) + ",\"msg\":\"hello \\\"world\\\"\"}";
                    record_options ro;
                    ro.batch_key = keys[static_cast<std::size_t>(i) % keys.size()];
                    p.submit(std::move(r), std::move(ro), [&results, i](const outcome& out) { results[static_cast<std::size_t>(i)] = out; });
                }
                co_await p.flush();
                co_await p.stop(5s);
            }
            co_await server->stop(1s);
        };
        loop.run_until_complete(main());
        loop.drain();
        CHECK(rx.errors.empty());
        for (const auto& e : rx.errors) MESSAGE(e);
        return results;
    }
};

std::multiset<int> range(int from, int to, int step = 1) {
    std::multiset<int> s;
    for (int i = from; i < to; i += step) s.insert(i);
    return s;
}

} // namespace

TEST_SUITE("http-sink") {

TEST_CASE("http sink: every framing and compression delivers each record once, by batch key in the URL") {
    struct variant {
        http_framing framing;
        compression codec;
        std::string_view type, encoding;
    };
    const variant variants[] = {
        {http_framing::ndjson, compression::none, "application/x-ndjson", ""},
        {http_framing::ndjson, compression::gzip, "application/x-ndjson", "gzip"},
        {http_framing::json_array, compression::zstd, "application/json", "zstd"},
        {http_framing::json_array, compression::none, "application/json", ""},
        {http_framing::single, compression::gzip, "application/json", "gzip"},
        {http_framing::single, compression::zstd, "application/json", "zstd"},
    };
    for (const auto& v : variants) {
        CAPTURE(to_string(v.framing));
        CAPTURE(to_string(v.codec));
        harness h;
        const int n = v.framing == http_framing::single ? 120 : 1000;
        const auto results = h.deliver(h.options(v.framing, v.codec), n, std::nullopt, {"orders", "tenant 7/eu"});
        for (const auto& r : results) CHECK(r.is_ok());
        CHECK(h.rx.by_key["orders"] == range(0, n, 2));
        CHECK(h.rx.by_key["tenant%207%2Feu"] == range(1, n, 2)); // the key is percent-encoded in the path
        CHECK(h.rx.by_key.size() == 2);
        for (const auto& t : h.rx.content_types) CHECK(t == v.type);
        for (const auto& e : h.rx.encodings) CHECK(e == v.encoding);
        for (const auto& s : h.rx.secrets) CHECK(s == "k-very-secret");
        if (v.framing == http_framing::single) CHECK(h.rx.requests == static_cast<std::size_t>(n));
        else CHECK(h.rx.requests < static_cast<std::size_t>(n) / 4);
    }
}

TEST_CASE("http sink: 500 then success delivers everything; 400 rejects to the dead letters without the secret") {
    {
        harness h;
        h.rx.script = {{500}, {502}, {500}};
        const auto results = h.deliver(h.options(http_framing::ndjson), 40);
        for (const auto& r : results) CHECK(r.is_ok());
        CHECK(h.rx.by_key["a"] == range(0, 40));
        CHECK(h.dead.empty());
    }
    {
        harness h;
        h.rx.script = {{400}};
        const auto results = h.deliver(h.options(http_framing::ndjson), 10);
        for (const auto& r : results) {
            CHECK(r.kind == outcome_kind::reject);
            CHECK(r.attempts == 1);
            CHECK(r.message.find("HTTP 400 Bad Request") != std::string::npos);
            CHECK(r.message.find("k-very-secret") == std::string::npos);
        }
        CHECK(h.dead.size() == 10);
        CHECK(h.rx.by_key["a"].empty());
    }
    {
        harness h;
        h.rx.script = {{403}};
        const auto results = h.deliver(h.options(http_framing::json_array), 3);
        for (const auto& r : results) CHECK(r.message.find("authentication failed (HTTP 403") != std::string::npos);
    }
}

TEST_CASE("http sink: Retry-After reaches the engine as outcome::retry_after, seconds or an HTTP date") {
    CHECK(http::parse_retry_after("3") == std::chrono::milliseconds(3000));
    CHECK(http::parse_retry_after(" 0 ") == std::chrono::milliseconds(0));
    CHECK(http::parse_retry_after("99999999999999999999") == std::chrono::milliseconds(86'400'000));
    const auto now = std::chrono::sys_days(std::chrono::year(2026) / 11 / 22) + 9h + 59min + 50s;
    CHECK(http::parse_retry_after("Sun, 22 Nov 2026 10:00:00 GMT", now) == std::chrono::milliseconds(10'000));
    CHECK(http::parse_retry_after("Sun, 22 Nov 2026 09:00:00 GMT", now) == std::chrono::milliseconds(0));
    CHECK(!http::parse_retry_after("soon"));
    CHECK(!http::parse_retry_after("-1"));

    harness h;
    h.rx.script = {{429, "2"}, {503, "Sun, 06 Nov 1994 08:49:37 GMT"}};
    std::vector<batch_result> answers;
    auto main = [&]() -> task<void> {
        h.server->start();
        {
            http::client client(h.loop);
            http_sink sink(client, h.options(http_framing::ndjson));
            const std::string r = "{\"id\":1}";
            const std::string_view records[] = {r};
            for (int i = 0; i < 3; ++i) {
                sink_batch b;
                b.key = "k";
                b.records = records;
                answers.push_back(co_await sink.send(b));
            }
            CHECK(sink.stats().retry_after_hints == 1); // the date in the past asks for no wait
        }
        co_await h.server->stop(1s);
    };
    h.loop.run_until_complete(main());
    h.loop.drain();
    REQUIRE(answers.size() == 3);
    REQUIRE(answers[0].request);
    CHECK(answers[0].request->kind == outcome_kind::throttled);
    CHECK(answers[0].request->retry_after == 2000ms);
    REQUIRE(answers[1].request);
    CHECK(answers[1].request->kind == outcome_kind::retry);
    CHECK(answers[1].request->retry_after == 0ms);
    CHECK(!answers[2].request);
    CHECK(answers[2].entries.empty());
    CHECK(h.rx.by_key["k"] == std::multiset<int>{1});
}

TEST_CASE("http sink: the engine does not retry before Retry-After (a lower bound: it cannot be early)") {
    harness h;
    h.rx.script = {{429, "1"}};
    delivery_options d = h.delivery();
    d.retry.max_backoff = 10s; // Retry-After is capped by max_backoff
    const auto results = h.deliver(h.options(http_framing::ndjson), 5, d);
    for (const auto& r : results) CHECK(r.is_ok());
    // The retried records may go out in more than one request (each has its own due time); none early.
    REQUIRE(h.rx.arrivals.size() >= 2);
    for (std::size_t i = 1; i < h.rx.arrivals.size(); ++i) CHECK(h.rx.arrivals[i] - h.rx.arrivals[0] >= 1s);
    CHECK(h.rx.by_key["a"] == range(0, 5));
}

TEST_CASE("http sink: an unreachable endpoint is retried, then fails retryable, saying there was no response") {
    harness h;
    http_sink_options o = h.options(http_framing::ndjson);
    o.url = "http://127.0.0.1:1/ingest"; // nothing listens on port 1
    delivery_options d = h.delivery();
    d.retry.max_attempts = 3;
    const auto results = h.deliver(o, 4, d);
    for (const auto& r : results) {
        CHECK(r.kind == outcome_kind::retry);
        CHECK(r.attempts == 3);
        CHECK_FALSE(r.sent); // the connection was refused every time: nothing left
        CHECK(r.message.find("no response") != std::string::npos);
    }
    CHECK(h.dead.size() == 4);
}

TEST_CASE("http sink: records a framing cannot carry are refused before sending; the rest arrive") {
    auto make = [](int i) -> std::string {
        if (i == 2) return "{\"id\":2,\n\"x\":1}";  // a line break inside: not NDJSON
        if (i == 5) return "{\"id\":5,";            // not JSON
        return "{\"id\":" + std::to_string(i) + "}\n"; // a trailing newline is dropped
    };
    {
        harness h;
        auto make_nd = [&make](int i) { return i == 5 ? std::string("{\"id\":5}") : make(i); };
        const auto results = h.deliver(h.options(http_framing::ndjson), 8, std::nullopt, {"a"}, make_nd);
        CHECK(results[2].kind == outcome_kind::invalid);
        CHECK(results[2].message.find("line break") != std::string::npos);
        std::multiset<int> expected = range(0, 8);
        expected.erase(2);
        CHECK(h.rx.by_key["a"] == expected);
    }
    {
        harness h;
        const auto results = h.deliver(h.options(http_framing::json_array), 8, std::nullopt, {"a"}, make);
        CHECK(results[5].kind == outcome_kind::invalid);
        CHECK(results[5].message.find("not valid JSON") != std::string::npos);
        CHECK(results[2].is_ok()); // a line break is whitespace in JSON
        std::multiset<int> expected = range(0, 8);
        expected.erase(5);
        CHECK(h.rx.by_key["a"] == expected);
    }
    io_loop loop;
    http::client client(loop);
    http_sink_options bad;
    bad.url = "ftp://x/";
    CHECK_THROWS_AS(http_sink(client, bad), std::invalid_argument);
    bad.url = "http://x/";
    bad.method = "GET";
    CHECK_THROWS_AS(http_sink(client, bad), std::invalid_argument);
    bad.method = "PUT";
    bad.headers.push_back({"X-Evil", "a\r\nb"});
    CHECK_THROWS_AS(http_sink(client, bad), std::invalid_argument);
    bad.headers.clear();
    bad.body_compression = compression::lz4;
    CHECK_THROWS_AS(http_sink(client, bad), std::invalid_argument);
}

} // TEST_SUITE

} // namespace test_http_sink

#endif
