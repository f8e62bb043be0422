// Metric update costs on the hot path: counter increment, gauge add and histogram observe, on one
// thread and on 2 threads updating the same metric (the contended case), each next to a baseline of a
// plain std::atomic<std::uint64_t>::fetch_add(1, relaxed) run in the same process, and the ratio.
//
// Cases (all UseRealTime, so ops/s with 2 threads is the total of both):
//   baseline/fetch_add    a global, cache-line aligned std::atomic<std::uint64_t>, fetch_add(1, relaxed)
//   counter/inc           sluice::counter::inc() through a handle from a metrics_registry
//   gauge/add             sluice::gauge::add(1.0) (an atomic<double> compare-exchange loop)
//   histogram/observe     sluice::histogram::observe(v), 14 latency buckets, v cycling through 1024
//                         log-uniform values from 0.5 ms to 20 s (so the bucket varies)
//   design/sharded_inc    not library code: an 8-shard counter (shard picked by a thread_local index),
//                         kept to re-check whether per-thread sharding pays off on a given machine
//
// The baseline runs again just before every case, and each case is compared with that run: on a shared
// machine the load drifts, and a baseline measured a minute earlier says little. The table at the end
// gives ops/s per case and thread count, its baseline's, and time per op relative to the baseline
// (1.00x: as cheap as a bare fetch_add). SLUICE_BENCH_QUICK=1 for a smoke run.
//
//   g++ -O2 -DNDEBUG -std=c++20 -Iinclude bench/bench_metrics.cpp -o bench_metrics -lbenchmark -pthread

#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/metrics/metrics.hpp>

namespace {

sluice::metrics_registry& registry() {
    static sluice::metrics_registry r;
    return r;
}

// Handles are created once, before any thread runs (see main): updates never touch the registry.
struct handles {
    sluice::counter events;
    sluice::gauge bytes;
    sluice::histogram latency;
};
handles the_handles;

struct alignas(64) padded_atomic {
    std::atomic<std::uint64_t> value{0};
};
padded_atomic baseline_cell;

// 1024 log-uniform latencies over [0.5 ms, 20 s), from a fixed LCG: the same sequence every run.
const std::array<double, 1024>& latencies() {
    static const std::array<double, 1024> values = [] {
        std::array<double, 1024> v{};
        std::uint64_t x = 0x9E3779B97F4A7C15ull;
        for (auto& d : v) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            const double u = static_cast<double>(x >> 11) / 9007199254740992.0; // [0, 1)
            d = 0.0005 * std::pow(40000.0, u);
        }
        return v;
    }();
    return values;
}

// ---- the sharding sketch (design check only) ----

struct sharded_counter {
    static constexpr unsigned shards = 8;
    std::array<padded_atomic, shards> cells;
    static unsigned index() noexcept {
        static std::atomic<unsigned> next{0};
        thread_local unsigned mine = next.fetch_add(1, std::memory_order_relaxed) % shards;
        return mine;
    }
    void inc() noexcept { cells[index()].value.fetch_add(1, std::memory_order_relaxed); }
    std::uint64_t value() const noexcept {
        std::uint64_t n = 0;
        for (const auto& c : cells) n += c.value.load(std::memory_order_relaxed);
        return n;
    }
};
sharded_counter sharded_cell;

// ---- benchmarks ----

void done(benchmark::State& st) { st.SetItemsProcessed(st.iterations()); }

void bm_baseline(benchmark::State& st) {
    for (auto _ : st) baseline_cell.value.fetch_add(1, std::memory_order_relaxed);
    done(st);
}

void bm_counter_inc(benchmark::State& st) {
    const sluice::counter c = the_handles.events;
    for (auto _ : st) c.inc();
    done(st);
}

void bm_gauge_add(benchmark::State& st) {
    const sluice::gauge g = the_handles.bytes;
    for (auto _ : st) g.add(1.0);
    done(st);
}

void bm_histogram_observe(benchmark::State& st) {
    const sluice::histogram h = the_handles.latency;
    const auto& values = latencies();
    std::size_t i = static_cast<std::size_t>(st.thread_index()) * 512;
    for (auto _ : st) h.observe(values[i++ & 1023]);
    done(st);
}

void bm_sharded_inc(benchmark::State& st) {
    for (auto _ : st) sharded_cell.inc();
    done(st);
}

struct case_info {
    const char* name;
    void (*fn)(benchmark::State&);
};
constexpr case_info baseline_case{"baseline/fetch_add", bm_baseline};
constexpr case_info cases[] = {
    {"counter/inc", bm_counter_inc},
    {"gauge/add", bm_gauge_add},
    {"histogram/observe", bm_histogram_observe},
    {"design/sharded_inc", bm_sharded_inc},
};

// ---- results ----

