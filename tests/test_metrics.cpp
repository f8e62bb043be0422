// Metrics and logs: counter/gauge/histogram values, labels, the exact Prometheus text, name validation,
// type conflicts, concurrent updates, snapshots, the standard component sets; the logger's level
// filtering, redaction by field kind, and the URL/header sanitizers.

#include <doctest/doctest.h>

#include <sluice/metrics/log.hpp>
#include <sluice/metrics/log_throttle.hpp>
#include <sluice/metrics/metrics.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_metrics {

using namespace sluice;
using namespace std::chrono_literals;

namespace {

/// The message of the std::invalid_argument `f` throws ("" if it throws none).
template <class F>
std::string invalid_argument_of(F&& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

/// Records what a logger hands its callback (copies: the record's views die with the call).
struct captured {
    struct entry {
        log_level level;
        std::string component;
        std::string message;
        std::vector<std::pair<std::string, std::string>> fields;
        std::string line;
    };
    std::vector<entry> entries;

    log_callback callback() {
        return [this](const log_record& r) {
            entry e{r.level, std::string(r.component), std::string(r.message), {}, format_log_line(r)};
            for (const auto& f : r.fields) e.fields.emplace_back(std::string(f.key), std::string(f.value));
            entries.push_back(std::move(e));
        };
    }
    std::string value(std::size_t i, std::string_view key) const {
        for (const auto& [k, v] : entries.at(i).fields)
            if (k == key) return v;
        return "<missing>";
    }
};

} // namespace

TEST_SUITE("metrics") {
    TEST_CASE("counter, gauge and histogram values") {
        metrics_registry r;
        auto c = r.get_counter("events_total", "Events.");
        c.inc();
        c.add(41);
        CHECK(c.value() == 42);

        auto g = r.get_gauge("held_bytes", "Bytes.");
        g.set(10);
        g.add(2.5);
        g.sub(0.5);
        g.inc();
        g.dec();
        g.dec();
        CHECK(g.value() == 11.0);
        g.sub(20);
        CHECK(g.value() == -9.0);

        auto h = r.get_histogram("batch_events", "Events per batch.", {1, 10, 100});
        for (double v : {0.5, 1.0, 5.0, 10.0, 50.0, 1000.0}) h.observe(v);
        CHECK(h.count() == 6);
        CHECK(h.sum() == 1066.5);
        CHECK(h.bounds().size() == 3);
        h.observe(std::chrono::milliseconds(250));
        CHECK(h.sum() == 1066.75);
        CHECK(h.count() == 7);

        auto snap = r.snapshot();
        const auto* s = snap.find("batch_events");
        REQUIRE(s != nullptr);
        REQUIRE(s->buckets.size() == 4);
        // le=1: 0.5, 1, 0.25 s; le=10: + 5, 10; le=100: + 50; +Inf: + 1000
        CHECK(s->buckets[0].upper_bound == 1);
        CHECK(s->buckets[0].cumulative_count == 3);
        CHECK(s->buckets[1].cumulative_count == 5);
        CHECK(s->buckets[2].cumulative_count == 6);
        CHECK(std::isinf(s->buckets[3].upper_bound));
        CHECK(s->buckets[3].cumulative_count == 7);
    }

    TEST_CASE("histogram: NaN and values beyond the last bound count in +Inf; a trailing +Inf bound is dropped") {
        metrics_registry r;
        auto h = r.get_histogram("h", "", {1, 2, std::numeric_limits<double>::infinity()});
        CHECK(h.bounds().size() == 2);
        h.observe(std::nan(""));
        h.observe(3);
        h.observe(-5); // below every bound: the first bucket
        auto s = r.snapshot().samples.at(0);
        CHECK(s.buckets[0].cumulative_count == 1);
        CHECK(s.buckets[1].cumulative_count == 1);
        CHECK(s.buckets[2].cumulative_count == 3);
        CHECK(s.count == 3);
        CHECK(std::isnan(s.value));
    }

    TEST_CASE("bucket helpers") {
        CHECK(exponential_buckets(1, 2, 4) == std::vector<double>{1, 2, 4, 8});
        CHECK(linear_buckets(0, 5, 3) == std::vector<double>{0, 5, 10});
        CHECK_THROWS_AS((void)exponential_buckets(0, 2, 3), std::invalid_argument);
        CHECK_THROWS_AS((void)exponential_buckets(1, 1, 3), std::invalid_argument);
        CHECK_THROWS_AS((void)exponential_buckets(1, 2, 0), std::invalid_argument);
        CHECK_THROWS_AS((void)linear_buckets(0, 0, 3), std::invalid_argument);
        CHECK(default_latency_buckets().front() == 0.001);
    }

    TEST_CASE("the same name and labels, in any order, give the same metric") {
        metrics_registry r;
        auto a = r.get_counter("x_total", "X.", {{"component", "sink"}, {"name", "sqs-main"}});
        auto b = r.get_counter("x_total", "", {{"name", "sqs-main"}, {"component", "sink"}});
        auto other = r.get_counter("x_total", "", {{"component", "sink"}, {"name", "sqs-other"}});
        a.add(2);
        b.add(3);
        other.inc();
        CHECK(a.value() == 5);
        CHECK(b.value() == 5);
        CHECK(other.value() == 1);

        auto h1 = r.get_histogram("lat", "", {1, 2});
        auto h2 = r.get_histogram("lat", "", {1, 2});
        h1.observe(1);
        CHECK(h2.count() == 1);

        auto snap = r.snapshot();
        CHECK(snap.samples.size() == 3);
        const auto* s = snap.find("x_total", {{"name", "sqs-main"}, {"component", "sink"}});
        REQUIRE(s != nullptr);
        CHECK(s->help == "X."); // the first registration's help is kept
        CHECK(s->labels == label_set{{"component", "sink"}, {"name", "sqs-main"}});
        CHECK(snap.find("x_total") == nullptr);
    }

    TEST_CASE("detached handles do nothing") {
        counter c;
        gauge g;
        histogram h;
        c.inc();
        g.set(3);
        h.observe(1);
        CHECK_FALSE(c);
        CHECK_FALSE(g);
        CHECK_FALSE(h);
        CHECK(c.value() == 0);
        CHECK(g.value() == 0);
        CHECK(h.count() == 0);
        CHECK(h.bounds().empty());
        sink_metrics unwired;
        unwired.events_in.inc();
        unwired.request_duration.observe(1ms);
        CHECK(unwired.events_in.value() == 0);
    }

    TEST_CASE("render_prometheus: the exact text of a small registry") {
        metrics_registry r;
        auto queue_in = r.get_counter("sluice_events_in_total", "Events accepted.", {{"name", "q1"}, {"component", "queue"}});
        auto sink_in = r.get_counter("sluice_events_in_total", "", {{"component", "sink"}, {"name", "sqs-main"}});
        auto bytes = r.get_gauge("sluice_buffer_bytes", "Bytes held.\nSecond line \\ backslash \"quoted\"");
        auto latency = r.get_histogram("sluice_request_duration_seconds", "Latency.", {0.25, 0.5, 1}, {{"name", "s"}});
        queue_in.add(3);
        sink_in.inc();
        bytes.set(1.5);
        bytes.add(2);
        bytes.sub(0.25);
        for (double v : {0.25, 0.5, 0.75, 3.0}) latency.observe(v);

        CHECK(r.render_prometheus() == "# HELP sluice_buffer_bytes Bytes held.\\nSecond line \\\\ backslash \"quoted\"\n"
                                       "# TYPE sluice_buffer_bytes gauge\n"
                                       "sluice_buffer_bytes 3.25\n"
                                       "# HELP sluice_events_in_total Events accepted.\n"
                                       "# TYPE sluice_events_in_total counter\n"
                                       "sluice_events_in_total{component=\"queue\",name=\"q1\"} 3\n"
                                       "sluice_events_in_total{component=\"sink\",name=\"sqs-main\"} 1\n"
                                       "# HELP sluice_request_duration_seconds Latency.\n"
                                       "# TYPE sluice_request_duration_seconds histogram\n"
                                       "sluice_request_duration_seconds_bucket{name=\"s\",le=\"0.25\"} 1\n"
                                       "sluice_request_duration_seconds_bucket{name=\"s\",le=\"0.5\"} 2\n"
                                       "sluice_request_duration_seconds_bucket{name=\"s\",le=\"1\"} 3\n"
                                       "sluice_request_duration_seconds_bucket{name=\"s\",le=\"+Inf\"} 4\n"
                                       "sluice_request_duration_seconds_sum{name=\"s\"} 4.5\n"
                                       "sluice_request_duration_seconds_count{name=\"s\"} 4\n");
    }

    TEST_CASE("render_prometheus: families sort by name, no HELP without help, special float values") {
        metrics_registry r;
        r.get_gauge("b", "").set(std::numeric_limits<double>::infinity());
        r.get_gauge("a", "").set(-std::numeric_limits<double>::infinity());
        r.get_gauge("c", "").set(std::nan(""));
        r.get_gauge("d", "").set(1e21);
        r.get_histogram("e", "", {2}).observe(1);
        CHECK(r.render_prometheus() == "# TYPE a gauge\na -Inf\n"
                                       "# TYPE b gauge\nb +Inf\n"
                                       "# TYPE c gauge\nc NaN\n"
                                       "# TYPE d gauge\nd 1e+21\n"
                                       "# TYPE e histogram\n"
                                       "e_bucket{le=\"2\"} 1\ne_bucket{le=\"+Inf\"} 1\ne_sum 1\ne_count 1\n");
        metrics_registry none;
        CHECK(none.render_prometheus().empty());
    }

    TEST_CASE("label values escape backslash, double quote and newline") {
        metrics_registry r;
        r.get_counter("c_total", "", {{"path", "C:\\dir \"x\"\nnext"}}).add(7);
        CHECK(r.render_prometheus() == "# TYPE c_total counter\nc_total{path=\"C:\\\\dir \\\"x\\\"\\nnext\"} 7\n");
        // The snapshot keeps the value as given.
        CHECK(r.snapshot().samples.at(0).labels.at(0).value == "C:\\dir \"x\"\nnext");
    }

    TEST_CASE("invalid metric and label names are refused with a clear std::invalid_argument") {
        metrics_registry r;
        for (const char* bad : {"", "1abc", "a-b", "a b", "é"}) {
            INFO("name: ", bad);
            auto what = invalid_argument_of([&] { (void)r.get_counter(bad, ""); });
            CHECK(what.find("invalid metric name") != std::string::npos);
        }
        CHECK(invalid_argument_of([&] { (void)r.get_gauge("ok:name_1", ""); }).empty());
        for (const char* bad : {"", "1x", "a-b", "a:b"}) {
            INFO("label: ", bad);
            auto what = invalid_argument_of([&] { (void)r.get_counter("c_total", "", {{bad, "v"}}); });
            CHECK(what.find("invalid label name") != std::string::npos);
        }
        CHECK(invalid_argument_of([&] { (void)r.get_counter("c_total", "", {{"__name__", "v"}}); }).find("reserved") !=
              std::string::npos);
        CHECK(invalid_argument_of([&] { (void)r.get_histogram("h", "", {1}, {{"le", "v"}}); }).find("reserved") !=
              std::string::npos);
        CHECK(invalid_argument_of([&] { (void)r.get_counter("c_total", "", {{"a", "1"}, {"a", "2"}}); })
                  .find("label 'a' given twice") != std::string::npos);
        CHECK(invalid_argument_of([&] { (void)r.get_histogram("h", "", {2, 1}); }).find("strictly increasing") !=
              std::string::npos);
        CHECK(invalid_argument_of([&] { (void)r.get_histogram("h", "", {1, 1}); }).find("strictly increasing") !=
              std::string::npos);
        CHECK(invalid_argument_of([&] { (void)r.get_histogram("h", "", {std::nan("")}); }).find("strictly increasing") !=
              std::string::npos);
        // Nothing refused was registered.
        CHECK(r.snapshot().samples.size() == 1);
    }

    TEST_CASE("a name registered as another type, or a histogram with other bounds, is refused") {
        metrics_registry r;
        (void)r.get_counter("thing", "");
        auto what = invalid_argument_of([&] { (void)r.get_gauge("thing", "", {{"a", "b"}}); });
        CHECK(what == "sluice metrics: 'thing': already registered as a counter, not a gauge");
        CHECK_THROWS_AS((void)r.get_histogram("thing", "", {1}), std::invalid_argument);

        (void)r.get_histogram("lat", "", {1, 2});
        CHECK(invalid_argument_of([&] { (void)r.get_histogram("lat", "", {1, 3}, {{"x", "y"}}); })
                  .find("other bucket bounds") != std::string::npos);
        // A histogram's _bucket/_sum/_count series names are taken, both ways round.
        CHECK(invalid_argument_of([&] { (void)r.get_counter("lat_count", ""); }).find("histogram 'lat'") !=
              std::string::npos);
        (void)r.get_gauge("size_sum", "");
        CHECK(invalid_argument_of([&] { (void)r.get_histogram("size", "", {1}); }).find("size_sum") != std::string::npos);
    }

    TEST_CASE("snapshot: every series with its type, labels and values, in name order") {
        metrics_registry r;
        r.get_counter("b_total", "B.", {{"k", "2"}}).add(5);
        r.get_counter("b_total", "B.", {{"k", "1"}}).add(4);
        r.get_gauge("a", "A.").set(-2);
        r.get_histogram("c", "C.", {10}).observe(4);
        auto snap = r.snapshot();
        REQUIRE(snap.samples.size() == 4);
        CHECK(snap.samples[0].name == "a");
        CHECK(snap.samples[0].type == metric_type::gauge);
        CHECK(snap.samples[0].value == -2);
        CHECK(snap.samples[1].name == "b_total");
        CHECK(snap.samples[1].labels == label_set{{"k", "1"}});
        CHECK(snap.samples[1].type == metric_type::counter);
        CHECK(snap.samples[1].value == 4);
        CHECK(snap.samples[1].count == 4);
        CHECK(snap.samples[2].labels == label_set{{"k", "2"}});
        CHECK(snap.samples[2].value == 5);
        CHECK(snap.samples[3].type == metric_type::histogram);
        CHECK(snap.samples[3].help == "C.");
        CHECK(snap.samples[3].count == 1);
        CHECK(snap.samples[3].value == 4);
        CHECK(snap.samples[3].buckets.size() == 2);
        CHECK(to_string(metric_type::histogram) == "histogram");
    }

    TEST_CASE("the standard sets of queues, buffers and sinks") {
        metrics_registry r;
        queue_metrics q(r, "orders");
        buffer_metrics b(r, "spool");
        sink_metrics s(r, "sqs-main");
        sink_metrics again(r, "sqs-main"); // the same series
        q.events_in.add(3);
        q.depth.set(2);
        b.memory_bytes.add(100);
        b.disk_events.add(4);
        s.events_out.inc();
        again.events_out.inc();
        s.batch_events.observe(10);
        s.request_duration.observe(30ms);
        s.throttles.inc();

        auto snap = r.snapshot();
        const auto* out = snap.find("sluice_events_out_total", {{"component", "sink"}, {"name", "sqs-main"}});
        REQUIRE(out != nullptr);
        CHECK(out->value == 2);
        CHECK(snap.find("sluice_events_in_total", {{"component", "queue"}, {"name", "orders"}})->value == 3);
        CHECK(snap.find("sluice_queue_depth", {{"component", "queue"}, {"name", "orders"}})->value == 2);
        CHECK(snap.find("sluice_buffer_bytes", {{"component", "buffer"}, {"medium", "memory"}, {"name", "spool"}})->value ==
              100);
        CHECK(snap.find("sluice_buffer_events", {{"component", "buffer"}, {"medium", "disk"}, {"name", "spool"}})->value ==
              4);
        CHECK(snap.find("sluice_request_throttles_total", {{"component", "sink"}, {"name", "sqs-main"}})->value == 1);
        const auto* latency = snap.find("sluice_request_duration_seconds", {{"component", "sink"}, {"name", "sqs-main"}});
        REQUIRE(latency != nullptr);
        CHECK(latency->count == 1);
        CHECK(latency->value == doctest::Approx(0.03));
        const std::string text = r.render_prometheus();
        CHECK(text.find("sluice_batch_events_bucket{component=\"sink\",name=\"sqs-main\",le=\"16\"} 1\n") !=
              std::string::npos);
        CHECK(text.find("# TYPE sluice_events_in_total counter\n") != std::string::npos);
    }

    TEST_CASE("4 threads x 100000 increments: exact totals [threads]") {
        metrics_registry r;
        constexpr int threads = 4;
        constexpr int per_thread = 100000;
        std::atomic<int> ready{0};
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) {
            pool.emplace_back([&, t] {
                // Registration races too: every thread must get the same series.
                auto c = r.get_counter("hits_total", "", {{"kind", "shared"}});
                auto mine = r.get_counter("hits_total", "", {{"kind", "t" + std::to_string(t)}});
                auto g = r.get_gauge("level", "");
                auto h = r.get_histogram("obs", "", {0.5, 1.5});
                ready.fetch_add(1);
                while (ready.load() < threads) std::this_thread::yield();
                for (int i = 0; i < per_thread; ++i) {
                    c.inc();
                    mine.inc();
                    g.add(2);
                    g.sub(1);
                    h.observe(1);
                }
            });
        }
        // Render while they run: must not disturb them (nor crash).
        while (ready.load() < threads) std::this_thread::yield();
        for (int i = 0; i < 20; ++i) (void)r.render_prometheus();
        for (auto& th : pool) th.join();

        auto snap = r.snapshot();
        CHECK(snap.find("hits_total", {{"kind", "shared"}})->count == threads * per_thread);
        for (int t = 0; t < threads; ++t)
            CHECK(snap.find("hits_total", {{"kind", "t" + std::to_string(t)}})->count == per_thread);
        CHECK(snap.find("level")->value == threads * per_thread);
        const auto* h = snap.find("obs");
        CHECK(h->count == threads * per_thread);
        CHECK(h->value == threads * per_thread);
        CHECK(h->buckets[0].cumulative_count == 0);
        CHECK(h->buckets[1].cumulative_count == threads * per_thread);
    }

