// sluice quickstart: one million JSON events published through a collector queue, routed by topic
// (and every tenth one broadcast) to collectors that write NDJSON files in a local folder. Shows a
// live progress line, then events/s and, per collector, the count expected from the routing against
// the lines actually in its file. Exits non-zero if any count differs or any delivery failed.
//
//   quickstart [--events N] [--out DIR] [--quiet]
//
// Built and run by `bash scripts/demo.sh` (release preset: build/release/examples/quickstart).

#include <sluice/sinks/ndjson_file.hpp>
#include <sluice/sluice.hpp>

#include <unistd.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// ---- the events ---------------------------------------------------------------------------------

/// One business event. Trivially copyable: its strings point into the static tables below.
struct event {
    std::uint64_t id = 0;
    std::string_view topic;
    std::string_view user;
    std::uint32_t user_id = 0;
    std::int64_t amount_cents = 0;
    std::int64_t ts_ms = 0;
};

constexpr std::array<std::string_view, 4> topics = {"orders", "payments", "refunds", "signups"};
// Some names need JSON escaping (quotes, backslash, a newline, a tab, non-ASCII): a raw newline would
// break the NDJSON line structure, so the line counts below also check the escaping.
constexpr std::array<std::string_view, 8> users = {
    "alice", "bob", "chloé", "d'artagnan", "eve \"the spy\"", "frank\\admin", "grace\nhopper", "heidi\tk"};

/// splitmix64: a fast, deterministic generator, so every run produces the same events.
struct rng {
    std::uint64_t state;
    std::uint64_t next() {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
};

event make_event(std::uint64_t id, rng& r, std::int64_t base_ms) {
    std::uint64_t x = r.next();
    event e;
    e.id = id;
    // orders 40 %, payments 30 %, refunds 10 %, signups 20 %.
    unsigned bucket = static_cast<unsigned>(x % 10);
    e.topic = topics[bucket < 4 ? 0 : bucket < 7 ? 1 : bucket < 8 ? 2 : 3];
    e.user = users[(x >> 8) % users.size()];
    e.user_id = static_cast<std::uint32_t>((x >> 16) % 100'000);
    e.amount_cents = static_cast<std::int64_t>((x >> 40) % 100'000) + 100;
    if (e.topic == "refunds") e.amount_cents = -e.amount_cents;
    e.ts_ms = base_ms + static_cast<std::int64_t>(id / 8);
    return e;
}

template <class Int> void append_int(std::string& out, Int v) {
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, res.ptr);
}

/// {"id":42,"topic":"orders","user":"eve \"the spy\"","user_id":1234,"amount":-12.05,"ts":1700000000000}
void format_event(const event& e, std::string& out) {
    out.append("{\"id\":");
    append_int(out, e.id);
    out.append(",\"topic\":");
    sluice::ndjson_append_string(out, e.topic);
    out.append(",\"user\":");
    sluice::ndjson_append_string(out, e.user);
    out.append(",\"user_id\":");
    append_int(out, e.user_id);
    out.append(",\"amount\":");
    std::int64_t cents = e.amount_cents;
    if (cents < 0) {
        out.push_back('-');
        cents = -cents;
    }
    append_int(out, cents / 100);
    out.push_back('.');
    out.push_back(static_cast<char>('0' + cents % 100 / 10));
    out.push_back(static_cast<char>('0' + cents % 10));
    out.append(",\"ts\":");
    append_int(out, e.ts_ms);
    out.push_back('}');
}

// ---- the collectors -------------------------------------------------------------------------------

struct collector_spec {
    const char* key;
    std::vector<std::string> topics; // empty: only broadcasts reach it
};

std::vector<collector_spec> collector_specs() {
    std::vector<collector_spec> specs;
    specs.push_back({"orders", {"orders"}});
    specs.push_back({"payments", {"payments", "refunds"}});
    specs.push_back({"audit", {"orders", "payments", "refunds", "signups"}});
    specs.push_back({"all", {}});
    return specs;
}

// ---- options and output ---------------------------------------------------------------------------

struct options {
    std::uint64_t events = 1'000'000;
    fs::path out = "sluice-quickstart-out";
    bool quiet = false;
};

[[noreturn]] void usage(int code) {
    std::fprintf(code == 0 ? stdout : stderr,
                 "usage: quickstart [--events N] [--out DIR] [--quiet]\n"
                 "  --events N  events to publish (default 1000000)\n"
                 "  --out DIR   folder for the NDJSON files (default ./sluice-quickstart-out; created,\n"
                 "              this demo's files in it are replaced)\n"
                 "  --quiet     no live progress line\n");
    std::exit(code);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "quickstart: %s needs a value\n", argv[i]);
                usage(2);
            }
            return argv[++i];
        };
        if (a == "--events") {
            std::string_view v = value();
            auto res = std::from_chars(v.data(), v.data() + v.size(), o.events);
            if (res.ec != std::errc{} || res.ptr != v.data() + v.size() || o.events == 0) {
                std::fprintf(stderr, "quickstart: --events needs a positive integer, not '%.*s'\n",
                             static_cast<int>(v.size()), v.data());
                usage(2);
            }
        } else if (a == "--out") {
            o.out = fs::path(value());
        } else if (a == "--quiet") {
            o.quiet = true;
        } else if (a == "--help" || a == "-h") {
            usage(0);
        } else {
            std::fprintf(stderr, "quickstart: unknown argument '%s'\n", argv[i]);
            usage(2);
        }
    }
    return o;
}

