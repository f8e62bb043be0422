// sluiced's own pieces (tools/sluiced), below what tests/sluiced_run.sh drives from outside: the router
// that applies a queue's routes, firehose definitions read by the configuration's reader (and every
// refusal), CloudWatch data from JSON, how message bodies are split, the dead-letter wrapping of a
// finally failed record, and the status JSON.

#include <doctest/doctest.h>

#if SLUICE_HAS_TOMLPP && SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON

#include "../tools/sluiced/api.hpp"
#include "../tools/sluiced/reload_plan.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace test_sluiced {

using namespace sluiced;
using sluice::payload;
using sluice::config::route_config;
using sluice::config::route_kind;

std::vector<std::uint32_t> targets(const config_router& r, const payload<std::string>& p, std::uint32_t* unrouted = nullptr) {
    sluice::route_table table({"a", "b", "c"}, {{}, {}, {}});
    sluice::route_targets out;
    r.route(p, table, out);
    if (unrouted) *unrouted = out.unrouted();
    std::vector<std::uint32_t> v(out.indices().begin(), out.indices().end());
    std::sort(v.begin(), v.end());
    return v;
}

config_router three_routes() {
    std::vector<route_config> routes(4);
    routes[0].by = route_kind::key;
    routes[0].key = "users";
    routes[0].sinks = {"a"};
    routes[1].by = route_kind::topic;
    routes[1].topic = "orders";
    routes[1].sinks = {"b"};
    routes[2].by = route_kind::field;
    routes[2].field = "tenant";
    routes[2].topic = "7";
    routes[2].sinks = {"c", "a"};
    routes[3].by = route_kind::field;
    routes[3].field = "tenant";
    routes[3].topic = "acme";
    routes[3].sinks = {"c"};
    return config_router(routes, [](const std::string& s) { return static_cast<std::uint32_t>(s[0] - 'a'); });
}

TEST_CASE("config_router applies key, topic and field routes, each collector once") {
    const auto r = three_routes();
    auto p = payload<std::string>::broadcast(R"({"tenant":"acme"})");
    CHECK(targets(r, p) == std::vector<std::uint32_t>{2});
    p.keys.push_back("users");
    p.topics.push_back("orders");
    CHECK(targets(r, p) == std::vector<std::uint32_t>{0, 1, 2});
    // A number matches its JSON text; the collector two routes reach is added once.
    auto n = payload<std::string>::broadcast(R"({"tenant":7,"x":[1,2]})");
    n.keys.push_back("users");
    CHECK(targets(r, n) == std::vector<std::uint32_t>{0, 2});
    // Not JSON, not an object, no such field, another value: no field route matches; nothing at all is unrouted.
    for (const char* json : {"not json", "[1,2]", R"({"other":"acme"})", R"({"tenant":"acme2"})", R"({"tenant":null})"}) {
        std::uint32_t unrouted = 0;
        CHECK(targets(r, payload<std::string>::broadcast(json), &unrouted).empty());
        CHECK(unrouted == 1);
    }
}

TEST_CASE("config_router: a broadcast route takes every record") {
    std::vector<route_config> routes(1);
    routes[0].sinks = {"b", "c"};
    const config_router r(routes, [](const std::string& s) { return static_cast<std::uint32_t>(s[0] - 'a'); });
    CHECK(targets(r, payload<std::string>::broadcast("whatever")) == std::vector<std::uint32_t>{1, 2});
}

TEST_CASE("parse_firehose reads sinks like the configuration file and applies MiniFirehose's buffer limits") {
    const auto parsed = parse_firehose(R"({"name":"clicks","buffer_count_limit":500,"buffer_size_limit_mb":2.5,"buffer_time_limit":30,
        "sinks":{"local":{"type":"file","directory":"/tmp/clicks","format":"parquet","partition_by":["day"]},
                 "dlq":{"type":"file","directory":"/tmp/dlq"},
                 "queue":{"type":"sqs","queue_url":"https://sqs.eu-west-1.amazonaws.com/1/q","dead_letter":"dlq",
                          "batch":{"max_events":10}}}})");
    REQUIRE(parsed.errors.empty());
    REQUIRE(parsed.definition);
    const auto& d = *parsed.definition;
    CHECK(d.name == "clicks");
    REQUIRE(d.sinks.size() == 3);
    const auto* local = &d.sinks[1]; // toml++ keeps keys sorted: dlq, local, queue
    CHECK(local->name == "local");
    const auto& file = std::get<sluice::config::file_sink>(local->options);
    CHECK(file.format == sluice::config::object_format::parquet);
    CHECK(file.partition_by == std::vector<std::string>{"day"});
    CHECK(local->delivery.batch.max_events == 500u);
    CHECK(local->delivery.batch.max_bytes == std::size_t(2.5 * 1024 * 1024));
    CHECK(local->delivery.batch.max_age == std::chrono::seconds(30));
    CHECK(d.sinks[2].delivery.batch.max_events == 10u); // the sink's own setting wins
    CHECK(d.sinks[2].delivery.dead_letter == "dlq");
    CHECK(d.json.find("\"clicks\"") != std::string::npos);
    CHECK(d.json.find('\n') == std::string::npos); // minified, as persisted
}

