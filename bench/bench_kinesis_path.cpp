// The whole Kinesis path, per record: submit -> batch -> encode -> sign -> HTTP -> parse -> outcome,
// for ~200-byte JSON records in PutRecords requests of 500 to nginx on 127.0.0.1 answering a fixed
// all-success response for 500 records (scripts/bench-kinesis.sh starts it, over plain HTTP and TLS).
// Prints CPU per record (process CPU time / records: what one core spends) and the peak resident
// memory of the measured phase, then the same records through each stage alone, measured in the same
// run, next to a floor (memcpy + base64 of the same bytes), so the split shows where the time goes.
// With --cbor the path runs again in CBOR (kinesis_options::protocol = cbor_1_1) against URL + "cbor",
// where nginx answers the same response in CBOR.
//
//   bench_kinesis_path --url http://127.0.0.1:PORT/ [--tls-url https://127.0.0.1:PORT/ --ca-file CERT]
//                      [--records N] [--record-bytes B] [--in-flight K] [--cbor]
//
// For scale (issue 8): Fluent Bit, built from source on this machine, spends about 3.1 us of CPU per
// record on this job (about 320 k records per CPU-second) at 85 MiB RSS. Target: at most 0.6 us of
// CPU per record at under 20 MiB RSS. Build it optimised (the release preset).

#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON

#include "path_support.hpp"

#include <sluice/aws/kinesis.hpp>
#include <sluice/core/when_all.hpp>
#include <sluice/sinks/fault_injecting_sink.hpp>
#include <sluice/text/cbor.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace aws = sluice::aws;
using sluice_bench::cpu_seconds;
using sluice_bench::make_record;

struct options {
    std::string url;
    std::string tls_url;
    std::string ca_file;
    std::size_t records = 1'000'000;
    std::size_t record_bytes = 200;
    std::size_t in_flight = 8;
    /// Only this part (for profiling): "path-http", "path-https", "path-http-cbor", "path-https-cbor",
    /// "http", "https".
    std::string only;
    /// Also the path in CBOR (nginx answers CBOR under /cbor).
    bool cbor = false;
};

struct stage {
    const char* name;
    double ns_per_record;
};

void print_stage(const stage& s, double floor_ns) {
    std::printf("  %-34s %8.1f ns/record  %6.2fx the floor\n", s.name, s.ns_per_record,
                floor_ns > 0 ? s.ns_per_record / floor_ns : 0.0);
}

/// Times `body` (which handles `n` records) by CPU time; ns per record.
template <class F>
double cpu_ns_per_record(std::size_t n, F&& body) {
    const double start = cpu_seconds();
    body();
    return (cpu_seconds() - start) * 1e9 / static_cast<double>(n);
}

// --- the floor: memcpy + base64 of the same bytes ----------------------------------------------

double floor_ns(const std::vector<std::string>& records) {
    std::string out;
    out.reserve(2u << 20);
    std::string copy;
    copy.reserve(4096);
    return cpu_ns_per_record(records.size(), [&] {
        for (const auto& r : records) {
            copy.assign(r);
            if (out.size() > (1u << 20)) out.clear();
            sluice::text::append_base64(out, copy);
        }
    });
}

// --- encoding: each entry once, each request spliced around them, the response read -------------

double encode_ns(const std::vector<std::string>& records, const std::string& response, double& parse_ns,
                 aws::wire_protocol protocol = aws::wire_protocol::json_1_1) {
    aws::kinesis_options o;
    o.stream_name = "bench";
    o.protocol = protocol;
    aws::kinesis_service service(o);
    std::vector<std::string> entries(500);
    std::vector<std::string_view> views(500);
    std::string body;
    const double ns = cpu_ns_per_record(records.size(), [&] {
        for (std::size_t i = 0; i < records.size(); i += 500) {
            const std::size_t n = std::min<std::size_t>(500, records.size() - i);
            for (std::size_t k = 0; k < n; ++k) {
                entries[k].clear();
                aws::kinesis_record r{records[i + k], "u-" + std::to_string((i + k) % 1000), {}};
                (void)service.prepare(r);
                (void)service.encode_entry(r, entries[k]);
                views[k] = entries[k];
            }
            body.clear();
            (void)service.encode_request(sluice::sink_batch{{}, std::span(views).first(n)}, body);
        }
    });
    aws::kinesis_service::request_state state;
    const std::size_t batches = records.size() / 500;
    parse_ns = cpu_ns_per_record(batches * 500, [&] {
        for (std::size_t b = 0; b < batches; ++b) {
            auto r = service.read_response(response, sluice::sink_batch{{}, std::span(views).first(500)}, state);
            if (r.request || !r.entries.empty()) std::abort();
        }
    });
    return ns;
}

