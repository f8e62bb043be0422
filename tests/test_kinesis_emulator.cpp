// End to end against real Kinesis emulators (kinesalite 3.3.3 and kinesis-local 0.6.2, started by
// the ctest fixtures, see scripts/emulator.sh): records go out through kinesis_dispatcher and are
// read back with ListShards / GetShardIterator / GetRecords from every shard, each checked by id,
// partition key and bytes, each case in both of Kinesis's protocols: JSON, and CBOR (decoded by
// kinesalite's `cbor` package and kinesis-local's own, independent of sluice's). Which emulator runs
// is in SLUICE_KINESIS_EMULATOR; cases that need what only one of them does say so. These cases fail
// (not skip) when the endpoint file is missing.

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON

#include <sluice/aws/kinesis.hpp>
#include <sluice/text/base64.hpp>

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
namespace test_kinesis_emulator {

using namespace sluice;
using namespace sluice::aws;
using namespace std::chrono_literals;

namespace {

std::string env_or_fail(const char* name) {
    const char* v = std::getenv(name);
    REQUIRE_MESSAGE(v != nullptr, name << " is not set: run these through ctest (the Kinesis emulator fixtures)");
    return v;
}

std::string emulator_endpoint() {
    const std::string file = env_or_fail("SLUICE_KINESIS_ENDPOINT_FILE");
    std::ifstream in(file);
    std::string endpoint;
    std::getline(in, endpoint);
    REQUIRE_MESSAGE(!endpoint.empty(), "no endpoint in " << file);
    return endpoint;
}

std::string emulator_name() { return env_or_fail("SLUICE_KINESIS_EMULATOR"); }

std::string unique_name(std::string prefix) {
    std::random_device rd;
    return prefix + "-" + std::to_string(rd()) + std::to_string(rd() % 1000);
}

struct read_record {
    std::string data;
    std::string partition_key;
};

// The test's own Kinesis API calls (CreateStream, ListShards, GetRecords) on service_client, in JSON.
struct kinesis_api {
    service_client& client;
    simdjson::dom::parser parser{};
    std::string storage{};

    task<simdjson::dom::element> call(std::string action, std::string body) {
        const std::string target = "Kinesis_20131202." + action;
        call_options o;
        o.content_type = "application/x-amz-json-1.1";
        auto out = co_await client.call_json(target, body, o);
        REQUIRE_MESSAGE(out.ok(), action << " failed: " << out.failure.message);
        storage = out.response->body;
        if (storage.empty()) storage = "{}"; // CreateStream and DeleteStream answer with no body
        co_return parser.parse(storage).value();
    }

    task<std::string> create_stream(std::string name, int shards) {
        co_await call("CreateStream", R"({"StreamName":")" + name + R"(","ShardCount":)" + std::to_string(shards) + "}");
        for (int i = 0; i < 200; ++i) {
            simdjson::dom::element d = co_await call("DescribeStreamSummary", R"({"StreamName":")" + name + "\"}");
            if (std::string_view(d["StreamDescriptionSummary"]["StreamStatus"]) == "ACTIVE")
                co_return std::string(std::string_view(d["StreamDescriptionSummary"]["StreamARN"]));
            co_await client.http().loop().sleep_for(50ms);
        }
        FAIL("stream " << name << " did not become ACTIVE");
        co_return std::string();
    }

    /// A record's data as GetRecords gives it: base64 (AWS, and kinesis-local for records written in
    /// either protocol), or, from kinesalite for records written in CBOR, {"type":"Buffer","data":
    /// [bytes]}: kinesalite stores the Buffer its CBOR decoder made and its JSON encoder spells it so.
    static std::string data_of(simdjson::dom::element data) {
        std::string_view text;
        if (data.get(text) == simdjson::SUCCESS) {
            auto raw = sluice::text::decode_base64(text);
            REQUIRE(raw.has_value());
            return std::move(*raw);
        }
        simdjson::dom::array bytes;
        std::string_view type;
        REQUIRE((data["type"].get(type) == simdjson::SUCCESS && type == "Buffer"));
        REQUIRE(data["data"].get(bytes) == simdjson::SUCCESS);
        std::string out;
        for (simdjson::dom::element b : bytes) out += static_cast<char>(std::uint64_t(b));
        return out;
    }

