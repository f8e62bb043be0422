// aws_send: sends N records to an AWS batch API (SQS SendMessageBatch, Kinesis PutRecords, Firehose
// PutRecordBatch, DynamoDB BatchWriteItem, CloudWatch PutMetricData, CloudWatch Logs PutLogEvents)
// through sluice's batch dispatchers, and reports how it went. Credentials, region and endpoint come the
// standard way (environment, ~/.aws files, web identity, container, IMDS; AWS_REGION;
// AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>), so it works against AWS, LocalStack or an emulator.
//
//   aws_send --service sqs --queue-url URL [--fifo-group G] --count N [--size BYTES] [--region R] [--endpoint URL]
//   aws_send --service kinesis (--stream NAME | --stream-arn ARN) [--partition-key K] --count N [...]
//   aws_send --service firehose --delivery-stream NAME [--newline] [--aggregate] --count N [...]
//   aws_send --service dynamodb --table NAME --partition-key-name ATTR [--sort-key-name ATTR] --count N [...]
//   aws_send --service cloudwatch --namespace NS [--metric NAME] --count N [...]
//   aws_send --service logs --log-group G --log-stream S [--create] --count N [...]
//
// Prints a progress line while sending, then the counts. Exits 0 only when every record was
// accepted; otherwise prints the reasons, grouped, and exits 1 (2 for bad arguments or configuration).

#include <sluice/sluice.hpp>
#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON
#include <sluice/aws/cloudwatch.hpp>
#include <sluice/aws/cloudwatch_logs.hpp>
#include <sluice/aws/dynamodb.hpp>
#include <sluice/aws/firehose.hpp>
#include <sluice/aws/kinesis.hpp>
#endif

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#if !(SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON)
int main() {
    std::fputs("aws_send: sluice was built without libcurl, OpenSSL or simdjson\n", stderr);
    return 2;
}
#else

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct arguments {
    std::string service;
    std::string queue_url;  // sqs
    std::string fifo_group; // sqs
    std::string stream;     // kinesis
    std::string stream_arn; // kinesis
    std::string partition_key;
    std::string delivery_stream; // firehose
    bool newline = false;        // firehose
    bool aggregate = false;      // firehose
    std::string table;           // dynamodb
    std::string key_name;        // dynamodb
    std::string sort_key_name;   // dynamodb
    std::string namespace_name;  // cloudwatch
    std::string metric = "aws_send";
    std::string log_group;       // logs
    std::string log_stream;      // logs
    bool create = false;         // logs
    std::uint64_t count = 0;
    std::size_t size = 256;
    std::string region;
    std::string endpoint;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "aws_send: %s\n"
                 "usage: aws_send --service sqs --queue-url URL [--fifo-group G] --count N [--size BYTES] [--region R] "
                 "[--endpoint URL]\n"
                 "       aws_send --service kinesis (--stream NAME | --stream-arn ARN) [--partition-key K] --count N ...\n"
                 "       aws_send --service firehose --delivery-stream NAME [--newline] [--aggregate] --count N ...\n"
                 "       aws_send --service dynamodb --table NAME --partition-key-name ATTR [--sort-key-name ATTR] --count N ...\n"
                 "       aws_send --service cloudwatch --namespace NS [--metric NAME] --count N ...\n"
                 "       aws_send --service logs --log-group G --log-stream S [--create] --count N ...\n",
                 why);
    std::exit(2);
}

template <class T>
T number(std::string_view text, const char* what) {
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) usage(what);
    return value;
}

