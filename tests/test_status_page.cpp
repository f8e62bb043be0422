// The observability routes (metrics/status_page.hpp) on an in-process http::server, fetched with the
// library's own client: /metrics read back series by series against the registry's snapshot,
// /health, /status.json parsed with simdjson and compared field by field with what the callback
// described (hostile strings included), the page self-contained, prefixes and their redirect, HEAD,
// the RFC 3339 writer, and last_errors fed by a real pipeline's log.

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL && SLUICE_HAS_SIMDJSON

#include <sluice/http/client.hpp>
#include <sluice/http/router.hpp>
#include <sluice/http/server.hpp>
#include <sluice/delivery/pipeline.hpp>
#include <sluice/metrics/last_errors.hpp>
#include <sluice/metrics/status_page.hpp>
#include <sluice/sinks/fault_injecting_sink.hpp>

#include <simdjson.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace test_status_page {

using namespace sluice;
using namespace std::chrono_literals;

namespace {

/// A registry with the series a sink pipeline and a queue register, moved away from zero.
void fill(metrics_registry& registry) {
    sink_metrics sink(registry, "orders-sqs");
    buffer_metrics buffer(registry, "orders-sqs");
    queue_metrics queue(registry, "orders");
    queue.events_in.add(1200);
    queue.depth.set(7);
    sink.events_in.add(1000);
    sink.events_out.add(990);
    sink.events_failed.add(3);
    sink.events_dropped.add(2);
    sink.events_retried.add(41);
    sink.requests.add(20);
    sink.retries.add(4);
    sink.throttles.add(1);
    sink.batch_events.observe(50);
    sink.request_duration.observe(0.012);
    buffer.memory_events.set(5);
    buffer.memory_bytes.set(640);
    buffer.disk_events.set(12);
    buffer.disk_bytes.set(4096);
    // A label value that needs every escape of the format.
    sink_metrics odd(registry, "we\"ird\\na\nme");
    odd.events_out.add(3);
}

/// One parsed sample line: the series (name and labels as a string key) and its value.
struct parsed_sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

/// A strict reader of the text format 0.0.4 as render_prometheus writes it: a line is a comment
/// (# HELP / # TYPE) or `name{label="value",...} value`. Anything else fails the test.
std::vector<parsed_sample> parse_exposition(std::string_view text) {
    std::vector<parsed_sample> out;
    REQUIRE((text.empty() || text.back() == '\n'));
    while (!text.empty()) {
        const std::string_view line = text.substr(0, text.find('\n'));
        text.remove_prefix(line.size() + 1);
        if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
        INFO("line: " << line);
        REQUIRE_FALSE(line.empty());
        parsed_sample s;
        std::size_t i = 0;
        while (i < line.size() && (std::isalnum(static_cast<unsigned char>(line[i])) || line[i] == '_' || line[i] == ':')) ++i;
        REQUIRE(i > 0);
        s.name = std::string(line.substr(0, i));
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (line.at(i) != '}') {
                const std::size_t eq = line.find("=\"", i);
                REQUIRE(eq != std::string_view::npos);
                const std::string key(line.substr(i, eq - i));
                std::string value;
                for (i = eq + 2; line.at(i) != '"'; ++i) {
                    if (line[i] == '\\') {
                        const char next = line.at(++i);
                        REQUIRE((next == '\\' || next == '"' || next == 'n'));
                        value += next == 'n' ? '\n' : next;
                    } else {
                        value += line[i];
                    }
                }
                s.labels[key] = value;
                ++i;
                if (line.at(i) == ',') ++i;
            }
            ++i;
        }
        REQUIRE(line.at(i) == ' ');
        const std::string number(line.substr(i + 1));
        s.value = number == "+Inf" ? INFINITY : std::stod(number);
        out.push_back(std::move(s));
    }
    return out;
}

/// The test's routes on a server; `body` runs with the server's base URL, the server stops after.
struct harness {
    io_loop loop;
    metrics_registry registry;
    http::router routes;
    std::optional<http::server> server;

