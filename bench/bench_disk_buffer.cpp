// disk_buffer append throughput: records of ~200 bytes and ~2 KiB framed with their CRC32C (and with
// lz4 blocks) and written through the io_loop, next to a plain io_uring sequential write (liburing
// directly, 64 KiB writes, one in flight) of the same payload bytes to the same file system in the same
// run. The table at the end prints both and the ratio (target: at least 0.70 for the CRC-only cases).
//
// Every iteration is a pair: `volume` bytes of records into a fresh buffer, and the same bytes into a
// fresh file, in alternating order, so both sides allocate new file blocks and see the same machine
// (on a shared box the load changes by the second); opening, closing and deleting are not timed. The
// fsync policy is `os` (left to the kernel), like the baseline, so the figures compare CPU and
// page-cache work, not the device. cpu/record is the appending thread's CPU time: the disk buffer's own
// cost, which no other load inflates much. SLUICE_BENCH_QUICK=1 shrinks everything for a smoke run;
// SLUICE_BENCH_DIR picks the directory (default: the system temp directory).

#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <liburing.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/codec/compression.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/disk_buffer.hpp>
#include <sluice/io/loop.hpp>

namespace {

using sluice::io_loop;
using sluice::task;
namespace fs = std::filesystem;

struct settings {
    bool quick = false;
    std::size_t volume = 16u << 20; ///< payload bytes per iteration (on each side of a pair)
    double min_time = 0.5;
    std::string dir;
};

settings the_settings;

settings make_settings(bool min_time_flag) {
    settings s;
    const char* quick = std::getenv("SLUICE_BENCH_QUICK");
    if (quick != nullptr && *quick != '\0' && std::string_view(quick) != "0") {
        s.quick = true;
        s.volume = 2u << 20;
        s.min_time = 0.01;
    }
    if (min_time_flag) s.min_time = 0;
    const char* dir = std::getenv("SLUICE_BENCH_DIR");
    s.dir = dir != nullptr && *dir != '\0' ? std::string(dir) : fs::temp_directory_path().string();
    return s;
}

/// JSON-ish log lines of about `size` bytes: compressible the way real events are (repeated keys,
/// varying values), not a single repeated byte.
std::vector<std::vector<std::byte>> make_records(std::size_t size, std::size_t count) {
    static const char* const words[] = {"GET",     "POST",      "/api/v1/orders", "/health", "user",      "session",
                                        "timeout", "ok",        "error",          "retry",   "eu-west-1", "checkout",
                                        "payment", "cache-miss"};
    std::mt19937_64 rng(size);
    std::vector<std::vector<std::byte>> out;
    for (std::size_t i = 0; i < count; ++i) {
        std::string s = "{\"ts\":" + std::to_string(1700000000000 + i * 13) + ",\"level\":\"info\",\"msg\":\"";
        while (s.size() + 40 < size) {
            s += words[rng() % (sizeof words / sizeof words[0])];
            s += ' ';
            if (rng() % 3 == 0) s += std::to_string(rng() % 100000) + ' ';
        }
        s += "\",\"id\":\"" + std::to_string(rng()) + "\"}";
        s.resize(size, ' ');
        const auto b = std::as_bytes(std::span<const char>(s.data(), s.size()));
        out.emplace_back(b.begin(), b.end());
    }
    return out;
}

fs::path fresh_dir() {
    static int counter = 0;
    return fs::path(the_settings.dir) /
           ("sluice-bench-disk-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
}

// ---- the two sides of a pair ------------------------------------------------------------------------

using steady = std::chrono::steady_clock;

double thread_cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

task<std::uint64_t> append_body(sluice::disk_buffer& b, const std::vector<std::vector<std::byte>>& pool,
                                std::size_t volume, std::size_t batch, std::uint64_t& records) {
    std::uint64_t bytes = 0;
    std::size_t next = 0;
    std::vector<std::span<const std::byte>> spans;
    spans.reserve(batch);
    while (bytes < volume) {
        if (batch <= 1) {
            const auto& r = pool[next++ % pool.size()];
            co_await b.append(r);
            bytes += r.size();
            ++records;
        } else {
            spans.clear();
            for (std::size_t k = 0; k < batch; ++k) {
                const auto& r = pool[next++ % pool.size()];
                spans.emplace_back(r);
                bytes += r.size();
            }
            co_await b.append_batch(spans);
            records += batch;
        }
    }
    co_await b.flush(); // the tail: every byte is in the file when the clock stops
    co_return bytes;
}

struct side_result {
    double seconds = 0;
    double cpu_seconds = 0;
    std::uint64_t payload = 0;
    std::uint64_t records = 0;
    std::uint64_t on_disk = 0;
    bool ok = true;
};

/// Appends `volume` bytes of records to a fresh disk_buffer; times the appends and the final flush.
side_result run_disk_buffer(const std::vector<std::vector<std::byte>>& pool, sluice::compression codec,
                            std::size_t batch) {
    side_result r;
    const fs::path dir = fresh_dir();
    sluice::disk_buffer_options o;
    o.directory = dir;
    o.codec = codec;
    o.fsync = sluice::fsync_policy::os;
    o.max_bytes = std::uint64_t{16} << 30;
    {
        io_loop loop;
        std::unique_ptr<sluice::disk_buffer> buffer = loop.run_until_complete(sluice::disk_buffer::open(loop, o));
        const double cpu0 = thread_cpu_seconds();
        const auto t0 = steady::now();
        r.payload = loop.run_until_complete(append_body(*buffer, pool, the_settings.volume, batch, r.records));
        r.seconds = std::chrono::duration<double>(steady::now() - t0).count();
        r.cpu_seconds = thread_cpu_seconds() - cpu0;
        r.on_disk = buffer->stats().bytes_on_disk;
        loop.run_until_complete(buffer->close());
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    return r;
}

/// The baseline: the same payload bytes, back to back in one buffer (the records in the order the disk
/// buffer appends them, so the kernel copies from memory just as cold), written to a fresh file in the
/// same directory with liburing directly: sequential 64 KiB writes, one in flight.
side_result run_baseline(io_uring& ring, const std::vector<std::byte>& bytes, std::size_t record_size) {
    side_result r;
    const fs::path file = fresh_dir();
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        r.ok = false;
        return r;
    }
    const double cpu0 = thread_cpu_seconds();
    const auto t0 = steady::now();
    constexpr std::size_t chunk = 64 * 1024;
    std::uint64_t offset = 0;
    while (offset < bytes.size()) {
        const auto n = static_cast<unsigned>(std::min<std::uint64_t>(chunk, bytes.size() - offset));
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_write(sqe, fd, bytes.data() + offset, n, offset);
        io_uring_submit_and_wait(&ring, 1);
        io_uring_cqe* cqe = nullptr;
        io_uring_wait_cqe(&ring, &cqe);
        const int res = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
        if (res <= 0) {
            r.ok = false;
            break;
        }
        offset += static_cast<std::uint64_t>(res);
    }
    r.seconds = std::chrono::duration<double>(steady::now() - t0).count();
    r.cpu_seconds = thread_cpu_seconds() - cpu0;
    ::close(fd);
    ::unlink(file.c_str());
    r.payload = offset;
    r.records = offset / record_size;
    return r;
}

/// One pair per iteration, in alternating order, so that both sides see the same machine (other
/// processes, page-cache and writeback state): the benchmark's time is the disk_buffer's, the
/// baseline's goes into counters, and vs_baseline is the ratio of the two throughputs over the run.
/// range(0): record size; range(1): codec; range(2): records per append_batch (1: append()).
void bm_pair(benchmark::State& st) {
    const auto size = static_cast<std::size_t>(st.range(0));
    const auto codec = static_cast<sluice::compression>(st.range(1));
    const auto batch = static_cast<std::size_t>(st.range(2));
    if (!sluice::compression_available(codec)) {
        st.SkipWithError("codec not compiled in");
        return;
    }
    fs::create_directories(the_settings.dir);
    const auto pool = make_records(size, 4096);
    // Exactly what append_body appends: whole records from the pool, in order, up to `volume`.
    std::vector<std::byte> bytes;
    bytes.reserve(the_settings.volume + size * batch);
    for (std::size_t i = 0; bytes.size() < the_settings.volume;) {
        for (std::size_t k = 0; k < batch; ++k, ++i) {
            const auto& r = pool[i % pool.size()];
            bytes.insert(bytes.end(), r.begin(), r.end());
        }
    }
    io_uring ring;
    if (io_uring_queue_init(8, &ring, 0) < 0) {
        st.SkipWithError("io_uring_queue_init failed (io_uring refused here)");
        return;
    }
    side_result dsum, bsum;
    bool flip = false;
    for (auto _ : st) {
        side_result d, b;
        if (flip) {
            d = run_disk_buffer(pool, codec, batch);
            b = run_baseline(ring, bytes, size);
        } else {
            b = run_baseline(ring, bytes, size);
            d = run_disk_buffer(pool, codec, batch);
        }
        flip = !flip;
        if (!b.ok) {
            st.SkipWithError("baseline write failed (set SLUICE_BENCH_DIR)");
            break;
        }
        if (b.payload != d.payload) {
            st.SkipWithError("the two sides wrote different amounts");
            break;
        }
        st.SetIterationTime(d.seconds);
        dsum.seconds += d.seconds;
        dsum.cpu_seconds += d.cpu_seconds;
        dsum.payload += d.payload;
        dsum.records += d.records;
        dsum.on_disk += d.on_disk;
        bsum.seconds += b.seconds;
        bsum.payload += b.payload;
    }
    io_uring_queue_exit(&ring);
    if (dsum.seconds <= 0 || bsum.seconds <= 0) return;
    st.SetBytesProcessed(static_cast<std::int64_t>(dsum.payload));
    st.counters["records/s"] = benchmark::Counter(static_cast<double>(dsum.records), benchmark::Counter::kIsRate);
    const double baseline_rate = static_cast<double>(bsum.payload) / bsum.seconds;
    const double rate = static_cast<double>(dsum.payload) / dsum.seconds;
    st.counters["baseline_B/s"] = benchmark::Counter(baseline_rate);
    st.counters["vs_baseline"] = benchmark::Counter(rate / baseline_rate);
    st.counters["cpu_ns/record"] = benchmark::Counter(dsum.cpu_seconds * 1e9 / static_cast<double>(dsum.records));
    st.counters["disk/payload"] =
        benchmark::Counter(static_cast<double>(dsum.on_disk) / static_cast<double>(dsum.payload));
}

// ---- registration, results, table ----------------------------------------------------------------

struct row {
    std::string label;
    std::string name;
    bool target = false; ///< held to the 0.70 target
};
std::vector<row> rows;

struct figures {
    double bytes_per_s = 0;
    double records_per_s = 0;
    double baseline = 0;
    double ratio = 0;
    double cpu_ns = 0;
    double disk_ratio = 0;
};
std::map<std::string, figures> recorded;

void register_all() {
    const struct {
        std::int64_t codec;
        const char* name;
    } codecs[] = {{static_cast<std::int64_t>(sluice::compression::none), "crc"},
                  {static_cast<std::int64_t>(sluice::compression::lz4), "crc+lz4"}};
    for (std::int64_t size : {200, 2048}) {
        for (const auto& c : codecs) {
            if (!sluice::compression_available(static_cast<sluice::compression>(c.codec))) continue;
            // append() one record at a time, and append_batch() with batches of about 64 KiB.
            for (std::int64_t batch : {std::int64_t{1}, std::int64_t{65536} / size}) {
                const std::string name = std::string("disk_buffer/") + c.name;
                auto* b = benchmark::RegisterBenchmark(name.c_str(), bm_pair)
                              ->Args({size, c.codec, batch})
                              ->ArgNames({"record", "codec", "batch"})
                              ->UseManualTime()
                              ->Unit(benchmark::kMillisecond);
                if (the_settings.min_time > 0) b->MinTime(the_settings.min_time);
                const std::string full = name + "/record:" + std::to_string(size) +
                                         "/codec:" + std::to_string(c.codec) + "/batch:" + std::to_string(batch);
                rows.push_back({std::string(c.name) + ", " + std::to_string(size) + " B, " +
                                    (batch == 1 ? "append()" : "append_batch(" + std::to_string(batch) + ")"),
                                full, c.codec == 0});
            }
        }
    }
}

double counter(const benchmark::BenchmarkReporter::Run& run, const char* name) {
    auto it = run.counters.find(name);
    return it == run.counters.end() ? 0.0 : static_cast<double>(it->second.value);
}

/// Forwards to the chosen reporter after recording each run for the table.
class tee_reporter : public benchmark::BenchmarkReporter {
public:
    explicit tee_reporter(benchmark::BenchmarkReporter* inner) : inner_(inner) {}
    bool ReportContext(const Context& context) override {
        inner_->SetOutputStream(&GetOutputStream());
        inner_->SetErrorStream(&GetErrorStream());
        return inner_->ReportContext(context);
    }
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const auto& run : runs) {
            if (run.error_occurred) continue;
            if (run.run_type != Run::RT_Iteration && run.aggregate_name != "median") continue;
            std::string name = run.run_name.function_name;
            if (!run.run_name.args.empty()) name += "/" + run.run_name.args;
            recorded[name] =
                figures{counter(run, "bytes_per_second"), counter(run, "records/s"),     counter(run, "baseline_B/s"),
                        counter(run, "vs_baseline"),      counter(run, "cpu_ns/record"), counter(run, "disk/payload")};
        }
        inner_->ReportRuns(runs);
    }
    void Finalize() override { inner_->Finalize(); }

private:
    benchmark::BenchmarkReporter* inner_;
};

