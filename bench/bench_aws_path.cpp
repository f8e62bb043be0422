// The whole path of each AWS batch service of issue 9, per record: submit -> batch -> encode -> sign ->
// HTTP -> parse -> outcome, through the service's batch_dispatcher to nginx on 127.0.0.1 answering each
// operation (by X-Amz-Target) with a fixed all-success response (scripts/bench-aws-path.sh starts it,
// with bench/http/nginx-aws.conf.in). Prints CPU per record (process CPU time / records: what one core
// spends), records per CPU-second, the wall rate and peak RSS per service, next to Kinesis through
// the same nginx in the same run (the reference of issue 8; bench_kinesis_path splits its stages).
//
//   bench_aws_path --url http://127.0.0.1:PORT/ [--service firehose|dynamodb|cloudwatch|logs|kinesis]
//                  [--records N] [--record-bytes B] [--in-flight K]
//
// Records: ~200-byte JSON events (Firehose: the record's data; DynamoDB: the event as an item with a
// distinct key; CloudWatch Logs: the event as the message; CloudWatch metrics: a datum with two
// dimensions, one value, a unit). Requests are full: 500 (Firehose, Kinesis), 25 (DynamoDB), 1,000
// (metrics) and as many events as fit 1 MiB (Logs). Build it optimised (the release preset).

#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON

#include "path_support.hpp"

#include <sluice/aws/cloudwatch.hpp>
#include <sluice/aws/cloudwatch_logs.hpp>
#include <sluice/aws/dynamodb.hpp>
#include <sluice/aws/firehose.hpp>
#include <sluice/aws/kinesis.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

namespace aws = sluice::aws;
using sluice_bench::make_record;

struct options {
    std::string url;
    std::string service; ///< empty: all
    std::size_t records = 500'000;
    std::size_t record_bytes = 200;
    std::size_t in_flight = 8;
};

sluice_bench::path_run run_for(const options& o, const char* signing_name) {
    sluice_bench::path_run r;
    r.url = o.url;
    r.records = o.records;
    r.in_flight = o.in_flight;
    r.signing_name = signing_name;
    return r;
}

sluice_bench::path_result firehose(const options& o) {
    aws::firehose_options f;
    f.delivery_stream = "bench";
    return sluice_bench::dispatch_path(run_for(o, "firehose"), aws::firehose_service(f),
                                       [&](std::size_t i) { return aws::firehose_record{make_record(i, o.record_bytes)}; });
}

sluice_bench::path_result dynamodb(const options& o) {
    aws::dynamodb_options d;
    d.table = {"bench", {"pk", aws::key_type::any, "", aws::key_type::any}};
    return sluice_bench::dispatch_path(run_for(o, "dynamodb"), aws::dynamodb_service(d), [&](std::size_t i) {
        // {"pk":"item-N", <the event's fields>}: a distinct key per item (no in-batch duplicates).
        std::string item = "{\"pk\":\"item-" + std::to_string(i) + "\"," + make_record(i, o.record_bytes).substr(1);
        return aws::dynamodb_write::put(std::move(item));
    });
}

sluice_bench::path_result cloudwatch(const options& o) {
    aws::cloudwatch_options c;
    c.namespace_name = "Bench";
    return sluice_bench::dispatch_path(run_for(o, "monitoring"), aws::cloudwatch_service(c), [](std::size_t i) {
        aws::metric_datum d;
        d.name = "latency";
        d.dimensions = {{"service", "checkout"}, {"region", i % 2 ? "eu-west-1" : "us-east-1"}};
        d.value = static_cast<double>(i % 1000) * 0.25;
        d.unit = "Milliseconds";
        return d;
    });
}

sluice_bench::path_result logs(const options& o) {
    aws::logs_options l;
    l.group = "bench";
    l.stream = "bench";
    return sluice_bench::dispatch_path(run_for(o, "logs"), aws::logs_service(l), [&](std::size_t i) {
        return aws::log_event{make_record(i, o.record_bytes), {}, {}, {}};
    });
}

sluice_bench::path_result kinesis(const options& o) {
    aws::kinesis_options k;
    k.stream_name = "bench";
    return sluice_bench::dispatch_path(run_for(o, "kinesis"), aws::kinesis_service(k), [&](std::size_t i) {
        return aws::kinesis_record{make_record(i, o.record_bytes), "u-" + std::to_string(i % 1000), {}};
    });
}

options parse(int argc, char** argv) {
    options o;
    sluice_bench::argument_reader args(argc, argv,
                                       "usage: bench_aws_path --url URL [--service NAME] [--records N] "
                                       "[--record-bytes B] [--in-flight K]");
    while (args.next()) {
        const std::string_view a = args.flag();
        if (a == "--url") o.url = args.value();
        else if (a == "--service") o.service = args.value();
        else if (a == "--records") o.records = args.count();
        else if (a == "--record-bytes") o.record_bytes = args.count();
        else if (a == "--in-flight") o.in_flight = args.count();
        else args.usage();
    }
    if (o.url.empty()) {
        std::fprintf(stderr, "bench_aws_path: --url is required (scripts/bench-aws-path.sh starts nginx)\n");
        std::exit(2);
    }
    // Whole requests of 500 for the services nginx answers by position (Firehose, Kinesis).
    o.records = std::max<std::size_t>(o.records / 5000 * 5000, 5000);
    return o;
}

} // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
#if !defined(__OPTIMIZE__)
    std::printf("note: built without optimisation: build the release preset to measure\n");
#endif
    std::printf("bench_aws_path: %zu records of ~%zu bytes per service, %zu requests in flight, to %s\n", o.records,
                o.record_bytes, o.in_flight, o.url.c_str());
    struct entry {
        const char* name;
        sluice_bench::path_result (*run)(const options&);
    };
    const entry services[] = {{"kinesis", kinesis}, {"firehose", firehose}, {"dynamodb", dynamodb},
                              {"cloudwatch", cloudwatch}, {"logs", logs}};
    bool ran = false;
    int status = 0;
    for (const auto& s : services) {
        if (!o.service.empty() && o.service != s.name) continue;
        ran = true;
        const auto r = s.run(o);
        sluice_bench::print_path(s.name, r, o.records);
        if (r.delivered != o.records || r.unprocessed != 0) status = 1;
    }
    if (!ran) {
        std::fprintf(stderr, "bench_aws_path: unknown service %s\n", o.service.c_str());
        return 2;
    }
    return status;
}

#else

#include <cstdio>
int main() {
    std::printf("bench_aws_path: skipped, sluice was built without libcurl, OpenSSL or simdjson\n");
    return 0;
}

#endif
