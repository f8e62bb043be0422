// End to end against a real DynamoDB emulator (dynalite 4.0.0, started by the ctest fixture
// `dynalite`, see scripts/emulator.sh): items go out through dynamodb_dispatcher and are read back
// with Scan and GetItem, each compared with the JSON document it came from by an independent walk
// (JSON string / number / bool / null / array / object against S / N / BOOL / NULL / L / M, numbers
// compared as decimals). These cases fail (not skip) when the endpoint file is missing.

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON

#include <sluice/aws/dynamodb.hpp>

#include <simdjson.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_dynamodb_emulator {

using namespace sluice;
using namespace sluice::aws;
using namespace std::chrono_literals;

namespace {

std::string endpoint() {
    const char* file = std::getenv("SLUICE_DYNAMODB_ENDPOINT_FILE");
    REQUIRE_MESSAGE(file != nullptr, "SLUICE_DYNAMODB_ENDPOINT_FILE is not set: run these through ctest (the dynalite fixture)");
    std::ifstream in(file);
    std::string e;
    std::getline(in, e);
    REQUIRE_MESSAGE(!e.empty(), "no endpoint in " << file);
    return e;
}

std::string unique_table(std::string prefix) {
    std::random_device rd;
    return prefix + "-" + std::to_string(rd() % 1'000'000'000u);
}

/// Does the AttributeValue `av` hold what the JSON value `json` says, by boto3's rules?
bool same(simdjson::ondemand::value json, simdjson::dom::element av, std::string& why);

bool same_object(simdjson::ondemand::object json, simdjson::dom::object av, std::string& why) {
    std::size_t n = 0;
    for (auto field : json) {
        std::string_view key = field.unescaped_key().value();
        simdjson::dom::element inner;
        if (av[key].get(inner) != simdjson::SUCCESS) {
            why = "missing attribute " + std::string(key);
            return false;
        }
        if (!same(field.value().value(), inner, why)) {
            why = std::string(key) + ": " + why;
            return false;
        }
        ++n;
    }
    if (n != av.size()) why = "attribute count differs";
    return n == av.size();
}

bool same(simdjson::ondemand::value json, simdjson::dom::element av, std::string& why) {
    using t = simdjson::ondemand::json_type;
    std::string_view s;
    switch (json.type().value()) {
    case t::string:
        if (av["S"].get(s) != simdjson::SUCCESS || s != json.get_string().value()) why = "string differs";
        return why.empty();
    case t::number: {
        std::string_view token = json.raw_json_token();
        while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
        const auto want = text::parse_decimal(token);
        if (av["N"].get(s) != simdjson::SUCCESS || !want || text::parse_decimal(s, text::decimal_grammar::lenient) != want)
            why = "number differs: sent " + std::string(token) + ", read " + std::string(s);
        return why.empty();
    }
    case t::boolean: {
        bool b = false;
        if (av["BOOL"].get(b) != simdjson::SUCCESS || b != json.get_bool().value()) why = "bool differs";
        return why.empty();
    }
    case t::null:
        if (av["NULL"].error() != simdjson::SUCCESS) why = "null differs";
        return why.empty();
    case t::array: {
        simdjson::dom::array list;
        if (av["L"].get(list) != simdjson::SUCCESS) {
            why = "not a list";
            return false;
        }
        std::size_t i = 0;
        for (auto element : json.get_array()) {
            if (i >= list.size() || !same(element.value(), list.at(i), why)) {
                if (why.empty()) why = "list is shorter";
                return false;
            }
            ++i;
        }
        if (i != list.size()) why = "list is longer";
        return i == list.size();
    }
    case t::object: {
        simdjson::dom::object map;
        if (av["M"].get(map) != simdjson::SUCCESS) {
            why = "not a map";
            return false;
        }
        return same_object(json.get_object(), map, why);
    }
    }
    return false;
}

struct world {
    io_loop loop;
    http::client http{loop};
    std::unique_ptr<service_client> client;
    simdjson::dom::parser parser;
    std::string storage;

    world() {
        service_client_options o;
        o.service = "dynamodb";
        o.region = "us-east-1";
        o.endpoint = endpoint();
        o.attempt_timeout = 30s;
        aws_credentials c;
        c.access_key_id = "AKIDEXAMPLE123456";
        c.secret_access_key = "secret";
        client = std::make_unique<service_client>(http, std::make_shared<static_credentials_provider>(c), o);
    }

    task<simdjson::dom::element> call(std::string action, std::string body) {
        const std::string target = "DynamoDB_20120810." + action;
        auto out = co_await client->call_json(target, body);
        REQUIRE_MESSAGE(out.ok(), action << " failed: " << out.failure.message);
        storage = out.response->body;
        co_return parser.parse(storage).value();
    }

    task<void> create_table(std::string name) {
        co_await call("CreateTable", R"({"TableName":")" + name +
                                         R"(","AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"},{"AttributeName":"n","AttributeType":"N"}],)"
                                         R"("KeySchema":[{"AttributeName":"id","KeyType":"HASH"},{"AttributeName":"n","KeyType":"RANGE"}],"BillingMode":"PAY_PER_REQUEST"})");
        for (int i = 0; i < 200; ++i) {
            simdjson::dom::element d = co_await call("DescribeTable", R"({"TableName":")" + name + "\"}");
            if (std::string_view(d["Table"]["TableStatus"]) == "ACTIVE") co_return;
            co_await loop.sleep_for(20ms);
        }
        FAIL("table did not become ACTIVE");
    }

    /// Every item of the table, as minified AttributeValue JSON, by "id/n".
    task<std::map<std::string, std::string>> scan(std::string name) {
        std::map<std::string, std::string> items;
        std::string start;
        for (int page = 0; page < 1000; ++page) {
            std::string body = R"({"TableName":")" + name + "\"" + (start.empty() ? "" : ",\"ExclusiveStartKey\":" + start) + "}";
            simdjson::dom::element r = co_await call("Scan", body);
            for (simdjson::dom::element item : r["Items"].get_array())
                items[std::string(std::string_view(item["id"]["S"])) + "/" + std::string(std::string_view(item["n"]["N"]))] = simdjson::minify(item);
            simdjson::dom::element last;
            if (r["LastEvaluatedKey"].get(last) != simdjson::SUCCESS) break;
            start = simdjson::minify(last);
        }
        co_return items;
    }
};

