// io_loop hot paths: awaiting a task, post/resume round trips on one thread, cross-thread call_soon,
// timers, and file writes through io_uring (write_all) against plain pwrite(2) in the same run. Where
// there is an obvious plain-C++ equivalent it runs next to the sluice figure as `.../baseline`, and a
// table at the end prints both with the ratio. See bench/README.md.
//
// SLUICE_BENCH_QUICK=1 shrinks everything for a smoke run; SLUICE_BENCH_DIR chooses where the file
// benchmarks write (default: the system temp directory).

#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>

namespace {

using sluice::io_loop;
using sluice::task;
using namespace std::chrono_literals;

struct settings {
    bool quick = false;
    double min_time = 0.1;            ///< seconds per benchmark; 0: leave it to --benchmark_min_time
    std::size_t batch = 4096;         ///< cross-thread calls per iteration
    std::size_t file_bytes = 1 << 20; ///< bytes written per iteration
    std::string dir;                  ///< where the file benchmarks write
};

settings the_settings; // the registered benchmarks read it

settings make_settings(bool min_time_flag) {
    settings s;
    const char* quick = std::getenv("SLUICE_BENCH_QUICK");
    if (quick != nullptr && *quick != '\0' && std::string_view(quick) != "0") {
        s.quick = true;
        s.min_time = 0.005;
        s.batch = 512;
        s.file_bytes = 256 << 10;
    }
    if (const char* t = std::getenv("SLUICE_BENCH_MIN_TIME"); t != nullptr && std::atof(t) > 0)
        s.min_time = std::atof(t);
    if (min_time_flag)
        s.min_time = 0;
    const char* dir = std::getenv("SLUICE_BENCH_DIR");
    s.dir =
        dir != nullptr && *dir != '\0' ? std::string(dir) : std::filesystem::temp_directory_path().string();
    return s;
}

void set_ops(benchmark::State& st, double ops) {
    st.counters["ops/s"] = benchmark::Counter(ops, benchmark::Counter::kIsRate);
}

/// Counts down on the loop thread; the last arrival posts the waiting coroutine.
class countdown {
  public:
    explicit countdown(io_loop& loop) : loop_(loop) {}
    void reset(std::size_t n) noexcept { left_ = n; }
    void arrive() {
        if (--left_ == 0 && waiter_)
            loop_.post(std::exchange(waiter_, {}));
    }
    auto wait() noexcept {
        struct awaiter {
            countdown* self;
            bool await_ready() const noexcept { return self->left_ == 0; }
            void await_suspend(std::coroutine_handle<> h) noexcept { self->waiter_ = h; }
            void await_resume() const noexcept {}
        };
        return awaiter{this};
    }

  private:
    io_loop& loop_;
    std::size_t left_ = 0;
    std::coroutine_handle<> waiter_;
};

/// Runs an io_loop on its own thread until destroyed.
class loop_thread {
  public:
    explicit loop_thread(io_loop& loop) : loop_(loop) {
        auto running = running_.get_future();
        thread_ = std::thread([this] {
            // Runs inside run(), so a stop() from the other thread can no longer be lost.
            loop_.call_soon([this] { running_.set_value(); });
            loop_.run();
        });
        running.wait();
    }
    loop_thread(const loop_thread&) = delete;
    loop_thread& operator=(const loop_thread&) = delete;
    ~loop_thread() {
        loop_.stop();
        thread_.join();
    }

