// DynamoDB BatchWriteItem on the batch layer: items from JSON with boto3's rules (numbers as their
// decimal text, never through a double), items in AttributeValue form, DynamoDB's checks before
// sending, sizes, canonical keys, the wire format, and the dispatcher against a loopback fixture for
// what dynalite never does (UnprocessedItems, throttling), with de-duplication by primary key: the
// last write wins and two writes of a key never share a request. (dynalite: test_dynamodb_emulator.cpp.)

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON

#include "support/aws_harness.hpp"
#include "support/disk_files.hpp"

#include <sluice/aws/dynamodb.hpp>
#include <sluice/core/when_all.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_dynamodb {

using namespace sluice;
using namespace sluice::aws;
using namespace std::chrono_literals;
using sluice_test::aws_error;
using sluice_test::http_reply;

namespace {

using harness = sluice_test::aws_harness<sluice_test::fake_dynamodb>;

dynamodb_key_schema by_id() { return {"id", key_type::any, {}, key_type::any}; }

std::string convert(std::string_view json, const dynamodb_key_schema& schema = by_id(), const dynamodb_item_options& o = {},
                    dynamodb_item* out = nullptr, bool key_only = false) {
    dynamodb_item_reader reader;
    dynamodb_item item;
    std::string why = reader.from_json(json, schema, key_only, o, item);
    if (out) *out = item;
    return why.empty() ? item.attribute_values : "error: " + why;
}

std::string check_av(std::string_view json, const dynamodb_key_schema& schema = by_id(), dynamodb_item* out = nullptr) {
    dynamodb_item_reader reader;
    dynamodb_item item;
    std::string why = reader.from_attribute_values(json, schema, false, {}, item);
    if (out) *out = item;
    return why.empty() ? item.attribute_values : "error: " + why;
}

dynamodb_service table(std::string name = "orders") {
    dynamodb_options o;
    o.table = {std::move(name), by_id()};
    return dynamodb_service(o);
}

std::string item_json(int id, std::string_view extra = {}) {
    return "{\"id\":\"item-" + std::to_string(id) + "\",\"n\":" + std::to_string(id) + std::string(extra) + "}";
}

} // namespace