    // ---- logging ----

    TEST_CASE("log: below the level the callback is not called and the message is not built") {
        captured cap;
        logger log(log_options{.level = log_level::warn}, cap.callback());
        bool built = false;
        auto expensive = [&] {
            built = true;
            return std::string("expensive");
        };
        log.trace("sink", "t");
        log.debug("sink", "d");
        log.info("sink", expensive, {field::plain("n", 1)});
        CHECK(cap.entries.empty());
        CHECK_FALSE(built);
        CHECK_FALSE(log.enabled(log_level::info));
        CHECK(log.enabled(log_level::error));

        log.warn("sink", expensive, {field::plain("n", 1)});
        CHECK(built);
        log.error("queue", std::string("e"));
        REQUIRE(cap.entries.size() == 2);
        CHECK(cap.entries[0].level == log_level::warn);
        CHECK(cap.entries[0].component == "sink");
        CHECK(cap.entries[0].message == "expensive");
        CHECK(cap.entries[1].message == "e");

        log.set_level(log_level::trace);
        log.trace("sink", "now on");
        CHECK(cap.entries.size() == 3);
        log.set_level(log_level::off);
        log.error("sink", "never");
        log.log(log_level::off, "sink", "never");
        CHECK(cap.entries.size() == 3);
        CHECK_FALSE(logger::disabled().enabled(log_level::error));
    }