std::string si(double v, const char* unit) {
    char buf[48];
    if (v <= 0)
        return "-";
    else if (v >= 1e9)
        std::snprintf(buf, sizeof buf, "%.2fG%s", v / 1e9, unit);
    else if (v >= 1e6)
        std::snprintf(buf, sizeof buf, "%.1fM%s", v / 1e6, unit);
    else
        std::snprintf(buf, sizeof buf, "%.0fk%s", v / 1e3, unit);
    return buf;
}

void print_table(std::FILE* out) {
    if (recorded.empty()) return;
    std::fprintf(out,
                 "\ndisk_buffer append throughput (%s run, %zu MiB of records per iteration, fsync left to the OS)\n"
                 "baseline: liburing sequential 64 KiB writes of the same payload bytes to a fresh file in %s,\n"
                 "measured in the same iterations (alternating order); ratio = disk_buffer / baseline payload rate\n\n",
                 the_settings.quick ? "QUICK" : "full", the_settings.volume >> 20, the_settings.dir.c_str());
    std::fprintf(out, "%-36s %11s %10s %11s %7s %11s %10s\n", "case", "payload", "records/s", "baseline", "ratio",
                 "cpu/record", "disk/input");
    double worst = 0;
    bool any = false;
    for (const auto& r : rows) {
        auto it = recorded.find(r.name);
        if (it == recorded.end()) continue;
        const figures& f = it->second;
        char ratio[16], cpu[24], disk[16];
        std::snprintf(ratio, sizeof ratio, "%.2f", f.ratio);
        std::snprintf(cpu, sizeof cpu, "%.0f ns", f.cpu_ns);
        std::snprintf(disk, sizeof disk, "%.2f", f.disk_ratio);
        std::fprintf(out, "%-36s %11s %10s %11s %7s %11s %10s\n", r.label.c_str(), si(f.bytes_per_s, "B/s").c_str(),
                     si(f.records_per_s, "").c_str(), si(f.baseline, "B/s").c_str(), ratio, cpu, disk);
        if (r.target) {
            worst = any ? std::min(worst, f.ratio) : f.ratio;
            any = true;
        }
    }
    if (any)
        std::fprintf(out, "\nlowest CRC-only ratio: %.2f (target >= 0.70): %s\n", worst,
                     worst >= 0.7 ? "met" : "NOT met");
}