  private:
    io_loop& loop_;
    std::promise<void> running_;
    std::thread thread_;
};

// ---- coroutines on one thread ------------------------------------------------------------------------

task<std::uint64_t> add_one(std::uint64_t x) {
    co_return x + 1;
}

task<void> task_await_body(benchmark::State& st) {
    std::uint64_t acc = 0;
    for (auto _ : st)
        acc = co_await add_one(acc);
    benchmark::DoNotOptimize(acc);
}

/// `co_await add_one(x)` in a loop: a frame from the recycling cache, a symmetric transfer in and one
/// out, the frame freed.
void bm_task_await(benchmark::State& st) {
    io_loop loop;
    loop.run_until_complete(task_await_body(st));
    set_ops(st, static_cast<double>(st.iterations()));
}

task<void> yielder(io_loop& loop, const bool& stop, std::uint64_t& resumes) {
    while (!stop) {
        co_await loop.schedule();
        ++resumes;
    }
}

task<void> round_trip_body(benchmark::State& st, io_loop& loop, bool& stop) {
    for (auto _ : st)
        co_await loop.schedule();
    stop = true;
}

/// `co_await loop.schedule()`: post to the ready queue, one loop iteration, resume. With `range(0)`
/// coroutines yielding in turn, one iteration resumes all of them.
void bm_schedule_round_trip(benchmark::State& st) {
    const auto coroutines = static_cast<std::size_t>(st.range(0));
    std::uint64_t others = 0;
    {
        io_loop loop;
        bool stop = false;
        for (std::size_t i = 1; i < coroutines; ++i)
            loop.spawn(yielder(loop, stop, others));
        loop.run_until_complete(round_trip_body(st, loop, stop));
        loop.drain();
    }
    set_ops(st, static_cast<double>(st.iterations()) + static_cast<double>(others));
}

// ---- cross-thread calls ----------------------------------------------------------------------------

/// The producer (this thread) hands `batch` calls to a running loop with call_soon; the last one raises
/// a flag this thread waits for.
void bm_call_soon(benchmark::State& st) {
    const std::size_t batch = the_settings.batch;
    std::uint64_t calls = 0;
    {
        io_loop loop;
        loop_thread runner(loop);
        std::atomic<bool> done{false};
        std::uint64_t counter = 0; // loop thread only
        for (auto _ : st) {
            done.store(false, std::memory_order_relaxed);
            for (std::size_t i = 1; i < batch; ++i)
                loop.call_soon([&counter] { ++counter; });
            loop.call_soon([&counter, &done] {
                ++counter;
                done.store(true, std::memory_order_release);
                done.notify_one();
            });
            done.wait(false, std::memory_order_acquire);
            calls += batch;
        }
        benchmark::DoNotOptimize(counter);
    }
    set_ops(st, static_cast<double>(calls));
}

/// The same calls through std::mutex + std::condition_variable + std::deque<std::function<void()>> to
/// one worker thread.
class worker_thread {
  public:
    worker_thread() : thread_([this] { run(); }) {}
    worker_thread(const worker_thread&) = delete;
    worker_thread& operator=(const worker_thread&) = delete;
    ~worker_thread() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        ready_.notify_one();
        thread_.join();
    }
    void call_soon(std::function<void()> fn) {
        {
            std::lock_guard lock(mutex_);
            calls_.push_back(std::move(fn));
        }
        ready_.notify_one();
    }

  private:
    void run() {
        for (;;) {
            std::function<void()> fn;
            {
                std::unique_lock lock(mutex_);
                ready_.wait(lock, [this] { return stopping_ || !calls_.empty(); });
                if (calls_.empty())
                    return;
                fn = std::move(calls_.front());
                calls_.pop_front();
            }
            fn();
        }
    }

    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::function<void()>> calls_;
    bool stopping_ = false;
    std::thread thread_;
};

void bm_call_soon_baseline(benchmark::State& st) {
    const std::size_t batch = the_settings.batch;
    std::uint64_t calls = 0;
    {
        std::atomic<bool> done{false};
        std::uint64_t counter = 0; // worker thread only
        worker_thread worker;
        for (auto _ : st) {
            done.store(false, std::memory_order_relaxed);
            for (std::size_t i = 1; i < batch; ++i)
                worker.call_soon([&counter] { ++counter; });
            worker.call_soon([&counter, &done] {
                ++counter;
                done.store(true, std::memory_order_release);
                done.notify_one();
            });
            done.wait(false, std::memory_order_acquire);
            calls += batch;
        }
        benchmark::DoNotOptimize(counter);
    }
    set_ops(st, static_cast<double>(calls));
}