TEST_SUITE("dynamodb") {

TEST_CASE("dynamodb: JSON becomes AttributeValue JSON with boto3's rules, numbers as their own text") {
    CHECK(convert(R"({"id":"a","n":12345678901234567890123456789012345678,"f":1.50,"neg":-0.001e-5,"t":true,"z":null,"e":""})") ==
          R"({"id":{"S":"a"},"n":{"N":"12345678901234567890123456789012345678"},"f":{"N":"1.50"},"neg":{"N":"-0.001e-5"},)"
          R"("t":{"BOOL":true},"z":{"NULL":true},"e":{"S":""}})");
    CHECK(convert(R"({"id":"a","m":{"k":[1,"two",{"deep":[false]}],"empty":{}},"l":[]})") ==
          R"({"id":{"S":"a"},"m":{"M":{"k":{"L":[{"N":"1"},{"S":"two"},{"M":{"deep":{"L":[{"BOOL":false}]}}}]},"empty":{"M":{}}}},"l":{"L":[]}})");
    CHECK(convert(R"({"id":"caf\u00e9 \"q\" \n","x":"\ud83d\ude00"})") == "{\"id\":{\"S\":\"caf\xC3\xA9 \\\"q\\\" \\n\"},\"x\":{\"S\":\"\xF0\x9F\x98\x80\"}}");
    // Magnitudes DynamoDB takes at both ends, far beyond a double's precision.
    CHECK(convert(R"({"id":"a","big":9.9999999999999999999999999999999999999E+125,"small":1E-130})").find("error") == std::string::npos);
}

TEST_CASE("dynamodb: what DynamoDB would refuse is refused before sending, naming the attribute, never the value") {
    const std::pair<std::string_view, std::string_view> bad[] = {
        {R"({"id":"a","n":123456789012345678901234567890123456789})", "39 significant digits"},
        {R"({"id":"a","n":1E+126})", "range"},
        {R"({"id":"a","n":1E-131})", "range"},
        {R"({"id":"a","n":01})", "not a valid number"},
        {R"({"id":"a","n":-})", "not a valid number"},
        {R"({"id":"a","n":1.})", "not a valid number"},
        {R"({"id":"a","a":1,"a":2})", "'a' appears twice"},
        {R"({"id":"a","m":{"k":1,"k":2}})", "'k' appears twice"},
        {R"({"n":1})", "no partition key"},
        {R"({"id":true})", "string, a number or binary"},
        {R"({"id":""})", "1 to 2048 bytes"},
        {R"({"id":{"S":"nested"}})", "string, a number or binary"},
        {R"({"id":"a"} trailing)", "not valid JSON"},
        {R"({"id":"a"}})", "not valid JSON"},
        {R"(["id"])", "not a JSON object"},
        {R"({"id":"a","x":nul})", "not valid JSON"},
        {"{\"id\":\"\xff\"}", "not valid JSON"},
        {R"({"":1,"id":"a"})", "name is empty"},
    };
    for (const auto& [json, why] : bad) {
        const auto& input = json; // clang 14 cannot capture a structured binding (CAPTURE does)
        CAPTURE(input);
        const std::string got = convert(json);
        CHECK(got.find(why) != std::string::npos);
        CHECK(got.find("123456789012345678901234567890123456789") == std::string::npos);
    }
    std::string deep = R"({"id":"a","x":)";
    for (int i = 0; i < 33; ++i) deep += "[";
    for (int i = 0; i < 33; ++i) deep += "]";
    CHECK(convert(deep + "}").find("32 levels") != std::string::npos);
    std::string ok_deep = R"({"id":"a","x":)";
    for (int i = 0; i < 32; ++i) ok_deep += "[";
    for (int i = 0; i < 32; ++i) ok_deep += "]";
    CHECK(convert(ok_deep + "}").find("error") == std::string::npos);
    CHECK(convert(R"({"id":"a","m":{"x":[1,{"y":1e999}]}})").find("attribute 'm.x[1].y'") != std::string::npos);
}

TEST_CASE("dynamodb: sets and binary only where a hint asks; keys of any type; AttributeValue input checked") {
    dynamodb_item_options hints;
    hints.hints = {{"tags", attribute_hint::string_set}, {"scores", attribute_hint::number_set}, {"blob", attribute_hint::binary},
                   {"blobs", attribute_hint::binary_set}};
    CHECK(convert(R"({"id":"a","tags":["x","y"],"scores":[1,"2.5"],"blob":"AAEC","blobs":["AA==","AQ=="]})", by_id(), hints) ==
          R"({"id":{"S":"a"},"tags":{"SS":["x","y"]},"scores":{"NS":["1","2.5"]},"blob":{"B":"AAEC"},"blobs":{"BS":["AA==","AQ=="]}})");
    CHECK(convert(R"({"id":"a","tags":[]})", by_id(), hints).find("cannot be empty") != std::string::npos);
    CHECK(convert(R"({"id":"a","tags":["x","x"]})", by_id(), hints).find("same member twice") != std::string::npos);
    CHECK(convert(R"({"id":"a","scores":[1.5,1.50]})", by_id(), hints).find("same member twice") != std::string::npos);
    CHECK(convert(R"({"id":"a","blob":"not base64!"})", by_id(), hints).find("base64") != std::string::npos);
    CHECK(convert(R"({"id":"a","tags":["x"]})").find("{\"L\":") != std::string::npos); // no hint: a list

    dynamodb_key_schema typed{"pk", key_type::number, "sk", key_type::string};
    dynamodb_item a, b, c;
    CHECK(convert(R"({"pk":1.50,"sk":"x","v":1})", typed, {}, &a).find("error") == std::string::npos);
    CHECK(convert(R"({"sk":"x","pk":15e-1})", typed, {}, &b).find("error") == std::string::npos);
    CHECK(a.key == b.key); // one key text per value
    CHECK(convert(R"({"pk":"1.5","sk":"x"})", typed).find("S; the table's key type is N") != std::string::npos);
    CHECK(convert(R"({"pk":1})", typed).find("no sort key") != std::string::npos);
    CHECK(convert(R"({"pk":1,"sk":"x","v":1})", typed, {}, nullptr, true).find("only the table's key") != std::string::npos);
    CHECK(convert(R"({"pk":1,"sk":"x"})", typed, {}, &c, true) == R"({"pk":{"N":"1"},"sk":{"S":"x"}})");
    CHECK(c.key != a.key);

    dynamodb_item av;
    CHECK(check_av(R"({"id":{"S":"a"}, "n":{"N":"+001.50"},"b":{"B":"AAE="},"ss":{"SS":["x"]},"m":{"M":{"l":{"L":[{"NULL":true},{"BOOL":false}]}}}})",
                   by_id(), &av) == R"({"id":{"S":"a"},"n":{"N":"+001.50"},"b":{"B":"AAE="},"ss":{"SS":["x"]},"m":{"M":{"l":{"L":[{"NULL":true},{"BOOL":false}]}}}})");
    const std::pair<std::string_view, std::string_view> bad_av[] = {
        {R"({"id":{"S":"a","N":"1"}})", "exactly one type member"},
        {R"({"id":{"S":"a"},"x":{}})", "exactly one type member"},
        {R"({"id":{"S":"a"},"x":{"Q":"1"}})", "unknown AttributeValue type"},
        {R"({"id":{"S":"a"},"x":{"NULL":false}})", "NULL takes true"},
        {R"({"id":{"S":"a"},"x":{"N":"1e"}})", "not a valid number"},
        {R"({"id":{"S":"a"},"x":{"N":1}})", "N takes a number as a string"},
        {R"({"id":{"S":"a"},"x":{"SS":[]}})", "cannot be empty"},
        {R"({"id":{"S":"a"},"x":{"NS":["1","1.0"]}})", "same member twice"},
        {R"({"id":{"S":"a"},"x":{"B":"!"}})", "base64"},
        {R"({"id":"a"})", "an AttributeValue is an object"},
    };
    for (const auto& [json, why] : bad_av) {
        const auto& input = json; // clang 14 cannot capture a structured binding (CAPTURE does)
        CAPTURE(input);
        CHECK(check_av(json).find(why) != std::string::npos);
    }
}

TEST_CASE("dynamodb: item sizes as DynamoDB counts them; over 400 KB refused") {
    dynamodb_item item;
    // id: 2 + 1 ("a"); n: 1 + number(12345: 5 digits -> 1 + 3 + 0) ; l: 1 + (3 + (1+1) + (1+1)); m: 1 + (3 + 1 + 1 + 1)
    REQUIRE(convert(R"({"id":"a","n":12345,"l":[true,null],"m":{"k":false}})", by_id(), {}, &item).find("error") == std::string::npos);
    CHECK(item.size == (2 + 1) + (1 + 4) + (1 + 3 + 2 + 2) + (1 + 3 + 1 + 1 + 1));
    const std::string near = R"({"id":"a","s":")" + std::string(400 * 1024 - 5, 'x') + "\"}";
    CHECK(convert(near).find("error") == std::string::npos); // 2 + 1 + 1 + 409,595 = 409,599
    const std::string over = R"({"id":"a","s":")" + std::string(400 * 1024 - 3, 'x') + "\"}";
    CHECK(convert(over).find("409601 bytes") != std::string::npos);
}

