// Kinesis PutRecords on the batch layer: validation, the wire format, and the dispatcher against a
// loopback fixture playing Kinesis with what the emulators cannot do: throttling of some records in a
// 200, 5xx, throttled and hung requests, a service that keeps failing. The fixture enforces
// Kinesis's limits (500 records, 10 MiB with keys, 1 MiB per record), so a batcher that breaks one
// fails here. Every record is accounted for by id. The fixture speaks JSON and, as Kinesis does,
// CBOR (application/x-amz-cbor-1.1). (The emulators: test_kinesis_emulator.cpp.)

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON

#include "support/http_server.hpp"

#include <sluice/aws/kinesis.hpp>
#include <sluice/text/base64.hpp>
#include <sluice/text/cbor.hpp>

#include <simdjson.h>

#include <algorithm>
#include <stdexcept>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_kinesis {

using namespace sluice;
using namespace sluice::aws;
using namespace std::chrono_literals;
using sluice_test::http_exchange;
using sluice_test::http_reply;
using sluice_test::http_server;

namespace {

constexpr const char* test_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

struct put_entry {
    std::string data; // decoded
    std::string partition_key;
    std::string explicit_hash_key;
};

// A fake Kinesis: answers PutRecords as the API reference says, with faults chosen by the test.
struct fake_kinesis {
    std::mutex mutex;
    std::vector<put_entry> accepted; // in acceptance order
    std::vector<std::size_t> batch_sizes;
    std::vector<std::string> streams;
    std::size_t requests = 0;
    std::size_t limit_violations = 0;
    std::function<std::optional<http_reply>(std::size_t request)> request_fault = [](std::size_t) {
        return std::optional<http_reply>{};
    };
    /// Per record: empty (accept) or an error code to answer for it in the 200.
    std::function<std::string(const put_entry&)> record_fault = [](const put_entry&) { return std::string(); };

    static http_reply error(int status, std::string_view type, std::string_view message) {
        return http_reply::json(status, R"({"__type":")" + std::string(type) + R"(","message":")" + std::string(message) + "\"}");
    }

    static constexpr std::string_view cbor_type = "application/x-amz-cbor-1.1";

    static http_reply cbor_error(int status, std::string_view type, std::string_view message) {
        namespace cbor = text::cbor;
        http_reply r;
        r.status = status;
        r.headers.emplace_back("Content-Type", std::string(cbor_type));
        cbor::append_head(r.body, cbor::major::map, 2);
        cbor::append_text(r.body, "__type");
        cbor::append_text(r.body, type);
        cbor::append_text(r.body, "message");
        cbor::append_text(r.body, message);
        return r;
    }

    // {"StreamName"|"StreamARN": .., "Records": [ {"Data": base64, "PartitionKey": .., ...} ]}
    static bool read_json(std::string_view body, std::string& stream, std::vector<put_entry>& entries) {
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        std::string_view name;
        simdjson::dom::array records;
        if (parser.parse(body).get(doc) != simdjson::SUCCESS || doc["Records"].get(records) != simdjson::SUCCESS) return false;
        if (doc["StreamName"].get(name) != simdjson::SUCCESS && doc["StreamARN"].get(name) != simdjson::SUCCESS) return false;
        stream = std::string(name);
        for (simdjson::dom::element e : records) {
            put_entry p;
            auto data = text::decode_base64(std::string_view(e["Data"]));
            if (!data) return false;
            p.data = std::move(*data);
            p.partition_key = std::string(std::string_view(e["PartitionKey"]));
            std::string_view h;
            if (e["ExplicitHashKey"].get(h) == simdjson::SUCCESS) p.explicit_hash_key = std::string(h);
            entries.push_back(std::move(p));
        }
        return true;
    }

    // The same map in CBOR, Data a byte string.
    static bool read_cbor(std::string_view body, std::string& stream, std::vector<put_entry>& entries) {
        namespace cbor = text::cbor;
        cbor::reader in(body);
        cbor::item root;
        std::string scratch;
        const auto string_field = [&](cbor::major type, std::string& into) {
            cbor::item v;
            std::string_view view;
            if (!in.next(v) || !in.string_of(v, type, view, scratch)) return false;
            into.assign(view);
            return true;
        };
        const auto entry = [&] {
            cbor::item map;
            put_entry p;
            if (!in.next(map) || !in.for_each(map, [&] {
                    std::string key;
                    if (!string_field(cbor::major::text, key)) return false;
                    if (key == "Data") return string_field(cbor::major::bytes, p.data);
                    if (key == "PartitionKey") return string_field(cbor::major::text, p.partition_key);
                    if (key == "ExplicitHashKey") return string_field(cbor::major::text, p.explicit_hash_key);
                    return false;
                }))
                return false;
            entries.push_back(std::move(p));
            return true;
        };
        const bool read = in.next(root) && in.for_each(root, [&] {
            std::string key;
            if (!string_field(cbor::major::text, key)) return false;
            if (key == "StreamName" || key == "StreamARN") return string_field(cbor::major::text, stream);
            cbor::item list;
            return key == "Records" && in.next(list) && list.type == cbor::major::array && in.for_each(list, entry);
        });
        return read && in.at_end() && !stream.empty();
    }

