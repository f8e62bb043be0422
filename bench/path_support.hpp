#pragma once

// What the whole-path benchmarks (bench_kinesis_path, bench_aws_path) share: CPU and peak-memory
// measurement, the records they send, and one AWS batch dispatcher driven through a loopback nginx
// (scripts/bench-kinesis.sh, scripts/bench-aws-path.sh start it), reported as CPU per record.

#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON

#include <sluice/aws/batch/dispatcher.hpp>
#include <sluice/aws/credential_sources.hpp>
#include <sluice/aws/service_client.hpp>
#include <sluice/http/client.hpp>
#include <sluice/io/loop.hpp>

#include <time.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

namespace sluice_bench {

/// CPU seconds the whole process has used (all threads): what the path costs, wherever it runs.
inline double cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

/// Peak resident memory (VmHWM) in KiB since the last reset_peak_rss().
inline long peak_rss_kib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return -1;
}
/// Starts a new peak for peak_rss_kib() (Linux: clear_refs 5).
inline void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

/// ~`bytes` of JSON, distinct per record (an id, a user, an event, a timestamp, padding).
/// Built with few appends and no temporaries: the benchmarks count the whole process's CPU, and the
/// records' making is not the path being measured (it was ~12 % of the Kinesis path's samples when it
/// appended the padding one character at a time).
inline std::string make_record(std::size_t i, std::size_t bytes) {
    constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz";
    const auto append_number = [](std::string& out, std::size_t v) {
        char digits[24];
        const auto end = std::to_chars(digits, digits + sizeof digits, v).ptr;
        out.append(digits, end);
    };
    std::string r;
    r.reserve(std::max<std::size_t>(bytes, 160));
    r += "{\"id\":";
    append_number(r, i);
    r += ",\"user\":\"u-";
    append_number(r, i % 1000);
    r += "\",\"event\":\"page_view\",\"ts\":\"2026-12-05T18:47:27.123Z\",\"path\":\"/items/";
    append_number(r, i % 97);
    r += "\",\"pad\":\"";
    while (r.size() + 2 < bytes) { // the letter at each position is 'a' + position % 26, as before
        const std::size_t from = r.size() % alphabet.size();
        r += alphabet.substr(from, std::min(alphabet.size() - from, bytes - 2 - r.size()));
    }
    r += "\"}";
    return r;
}

/// Static example credentials (nginx does not check signatures; the signing cost is real).
inline std::shared_ptr<sluice::aws::credentials_provider> bench_credentials() {
    sluice::aws::aws_credentials c;
    c.access_key_id = "AKIDEXAMPLE";
    c.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    return std::make_shared<sluice::aws::static_credentials_provider>(c);
}

/// An AWS client for `signing_name` at `url`, one attempt per call (the engine owns retries).
inline sluice::aws::service_client_options client_options(const char* signing_name, const std::string& url) {
    sluice::aws::service_client_options o;
    o.service = signing_name;
    o.region = "us-east-1";
    o.endpoint = url;
    o.retry.max_attempts = 1;
    return o;
}

/// HTTP/1.1 with `in_flight` connections; BENCH_RECV_BUFFER / BENCH_UPLOAD_BUFFER override curl's
/// buffers (for experiments).
inline sluice::http::client_options http_options(std::size_t in_flight, const std::string& ca_file) {
    sluice::http::client_options h;
    h.version = sluice::http::http_version::http1_1;
    h.max_requests_per_host = in_flight;
    if (!ca_file.empty()) h.ca_file = ca_file;
    if (const char* v = std::getenv("BENCH_RECV_BUFFER")) h.receive_buffer_bytes = std::strtoul(v, nullptr, 10);
    if (const char* v = std::getenv("BENCH_UPLOAD_BUFFER")) h.upload_buffer_bytes = std::strtoul(v, nullptr, 10);
    return h;
}

/// Walks a bench program's "--flag value" arguments. value() exits with a message when the value is
/// missing; usage() prints the usage line and exits.
class argument_reader {
public:
    argument_reader(int argc, char** argv, const char* usage) : argc_(argc), argv_(argv), usage_(usage) {}
    /// Moves to the next flag; false at the end.
    bool next() { return ++at_ < argc_; }
    /// The current flag.
    [[nodiscard]] std::string_view flag() const { return argv_[at_]; }
    /// The current flag's value (the next argument).
    std::string value() {
        if (at_ + 1 >= argc_) {
            std::fprintf(stderr, "%s needs a value\n%s\n", argv_[at_], usage_);
            std::exit(2);
        }
        return argv_[++at_];
    }
    /// The current flag's value as a count.
    std::size_t count() { return std::stoul(value()); }
    [[noreturn]] void usage() const {
        std::fprintf(stderr, "%s\n", usage_);
        std::exit(2);
    }

private:
    int argc_;
    char** argv_;
    const char* usage_;
    int at_ = 0;
};

