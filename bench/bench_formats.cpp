// The object writers (sluice/formats) against the baselines they are measured by, in the same run:
//
//   ndjson/csv           the writer (parse and check each JSON record, encode, write the output to a
//                        file as it completes) next to a plain sequential write of the same bytes
//                        (memcpy into a buffer + write(2) to a file). Target: ratio >= 0.8.
//   parse_and_write_*    simdjson's DOM parse of each record + the plain write of the same bytes: the
//                        floor of any writer that checks its records, a second reference
//   ndjson_zstd/csv_zstd the writer with whole-object zstd level 1 next to ZSTD_compress level 1 of
//                        the same bytes in one call (+ writing its output). Target: ratio >= 0.9.
//                        The writer compresses on sluice's compression thread (the default) while
//                        it parses the next records, so these cases and their baseline are timed by
//                        the wall clock, with the process's CPU time (every thread) printed too;
//                        *_inline is the same writer compressing on the caller's thread.
//   parquet              rows/s and MB/s of JSON in for a 10-column mixed schema (snappy, zstd, none),
//                        next to the same rows written as NDJSON, and the file size ratio.
//
// Each case writes a whole object per iteration into one file under SLUICE_BENCH_DIR (default: the
// temp directory). SLUICE_BENCH_QUICK=1 uses fewer records. The summary table after Google Benchmark's
// lines gives MB/s of each case, its baseline's and the ratio (CPU time; medians with repetitions).

#include <benchmark/benchmark.h>

#if SLUICE_HAS_SIMDJSON && SLUICE_HAS_ZSTD

#include <sluice/formats/csv.hpp>
#include <sluice/formats/ndjson.hpp>
#include <sluice/formats/parquet/writer.hpp>

#include "median_reporter.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

namespace {

using namespace sluice::formats;

std::size_t record_count() { return std::getenv("SLUICE_BENCH_QUICK") != nullptr ? 20'000 : 200'000; }

/// JSON records of a 10-column mixed schema: ints, a timestamp, doubles, a boolean, low- and
/// high-cardinality strings, a nested object.
const std::vector<std::string>& records() {
    static const std::vector<std::string> out = [] {
        static const char* const events[] = {"click", "view", "purchase", "signup", "logout"};
        static const char* const countries[] = {"DE", "FR", "US", "JP", "BR", "IN", "GB"};
        std::vector<std::string> v;
        std::uint64_t x = 88172645463325252ull;
        for (std::size_t i = 0; i < record_count(); ++i) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char buf[512];
            std::snprintf(buf, sizeof buf,
                          R"({"id":%zu,"ts":%llu,"user":"user-%llu","event":"%s","amount":%.2f,"quantity":%llu,)"
                          R"("ok":%s,"country":"%s","ratio":%.6g,"meta":{"session":"s%llu","tags":["a","b"]}})",
                          i, 1700000000000ull + i * 37, static_cast<unsigned long long>(x % 5000), events[x % 5],
                          static_cast<double>(x % 100000) / 100.0, static_cast<unsigned long long>(x % 17),
                          (x & 1) != 0 ? "true" : "false", countries[x % 7], static_cast<double>(x % 1000003) / 7.0,
                          static_cast<unsigned long long>(x % 100000));
            v.emplace_back(buf);
        }
        return v;
    }();
    return out;
}

std::size_t input_bytes() {
    std::size_t n = 0;
    for (const auto& r : records()) n += r.size() + 1;
    return n;
}

/// One file, rewritten from the start by every iteration.
class bench_file {
public:
    bench_file() {
        const char* dir = std::getenv("SLUICE_BENCH_DIR");
        path_ = (dir != nullptr ? std::filesystem::path(dir) : std::filesystem::temp_directory_path()) /
                ("sluice-bench-formats-" + std::to_string(::getpid()));
        fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd_ < 0) std::perror("bench_formats: open");
    }
    ~bench_file() {
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    void restart() {
        if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0) std::perror("bench_formats: truncate");
    }
    void write(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
            if (n <= 0) {
                std::perror("bench_formats: write");
                std::abort();
            }
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
    }

