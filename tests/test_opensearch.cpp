// The OpenSearch/Elasticsearch _bulk sink: the NDJSON encoder (index templates with fields and
// dates, _id, framing, refusals), the per-item response reader, and the sink on the delivery engine
// against an in-process _bulk endpoint (tests/support/bulk_fake.hpp) that stores documents by id and
// fails on purpose: per-item 429 and 400, whole-request 429/500/413/401, gzip bodies. Every record is
// counted by id. No Elasticsearch or OpenSearch server runs here (docs/opensearch.md says why);
// tests/node/bulk-compare.js checks the official JavaScript clients against the loopback fixture.

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL && SLUICE_HAS_SIMDJSON && SLUICE_HAS_ZLIB

#include "support/bulk_fake.hpp"

#include <sluice/delivery/pipeline.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/server.hpp>
#include <sluice/sinks/opensearch.hpp>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_opensearch {

using namespace sluice;
using namespace std::chrono_literals;

namespace {

std::string doc(int i, std::string_view service = "checkout", std::string_view ts = "2026-12-06T10:00:00Z") {
    return "{\"id\":\"d" + std::to_string(i) + "\",\"service\":\"" + std::string(service) + "\",\"@timestamp\":\"" +
           std::string(ts) + "\",\"n\":" + std::to_string(i) + "}";
}

std::string encode(detail::bulk_encoder& e, std::string_view record, std::string* why = nullptr) {
    std::string body;
    const auto now = std::chrono::sys_days(std::chrono::year(2030) / 1 / 2) + std::chrono::hours(5);
    std::string w = e.append(record, body, now);
    if (why) *why = w;
    return body;
}

bulk_format format(std::string index, std::string id_field = "id", std::string ts = "@timestamp") {
    bulk_format f;
    f.index = std::move(index);
    f.id_field = std::move(id_field);
    f.timestamp_field = std::move(ts);
    return f;
}

/// A loop, the fake _bulk endpoint on http::server, a client and a sink; `body` runs with them.
struct harness {
    io_loop loop;
    sluice_test::bulk_fake fake;
    std::optional<http::server> server;
    std::vector<std::string> dead;  // reasons of dead-lettered records
    std::set<std::string> dead_ids; // their "id" fields

    harness() {
        server.emplace(loop, [this](http::server_request& r) { return fake.handle(r); });
    }

    opensearch_options options() const {
        opensearch_options o;
        o.endpoint = server->url();
        o.format = format("logs-{service}-%Y.%m.%d");
        return o;
    }

    delivery_options delivery(std::string name = "opensearch") {
        delivery_options d;
        d.name = std::move(name);
        d.batch.max_age = 5ms;
        d.retry.max_attempts = 6;
        d.retry.initial_backoff = 1ms;
        d.retry.max_backoff = 5ms;
        d.dead_letter_output = [this](const dead_letter& l) -> task<void> {
            dead.emplace_back(l.reason);
            const auto at = l.record.find("\"id\":\"");
            if (at != std::string_view::npos) dead_ids.insert(std::string(l.record.substr(at + 6, l.record.find('"', at + 6) - at - 6)));
            co_return;
        };
        return d;
    }

    /// Delivers `records` through a pipeline on a sink with `o`; returns the outcome per record.
    std::vector<outcome> deliver(const opensearch_options& o, const std::vector<std::string>& records,
                                 std::optional<delivery_options> d = std::nullopt,
                                 std::function<void(opensearch_sink&)> check = {}) {
        std::vector<outcome> results(records.size());
        auto main = [&]() -> task<void> {
            server->start();
            {
                http::client client(loop);
                opensearch_sink sink(client, o);
                delivery_pipeline<opensearch_sink> p(loop, sink, d ? *d : delivery());
                std::size_t done = 0;
                for (std::size_t i = 0; i < records.size(); ++i) {
                    std::string r = records[i];
                    p.submit(std::move(r), {}, [&results, &done, i](const outcome& out) {
                        results[i] = out;
                        ++done;
                    });
                }
                co_await p.flush();
                co_await p.stop(5s);
                CHECK(done == records.size());
                if (check) check(sink);
            }
            co_await server->stop(1s);
        };
        loop.run_until_complete(main());
        loop.drain();
        return results;
    }
};

std::vector<std::string> docs(int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back(doc(i, i % 2 ? "checkout" : "search", i % 3 ? "2026-12-06T10:00:00Z" : "2026-12-07T23:59:59+00:00"));
    return out;
}

} // namespace