// ---- timers ----------------------------------------------------------------------------------------

task<void> sleep_body(benchmark::State& st, io_loop& loop, std::chrono::nanoseconds d) {
    for (auto _ : st)
        co_await loop.sleep_for(d);
}

/// One coroutine sleeping `range(0)` ns at a time: 0 completes without suspending; 1000 goes through
/// the timer heap and a timed wait in the kernel.
void bm_sleep_for(benchmark::State& st) {
    {
        io_loop loop;
        loop.run_until_complete(sleep_body(st, loop, std::chrono::nanoseconds(st.range(0))));
    }
    set_ops(st, static_cast<double>(st.iterations()));
}

void bm_sleep_for_baseline(benchmark::State& st) {
    for (auto _ : st)
        std::this_thread::sleep_for(std::chrono::nanoseconds(st.range(0)));
    set_ops(st, static_cast<double>(st.iterations()));
}

task<void> sleeper(io_loop& loop, std::chrono::nanoseconds d, countdown& done) {
    co_await loop.sleep_for(d);
    done.arrive();
}

task<void> many_timers_body(benchmark::State& st, io_loop& loop, std::size_t n) {
    countdown done(loop);
    for (auto _ : st) {
        done.reset(n);
        // Deadlines spread over 0..50 us, so the heap holds n timers that fire in a different order.
        for (std::size_t i = 0; i < n; ++i)
            loop.spawn(sleeper(loop, std::chrono::nanoseconds((i * 7919) % 50000), done));
        co_await done.wait();
    }
}

/// `range(0)` coroutines each sleeping once for 0..50 us, per iteration: timers set and fired per second
/// (including spawning the coroutines).
void bm_many_timers(benchmark::State& st) {
    const auto n = static_cast<std::size_t>(st.range(0));
    {
        io_loop loop;
        loop.run_until_complete(many_timers_body(st, loop, n));
        loop.drain();
    }
    set_ops(st, static_cast<double>(st.iterations()) * static_cast<double>(n));
}

// ---- file writes -----------------------------------------------------------------------------------

/// A scratch file, removed at the end. Writes wrap around within `region` bytes so the file stays small.
class scratch_file {
  public:
    static constexpr std::uint64_t region = 32ull << 20;

    /// Creates the file and fills the region once, so every timed write overwrites cached pages
    /// instead of allocating blocks (the same conditions for write_all and pwrite).
    scratch_file() {
        std::string pattern = the_settings.dir + "/sluice-bench-XXXXXX";
        path_.assign(pattern.begin(), pattern.end());
        path_.push_back('\0');
        fd_ = ::mkstemp(path_.data());
        if (fd_ < 0)
            return;
        std::vector<char> zeros(1 << 20);
        for (std::uint64_t off = 0; off < region; off += zeros.size()) {
            if (::pwrite(fd_, zeros.data(), zeros.size(), static_cast<off_t>(off)) !=
                static_cast<ssize_t>(zeros.size())) {
                ::close(fd_);
                ::unlink(path_.data());
                fd_ = -1;
                return;
            }
        }
    }
    scratch_file(const scratch_file&) = delete;
    scratch_file& operator=(const scratch_file&) = delete;
    ~scratch_file() {
        if (fd_ >= 0) {
            ::close(fd_);
            ::unlink(path_.data());
        }
    }
    [[nodiscard]] int fd() const noexcept { return fd_; }

  private:
    std::vector<char> path_;
    int fd_ = -1;
};

std::vector<std::byte> make_block(std::size_t size) {
    std::vector<std::byte> b(size);
    for (std::size_t i = 0; i < size; ++i)
        b[i] = static_cast<std::byte>(i * 131 + 7);
    return b;
}

