// End-to-end acknowledgement through a collector queue, next to the delivery engine's own throughput
// measured in the same run, with the ratio.
//
//   engine          delivery_pipeline<null_sink>::deliver() from 1024 concurrent senders: the engine alone
//   queue_answer    collector_queue with default options; the collector's processor is
//                   delivering_processor(pipeline, ...): deferred, it submits the record without a
//                   coroutine frame and the pipeline's callback answers the payload
//   queue_release   collector_queue with default options; the collector's processor calls
//                   ctx.release_consumer() and awaits deliver(); the publisher sends every record with
//                   send() (at most 16384 outstanding) and awaits each result_list: the payload resolves
//                   on the sink's acknowledgement
//   queue_hold      the same processor without release_consumer(), max_consumers = 64: what the queue did
//                   before calls could release their consumer (each batch closes on its age, 200 ms)
//   queue_only      the same queue, publisher and window, with a processor that returns at once (no
//                   engine): what any path through the queue with awaited results can reach at most
//
// The pipeline is configured as in the README's "Reliable delivery" snippet, in memory: batches of 500
// records / 1 MiB / 200 ms, a buffer of 10,000 records (block when full). Records are ~70-byte JSON.
// The sink answers at once (null_sink), so these cases measure CPU: the queue's cost adds to the
// engine's on the one loop thread.
//
//   engine_rtt, queue_answer_rtt, queue_release_rtt
//                   the same with a sink that answers each request after a round trip (2 ms;
//                   SLUICE_BENCH_RTT_US overrides), as a remote destination does: the engine's
//                   throughput is then what its requests in flight carry (8 x 500 records per round
//                   trip), and the question is whether acknowledging through the queue keeps up.
//
// SLUICE_BENCH_QUICK=1 shrinks the runs. Prints each case's deliveries/s and its ratios to `engine` (or
// `engine_rtt`) and to `queue_only`.

#include <benchmark/benchmark.h>

#include <sluice/delivery/collector_delivery.hpp>
#include <sluice/delivery/pipeline.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/queue/collector_queue.hpp>
#include <sluice/sinks/fault_injecting_sink.hpp>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <string>
#include <vector>

namespace {

using namespace sluice;

/// Payloads a publisher keeps outstanding (SLUICE_BENCH_WINDOW overrides).
std::size_t window_limit = 8192;

bool quick() {
    const char* q = std::getenv("SLUICE_BENCH_QUICK");
    return q != nullptr && *q != '\0' && std::string(q) != "0";
}

std::vector<std::string> make_records(std::size_t n) {
    std::vector<std::string> records;
    records.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        records.push_back(R"({"id":)" + std::to_string(i) + R"(,"topic":"orders","user":"u-)" + std::to_string(i % 977) +
                          R"(","amount":12.5})");
    return records;
}

/// A destination that answers every request after a round trip on the loop (no CPU of its own).
class round_trip_sink {
public:
    round_trip_sink(io_loop& loop, std::chrono::microseconds rtt) : loop_(&loop), rtt_(rtt) {}
    [[nodiscard]] sink_limits limits() const { return {}; }
    task<batch_result> send(std::span<const std::string_view> batch) {
        const std::size_t n = batch.size();
        co_await loop_->sleep_for(rtt_);
        records_ += n;
        co_return batch_result::all_ok();
    }
    [[nodiscard]] std::uint64_t records() const noexcept { return records_; }

private:
    io_loop* loop_;
    std::chrono::microseconds rtt_;
    std::uint64_t records_ = 0;
};
static_assert(sink_adapter<round_trip_sink>);

/// The sink of a case: answering at once, or after a round trip.
enum class destination { instant, round_trip };

std::chrono::microseconds round_trip() {
    const char* v = std::getenv("SLUICE_BENCH_RTT_US");
    return std::chrono::microseconds(v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : 2000);
}

/// Runs `body(sink)` with the sink of `d` made on `loop`.
template <class F>
void with_sink(io_loop& loop, destination d, F&& body) {
    if (d == destination::round_trip) {
        round_trip_sink sink(loop, round_trip());
        body(sink);
    } else {
        null_sink sink;
        body(sink);
    }
}