/// 1234567 -> "1,234,567".
std::string grouped(std::uint64_t n) {
    std::string digits = std::to_string(n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i != 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
        out.push_back(digits[i]);
    }
    return out;
}

/// Counts '\n' in a file, reading it back in large chunks.
std::uint64_t count_lines(const fs::path& p) {
    std::FILE* f = std::fopen(p.c_str(), "rb");
    if (f == nullptr) return 0;
    std::vector<char> buf(1 << 20);
    std::uint64_t lines = 0;
    for (;;) {
        std::size_t n = std::fread(buf.data(), 1, buf.size(), f);
        if (n == 0) break;
        for (std::size_t i = 0; i < n; ++i) lines += buf[i] == '\n' ? 1 : 0;
    }
    std::fclose(f);
    return lines;
}

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t) {
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

// ---- the run ------------------------------------------------------------------------------------

using event_queue = sluice::collector_queue<event, void>;

struct progress_state {
    std::uint64_t total = 0;
    std::uint64_t published = 0;
    clock_type::time_point start;
    bool finished = false;
};

/// Redraws the progress line about ten times a second until `stop` fires.
sluice::task<void> show_progress(sluice::io_loop& loop, event_queue& queue, progress_state& st,
                                 std::stop_token stop) {
    try {
        for (;;) {
            co_await loop.sleep_for(100ms, stop);
            std::uint64_t processed = queue.stats().processed;
            double elapsed = seconds_since(st.start);
            std::fprintf(stderr, "\r  published %s / %s (%3.0f%%)  processed %s  %.2f M events/s   ",
                         grouped(st.published).c_str(), grouped(st.total).c_str(),
                         100.0 * static_cast<double>(st.published) / static_cast<double>(st.total),
                         grouped(processed).c_str(), static_cast<double>(processed) / elapsed / 1e6);
            std::fflush(stderr);
        }
    } catch (const sluice::operation_cancelled&) {
    }
    std::fputs("\r\033[K", stderr); // clear the progress line
    st.finished = true;
}

sluice::task<int> run(sluice::io_loop& loop, const options& opt) {
    const auto specs = collector_specs();
    fs::create_directories(opt.out);
    const fs::path out_dir = fs::absolute(opt.out);

    sluice::ndjson_file_options file_options;
    file_options.mode = sluice::ndjson_open_mode::truncate; // old files of this demo are replaced
    std::vector<sluice::collector<event>> collectors;
    std::vector<fs::path> files;
    for (const auto& s : specs) {
        files.push_back(out_dir / (std::string(s.key) + ".ndjson"));
        collectors.push_back(
            sluice::ndjson_collector<event>(s.key, files.back(), s.topics, format_event, file_options));
    }

    std::uint64_t errors = 0;          // setup, publish and teardown failures
    std::uint64_t delivery_errors = 0; // Error results of fire-and-forget deliveries
    std::string first_error;
    sluice::queue_options qo;
    qo.capacity = 65'536; // publishers wait while 64 Ki events are queued: backpressure
    qo.max_consumers = 4;
    qo.on_unobserved_error = [&](const sluice::error& e) {
        if (delivery_errors++ == 0) first_error = e.what();
    };
    event_queue queue(loop, std::move(collectors), qo);

    std::printf("sluice %s quickstart: %s events -> %zu NDJSON collectors, io backend: %s\n",
                sluice::version_string, grouped(opt.events).c_str(), specs.size(),
                std::string(sluice::to_string(loop.backend())).c_str());
    std::printf("output folder: %s\n", out_dir.c_str());
    std::fflush(stdout);

    progress_state progress;
    progress.total = opt.events;
    progress.start = clock_type::now();

    co_await queue.start();
    for (const auto& e : queue.setup_errors()) {
        std::fprintf(stderr, "quickstart: %s\n", e.what().c_str());
        ++errors;
    }

    std::stop_source progress_stop;
    const bool live = !opt.quiet && ::isatty(STDERR_FILENO) != 0;
    if (live) loop.spawn(show_progress(loop, queue, progress, progress_stop.get_token()));

    // Publish, counting what each collector should receive from the routing rules.
    std::vector<std::uint64_t> expected(specs.size(), 0);
    rng r{42};
    const std::int64_t base_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
    auto publisher = queue.get_publisher();
    for (std::uint64_t id = 1; id <= opt.events; ++id) {
        event e = make_event(id, r, base_ms);
        const bool broadcast = id % 10 == 0;
        for (std::size_t c = 0; c < specs.size(); ++c) {
            bool subscribed = false;
            for (const auto& t : specs[c].topics) subscribed = subscribed || t == e.topic;
            expected[c] += broadcast || subscribed ? 1 : 0;
        }
        // A named payload, not a temporary inside the co_await: GCC 12 mishandles some temporaries
        // that live across a suspension point.
        sluice::payload<event> p =
            broadcast ? sluice::payload<event>::broadcast(e) : sluice::payload<event>::to_topics(e, e.topic);
        if (!co_await publisher.publish(std::move(p))) {
            ++errors;
            break;
        }
        progress.published = id;
        // The consumers resume this publisher inline when they make room, so without an occasional
        // trip through the loop the progress timer would not fire until the end.
        if (id % 4096 == 0) co_await loop.schedule();
    }

    sluice::stop_report report = co_await queue.stop(60s); // drains, then teardown closes the files
    const double elapsed = seconds_since(progress.start);
    progress_stop.request_stop();
    while (live && !progress.finished) co_await loop.schedule();

    const auto stats = queue.stats();
    errors += report.teardown_errors.size();
    for (const auto& e : report.teardown_errors)
        std::fprintf(stderr, "quickstart: teardown: %s\n", e.what().c_str());
    if (delivery_errors != 0)
        std::fprintf(stderr, "quickstart: %s failed deliveries, the first: %s\n",
                     grouped(delivery_errors).c_str(), first_error.c_str());
    if (!report.drained)
        std::fprintf(stderr, "quickstart: the queue did not drain (%s cancelled)\n",
                     grouped(report.cancelled).c_str());

    std::printf("%s events published and processed in %.3f s: %s events/s (%s deliveries, %s failed)\n",
                grouped(stats.processed).c_str(), elapsed,
                grouped(static_cast<std::uint64_t>(static_cast<double>(stats.processed) / elapsed)).c_str(),
                grouped(stats.deliveries).c_str(), grouped(stats.failed).c_str());
    std::printf("  %-9s %-34s %12s %15s %10s\n", "collector", "topics", "expected", "lines in file", "MiB");
    bool mismatch = false;
    for (std::size_t c = 0; c < specs.size(); ++c) {
        std::string topic_list;
        for (const auto& t : specs[c].topics) topic_list += (topic_list.empty() ? "" : ",") + t;
        if (topic_list.empty()) topic_list = "(broadcasts only)";
        const std::uint64_t lines = count_lines(files[c]);
        std::error_code ec;
        const auto size = fs::file_size(files[c], ec);
        const bool ok = lines == expected[c];
        mismatch = mismatch || !ok;
        std::printf("  %-9s %-34s %12s %15s %10.1f  %s\n", specs[c].key, topic_list.c_str(),
                    grouped(expected[c]).c_str(), grouped(lines).c_str(),
                    ec ? 0.0 : static_cast<double>(size) / (1024.0 * 1024.0), ok ? "ok" : "MISMATCH");
    }
    if (mismatch || errors != 0 || delivery_errors != 0 || stats.failed != 0) {
        std::printf("FAILED:%s%s\n", mismatch ? " line counts differ from the routing;" : "",
                    errors + delivery_errors + stats.failed != 0 ? " errors were reported (see above)" : "");
        co_return 1;
    }
    std::printf("all line counts match the routing\n");
    co_return 0;
}

} // namespace

int main(int argc, char** argv) {
    const options opt = parse(argc, argv);
    try {
        sluice::io_loop loop;
        return loop.run_until_complete(run(loop, opt));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "quickstart: %s\n", e.what());
        return 1;
    }
}