task<void> file_writer(io_loop& loop, int fd, std::span<const std::byte> block, std::uint64_t first,
                       std::uint64_t step, std::size_t count, countdown& done) {
    std::uint64_t offset = first;
    for (std::size_t i = 0; i < count; ++i) {
        co_await loop.write_all(fd, block, offset % scratch_file::region);
        offset += step;
    }
    done.arrive();
}

/// Blocks written per iteration: file_bytes worth, and at least one per writer.
std::size_t blocks_per_iteration(std::size_t size, std::size_t depth) {
    return std::max(the_settings.file_bytes / size, depth);
}

task<void> write_body(benchmark::State& st, io_loop& loop, int fd, std::span<const std::byte> block,
                      std::size_t depth) {
    countdown done(loop);
    std::uint64_t base = 0;
    const std::size_t blocks = blocks_per_iteration(block.size(), depth);
    for (auto _ : st) {
        done.reset(depth);
        // `depth` writers, writer k taking blocks k, k + depth, ..., so `depth` writes are in flight.
        for (std::size_t k = 0; k < depth; ++k)
            loop.spawn(file_writer(loop, fd, block, base + k * block.size(), depth * block.size(),
                                   (blocks - k + depth - 1) / depth, done));
        co_await done.wait();
        base += blocks * block.size();
    }
}

/// loop.write_all of range(0)-byte blocks with range(1) writes in flight.
void bm_write_all(benchmark::State& st) {
    const auto size = static_cast<std::size_t>(st.range(0));
    const auto depth = static_cast<std::size_t>(st.range(1));
    scratch_file file;
    if (file.fd() < 0) {
        st.SkipWithError("cannot create a scratch file (set SLUICE_BENCH_DIR)");
        return;
    }
    auto block = make_block(size);
    {
        io_loop loop;
        loop.run_until_complete(write_body(st, loop, file.fd(), block, depth));
        loop.drain();
    }
    const auto bytes = static_cast<std::int64_t>(st.iterations()) *
                       static_cast<std::int64_t>(blocks_per_iteration(size, depth) * size);
    st.SetBytesProcessed(bytes);
    set_ops(st, static_cast<double>(bytes / static_cast<std::int64_t>(size)));
}

/// The same blocks with pwrite(2) on this thread.
void bm_pwrite(benchmark::State& st) {
    const auto size = static_cast<std::size_t>(st.range(0));
    scratch_file file;
    if (file.fd() < 0) {
        st.SkipWithError("cannot create a scratch file (set SLUICE_BENCH_DIR)");
        return;
    }
    auto block = make_block(size);
    std::uint64_t offset = 0;
    const std::size_t blocks = blocks_per_iteration(size, 1);
    for (auto _ : st) {
        for (std::size_t i = 0; i < blocks; ++i) {
            std::size_t done = 0;
            while (done < size) {
                auto n = ::pwrite(file.fd(), block.data() + done, size - done,
                                  static_cast<off_t>((offset + done) % scratch_file::region));
                if (n <= 0) {
                    st.SkipWithError("pwrite failed");
                    return;
                }
                done += static_cast<std::size_t>(n);
            }
            offset += size;
        }
    }
    const auto bytes = static_cast<std::int64_t>(st.iterations()) * static_cast<std::int64_t>(blocks * size);
    st.SetBytesProcessed(bytes);
    set_ops(st, static_cast<double>(bytes / static_cast<std::int64_t>(size)));
}

// ---- registration, results, table ------------------------------------------------------------------

struct comparison {
    std::string label;
    std::string sluice;   ///< benchmark name
    std::string baseline; ///< benchmark name, or empty
    bool bytes = false;   ///< show bytes/s rather than ops/s
};
std::vector<comparison> comparisons;
std::map<std::string, std::string> baseline_of; // sluice benchmark -> its baseline

benchmark::internal::Benchmark* timed(benchmark::internal::Benchmark* b) {
    b->UseRealTime();
    if (the_settings.min_time > 0)
        b->MinTime(the_settings.min_time);
    return b;
}

void compare(std::string label, std::string sluice, std::string baseline, bool bytes = false) {
    if (!baseline.empty())
        baseline_of[sluice] = baseline;
    comparisons.push_back({std::move(label), std::move(sluice), std::move(baseline), bytes});
}