struct figures {
    double ops_per_s = 0;
    double baseline_ops_per_s = 0; // of the baseline run just before, same thread count
};
// (case name, threads) -> figures
std::map<std::pair<std::string, std::int64_t>, figures> recorded;
std::map<std::int64_t, double> last_baseline; // threads -> ops/s of the latest baseline run

/// Passes everything to the display reporter and keeps each case's ops/s for the table.
class recording_reporter : public benchmark::BenchmarkReporter {
public:
    explicit recording_reporter(benchmark::BenchmarkReporter* inner) : inner_(inner) {}
    bool ReportContext(const Context& context) override {
        inner_->SetOutputStream(&GetOutputStream());
        inner_->SetErrorStream(&GetErrorStream());
        return inner_->ReportContext(context);
    }
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const auto& run : runs) {
            if (run.error_occurred) continue;
            if (run.run_type != Run::RT_Iteration && run.aggregate_name != "median") continue;
            auto it = run.counters.find("items_per_second");
            if (it == run.counters.end()) continue;
            if (run.run_name.function_name == baseline_case.name)
                last_baseline[run.threads] = it->second.value;
            else
                recorded[{run.run_name.function_name, run.threads}] = {it->second.value, last_baseline[run.threads]};
        }
        inner_->ReportRuns(runs);
    }
    void Finalize() override { inner_->Finalize(); }

private:
    benchmark::BenchmarkReporter* inner_;
};

std::string si(double v) {
    char buf[32];
    if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
    else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
    else std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
}

void print_table(std::FILE* out) {
    if (recorded.empty()) return;
    std::fprintf(out, "\nmetric updates (ops/s over all threads; ratio = time per op / baseline's)\n\n");
    std::fprintf(out, "%-22s %8s %12s %12s %8s\n", "case", "threads", "ops/s", "baseline", "ratio");
    for (const auto& c : cases) {
        for (std::int64_t threads : {1, 2}) {
            auto s = recorded.find({c.name, threads});
            if (s == recorded.end()) continue;
            const figures& f = s->second;
            char ratio[16] = "-";
            if (f.baseline_ops_per_s > 0 && f.ops_per_s > 0)
                std::snprintf(ratio, sizeof ratio, "%.2fx", f.baseline_ops_per_s / f.ops_per_s);
            std::fprintf(out, "%-22s %8lld %12s %12s %8s\n", c.name, static_cast<long long>(threads), si(f.ops_per_s).c_str(),
                         f.baseline_ops_per_s > 0 ? si(f.baseline_ops_per_s).c_str() : "-", ratio);
        }
    }
}

bool has_flag(int argc, char** argv, std::string_view prefix) {
    for (int i = 1; i < argc; ++i)
        if (std::string_view(argv[i]).starts_with(prefix)) return true;
    return false;
}

} // namespace

int main(int argc, char** argv) {
    auto& r = registry();
    the_handles.events = r.get_counter("sluice_events_in_total", "Events accepted.", {{"component", "bench"}, {"name", "b"}});
    the_handles.bytes = r.get_gauge("sluice_buffer_bytes", "Bytes held.", {{"component", "bench"}, {"name", "b"}});
    the_handles.latency = r.get_histogram("sluice_request_duration_seconds", "Latency.", sluice::default_latency_buckets(),
                                          {{"component", "bench"}, {"name", "b"}});
    (void)latencies();

    const char* quick = std::getenv("SLUICE_BENCH_QUICK");
    const bool is_quick = quick != nullptr && *quick != '\0' && std::string_view(quick) != "0";
    const double min_time = has_flag(argc, argv, "--benchmark_min_time") ? 0 : (is_quick ? 0.01 : 0.5);
    for (const auto& c : cases) {
        for (const case_info* which : {&baseline_case, &c}) {
            auto* b = benchmark::RegisterBenchmark(which->name, which->fn);
            b->Threads(1)->Threads(2)->UseRealTime();
            if (min_time > 0) b->MinTime(min_time);
        }
    }

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("sluice_bench_mode", is_quick ? "quick (SLUICE_BENCH_QUICK)" : "full");

    benchmark::BenchmarkReporter* inner = benchmark::CreateDefaultDisplayReporter();
    const bool console = dynamic_cast<benchmark::ConsoleReporter*>(inner) != nullptr;
    recording_reporter display(inner);
    benchmark::RunSpecifiedBenchmarks(&display);
    print_table(console ? stdout : stderr);

    // The updates must all have landed (and are used, so nothing is optimised away).
    if (the_handles.events.value() == 0 && recorded.contains({"counter/inc", 1})) {
        std::fprintf(stderr, "counter lost its increments\n");
        return 1;
    }
    std::fprintf(console ? stdout : stderr, "\n(sharded sketch total: %llu)\n",
                 static_cast<unsigned long long>(sharded_cell.value()));
    benchmark::Shutdown();
    delete inner;
    return 0;
}