TEST_CASE("dynamodb: entries and requests are the JSON the API reference shows; each carries its table and key") {
    auto s = table();
    dynamodb_write put = dynamodb_write::put(R"({"id":"o-1","total":12.50})");
    dynamodb_write del = dynamodb_write::remove(R"({"id":"o-0"})");
    REQUIRE(s.prepare(put).empty());
    std::string ep, ed;
    const entry_meta mp = s.encode_entry(put, ep);
    REQUIRE(s.prepare(del).empty());
    const entry_meta md = s.encode_entry(del, ed);
    CHECK(ep == R"({"PutRequest":{"Item":{"id":{"S":"o-1"},"total":{"N":"12.50"}}}})");
    CHECK(ed == R"({"DeleteRequest":{"Key":{"id":{"S":"o-0"}}}})");
    CHECK(mp.batch_key == "orders");
    CHECK(mp.dedup_key != md.dedup_key);
    CHECK(mp.counted == ep.size());
    dynamodb_write same_key = dynamodb_write::remove(R"({"id":"o-1"})");
    REQUIRE(s.prepare(same_key).empty());
    std::string es;
    CHECK(s.encode_entry(same_key, es).dedup_key == mp.dedup_key); // a delete and a put of one key are duplicates
    const std::vector<std::string_view> entries = {ep, ed};
    std::string body;
    [[maybe_unused]] auto state = s.encode_request(sink_batch{{}, entries}, body);
    CHECK(body == R"({"RequestItems":{"orders":[)" + ep + "," + ed + "]}}");
    std::string keyed;
    [[maybe_unused]] auto state2 = s.encode_request(sink_batch{"other-table", entries}, keyed);
    CHECK(keyed.starts_with(R"({"RequestItems":{"other-table":[)"));

    dynamodb_write elsewhere = dynamodb_write::put(R"({"id":"x"})");
    elsewhere.table = "unknown";
    CHECK(s.prepare(elsewhere).find("not among") != std::string::npos);
    CHECK_THROWS_AS(dynamodb_service(dynamodb_options{{"ab", by_id()}, {}, {}, no_overrides}), std::invalid_argument);
    CHECK_THROWS_AS(dynamodb_service(dynamodb_options{{"orders", {}}, {}, {}, no_overrides}), std::invalid_argument);
}

