// End to end against a real SQS emulator (fauxqs, started by the ctest fixture `fauxqs`, see
// scripts/emulator.sh): batches arrive, attributes and FIFO fields survive, order within a
// message group holds, read back with ReceiveMessage. These cases fail (not skip) when the emulator's
// endpoint file is missing: ctest always provides it.

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON

#include <sluice/aws/sqs.hpp>

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
namespace test_sqs_emulator {

using namespace sluice;
using namespace sluice::aws;
using namespace std::chrono_literals;

namespace {

std::string emulator_endpoint() {
    const char* file = std::getenv("SLUICE_SQS_ENDPOINT_FILE");
    REQUIRE_MESSAGE(file != nullptr, "SLUICE_SQS_ENDPOINT_FILE is not set: run these through ctest (the fauxqs fixture)");
    std::ifstream in(file);
    std::string endpoint;
    std::getline(in, endpoint);
    REQUIRE_MESSAGE(!endpoint.empty(), "no endpoint in " << file);
    return endpoint;
}

std::string unique_name(std::string prefix) {
    std::random_device rd;
    return prefix + "-" + std::to_string(rd()) + std::to_string(rd() % 1000);
}

struct received {
    std::string body;
    std::string receipt;
    std::string group;
    std::map<std::string, std::string> attributes; // name -> "Type:value"
};

// A small SQS API client on top of service_client, for the test's own CreateQueue/ReceiveMessage.
struct sqs_api {
    service_client& client;

    task<simdjson::dom::element> call(std::string action, std::string body, simdjson::dom::parser& parser,
                                      std::string& storage) {
        const std::string target = "AmazonSQS." + action;
        auto out = co_await client.call_json(target, body);
        REQUIRE_MESSAGE(out.ok(), action << " failed: " << out.failure.message);
        storage = out.response->body;
        co_return parser.parse(storage);
    }

    task<std::string> create_queue(std::string name, bool fifo) {
        std::string body = R"({"QueueName":")" + name + "\"";
        if (fifo) body += R"(,"Attributes":{"FifoQueue":"true"})";
        body += "}";
        simdjson::dom::parser parser;
        std::string storage;
        auto doc = co_await call("CreateQueue", body, parser, storage);
        co_return std::string(std::string_view(doc["QueueUrl"]));
    }

    task<void> delete_queue(std::string url) {
        simdjson::dom::parser parser;
        std::string storage;
        co_await call("DeleteQueue", R"({"QueueUrl":")" + url + "\"}", parser, storage);
    }

    task<std::vector<received>> receive(std::string url, bool delete_after) {
        simdjson::dom::parser parser;
        std::string storage;
        const std::string request = R"({"QueueUrl":")" + url +
                                    R"(","MaxNumberOfMessages":10,"WaitTimeSeconds":0,"MessageAttributeNames":["All"],)"
                                    R"("MessageSystemAttributeNames":["All"],"AttributeNames":["All"]})";
        auto doc = co_await call("ReceiveMessage", request, parser, storage);
        std::vector<received> out;
        simdjson::dom::array messages;
        if (doc["Messages"].get(messages) != simdjson::SUCCESS) co_return out;
        std::string entries;
        int index = 0;
        for (simdjson::dom::element m : messages) {
            received r;
            r.body = std::string(std::string_view(m["Body"]));
            r.receipt = std::string(std::string_view(m["ReceiptHandle"]));
            std::string_view group;
            if (m["Attributes"]["MessageGroupId"].get(group) == simdjson::SUCCESS) r.group = std::string(group);
            simdjson::dom::object attrs;
            if (m["MessageAttributes"].get(attrs) == simdjson::SUCCESS) {
                for (auto [name, value] : attrs) {
                    std::string_view type = value["DataType"];
                    std::string_view text;
                    if (value["StringValue"].get(text) != simdjson::SUCCESS) text = value["BinaryValue"];
                    r.attributes[std::string(name)] = std::string(type) + ":" + std::string(text);
                }
            }
            if (!entries.empty()) entries += ',';
            entries += R"({"Id":"d)" + std::to_string(index++) + R"(","ReceiptHandle":")" + r.receipt + "\"}";
            out.push_back(std::move(r));
        }
        if (delete_after && !out.empty()) {
            simdjson::dom::parser p2;
            std::string s2;
            co_await call("DeleteMessageBatch", R"({"QueueUrl":")" + url + R"(","Entries":[)" + entries + "]}", p2, s2);
        }
        co_return out;
    }
};

template <class Body>
void with_emulator(Body body) {
    const std::string endpoint = emulator_endpoint();
    io_loop loop;
    auto main = [&]() -> task<void> {
        http::client http(loop);
        aws_credentials c;
        c.access_key_id = "AKIDSLUICETEST000000";
        c.secret_access_key = "sluice-test-secret";
        service_client_options o;
        o.service = "sqs";
        o.region = "us-east-1";
        o.endpoint = endpoint;
        service_client client(http, std::make_shared<static_credentials_provider>(c), o);
        sqs_api api{client};
        co_await body(client, api);
    };
    loop.run_until_complete(main());
    loop.drain();
}

} // namespace