std::vector<std::string> refusals(std::string_view body) {
    auto parsed = parse_firehose(body);
    CHECK_FALSE(parsed.definition);
    return parsed.errors;
}

bool has(const std::vector<std::string>& errors, std::string_view what) {
    return std::any_of(errors.begin(), errors.end(), [&](const std::string& e) { return e.find(what) != std::string::npos; });
}

TEST_CASE("parse_firehose refuses with every reason") {
    CHECK(has(refusals("nope"), "must be a JSON object"));
    CHECK(has(refusals("[1]"), "must be a JSON object"));
    auto e = refusals(R"({"sinks":{}})");
    CHECK(has(e, "'name' (a string) is required"));
    CHECK(has(e, "'sinks' (an object of at least one sink"));
    CHECK(has(refusals(R"({"name":"../etc","sinks":{"a":{"type":"file","directory":"/x"}}})"), "'name' must be 1 to 64"));
    CHECK(has(refusals(R"({"name":"-x","sinks":{"a":{"type":"file","directory":"/x"}}})"), "'name' must be 1 to 64"));
    e = refusals(R"({"name":"f","sinks":{"a":{"type":"file","directory":"/x"}},"buffer_count":5,"buffer_time_limit":-1})");
    CHECK(has(e, "unknown field 'buffer_count'"));
    CHECK(has(e, "'buffer_time_limit' must be a positive number"));
    CHECK(has(refusals(R"({"name":"f","sinks":{"a":{"type":"file","directory":null}}})"), "'directory' is null"));
    CHECK(has(refusals(R"({"name":"f","sinks":{"a":{"type":"file","directory":"/x","batch":{"max_events":18446744073709551615}}}})"),
              "'max_events' is too large"));
    CHECK(has(refusals(R"({"name":"f","sinks":{"a":{"type":"sqs"}}})"), "needs 'queue_url'"));
    CHECK(has(refusals(R"({"name":"f","sinks":{"a":{"type":"kinesys"}}})"), "did you mean \"kinesis\""));
    CHECK(has(refusals(R"({"name":"f","sinks":{"a":5}})"), "must be"));
    // The service's environment is not the API caller's to read.
    CHECK(has(refusals(R"({"name":"f","sinks":{"a":{"type":"file","directory":"${HOME}"}}})"), "environment variable 'HOME' is not set"));
    // Dead letters: to a sink of this firehose, never in a cycle.
    CHECK(has(refusals(R"({"name":"f","sinks":{"a":{"type":"file","directory":"/x","dead_letter":"zz"}}})"), "'zz'"));
    CHECK(has(refusals(R"({"name":"f","sinks":{"a":{"type":"file","directory":"/x","dead_letter":"b"},
                                              "b":{"type":"file","directory":"/y","dead_letter":"a"}}})"),
              "a cycle"));
}

