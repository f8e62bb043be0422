// pyvector's example, in C++: events from a service to an SQS queue, an S3 bucket and an
// OpenSearch/Elasticsearch cluster at once, through one collector queue broadcasting to three sinks,
// with a progress line; at the end, per destination, how many events it took and at what rate, and
// how many events every destination took (each event's result_list says which did).
//
//   pyvector --sqs-queue-url URL --s3-bucket BUCKET --opensearch URL [--index NAME] [--count N]
//            [--s3-prefix P] [--state-dir DIR]
//
// AWS settings come the standard way (AWS_REGION, AWS_ENDPOINT_URL[_SQS|_S3], credentials from the
// environment or ~/.aws), so it runs against AWS or emulators alike. Every destination acknowledges
// for real: SQS when SendMessageBatch accepted the message, S3 when the object holding the event was
// uploaded (objects close every 10,000 events), OpenSearch when _bulk indexed the document. Exits 0
// only when every destination took every event.

#include <sluice/sluice.hpp>

#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON
#include <sluice/aws/s3.hpp>
#include <sluice/objects/engine.hpp>
#include <sluice/objects/s3_bucket.hpp>
#include <sluice/sinks/opensearch.hpp>
#endif

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#if !(SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON)
int main() {
    std::fputs("pyvector: sluice was built without libcurl, OpenSSL or simdjson\n", stderr);
    return 2;
}
#else

using namespace sluice;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct arguments {
    std::string sqs_queue_url, s3_bucket, s3_prefix = "pyvector/", opensearch, index = "pyvector-events";
    std::uint64_t count = 1'000'000;
    std::filesystem::path state = std::filesystem::temp_directory_path() / "sluice-pyvector";
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "pyvector: %s\nusage: pyvector --sqs-queue-url URL --s3-bucket BUCKET --opensearch URL [--index NAME]\n"
                 "                [--count N] [--s3-prefix P] [--state-dir DIR]\n",
                 why);
    std::exit(2);
}

arguments parse(int argc, char** argv) {
    arguments a;
    for (int i = 1; i < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (i + 1 >= argc) usage("a flag is missing its value");
        const char* v = argv[i + 1];
        if (flag == "--sqs-queue-url") a.sqs_queue_url = v;
        else if (flag == "--s3-bucket") a.s3_bucket = v;
        else if (flag == "--s3-prefix") a.s3_prefix = v;
        else if (flag == "--opensearch") a.opensearch = v;
        else if (flag == "--index") a.index = v;
        else if (flag == "--count") a.count = std::strtoull(v, nullptr, 10);
        else if (flag == "--state-dir") a.state = v;
        else usage("unknown flag");
    }
    if (a.sqs_queue_url.empty() || a.s3_bucket.empty() || a.opensearch.empty())
        usage("--sqs-queue-url, --s3-bucket and --opensearch are required");
    return a;
}

/// One event of the service: an id every destination is checked by, a few fields, ~200 bytes.
std::string event_json(std::uint64_t id) {
    static constexpr std::array<std::string_view, 4> levels{"info", "info", "warn", "error"};
    std::string e = "{\"event_id\":" + std::to_string(id) + ",\"service\":\"checkout\",\"level\":\"";
    e += levels[id % levels.size()];
    e += "\",\"message\":\"order " + std::to_string(id * 7919 % 100000) + " shipped\",\"latency_ms\":";
    e += std::to_string(id % 250) + ",\"region\":\"eu-west-1\"}";
    return e;
}

/// What each destination took, from the events' result_lists.
struct tally {
    std::map<std::string, std::uint64_t> ok, failed;
    std::map<std::string, std::string> first_error;
    std::uint64_t everywhere = 0, events = 0;

    void add(const result_list<void>& results) {
        ++events;
        bool all = true;
        for (const auto& r : results) {
            if (r.is_ok()) {
                ++ok[r.source()];
                continue;
            }
            all = false;
            ++failed[r.source()];
            first_error.try_emplace(r.source(), r.get_error().what());
        }
        everywhere += all ? 1 : 0;
    }
};

/// The collector that hands each event to one destination and answers when it took it.
template <class Deliver>
collector<std::string> destination(std::string name, Deliver deliver) {
    return collector<std::string>{std::move(name), [deliver](const payload<std::string>& p, collector_context& ctx) -> task<void> {
        std::string event = p.value;
        ctx.release_consumer(); // the wait for the acknowledgement holds a queue slot, not a consumer
        co_await deliver(std::move(event));
    }};
}

/// Sends the events through the queue, keeping at most `window` unanswered; prints progress.
task<void> produce(collector_queue<std::string>& queue, const arguments& args, tally& t, clock_type::time_point start) {
    auto publisher = queue.get_publisher();
    std::deque<collector_event<void>> pending;
    const bool tty = ::isatty(STDOUT_FILENO) != 0;
    auto last = start;
    auto progress = [&](bool final) {
        const double secs = std::chrono::duration<double>(clock_type::now() - start).count();
        std::printf("%sevents %llu/%llu acknowledged by all three %llu  %.0f events/s%s", tty ? "\r" : "",
                    static_cast<unsigned long long>(t.events), static_cast<unsigned long long>(args.count),
                    static_cast<unsigned long long>(t.everywhere), secs > 0 ? static_cast<double>(t.events) / secs : 0.0,
                    tty && !final ? "" : "\n");
        std::fflush(stdout);
    };
    for (std::uint64_t id = 1; id <= args.count; ++id) {
        std::string json = event_json(id);
        payload<std::string> p = payload<std::string>::broadcast(std::move(json));
        pending.push_back(co_await publisher.send(std::move(p)));
        while (pending.size() > 60'000 || (id == args.count && !pending.empty())) {
            const auto& results = co_await pending.front().wait();
            t.add(results);
            pending.pop_front();
        }
        if (clock_type::now() - last > 500ms) {
            last = clock_type::now();
            progress(false);
        }
    }
    progress(true);
}