TEST_SUITE("opensearch") {

TEST_CASE("bulk encoder: action and document lines, index from fields and the timestamp's UTC date, _id") {
    detail::bulk_encoder e(format("logs-{service}-%Y.%m.%d"));
    const std::string r = doc(7);
    CHECK(encode(e, r) == "{\"index\":{\"_index\":\"logs-checkout-2026.12.06\",\"_id\":\"d7\"}}\n" + r + "\n");

    // An offset moves the date to UTC; epoch milliseconds and a bare date are Elasticsearch dates too.
    CHECK(encode(e, R"({"id":"a","service":"s","@timestamp":"2026-12-06T22:30:00-05:00"})").starts_with(
        "{\"index\":{\"_index\":\"logs-s-2026.12.07\""));
    CHECK(encode(e, R"({"id":"a","service":"s","@timestamp":1767225600000})").starts_with("{\"index\":{\"_index\":\"logs-s-2026.01.01\""));
    CHECK(encode(e, R"({"id":"a","service":"s","@timestamp":"2026-02-03"})").starts_with("{\"index\":{\"_index\":\"logs-s-2026.02.03\""));

    // No timestamp field: now (the test's "now" is 2030-01-02 05:00 UTC); %H and %% too; create; an
    // integer id; ids are escaped.
    bulk_format f = format("ev-%Y%m%d%H-100%%", "seq", "");
    f.action = bulk_action::create;
    detail::bulk_encoder now_e(f);
    CHECK(encode(now_e, R"({"seq":42})") == "{\"create\":{\"_index\":\"ev-2030010205-100%\",\"_id\":\"42\"}}\n{\"seq\":42}\n");
    CHECK(encode(now_e, R"({"seq":"a\"b"})").starts_with("{\"create\":{\"_index\":\"ev-2030010205-100%\",\"_id\":\"a\\\"b\"}}\n"));

    // No id field: Elasticsearch picks the id. A pretty-printed document becomes one line.
    detail::bulk_encoder plain(format("static", "", ""));
    CHECK(encode(plain, "{\n  \"a\": 1,\n  \"b\": \"x\"\n}") == "{\"index\":{\"_index\":\"static\"}}\n{   \"a\": 1,   \"b\": \"x\" }\n");
}

TEST_CASE("bulk encoder: records it cannot index are refused with the reason, the body untouched") {
    detail::bulk_encoder e(format("logs-{service}-%Y.%m.%d"));
    auto refused = [&](std::string_view record) {
        std::string why;
        const std::string body = encode(e, record, &why);
        CHECK(body.empty());
        return why;
    };
    CHECK(refused("[1,2]") == "the record is not a JSON object");
    CHECK(refused("{\"id\":") == "the record is not a JSON object");
    CHECK(refused(R"({"id":"a","@timestamp":"2026-12-06"})").find("no top-level field \"service\"") != std::string::npos);
    CHECK(refused(R"({"service":"s","@timestamp":"2026-12-06"})").find("no top-level field \"id\"") != std::string::npos);
    CHECK(refused(R"({"id":"a","service":"s"})").find("\"@timestamp\" (the timestamp)") != std::string::npos);
    CHECK(refused(R"({"id":"a","service":"s","@timestamp":"yesterday"})").find("not an ISO-8601") != std::string::npos);
    CHECK(refused(R"({"id":"a","service":"Shop","@timestamp":"2026-12-06"})").find("upper-case") != std::string::npos);
    CHECK(refused(R"({"id":"a","service":"a/b","@timestamp":"2026-12-06"})").find("refuses") != std::string::npos);
    CHECK(refused(R"({"id":"a","service":{"x":1},"@timestamp":"2026-12-06"})").find("not a string or an integer") != std::string::npos);
    CHECK(refused(R"({"id":"","service":"s","@timestamp":"2026-12-06"})").find("empty or over 512") != std::string::npos);

    CHECK_THROWS_AS(detail::bulk_encoder(format("logs-{service")), std::invalid_argument);
    CHECK_THROWS_AS(detail::bulk_encoder(format("logs-{}")), std::invalid_argument);
    CHECK_THROWS_AS(detail::bulk_encoder(format("logs-%y")), std::invalid_argument);
    CHECK_THROWS_AS(detail::bulk_encoder(format("Logs")), std::invalid_argument);
    CHECK_THROWS_AS(detail::bulk_encoder(format("")), std::invalid_argument);
}