/// The README's "Reliable delivery" options, in memory.
delivery_options readme_options() {
    delivery_options o;
    o.name = "orders";
    o.batch = {.max_events = 500, .max_bytes = 1 << 20, .max_age = std::chrono::milliseconds(200)};
    o.buffer = {.max_events = 10'000, .max_bytes = 64 << 20, .policy = when_full::block};
    return o;
}

/// The mean batch size: small batches mean records waited for the age timer.
void note_batches(benchmark::State& state, const delivery_stats& s) {
    if (s.batches != 0)
        state.counters["mean_batch"] = static_cast<double>(s.batched_records) / static_cast<double>(s.batches);
}

void run_engine(benchmark::State& state, destination d) {
    const auto records = make_records(quick() ? 20'000 : 200'000);
    std::int64_t delivered = 0;
    for (auto _ : state) {
        io_loop loop;
        with_sink(loop, d, [&]<class Sink>(Sink& sink) {
            delivery_pipeline<Sink> pipeline(loop, sink, readme_options());
            std::size_t next = 0;
            std::size_t acknowledged = 0;
            auto sender = [&]() -> task<void> {
                while (next < records.size()) {
                    co_await pipeline.deliver(records[next++]);
                    ++acknowledged;
                }
            };
            loop.run_until_complete([&]() -> task<void> {
                co_await pipeline.start();
                for (std::size_t i = 0; i < window_limit; ++i) loop.spawn(sender());
                while (acknowledged < records.size()) co_await loop.sleep_for(std::chrono::microseconds(200));
                co_await pipeline.stop();
            }());
            loop.drain();
            if (sink.records() != records.size()) state.SkipWithError("records lost");
            note_batches(state, pipeline.stats());
        });
        delivered += static_cast<std::int64_t>(records.size());
    }
    state.counters["deliveries/s"] = benchmark::Counter(static_cast<double>(delivered), benchmark::Counter::kIsRate);
}

void engine(benchmark::State& state) { run_engine(state, destination::instant); }
void engine_rtt(benchmark::State& state) { run_engine(state, destination::round_trip); }

/// How the collector's processor treats a record.
enum class processing { deliver_answer, deliver_release, deliver_hold, nothing };

/// Starts `pipeline` and a collector queue in front of it, sends every record as a payload and awaits
/// each result_list (at most window_limit outstanding), counting the acknowledged ones.
template <class Sink>
task<void> publish_through_queue(io_loop& loop, delivery_pipeline<Sink>& pipeline, const std::vector<std::string>& records,
                                 processing how, queue_options qo, std::size_t& acknowledged) {
    collector<std::size_t, delivery_receipt> deliver{
        "orders", [&](const payload<std::size_t>& p, collector_context& ctx) -> task<delivery_receipt> {
            if (how == processing::nothing) co_return delivery_receipt{};
            if (how == processing::deliver_release) ctx.release_consumer(); // the rest only waits for the ack
            auto receipt = co_await pipeline.deliver(records[p.value]);
            co_return receipt;
        }};
    if (how == processing::deliver_answer)
        deliver.processor = delivering_processor<std::size_t>(
            pipeline, [&](const payload<std::size_t>& p) -> const std::string& { return records[p.value]; });
    collector_queue<std::size_t, delivery_receipt> queue(loop, {deliver}, qo);
    co_await pipeline.start();
    co_await queue.start();
    auto pub = queue.get_publisher();
    std::deque<collector_event<delivery_receipt>> window;
    // One loop, no coroutine per payload (as the engine case's senders): send while the window has
    // room, else settle the oldest.
    std::size_t next = 0;
    while (next < records.size() || !window.empty()) {
        if (next < records.size() && window.size() < window_limit) {
            auto p = payload<std::size_t>::broadcast(next++);
            window.push_back(co_await pub.send(std::move(p)));
            continue;
        }
        const auto& r = co_await window.front().wait();
        if (r.first().is_ok()) ++acknowledged;
        window.pop_front();
    }
    co_await queue.stop();
    co_await pipeline.stop();
}

/// Records through a collector queue into the pipeline; every payload awaited until acknowledged.
void through_queue(benchmark::State& state, processing how, std::size_t n, queue_options qo,
                   destination d = destination::instant) {
    const auto records = make_records(n);
    std::int64_t delivered = 0;
    for (auto _ : state) {
        io_loop loop;
        with_sink(loop, d, [&]<class Sink>(Sink& sink) {
            delivery_pipeline<Sink> pipeline(loop, sink, readme_options());
            std::size_t acknowledged = 0;
            loop.run_until_complete(publish_through_queue(loop, pipeline, records, how, qo, acknowledged));
            loop.drain();
            const std::size_t sunk = how == processing::nothing ? records.size() : sink.records();
            if (acknowledged != records.size() || sunk != records.size()) state.SkipWithError("records lost");
            note_batches(state, pipeline.stats());
        });
        delivered += static_cast<std::int64_t>(records.size());
    }
    state.counters["deliveries/s"] = benchmark::Counter(static_cast<double>(delivered), benchmark::Counter::kIsRate);
}

void queue_answer(benchmark::State& state) {
    through_queue(state, processing::deliver_answer, quick() ? 20'000 : 200'000, queue_options{});
}

void queue_release(benchmark::State& state) {
    through_queue(state, processing::deliver_release, quick() ? 20'000 : 200'000, queue_options{});
}

void queue_only(benchmark::State& state) {
    through_queue(state, processing::nothing, quick() ? 20'000 : 200'000, queue_options{});
}

void queue_answer_rtt(benchmark::State& state) {
    through_queue(state, processing::deliver_answer, quick() ? 20'000 : 200'000, queue_options{}, destination::round_trip);
}

void queue_release_rtt(benchmark::State& state) {
    through_queue(state, processing::deliver_release, quick() ? 20'000 : 200'000, queue_options{}, destination::round_trip);
}

void queue_hold(benchmark::State& state) {
    queue_options qo;
    qo.max_consumers = 64;
    through_queue(state, processing::deliver_hold, quick() ? 128 : 640, qo); // 64 per 200 ms batch: 2 s for 640
}

BENCHMARK(engine)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(queue_answer)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(queue_release)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(queue_only)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(queue_hold)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(engine_rtt)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(queue_answer_rtt)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(queue_release_rtt)->Unit(benchmark::kMillisecond)->UseRealTime();

/// Prints the usual table, then each case's deliveries/s (median over repetitions) and its ratio to
/// the engine's.
class ratio_reporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const auto& r : runs) {
            if (r.error_occurred) continue;
            bool primary = r.run_type == Run::RT_Iteration || r.aggregate_name == "median";
            auto it = r.counters.find("deliveries/s");
            if (!primary || it == r.counters.end()) continue;
            if (r.run_type == Run::RT_Iteration && medians_.count(r.run_name.function_name)) continue;
            rates_[r.run_name.function_name] = it->second.value;
            if (r.aggregate_name == "median") medians_[r.run_name.function_name] = true;
        }
    }
    void Finalize() override {
        ConsoleReporter::Finalize();
        const double queue = rate_of("queue_only");
        std::printf("\n%-18s %14s %14s %8s %14s %8s\n", "case", "deliveries/s", "engine", "ratio", "queue_only",
                    "ratio");
        for (const char* name : {"engine", "queue_only", "queue_answer", "queue_release", "queue_hold"})
            print_row(name, rate_of("engine"), queue);
        std::printf("with a %lld us round trip per request (engine_rtt: the engine alone against it)\n",
                    static_cast<long long>(round_trip().count()));
        for (const char* name : {"engine_rtt", "queue_answer_rtt", "queue_release_rtt"})
            print_row(name, rate_of("engine_rtt"), queue);
    }

private:
    double rate_of(const std::string& name) { return rates_.count(name) ? rates_[name] : 0; }

    void print_row(const char* name, double base, double queue) {
        if (!rates_.count(name)) return;
        const double rate = rates_[name];
        std::printf("%-18s %14.0f %14.0f %7.3fx %14.0f %7.3fx\n", name, rate, base, base > 0 ? rate / base : 0.0, queue,
                    queue > 0 ? rate / queue : 0.0);
    }

    std::map<std::string, double> rates_;
    std::map<std::string, bool> medians_;
};

} // namespace

int main(int argc, char** argv) {
    if (const char* w = std::getenv("SLUICE_BENCH_WINDOW"); w != nullptr && std::atoi(w) > 0)
        window_limit = static_cast<std::size_t>(std::atoi(w));
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    ratio_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}