dynamodb_options table_options(std::string name) {
    dynamodb_options o;
    o.table = {std::move(name), {"id", key_type::string, "n", key_type::number}};
    return o;
}

batch_dispatcher_options quick() {
    batch_dispatcher_options c;
    c.delivery = dynamodb_service(table_options("placeholder")).default_delivery();
    c.delivery->batch.max_age = 10ms;
    c.delivery->retry.initial_backoff = 5ms;
    return c;
}

/// Item i: large and small numbers, nested maps and lists, strings with escapes, booleans, null.
std::string document(int i) {
    std::string d = R"({"id":"item-)" + std::to_string(i % 50) + R"(","n":)" + std::to_string(i) + ".0" +
                    R"(,"big":)" + std::to_string(1 + i % 9) + "2345678901234567890123456789012345678" +
                    R"(,"tiny":-)" + std::to_string(1 + i % 9) + "E-129" + R"(,"huge":9.9999999999999999999999999999999999999E+125)" +
                    R"(,"price":)" + std::to_string(i) + ".50" + R"(,"text":"caf\u00e9 \"quoted\" \\ tab\t)" + std::to_string(i) + "\"" +
                    R"(,"flag":)" + (i % 2 ? "true" : "false") + R"(,"nothing":null,"empty":"")" +
                    R"(,"nested":{"level":{"deeper":[1,"two",{"three":[3.000,{"four":[]}]}],"n":0.000001},"list":[])" + "}}";
    return d;
}

} // namespace