TEST_CASE("bulk response: errors:false is all ok; items map by position; 429 throttles, 4xx rejects without the value") {
    detail::bulk_response_reader reader;
    CHECK(reader.read(R"({"took":3,"errors":false,"items":[{"index":{"status":201}}]})", 1).entries.empty());

    const std::string body = R"({"took":3,"errors":true,"items":[
      {"index":{"_index":"a","_id":"1","status":201,"result":"created"}},
      {"index":{"_index":"a","_id":"2","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
      {"create":{"_index":"a","_id":"3","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[3]: version conflict"}}},
      {"index":{"_index":"a","_id":"4","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n] of type [long] in document with id '4'. Preview of field's value: 'hunter2'"}}},
      {"index":{"_index":"a","_id":"5","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active\nforged line"}}},
      {"index":{"_index":"a","_id":"6"}}]})";
    const batch_result r = reader.read(body, 7);
    REQUIRE(!r.request);
    REQUIRE(r.entries.size() == 7);
    CHECK(r.entries[0].is_ok());
    CHECK(r.entries[1].kind == outcome_kind::throttled);
    CHECK(r.entries[1].message == "item status 429: es_rejected_execution_exception: queue full");
    CHECK(r.entries[2].kind == outcome_kind::reject);
    CHECK(r.entries[2].service_code == "version_conflict_engine_exception");
    CHECK(r.entries[3].kind == outcome_kind::reject);
    CHECK(r.entries[3].message.find("failed to parse field [n]") != std::string::npos);
    CHECK(r.entries[3].message.find("hunter2") == std::string::npos);
    CHECK(r.entries[4].kind == outcome_kind::reject);
    CHECK(r.entries[4].message.find('\n') == std::string::npos);
    CHECK(r.entries[5].kind == outcome_kind::retry); // no status: no proof the document is bad
    CHECK(r.entries[6].kind == outcome_kind::retry); // no item at all
    CHECK(reader.missing_items() == 1);

    CHECK(reader.read("<html>gateway</html>", 2).request->kind == outcome_kind::retry);
    CHECK(reader.read(R"({"errors":true})", 2).request->kind == outcome_kind::retry);
    const batch_result extra = reader.read(R"({"errors":true,"items":[{"index":{"status":200}},{"index":{"status":200}}]})", 1);
    CHECK(extra.entries.size() == 1);
    CHECK(reader.extra_items() == 1);
}

TEST_CASE("opensearch sink: 1,500 documents stored once each, by id, in their daily indices") {
    harness h;
    const auto records = docs(1500);
    opensearch_options o = h.options();
    o.max_actions = 200;
    const auto results = h.deliver(o, records);
    for (const auto& r : results) CHECK(r.is_ok());
    CHECK(h.fake.stored() == 1500);
    CHECK(h.fake.actions == 1500);
    for (std::size_t n : h.fake.request_actions) CHECK(n <= 200);
    // Every id in the index its service and date name.
    for (int i = 0; i < 1500; ++i) {
        const std::string index = std::string("logs-") + (i % 2 ? "checkout" : "search") + (i % 3 ? "-2026.12.06" : "-2026.12.07");
        REQUIRE(h.fake.indices.count(index) == 1);
        CHECK(h.fake.indices[index].count("d" + std::to_string(i)) == 1);
    }
    CHECK(h.fake.indices.size() == 4);
}

TEST_CASE("opensearch sink: per-item 429 is retried, 400 goes to the dead letters with its reason, not the value") {
    harness h;
    const auto records = docs(300);
    for (int i = 0; i < 300; i += 7) h.fake.item_429_times["d" + std::to_string(i)] = 2;
    for (int i = 3; i < 300; i += 50) h.fake.item_400.insert("d" + std::to_string(i));
    const auto results = h.deliver(h.options(), records);
    std::set<std::string> rejected;
    for (int i = 0; i < 300; ++i) {
        const std::string id = "d" + std::to_string(i);
        if (h.fake.item_400.count(id)) {
            CHECK(results[static_cast<std::size_t>(i)].kind == outcome_kind::reject);
            rejected.insert(id);
        } else {
            CHECK(results[static_cast<std::size_t>(i)].is_ok());
        }
    }
    CHECK(h.fake.stored() == 300 - rejected.size());
    CHECK(h.dead_ids == rejected);
    REQUIRE(!h.dead.empty());
    for (const auto& why : h.dead) {
        CHECK(why.find("mapper_parsing_exception") != std::string::npos);
        CHECK(why.find("SECRET-VALUE") == std::string::npos);
    }
    // 43 documents throttled twice each: 86 extra actions; the rejected ones were sent once.
    CHECK(h.fake.actions == 300 + 2 * 43);
}

TEST_CASE("opensearch sink: whole-request 429 and 500 are retried; every document arrives once") {
    harness h;
    h.fake.request_statuses = {429, 500, 503};
    const auto results = h.deliver(h.options(), docs(50));
    for (const auto& r : results) CHECK(r.is_ok());
    CHECK(h.fake.stored() == 50);
    CHECK(h.fake.requests >= 4);
}