    TEST_CASE("log: plain fields shown, numbers formatted, secrets and payloads redacted by default") {
        captured cap;
        logger log(log_options{.level = log_level::trace}, cap.callback());
        log.info("sink", "sent batch",
                 {field::plain("queue", "orders"), field::plain("events", 12), field::plain("bytes", 4096u),
                  field::plain("ratio", 0.5), field::plain("ok", true),
                  field::secret("secret_access_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                  field::credential_id("access_key_id", "AKIAIOSFODNN7EXAMPLE"),
                  field::payload("body", "{\"card\":\"4111 1111 1111 1111\"}"),
                  field::plain("Authorization", "AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=deadbeef"),
                  field::plain("session_token", "FQoGZXIvYXdzE"), field::plain("retry_token", 7)});
        REQUIRE(cap.entries.size() == 1);
        CHECK(cap.value(0, "queue") == "orders");
        CHECK(cap.value(0, "events") == "12");
        CHECK(cap.value(0, "bytes") == "4096");
        CHECK(cap.value(0, "ratio") == "0.5");
        CHECK(cap.value(0, "ok") == "true");
        CHECK(cap.value(0, "secret_access_key") == "[redacted]");
        CHECK(cap.value(0, "access_key_id") == "[redacted]");
        CHECK(cap.value(0, "body") == "[redacted]");
        CHECK(cap.value(0, "Authorization") == "[redacted]"); // a plain field named like a secret
        CHECK(cap.value(0, "session_token") == "[redacted]");
        CHECK(cap.value(0, "retry_token") == "[redacted]");
        const auto& line = cap.entries[0].line;
        for (const char* leaked : {"wJalr", "EXAMPLEKEY", "AKIA", "4111", "deadbeef", "FQoG"}) {
            INFO(leaked);
            CHECK(line.find(leaked) == std::string::npos);
        }
    }

    TEST_CASE("log: payloads shown only when asked, cut at max_payload_bytes") {
        captured cap;
        logger log(log_options{.level = log_level::info, .log_payloads = true, .max_payload_bytes = 8}, cap.callback());
        log.info("sink", "m", {field::payload("body", "short"), field::payload("big", "0123456789abcdef")});
        CHECK(cap.value(0, "body") == "short");
        CHECK(cap.value(0, "big") == "01234567...(16 bytes)");
        CHECK(redact("abc", field_kind::payload) == "[redacted]");
        CHECK(redact("abc", field_kind::payload, log_options{.log_payloads = true}) == "abc");
    }

    TEST_CASE("log: secrets never shown, even with log_secrets and log_payloads on") {
        captured cap;
        logger log(log_options{.level = log_level::info, .log_payloads = true, .log_secrets = true}, cap.callback());
        log.info("aws", "credentials loaded",
                 {field::credential_id("access_key_id", "ASIAIOSFODNN7EXAMPLE"), field::credential_id("short", "AKIA12"),
                  field::secret("secret_access_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                  field::secret("signature", "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"),
                  field{"count", std::int64_t{42}, field_kind::secret}, field::plain("x-amz-security-token", "IQoJb3JpZ2luX2VjE")});
        CHECK(cap.value(0, "access_key_id") == "ASIA[redacted]");
        CHECK(cap.value(0, "short") == "[redacted]");
        CHECK(cap.value(0, "secret_access_key") == "[redacted]");
        CHECK(cap.value(0, "signature") == "[redacted]");
        CHECK(cap.value(0, "count") == "[redacted]");
        CHECK(cap.value(0, "x-amz-security-token") == "[redacted]");
        const auto& line = cap.entries[0].line;
        for (const char* leaked : {"wJalr", "5d672d", "IQoJ", "EXAMPLE", "AKIA12"}) {
            INFO(leaked);
            CHECK(line.find(leaked) == std::string::npos);
        }
        CHECK(redact("secret", field_kind::secret, log_options{.log_payloads = true, .log_secrets = true}) == "[redacted]");
    }

    TEST_CASE("log: presigned URLs in messages and plain values lose their signatures") {
        captured cap;
        logger log(log_options{}, cap.callback());
        log.warn("s3", "PUT https://b.s3.amazonaws.com/k?X-Amz-Signature=abc123&x=1 failed",
                 {field::plain("url", "https://h/?a=1&X-Amz-Credential=AKIA%2F2024&X-Amz-Security-Token=tok")});
        CHECK(cap.entries[0].message == "PUT https://b.s3.amazonaws.com/k?X-Amz-Signature=[redacted]&x=1 failed");
        CHECK(cap.value(0, "url") == "https://h/?a=1&X-Amz-Credential=[redacted]&X-Amz-Security-Token=[redacted]");
    }

    TEST_CASE("log: a throwing callback or message builder does not reach the caller") {
        logger log(log_options{}, [](const log_record&) { throw std::runtime_error("sink down"); });
        CHECK_NOTHROW(log.error("x", "y"));
        int calls = 0;
        logger log2(log_options{}, [&](const log_record&) { ++calls; });
        CHECK_NOTHROW(log2.error("x", []() -> std::string { throw std::runtime_error("no"); }));
        CHECK(calls == 0);
        logger copy = log2;
        copy.info("x", "y");
        CHECK(calls == 1);
    }

    TEST_CASE("format_log_line: timestamp, level, component, escaped message, quoted fields") {
        const log_field fields[] = {{"k", "v"}, {"spaced", "a b"}, {"empty", ""}, {"nl", "x\ny"}, {"q", "say \"hi\""}};
        log_record rec;
        rec.level = log_level::warn;
        rec.component = "sink";
        rec.message = "line one\nforged line";
        rec.fields = fields;
        rec.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1735787045678)); // 2025-01-02T03:04:05.678Z
        CHECK(format_log_line(rec) == "2025-01-02T03:04:05.678Z warn sink: line one\\nforged line k=v spaced=\"a b\" "
                                      "empty=\"\" nl=\"x\\ny\" q=\"say \\\"hi\\\"\"");
    }

