// Firehose PutRecordBatch on the batch layer: validation, the wire format, newline framing and
// aggregation, and the dispatcher against a loopback fixture that follows the API reference (no
// Firehose emulator exists): it enforces 500 records, 1,000 KiB per record and 4 MiB per request,
// answers per record by position, and fails records or requests on purpose. Every record is
// accounted for by id through partial failures, throttling and outages.

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON

#include "support/aws_harness.hpp"

#include <sluice/aws/firehose.hpp>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_firehose {

using namespace sluice;
using namespace sluice::aws;
using namespace std::chrono_literals;
using sluice_test::aws_error;
using sluice_test::http_reply;

namespace {

using harness = sluice_test::aws_harness<sluice_test::fake_firehose>;

firehose_service stream(bool newline = false, bool aggregate = false) {
    firehose_options o;
    o.delivery_stream = "events";
    o.newline = newline;
    o.aggregate = aggregate;
    return firehose_service(o);
}

std::string id_record(int i, std::size_t pad = 0) { return "{\"id\":" + std::to_string(i) + ",\"pad\":\"" + std::string(pad, 'p') + "\"}"; }

/// Ids of records in data (one record, or newline-framed lines).
std::multiset<int> ids_in(const std::vector<std::string>& accepted) {
    std::multiset<int> ids;
    for (const auto& data : accepted) {
        std::istringstream lines(data);
        std::string line;
        while (std::getline(lines, line)) {
            const auto at = line.find("{\"id\":");
            if (at != std::string::npos) ids.insert(std::stoi(line.substr(at + 6)));
        }
    }
    return ids;
}

} // namespace

TEST_SUITE("firehose") {

TEST_CASE("firehose: validation refuses empty and oversized records, counting the newline it adds") {
    auto s = stream();
    firehose_record ok{std::string(1'024'000, 'x')};
    CHECK(s.prepare(ok).empty());
    firehose_record empty{""};
    CHECK(s.prepare(empty).find("empty") != std::string::npos);
    firehose_record over{std::string(1'024'001, 'x')};
    CHECK(s.prepare(over).find("1024001 bytes") != std::string::npos);

    auto framed = stream(true);
    CHECK(framed.prepare(ok).find("with its newline") != std::string::npos); // 1,024,000 + '\n' is too big
    firehose_record ends_in_newline{std::string(1'023'999, 'x') + "\n"};
    CHECK(framed.prepare(ends_in_newline).empty()); // no second newline added
    firehose_record empty_framed{""};
    CHECK(framed.prepare(empty_framed).empty()); // becomes "\n"

    firehose_options bad;
    bad.delivery_stream = "has space";
    CHECK_THROWS_AS(firehose_service{bad}, std::invalid_argument);
    bad.delivery_stream = std::string(65, 'a');
    CHECK_THROWS_AS(firehose_service{bad}, std::invalid_argument);
}

TEST_CASE("firehose: entries are base64 of the record (and its newline); requests name the stream") {
    auto s = stream(true);
    std::string binary;
    for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
    firehose_record a{binary}, b{"line\n"};
    std::string ea, eb;
    CHECK(s.encode_entry(a, ea).counted == 257);
    CHECK(s.encode_entry(b, eb).counted == 5);
    const std::vector<std::string_view> entries = {ea, eb};
    std::string body;
    [[maybe_unused]] auto state = s.encode_request(sink_batch{{}, entries}, body);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(body).get(doc) == simdjson::SUCCESS);
    CHECK(std::string_view(doc["DeliveryStreamName"]) == "events");
    simdjson::dom::array records = doc["Records"];
    REQUIRE(records.size() == 2);
    CHECK(*text::decode_base64(std::string_view(records.at(0)["Data"])) == binary + "\n");
    CHECK(*text::decode_base64(std::string_view(records.at(1)["Data"])) == "line\n");
}