TEST_CASE("opensearch sink: 413 splits the request in halves; a document too large alone is rejected") {
    harness h;
    auto records = docs(64);
    records[10] = "{\"id\":\"big\",\"service\":\"checkout\",\"@timestamp\":\"2026-12-06\",\"pad\":\"" + std::string(5000, 'x') + "\"}";
    h.fake.max_body_bytes = 3000; // about 20 actions of the small documents
    const auto results = h.deliver(h.options(), records, std::nullopt, [](opensearch_sink& s) { CHECK(s.stats().splits >= 3); });
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (i == 10) {
            CHECK(results[i].kind == outcome_kind::reject);
            CHECK(results[i].message.find("HTTP 413") != std::string::npos);
        } else {
            CHECK(results[i].is_ok());
        }
    }
    CHECK(h.fake.stored() == 63);
    CHECK(h.dead_ids == std::set<std::string>{"big"});
}

TEST_CASE("opensearch sink: requests over max_request_bytes are split before sending") {
    harness h;
    opensearch_options o = h.options();
    o.max_request_bytes = 4096;
    const auto results = h.deliver(o, docs(200), std::nullopt, [](opensearch_sink& s) { CHECK(s.stats().splits > 0); });
    for (const auto& r : results) CHECK(r.is_ok());
    CHECK(h.fake.stored() == 200);
    for (std::size_t n : h.fake.request_actions) CHECK(n * 100 <= 4096); // each action is over 100 bytes
}

TEST_CASE("opensearch sink: basic and bearer credentials; a refused one rejects as authentication failed, never shown") {
    {
        harness h;
        h.fake.expected_authorization = "Basic d3JpdGVyOnMzY3JldCE="; // writer:s3cret!
        opensearch_options o = h.options();
        o.username = "writer";
        o.password = "s3cret!";
        const auto results = h.deliver(o, docs(20));
        for (const auto& r : results) CHECK(r.is_ok());
        CHECK(h.fake.stored() == 20);
    }
    {
        harness h;
        h.fake.expected_authorization = "Bearer tok-123";
        opensearch_options o = h.options();
        o.bearer_token = "tok-123";
        const auto ok = h.deliver(o, docs(5));
        for (const auto& r : ok) CHECK(r.is_ok());
    }
    {
        harness h;
        h.fake.expected_authorization = "Basic d3JpdGVyOnMzY3JldCE=";
        opensearch_options o = h.options();
        o.username = "writer";
        o.password = "wrong-password";
        const auto results = h.deliver(o, docs(5));
        for (const auto& r : results) {
            CHECK(r.kind == outcome_kind::reject);
            CHECK(r.message.find("authentication failed (HTTP 401") != std::string::npos);
            CHECK(r.message.find("wrong-password") == std::string::npos);
            CHECK(r.attempts == 1); // never retried
        }
        CHECK(h.fake.stored() == 0);
    }
    opensearch_options both;
    both.endpoint = "http://127.0.0.1:9200";
    both.username = "u";
    both.bearer_token = "t";
    io_loop loop;
    http::client client(loop);
    CHECK_THROWS_AS(opensearch_sink(client, both), std::invalid_argument);
    both.bearer_token.clear();
    both.endpoint = "http://u:p@127.0.0.1:9200";
    CHECK_THROWS_AS(opensearch_sink(client, both), std::invalid_argument);
}

TEST_CASE("opensearch sink: gzip bodies (Content-Encoding: gzip) carry the same lines") {
    harness h;
    h.fake.keep_bodies = true;
    opensearch_options o = h.options();
    o.gzip = true;
    const auto records = docs(100);
    const auto results = h.deliver(o, records);
    for (const auto& r : results) CHECK(r.is_ok());
    CHECK(h.fake.stored() == 100);
    std::size_t lines = 0;
    for (const auto& b : h.fake.bodies)
        for (char c : b) lines += c == '\n';
    CHECK(lines == 200);
}

TEST_CASE("opensearch sink: documents it cannot index are refused before sending; the rest arrive") {
    harness h;
    auto records = docs(30);
    records[3] = "not json";
    records[4] = "[1,2,3]";
    records[5] = R"({"id":"nosvc","@timestamp":"2026-12-06"})";
    const auto results = h.deliver(h.options(), records);
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (i >= 3 && i <= 5)
            CHECK(results[i].kind == outcome_kind::invalid);
        else
            CHECK(results[i].is_ok());
    }
    CHECK(results[5].message.find("\"service\"") != std::string::npos);
    CHECK(h.fake.stored() == 27);
    CHECK(h.fake.actions == 27); // never sent
}

TEST_CASE("opensearch sink: an unreachable endpoint is retried, then fails as retryable with the reason") {
    harness h;
    opensearch_options o = h.options();
    o.endpoint = "http://127.0.0.1:1"; // nothing listens on port 1
    delivery_options d = h.delivery();
    d.retry.max_attempts = 2;
    const auto results = h.deliver(o, docs(3), d);
    for (const auto& r : results) {
        CHECK(r.kind == outcome_kind::retry);
        CHECK(r.attempts == 2);
        CHECK(r.message.find("no response") != std::string::npos);
    }
}

} // TEST_SUITE

} // namespace test_opensearch

#endif