arguments parse(int argc, char** argv) {
    arguments a;
    bool have_count = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "--help" || flag == "-h") usage("sends N records to an AWS batch API");
        if (flag == "--newline" || flag == "--aggregate" || flag == "--create") {
            (flag == "--newline" ? a.newline : flag == "--aggregate" ? a.aggregate : a.create) = true;
            continue;
        }
        if (i + 1 >= argc) usage("a flag is missing its value");
        std::string_view value = argv[++i];
        if (flag == "--service") a.service = value;
        else if (flag == "--queue-url") a.queue_url = value;
        else if (flag == "--fifo-group") a.fifo_group = value;
        else if (flag == "--stream") a.stream = value;
        else if (flag == "--stream-arn") a.stream_arn = value;
        else if (flag == "--partition-key") a.partition_key = value;
        else if (flag == "--delivery-stream") a.delivery_stream = value;
        else if (flag == "--table") a.table = value;
        else if (flag == "--partition-key-name") a.key_name = value;
        else if (flag == "--sort-key-name") a.sort_key_name = value;
        else if (flag == "--namespace") a.namespace_name = value;
        else if (flag == "--metric") a.metric = value;
        else if (flag == "--log-group") a.log_group = value;
        else if (flag == "--log-stream") a.log_stream = value;
        else if (flag == "--count") {
            a.count = number<std::uint64_t>(value, "--count needs a whole number");
            have_count = true;
        } else if (flag == "--size") a.size = number<std::size_t>(value, "--size needs a whole number of bytes");
        else if (flag == "--region") a.region = value;
        else if (flag == "--endpoint") a.endpoint = value;
        else usage("unknown flag");
    }
    const std::string_view services[] = {"sqs", "kinesis", "firehose", "dynamodb", "cloudwatch", "logs"};
    if (std::find(std::begin(services), std::end(services), a.service) == std::end(services))
        usage("--service must be sqs, kinesis, firehose, dynamodb, cloudwatch or logs");
    if (a.service == "sqs" && a.queue_url.empty()) usage("--queue-url is required for sqs");
    if (a.service == "kinesis" && a.stream.empty() && a.stream_arn.empty())
        usage("--stream or --stream-arn is required for kinesis");
    if (a.service == "firehose" && a.delivery_stream.empty()) usage("--delivery-stream is required for firehose");
    if (a.service == "dynamodb" && (a.table.empty() || a.key_name.empty()))
        usage("--table and --partition-key-name are required for dynamodb");
    if (a.service == "cloudwatch" && a.namespace_name.empty()) usage("--namespace is required for cloudwatch");
    if (a.service == "logs" && (a.log_group.empty() || a.log_stream.empty()))
        usage("--log-group and --log-stream are required for logs");
    if (!have_count) usage("--count is required");
    if (a.size < 32) a.size = 32;
    return a;
}

// A JSON document of about `size` bytes: a sequence number, then padding.
std::string make_body(std::uint64_t n, std::size_t size) {
    std::string body = "{\"seq\":" + std::to_string(n) + ",\"source\":\"aws_send\",\"pad\":\"";
    while (body.size() + 2 < size) body += static_cast<char>('a' + (body.size() % 26));
    body += "\"}";
    return body;
}

/// Submits `count` records made by `make` through any batch dispatcher, with a progress line;
/// returns the exit code. The same code for every AWS batch API: that is the point of the layer.
template <class Dispatcher, class Make>
sluice::task<int> send_all(Dispatcher& dispatcher, const arguments& args, Make make) {
    const bool tty = ::isatty(STDOUT_FILENO) != 0;
    const auto start = clock_type::now();
    auto last_print = start;
    std::map<std::string, std::size_t> reasons;
    auto progress = [&](bool final) {
        const auto s = dispatcher.stats();
        const double secs = std::chrono::duration<double>(clock_type::now() - start).count();
        std::printf("%ssent %llu/%llu accepted %llu failed %llu invalid %llu  %.0f records/s%s", tty ? "\r" : "",
                    static_cast<unsigned long long>(s.delivered + s.failed + s.invalid),
                    static_cast<unsigned long long>(args.count), static_cast<unsigned long long>(s.delivered),
                    static_cast<unsigned long long>(s.failed), static_cast<unsigned long long>(s.invalid),
                    secs > 0 ? static_cast<double>(s.delivered) / secs : 0.0, tty && !final ? "" : "\n");
        std::fflush(stdout);
    };
    // Submit in slices so the progress line moves and memory stays bounded.
    constexpr std::uint64_t slice = 1000;
    for (std::uint64_t sent = 0; sent < args.count;) {
        const std::uint64_t end = std::min(args.count, sent + slice);
        for (; sent < end; ++sent) dispatcher.submit(make(sent));
        for (const auto& u : co_await dispatcher.flush()) ++reasons[u.reason];
        if (clock_type::now() - last_print > 200ms && sent < args.count) {
            last_print = clock_type::now();
            progress(false);
        }
    }
    co_await dispatcher.stop();
    progress(true);
    const auto s = dispatcher.stats();
    const double secs = std::chrono::duration<double>(clock_type::now() - start).count();
    std::printf("accepted %llu of %llu in %.2f s (%.0f records/s, %llu requests); failed %llu, invalid %llu\n",
                static_cast<unsigned long long>(s.delivered), static_cast<unsigned long long>(args.count), secs,
                secs > 0 ? static_cast<double>(s.delivered) / secs : 0.0,
                static_cast<unsigned long long>(dispatcher.pipeline().stats().requests),
                static_cast<unsigned long long>(s.failed), static_cast<unsigned long long>(s.invalid));
    if (!reasons.empty()) {
        std::fputs("not accepted:\n", stderr);
        for (const auto& [reason, n] : reasons) std::fprintf(stderr, "  %zu x %s\n", n, reason.c_str());
    }
    co_return s.delivered == args.count ? 0 : 1;
}