TEST_CASE("firehose: aggregation packs a request's records into few Firehose records and maps results back") {
    auto s = stream(true, true);
    std::vector<std::string> storage;
    for (int i = 0; i < 2000; ++i) {
        firehose_record r{id_record(i, 1100)};
        std::string e;
        [[maybe_unused]] auto meta = s.encode_entry(r, e);
        storage.push_back(std::move(e));
    }
    std::vector<std::string_view> entries(storage.begin(), storage.end());
    std::string body;
    auto state = s.encode_request(sink_batch{{}, entries}, body);
    CHECK(state.packed == 2000);
    std::size_t total = 0;
    for (auto n : state.group_sizes) total += n;
    CHECK(total == 2000);
    CHECK(state.group_sizes.size() == 3); // 2.2 MB of records in 1,000 KiB Firehose records
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(body).get(doc) == simdjson::SUCCESS);
    std::vector<std::string> decoded;
    for (simdjson::dom::element r : doc["Records"].get_array()) {
        decoded.push_back(*text::decode_base64(std::string_view(r["Data"])));
        CHECK(decoded.back().size() <= 1'024'000);
    }
    const auto ids = ids_in(decoded);
    CHECK(ids.size() == 2000);
    CHECK(std::set<int>(ids.begin(), ids.end()).size() == 2000);

    // The second Firehose record failed: exactly its records are retried.
    const std::string response = R"({"FailedPutCount":1,"RequestResponses":[{"RecordId":"a"},{"ErrorCode":"ServiceUnavailableException","ErrorMessage":"slow"},{"RecordId":"c"}]})";
    const batch_result r = s.read_response(response, sink_batch{{}, entries}, state);
    REQUIRE(r.entries.size() == 2000);
    for (std::size_t i = 0; i < 2000; ++i) {
        const bool in_second = i >= state.group_sizes[0] && i < state.group_sizes[0] + state.group_sizes[1];
        CHECK(r.entries[i].throttled() == in_second);
    }
}

TEST_CASE("firehose: 1,500 records arrive once each in requests within PutRecordBatch's limits") {
    harness h("firehose");
    h.run(stream(), {}, [&](firehose_dispatcher& d) -> task<void> {
        for (int i = 0; i < 1500; ++i) d.submit(firehose_record{id_record(i)});
        auto unprocessed = co_await d.flush();
        CHECK(unprocessed.empty());
        CHECK(d.stats().delivered == 1500);
    });
    const auto ids = ids_in(h.fake.accepted);
    CHECK(ids.size() == 1500);
    CHECK(std::set<int>(ids.begin(), ids.end()).size() == 1500);
    CHECK(h.fake.limit_violations == 0);
    CHECK(h.fake.batch_sizes.size() >= 3);
}