    explicit harness(observability_options options = {}) {
        fill(registry);
        add_observability_routes(routes, registry, std::move(options));
        server.emplace(loop, routes.as_handler());
    }

    void run(std::function<task<void>(http::client&, std::string)> body) {
        auto main = [&]() -> task<void> {
            server->start();
            std::exception_ptr failed;
            try {
                http::client client(loop);
                co_await body(client, server->url());
            } catch (...) {
                failed = std::current_exception();
            }
            co_await server->stop(1s);
            if (failed) std::rethrow_exception(failed);
        };
        loop.run_until_complete(main());
        loop.drain();
    }
};

task<http::response> fetch(http::client& client, std::string url, std::string method = "GET") {
    http::request r;
    r.method = std::move(method);
    r.url = std::move(url);
    auto res = co_await client.request(r);
    REQUIRE(res.is_ok());
    co_return std::move(res.value());
}

std::string label_key(const label_set& labels) {
    std::string k;
    for (const auto& l : labels) k += l.name + "=" + l.value + ";";
    return k;
}

std::string label_key(const std::map<std::string, std::string>& labels) {
    std::string k;
    for (const auto& [name, value] : labels) k += name + "=" + value + ";";
    return k;
}

/// The pipelines the status tests describe: every optional field both ways, hostile text included.
std::vector<pipeline_status> described_pipelines() {
    std::vector<pipeline_status> out;
    pipeline_status orders;
    orders.name = "orders";
    orders.queue = "orders";
    orders.sources = {"http", "stdin"};
    sink_status sqs;
    sqs.name = "orders-sqs";
    sqs.type = "sqs";
    sqs.dead_letter = "orders-dlq";
    sqs.last_error = sink_error{"throttled: \"Rate exceeded\"\n\\ \x01 caf\xc3\xa9 <script>",
                                std::chrono::system_clock::time_point(1700000000123ms)};
    sink_status dlq;
    dlq.name = "orders-dlq";
    dlq.type = "file";
    orders.sinks = {sqs, dlq};
    pipeline_status clicks;
    clicks.name = "clicks";
    clicks.kind = pipeline_kind::firehose;
    out.push_back(orders);
    out.push_back(clicks);
    return out;
}

std::string text_of(simdjson::ondemand::value v) {
    std::string_view s;
    REQUIRE(v.get_string().get(s) == simdjson::SUCCESS);
    return std::string(s);
}

/// Reads one sink of /status.json and compares it with what was described.
void check_sink(simdjson::ondemand::object sink, const sink_status& want) {
    CHECK(text_of(sink["name"]) == want.name);
    CHECK(text_of(sink["type"]) == want.type);
    auto dead_letter = sink["dead_letter"];
    if (want.dead_letter) CHECK(text_of(dead_letter.value()) == *want.dead_letter);
    else CHECK(dead_letter.is_null().value());
    auto last_error = sink["last_error"];
    if (!want.last_error) {
        CHECK(last_error.is_null().value());
        return;
    }
    simdjson::ondemand::object e = last_error.get_object();
    CHECK(text_of(e["message"]) == want.last_error->message);
    CHECK(text_of(e["at"]) == "2023-11-14T22:13:20.123Z");
}

} // namespace

