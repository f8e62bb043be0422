// Delivery engine benchmarks: the engine's own cost per event on the memory path and through the disk
// buffer, each next to the same events handed straight to the sink in the same run, with the ratio.
//
//   direct        null_sink.send() called with batches of 500 records built by hand: the floor
//   deliver       delivery_pipeline<null_sink>: co_await deliver(record) from 1024 concurrent senders
//   submit        the same records through submit(record, {}, callback): no coroutine frame per record;
//                 one producer keeps at most 8192 records submitted and not finished
//   keyed         submit() with 16 batch keys and a weight per record (16 open batches)
//   deliver_copy  deliver() from 1024 senders that copy each record first (the case measured before the
//                 engine was split: the copy is the sender's, not the engine's)
//   disk          deliver() with buffer_type::disk (fsync left to the OS, in SLUICE_BENCH_DIR or /tmp)
//
// Every case but deliver_copy starts from records that are already owned strings (built outside the
// timing) and ends with them freed, as the direct case does after each batch. Times are process CPU
// time (steadier on a shared machine); with --benchmark_repetitions the best run of each case counts
// (other load only ever adds time). After the usual table it prints each case's events per
// CPU-second, ns per event, the ratio to direct and the engine's own cost per event (ns/event minus
// direct's). SLUICE_BENCH_QUICK=1 shrinks the runs; --benchmark_format=json gives machine-readable output.

#include <benchmark/benchmark.h>

#include <sluice/delivery/pipeline.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/sinks/fault_injecting_sink.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
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

/// A fresh owned copy of `records` per iteration, made while the timer is paused.
std::vector<std::string> owned_copy(benchmark::State& state, const std::vector<std::string>& records) {
    state.PauseTiming();
    std::vector<std::string> owned = records;
    state.ResumeTiming();
    return owned;
}

void direct(benchmark::State& state) {
    const int n = events_per_run();
    auto records = make_records(n);
    io_loop loop;
    null_sink sink;
    for (auto _ : state) {
        auto owned = owned_copy(state, records);
        loop.run_until_complete([&]() -> task<void> {
            std::vector<std::string_view> batch;
            batch.reserve(500);
            std::size_t first = 0;
            for (std::size_t i = 0; i < owned.size(); ++i) {
                batch.push_back(owned[i]);
                if (batch.size() == 500 || i + 1 == owned.size()) {
                    co_await sink.send(batch);
                    batch.clear();
                    for (; first <= i; ++first) std::string().swap(owned[first]); // the owner frees them
                }
            }
        }());
    }
    if (sink.records() != static_cast<std::uint64_t>(n) * state.iterations()) state.SkipWithError("records lost");
    state.SetItemsProcessed(static_cast<std::int64_t>(n) * state.iterations());
}

delivery_options bench_options(bool disk, const std::filesystem::path& dir) {
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
    return o;
}

std::filesystem::path bench_dir() {
    const char* env = std::getenv("SLUICE_BENCH_DIR");
    return std::filesystem::path(env ? env : "/tmp") / "sluice-bench-delivery";
}

/// deliver() from 1024 concurrent senders; `copy`: the senders copy each record (the old case).
void through_deliver(benchmark::State& state, bool disk, bool copy) {
    const int n = events_per_run();
    auto records = make_records(n);
    const auto dir = bench_dir();
    io_loop loop;
    for (auto _ : state) {
        state.PauseTiming();
        std::filesystem::remove_all(dir);
        state.ResumeTiming();
        auto owned = owned_copy(state, copy ? std::vector<std::string>{} : records);
        null_sink sink;
        delivery_pipeline<null_sink> p(loop, sink, bench_options(disk, dir));
        std::size_t next = 0;
        auto sender = [&]() -> task<void> {
            while (next < records.size()) {
                const std::size_t i = next++;
                if (copy)
                    co_await p.deliver(records[i]);
                else
                    co_await p.deliver(std::move(owned[i]));
            }
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
    }
    std::filesystem::remove_all(dir);
    state.SetItemsProcessed(static_cast<std::int64_t>(n) * state.iterations());
}

/// submit() from one producer with at most 8192 records outstanding; `keys`: 16 batch keys and weights.
void through_submit(benchmark::State& state, bool keys) {
    const int n = events_per_run();
    auto records = make_records(n);
    std::vector<std::string> key_names;
    for (int k = 0; k < 16; ++k) key_names.push_back("stream-" + std::to_string(k));
    io_loop loop;
    for (auto _ : state) {
        auto owned = owned_copy(state, records);
        null_sink sink;
        delivery_pipeline<null_sink> p(loop, sink, bench_options(false, {}));
        std::size_t outstanding = 0, failed = 0;
        auto on_done = [&](const outcome& o) {
            --outstanding;
            if (!o.is_ok()) ++failed;
        };
        loop.run_until_complete([&]() -> task<void> {
            for (std::size_t i = 0; i < owned.size();) {
                for (; i < owned.size() && outstanding < 8192; ++i) {
                    ++outstanding;
                    record_options ro;
                    if (keys) {
                        ro.batch_key = key_names[i % 16];
                        ro.weight = owned[i].size() + 16;
                    }
                    p.submit(std::move(owned[i]), std::move(ro), on_done);
                }
                co_await loop.schedule(); // requests go out; callbacks bring outstanding down
            }
            co_await p.flush();
            co_await p.stop();
        }());
        loop.drain();
        if (sink.records() != static_cast<std::uint64_t>(n) || failed != 0) state.SkipWithError("records lost");
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(n) * state.iterations());
}

void deliver(benchmark::State& state) { through_deliver(state, false, false); }
void deliver_copy(benchmark::State& state) { through_deliver(state, false, true); }
void submit(benchmark::State& state) { through_submit(state, false); }
void keyed(benchmark::State& state) { through_submit(state, true); }
void disk(benchmark::State& state) { through_deliver(state, true, false); }

BENCHMARK(direct)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();
BENCHMARK(deliver)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();
BENCHMARK(submit)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();
BENCHMARK(keyed)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();
BENCHMARK(deliver_copy)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();
BENCHMARK(disk)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

/// Prints the usual table, then events per CPU-second, ns per event, the ratio to direct and the
/// engine's own cost per event. With repetitions the best run of each case is used: on a shared
/// machine the other load only ever adds time.
class ratio_reporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const auto& r : runs) {
            if (r.error_occurred || r.run_type == Run::RT_Aggregate) continue;
            auto it = r.counters.find("items_per_second");
            if (it == r.counters.end()) continue;
            double& best = rates_[r.run_name.function_name];
            best = std::max(best, it->second.value);
        }
    }
    void Finalize() override {
        ConsoleReporter::Finalize();
        const double base = rates_.count("direct") ? rates_["direct"] : 0;
        const double base_ns = base > 0 ? 1e9 / base : 0;
        std::printf("\n%-13s %16s %10s %8s %16s\n", "case", "events/CPU-s", "ns/event", "ratio", "engine ns/event");
        for (const char* name : {"direct", "deliver", "submit", "keyed", "deliver_copy", "disk"}) {
            if (rates_.count(name) == 0) continue;
            const double rate = rates_[name];
            const double ns = 1e9 / rate;
            std::printf("%-13s %16.0f %10.1f %7.3fx %16.1f\n", name, rate, ns, base > 0 ? rate / base : 0.0,
                        ns - base_ns);
        }
    }

private:
    std::map<std::string, double> rates_;
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