TEST_CASE("dynamodb: 300 writes arrive once each, 25 at most per request") {
    harness h("dynamodb");
    h.run(table(), {}, [&](dynamodb_dispatcher& d) -> task<void> {
        for (int i = 0; i < 300; ++i) d.submit(dynamodb_write::put(item_json(i)));
        CHECK((co_await d.flush()).empty());
        CHECK(d.stats().delivered == 300);
    });
    CHECK(h.fake.items.size() == 300);
    CHECK(h.fake.writes == 300);
    CHECK(h.fake.limit_violations == 0);
    CHECK(h.fake.requests >= 12);
}

TEST_CASE("dynamodb: UnprocessedItems are retried alone until written; a throttled request is retried whole") {
    harness h("dynamodb");
    std::map<std::string, int> handed_back;
    h.fake.unprocessed = [&](const std::string& key) {
        const int id = std::stoi(key.substr(key.find('-') + 1));
        return id % 4 == 0 && handed_back[key]++ < 2; // every fourth item, twice
    };
    h.fake.request_fault = [](std::size_t n) -> std::optional<http_reply> {
        if (n == 2 || n == 5)
            return aws_error(400, "ProvisionedThroughputExceededException", "The level of configured provisioned throughput for the table was exceeded.",
                             sluice_test::json_1_0);
        return std::nullopt;
    };
    std::uint64_t throttled = 0;
    h.run(table(), {}, [&](dynamodb_dispatcher& d) -> task<void> {
        for (int i = 0; i < 200; ++i) d.submit(dynamodb_write::put(item_json(i)));
        CHECK((co_await d.flush()).empty());
        throttled = d.pipeline().stats().throttled;
    });
    CHECK(h.fake.items.size() == 200);
    CHECK(h.fake.writes == 200); // written once each: handed-back items were not written the first times
    for (const auto& [key, n] : handed_back) CHECK(n == 3);
    CHECK(throttled >= 2);
    CHECK(h.fake.limit_violations == 0);
}

TEST_CASE("dynamodb: writes of one key never share a request; the last write wins, older waiting ones are replaced with a warning") {
    harness h("dynamodb");
    sluice_test::captured_log log;
    batch_dispatcher_options common;
    common.log = &log.log;
    common.delivery = sluice_test::fast_delivery(table().default_delivery());
    common.delivery->batch.max_age = 20ms;
    std::vector<batch_receipt> receipts;
    std::uint64_t superseded = 0;
    h.run(table(), common, [&](dynamodb_dispatcher& d) -> task<void> {
        for (int round = 0; round < 6; ++round)
            for (int k = 0; k < 10; ++k) d.submit(dynamodb_write::put(item_json(k, ",\"round\":" + std::to_string(round))));
        dynamodb_write last_one = dynamodb_write::put(item_json(3, ",\"round\":99"));
        dynamodb_write earlier = dynamodb_write::put(item_json(4, ",\"round\":98"));
        dynamodb_write later = dynamodb_write::put(item_json(4, ",\"round\":100"));
        auto [first, second, third] = co_await when_all(d.send(std::move(earlier)), d.send(std::move(later)), d.send(std::move(last_one)));
        receipts.push_back(first);
        receipts.push_back(second);
        receipts.push_back(third);
        CHECK((co_await d.flush()).empty());
        superseded = d.stats().superseded;
    });
    CHECK(h.fake.limit_violations == 0); // no request with two writes of a key
    REQUIRE(h.fake.items.size() == 10);
    for (int k = 0; k < 10; ++k) {
        const std::string& item = h.fake.items["S:item-" + std::to_string(k)];
        const std::string want = k == 3 ? "99" : k == 4 ? "100" : "5";
        CHECK_MESSAGE(item.find("\"round\":{\"N\":\"" + want + "\"}") != std::string::npos, item);
    }
    CHECK(superseded >= 1);
    CHECK(h.fake.writes < 63); // waiting writes were replaced, not all sent
    // Warned about, one line per cause and interval (log_throttle), not one per write replaced.
    CHECK(log.count("replaced by a newer write") >= 1);
    CHECK(log.count("replaced by a newer write") <= superseded);
    REQUIRE(receipts.size() == 3);
    CHECK(receipts[0].superseded); // round 98 of item 4 was replaced by round 100 before it was sent
    CHECK_FALSE(receipts[1].superseded);
}