void register_all() {
    timed(benchmark::RegisterBenchmark("core/task_await", bm_task_await))->Unit(benchmark::kNanosecond);
    compare("co_await a trivial task", "core/task_await", "");

    for (int n : {1, 64}) {
        timed(benchmark::RegisterBenchmark("loop/schedule_round_trip", bm_schedule_round_trip)
                  ->Arg(n)
                  ->ArgName("coroutines"))
            ->Unit(benchmark::kNanosecond);
        compare("post + resume on the loop thread, " + std::to_string(n) + " coroutine(s) (resumes/s)",
                "loop/schedule_round_trip/coroutines:" + std::to_string(n), "");
    }

    timed(benchmark::RegisterBenchmark("loop/call_soon_cross_thread/baseline", bm_call_soon_baseline))
        ->Unit(benchmark::kMicrosecond);
    timed(benchmark::RegisterBenchmark("loop/call_soon_cross_thread/sluice", bm_call_soon))
        ->Unit(benchmark::kMicrosecond);
    compare("call_soon from another thread (calls/s)", "loop/call_soon_cross_thread/sluice",
            "loop/call_soon_cross_thread/baseline");

    timed(benchmark::RegisterBenchmark("timer/sleep_for/sluice", bm_sleep_for)->Arg(0)->ArgName("ns"))
        ->Unit(benchmark::kNanosecond);
    compare("sleep_for(0)", "timer/sleep_for/sluice/ns:0", "");
    timed(benchmark::RegisterBenchmark("timer/sleep_for/baseline", bm_sleep_for_baseline)
              ->Arg(1000)
              ->ArgName("ns"))
        ->Unit(benchmark::kMicrosecond);
    timed(benchmark::RegisterBenchmark("timer/sleep_for/sluice", bm_sleep_for)->Arg(1000)->ArgName("ns"))
        ->Unit(benchmark::kMicrosecond);
    compare("sleep_for(1us), one at a time (baseline: std::this_thread::sleep_for)",
            "timer/sleep_for/sluice/ns:1000", "timer/sleep_for/baseline/ns:1000");
    timed(benchmark::RegisterBenchmark("timer/many_timers", bm_many_timers)->Arg(1000)->ArgName("timers"))
        ->Unit(benchmark::kMicrosecond);
    compare("1000 concurrent timers of 0..50us (timers/s)", "timer/many_timers/timers:1000", "");

    for (std::int64_t size : {4096, 65536}) {
        const std::string kib = std::to_string(size / 1024) + "KiB";
        const std::string bytes = "bytes:" + std::to_string(size);
        timed(benchmark::RegisterBenchmark("file/pwrite/baseline", bm_pwrite)->Arg(size)->ArgName("bytes"))
            ->Unit(benchmark::kMicrosecond);
        for (std::int64_t depth : {1, 8}) {
            timed(benchmark::RegisterBenchmark("file/write_all/sluice", bm_write_all)
                      ->Args({size, depth})
                      ->ArgNames({"bytes", "in_flight"}))
                ->Unit(benchmark::kMicrosecond);
            compare("write_all " + kib + " blocks, " + std::to_string(depth) +
                        " in flight (baseline: pwrite)",
                    "file/write_all/sluice/" + bytes + "/in_flight:" + std::to_string(depth),
                    "file/pwrite/baseline/" + bytes, true);
        }
    }
}

struct figures {
    double ops_per_s = 0;
    double bytes_per_s = 0;
};
std::map<std::string, figures> recorded;

double counter(const benchmark::BenchmarkReporter::Run& run, const char* name) {
    auto it = run.counters.find(name);
    return it == run.counters.end() ? 0.0 : static_cast<double>(it->second.value);
}