private:
    std::filesystem::path path_;
    int fd_ = -1;
};

constexpr std::size_t write_chunk = 1 << 20;

/// Runs a writer over every record, writing its output to the file as it completes; the object size.
template <class Writer>
std::size_t write_object(Writer& w, bench_file& f) {
    std::size_t size = 0;
    for (const auto& r : records()) {
        if (!w.append(r)) std::abort();
        if (w.pending_output_bytes() >= write_chunk) {
            std::string out = w.take_output();
            size += out.size();
            f.write(out);
            recycle_output(std::move(out)); // as the object engine's destinations do
        }
    }
    std::string rest = finish_object(w);
    f.write(rest);
    size += rest.size();
    recycle_output(std::move(rest));
    return size;
}

/// The bytes a writer produces (for the baselines' "same bytes"), uncompressed.
template <class Writer>
const std::string& encoded(Writer w) {
    static const std::string out = [&] {
        for (const auto& r : records())
            if (!w.append(r)) std::abort();
        return finish_object(w);
    }();
    return out;
}

const std::string& ndjson_bytes() { return encoded(ndjson_writer{}); }
const std::string& csv_bytes() { return encoded(csv_writer{}); }

std::size_t last_size[8]; // object sizes by case, for the summary

void set_rate(benchmark::State& state, std::size_t bytes) {
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * records().size()));
}

void baseline_write(benchmark::State& state, const std::string& bytes) {
    bench_file f;
    std::string buffer;
    buffer.reserve(write_chunk);
    for (auto _ : state) {
        f.restart();
        for (std::size_t at = 0; at < bytes.size(); at += write_chunk) {
            const std::size_t n = std::min(write_chunk, bytes.size() - at);
            buffer.assign(bytes.data() + at, n); // the memcpy a writer cannot avoid either
            f.write(buffer);
        }
    }
    set_rate(state, bytes.size());
}

void baseline_zstd(benchmark::State& state, const std::string& bytes) {
    bench_file f;
    std::string out(ZSTD_compressBound(bytes.size()), '\0');
    for (auto _ : state) {
        f.restart();
        const std::size_t n = ZSTD_compress(out.data(), out.size(), bytes.data(), bytes.size(), 1);
        if (ZSTD_isError(n) != 0) std::abort();
        f.write(std::string_view(out.data(), n));
    }
    set_rate(state, bytes.size());
}

/// The least a writer that checks its input must do: parse each record with simdjson's DOM parser (as
/// the writers do), then the plain write of the NDJSON bytes.
void BM_parse_and_write_ndjson(benchmark::State& state) {
    bench_file f;
    detail::json_reader reader;
    std::string buffer;
    buffer.reserve(write_chunk + 4096);
    for (auto _ : state) {
        f.restart();
        buffer.clear();
        for (const auto& r : records()) {
            simdjson::dom::element root;
            if (!reader.parse(r, root)) std::abort();
            buffer.append(r);
            buffer.push_back('\n');
            if (buffer.size() >= write_chunk) {
                f.write(buffer);
                buffer.clear();
            }
        }
        f.write(buffer);
    }
    set_rate(state, input_bytes());
}

/// The same floor for CSV: parse each record, then the plain write of the CSV bytes.
void BM_parse_and_write_csv(benchmark::State& state) {
    bench_file f;
    detail::json_reader reader;
    std::string buffer;
    buffer.reserve(write_chunk);
    const std::string& bytes = csv_bytes();
    for (auto _ : state) {
        f.restart();
        for (const auto& r : records()) {
            simdjson::dom::element root;
            if (!reader.parse(r, root)) std::abort();
        }
        for (std::size_t at = 0; at < bytes.size(); at += write_chunk) {
            buffer.assign(bytes.data() + at, std::min(write_chunk, bytes.size() - at));
            f.write(buffer);
        }
    }
    set_rate(state, bytes.size());
}