// --- signing: SigV4 of a 500-record request ---------------------------------------------------------

double sign_ns(std::size_t body_bytes) {
    sluice::aws::sigv4_signer signer;
    sluice::aws::sigv4_result out;
    sluice::aws::aws_credentials credentials;
    credentials.access_key_id = "AKIDEXAMPLE";
    credentials.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const std::string body(body_bytes, 'x');
    sluice::aws::field_list headers{{"Host", "kinesis.us-east-1.amazonaws.com"},
                                    {"Content-Type", "application/x-amz-json-1.1"},
                                    {"X-Amz-Target", "Kinesis_20131202.PutRecords"}};
    constexpr std::size_t requests = 400;
    return cpu_ns_per_record(requests * 500, [&] {
        for (std::size_t i = 0; i < requests; ++i) {
            sluice::aws::sigv4_request r;
            r.method = "POST";
            r.headers = std::span<const sluice::aws::http_field>(headers.data(), headers.size());
            r.body = body;
            r.region = "us-east-1";
            r.service = "kinesis";
            r.time = std::chrono::system_clock::now();
            signer.sign(r, credentials, out);
        }
    });
}

// --- the engine alone: delivery_pipeline<null_sink> with the same batching ------------------------

double engine_ns(const std::vector<std::string>& records) {
    sluice::io_loop loop;
    sluice::null_sink sink(sluice::sink_limits{500, 10u << 20, 1u << 20});
    sluice::delivery_options d;
    d.batch.max_events = 500;
    d.batch.max_bytes = 10u << 20;
    d.batch.max_age = std::chrono::milliseconds(10);
    sluice::delivery_pipeline<sluice::null_sink> pipeline(loop, sink, d);
    double ns = 0;
    auto main = [&]() -> sluice::task<void> {
        co_await pipeline.start();
        // submit() with a callback, as the dispatcher hands records to the engine (no coroutine per
        // record); 5,000 at a time, then flush(), as the whole-path run makes them.
        const double start = cpu_seconds();
        constexpr std::size_t slice = 5'000;
        std::size_t answered = 0; // delivered
        for (std::size_t i = 0; i < records.size();) {
            for (const std::size_t end = std::min(records.size(), i + slice); i < end; ++i) {
                std::string copy = records[i];
                pipeline.submit(std::move(copy), {}, [&answered](const sluice::outcome& o) {
                    if (o.kind == sluice::outcome_kind::ok) ++answered;
                });
            }
            co_await pipeline.flush();
        }
        if (answered != records.size()) std::abort();
        ns = (cpu_seconds() - start) * 1e9 / static_cast<double>(records.size());
        co_await pipeline.stop();
    };
    loop.run_until_complete(main());
    loop.drain();
    return ns;
}

// --- HTTP alone: the same request bodies, signed, to nginx -------------------------------------------

double http_ns(const options& o, const std::string& url, bool tls, std::size_t body_bytes, std::size_t requests) {
    sluice::io_loop loop;
    const std::string body(body_bytes, 'x');
    double ns = 0;
    std::size_t failures = 0;
    auto main = [&]() -> sluice::task<void> {
        sluice::http::client http(loop, sluice_bench::http_options(o.in_flight, tls ? o.ca_file : std::string()));
        aws::service_client client(http, sluice_bench::bench_credentials(), sluice_bench::client_options("kinesis", url));
        std::size_t next = 0;
        auto worker = [&]() -> sluice::task<void> {
            while (next < requests) {
                ++next;
                aws::call_options c;
                c.content_type = "application/x-amz-json-1.1";
                c.single_attempt = true;
                auto out = co_await client.call_json("Kinesis_20131202.PutRecords", body, c);
                if (!out.ok()) ++failures;
            }
        };
        co_await worker(); // warm the connection (and the TLS session)
        next = 0;
        const double start = cpu_seconds();
        std::vector<sluice::task<void>> workers;
        for (std::size_t i = 0; i < o.in_flight; ++i) workers.push_back(worker());
        co_await sluice::when_all(std::move(workers));
        ns = (cpu_seconds() - start) * 1e9 / static_cast<double>(requests * 500);
    };
    loop.run_until_complete(main());
    loop.drain();
    if (failures != 0) std::printf("  (HTTP stage: %zu failed requests)\n", failures);
    return ns;
}