TEST_SUITE("integration-sqs") {

TEST_CASE("standard queue: batches arrive with their attributes; read back with ReceiveMessage") {
    with_emulator([&](service_client& client, sqs_api& api) -> task<void> {
        const std::string url = co_await api.create_queue(unique_name("sluice-std"), false);
        sqs_dispatcher_options options;
        options.queue_url = url;
        sqs_dispatcher d(client.http().loop(), client, options);
        std::map<std::string, sqs_message> sent;
        for (int i = 0; i < 120; ++i) {
            sqs_message m;
            m.body = "{\"n\":" + std::to_string(i) + ",\"text\":\"caf\xc3\xa9 \\\"quoted\\\" \xe2\x86\x92 (fauxqs refuses code points above U+FFFF, which AWS accepts)\"}";
            m.attributes.push_back({"kind", "String", i % 2 ? "odd" : "even"});
            m.attributes.push_back({"n", "Number", std::to_string(i)});
            m.attributes.push_back({"raw", "Binary", std::string("\x00\x01\xfe", 3)});
            sent[m.body] = m;
            d.submit(std::move(m));
        }
        auto unprocessed = co_await d.flush();
        CHECK_MESSAGE(unprocessed.empty(), (unprocessed.empty() ? std::string() : unprocessed.front().reason));
        CHECK(d.stats().delivered == 120);
        CHECK(d.pipeline().stats().batches >= 12);

        std::map<std::string, received> got;
        for (int round = 0; round < 200 && got.size() < sent.size(); ++round) {
            auto batch = co_await api.receive(url, true);
            for (auto& r : batch) got[r.body] = r;
            if (batch.empty()) co_await client.http().loop().sleep_for(20ms);
        }
        REQUIRE(got.size() == sent.size());
        for (const auto& entry : sent) {
            const sqs_message& m = entry.second;
            received& r = got[entry.first];
            CHECK(r.attributes["kind"] == "String:" + m.attributes[0].value);
            CHECK(r.attributes["n"] == "Number:" + m.attributes[1].value);
            CHECK(r.attributes["raw"] == "Binary:AAH+");
        }
        co_await d.stop();
        co_await api.delete_queue(url);
    });
}

TEST_CASE("FIFO queue: group and deduplication ids survive, order within each group holds") {
    with_emulator([&](service_client& client, sqs_api& api) -> task<void> {
        const std::string url = co_await api.create_queue(unique_name("sluice-fifo") + ".fifo", true);
        sqs_dispatcher_options options;
        options.queue_url = url;
        sqs_dispatcher d(client.http().loop(), client, options);
        CHECK(d.fifo());
        std::map<std::string, std::vector<std::string>> expected;
        for (int i = 0; i < 90; ++i) {
            sqs_message m;
            m.group_id = "group-" + std::to_string(i % 3);
            m.body = m.group_id + "/" + std::to_string(i);
            expected[m.group_id].push_back(m.body);
            d.submit(std::move(m));
        }
        // An explicit deduplication id sent twice: SQS keeps one within its 5-minute window.
        for (int copy = 0; copy < 2; ++copy) {
            sqs_message m;
            m.group_id = "dedup";
            m.deduplication_id = "same-id";
            m.body = "deduplicated " + std::to_string(copy);
            d.submit(std::move(m));
            auto first = co_await d.flush();
            CHECK(first.empty());
        }
        expected["dedup"].push_back("deduplicated 0");
        auto unprocessed = co_await d.flush();
        CHECK(unprocessed.empty());

        std::map<std::string, std::vector<std::string>> got;
        std::size_t total = 0, want = 91;
        for (int round = 0; round < 400 && total < want; ++round) {
            auto batch = co_await api.receive(url, true);
            for (auto& r : batch) {
                got[r.group].push_back(r.body);
                ++total;
            }
            if (batch.empty()) co_await client.http().loop().sleep_for(20ms);
        }
        CHECK(total == want);
        CHECK(got == expected);
        co_await d.stop();
        co_await api.delete_queue(url);
    });
}

TEST_CASE("a queue that does not exist: every message comes back with the service's reason") {
    with_emulator([&](service_client& client, sqs_api&) -> task<void> {
        sqs_dispatcher_options options;
        options.queue_url = "http://127.0.0.1/000000000000/" + unique_name("missing");
        sqs_dispatcher d(client.http().loop(), client, options);
        for (int i = 0; i < 12; ++i) {
            sqs_message m;
            m.body = "lost? " + std::to_string(i);
            d.submit(std::move(m));
        }
        auto unprocessed = co_await d.flush();
        REQUIRE(unprocessed.size() == 12);
        std::set<std::string> bodies;
        for (const auto& u : unprocessed) {
            bodies.insert(u.message.body);
            CHECK(u.sent);
            CHECK(u.reason.find("QueueDoesNotExist") != std::string::npos);
            CHECK(u.reason.find("sluice-test-secret") == std::string::npos);
        }
        CHECK(bodies.size() == 12);
        co_await d.stop();
    });
}

} // TEST_SUITE

} // namespace test_sqs_emulator

#endif