TEST_SUITE("integration-dynamodb") {

TEST_CASE("dynamodb emulator: 400 items with 38-digit numbers and nested maps, read back with Scan and GetItem, every one compared") {
    world w;
    const std::string name = unique_table("sluice-items");
    std::map<std::string, std::string> sent, got;
    std::vector<batch_unprocessed<dynamodb_write>> unprocessed;
    auto main = [&]() -> task<void> {
        co_await w.create_table(name);
        dynamodb_dispatcher d(w.loop, *w.client, dynamodb_service(table_options(name)), quick());
        co_await d.start();
        for (int i = 0; i < 400; ++i) {
            std::string doc = document(i);
            sent["item-" + std::to_string(i % 50) + "/" + std::to_string(i)] = doc;
            d.submit(dynamodb_write::put(std::move(doc)));
        }
        // Deletes (by key only) of a tenth of them, as a DeleteRequest each.
        for (int i = 0; i < 400; i += 10) {
            std::string key = R"({"id":"item-)" + std::to_string(i % 50) + R"(","n":)" + std::to_string(i) + "}";
            d.submit(dynamodb_write::remove(std::move(key)));
            sent.erase("item-" + std::to_string(i % 50) + "/" + std::to_string(i));
        }
        unprocessed = co_await d.flush();
        co_await d.stop(5s);
        got = co_await w.scan(name);
        simdjson::dom::element one = co_await w.call("GetItem", R"({"TableName":")" + name + R"(","Key":{"id":{"S":"item-7"},"n":{"N":"7"}},"ConsistentRead":true})");
        CHECK(std::string_view(one["Item"]["big"]["N"]) == "82345678901234567890123456789012345678");
        simdjson::dom::element gone = co_await w.call("GetItem", R"({"TableName":")" + name + R"(","Key":{"id":{"S":"item-10"},"n":{"N":"10"}}})");
        CHECK(gone["Item"].error() == simdjson::NO_SUCH_FIELD);
        co_await w.call("DeleteTable", R"({"TableName":")" + name + "\"}");
    };
    w.loop.run_until_complete(main());
    CHECK_MESSAGE(unprocessed.empty(), (unprocessed.empty() ? std::string() : unprocessed.front().reason));
    REQUIRE(got.size() == sent.size());
    simdjson::ondemand::parser json_parser;
    for (const auto& entry : sent) { // not a structured binding: clang 14 cannot capture one in CAPTURE
        const std::string& key = entry.first;
        const auto& doc = entry.second;
        CAPTURE(key);
        REQUIRE(got.contains(key));
        simdjson::padded_string padded(doc);
        simdjson::ondemand::document jd = json_parser.iterate(padded);
        simdjson::dom::parser avp;
        simdjson::dom::element item = avp.parse(got[key]);
        std::string why;
        CHECK_MESSAGE(same_object(jd.get_object(), item, why), why);
    }
}

TEST_CASE("dynamodb emulator: bursts of writes to the same keys end with the last write of each, never a refused request") {
    world w;
    const std::string name = unique_table("sluice-dedup");
    std::map<std::string, std::string> got;
    std::vector<batch_unprocessed<dynamodb_write>> unprocessed;
    std::uint64_t superseded = 0;
    auto main = [&]() -> task<void> {
        co_await w.create_table(name);
        dynamodb_dispatcher d(w.loop, *w.client, dynamodb_service(table_options(name)), quick());
        co_await d.start();
        for (int round = 0; round < 20; ++round)
            for (int k = 0; k < 8; ++k) {
                std::string doc = R"({"id":"k)" + std::to_string(k) + R"(","n":1.0,"round":)" + std::to_string(round) + "}";
                d.submit(dynamodb_write::put(std::move(doc)));
            }
        unprocessed = co_await d.flush();
        superseded = d.stats().superseded;
        co_await d.stop(5s);
        got = co_await w.scan(name);
        co_await w.call("DeleteTable", R"({"TableName":")" + name + "\"}");
    };
    w.loop.run_until_complete(main());
    CHECK(unprocessed.empty()); // dynalite refuses a request holding two writes of one key: none did
    CHECK(superseded > 0);
    REQUIRE(got.size() == 8);
    for (const auto& entry : got) CHECK_MESSAGE(entry.second.find(R"("round":{"N":"19"})") != std::string::npos, entry.second);
}

TEST_CASE("dynamodb emulator: a table that does not exist rejects the writes with ResourceNotFoundException") {
    world w;
    std::vector<batch_unprocessed<dynamodb_write>> unprocessed;
    auto main = [&]() -> task<void> {
        dynamodb_dispatcher d(w.loop, *w.client, dynamodb_service(table_options(unique_table("sluice-missing"))), quick());
        co_await d.start();
        for (int i = 0; i < 5; ++i) d.submit(dynamodb_write::put(document(i)));
        unprocessed = co_await d.flush();
        co_await d.stop(5s);
    };
    w.loop.run_until_complete(main());
    REQUIRE(unprocessed.size() == 5);
    for (const auto& u : unprocessed) {
        CHECK(u.details.kind == outcome_kind::reject);
        CHECK(u.details.service_code == "ResourceNotFoundException");
    }
}

} // TEST_SUITE

} // namespace test_dynamodb_emulator

#endif