    /// Every record of every shard, from the start.
    task<std::vector<read_record>> read_all(std::string name) {
        std::vector<std::string> shards;
        simdjson::dom::element l = co_await call("ListShards", R"({"StreamName":")" + name + "\"}");
        for (simdjson::dom::element s : l["Shards"].get_array()) shards.emplace_back(std::string_view(s["ShardId"]));
        std::vector<read_record> out;
        for (const auto& shard : shards) {
            simdjson::dom::element it = co_await call(
                "GetShardIterator",
                R"({"StreamName":")" + name + R"(","ShardId":")" + shard + R"(","ShardIteratorType":"TRIM_HORIZON"})");
            std::string iterator{std::string_view(it["ShardIterator"])};
            for (int round = 0; round < 1000 && !iterator.empty(); ++round) {
                simdjson::dom::element r =
                    co_await call("GetRecords", R"({"ShardIterator":")" + iterator + R"(","Limit":10000})");
                simdjson::dom::array records = r["Records"];
                for (simdjson::dom::element rec : records)
                    out.push_back({data_of(rec["Data"]), std::string(std::string_view(rec["PartitionKey"]))});
                std::string_view next;
                if (r["NextShardIterator"].get(next) != simdjson::SUCCESS) break;
                iterator = std::string(next);
                std::int64_t behind = 0;
                if (records.size() == 0 && (r["MillisBehindLatest"].get(behind) != simdjson::SUCCESS || behind == 0)) break;
            }
        }
        co_return out;
    }
};

struct world {
    io_loop loop;
    http::client http{loop};
    std::unique_ptr<service_client> client;

    world() {
        service_client_options o;
        o.service = "kinesis";
        o.region = "us-east-1";
        o.endpoint = emulator_endpoint();
        o.attempt_timeout = 30s;
        aws_credentials c;
        c.access_key_id = "AKIDEXAMPLE123456";
        c.secret_access_key = "secret";
        client = std::make_unique<service_client>(http, std::make_shared<static_credentials_provider>(c), o);
    }
};

delivery_options quick(std::size_t max_events = 500) {
    delivery_options d = kinesis_service(kinesis_options{"s", {}, no_overrides, {}, false}).default_delivery();
    d.batch.max_events = max_events;
    d.batch.max_age = 20ms;
    d.retry.initial_backoff = 10ms;
    d.retry.max_backoff = 200ms;
    return d;
}

} // namespace

TEST_SUITE("integration-kinesis") {

TEST_CASE("kinesis emulator: 2,000 records over 4 shards, read back by id, partition key and bytes") {
    wire_protocol protocol = wire_protocol::json_1_1; // each case runs in both protocols
    SUBCASE("JSON") {}
    SUBCASE("CBOR") { protocol = wire_protocol::cbor_1_1; }
    world w;
    const std::string name = unique_name("sluice-events");
    std::map<std::string, read_record> sent; // id -> record
    std::vector<read_record> got;
    auto main = [&]() -> task<void> {
        kinesis_api api{*w.client};
        co_await api.create_stream(name, 4);
        kinesis_options o;
        o.stream_name = name;
        o.protocol = protocol;
        batch_dispatcher_options common;
        // kinesalite's CBOR encoder (cbor@5's Encoder.encodeOne) cuts every answer at 16 KiB, about
        // 150 records of PutRecords' answer: sluice reads the cut answer as malformed and sends the
        // request again (duplicates, no loss). Requests of 100 keep its answers whole.
        const bool cut_answers = protocol == wire_protocol::cbor_1_1 && emulator_name() == "kinesalite";
        common.delivery = quick(cut_answers ? 100 : 500);
        kinesis_dispatcher d(w.loop, *w.client, kinesis_service(o), common);
        co_await d.start();
        for (int i = 0; i < 2000; ++i) {
            std::string id = "id-" + std::to_string(i);
            std::string data = R"({"id":")" + id + R"(","text":"caf\u00e9 \"quoted\"","n":)" + std::to_string(i) + "}";
            if (i % 50 == 0) data += std::string("\0\x01\xff binary tail", 16); // arbitrary bytes survive
            std::string key = i % 3 == 0 ? "user-" + std::to_string(i % 17) : i % 3 == 1 ? "clé-" + std::to_string(i % 5) : "";
            sent[id] = {data, key};
            d.submit(kinesis_record{std::move(data), std::move(key), {}});
        }
        auto unprocessed = co_await d.flush();
        CHECK_MESSAGE(unprocessed.empty(), (unprocessed.empty() ? std::string() : unprocessed.front().reason));
        CHECK(d.stats().delivered == 2000);
        CHECK(d.pipeline().stats().requests >= 4); // 2,000 records cannot fit in fewer than four requests
        co_await d.stop(5s);
        got = co_await api.read_all(name);
        co_await api.call("DeleteStream", R"({"StreamName":")" + name + "\"}");
    };
    w.loop.run_until_complete(main());
    CHECK(got.size() == 2000);
    std::set<std::string> seen;
    for (const auto& r : got) {
        const auto at = r.data.find("\"id\":\"");
        REQUIRE(at != std::string::npos);
        const std::string id = r.data.substr(at + 6, r.data.find('"', at + 6) - at - 6);
        CHECK(seen.insert(id).second); // once
        auto it = sent.find(id);
        REQUIRE(it != sent.end());
        CHECK(r.data == it->second.data);
        if (!it->second.partition_key.empty())
            CHECK(r.partition_key == it->second.partition_key);
        else
            CHECK(r.partition_key.size() == 32); // a random key was given
    }
    CHECK(seen.size() == 2000);
}