sluice::task<int> send_sqs(sluice::io_loop& loop, sluice::aws::service_client& client, const arguments& args,
                           const sluice::logger& log) {
    sluice::aws::sqs_dispatcher_options options;
    options.queue_url = args.queue_url;
    options.drop_duplicates = false; // every message is distinct anyway (a sequence number)
    options.log = &log;
    sluice::aws::sqs_dispatcher dispatcher(loop, client, options);
    if (!args.fifo_group.empty() && !dispatcher.fifo())
        std::fputs("aws_send: --fifo-group given for a queue whose URL does not end in .fifo\n", stderr);
    std::printf("aws_send: %llu messages of ~%zu bytes to %s%s\n", static_cast<unsigned long long>(args.count),
                args.size, args.queue_url.c_str(), dispatcher.fifo() ? " (FIFO)" : "");
    co_return co_await send_all(dispatcher, args, [&](std::uint64_t n) {
        sluice::aws::sqs_message m;
        m.body = make_body(n, args.size);
        m.group_id = args.fifo_group;
        return m;
    });
}

sluice::task<int> send_kinesis(sluice::io_loop& loop, sluice::aws::service_client& client, const arguments& args,
                               const sluice::logger& log) {
    sluice::aws::kinesis_options options;
    options.stream_name = args.stream;
    options.stream_arn = args.stream_arn;
    sluice::aws::batch_dispatcher_options common;
    common.log = &log;
    sluice::aws::kinesis_dispatcher dispatcher(loop, client, sluice::aws::kinesis_service(options), common);
    std::printf("aws_send: %llu records of ~%zu bytes to stream %s\n", static_cast<unsigned long long>(args.count),
                args.size, std::string(dispatcher.service().name()).c_str());
    co_return co_await send_all(dispatcher, args, [&](std::uint64_t n) {
        // No --partition-key: a random key per record spreads them over the shards.
        return sluice::aws::kinesis_record{make_body(n, args.size), args.partition_key, {}};
    });
}

sluice::task<int> send_firehose(sluice::io_loop& loop, sluice::aws::service_client& client, const arguments& args,
                                const sluice::logger& log) {
    sluice::aws::firehose_options options;
    options.delivery_stream = args.delivery_stream;
    options.newline = args.newline;
    options.aggregate = args.aggregate;
    sluice::aws::batch_dispatcher_options common;
    common.log = &log;
    sluice::aws::firehose_dispatcher dispatcher(loop, client, sluice::aws::firehose_service(options), common);
    std::printf("aws_send: %llu records of ~%zu bytes to delivery stream %s%s%s\n", static_cast<unsigned long long>(args.count),
                args.size, args.delivery_stream.c_str(), args.newline ? ", newline-framed" : "", args.aggregate ? ", aggregated" : "");
    co_return co_await send_all(dispatcher, args, [&](std::uint64_t n) { return sluice::aws::firehose_record{make_body(n, args.size)}; });
}

sluice::task<int> send_dynamodb(sluice::io_loop& loop, sluice::aws::service_client& client, const arguments& args,
                                const sluice::logger& log) {
    sluice::aws::dynamodb_options options;
    options.table = {args.table, {args.key_name, sluice::aws::key_type::any, args.sort_key_name, sluice::aws::key_type::any}};
    sluice::aws::batch_dispatcher_options common;
    common.log = &log;
    sluice::aws::dynamodb_dispatcher dispatcher(loop, client, sluice::aws::dynamodb_service(options), common);
    std::printf("aws_send: %llu items of ~%zu bytes to table %s\n", static_cast<unsigned long long>(args.count), args.size,
                args.table.c_str());
    co_return co_await send_all(dispatcher, args, [&](std::uint64_t n) {
        // {"<partition key>":"aws-send-N"[,"<sort key>":N],"seq":N,...}: the body's own fields follow.
        std::string item = "{\"" + args.key_name + "\":\"aws-send-" + std::to_string(n) + "\",";
        if (!args.sort_key_name.empty()) item += "\"" + args.sort_key_name + "\":" + std::to_string(n) + ",";
        item += make_body(n, args.size).substr(1);
        return sluice::aws::dynamodb_write::put(std::move(item));
    });
}