TEST_CASE("metric_datum_from_json reads a datum and names what it refuses") {
    const auto d = metric_datum_from_json(R"({"name":"latency","value":12.5,"unit":"Milliseconds",
        "dimensions":{"service":"api","az":"b"},"timestamp":1767225600000,"storage_resolution":1,"namespace":"App"})");
    CHECK(d.name == "latency");
    CHECK(d.value == 12.5);
    CHECK(d.unit == "Milliseconds");
    REQUIRE(d.dimensions.size() == 2);
    CHECK(d.dimensions[0].name == "service");
    CHECK(d.dimensions[1].value == "b");
    CHECK(d.timestamp.time_since_epoch() == std::chrono::milliseconds(1767225600000));
    CHECK(d.storage_resolution == 1);
    CHECK(d.namespace_name == "App");
    const auto many = metric_datum_from_json(R"({"name":"n","values":[1,2.5],"counts":[3,4]})");
    CHECK(many.values == std::vector<double>{1, 2.5});
    CHECK(many.counts == std::vector<double>{3, 4});
    CHECK_THROWS_WITH(metric_datum_from_json(R"({"value":1})"), "a metric record needs a 'name'");
    CHECK_THROWS_WITH(metric_datum_from_json(R"({"name":"n","valu":1})"), doctest::Contains("unknown metric field 'valu'"));
    CHECK_THROWS_WITH(metric_datum_from_json(R"({"name":"n","value":"1"})"), "metric field 'value' must be a number");
    CHECK_THROWS_WITH(metric_datum_from_json(R"({"name":"n","dimensions":{"a":1}})"), "metric field 'dimensions.a' must be a string");
    CHECK_THROWS_WITH(metric_datum_from_json("[1]"), "a metric record must be a JSON object");
    CHECK_THROWS_WITH(metric_datum_from_json("{"), "a metric record must be JSON");
}

sluice::http::server_request request(std::string type, std::string body) {
    sluice::http::server_request r;
    if (!type.empty()) r.headers.push_back({"content-type", std::move(type)});
    r.body = std::move(body);
    return r;
}

TEST_CASE("split_messages: one JSON value, an array, NDJSON; a clear reason otherwise") {
    auto one = detail::split_messages(request("application/json", " {\"a\": 1} "));
    CHECK(one.error.empty());
    CHECK(one.single);
    CHECK(one.records == std::vector<std::string>{R"({"a":1})"});
    auto none = detail::split_messages(request("", R"("text")")); // no Content-Type: JSON
    CHECK(none.records == std::vector<std::string>{R"("text")"});
    auto array = detail::split_messages(request("application/json; charset=utf-8", R"([{"a":1}, 2, "x"])"));
    CHECK_FALSE(array.single);
    CHECK(array.records == std::vector<std::string>{R"({"a":1})", "2", R"("x")"});
    auto lines = detail::split_messages(request("application/x-ndjson", "{\"a\":1}\r\n\n  \n{\"b\":2}"));
    CHECK(lines.records == std::vector<std::string>{R"({"a":1})", R"({"b":2})"});
    CHECK(detail::split_messages(request("application/x-ndjson", "{\"a\":1}\n{oops\n")).error == "line 2 is not JSON");
    CHECK(detail::split_messages(request("application/json", "{oops")).error == "the body is not JSON");
    CHECK(detail::split_messages(request("text/plain", "{}")).error.starts_with("Content-Type must be"));
}

/// A sink that fails every record with `why` (or takes it), counting what it took.
class scripted_sink final : public sink_runner {
public:
    scripted_sink(std::string name, std::optional<sluice::outcome> why) : sink_runner(std::move(name), "test"), why_(std::move(why)) {}
    sluice::task<void> start() override { co_return; }
    sluice::task<void> flush() override { co_return; }
    sluice::task<void> stop(std::chrono::milliseconds) override { co_return; }
    std::vector<std::string> taken;

protected:
    sluice::task<void> deliver_one(std::string& json) override {
        std::string record = std::move(json); // as the real sinks do: they consume their record
        if (why_) throw sluice::delivery_error(*why_);
        taken.push_back(std::move(record));
        co_return;
    }

private:
    std::optional<sluice::outcome> why_;
};