TEST_SUITE("status page") {

TEST_CASE("GET /metrics: the text format's content type, every series of the registry with its value") {
    harness h;
    h.run([&](http::client& client, std::string base) -> task<void> {
        const http::response res = co_await fetch(client, base + "/metrics");
        CHECK(res.status == 200);
        CHECK(res.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
        CHECK(res.header("cache-control") == "no-store");
        const auto parsed = parse_exposition(res.body);
        std::map<std::string, double> seen;
        for (const auto& s : parsed) seen[s.name + "|" + label_key(s.labels)] = s.value;
        const metrics_snapshot snap = h.registry.snapshot();
        REQUIRE(snap.samples.size() > 20);
        std::size_t compared = 0;
        for (const auto& s : snap.samples) {
            if (s.type == metric_type::histogram) {
                CHECK(seen.at(s.name + "_count|" + label_key(s.labels)) == static_cast<double>(s.count));
                CHECK(seen.at(s.name + "_sum|" + label_key(s.labels)) == doctest::Approx(s.value));
            } else {
                INFO(s.name << " " << label_key(s.labels));
                CHECK(seen.at(s.name + "|" + label_key(s.labels)) == s.value);
            }
            ++compared;
        }
        CHECK(compared == snap.samples.size());
        CHECK(seen.at("sluice_events_out_total|component=sink;name=we\"ird\\na\nme;") == 3);
        CHECK(seen.at("sluice_buffer_bytes|component=buffer;medium=disk;name=orders-sqs;") == 4096);
        CHECK(seen.at("sluice_queue_depth|component=queue;name=orders;") == 7);
    });
}

TEST_CASE("GET /health answers {\"status\":\"ok\"} as JSON; HEAD answers without a body") {
    harness h;
    h.run([&](http::client& client, std::string base) -> task<void> {
        const http::response res = co_await fetch(client, base + "/health");
        CHECK(res.status == 200);
        CHECK(res.header("content-type") == "application/json");
        CHECK(res.body == "{\"status\":\"ok\"}");
        const http::response head = co_await fetch(client, base + "/metrics", "HEAD");
        CHECK(head.status == 200);
        CHECK(head.body.empty());
        const http::response post = co_await fetch(client, base + "/metrics", "POST");
        CHECK(post.status == 501); // the router: no route takes POST
    });
}

TEST_CASE("GET /status.json: the callback's pipelines round-trip field by field, hostile strings included") {
    observability_options o;
    o.service = "sluiced-test";
    o.version = "9.8.7";
    o.started_at = std::chrono::system_clock::time_point(1700000000123ms);
    int calls = 0;
    o.pipelines = [&calls] {
        ++calls;
        return described_pipelines();
    };
    harness h(std::move(o));
    h.run([&](http::client& client, std::string base) -> task<void> {
        const http::response res = co_await fetch(client, base + "/status.json");
        CHECK(res.status == 200);
        CHECK(res.header("content-type") == "application/json");
        CHECK(calls == 1);
        simdjson::ondemand::parser parser;
        simdjson::padded_string json(res.body);
        simdjson::ondemand::document doc = parser.iterate(json);
        simdjson::ondemand::object root = doc.get_object();
        CHECK(text_of(root["service"]) == "sluiced-test");
        CHECK(text_of(root["version"]) == "9.8.7");
        CHECK(text_of(root["started_at"]) == "2023-11-14T22:13:20.123Z");
        double uptime = 0;
        REQUIRE(root["uptime_seconds"].get_double().get(uptime) == simdjson::SUCCESS);
        const double expected = std::chrono::duration<double>(std::chrono::system_clock::now() -
                                                              std::chrono::system_clock::time_point(1700000000123ms)).count();
        CHECK(uptime == doctest::Approx(expected).epsilon(0.01));
        const auto want = described_pipelines();
        std::size_t p = 0;
        for (auto pipeline_value : root["pipelines"].get_array()) {
            REQUIRE(p < want.size());
            simdjson::ondemand::object pipeline = pipeline_value.get_object();
            CHECK(text_of(pipeline["name"]) == want[p].name);
            CHECK(text_of(pipeline["kind"]) == std::string(to_string(want[p].kind)));
            CHECK(text_of(pipeline["queue"]) == want[p].queue);
            std::vector<std::string> sources;
            for (auto s : pipeline["sources"].get_array()) sources.push_back(text_of(s.value()));
            CHECK(sources == want[p].sources);
            std::size_t k = 0;
            for (auto sink : pipeline["sinks"].get_array()) {
                REQUIRE(k < want[p].sinks.size());
                check_sink(sink.get_object(), want[p].sinks[k++]);
            }
            CHECK(k == want[p].sinks.size());
            ++p;
        }
        CHECK(p == want.size());
    });
}

TEST_CASE("without a callback /status.json lists no pipelines") {
    harness h;
    h.run([&](http::client& client, std::string base) -> task<void> {
        const http::response res = co_await fetch(client, base + "/status.json");
        CHECK(res.status == 200);
        CHECK(res.body.find("\"service\":\"sluiced\",\"version\":\"" + std::string(version_string) + "\"") == 1);
        CHECK(res.body.ends_with(",\"pipelines\":[]}"));
    });
}

TEST_CASE("GET /: the status page, self-contained: no other host, no external script, style or font") {
    harness h;
    h.run([&](http::client& client, std::string base) -> task<void> {
        const http::response res = co_await fetch(client, base + "/");
        CHECK(res.status == 200);
        CHECK(res.header("content-type") == "text/html; charset=utf-8");
        const std::string csp(res.header("content-security-policy").value_or(""));
        CHECK(csp.find("default-src 'none'") != std::string::npos);
        CHECK(csp.find("connect-src 'self'") != std::string::npos);
        const std::string& page = res.body;
        CHECK(page.starts_with("<!doctype html>"));
        CHECK(page.ends_with("</html>\n"));
        for (const char* banned : {"http://", "https://", "//cdn", "<script src", "<link rel=\"stylesheet\"", "@import",
                                   "url(", "src=\"//", "@font-face"})
            CHECK_MESSAGE(page.find(banned) == std::string::npos, "the page contains " << banned);
        // What it polls, relative to where it is served.
        CHECK(page.find("fetchText(\"status.json\")") != std::string::npos);
        CHECK(page.find("fetchText(\"metrics\")") != std::string::npos);
        // Accessible markup: a language, table headers with scope, a live region for the connection.
        CHECK(page.find("<html lang=\"en\">") != std::string::npos);
        CHECK(page.find("scope: \"col\"") != std::string::npos);
        CHECK(page.find("role=\"status\" aria-live=\"polite\"") != std::string::npos);
        // Text from the service never becomes markup.
        CHECK(page.find("innerHTML") == std::string::npos);
    });
}

TEST_CASE("a prefix mounts everything under it; the bare prefix redirects to the page; / stays free") {
    observability_options o;
    o.prefix = "/ops";
    harness h(std::move(o));
    h.run([&](http::client& client, std::string base) -> task<void> {
        CHECK((co_await fetch(client, base + "/ops/metrics")).status == 200);
        CHECK((co_await fetch(client, base + "/ops/health")).status == 200);
        CHECK((co_await fetch(client, base + "/ops/status.json")).status == 200);
        const http::response page = co_await fetch(client, base + "/ops/");
        CHECK(page.status == 200);
        CHECK(page.body.starts_with("<!doctype html>"));
        const http::response bare = co_await fetch(client, base + "/ops");
        CHECK(bare.status == 308);
        CHECK(bare.header("location") == "/ops/");
        CHECK((co_await fetch(client, base + "/")).status == 404);
        CHECK((co_await fetch(client, base + "/metrics")).status == 404);
    });
}

TEST_CASE("status_page = false serves no page; a bad prefix or a path routed twice is refused") {
    observability_options o;
    o.status_page = false;
    harness h(std::move(o));
    h.run([&](http::client& client, std::string base) -> task<void> {
        CHECK((co_await fetch(client, base + "/")).status == 404);
        CHECK((co_await fetch(client, base + "/metrics")).status == 200);
    });
    metrics_registry registry;
    http::router routes;
    for (const char* bad : {"ops", "/ops/", "/"}) {
        observability_options p;
        p.prefix = bad;
        CHECK_THROWS_AS(add_observability_routes(routes, registry, std::move(p)), std::invalid_argument);
    }
    add_observability_routes(routes, registry);
    CHECK_THROWS_AS(add_observability_routes(routes, registry), std::invalid_argument);
}

TEST_CASE("to_json: null and empty fields, and the exact text of a small status") {
    service_status s;
    s.service = "svc";
    s.version = "1.2.3";
    s.started_at = std::chrono::system_clock::time_point(1500ms);
    s.uptime = 2500ms;
    pipeline_status p;
    p.name = "p";
    sink_status k;
    k.name = "k";
    k.type = "null";
    p.sinks.push_back(k);
    s.pipelines.push_back(p);
    CHECK(to_json(s) == "{\"service\":\"svc\",\"version\":\"1.2.3\",\"started_at\":\"1970-01-01T00:00:01.500Z\","
                        "\"uptime_seconds\":2.5,\"pipelines\":[{\"name\":\"p\",\"kind\":\"pipeline\",\"queue\":\"\","
                        "\"sources\":[],\"sinks\":[{\"name\":\"k\",\"type\":\"null\",\"dead_letter\":null,"
                        "\"last_error\":null}]}]}");
}

TEST_CASE("last_errors: a real pipeline's final failures reach it through its logger; others pass by") {
    io_loop loop;
    metrics_registry registry;
    last_errors errors;
    std::vector<std::string> forwarded;
    logger log(log_options{.level = log_level::warn}, errors.observer([&](const log_record& r) { forwarded.emplace_back(r.message); }));
    fault_injecting_sink sink(loop, {.reject = [](std::string_view r) { return r.find("bad") != std::string_view::npos; }});
    delivery_options o;
    o.name = "orders";
    o.metrics = &registry;
    o.log = &log;
    o.batch.max_age = 1ms;
    delivery_pipeline<fault_injecting_sink> pipeline(loop, sink, o);
    std::vector<std::string> refused;
    const auto before = std::chrono::system_clock::now();
    auto run = [&]() -> task<void> {
        co_await pipeline.start();
        for (int id = 0; id < 10; ++id) {
            std::string record = id % 5 == 3 ? "{\"bad\":" + std::to_string(id) + "}" : "{\"id\":" + std::to_string(id) + "}";
            try {
                co_await pipeline.deliver(std::move(record));
            } catch (const delivery_error& e) {
                refused.emplace_back(e.what());
            }
        }
        co_await pipeline.stop(1s);
    };
    loop.run_until_complete(run());
    CHECK(refused.size() == 2);
    CHECK(sink.delivered().size() == 8);
    const auto e = errors.get("orders");
    REQUIRE(e.has_value());
    CHECK(e->message.find("record not delivered") == 0);
    CHECK(e->message.find("invalid record") != std::string::npos);
    CHECK(e->message.find("bad") == std::string::npos); // the record's body is not in it
    CHECK(e->at >= std::chrono::floor<std::chrono::milliseconds>(before));
    CHECK(e->at <= std::chrono::system_clock::now());
    CHECK_FALSE(errors.get("other").has_value());
    CHECK(forwarded.size() >= 1); // every record still reaches the next callback
    // What is not a sink's failure passes by: below warn, or without a sink field.
    log.error("http.server", "accept failed", {});
    log.info("delivery", "noted", {field::plain("sink", "quiet")});
    CHECK_FALSE(errors.get("quiet").has_value());
    errors.clear("orders");
    CHECK_FALSE(errors.get("orders").has_value());
}

TEST_CASE("last_errors: messages are cut at 1024 bytes without splitting a UTF-8 character") {
    last_errors errors;
    std::string long_message(1023, 'a');
    long_message += "\xc3\xa9 and more";
    errors.note("s", long_message, std::chrono::system_clock::time_point(5ms));
    const auto e = errors.get("s");
    REQUIRE(e.has_value());
    CHECK(e->message == std::string(1023, 'a'));
    CHECK(e->at == std::chrono::system_clock::time_point(5ms));
    errors.note("s", "short");
    CHECK(errors.get("s")->message == "short");
}

} // TEST_SUITE

} // namespace test_status_page

#endif