TEST_CASE("dynamodb: with a disk buffer two writes of one key still never share a request; the last one wins") {
    // deliver() returns once a write is on disk, so the dispatcher hands the key's next write over
    // while the first may still wait to be sent: the engine's order gate (table + key) keeps them apart.
    harness h("dynamodb");
    sluice_test::scratch_dir dir;
    batch_dispatcher_options common;
    common.delivery = sluice_test::fast_delivery(table().default_delivery());
    common.delivery->buffer.type = buffer_type::disk;
    disk_buffer_options disk;
    disk.directory = dir.path;
    disk.fsync_interval = 1ms;
    common.delivery->disk = std::move(disk);
    std::uint64_t delivered = 0;
    h.run(table(), common, [&](dynamodb_dispatcher& d) -> task<void> {
        for (int round = 0; round < 8; ++round) {
            for (int k = 0; k < 10; ++k) d.submit(dynamodb_write::put(item_json(k, ",\"round\":" + std::to_string(round))));
            co_await d.loop().sleep_for(2ms); // rounds reach the disk apart: several writes of a key in the engine
        }
        CHECK((co_await d.flush()).empty()); // the engine's flush waits for the disk buffer to empty
        delivered = d.pipeline().stats().delivered;
    });
    CHECK(h.fake.limit_violations == 0); // DynamoDB refuses a request with two writes of a key
    CHECK(delivered == h.fake.writes);
    REQUIRE(h.fake.items.size() == 10);
    for (int k = 0; k < 10; ++k) {
        const std::string& item = h.fake.items["S:item-" + std::to_string(k)];
        CHECK_MESSAGE(item.find("\"round\":{\"N\":\"7\"}") != std::string::npos, item);
    }
}

TEST_CASE("dynamodb: a refused request rejects its writes with the code; invalid items never reach the service") {
    harness h("dynamodb");
    h.fake.request_fault = [](std::size_t) -> std::optional<http_reply> {
        return aws_error(400, "ResourceNotFoundException", "Requested resource not found", sluice_test::json_1_0);
    };
    std::vector<batch_unprocessed<dynamodb_write>> unprocessed;
    h.run(table(), {}, [&](dynamodb_dispatcher& d) -> task<void> {
        for (int i = 0; i < 30; ++i) d.submit(dynamodb_write::put(item_json(i)));
        d.submit(dynamodb_write::put(R"({"id":"bad","n":1e200})"));
        unprocessed = co_await d.flush();
    });
    REQUIRE(unprocessed.size() == 31);
    std::set<std::string> docs;
    for (const auto& u : unprocessed) {
        docs.insert(u.record.document);
        if (u.record.document.find("bad") != std::string::npos) {
            CHECK(u.details.kind == outcome_kind::invalid);
            CHECK_FALSE(u.sent);
            CHECK(u.reason.find("attribute 'n'") != std::string::npos);
        } else {
            CHECK(u.details.kind == outcome_kind::reject);
            CHECK(u.details.service_code == "ResourceNotFoundException");
        }
    }
    CHECK(docs.size() == 31);
}

TEST_CASE("dynamodb: writes to several tables go in separate requests, each to its table") {
    harness h("dynamodb");
    std::map<std::string, std::size_t> per_table;
    h.fake.request_fault = [&](std::size_t) -> std::optional<http_reply> { return std::nullopt; };
    dynamodb_options o;
    o.table = {"orders", by_id()};
    o.tables = {{"customers", by_id()}, {"invoices", by_id()}};
    h.run(dynamodb_service(o), {}, [&](dynamodb_dispatcher& d) -> task<void> {
        for (int i = 0; i < 90; ++i) {
            dynamodb_write w = dynamodb_write::put(item_json(i));
            w.table = i % 3 == 0 ? "" : i % 3 == 1 ? "customers" : "invoices";
            d.submit(std::move(w));
        }
        CHECK((co_await d.flush()).empty());
    });
    for (const auto& ex : h.server.requests()) {
        simdjson::dom::parser p;
        simdjson::dom::object items = p.parse(ex.body)["RequestItems"];
        CHECK(items.size() == 1);
        for (auto t : items) per_table[std::string(t.key)] += simdjson::dom::array(t.value).size();
    }
    CHECK(per_table["orders"] == 30);
    CHECK(per_table["customers"] == 30);
    CHECK(per_table["invoices"] == 30);
}

} // TEST_SUITE

} // namespace test_dynamodb

#endif