/// Forwards to the reporter chosen by --benchmark_format (or the JSON file reporter), after recording
/// each run (the median, with --benchmark_repetitions) and adding `vs_baseline` (sluice ops/s over
/// baseline ops/s) where there is a baseline.
class tee_reporter : public benchmark::BenchmarkReporter {
  public:
    explicit tee_reporter(benchmark::BenchmarkReporter* inner) : inner_(inner) {}

    bool ReportContext(const Context& context) override {
        inner_->SetOutputStream(&GetOutputStream());
        inner_->SetErrorStream(&GetErrorStream());
        return inner_->ReportContext(context);
    }

    void ReportRuns(const std::vector<Run>& runs) override {
        std::vector<Run> out(runs);
        for (auto& run : out) {
            if (run.error_occurred)
                continue;
            if (run.run_type != Run::RT_Iteration && run.aggregate_name != "median")
                continue;
            // Registered names carry their arguments ("file/pwrite/baseline/4096"); the table uses those.
            std::string name = run.run_name.function_name;
            if (!run.run_name.args.empty())
                name += "/" + run.run_name.args;
            figures f{counter(run, "ops/s"), counter(run, "bytes_per_second")};
            recorded[name] = f;
            auto b = baseline_of.find(name);
            if (b == baseline_of.end())
                continue;
            auto it = recorded.find(b->second);
            if (it != recorded.end() && it->second.ops_per_s > 0 && f.ops_per_s > 0)
                run.counters["vs_baseline"] = benchmark::Counter(f.ops_per_s / it->second.ops_per_s);
        }
        inner_->ReportRuns(out);
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
        std::snprintf(buf, sizeof buf, "%.2fM%s", v / 1e6, unit);
    else if (v >= 1e3)
        std::snprintf(buf, sizeof buf, "%.1fk%s", v / 1e3, unit);
    else
        std::snprintf(buf, sizeof buf, "%.0f%s", v, unit);
    return buf;
}

void print_table(std::FILE* out) {
    if (recorded.empty())
        return;
    std::fprintf(out, "\nio_loop hot paths (%s run)\n\n%-70s %12s %12s %8s\n",
                 the_settings.quick ? "QUICK" : "full", "case (ops/s unless marked)", "sluice", "baseline",
                 "ratio");
    for (const auto& c : comparisons) {
        auto s = recorded.find(c.sluice);
        auto b = c.baseline.empty() ? recorded.end() : recorded.find(c.baseline);
        if (s == recorded.end() && b == recorded.end())
            continue;
        auto value = [&c](const figures& f) {
            return c.bytes ? si(f.bytes_per_s, "B/s") : si(f.ops_per_s, "");
        };
        std::string sv = s != recorded.end() ? value(s->second) : "-";
        std::string bv = b != recorded.end() ? value(b->second) : "-";
        std::string r = "-";
        if (s != recorded.end() && b != recorded.end() && b->second.ops_per_s > 0) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.2fx", s->second.ops_per_s / b->second.ops_per_s);
            r = buf;
        }
        std::fprintf(out, "%-70s %12s %12s %8s\n", c.label.c_str(), sv.c_str(), bv.c_str(), r.c_str());
    }
}

std::optional<std::string> flag_value(int argc, char** argv, std::string_view name) {
    std::string prefix = "--" + std::string(name) + "=";
    std::optional<std::string> v;
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0)
            v = std::string(argv[i] + prefix.size());
    return v;
}

} // namespace

int main(int argc, char** argv) {
    auto out_file = flag_value(argc, argv, "benchmark_out");
    auto out_format = flag_value(argc, argv, "benchmark_out_format");
    the_settings = make_settings(flag_value(argc, argv, "benchmark_min_time").has_value());
    register_all();

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    {
        io_loop probe;
        benchmark::AddCustomContext("sluice_io_backend", std::string(sluice::to_string(probe.backend())));
    }
    benchmark::AddCustomContext("sluice_bench_mode",
                                the_settings.quick ? "quick (SLUICE_BENCH_QUICK)" : "full");
    benchmark::AddCustomContext("sluice_bench_dir", the_settings.dir);

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