    TEST_CASE("parse_log_level and to_string") {
        CHECK(parse_log_level("WARN") == log_level::warn);
        CHECK(parse_log_level("warning") == log_level::warn);
        CHECK(parse_log_level("Trace") == log_level::trace);
        CHECK(parse_log_level("off") == log_level::off);
        CHECK_FALSE(parse_log_level("verbose").has_value());
        CHECK_FALSE(parse_log_level("").has_value());
        CHECK(to_string(log_level::error) == "error");
    }

    TEST_CASE("sanitize_url strips the values of X-Amz-Signature, X-Amz-Credential and X-Amz-Security-Token") {
        const std::string url =
            "https://bucket.s3.us-east-1.amazonaws.com/key.json?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z"
            "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Security-Token=FQoGZXIvYXdzE%2B%2F"
            "&x-amz-signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7#frag";
        CHECK(sanitize_url(url) ==
              "https://bucket.s3.us-east-1.amazonaws.com/key.json?X-Amz-Algorithm=AWS4-HMAC-SHA256"
              "&X-Amz-Credential=[redacted]&X-Amz-Date=20240101T000000Z"
              "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Security-Token=[redacted]"
              "&x-amz-signature=[redacted]#frag");
        CHECK(sanitize_url("https://example.com/a?b=c") == "https://example.com/a?b=c");
        CHECK(sanitize_url("https://e.com/?My-X-Amz-Signature=keep") == "https://e.com/?My-X-Amz-Signature=keep");
        CHECK(sanitize_url("X-Amz-Signature=") == "X-Amz-Signature=[redacted]");
    }