TEST_CASE("firehose: large records fill requests up to 4 MiB, never over") {
    harness h("firehose");
    h.run(stream(), {}, [&](firehose_dispatcher& d) -> task<void> {
        for (int i = 0; i < 14; ++i) d.submit(firehose_record{id_record(i, 950'000)});
        CHECK((co_await d.flush()).empty());
    });
    CHECK(ids_in(h.fake.accepted).size() == 14);
    CHECK(h.fake.limit_violations == 0);
    CHECK(h.fake.batch_sizes.size() >= 4); // 13.3 MB cannot go in fewer than four 4 MiB requests
}

TEST_CASE("firehose: throttled and failed records in a 200 are retried alone, aggregated or not") {
    for (const bool aggregate : {false, true}) {
        CAPTURE(aggregate);
        harness h("firehose");
        std::map<int, int> failures_left;
        for (int i = 0; i < 600; i += 7) failures_left[i] = 2;
        h.fake.record_fault = [&](const std::string& data) -> std::string {
            if (aggregate) { // a Firehose record carries many: fail it while one of them is flaky
                for (const int id : ids_in({data}))
                    if (failures_left.contains(id) && failures_left[id] > 0) {
                        for (const int other : ids_in({data}))
                            if (failures_left.contains(other) && failures_left[other] > 0) --failures_left[other];
                        return "ServiceUnavailableException";
                    }
                return {};
            }
            const int id = *ids_in({data}).begin();
            if (!failures_left.contains(id) || failures_left[id] == 0) return {};
            return --failures_left[id] % 2 == 0 ? "InternalFailure" : "ServiceUnavailableException";
        };
        std::uint64_t throttled = 0;
        h.run(stream(true, aggregate), {}, [&](firehose_dispatcher& d) -> task<void> {
            for (int i = 0; i < 600; ++i) d.submit(firehose_record{id_record(i)});
            CHECK((co_await d.flush()).empty());
            throttled = d.pipeline().stats().throttled;
        });
        const auto ids = ids_in(h.fake.accepted);
        CHECK(ids.size() == 600); // each exactly once: a failed (aggregate) record stored nothing
        CHECK(std::set<int>(ids.begin(), ids.end()).size() == 600);
        CHECK(throttled >= 1);
        CHECK(h.fake.limit_violations == 0);
    }
}

TEST_CASE("firehose: a missing stream rejects every record with the service's code; 500s are throttling, retried") {
    harness h("firehose");
    h.fake.streams = {"other"};
    std::vector<batch_unprocessed<firehose_record>> unprocessed;
    h.run(stream(), {}, [&](firehose_dispatcher& d) -> task<void> {
        for (int i = 0; i < 40; ++i) d.submit(firehose_record{id_record(i)});
        unprocessed = co_await d.flush();
    });
    REQUIRE(unprocessed.size() == 40);
    std::set<std::string> ids;
    for (const auto& u : unprocessed) {
        ids.insert(u.record.data);
        CHECK(u.details.kind == outcome_kind::reject);
        CHECK(u.details.service_code == "ResourceNotFoundException");
        CHECK(u.attempts == 1);
        CHECK(u.reason.find(sluice_test::fake_secret) == std::string::npos);
    }
    CHECK(ids.size() == 40);

    harness busy("firehose");
    busy.fake.request_fault = [](std::size_t n) -> std::optional<http_reply> {
        if (n <= 3) return aws_error(500, "ServiceUnavailableException", "Slow down.", sluice_test::json_1_1);
        return std::nullopt;
    };
    std::uint64_t throttled = 0;
    busy.run(stream(), {}, [&](firehose_dispatcher& d) -> task<void> {
        for (int i = 0; i < 40; ++i) d.submit(firehose_record{id_record(i)});
        CHECK((co_await d.flush()).empty());
        throttled = d.pipeline().stats().throttled;
    });
    CHECK(ids_in(busy.fake.accepted).size() == 40);
    CHECK(throttled >= 3); // the table says ServiceUnavailableException is throttling, whatever the status
}

TEST_CASE("firehose: an outage hands every record back, retryable, after the attempts; send() says why") {
    harness h("firehose");
    const std::string down = "http://127.0.0.1:" + std::to_string(sluice_test::unused_port());
    std::vector<batch_unprocessed<firehose_record>> unprocessed;
    batch_dispatcher_options common;
    common.delivery = sluice_test::fast_delivery(stream().default_delivery(), 3);
    h.run(stream(), common, [&](firehose_dispatcher& d) -> task<void> {
        for (int i = 0; i < 25; ++i) d.submit(firehose_record{id_record(i)});
        unprocessed = co_await d.flush();
        bool threw = false;
        try {
            firehose_record one{id_record(99)};
            co_await d.send(std::move(one));
        } catch (const delivery_error& e) {
            threw = true;
            CHECK(e.kind() == outcome_kind::retry);
            CHECK(e.attempts() == 3);
        }
        CHECK(threw);
    }, down);
    REQUIRE(unprocessed.size() == 25);
    std::set<std::string> ids;
    for (const auto& u : unprocessed) {
        ids.insert(u.record.data);
        CHECK(u.details.kind == outcome_kind::retry);
        CHECK(u.attempts == 3);
    }
    CHECK(ids.size() == 25);
}

} // TEST_SUITE

} // namespace test_firehose

#endif