    http_reply handle(const http_exchange& ex) {
        std::lock_guard lock(mutex);
        ++requests;
        const bool cbor = ex.header("content-type") == cbor_type;
        if (ex.header("x-amz-target") != "Kinesis_20131202.PutRecords" ||
            (!cbor && ex.header("content-type") != "application/x-amz-json-1.1"))
            return error(400, "UnknownOperationException", "wrong target or content type");
        if (auto fault = request_fault(requests)) return *fault;
        std::string stream;
        std::vector<put_entry> entries;
        if (!(cbor ? read_cbor(ex.body, stream, entries) : read_json(ex.body, stream, entries)))
            return cbor ? cbor_error(400, "SerializationException", "bad CBOR") : error(400, "SerializationException", "bad JSON");
        streams.push_back(stream);
        std::size_t total = 0;
        for (const auto& p : entries) {
            total += p.data.size() + p.partition_key.size();
            if (p.data.size() + p.partition_key.size() > (1u << 20)) ++limit_violations;
        }
        if (entries.empty() || entries.size() > 500 || total > (10u << 20)) {
            ++limit_violations;
            return error(400, "ValidationException", "request over Kinesis's limits");
        }
        batch_sizes.push_back(entries.size());
        std::vector<std::string> codes;
        for (const auto& e : entries) {
            codes.push_back(record_fault(e));
            if (codes.back().empty()) accepted.push_back(e);
        }
        return cbor ? cbor_answer(codes) : json_answer(codes);
    }

    // Each accepted record's sequence number is its place among all accepted so far.
    http_reply json_answer(const std::vector<std::string>& codes) const {
        std::string records = "[";
        std::size_t failed = 0, sequence = accepted.size();
        for (const auto& code : codes) sequence -= code.empty() ? 1 : 0;
        for (const auto& code : codes) {
            if (records.size() > 1) records += ',';
            if (code.empty()) {
                records += R"({"SequenceNumber":")" + std::to_string(++sequence) + R"(","ShardId":"shardId-000000000000"})";
            } else {
                ++failed;
                records += R"({"ErrorCode":")" + code + R"(","ErrorMessage":"failed on purpose"})";
            }
        }
        return http_reply::json(200, R"({"FailedRecordCount":)" + std::to_string(failed) + R"(,"Records":)" + records + "]}");
    }

    // The same in CBOR, with "ErrorCode": null on successes as some encoders write it.
    http_reply cbor_answer(const std::vector<std::string>& codes) const {
        namespace cbor = text::cbor;
        std::size_t failed = 0, sequence = accepted.size();
        for (const auto& code : codes) {
            sequence -= code.empty() ? 1 : 0;
            failed += code.empty() ? 0 : 1;
        }
        http_reply r;
        r.headers.emplace_back("Content-Type", std::string(cbor_type));
        std::string& b = r.body;
        cbor::append_head(b, cbor::major::map, 2);
        cbor::append_text(b, "FailedRecordCount");
        cbor::append_head(b, cbor::major::unsigned_integer, failed);
        cbor::append_text(b, "Records");
        cbor::append_head(b, cbor::major::array, codes.size());
        for (const auto& code : codes) {
            cbor::append_head(b, cbor::major::map, 2);
            if (code.empty()) {
                cbor::append_text(b, "SequenceNumber");
                cbor::append_text(b, std::to_string(++sequence));
                cbor::append_text(b, "ErrorCode");
                b += static_cast<char>(0xf6); // null
            } else {
                cbor::append_text(b, "ErrorCode");
                cbor::append_text(b, code);
                cbor::append_text(b, "ErrorMessage");
                cbor::append_text(b, "failed on purpose");
            }
        }
        return r;
    }
};

struct harness {
    fake_kinesis kinesis;
    http_server server{[this](const http_exchange& ex) { return kinesis.handle(ex); }};

    service_client_options client_options() const {
        service_client_options o;
        o.service = "kinesis";
        o.region = "us-east-1";
        o.endpoint = server.url();
        o.attempt_timeout = 10s; // requests of 10 MiB take a while to a Debug build's fixture
        return o;
    }
    std::shared_ptr<credentials_provider> credentials() const {
        aws_credentials c;
        c.access_key_id = "AKIDEXAMPLE123456";
        c.secret_access_key = test_secret;
        return std::make_shared<static_credentials_provider>(c);
    }
};

delivery_options fast_delivery(unsigned attempts = 10) {
    delivery_options d = kinesis_service(kinesis_options{"s", {}, no_overrides, {}, false}).default_delivery();
    d.batch.max_age = 5ms;
    d.retry.max_attempts = attempts;
    d.retry.initial_backoff = 1ms;
    d.retry.max_backoff = 5ms;
    return d;
}

template <class Body>
void run_kinesis(harness& h, kinesis_options options, batch_dispatcher_options common, Body body) {
    io_loop loop;
    auto main = [&]() -> task<void> {
        http::client http(loop);
        service_client client(http, h.credentials(), h.client_options());
        if (!common.delivery) common.delivery = fast_delivery();
        kinesis_dispatcher d(loop, client, kinesis_service(std::move(options)), common);
        co_await d.start();
        co_await body(d);
        co_await d.stop(5s);
    };
    loop.run_until_complete(main());
    loop.drain();
}

kinesis_options stream(std::string name = "events") {
    kinesis_options o;
    o.stream_name = std::move(name);
    return o;
}

/// What ordering runs saw: per partition key the sequence numbers in acceptance order, records
/// accepted in all, and request entries that met an earlier entry of their key in the same request.
struct order_run {
    std::map<std::string, std::vector<int>> by_key;
    std::set<std::string> ids;
    std::size_t accepted = 0;
    std::size_t shared_key_entries = 0;
    std::uint64_t order_waits = 0;
};