/// Where one service's records go and how fast.
struct path_run {
    std::string url;
    std::string ca_file;   ///< set for https
    std::size_t records = 1'000'000;
    std::size_t in_flight = 8;
    const char* signing_name = "kinesis";
};

/// What one run of the whole path cost.
struct path_result {
    /// CPU of the path per record, the making of the records left out (see dispatch_path).
    double ns_per_record = 0;
    /// CPU the benchmark spent making each record (printed, not counted in ns_per_record).
    double making_ns_per_record = 0;
    double wall_seconds = 0;
    long peak_rss_kib = 0;
    std::uint64_t delivered = 0;
    std::uint64_t requests = 0;
    std::uint64_t unprocessed = 0;
};

/// CPU per record of making `records` records with `make` and dropping each, as the path's run makes
/// them (the best of three passes over the first 200,000 at most: the least, so the path's figure is
/// not flattered).
template <class Make>
double making_cost(std::size_t records, Make& make) {
    const std::size_t n = std::min<std::size_t>(records, 200'000);
    double best = 0;
    for (int pass = 0; pass < 3; ++pass) {
        const double from = cpu_seconds();
        for (std::size_t i = 0; i < n; ++i) {
            const auto r = make(i);
            asm volatile("" : : "g"(&r) : "memory"); // the record counts as used: its making stays
        }
        const double ns = (cpu_seconds() - from) * 1e9 / static_cast<double>(n);
        if (pass == 0 || ns < best) best = ns;
    }
    return best;
}

/// Submits run.records records made by `make(i)` through a batch_dispatcher<Service> to run.url and
/// measures CPU per record from the first submit to the last outcome. Records are made as they are
/// submitted, in slices of 5,000 with a flush after each (a producer with backpressure), so the peak
/// RSS is sluice's, not the benchmark's input. Making them is the producer's work, not the path's (7 %
/// of the Kinesis path's samples): before the timed run the same records are made and dropped alone,
/// and that CPU per record is left out of ns_per_record (making_ns_per_record says how much).
template <class Service, class Make>
path_result dispatch_path(const path_run& run, Service service, Make make) {
    namespace aws = sluice::aws;
    sluice::io_loop loop;
    path_result result;
    auto main = [&]() -> sluice::task<void> {
        sluice::http::client http(loop, http_options(run.in_flight, run.ca_file));
        aws::service_client client(http, bench_credentials(), client_options(run.signing_name, run.url));
        aws::batch_dispatcher_options common;
        common.delivery = service.default_delivery();
        common.delivery->batch.max_age = std::chrono::milliseconds(20);
        common.delivery->concurrency.max_in_flight = run.in_flight;
        aws::batch_dispatcher<Service> d(loop, client, std::move(service), common);
        co_await d.start();
        result.making_ns_per_record = making_cost(run.records, make);
        reset_peak_rss();
        const auto wall = std::chrono::steady_clock::now();
        const double start = cpu_seconds();
        constexpr std::size_t slice = 5'000;
        for (std::size_t i = 0; i < run.records;) {
            const std::size_t end = std::min(run.records, i + slice);
            for (; i < end; ++i) d.submit(make(i));
            auto failed = co_await d.flush();
            if (!failed.empty() && result.unprocessed == 0)
                std::printf("  %zu records failed: %s\n", failed.size(), failed.front().reason.c_str());
            result.unprocessed += failed.size();
        }
        result.ns_per_record = (cpu_seconds() - start) * 1e9 / static_cast<double>(run.records) - result.making_ns_per_record;
        result.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
        result.peak_rss_kib = peak_rss_kib();
        result.delivered = d.stats().delivered;
        result.requests = d.pipeline().stats().requests;
        co_await d.stop();
    };
    loop.run_until_complete(main());
    loop.drain();
    return result;
}

/// One line: CPU per record, records per CPU-second, wall rate, peak RSS, what arrived; then the CPU
/// of making the records, which the first figure leaves out.
inline void print_path(const char* name, const path_result& r, std::size_t records) {
    const double us = r.ns_per_record / 1000;
    std::printf("  %-18s %.3f us CPU/record (%4.0f k records per CPU-second), %4.0f k records/s wall, peak RSS %.1f MiB, "
                "%llu/%zu delivered in %llu requests\n",
                name, us, us > 0 ? 1000.0 / us : 0.0, static_cast<double>(records) / r.wall_seconds / 1000,
                static_cast<double>(r.peak_rss_kib) / 1024, static_cast<unsigned long long>(r.delivered), records,
                static_cast<unsigned long long>(r.requests));
    std::printf("  %-18s (+%.3f us CPU/record making the records, not counted; %.3f us with it)\n", "",
                r.making_ns_per_record / 1000, (r.ns_per_record + r.making_ns_per_record) / 1000);
}

} // namespace sluice_bench

#endif