std::optional<std::string> flag_value(int argc, char** argv, std::string_view name) {
    std::string prefix = "--" + std::string(name) + "=";
    std::optional<std::string> v;
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) v = std::string(argv[i] + prefix.size());
    return v;
}

} // namespace

int main(int argc, char** argv) {
    auto out_file = flag_value(argc, argv, "benchmark_out");
    auto out_format = flag_value(argc, argv, "benchmark_out_format");
    the_settings = make_settings(flag_value(argc, argv, "benchmark_min_time").has_value());
    register_all();

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    {
        io_loop probe;
        benchmark::AddCustomContext("sluice_io_backend", std::string(sluice::to_string(probe.backend())));
    }
    benchmark::AddCustomContext("sluice_bench_mode", the_settings.quick ? "quick (SLUICE_BENCH_QUICK)" : "full");
    benchmark::AddCustomContext("sluice_bench_dir", the_settings.dir);
    benchmark::AddCustomContext("sluice_crc32c_hardware", sluice::crc32c_hardware_available() ? "yes" : "no");

    benchmark::BenchmarkReporter* display_inner = benchmark::CreateDefaultDisplayReporter();
    const bool console = dynamic_cast<benchmark::ConsoleReporter*>(display_inner) != nullptr;
    tee_reporter display(display_inner);
    std::unique_ptr<benchmark::JSONReporter> json;
    std::unique_ptr<tee_reporter> file;
    if (out_file && !out_file->empty() && (!out_format || *out_format == "json")) {
        json = std::make_unique<benchmark::JSONReporter>();
        file = std::make_unique<tee_reporter>(json.get());
    }
    benchmark::RunSpecifiedBenchmarks(&display, file.get());
    print_table(console ? stdout : stderr);
    benchmark::Shutdown();
    return 0;
}