/// 400 records over 8 partition keys (50 each, numbered) through a fixture that throttles, then
/// fails, every third record of a key on its first two tries, and answers every ninth request 500.
order_run run_ordering(bool order_by_partition_key) {
    harness h;
    order_run out;
    std::map<std::string, int> tries;
    std::size_t request = 0;
    std::set<std::string> keys_in_request;
    h.kinesis.request_fault = [](std::size_t n) -> std::optional<http_reply> {
        if (n % 9 == 5) return http_reply::text(500, "oops");
        return std::nullopt;
    };
    h.kinesis.record_fault = [&](const put_entry& e) -> std::string {
        if (h.kinesis.requests != request) { // the fixture's lock is held: its counter is this request's
            request = h.kinesis.requests;
            keys_in_request.clear();
        }
        if (!keys_in_request.insert(e.partition_key).second) ++out.shared_key_entries;
        const int seq = std::stoi(e.data.substr(e.data.find(':') + 1));
        const int n = tries[e.data]++;
        if (seq % 3 == 1 && n < 2) return n == 0 ? "ProvisionedThroughputExceededException" : "InternalFailure";
        return {};
    };
    kinesis_options o = stream();
    o.order_by_partition_key = order_by_partition_key;
    batch_dispatcher_options common;
    common.delivery = fast_delivery(20);
    run_kinesis(h, o, common, [&](kinesis_dispatcher& d) -> task<void> {
        for (int i = 0; i < 400; ++i) {
            const std::string key = "key-" + std::to_string(i % 8);
            d.submit(kinesis_record{key + ":" + std::to_string(i / 8), key, {}});
        }
        CHECK((co_await d.flush()).empty());
        out.order_waits = d.pipeline().stats().order_key_waits;
    });
    for (const auto& e : h.kinesis.accepted) {
        out.by_key[e.partition_key].push_back(std::stoi(e.data.substr(e.data.find(':') + 1)));
        out.ids.insert(e.data);
    }
    out.accepted = h.kinesis.accepted.size();
    return out;
}

} // namespace