/// The last lines: per destination what it took and at what rate, then the events all three took.
void report(tally& t, const arguments& args, double secs) {
    for (const char* d : {"sqs", "s3", "opensearch"}) {
        std::printf("  %-10s took %llu, failed %llu  (%.0f events/s)%s%s\n", d, static_cast<unsigned long long>(t.ok[d]),
                    static_cast<unsigned long long>(t.failed[d]), static_cast<double>(t.ok[d]) / secs,
                    t.failed[d] ? "  first error: " : "", t.failed[d] ? t.first_error[d].c_str() : "");
    }
    std::printf("pyvector: %llu of %llu events taken by all three destinations in %.2f s (%.0f events/s)\n",
                static_cast<unsigned long long>(t.everywhere), static_cast<unsigned long long>(args.count), secs,
                static_cast<double>(t.everywhere) / secs);
}

aws::service_setup aws_setup(io_loop& loop, http::client& http, std::string service) {
    auto setup = aws::configure_service(loop, http, std::move(service));
    if (setup.is_error()) throw std::runtime_error(setup.get_error().what());
    return std::move(setup.value());
}

task<int> run(io_loop& loop, const arguments& args) {
    http::client http(loop);
    metrics_registry metrics;
    // SQS: the batch dispatcher (SendMessageBatch, entry-by-entry retries).
    auto sqs_setup = aws_setup(loop, http, "sqs");
    aws::service_client sqs_client(http, sqs_setup.credentials, sqs_setup.options);
    aws::sqs_dispatcher_options sqs_options;
    sqs_options.queue_url = args.sqs_queue_url;
    sqs_options.drop_duplicates = false;
    aws::sqs_dispatcher sqs(loop, sqs_client, sqs_options);
    // S3: the object engine, NDJSON objects of 10,000 events, journaled under --state-dir.
    auto s3_setup = aws_setup(loop, http, "s3");
    aws::s3_client_options s3_options;
    s3_options.bucket = args.s3_bucket;
    s3_options.region = s3_setup.options.region;
    s3_options.endpoint = s3_setup.options.endpoint;
    s3_options.path_style = std::getenv("AWS_ENDPOINT_URL_S3") || std::getenv("AWS_ENDPOINT_URL");
    aws::s3_client s3_client(http, s3_setup.credentials, s3_options);
    objects::s3_bucket_options bucket_options;
    bucket_options.state_directory = args.state / "uploads";
    objects::s3_bucket bucket(loop, s3_client, bucket_options);
    objects::object_engine_options engine_options;
    engine_options.name = "events";
    engine_options.directory = args.state / "journal";
    engine_options.layout.key_template = args.s3_prefix + "{name}-%Y%m%dT%H%M%SZ-{seq}{ext}";
    engine_options.close.max_records = 10'000;
    engine_options.close.max_age = 5s;
    engine_options.metrics = &metrics;
    objects::object_engine s3(loop, bucket, engine_options);
    // OpenSearch: _bulk behind the delivery engine; the event id is the document id (retries overwrite).
    opensearch_options search_options;
    search_options.endpoint = args.opensearch;
    search_options.format.index = args.index;
    search_options.format.id_field = "event_id";
    opensearch_sink search_sink(http, search_options);
    delivery_options search_delivery;
    search_delivery.name = "opensearch";
    search_delivery.batch.max_events = 1000;
    search_delivery.batch.max_age = 200ms;
    search_delivery.metrics = &metrics;
    delivery_pipeline<opensearch_sink> search(loop, search_sink, search_delivery);

    std::vector<collector<std::string>> destinations;
    destinations.push_back(destination("sqs", [&](std::string e) -> task<void> {
        aws::sqs_message m;
        m.body = std::move(e);
        (void)co_await sqs.send(std::move(m));
    }));
    destinations.push_back(destination("s3", [&](std::string e) -> task<void> { (void)co_await s3.deliver(std::move(e)); }));
    destinations.push_back(destination("opensearch", [&](std::string e) -> task<void> { (void)co_await search.deliver(std::move(e)); }));
    queue_options queue_settings;
    queue_settings.max_consumers = 8;
    queue_settings.capacity = 65'536;
    queue_settings.metrics = &metrics;
    queue_settings.name = "events";
    collector_queue<std::string> queue(loop, std::move(destinations), queue_settings);

    co_await sqs.start();
    co_await s3.start();
    co_await search.start();
    co_await queue.start();
    std::printf("pyvector: %llu events to %s, s3://%s/%s, %s/%s\n", static_cast<unsigned long long>(args.count),
                args.sqs_queue_url.c_str(), args.s3_bucket.c_str(), args.s3_prefix.c_str(), args.opensearch.c_str(),
                args.index.c_str());
    const auto start = clock_type::now();
    tally t;
    co_await produce(queue, args, t, start);
    (void)co_await queue.stop(30s);
    (void)co_await sqs.stop(30s);
    (void)co_await s3.stop(30s);
    (void)co_await search.stop(30s);
    report(t, args, std::chrono::duration<double>(clock_type::now() - start).count());
    co_return t.everywhere == args.count ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    const arguments args = parse(argc, argv);
    std::filesystem::remove_all(args.state); // this run's own journal: it accounts for its own events
    io_loop loop;
    try {
        const int code = loop.run_until_complete(run(loop, args));
        loop.drain();
        return code;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pyvector: %s\n", e.what());
        return 2;
    }
}

#endif