void BM_plain_write_ndjson(benchmark::State& state) { baseline_write(state, ndjson_bytes()); }
void BM_plain_write_csv(benchmark::State& state) { baseline_write(state, csv_bytes()); }
void BM_zstd1_ndjson(benchmark::State& state) { baseline_zstd(state, ndjson_bytes()); }
void BM_zstd1_csv(benchmark::State& state) { baseline_zstd(state, csv_bytes()); }

template <class Writer, class Options>
void run_writer(benchmark::State& state, const Options& options, std::size_t rate_bytes, int slot) {
    bench_file f;
    for (auto _ : state) {
        f.restart();
        Writer w(options);
        last_size[slot] = write_object(w, f);
    }
    set_rate(state, rate_bytes);
}

void BM_ndjson(benchmark::State& state) { run_writer<ndjson_writer>(state, ndjson_options{}, input_bytes(), 0); }
void BM_csv(benchmark::State& state) { run_writer<csv_writer>(state, csv_options{}, csv_bytes().size(), 1); }
ndjson_options ndjson_zstd(bool background) {
    ndjson_options o{sluice::compression::zstd, 1};
    o.background_compression = background;
    return o;
}
csv_options csv_zstd(bool background) {
    csv_options o;
    o.codec = sluice::compression::zstd;
    o.level = 1;
    o.background_compression = background;
    return o;
}
void BM_ndjson_zstd(benchmark::State& state) { run_writer<ndjson_writer>(state, ndjson_zstd(true), input_bytes(), 2); }
void BM_ndjson_zstd_inline(benchmark::State& state) {
    run_writer<ndjson_writer>(state, ndjson_zstd(false), input_bytes(), 7);
}
void BM_csv_zstd(benchmark::State& state) { run_writer<csv_writer>(state, csv_zstd(true), csv_bytes().size(), 3); }
void BM_csv_zstd_inline(benchmark::State& state) {
    run_writer<csv_writer>(state, csv_zstd(false), csv_bytes().size(), 3);
}

parquet_options parquet_for(sluice::compression c) {
    parquet_options o;
    o.columns = {{"id", column_type::int64},       {"ts", column_type::timestamp_millis}, {"user", column_type::string},
                 {"event", column_type::string},   {"amount", column_type::float64},      {"quantity", column_type::int64},
                 {"ok", column_type::boolean},     {"country", column_type::string},      {"ratio", column_type::float64},
                 {"meta", column_type::json}};
    o.codec = c;
    return o;
}

void BM_parquet_snappy(benchmark::State& state) {
    if (!sluice::compression_available(sluice::compression::snappy)) {
        state.SkipWithError("this build has no snappy");
        return;
    }
    run_writer<parquet_writer>(state, parquet_for(sluice::compression::snappy), input_bytes(), 4);
}
void BM_parquet_zstd(benchmark::State& state) {
    run_writer<parquet_writer>(state, parquet_for(sluice::compression::zstd), input_bytes(), 5);
}
void BM_parquet_none(benchmark::State& state) {
    run_writer<parquet_writer>(state, parquet_for(sluice::compression::none), input_bytes(), 6);
}

} // namespace