TEST_SUITE("kinesis") {

TEST_CASE("kinesis: order_by_partition_key keeps each key's records in order through throttling, failures and 500s") {
    const order_run r = run_ordering(true);
    CHECK(r.accepted == 400); // once each: no record accepted twice
    CHECK(r.ids.size() == 400);
    REQUIRE(r.by_key.size() == 8);
    std::vector<int> in_order(50);
    for (int i = 0; i < 50; ++i) in_order[static_cast<std::size_t>(i)] = i;
    for (const auto& [key, seqs] : r.by_key) {
        const std::string& name = key; // clang 14 cannot capture a structured binding (CHECK_MESSAGE does)
        CHECK_MESSAGE(seqs == in_order, name);
    }
    CHECK(r.shared_key_entries == 0); // one record per key in flight: never two of a key in a request
    CHECK(r.order_waits > 0);
}

TEST_CASE("kinesis: without order_by_partition_key the same faults reorder a key's records (what the option prevents)") {
    const order_run r = run_ordering(false);
    CHECK(r.accepted == 400);
    CHECK(r.ids.size() == 400);
    std::size_t keys_out_of_order = 0;
    for (const auto& [key, seqs] : r.by_key) keys_out_of_order += std::is_sorted(seqs.begin(), seqs.end()) ? 0 : 1;
    CHECK(keys_out_of_order > 0);
    CHECK(r.shared_key_entries > 0);
    CHECK(r.order_waits == 0);
}

TEST_CASE("kinesis: the engine draws its retries from the client's retry quota, which successes refill") {
    harness h;
    h.kinesis.request_fault = [](std::size_t n) -> std::optional<http_reply> {
        if (n <= 3) return fake_kinesis::error(400, "LimitExceededException", "Rate exceeded");
        return std::nullopt;
    };
    io_loop loop;
    unsigned lowest = 0, after = 0, capacity = 0;
    std::uint64_t delivered = 0;
    auto main = [&]() -> task<void> {
        http::client http(loop);
        service_client client(http, h.credentials(), h.client_options());
        capacity = client.quota()->capacity();
        batch_dispatcher_options common;
        common.delivery = fast_delivery();
        kinesis_dispatcher d(loop, client, kinesis_service(stream()), common);
        co_await d.start();
        kinesis_record first{"r0", "k", {}};
        co_await d.send(std::move(first)); // throttled three times, then taken
        lowest = client.quota()->available();
        for (int i = 1; i < 20; ++i) {
            kinesis_record r{"r" + std::to_string(i), "k", {}};
            co_await d.send(std::move(r));
        }
        after = client.quota()->available();
        delivered = d.stats().delivered;
        co_await d.stop(5s);
    };
    loop.run_until_complete(main());
    loop.drain();
    CHECK(delivered == 20);
    CHECK(capacity == 500);
    // Three retries drew 5 each; the success that followed gave back what the last one drew.
    CHECK(lowest == 500 - 15 + 5);
    CHECK(after == std::min(500u, lowest + 19)); // each success without a retry gives back 1
}

TEST_CASE("kinesis: validation refuses what Kinesis would, with a reason, before sending") {
    kinesis_service s(stream());
    kinesis_record ok{"payload", "user-1", {}};
    CHECK(s.prepare(ok).empty());

    kinesis_record keyless{"payload", {}, {}};
    CHECK(s.prepare(keyless).empty());
    CHECK(keyless.partition_key.size() == 32); // random, spreads over shards

    kinesis_record long_key{"x", std::string(257, 'k'), {}};
    CHECK(s.prepare(long_key).find("257 characters") != std::string::npos);
    kinesis_record unicode_key{"x", {}, {}};
    for (int i = 0; i < 256; ++i) unicode_key.partition_key += "\xC3\xA9"; // 256 characters, 512 bytes: fine
    CHECK(s.prepare(unicode_key).empty());
    kinesis_record bad_utf8{"x", "ab\xC3", {}};
    CHECK(s.prepare(bad_utf8).find("invalid UTF-8") != std::string::npos);

    // The limit counts data plus key, raw, against the stream's record size.
    kinesis_record exact{std::string((1u << 20) - 3, 'd'), "abc", {}};
    CHECK(s.prepare(exact).empty());
    kinesis_record over{std::string((1u << 20) - 2, 'd'), "abc", {}};
    const std::string why = s.prepare(over);
    CHECK(why.find("1048577 bytes") != std::string::npos);
    CHECK(why.find("1048576") != std::string::npos);

    kinesis_options big = stream();
    big.limits.max_record_bytes = 10u << 20; // MaxRecordSizeInKiB = 10240
    kinesis_service s10(big);
    CHECK(s10.prepare(over).empty());

    for (std::string_view good : {"0", "1", "340282366920938463463374607431768211455"}) {
        kinesis_record r{"x", "k", std::string(good)};
        CHECK_MESSAGE(s.prepare(r).empty(), good);
    }
    for (std::string_view bad : {"", "01", "-1", "1.5", "340282366920938463463374607431768211456", "9999999999999999999999999999999999999999"}) {
        kinesis_record r{"x", "k", std::string(bad)};
        if (bad.empty()) continue; // empty means "none"
        CHECK_MESSAGE(!s.prepare(r).empty(), bad);
    }
    CHECK_THROWS_AS(kinesis_service(kinesis_options{}), std::invalid_argument);
}

TEST_CASE("kinesis: entries and requests are the JSON the API reference shows, binary data intact") {
    kinesis_options o = stream("my stream \"quoted\"");
    o.stream_arn = "arn:aws:kinesis:us-east-1:123456789012:stream/s";
    kinesis_service s(o);
    std::string binary;
    for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
    kinesis_record a{binary, "k\"1\"", "42"};
    kinesis_record b{"{\"json\":true}", "caf\xC3\xA9", {}};
    REQUIRE(s.prepare(a).empty());
    REQUIRE(s.prepare(b).empty());
    std::string ea, eb;
    const entry_meta ma = s.encode_entry(a, ea);
    CHECK(ma.counted == 256 + 4);
    CHECK(ma.order_key.empty()); // ordering is off by default
    const entry_meta mb = s.encode_entry(b, eb);
    CHECK(mb.counted == b.data.size() + b.partition_key.size());
    const std::vector<std::string_view> entries = {ea, eb};
    std::string body;
    [[maybe_unused]] auto state = s.encode_request(sink_batch{{}, entries}, body);

    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(body).get(doc) == simdjson::SUCCESS);
    CHECK(std::string_view(doc["StreamName"]) == "my stream \"quoted\"");
    CHECK(std::string_view(doc["StreamARN"]) == o.stream_arn);
    simdjson::dom::array records = doc["Records"];
    REQUIRE(records.size() == 2);
    CHECK(*text::decode_base64(std::string_view(records.at(0)["Data"])) == binary);
    CHECK(std::string_view(records.at(0)["PartitionKey"]) == "k\"1\"");
    CHECK(std::string_view(records.at(0)["ExplicitHashKey"]) == "42");
    CHECK(*text::decode_base64(std::string_view(records.at(1)["Data"])) == b.data);
    CHECK(std::string_view(records.at(1)["PartitionKey"]) == "caf\xC3\xA9");
    CHECK(records.at(1)["ExplicitHashKey"].error() == simdjson::NO_SUCH_FIELD);

    // The dispatcher keeps only entries of submitted records and rebuilds failed ones from them.
    const kinesis_record ra = s.decode_entry(ea);
    CHECK(ra.data == binary);
    CHECK(ra.partition_key == "k\"1\"");
    CHECK(ra.explicit_hash_key == "42");
    const kinesis_record rb = s.decode_entry(eb);
    CHECK(rb.data == b.data);
    CHECK(rb.partition_key == "caf\xC3\xA9");
    CHECK(rb.explicit_hash_key.empty());
    CHECK_THROWS_AS((void)s.decode_entry("{\"Data\":\"not base64!\",\"PartitionKey\":\"k\"}"), std::logic_error);
}

TEST_CASE("kinesis: 1,200 records arrive once each, in requests within Kinesis's limits") {
    harness h;
    run_kinesis(h, stream(), {}, [&](kinesis_dispatcher& d) -> task<void> {
        for (int i = 0; i < 1200; ++i) d.submit(kinesis_record{"{\"id\":" + std::to_string(i) + "}", "user-" + std::to_string(i % 7), {}});
        auto unprocessed = co_await d.flush();
        CHECK(unprocessed.empty());
        CHECK(d.stats().delivered == 1200);
    });
    std::set<std::string> ids;
    for (const auto& e : h.kinesis.accepted) ids.insert(e.data);
    CHECK(ids.size() == 1200);
    CHECK(h.kinesis.accepted.size() == 1200);
    CHECK(h.kinesis.limit_violations == 0);
    for (auto n : h.kinesis.batch_sizes) CHECK(n <= 500);
    for (const auto& s : h.kinesis.streams) CHECK(s == "events");
}