    TEST_CASE("sanitize_header and sanitize_headers redact Authorization and X-Amz-Security-Token values") {
        CHECK(sanitize_header("Authorization",
                              "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/sqs/aws4_request, "
                              "SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6") ==
              "AWS4-HMAC-SHA256 Credential=[redacted], SignedHeaders=host;x-amz-date, Signature=[redacted]");
        CHECK(sanitize_header("authorization", "Bearer eyJhbGciOi") == "Bearer [redacted]");
        CHECK(sanitize_header("AUTHORIZATION", "opaque") == "[redacted]");
        CHECK(sanitize_header("X-Amz-Security-Token", "IQoJb3JpZ2luX2VjE") == "[redacted]");
        CHECK(sanitize_header("Cookie", "session=abc") == "[redacted]");
        CHECK(sanitize_header("Content-Type", "application/json") == "application/json");
        CHECK(is_secret_header("proxy-authorization"));
        CHECK_FALSE(is_secret_header("x-amz-date"));

        const std::string block = "POST /?Action=Send&X-Amz-Signature=abc HTTP/1.1\r\n"
                                  "Host: sqs.us-east-1.amazonaws.com\r\n"
                                  "Authorization: AWS4-HMAC-SHA256 Credential=AKIA/x, SignedHeaders=host, Signature=ff\r\n"
                                  "X-Amz-Security-Token: IQoJb3JpZ2luX2VjE\r\n"
                                  "Content-Type: application/x-www-form-urlencoded\r\n"
                                  "\r\n";
        CHECK(sanitize_headers(block) == "POST /?Action=Send&X-Amz-Signature=[redacted] HTTP/1.1\r\n"
                                         "Host: sqs.us-east-1.amazonaws.com\r\n"
                                         "Authorization: AWS4-HMAC-SHA256 Credential=[redacted], SignedHeaders=host, "
                                         "Signature=[redacted]\r\n"
                                         "X-Amz-Security-Token: [redacted]\r\n"
                                         "Content-Type: application/x-www-form-urlencoded\r\n"
                                         "\r\n");
    }