BENCHMARK(BM_plain_write_ndjson)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ndjson)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_parse_and_write_ndjson)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_plain_write_csv)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_csv)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_parse_and_write_csv)->Unit(benchmark::kMillisecond);
// Timed by the wall clock (the writer's compression runs on another thread), CPU of every thread.
BENCHMARK(BM_zstd1_ndjson)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK(BM_ndjson_zstd)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK(BM_ndjson_zstd_inline)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK(BM_zstd1_csv)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK(BM_csv_zstd)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK(BM_csv_zstd_inline)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK(BM_parquet_snappy)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_parquet_zstd)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_parquet_none)->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    (void)ndjson_bytes(); // build the data outside the timed loops
    (void)csv_bytes();
    sluice_bench::median_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    const double mb = 1e6;
    // median_ns() reports in each benchmark's unit: every case here runs in milliseconds.
    const auto secs = [&](const char* name) { return reporter.median_ns(name) / 1e3; };
    const auto rate = [&](const char* name, std::size_t bytes) { return secs(name) > 0 ? bytes / secs(name) / mb : 0.0; };
    std::printf("\n%zu records, %.1f MB of NDJSON in, %.1f MB of CSV\n", records().size(), input_bytes() / mb,
                csv_bytes().size() / mb);
    std::printf("%-16s %10s %-24s %10s %7s %s\n", "case", "MB/s", "baseline", "MB/s", "ratio", "target");
    const auto row = [&](const char* name, const char* base, std::size_t bytes, const char* target) {
        const double a = rate(name, bytes), b = rate(base, bytes);
        std::printf("%-16s %10.0f %-24s %10.0f %7.2f %s\n", name + 3, a, base + 3, b, b > 0 ? a / b : 0.0, target);
    };
    row("BM_ndjson", "BM_plain_write_ndjson", input_bytes(), ">= 0.8");
    row("BM_ndjson", "BM_parse_and_write_ndjson", input_bytes(), "(the floor of a checking writer)");
    row("BM_csv", "BM_plain_write_csv", csv_bytes().size(), ">= 0.8");
    row("BM_csv", "BM_parse_and_write_csv", csv_bytes().size(), "(the floor of a checking writer)");
    std::printf("\nwith zstd 1, by the wall clock (the writer compresses on a second thread), and by the CPU time of\n"
                "all threads\n");
    std::printf("%-18s %8s %-16s %8s %7s %-7s %9s %9s %7s\n", "case", "MB/s", "baseline", "MB/s", "ratio", "target",
                "CPU MB/s", "base CPU", "ratio");
    const auto wall_row = [&](const char* name, const char* base, std::size_t bytes) {
        const auto wall = [&](const char* n) {
            const double s = reporter.median_real_ns(n) / 1e3;
            return s > 0 ? bytes / s / mb : 0.0;
        };
        const double a = wall(name), b = wall(base), ca = rate(name, bytes), cb = rate(base, bytes);
        std::printf("%-18s %8.0f %-16s %8.0f %7.2f %-7s %9.0f %9.0f %7.2f\n", name + 3, a, base + 3, b, b > 0 ? a / b : 0.0,
                    ">= 0.9", ca, cb, cb > 0 ? ca / cb : 0.0);
    };
    wall_row("BM_ndjson_zstd", "BM_zstd1_ndjson", input_bytes());
    wall_row("BM_ndjson_zstd_inline", "BM_zstd1_ndjson", input_bytes());
    wall_row("BM_csv_zstd", "BM_zstd1_csv", csv_bytes().size());
    wall_row("BM_csv_zstd_inline", "BM_zstd1_csv", csv_bytes().size());
    std::printf("\nParquet, 10 columns, %zu rows (MB/s of JSON in; size next to the uncompressed NDJSON object)\n",
                records().size());
    std::printf("%-16s %12s %10s %14s %12s\n", "case", "rows/s", "MB/s", "vs ndjson", "size ratio");
    const char* names[] = {"BM_parquet_snappy", "BM_parquet_zstd", "BM_parquet_none"};
    for (int i = 0; i < 3; ++i) {
        const double s = secs(names[i]);
        if (s <= 0) continue;
        std::printf("%-16s %12.0f %10.0f %13.2fx %12.3f\n", names[i] + 3, records().size() / s, input_bytes() / s / mb,
                    secs("BM_ndjson") > 0 ? secs("BM_ndjson") / s : 0.0,
                    last_size[0] > 0 ? static_cast<double>(last_size[4 + i]) / static_cast<double>(last_size[0]) : 0.0);
    }
    benchmark::Shutdown();
    return 0;
}

#else

#include <cstdio>

int main() {
    std::puts("bench_formats needs simdjson and zstd (SLUICE_HAS_SIMDJSON, SLUICE_HAS_ZSTD)");
    return 0;
}

#endif