// --- the whole path: kinesis_dispatcher -> nginx ---------------------------------------------------

/// The whole path: kinesis_dispatcher -> nginx (path_support.hpp).
sluice_bench::path_result whole_path(const options& o, const std::string& url, bool tls, bool cbor = false) {
    sluice_bench::path_run run;
    run.url = cbor ? url + "cbor" : url;
    run.ca_file = tls ? o.ca_file : std::string();
    run.records = o.records;
    run.in_flight = o.in_flight;
    run.signing_name = "kinesis";
    aws::kinesis_options k;
    k.stream_name = "bench";
    k.protocol = cbor ? aws::wire_protocol::cbor_1_1 : aws::wire_protocol::json_1_1;
    return sluice_bench::dispatch_path(run, aws::kinesis_service(k), [&](std::size_t i) {
        return aws::kinesis_record{make_record(i, o.record_bytes), "u-" + std::to_string(i % 1000), {}};
    });
}

void report_path(const char* name, const sluice_bench::path_result& r, std::size_t records) {
    sluice_bench::print_path(name, r, records);
    const double us = r.ns_per_record / 1000;
    std::printf("         vs Fluent Bit's 3.1 us/record: %.1fx less CPU; target 0.6 us: %s; RSS target 20 MiB: %s\n",
                us > 0 ? 3.1 / us : 0.0, us <= 0.6 ? "met" : "MISSED",
                r.peak_rss_kib > 0 && r.peak_rss_kib < 20 * 1024 ? "met" : "MISSED");
}

options parse(int argc, char** argv) {
    options o;
    sluice_bench::argument_reader args(argc, argv,
                                       "usage: bench_kinesis_path --url URL [--tls-url URL --ca-file CERT] [--records N] "
                                       "[--record-bytes B] [--in-flight K] [--cbor] [--only path-http|path-https|"
                                       "path-http-cbor|path-https-cbor|http|https]");
    while (args.next()) {
        const std::string_view a = args.flag();
        if (a == "--url") o.url = args.value();
        else if (a == "--tls-url") o.tls_url = args.value();
        else if (a == "--ca-file") o.ca_file = args.value();
        else if (a == "--records") o.records = args.count();
        else if (a == "--record-bytes") o.record_bytes = args.count();
        else if (a == "--in-flight") o.in_flight = args.count();
        else if (a == "--only") o.only = args.value();
        else if (a == "--cbor") o.cbor = true;
        else args.usage();
    }
    if (o.url.empty()) {
        std::fprintf(stderr, "bench_kinesis_path: --url is required (scripts/bench-kinesis.sh starts nginx)\n");
        std::exit(2);
    }
    o.records = std::max<std::size_t>(o.records / 500 * 500, 500);
    return o;
}

} // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
#if !defined(__OPTIMIZE__)
    std::printf("note: built without optimisation: build the release preset to measure\n");