TEST_CASE("kinesis: big records fill requests up to 10 MiB, never over") {
    harness h;
    run_kinesis(h, stream(), {}, [&](kinesis_dispatcher& d) -> task<void> {
        for (int i = 0; i < 40; ++i) {
            std::string data = std::to_string(i) + ":" + std::string(900'000, 'x');
            d.submit(kinesis_record{std::move(data), "k" + std::to_string(i), {}});
        }
        auto unprocessed = co_await d.flush();
        CHECK(unprocessed.empty());
    });
    // At least once: under a sanitizer a 10 MiB request can outlive its attempt timeout after the
    // fixture accepted it, and the resend is a legitimate duplicate. Every record arrives; none is lost.
    std::set<std::string> ids;
    for (const auto& e : h.kinesis.accepted) ids.insert(e.data.substr(0, e.data.find(':')));
    CHECK(ids.size() == 40);
    CHECK(h.kinesis.accepted.size() >= 40);
    CHECK(h.kinesis.limit_violations == 0);
    CHECK(h.kinesis.batch_sizes.size() >= 4); // 36 MB cannot go in fewer than four 10 MiB requests
}

TEST_CASE("kinesis: throttled and failed records in a 200 are retried alone; the rest are not sent again") {
    harness h;
    std::map<std::string, int> failures_left; // data -> failures to answer before accepting
    for (int i = 0; i < 300; i += 10) failures_left["r" + std::to_string(i)] = 2;
    h.kinesis.record_fault = [&](const put_entry& e) -> std::string {
        auto it = failures_left.find(e.data);
        if (it == failures_left.end() || it->second == 0) return {};
        --it->second;
        return it->second % 2 == 0 ? "InternalFailure" : "ProvisionedThroughputExceededException";
    };
    std::uint64_t throttled = 0;
    run_kinesis(h, stream(), {}, [&](kinesis_dispatcher& d) -> task<void> {
        for (int i = 0; i < 300; ++i) d.submit(kinesis_record{"r" + std::to_string(i), "k" + std::to_string(i % 5), {}});
        auto unprocessed = co_await d.flush();
        CHECK(unprocessed.empty());
        throttled = d.pipeline().stats().throttled;
    });
    std::size_t sent = 0;
    for (auto n : h.kinesis.batch_sizes) sent += n;
    CHECK(sent == 300 + 30 * 2); // only the 30 flaky records went again, twice each
    std::multiset<std::string> got;
    for (const auto& e : h.kinesis.accepted) got.insert(e.data);
    CHECK(got.size() == 300);
    CHECK(std::set<std::string>(got.begin(), got.end()).size() == 300);
    CHECK(throttled >= 1);
}

TEST_CASE("kinesis: a hot partition key throttled alone backs off alone; the sink's adaptive concurrency holds") {
    // Every record of key "hot" is throttled on its first try (a hot shard); the seven other keys
    // never are. Each 1 ms a producer submits one record of each key, so every request carries a
    // minority of throttled entries. Such an answer must not slow the whole sink: the adaptive limit
    // starts at its ceiling and stays there (latency spikes are not counted in this test).
    harness h;
    std::set<std::string> throttled_once;
    h.kinesis.record_fault = [&](const put_entry& e) -> std::string {
        if (e.partition_key != "hot" || !throttled_once.insert(e.data).second) return {};
        return "ProvisionedThroughputExceededException";
    };
    batch_dispatcher_options common;
    common.delivery = fast_delivery();
    common.delivery->concurrency.adaptive = true;
    common.delivery->concurrency.max_in_flight = 8;
    common.delivery->concurrency.initial_in_flight = 8;
    common.delivery->concurrency.latency_tolerance = 1e9;
    std::size_t lowest_limit = 8;
    delivery_stats stats;
    run_kinesis(h, stream(), common, [&](kinesis_dispatcher& d) -> task<void> {
        for (int round = 0; round < 100; ++round) {
            d.submit(kinesis_record{"hot:" + std::to_string(round), "hot", {}});
            for (int k = 0; k < 7; ++k)
                d.submit(kinesis_record{"cold-" + std::to_string(k) + ":" + std::to_string(round), "cold-" + std::to_string(k), {}});
            co_await d.loop().sleep_for(1ms);
            lowest_limit = std::min(lowest_limit, d.pipeline().stats().concurrency_limit);
        }
        CHECK((co_await d.flush()).empty());
        stats = d.pipeline().stats();
    });
    std::set<std::string> ids;
    for (const auto& e : h.kinesis.accepted) ids.insert(e.data);
    CHECK(h.kinesis.accepted.size() == 800); // once each
    CHECK(ids.size() == 800);
    CHECK(throttled_once.size() == 100);
    CHECK(stats.throttled_records == 100);
    CHECK(stats.throttled >= 1);
    CHECK(lowest_limit == 8);
    CHECK(stats.concurrency_limit == 8);
}

TEST_CASE("kinesis: 500, 503 and throttled requests are retried; a hung request times out and goes again") {
    harness h;
    h.kinesis.request_fault = [](std::size_t n) -> std::optional<http_reply> {
        if (n == 1) {
            http_reply r;
            r.action = http_reply::fault::hang;
            return r;
        }
        if (n % 4 == 2) return fake_kinesis::error(400, "LimitExceededException", "Rate exceeded");
        if (n % 5 == 3) return http_reply::text(500, "oops");
        if (n % 7 == 4) return http_reply::text(503, "<html>Service Unavailable</html>");
        return std::nullopt;
    };
    // About half the requests fail: 40 attempts make a record's running out of them (0.5^40) as good as
    // impossible, whatever the batching under load.
    batch_dispatcher_options many_attempts;
    many_attempts.delivery = fast_delivery(40);
    run_kinesis(h, stream(), many_attempts, [&](kinesis_dispatcher& d) -> task<void> {
        for (int i = 0; i < 200; ++i) d.submit(kinesis_record{"r" + std::to_string(i), "k", {}});
        auto unprocessed = co_await d.flush();
        CHECK(unprocessed.empty());
    });
    std::set<std::string> got;
    for (const auto& e : h.kinesis.accepted) got.insert(e.data);
    CHECK(got.size() == 200);
    CHECK(h.kinesis.accepted.size() == 200);
    h.server.stop();
}

TEST_CASE("kinesis: a stream that does not exist hands every record back, rejected, with the reason and request id") {
    harness h;
    h.kinesis.request_fault = [](std::size_t) -> std::optional<http_reply> {
        http_reply r = fake_kinesis::error(400, "ResourceNotFoundException", "Stream events under account 123 not found.");
        r.headers.emplace_back("x-amzn-RequestId", "req-404");
        return r;
    };
    std::vector<batch_unprocessed<kinesis_record>> unprocessed;
    std::uint64_t requests = 0;
    run_kinesis(h, stream(), {}, [&](kinesis_dispatcher& d) -> task<void> {
        for (int i = 0; i < 30; ++i) d.submit(kinesis_record{"r" + std::to_string(i), "k", {}});
        d.submit(kinesis_record{"too big" + std::string(1u << 20, 'x'), "k", {}});
        unprocessed = co_await d.flush();
        requests = d.pipeline().stats().requests;
    });
    REQUIRE(unprocessed.size() == 31);
    std::set<std::string> ids;
    for (const auto& u : unprocessed) {
        ids.insert(u.record.data.substr(0, 7));
        if (u.record.data.starts_with("too big")) {
            CHECK(u.details.kind == outcome_kind::invalid);
            CHECK_FALSE(u.sent);
            continue;
        }
        CHECK(u.details.kind == outcome_kind::reject); // no retry can create the stream
        CHECK(u.details.service_code == "ResourceNotFoundException");
        CHECK(u.details.request_id == "req-404");
        CHECK(u.sent);
        CHECK(u.attempts == 1);
        CHECK(u.reason.find(test_secret) == std::string::npos);
    }
    CHECK(ids.size() == 31);
    CHECK(requests == h.kinesis.requests); // one HTTP request per engine request: no hidden retries
    CHECK(h.kinesis.accepted.empty());
}

TEST_CASE("kinesis: a request sent in pieces is the same bytes, signed the same, as one body") {
    // The batch sink hands the client a frame and the entries where the engine holds them; the
    // client hashes them piece by piece for SigV4 and libcurl reads them through a callback.
    std::mutex mutex;
    std::vector<std::pair<std::string, std::string>> seen; // (X-Amz-Date + Authorization, body)
    http_server server([&](const http_exchange& ex) {
        std::lock_guard lock(mutex);
        seen.emplace_back(std::string(ex.header("x-amz-date").value_or("")) + " " +
                              std::string(ex.header("authorization").value_or("")),
                          ex.body);
        return http_reply::json(200, "{}");
    });
    harness h;
    service_client_options o = h.client_options();
    o.endpoint = server.url();
    std::string big(200000, 'x');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
    const std::vector<std::string_view> pieces = {"{\"Records\":[", "", big, ",", "{\"k\":1}", "]}"};
    std::string joined;
    for (auto p : pieces) joined += p;
    bool same_second = false;
    io_loop loop;
    loop.run_until_complete([&]() -> task<void> {
        http::client http(loop);
        service_client client(http, h.credentials(), o);
        for (int round = 0; round < 5 && !same_second; ++round) {
            call_options c;
            c.content_type = "application/x-amz-json-1.1";
            c.single_attempt = true;
            const std::span<const std::string_view> parts(pieces);
            auto a = co_await client.call_json("Kinesis_20131202.PutRecords", parts, c);
            auto b = co_await client.call_json("Kinesis_20131202.PutRecords", std::string_view(joined), c);
            CHECK(a.ok());
            CHECK(b.ok());
            std::lock_guard lock(mutex);
            const auto& x = seen[seen.size() - 2];
            const auto& y = seen.back();
            CHECK(x.second == joined);
            CHECK(y.second == joined);
            same_second = x.first.substr(0, 16) == y.first.substr(0, 16); // X-Amz-Date: same second
            if (same_second) CHECK(x.first == y.first); // then the same signature
        }
    }());
    loop.drain();
    CHECK(same_second);
}

TEST_CASE("kinesis: CBOR entries and requests are the same map with Data as raw bytes, a quarter smaller") {
    namespace cbor = text::cbor;
    kinesis_options o = stream("my stream");
    o.stream_arn = "arn:aws:kinesis:us-east-1:123456789012:stream/s";
    o.protocol = wire_protocol::cbor_1_1;
    kinesis_service s(o);
    CHECK(s.wire() == wire_protocol::cbor_1_1);
    std::string binary;
    for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
    const std::vector<kinesis_record> records = {{binary, "k\"1\"", "42"}, {"{\"json\":true}", "caf\xC3\xA9", {}},
                                                 {std::string(70000, 'x'), "big", {}}};
    std::vector<std::string> entries(records.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
        kinesis_record r = records[i];
        REQUIRE(s.prepare(r).empty());
        CHECK(s.encode_entry(r, entries[i]).counted == r.data.size() + r.partition_key.size());
        const kinesis_record back = s.decode_entry(entries[i]); // what flush() hands back
        CHECK(back.data == r.data);
        CHECK(back.partition_key == r.partition_key);
        CHECK(back.explicit_hash_key == r.explicit_hash_key);
    }
    const std::vector<std::string_view> views(entries.begin(), entries.end());
    std::string body;
    [[maybe_unused]] auto state = s.encode_request(sink_batch{{}, views}, body);
    // Read it back as a CBOR reader that knows nothing of sluice's framing would.
    cbor::reader in(body);
    cbor::item root;
    REQUIRE(in.next(root));
    CHECK(root.type == cbor::major::map);
    CHECK(root.value == 3);
    std::map<std::string, std::string> fields;
    std::vector<std::map<std::string, std::string>> got;
    std::string scratch;
    const auto string_value = [&](std::string& into) {
        cbor::item v;
        std::string_view view;
        const bool ok = in.next(v) && (v.type == cbor::major::text || v.type == cbor::major::bytes) &&
                        in.string_of(v, v.type, view, scratch);
        into.assign(view);
        return ok;
    };
    REQUIRE(in.for_each(root, [&] {
        std::string key;
        if (!string_value(key)) return false;
        if (key != "Records") return string_value(fields[key]);
        cbor::item list;
        if (!in.next(list) || list.type != cbor::major::array || !list.indefinite) return false;
        return in.for_each(list, [&] {
            cbor::item e;
            if (!in.next(e) || e.type != cbor::major::map) return false;
            got.emplace_back();
            return in.for_each(e, [&] {
                std::string k;
                return string_value(k) && string_value(got.back()[k]);
            });
        });
    }));
    CHECK(in.at_end());
    CHECK(fields["StreamName"] == "my stream");
    CHECK(fields["StreamARN"] == o.stream_arn);
    REQUIRE(got.size() == 3);
    CHECK(got[0]["Data"] == binary);
    CHECK(got[0]["PartitionKey"] == "k\"1\"");
    CHECK(got[0]["ExplicitHashKey"] == "42");
    CHECK(got[1]["Data"] == records[1].data);
    CHECK(got[1].count("ExplicitHashKey") == 0);
    CHECK(got[2]["Data"].size() == 70000);
    // The same records in JSON: base64 makes them about a third larger.
    kinesis_service json(stream("my stream"));
    std::string je;
    kinesis_record r0 = records[2];
    REQUIRE(json.prepare(r0).empty());
    (void)json.encode_entry(r0, je);
    CHECK(entries[2].size() * 4 < je.size() * 3 + 100);
    CHECK_THROWS_AS((void)s.decode_entry(std::string("\xa1\x64" "Data\x41x", 8)), std::logic_error); // no key
    CHECK_THROWS_AS(kinesis_service(kinesis_options{"s", {}, no_overrides, {}, false, wire_protocol::json_1_0}),
                    std::invalid_argument);
}

TEST_CASE("kinesis: CBOR responses give per-record outcomes by position; malformed ones fail the request, retryable") {
    namespace cbor = text::cbor;
    kinesis_options o = stream();
    o.protocol = wire_protocol::cbor_1_1;
    kinesis_service s(o);
    const std::vector<std::string_view> three = {"a", "b", "c"};
    kinesis_service::request_state state;
    // codes: "" success, "-" ErrorCode null, "#" ErrorCode a number (unreadable), else the code.
    const auto answer = [](std::vector<std::string> codes, bool indefinite, std::uint64_t stated) {
        std::string b;
        cbor::append_head(b, cbor::major::map, 3);
        cbor::append_text(b, "EncryptionType");
        cbor::append_text(b, "NONE");
        cbor::append_text(b, "Records");
        if (indefinite)
            b += cbor::indefinite_array;
        else
            cbor::append_head(b, cbor::major::array, codes.size());
        for (const auto& c : codes) {
            cbor::append_head(b, cbor::major::map, 2);
            cbor::append_text(b, "ShardId");
            cbor::append_text(b, "shardId-000000000000");
            cbor::append_text(b, "ErrorCode");
            if (c.empty() || c == "-")
                b += static_cast<char>(0xf6);
            else if (c == "#")
                cbor::append_head(b, cbor::major::unsigned_integer, 7);
            else
                cbor::append_text(b, c);
        }
        if (indefinite) b += cbor::break_byte;
        cbor::append_text(b, "FailedRecordCount");
        cbor::append_head(b, cbor::major::unsigned_integer, stated);
        return b;
    };
    batch_result ok = s.read_response(answer({"", "-", ""}, false, 0), sink_batch{{}, three}, state);
    CHECK_FALSE(ok.request);
    CHECK(ok.entries.empty()); // all taken
    batch_result mixed =
        s.read_response(answer({"ProvisionedThroughputExceededException", "", "InternalFailure"}, true, 2), sink_batch{{}, three}, state);
    REQUIRE(mixed.entries.size() == 3);
    CHECK(mixed.entries[0].kind == outcome_kind::throttled);
    CHECK(mixed.entries[0].service_code == "ProvisionedThroughputExceededException");
    CHECK(mixed.entries[1].is_ok());
    CHECK(mixed.entries[2].kind == outcome_kind::retry);
    CHECK(s.failed_count_mismatches() == 0);
    (void)s.read_response(answer({"InternalFailure", "", ""}, false, 0), sink_batch{{}, three}, state);
    CHECK(s.failed_count_mismatches() == 1); // the per-record results are trusted
    batch_result odd = s.read_response(answer({"", "#", ""}, false, 0), sink_batch{{}, three}, state);
    REQUIRE(odd.entries.size() == 3);
    CHECK(odd.entries[1].kind == outcome_kind::retry);
    const std::string good = answer({"", "", ""}, false, 0);
    for (const std::string& bad : {answer({"", ""}, false, 0), good.substr(0, good.size() - 3), good + "\x01",
                                   std::string("{\"Records\":[]}"), std::string()}) {
        batch_result r = s.read_response(bad, sink_batch{{}, three}, state);
        REQUIRE(r.request);
        CHECK(r.request->kind == outcome_kind::retry);
    }
}

TEST_CASE("kinesis: over CBOR, throttled records are retried alone, and a CBOR error rejects with its code") {
    harness h;
    std::map<std::string, int> failures_left;
    for (int i = 0; i < 200; i += 10) failures_left["r" + std::to_string(i)] = 1;
    h.kinesis.record_fault = [&](const put_entry& e) -> std::string {
        auto it = failures_left.find(e.data);
        if (it == failures_left.end() || it->second == 0) return {};
        --it->second;
        return "ProvisionedThroughputExceededException";
    };
    kinesis_options o = stream();
    o.protocol = wire_protocol::cbor_1_1;
    std::string binary;
    for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
    run_kinesis(h, o, {}, [&](kinesis_dispatcher& d) -> task<void> {
        for (int i = 0; i < 200; ++i) d.submit(kinesis_record{"r" + std::to_string(i), "k" + std::to_string(i % 5), {}});
        d.submit(kinesis_record{binary, "binary", {}});
        CHECK((co_await d.flush()).empty());
    });
    std::size_t sent = 0;
    for (auto n : h.kinesis.batch_sizes) sent += n;
    CHECK(sent == 201 + 20); // only the 20 throttled records went again
    std::set<std::string> got;
    for (const auto& e : h.kinesis.accepted) got.insert(e.data);
    CHECK(got.size() == 201);
    CHECK(got.count(binary) == 1);

    harness missing;
    missing.kinesis.request_fault = [](std::size_t) -> std::optional<http_reply> {
        return fake_kinesis::cbor_error(400, "ResourceNotFoundException", "Stream events under account 123 not found.");
    };
    std::vector<batch_unprocessed<kinesis_record>> unprocessed;
    run_kinesis(missing, o, {}, [&](kinesis_dispatcher& d) -> task<void> {
        for (int i = 0; i < 10; ++i) d.submit(kinesis_record{"r" + std::to_string(i), "k", {}});
        unprocessed = co_await d.flush();
    });
    REQUIRE(unprocessed.size() == 10);
    for (const auto& u : unprocessed) {
        CHECK(u.details.kind == outcome_kind::reject);
        CHECK(u.details.service_code == "ResourceNotFoundException");
        CHECK(u.record.partition_key == "k"); // rebuilt from its CBOR entry
        CHECK(u.reason.find("not found") != std::string::npos);
    }
}

TEST_CASE("kinesis: failed records come back from flush() as sent: their bytes, the key sluice chose, the hash key") {
    harness h;
    h.kinesis.request_fault = [](std::size_t) -> std::optional<http_reply> {
        return fake_kinesis::error(400, "ResourceNotFoundException", "Stream events under account 123 not found.");
    };
    std::vector<batch_unprocessed<kinesis_record>> unprocessed;
    std::string binary;
    for (int i = 0; i < 256; ++i) binary += static_cast<char>(255 - i);
    run_kinesis(h, stream(), {}, [&](kinesis_dispatcher& d) -> task<void> {
        d.submit(kinesis_record{binary, "key \"one\"", "170141183460469231731687303715884105728"});
        d.submit(kinesis_record{"no key given", {}, {}}); // prepare() picks a random partition key
        unprocessed = co_await d.flush();
    });
    REQUIRE(unprocessed.size() == 2);
    std::sort(unprocessed.begin(), unprocessed.end(),
              [](const auto& x, const auto& y) { return x.record.data.size() > y.record.data.size(); });
    CHECK(unprocessed[0].record.data == binary);
    CHECK(unprocessed[0].record.partition_key == "key \"one\"");
    CHECK(unprocessed[0].record.explicit_hash_key == "170141183460469231731687303715884105728");
    CHECK(unprocessed[1].record.data == "no key given");
    CHECK_FALSE(unprocessed[1].record.partition_key.empty()); // the key it was sent with
    CHECK(unprocessed[1].record.explicit_hash_key.empty());
    for (const auto& u : unprocessed) {
        CHECK(u.details.kind == outcome_kind::reject);
        CHECK(u.sent);
    }
}

TEST_CASE("kinesis: send() resolves with the record's own outcome; a collector sees it in its result") {
    harness h;
    h.kinesis.record_fault = [](const put_entry& e) -> std::string {
        return e.data == "poison" ? "KMSAccessDeniedException" : std::string();
    };
    run_kinesis(h, stream(), {}, [&](kinesis_dispatcher& d) -> task<void> {
        // Named records: GCC 12 miscompiles braced temporaries inside a co_await operand (README).
        kinesis_record fine{"fine", "k", {}};
        const batch_receipt ok = co_await d.send(std::move(fine));
        CHECK(ok.attempts == 1);
        bool threw = false;
        try {
            kinesis_record poison{"poison", "k", {}};
            co_await d.send(std::move(poison));
        } catch (const delivery_error& e) {
            threw = true;
            CHECK(e.kind() == outcome_kind::reject);
            CHECK(e.service_code() == "KMSAccessDeniedException");
            CHECK(e.sent());
        }
        CHECK(threw);
    });
}

} // TEST_SUITE

} // namespace test_kinesis

#endif