    TEST_CASE("log: a SigV4 Authorization value quoted in a message loses Credential and Signature") {
        captured cap;
        logger log(log_options{}, cap.callback());
        log.error("sqs", "rejected: Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/"
                         "sqs/aws4_request, SignedHeaders=host, Signature=5d672d79");
        CHECK(cap.entries.at(0).message ==
              "rejected: Authorization: AWS4-HMAC-SHA256 Credential=[redacted], SignedHeaders=host, Signature=[redacted]");
    }

TEST_CASE("log_throttle: the first line of a cause at once, then one per interval with the count held back") {
    using namespace std::chrono_literals;
    sluice::log_throttle t(10s, 2);
    const auto t0 = sluice::log_throttle::clock::time_point{} + 1h;
    CHECK(t.admit("a", t0) == std::optional<std::uint64_t>{0});
    CHECK_FALSE(t.admit("a", t0 + 1s).has_value());
    CHECK_FALSE(t.admit("a", t0 + 9s).has_value());
    CHECK(t.admit("b", t0 + 9s) == std::optional<std::uint64_t>{0}); // another cause is not held back
    CHECK(t.admit("a", t0 + 10s) == std::optional<std::uint64_t>{2}); // says how many were not logged
    CHECK_FALSE(t.admit("a", t0 + 11s).has_value());
    CHECK(t.held_back() == 3);
    // Two causes remembered at most: a third forgets the oldest ("b"), which then counts as new.
    CHECK(t.admit("c", t0 + 12s) == std::optional<std::uint64_t>{0});
    CHECK(t.admit("b", t0 + 12s) == std::optional<std::uint64_t>{0});
}

TEST_CASE("log_cause: one cause per service code or error, whatever the record's sizes and ids") {
    using sluice::outcome;
    auto big = outcome::reject("record of 1048577 bytes is over the limit of 1048576");
    auto bigger = outcome::reject("record of 2000000 bytes is over the limit of 1048576");
    CHECK(sluice::log_cause(big) == sluice::log_cause(bigger));
    CHECK(sluice::log_cause(big) != sluice::log_cause(outcome::reject("invalid UTF-8 at byte 3")));
    CHECK(sluice::log_cause(big) != sluice::log_cause(outcome::retry("record of 1 bytes is over the limit of 1")));
    auto gone1 = outcome::reject("QueueDoesNotExist (HTTP 400, request id 5f8b-1): no such queue");
    gone1.from_service("QueueDoesNotExist", "5f8b-1");
    auto gone2 = outcome::reject("QueueDoesNotExist (HTTP 400, request id a1c2-9): no such queue");
    gone2.from_service("QueueDoesNotExist", "a1c2-9");
    CHECK(sluice::log_cause(gone1) == sluice::log_cause(gone2));
    CHECK(sluice::log_cause(gone1).find("5f8b") == std::string::npos);
}

} // TEST_SUITE

} // namespace test_metrics