#endif
    if (o.only.starts_with("path-http")) {
        const bool tls = o.only.starts_with("path-https"), cbor = o.only.ends_with("-cbor");
        const char* name = tls ? (cbor ? "https, CBOR" : "https") : (cbor ? "http, CBOR" : "http");
        report_path(name, whole_path(o, tls ? o.tls_url : o.url, tls, cbor), o.records);
        return 0;
    }
    if (o.only == "http" || o.only == "https") {
        const bool tls = o.only == "https";
        std::printf("%s alone: %.1f ns/record\n", o.only.c_str(), http_ns(o, tls ? o.tls_url : o.url, tls, 151430, 4000));
        return 0;
    }
    std::printf("whole path (kinesis_dispatcher: submit -> batch -> encode -> sign -> HTTP -> parse -> outcome):\n");
    report_path("http", whole_path(o, o.url, false), o.records);
    if (!o.tls_url.empty()) report_path("https", whole_path(o, o.tls_url, true), o.records);
    if (o.cbor) {
        report_path("http, CBOR", whole_path(o, o.url, false, true), o.records);
        if (!o.tls_url.empty()) report_path("https, CBOR", whole_path(o, o.tls_url, true, true), o.records);
    }

    // The stages alone, on 200,000 records made beforehand (the record making is the whole path's
    // cost too: its share is the floor's memcpy).
    std::vector<std::string> records;
    const std::size_t stage_records = std::min<std::size_t>(o.records, 200'000);
    records.reserve(stage_records);
    for (std::size_t i = 0; i < stage_records; ++i) records.push_back(make_record(i, o.record_bytes));
    std::string response = "{\"FailedRecordCount\":0,\"Records\":[";
    for (int i = 0; i < 500; ++i) {
        if (i) response += ',';
        response += "{\"SequenceNumber\":\"49680869879168586147044771598858384466918863864793661442\",\"ShardId\":\"shardId-000000000000\"}";
    }
    response += "],\"EncryptionType\":\"NONE\"}";
    std::string cbor_response; // the same in CBOR
    {
        namespace cbor = sluice::text::cbor;
        cbor::append_head(cbor_response, cbor::major::map, 3);
        cbor::append_text(cbor_response, "FailedRecordCount");
        cbor::append_head(cbor_response, cbor::major::unsigned_integer, 0);
        cbor::append_text(cbor_response, "Records");
        cbor::append_head(cbor_response, cbor::major::array, 500);
        for (int i = 0; i < 500; ++i) {
            cbor::append_head(cbor_response, cbor::major::map, 2);
            cbor::append_text(cbor_response, "SequenceNumber");
            cbor::append_text(cbor_response, "49680869879168586147044771598858384466918863864793661442");
            cbor::append_text(cbor_response, "ShardId");
            cbor::append_text(cbor_response, "shardId-000000000000");
        }
        cbor::append_text(cbor_response, "EncryptionType");
        cbor::append_text(cbor_response, "NONE");
    }

    // One request's body as the path builds it, for the signing and HTTP stages.
    std::size_t body_bytes = 0;
    {
        aws::kinesis_options k;
        k.stream_name = "bench";
        aws::kinesis_service s(k);
        for (std::size_t i = 0; i < 500; ++i) {
            std::string e;
            aws::kinesis_record r{records[i], "u-" + std::to_string(i % 1000), {}};
            (void)s.encode_entry(r, e);
            body_bytes += e.size() + 1;
        }
        body_bytes += 40;
    }
    std::printf("bench_kinesis_path: %zu records of %zu bytes, PutRecords of 500 (%zu-byte bodies), %zu in flight\n",
                o.records, o.record_bytes, body_bytes, o.in_flight);

    std::printf("stages alone, CPU per record, same records, same run:\n");
    const double floor = floor_ns(records);
    double parse = 0, cbor_parse = 0;
    const double encode = encode_ns(records, response, parse);
    const double cbor_encode = encode_ns(records, cbor_response, cbor_parse, aws::wire_protocol::cbor_1_1);
    const std::vector<stage> stages = {
        {"floor: memcpy + base64 of the data", floor},
        {"engine: delivery_pipeline<null_sink>", engine_ns(records)},
        {"encoding: entries + requests", encode},
        {"encoding in CBOR", cbor_encode},
        {"response parsing (by position)", parse},
        {"response parsing in CBOR", cbor_parse},
        {"signing: SigV4 of each request", sign_ns(body_bytes)},
        {"HTTP: signed calls to nginx", http_ns(o, o.url, false, body_bytes, 2000)},
    };
    for (const auto& s : stages) print_stage(s, floor);
    if (!o.tls_url.empty()) print_stage({"HTTPS: signed calls to nginx", http_ns(o, o.tls_url, true, body_bytes, 2000)}, floor);
    return 0;
}

#else

#include <cstdio>
int main() {
    std::printf("bench_kinesis_path: skipped, sluice was built without libcurl, OpenSSL or simdjson\n");
    return 0;
}

#endif