TEST_CASE("kinesis emulator: records sent by StreamARN; an oversized record fails alone, per record (kinesis-local)") {
    if (emulator_name() != "kinesis-local") return; // kinesalite neither takes StreamARN nor answers per record
    wire_protocol protocol = wire_protocol::json_1_1; // each case runs in both protocols
    SUBCASE("JSON") {}
    SUBCASE("CBOR") { protocol = wire_protocol::cbor_1_1; }
    world w;
    const std::string name = unique_name("sluice-arn");
    std::vector<batch_unprocessed<kinesis_record>> unprocessed;
    std::vector<read_record> got;
    auto main = [&]() -> task<void> {
        kinesis_api api{*w.client};
        const std::string arn = co_await api.create_stream(name, 1);
        kinesis_options o;
        o.stream_arn = arn;
        o.protocol = protocol;
        // Claim a larger record limit than the stream has, so the service itself refuses the big one.
        o.limits.max_record_bytes = 2u << 20;
        batch_dispatcher_options common;
        common.delivery = quick();
        kinesis_dispatcher d(w.loop, *w.client, kinesis_service(o), common);
        co_await d.start();
        for (int i = 0; i < 20; ++i) d.submit(kinesis_record{"small-" + std::to_string(i), "k", {}});
        d.submit(kinesis_record{"big-" + std::string(1536u * 1024, 'x'), "k", {}});
        unprocessed = co_await d.flush();
        co_await d.stop(5s);
        got = co_await api.read_all(name);
        co_await api.call("DeleteStream", R"({"StreamName":")" + name + "\"}");
    };
    w.loop.run_until_complete(main());
    REQUIRE(unprocessed.size() == 1);
    CHECK(unprocessed[0].record.data.starts_with("big-"));
    CHECK(unprocessed[0].details.kind == outcome_kind::reject);
    CHECK(unprocessed[0].details.service_code == "InvalidArgumentException");
    CHECK(unprocessed[0].attempts == 1); // rejected at once, never retried
    CHECK(got.size() == 20);
}

TEST_CASE("kinesis emulator: a request over 500 records is refused as a whole (kinesalite enforces the limit)") {
    if (emulator_name() != "kinesalite") return; // kinesis-local takes 501 records without complaint
    wire_protocol protocol = wire_protocol::json_1_1; // each case runs in both protocols
    SUBCASE("JSON") {}
    SUBCASE("CBOR") { protocol = wire_protocol::cbor_1_1; }
    world w;
    const std::string name = unique_name("sluice-limit");
    std::vector<batch_unprocessed<kinesis_record>> unprocessed;
    std::vector<read_record> got;
    auto main = [&]() -> task<void> {
        kinesis_api api{*w.client};
        co_await api.create_stream(name, 1);
        kinesis_options o;
        o.stream_name = name;
        o.limits.max_entries = 501; // wrong on purpose: AWS's limit is 500
        o.protocol = protocol;
        batch_dispatcher_options common;
        common.delivery = quick(501);
        common.delivery->batch.max_age = 2s; // one batch of 501
        kinesis_dispatcher d(w.loop, *w.client, kinesis_service(o), common);
        co_await d.start();
        for (int i = 0; i < 501; ++i) d.submit(kinesis_record{"r" + std::to_string(i), "k", {}});
        unprocessed = co_await d.flush();
        co_await d.stop(5s);
        got = co_await api.read_all(name);
        co_await api.call("DeleteStream", R"({"StreamName":")" + name + "\"}");
    };
    w.loop.run_until_complete(main());
    CHECK(unprocessed.size() == 501);
    for (const auto& u : unprocessed) {
        CHECK(u.details.kind == outcome_kind::reject);
        CHECK(u.details.service_code == "ValidationException");
    }
    CHECK(got.empty());
}

} // TEST_SUITE

} // namespace test_kinesis_emulator

#endif
