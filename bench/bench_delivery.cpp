// Delivery engine benchmarks: events/s through the batcher and the memory buffer into a null sink,
// and through the disk buffer (disk mode: every record persisted, then read back and delivered),
// each next to the same events handed straight to the null sink in the same run, with the ratio.
//
//   direct       null_sink.send() called with batches of 500 records built by hand: the floor
//   memory       delivery_pipeline<null_sink>: deliver() from 1024 concurrent senders
//   disk         the same with buffer_type::disk (fsync left to the OS, in SLUICE_BENCH_DIR or /tmp)
//
// After the usual table it prints each case's events/s with the ratio to direct. SLUICE_BENCH_QUICK=1
// shrinks the runs; --benchmark_format=json gives machine-readable output.

#include <benchmark/benchmark.h>

#include <sluice/delivery/pipeline.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/sinks/fault_injecting_sink.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using namespace sluice;

int events_per_run() { return std::getenv("SLUICE_BENCH_QUICK") ? 20'000 : 200'000; }

std::vector<std::string> make_records(int n) {
    std::vector<std::string> records;
    records.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
        records.push_back(R"({"id":)" + std::to_string(i) + R"(,"topic":"orders","user":"u-)" + std::to_string(i % 977) +
                          R"(","amount":12.5})");
    return records;
}

void direct(benchmark::State& state) {
    const int n = events_per_run();
    auto records = make_records(n);
    io_loop loop;
    null_sink sink;
    std::int64_t events = 0;
    for (auto _ : state) {
        loop.run_until_complete([&]() -> task<void> {
            std::vector<std::string_view> batch;
            batch.reserve(500);
            for (const auto& r : records) {
                batch.push_back(r);
                if (batch.size() == 500) {
                    co_await sink.send(batch);
                    batch.clear();
                }
            }
            if (!batch.empty()) co_await sink.send(batch);
        }());
        events += n;
    }
    state.counters["events/s"] = benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
}

void through_pipeline(benchmark::State& state, bool disk) {
    const int n = events_per_run();
    auto records = make_records(n);
    std::filesystem::path dir =
        std::filesystem::path(std::getenv("SLUICE_BENCH_DIR") ? std::getenv("SLUICE_BENCH_DIR") : "/tmp") /
        "sluice-bench-delivery";
    io_loop loop;
    std::int64_t events = 0;
    for (auto _ : state) {
        std::filesystem::remove_all(dir);
        null_sink sink;
        delivery_options o;
        o.batch = {.max_events = 500, .max_bytes = 1u << 20, .max_age = std::chrono::milliseconds(5)};
        o.buffer = {.max_events = 8192, .max_bytes = 64u << 20, .policy = when_full::block,
                    .type = disk ? buffer_type::disk : buffer_type::memory};
        if (disk) {
            disk_buffer_options d;
            d.directory = dir;
            d.fsync = fsync_policy::os;
            d.segment_bytes = 16u << 20;
            o.disk = d;
        }
        delivery_pipeline<null_sink> p(loop, sink, o);
        std::size_t next = 0;
        auto sender = [&]() -> task<void> {
            while (next < records.size()) co_await p.deliver(records[next++]);
        };
        loop.run_until_complete([&]() -> task<void> {
            co_await p.start();
            for (int i = 0; i < 1024; ++i) loop.spawn(sender());
            while (next < records.size()) co_await loop.sleep_for(std::chrono::microseconds(200));
            co_await p.flush();
            co_await p.stop();
        }());
        loop.drain();
        if (sink.records() != static_cast<std::uint64_t>(n)) state.SkipWithError("records lost");
        events += n;
    }
    std::filesystem::remove_all(dir);
    state.counters["events/s"] = benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
}

void memory(benchmark::State& state) { through_pipeline(state, false); }
void disk(benchmark::State& state) { through_pipeline(state, true); }

BENCHMARK(direct)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(memory)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(disk)->Unit(benchmark::kMillisecond)->UseRealTime();

/// Prints the usual table, then the ratios against the direct case.
class ratio_reporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const auto& r : runs) {
            auto it = r.counters.find("events/s");
            if (it == r.counters.end()) continue;
            rates_.emplace_back(r.benchmark_name(), it->second.value);
        }
    }
    void Finalize() override {
        ConsoleReporter::Finalize();
        double base = 0;
        for (auto& [name, rate] : rates_)
            if (name.rfind("direct", 0) == 0) base = rate;
        std::printf("\n%-10s %14s %14s %8s\n", "case", "events/s", "direct", "ratio");
        for (auto& [name, rate] : rates_)
            std::printf("%-10s %14.0f %14.0f %7.2fx\n", name.c_str(), rate, base, base > 0 ? rate / base : 0.0);
    }

private:
    std::vector<std::pair<std::string, double>> rates_;
};

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    ratio_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}