TEST_CASE("sink_runner: a finally failed record goes to the dead-letter sink, wrapped with the reason") {
    auto failure = sluice::outcome::reject("ValidationError: too big");
    failure.attempts = 3;
    scripted_sink failing("orders", failure);
    scripted_sink dead("dead", std::nullopt);
    failing.set_dead_letter(&dead);
    std::string message;
    sluice::sync_wait([&]() -> sluice::task<void> {
        try {
            co_await failing.deliver(R"({"id":1})");
        } catch (const sluice::delivery_error& e) {
            message = e.what();
        }
    }());
    CHECK(message == "ValidationError: too big (kept by dead-letter sink 'dead')");
    REQUIRE(dead.taken.size() == 1);
    CHECK(dead.taken[0] == R"({"failed_sink":"orders","reason":"ValidationError: too big","kind":"reject","attempts":3,"record":{"id":1}})");
    CHECK(failing.failed() == 1);
    CHECK(dead.delivered() == 1);
    REQUIRE(failing.last_failure());
    CHECK(failing.last_failure()->message == "ValidationError: too big");

    // A dead-letter sink that fails too: both reasons reach the sender.
    scripted_sink broken("broken", sluice::outcome::retry("disk full"));
    failing.set_dead_letter(&broken);
    sluice::sync_wait([&]() -> sluice::task<void> {
        try {
            co_await failing.deliver(R"({"id":2})");
        } catch (const sluice::delivery_error& e) {
            message = e.what();
        }
    }());
    CHECK(message == "ValidationError: too big (dead-letter sink 'broken' failed too: disk full)");
}

sluice::config::pipeline_config parse(std::string_view toml) {
    auto r = sluice::config::parse_config(toml, "reload.toml", [](std::string_view) -> std::optional<std::string> { return std::nullopt; });
    REQUIRE_MESSAGE(r.ok(), (r.errors.empty() ? std::string() : r.errors.front().to_string()));
    return *r.config;
}

constexpr std::string_view reload_base = R"(
[sources.api]
type = "http"
port = 8080
queue = "a"
[sources.tail]
type = "file"
path = "/var/log/x.ndjson"
queue = "b"
[queues.a]
[[queues.a.routes]]
by = "broadcast"
sinks = ["s1", "s2"]
[queues.b]
[[queues.b.routes]]
by = "broadcast"
sinks = ["s3"]
[sinks.s1]
type = "file"
directory = "/tmp/s1"
dead_letter = "dlq"
[sinks.s2]
type = "file"
directory = "/tmp/s2"
[sinks.s3]
type = "file"
directory = "/tmp/s3"
[sinks.dlq]
type = "file"
directory = "/tmp/dlq"
)";

std::string replaced(std::string text, std::string_view from, std::string_view to) {
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

TEST_CASE("plan_reload restarts what changed and what holds on to it, nothing else") {
    const auto base = parse(reload_base);
    CHECK(plan_reload(base, base).empty());
    // A sink's option: that sink and its queue; the file source of the other queue stays.
    auto p = plan_reload(base, parse(replaced(std::string(reload_base), "/tmp/s2", "/tmp/s2b")));
    CHECK(p.sinks == std::set<std::string>{"s2"});
    CHECK(p.queues == std::set<std::string>{"a"});
    CHECK(p.sources.empty()); // the HTTP source looks its queue up by name
    // A dead-letter sink: it, the sink that points at it, their queue.
    p = plan_reload(base, parse(replaced(std::string(reload_base), "/tmp/dlq", "/tmp/dlq2")));
    CHECK(p.sinks == std::set<std::string>{"dlq", "s1"});
    CHECK(p.queues == std::set<std::string>{"a"});
    // The tailed file's queue: the line source that feeds it restarts too.
    p = plan_reload(base, parse(replaced(std::string(reload_base), "/tmp/s3", "/tmp/s3b")));
    CHECK(p.queues == std::set<std::string>{"b"});
    CHECK(p.sources == std::set<std::string>{"tail"});
    // The HTTP source's port: only the source.
    p = plan_reload(base, parse(replaced(std::string(reload_base), "port = 8080", "port = 8081")));
    CHECK(p.sinks.empty());
    CHECK(p.queues.empty());
    CHECK(p.sources == std::set<std::string>{"api"});
    // A queue's settings; a new sink added elsewhere starts without stopping anything.
    p = plan_reload(base, parse(replaced(std::string(reload_base), "[queues.b]", "[queues.b]\ncapacity = 10")));
    CHECK(p.queues == std::set<std::string>{"b"});
    p = plan_reload(base, parse(std::string(reload_base) + "[sinks.new]\ntype = \"file\"\ndirectory = \"/tmp/n\"\n"));
    CHECK(p.empty());
}

TEST_CASE("status JSON escapes names and says when nothing failed") {
    scripted_sink sink("odd\"name", std::nullopt);
    std::string out;
    detail::append_sink(out, sink, true);
    CHECK(out == R"({"name":"odd\"name","type":"test","dead_letter":null,"delivered":0,"failed":0,"last_error":null})");
}

} // namespace test_sluiced

#endif