sluice::task<int> send_cloudwatch(sluice::io_loop& loop, sluice::aws::service_client& client, const arguments& args,
                                  const sluice::logger& log) {
    sluice::aws::cloudwatch_options options;
    options.namespace_name = args.namespace_name;
    sluice::aws::batch_dispatcher_options common;
    common.log = &log;
    sluice::aws::cloudwatch_dispatcher dispatcher(loop, client, sluice::aws::cloudwatch_service(options), common);
    std::printf("aws_send: %llu data of metric %s to namespace %s\n", static_cast<unsigned long long>(args.count),
                args.metric.c_str(), args.namespace_name.c_str());
    co_return co_await send_all(dispatcher, args, [&](std::uint64_t n) {
        sluice::aws::metric_datum d;
        d.name = args.metric;
        d.dimensions = {{"source", "aws_send"}};
        d.value = static_cast<double>(n); // the sequence number, so a reader can count them
        d.unit = "Count";
        return d;
    });
}

sluice::task<int> send_logs(sluice::io_loop& loop, sluice::aws::service_client& client, const arguments& args,
                            const sluice::logger& log) {
    sluice::aws::logs_options options;
    options.group = args.log_group;
    options.stream = args.log_stream;
    options.create_missing = args.create;
    sluice::aws::batch_dispatcher_options common;
    common.log = &log;
    sluice::aws::logs_dispatcher dispatcher(loop, client, sluice::aws::logs_service(options), common);
    std::printf("aws_send: %llu events of ~%zu bytes to %s / %s\n", static_cast<unsigned long long>(args.count), args.size,
                args.log_group.c_str(), args.log_stream.c_str());
    co_return co_await send_all(dispatcher, args, [&](std::uint64_t n) {
        return sluice::aws::log_event{make_body(n, args.size), std::chrono::system_clock::now(), {}, {}};
    });
}

/// The signing name (and default endpoint host) of each service.
std::string signing_name(const std::string& service) {
    if (service == "cloudwatch") return "monitoring";
    return service; // sqs, kinesis, firehose, dynamodb, logs
}

} // namespace

int main(int argc, char** argv) {
    const arguments args = parse(argc, argv);
    sluice::io_loop loop;
    int exit_code = 0;

    auto run = [&]() -> sluice::task<void> {
        sluice::http::client http(loop);
        auto setup = sluice::aws::configure_service(loop, http, signing_name(args.service), args.region, args.endpoint);
        if (setup.is_error()) {
            std::fprintf(stderr, "aws_send: %s\n", setup.get_error().what().c_str());
            exit_code = 2;
            co_return;
        }
        sluice::logger log(sluice::log_options{.level = sluice::log_level::warn});
        setup.value().options.log = &log;
        sluice::aws::service_client client(http, setup.value().credentials, setup.value().options);
        std::printf("aws_send: region %s, endpoint %s\n", setup.value().options.region.c_str(),
                    setup.value().options.endpoint.c_str());
        if (args.service == "sqs")
            exit_code = co_await send_sqs(loop, client, args, log);
        else if (args.service == "kinesis")
            exit_code = co_await send_kinesis(loop, client, args, log);
        else if (args.service == "firehose")
            exit_code = co_await send_firehose(loop, client, args, log);
        else if (args.service == "dynamodb")
            exit_code = co_await send_dynamodb(loop, client, args, log);
        else if (args.service == "cloudwatch")
            exit_code = co_await send_cloudwatch(loop, client, args, log);
        else
            exit_code = co_await send_logs(loop, client, args, log);
    };
    try {
        loop.run_until_complete(run());
        loop.drain();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "aws_send: %s\n", e.what());
        return 2;
    }
    return exit_code;
}

#endif
