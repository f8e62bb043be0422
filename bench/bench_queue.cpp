// Collector queue benchmarks: publish-to-collector throughput and per-event latency, every case side
// by side with a baseline doing the same work through std::mutex + std::condition_variable +
// std::deque, and the ratio. See bench/README.md for how to run it and what each figure means.
//
// Cases: discipline (fifo, lifo, priority) x collectors (1, 4, 16) x delivery (key, topic, broadcast)
// x mode (fire_and_forget: try_publish, awaited: send + co_await ev.wait()). Implementations:
//   sluice_1core   publisher coroutine and the consumer on one io_loop thread (bursts of try_publish,
//                  then co_await loop.schedule(); awaited keeps a window of outstanding events)
//   sluice_2thread publisher on the benchmark thread (try_publish/try_send, *_blocking when full),
//                  the io_loop with the consumer on a second thread
//   baseline       the same payloads, routed by the same route_table/default_router to the same sinks
//                  through std::function, handed over by mutex + condvar + deque (a heap for
//                  priority) to one consumer thread; awaited results come back through std::promise
//
// SLUICE_BENCH_QUICK=1 shrinks everything for a smoke run. SLUICE_BENCH_PROCESSOR=sync runs the
// collectors' processors synchronously (no coroutine frame per delivery, as the baseline calls its
// std::function); by default each is a coroutine.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/queue/collector_queue.hpp>

namespace {

using sluice::collector_queue;
using sluice::delivery;
using sluice::io_loop;
using sluice::payload;
using sluice::queue_discipline;
using sluice::task;
using steady = std::chrono::steady_clock;

// ---- settings -------------------------------------------------------------------------------------

struct settings {
    bool quick = false;
    double min_time = 0.1;                ///< seconds, per throughput benchmark
    std::size_t batch = 8192;             ///< events per benchmark iteration (all processed before it ends)
    std::size_t burst = 256;              ///< sluice_1core: events published before yielding to the consumer
    std::size_t window = 256;             ///< awaited: events outstanding at once
    std::int64_t samples_1core = 100000;  ///< latency round trips, sluice_1core
    std::int64_t samples_threads = 10000; ///< latency round trips, sluice_2thread and baseline
};

/// SLUICE_BENCH_QUICK=1 shrinks the run; SLUICE_BENCH_MIN_TIME=<seconds> sets the time per throughput
/// benchmark, and so does --benchmark_min_time (which then wins, as Google Benchmark users expect).
settings make_settings(bool min_time_flag) {
    settings s;
    const char* quick = std::getenv("SLUICE_BENCH_QUICK");
    if (quick != nullptr && *quick != '\0' && std::string_view(quick) != "0") {
        s.quick = true;
        s.min_time = 0.005;
        s.batch = 1024;
        s.samples_1core = 2000;
        s.samples_threads = 300;
    }
    if (const char* t = std::getenv("SLUICE_BENCH_MIN_TIME"); t != nullptr && std::atof(t) > 0)
        s.min_time = std::atof(t);
    if (min_time_flag)
        s.min_time = 0; // leave it to the flag
    return s;
}

// ---- the work -------------------------------------------------------------------------------------

struct event {
    std::uint64_t sequence = 0;
    std::uint64_t value = 0;
};
using result_t = std::uint64_t;

/// What a collector does with an event: the same for sluice and the baseline, and deliberately tiny
/// so the figures measure the hand-over, not the processing.
struct alignas(64) sink {
    std::uint64_t count = 0;
    std::uint64_t sum = 0;
    result_t process(const event& e) noexcept {
        ++count;
        sum += e.value;
        return sum;
    }
};

std::uint64_t delivered(const std::vector<sink>& sinks) {
    std::uint64_t n = 0;
    for (const auto& s : sinks)
        n += s.count;
    return n;
}

task<result_t> process_async(sink* s, const payload<event>& p) {
    co_return s->process(p.value);
}

std::string key_of(std::size_t i) {
    return "c" + std::to_string(i);
}
std::string topic_of(std::size_t i) {
    return "t" + std::to_string(i);
}

enum class mode { fire_and_forget, awaited };

struct case_spec {
    queue_discipline discipline = queue_discipline::fifo;
    std::size_t collectors = 1;
    delivery how = delivery::key;
    mode m = mode::fire_and_forget;

    [[nodiscard]] std::size_t deliveries_per_event() const {
        return how == delivery::broadcast ? collectors : 1;
    }
};

const char* name_of(queue_discipline d) {
    switch (d) {
    case queue_discipline::fifo:
        return "fifo";
    case queue_discipline::lifo:
        return "lifo";
    case queue_discipline::priority:
        return "priority";
    }
    return "?";
}
const char* name_of(delivery d) {
    switch (d) {
    case delivery::key:
        return "key";
    case delivery::topic:
        return "topic";
    case delivery::broadcast:
        return "broadcast";
    }
    return "?";
}
const char* name_of(mode m) {
    return m == mode::fire_and_forget ? "fire_and_forget" : "awaited";
}

/// "fifo/key/c1" (the latency cases) or "fifo/key/c1/awaited" (throughput).
std::string case_name(const case_spec& c, bool with_mode) {
    std::string s =
        std::string(name_of(c.discipline)) + "/" + name_of(c.how) + "/c" + std::to_string(c.collectors);
    if (with_mode)
        s += std::string("/") + name_of(c.m);
    return s;
}

/// Builds the payloads of a case. Collector i has key "c<i>" and subscribes to topic "t<i>"; key and
/// topic payloads go round-robin to one collector each, broadcast payloads to all of them. Priority
/// cases give every payload a pseudo-random priority in [0, 16).
class payload_source {
  public:
    explicit payload_source(const case_spec& c)
        : how_(c.how), prioritised_(c.discipline == queue_discipline::priority) {
        for (std::size_t i = 0; i < c.collectors; ++i) {
            keys_.push_back(key_of(i));
            topics_.push_back(topic_of(i));
        }
    }

    payload<event> make(std::uint64_t i) {
        event e{i, i * 7 + 1};
        std::optional<int> priority;
        if (prioritised_)
            priority = static_cast<int>((i * 0x9E3779B97F4A7C15ull) >> 60);
        std::size_t target = next_;
        if (++next_ == keys_.size())
            next_ = 0;
        switch (how_) {
        case delivery::key:
            return payload<event>::to_keys(e, sluice::string_list(keys_[target]), priority);
        case delivery::topic:
            return payload<event>::to_topics(e, sluice::string_list(topics_[target]), priority);
        case delivery::broadcast:
            break;
        }
        return payload<event>::broadcast(e, priority);
    }

  private:
    delivery how_;
    bool prioritised_;
    std::vector<std::string> keys_;
    std::vector<std::string> topics_;
    std::size_t next_ = 0;
};

/// CPU time of the whole process (all its threads) over the timed loop: events per CPU-second compares
/// how much work each implementation burns, whatever the number of threads it keeps busy.
class process_cpu {
  public:
    void start() noexcept { t0_ = now(); }
    void stop() noexcept { total_ += now() - t0_; }
    [[nodiscard]] double seconds() const noexcept { return total_; }

  private:
    static double now() noexcept {
        timespec ts{};
        ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    }
    double t0_ = 0;
    double total_ = 0;
};

void set_rates(benchmark::State& st, const case_spec& c, std::uint64_t events, const process_cpu& cpu) {
    st.counters["events/s"] = benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
    st.counters["deliveries/s"] = benchmark::Counter(static_cast<double>(events * c.deliveries_per_event()),
                                                     benchmark::Counter::kIsRate);
    if (cpu.seconds() > 0)
        st.counters["events/cpu_s"] = benchmark::Counter(static_cast<double>(events) / cpu.seconds());
}

void verify(benchmark::State& st, const case_spec& c, std::uint64_t events, const std::vector<sink>& sinks) {
    if (st.error_occurred())
        return;
    if (delivered(sinks) != events * c.deliveries_per_event())
        st.SkipWithError("wrong number of deliveries");
}

void set_latency(benchmark::State& st, std::vector<std::int64_t>& samples) {
    if (samples.empty())
        return;
    auto at = [&samples](double q) {
        auto k = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1));
        std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(k), samples.end());
        return static_cast<double>(samples[k]);
    };
    st.counters["p50_ns"] = benchmark::Counter(at(0.50));
    st.counters["p99_ns"] = benchmark::Counter(at(0.99));
}

template <class List> bool check_results(const List& results, std::size_t expected, std::uint64_t& acc) {
    if (results.size() != expected)
        return false;
    for (const auto& r : results) {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(r)>, result_t>) {
            acc += r;
        } else {
            if (!r.is_ok())
                return false;
            acc += r.value();
        }
    }
    return true;
}

std::int64_t nanos_since(steady::time_point t0) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now() - t0).count();
}

// ---- sluice -----------------------------------------------------------------------------------------

template <queue_discipline D> using queue_type = collector_queue<event, result_t, D>;

/// SLUICE_BENCH_PROCESSOR=sync gives the collectors synchronous processors (no coroutine frame per
/// delivery, like the baseline's std::function call); the default is a coroutine processor.
bool sync_processors() {
    const char* v = std::getenv("SLUICE_BENCH_PROCESSOR");
    return v != nullptr && std::string_view(v) == "sync";
}

std::vector<sluice::collector<event, result_t>> make_collectors(std::vector<sink>& sinks) {
    std::vector<sluice::collector<event, result_t>> out;
    const bool sync = sync_processors();
    for (std::size_t i = 0; i < sinks.size(); ++i) {
        sluice::collector<event, result_t> c;
        c.key = key_of(i);
        c.topics = {topic_of(i)};
        sink* s = &sinks[i];
        if (sync)
            c.processor = [s](const payload<event>& p, sluice::collector_context&) { return s->process(p.value); };
        else
            c.processor = [s](const payload<event>& p, sluice::collector_context&) { return process_async(s, p); };
        out.push_back(std::move(c));
    }
    return out;
}

/// One consumer, like the baseline's one consumer thread; unbounded, like its deque.
sluice::queue_options bench_queue_options() {
    sluice::queue_options o;
    o.min_consumers = 1;
    o.max_consumers = 1;
    o.capacity = 0;
    return o;
}

/// A ring of outstanding results (collector_event or std::future), oldest first.
template <class E> class window_ring {
  public:
    explicit window_ring(std::size_t n) : slots_(n) {}
    [[nodiscard]] bool full() const noexcept { return count_ == slots_.size(); }
    [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
    E& front() noexcept { return slots_[head_]; }
    void pop() noexcept {
        slots_[head_] = E{};
        head_ = head_ + 1 == slots_.size() ? 0 : head_ + 1;
        --count_;
    }
    void push(E&& e) noexcept {
        std::size_t tail = head_ + count_;
        if (tail >= slots_.size())
            tail -= slots_.size();
        slots_[tail] = std::move(e);
        ++count_;
    }

  private:
    std::vector<E> slots_;
    std::size_t head_ = 0;
    std::size_t count_ = 0;
};

// sluice_1core: everything on one io_loop thread.

template <queue_discipline D>
task<void> inline_throughput(benchmark::State& st, const case_spec& c, const settings& cfg, io_loop& loop,
                             queue_type<D>& q, std::uint64_t& events, process_cpu& cpu) {
    co_await q.start();
    auto pub = q.get_publisher();
    payload_source src(c);
    std::uint64_t i = 0;
    std::uint64_t acc = 0;
    const std::size_t expected = c.deliveries_per_event();
    const char* failure = nullptr;
    window_ring<typename queue_type<D>::event_type> window(cfg.window);
    cpu.start();
    for (auto _ : st) {
        if (c.m == mode::fire_and_forget) {
            for (std::size_t b = 1; b <= cfg.batch; ++b) {
                if (!pub.try_publish(src.make(i++)))
                    failure = "try_publish refused";
                if (b % cfg.burst == 0)
                    co_await loop.schedule(); // let the consumer take the burst
            }
            events += cfg.batch;
            while (q.stats().processed < events)
                co_await loop.schedule();
        } else {
            for (std::size_t b = 0; b < cfg.batch; ++b) {
                if (window.full()) {
                    if (!check_results(co_await window.front().wait(), expected, acc))
                        failure = "bad results";
                    window.pop();
                }
                window.push(co_await pub.send(src.make(i++)));
            }
            while (!window.empty()) {
                if (!check_results(co_await window.front().wait(), expected, acc))
                    failure = "bad results";
                window.pop();
            }
            events += cfg.batch;
        }
        if (failure != nullptr) {
            st.SkipWithError(failure);
            break;
        }
    }
    cpu.stop();
    benchmark::DoNotOptimize(acc);
    co_await q.stop();
}

template <queue_discipline D> void bm_sluice_1core(benchmark::State& st, case_spec c, const settings& cfg) {
    std::vector<sink> sinks(c.collectors);
    std::uint64_t events = 0;
    process_cpu cpu;
    {
        io_loop loop;
        queue_type<D> q(loop, make_collectors(sinks), bench_queue_options());
        loop.run_until_complete(inline_throughput<D>(st, c, cfg, loop, q, events, cpu));
    }
    set_rates(st, c, events, cpu);
    verify(st, c, events, sinks);
}

template <queue_discipline D>
task<void> inline_latency(benchmark::State& st, const case_spec& c, queue_type<D>& q,
                          std::vector<std::int64_t>& samples) {
    co_await q.start();
    auto pub = q.get_publisher();
    payload_source src(c);
    std::uint64_t i = 0;
    std::uint64_t acc = 0;
    for (auto _ : st) {
        auto p = src.make(i++);
        auto t0 = steady::now();
        auto ev = co_await pub.send(std::move(p));
        const auto& results = co_await ev.wait();
        samples.push_back(nanos_since(t0));
        if (!check_results(results, c.deliveries_per_event(), acc)) {
            st.SkipWithError("bad results");
            break;
        }
    }
    benchmark::DoNotOptimize(acc);
    co_await q.stop();
}

template <queue_discipline D>
void bm_sluice_1core_latency(benchmark::State& st, case_spec c, const settings&) {
    std::vector<sink> sinks(c.collectors);
    std::vector<std::int64_t> samples;
    samples.reserve(static_cast<std::size_t>(st.max_iterations));
    {
        io_loop loop;
        queue_type<D> q(loop, make_collectors(sinks), bench_queue_options());
        loop.run_until_complete(inline_latency<D>(st, c, q, samples));
    }
    set_latency(st, samples);
    verify(st, c, static_cast<std::uint64_t>(samples.size()), sinks);
}

// sluice_2thread: the loop (and the consumer) on its own thread, the publisher on this one.

template <class Queue> class loop_thread {
  public:
    loop_thread(io_loop& loop, Queue& q) : loop_(loop), queue_(q) {
        auto running = running_.get_future();
        thread_ = std::thread([this] {
            loop_.run_until_complete(queue_.start());
            // Runs inside run(), so a stop() from the other thread can no longer be lost.
            loop_.call_soon([this] { running_.set_value(); });
            loop_.run();
            (void)loop_.run_until_complete(queue_.stop());
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
    Queue& queue_;
    std::promise<void> running_;
    std::thread thread_;
};

template <queue_discipline D> void bm_sluice_2thread(benchmark::State& st, case_spec c, const settings& cfg) {
    std::vector<sink> sinks(c.collectors);
    std::uint64_t events = 0;
    process_cpu cpu;
    {
        io_loop loop;
        queue_type<D> q(loop, make_collectors(sinks), bench_queue_options());
        loop_thread<queue_type<D>> runner(loop, q);
        auto pub = q.get_publisher();
        payload_source src(c);
        std::uint64_t i = 0;
        std::uint64_t acc = 0;
        const std::size_t expected = c.deliveries_per_event();
        const char* failure = nullptr;
        window_ring<typename queue_type<D>::event_type> window(cfg.window);
        cpu.start();
        for (auto _ : st) {
            if (c.m == mode::fire_and_forget) {
                for (std::size_t b = 0; b < cfg.batch; ++b) {
                    auto p = src.make(i++);
                    if (!pub.try_publish(std::move(p)) && !pub.publish_blocking(std::move(p)))
                        failure = "publish refused";
                }
                events += cfg.batch;
                // The queue has no blocking "wait until processed": poll, sleeping between polls so
                // this thread does not take a core from the loop (the baseline sleeps on a condvar).
                while (q.stats().processed < events)
                    std::this_thread::sleep_for(std::chrono::microseconds(20));
            } else {
                for (std::size_t b = 0; b < cfg.batch; ++b) {
                    if (window.full()) {
                        if (!check_results(window.front().wait_blocking(), expected, acc))
                            failure = "bad results";
                        window.pop();
                    }
                    auto p = src.make(i++);
                    auto ev = pub.try_send(std::move(p));
                    window.push(ev ? std::move(*ev) : pub.send_blocking(std::move(p)));
                }
                while (!window.empty()) {
                    if (!check_results(window.front().wait_blocking(), expected, acc))
                        failure = "bad results";
                    window.pop();
                }
                events += cfg.batch;
            }
            if (failure != nullptr) {
                st.SkipWithError(failure);
                break;
            }
        }
        cpu.stop();
        benchmark::DoNotOptimize(acc);
    }
    set_rates(st, c, events, cpu);
    verify(st, c, events, sinks);
}

template <queue_discipline D>
void bm_sluice_2thread_latency(benchmark::State& st, case_spec c, const settings&) {
    std::vector<sink> sinks(c.collectors);
    std::vector<std::int64_t> samples;
    samples.reserve(static_cast<std::size_t>(st.max_iterations));
    {
        io_loop loop;
        queue_type<D> q(loop, make_collectors(sinks), bench_queue_options());
        loop_thread<queue_type<D>> runner(loop, q);
        auto pub = q.get_publisher();
        payload_source src(c);
        std::uint64_t i = 0;
        std::uint64_t acc = 0;
        for (auto _ : st) {
            auto p = src.make(i++);
            auto t0 = steady::now();
            auto ev = pub.try_send(std::move(p));
            if (!ev) {
                st.SkipWithError("try_send refused");
                break;
            }
            const auto& results = ev->wait_blocking();
            samples.push_back(nanos_since(t0));
            if (!check_results(results, c.deliveries_per_event(), acc)) {
                st.SkipWithError("bad results");
                break;
            }
        }
        benchmark::DoNotOptimize(acc);
    }
    set_latency(st, samples);
    verify(st, c, static_cast<std::uint64_t>(samples.size()), sinks);
}

// ---- baseline: std::mutex + std::condition_variable + std::deque ------------------------------------

using plain_results = std::vector<result_t>;

/// What the baseline's consumer thread (and the direct reference) does with one payload: route it with
/// sluice's route_table and default_router, as the queue does, and call each target's processor
/// through std::function, as a hand-written dispatcher would.
class plain_dispatch {
  public:
    explicit plain_dispatch(std::vector<sink>& sinks) {
        std::vector<std::string> keys;
        std::vector<std::vector<std::string>> topics;
        for (std::size_t i = 0; i < sinks.size(); ++i) {
            keys.push_back(key_of(i));
            topics.push_back({topic_of(i)});
            sink* s = &sinks[i];
            processors_.emplace_back([s](const payload<event>& p) { return s->process(p.value); });
        }
        table_ = sluice::route_table(keys, topics);
    }

    void deliver(const payload<event>& p) {
        route(p);
        for (auto index : targets_.indices())
            processors_[index](p);
    }

    plain_results deliver_with_results(const payload<event>& p) {
        route(p);
        plain_results out;
        out.reserve(targets_.size());
        for (auto index : targets_.indices())
            out.push_back(processors_[index](p));
        return out;
    }

  private:
    void route(const payload<event>& p) {
        targets_.clear();
        router_.route(p, table_, targets_);
    }

    std::vector<std::function<result_t(const payload<event>&)>> processors_;
    sluice::route_table table_;
    sluice::default_router router_;
    sluice::route_targets targets_;
};

/// The direct reference: the same payloads and dispatch on the calling thread, with no hand-over at
/// all. What is left of a queue's figure after subtracting this is the cost of handing over.
void bm_direct(benchmark::State& st, case_spec c, const settings& cfg) {
    std::vector<sink> sinks(c.collectors);
    std::uint64_t events = 0;
    process_cpu cpu;
    {
        plain_dispatch dispatch(sinks);
        payload_source src(c);
        std::uint64_t i = 0;
        std::uint64_t acc = 0;
        const char* failure = nullptr;
        cpu.start();
        for (auto _ : st) {
            for (std::size_t b = 0; b < cfg.batch; ++b) {
                if (c.m == mode::fire_and_forget) {
                    dispatch.deliver(src.make(i++));
                } else if (!check_results(dispatch.deliver_with_results(src.make(i++)),
                                          c.deliveries_per_event(), acc)) {
                    failure = "bad results";
                }
            }
            events += cfg.batch;
            if (failure != nullptr) {
                st.SkipWithError(failure);
                break;
            }
        }
        cpu.stop();
        benchmark::DoNotOptimize(acc);
    }
    set_rates(st, c, events, cpu);
    verify(st, c, events, sinks);
}

template <queue_discipline D> class baseline_queue {
  public:
    using results = plain_results;

    explicit baseline_queue(std::vector<sink>& sinks) : dispatch_(sinks) {
        consumer_ = std::thread([this] { consume(); });
    }
    baseline_queue(const baseline_queue&) = delete;
    baseline_queue& operator=(const baseline_queue&) = delete;
    ~baseline_queue() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        ready_.notify_one();
        consumer_.join();
    }

    void publish(payload<event>&& p) {
        int priority = p.priority.value_or(0);
        enqueue(item{std::move(p), std::nullopt, priority, 0});
    }

    std::future<results> send(payload<event>&& p) {
        int priority = p.priority.value_or(0);
        std::promise<results> promise;
        auto future = promise.get_future();
        enqueue(item{std::move(p), std::move(promise), priority, 0});
        return future;
    }

    /// Blocks until `target` payloads were processed in all.
    void wait_processed(std::uint64_t target) {
        target_.store(target);
        std::unique_lock lock(mutex_);
        done_.wait(lock, [&] { return processed_.load() >= target; });
    }

  private:
    struct item {
        payload<event> value;
        std::optional<std::promise<results>> promise;
        int priority = 0;
        std::uint64_t sequence = 0;
    };

    static bool later(const item& a, const item& b) noexcept {
        return a.priority != b.priority ? a.priority > b.priority : a.sequence > b.sequence;
    }

    void enqueue(item&& it) {
        {
            std::lock_guard lock(mutex_);
            it.sequence = next_sequence_++;
            items_.push_back(std::move(it));
            if constexpr (D == queue_discipline::priority)
                std::push_heap(items_.begin(), items_.end(), later);
        }
        ready_.notify_one();
    }

    item pop_locked() {
        if constexpr (D == queue_discipline::fifo) {
            item it = std::move(items_.front());
            items_.pop_front();
            return it;
        } else {
            if constexpr (D == queue_discipline::priority)
                std::pop_heap(items_.begin(), items_.end(), later);
            item it = std::move(items_.back());
            items_.pop_back();
            return it;
        }
    }

    void consume() {
        for (;;) {
            std::optional<item> it;
            {
                std::unique_lock lock(mutex_);
                ready_.wait(lock, [this] { return stopping_ || !items_.empty(); });
                if (items_.empty())
                    return;
                it.emplace(pop_locked());
            }
            if (it->promise)
                it->promise->set_value(dispatch_.deliver_with_results(it->value));
            else
                dispatch_.deliver(it->value);
            if (processed_.fetch_add(1) + 1 == target_.load()) {
                std::lock_guard lock(mutex_);
                done_.notify_all();
            }
        }
    }

    plain_dispatch dispatch_; // consumer thread only
    std::mutex mutex_;
    std::condition_variable ready_;
    std::condition_variable done_;
    std::conditional_t<D == queue_discipline::priority, std::vector<item>, std::deque<item>> items_;
    std::uint64_t next_sequence_ = 0;
    bool stopping_ = false;
    std::atomic<std::uint64_t> processed_{0};
    std::atomic<std::uint64_t> target_{0};
    std::thread consumer_;
};

template <queue_discipline D> void bm_baseline(benchmark::State& st, case_spec c, const settings& cfg) {
    std::vector<sink> sinks(c.collectors);
    std::uint64_t events = 0;
    process_cpu cpu;
    {
        baseline_queue<D> q(sinks);
        payload_source src(c);
        std::uint64_t i = 0;
        std::uint64_t acc = 0;
        const std::size_t expected = c.deliveries_per_event();
        const char* failure = nullptr;
        window_ring<std::future<typename baseline_queue<D>::results>> window(cfg.window);
        cpu.start();
        for (auto _ : st) {
            if (c.m == mode::fire_and_forget) {
                for (std::size_t b = 0; b < cfg.batch; ++b)
                    q.publish(src.make(i++));
                events += cfg.batch;
                q.wait_processed(events);
            } else {
                for (std::size_t b = 0; b < cfg.batch; ++b) {
                    if (window.full()) {
                        if (!check_results(window.front().get(), expected, acc))
                            failure = "bad results";
                        window.pop();
                    }
                    window.push(q.send(src.make(i++)));
                }
                while (!window.empty()) {
                    if (!check_results(window.front().get(), expected, acc))
                        failure = "bad results";
                    window.pop();
                }
                events += cfg.batch;
            }
            if (failure != nullptr) {
                st.SkipWithError(failure);
                break;
            }
        }
        cpu.stop();
        benchmark::DoNotOptimize(acc);
    }
    set_rates(st, c, events, cpu);
    verify(st, c, events, sinks);
}

template <queue_discipline D> void bm_baseline_latency(benchmark::State& st, case_spec c, const settings&) {
    std::vector<sink> sinks(c.collectors);
    std::vector<std::int64_t> samples;
    samples.reserve(static_cast<std::size_t>(st.max_iterations));
    {
        baseline_queue<D> q(sinks);
        payload_source src(c);
        std::uint64_t i = 0;
        std::uint64_t acc = 0;
        for (auto _ : st) {
            auto p = src.make(i++);
            auto t0 = steady::now();
            auto results = q.send(std::move(p)).get();
            samples.push_back(nanos_since(t0));
            if (!check_results(results, c.deliveries_per_event(), acc)) {
                st.SkipWithError("bad results");
                break;
            }
        }
        benchmark::DoNotOptimize(acc);
    }
    set_latency(st, samples);
    verify(st, c, static_cast<std::uint64_t>(samples.size()), sinks);
}

// ---- registration ---------------------------------------------------------------------------------

template <template <queue_discipline> class F> struct dispatch {
    template <class... A> static void run(queue_discipline d, A&&... a) {
        switch (d) {
        case queue_discipline::fifo:
            F<queue_discipline::fifo>::run(std::forward<A>(a)...);
            break;
        case queue_discipline::lifo:
            F<queue_discipline::lifo>::run(std::forward<A>(a)...);
            break;
        case queue_discipline::priority:
            F<queue_discipline::priority>::run(std::forward<A>(a)...);
            break;
        }
    }
};

// Implementation names, the last component of every benchmark name.
constexpr const char* impl_1core = "sluice_1core";
constexpr const char* impl_2thread = "sluice_2thread";
constexpr const char* impl_baseline = "baseline";
constexpr const char* impl_direct = "direct";

using bench_fn = void (*)(benchmark::State&, case_spec, const settings&);

template <queue_discipline D> struct functions {
    static void run(bench_fn* out) {
        out[0] = &bm_baseline<D>;
        out[1] = &bm_sluice_1core<D>;
        out[2] = &bm_sluice_2thread<D>;
        out[3] = &bm_baseline_latency<D>;
        out[4] = &bm_sluice_1core_latency<D>;
        out[5] = &bm_sluice_2thread_latency<D>;
    }
};

struct registered_case {
    case_spec spec;
    std::string name; ///< without the implementation
    bool two_thread = false;
};
std::vector<registered_case> throughput_cases;
std::vector<registered_case> latency_cases;

settings the_settings; // the registered benchmarks read it

void register_all(const settings& cfg) {
    the_settings = cfg;
    const queue_discipline disciplines[] = {queue_discipline::fifo, queue_discipline::lifo,
                                            queue_discipline::priority};
    const std::size_t counts[] = {1, 4, 16};
    const delivery hows[] = {delivery::key, delivery::topic, delivery::broadcast};
    const mode modes[] = {mode::fire_and_forget, mode::awaited};

    const settings& s = the_settings;
    auto add = [](const std::string& name, bench_fn fn, const case_spec& c) {
        return benchmark::RegisterBenchmark(name.c_str(),
                                            [fn, c](benchmark::State& st) { fn(st, c, the_settings); });
    };

    // Throughput: every case; the two-thread variant for fifo, and for key delivery to one collector.
    for (auto d : disciplines) {
        bench_fn fns[6] = {};
        dispatch<functions>::run(d, fns);
        for (auto n : counts)
            for (auto how : hows)
                for (auto m : modes) {
                    case_spec c{d, n, how, m};
                    registered_case r{c, "queue/" + case_name(c, true),
                                      d == queue_discipline::fifo || (n == 1 && how == delivery::key)};
                    for (int k = 0; k < 3; ++k) {
                        if (k == 2 && !r.two_thread)
                            continue;
                        const char* impl = k == 0 ? impl_baseline : k == 1 ? impl_1core : impl_2thread;
                        auto* b =
                            add(r.name + "/" + impl, fns[k], c)->UseRealTime()->Unit(benchmark::kMicrosecond);
                        if (s.min_time > 0)
                            b->MinTime(s.min_time);
                    }
                    // The direct reference does not depend on the discipline: fifo only.
                    if (d == queue_discipline::fifo) {
                        auto* b = add(r.name + "/" + impl_direct, &bm_direct, c)
                                      ->UseRealTime()
                                      ->Unit(benchmark::kMicrosecond);
                        if (s.min_time > 0)
                            b->MinTime(s.min_time);
                    }
                    throughput_cases.push_back(r);
                }
    }

    // Latency, one event in flight: fifo for every collector count and delivery, lifo and priority for
    // key delivery to one collector.
    for (auto d : disciplines) {
        bench_fn fns[6] = {};
        dispatch<functions>::run(d, fns);
        for (auto n : counts)
            for (auto how : hows) {
                if (d != queue_discipline::fifo && !(n == 1 && how == delivery::key))
                    continue;
                case_spec c{d, n, how, mode::awaited};
                registered_case r{c, "latency/" + case_name(c, false), true};
                add(r.name + "/" + impl_baseline, fns[3], c)
                    ->UseRealTime()
                    ->Iterations(s.samples_threads)
                    ->Unit(benchmark::kNanosecond);
                add(r.name + "/" + impl_1core, fns[4], c)
                    ->UseRealTime()
                    ->Iterations(s.samples_1core)
                    ->Unit(benchmark::kNanosecond);
                add(r.name + "/" + impl_2thread, fns[5], c)
                    ->UseRealTime()
                    ->Iterations(s.samples_threads)
                    ->Unit(benchmark::kNanosecond);
                latency_cases.push_back(r);
            }
    }
}

// ---- results: a reporter that records every run and adds the ratio to the baseline -----------------

struct figures {
    double events_per_s = 0;
    double deliveries_per_s = 0;
    double events_per_cpu_s = 0;
    double p50_ns = 0;
    double p99_ns = 0;
};

std::map<std::string, figures> recorded;

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

double counter(const benchmark::BenchmarkReporter::Run& run, const char* name) {
    auto it = run.counters.find(name);
    return it == run.counters.end() ? 0.0 : static_cast<double>(it->second.value);
}

/// Forwards to the reporter chosen by --benchmark_format (or the JSON file reporter), after recording
/// each run (the median, with --benchmark_repetitions) and adding a `vs_baseline` counter (sluice
/// events/s over baseline events/s) to sluice runs.
class tee_reporter : public benchmark::BenchmarkReporter {
  public:
    explicit tee_reporter(benchmark::BenchmarkReporter* inner) : inner_(inner) {}

    bool ReportContext(const Context& context) override {
        // The library sets this reporter's streams (a file for --benchmark_out); pass them on.
        inner_->SetOutputStream(&GetOutputStream());
        inner_->SetErrorStream(&GetErrorStream());
        return inner_->ReportContext(context);
    }

    void ReportRuns(const std::vector<Run>& runs) override {
        std::vector<Run> out(runs);
        for (auto& run : out) {
            if (run.error_occurred)
                continue;
            bool primary = run.run_type == Run::RT_Iteration || run.aggregate_name == "median";
            if (!primary)
                continue;
            const std::string& name = run.run_name.function_name;
            figures f{counter(run, "events/s"), counter(run, "deliveries/s"), counter(run, "events/cpu_s"),
                      counter(run, "p50_ns"), counter(run, "p99_ns")};
            recorded[name] = f;
            bool sluice_run = ends_with(name, std::string("/") + impl_1core) ||
                              ends_with(name, std::string("/") + impl_2thread);
            if (f.events_per_s > 0 && sluice_run) {
                std::string base = name.substr(0, name.rfind('/') + 1) + impl_baseline;
                auto it = recorded.find(base);
                if (it != recorded.end() && it->second.events_per_s > 0)
                    run.counters["vs_baseline"] =
                        benchmark::Counter(f.events_per_s / it->second.events_per_s);
            }
        }
        inner_->ReportRuns(out);
    }

    void Finalize() override { inner_->Finalize(); }

  private:
    benchmark::BenchmarkReporter* inner_;
};

// ---- the summary tables ---------------------------------------------------------------------------

std::string si(double v) {
    char buf[32];
    if (v <= 0)
        return "-";
    else if (v >= 1e9)
        std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
    else if (v >= 1e6)
        std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
}

std::string ratio(double a, double b) {
    if (a <= 0 || b <= 0)
        return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fx", a / b);
    return buf;
}

std::string ns(double v) {
    if (v <= 0)
        return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
}

const figures* find(const std::string& name) {
    auto it = recorded.find(name);
    return it == recorded.end() ? nullptr : &it->second;
}

void print_tables(std::FILE* out, const settings& cfg) {
    if (recorded.empty())
        return;
    std::fprintf(out,
                 "\nsluice collector_queue vs std::mutex + std::condition_variable + std::deque "
                 "(events = payloads published; %s run, %zu events per iteration, awaited window %zu)\n\n",
                 cfg.quick ? "QUICK" : "full", cfg.batch, cfg.window);
    std::fprintf(out, "%-36s %8s %8s %8s %8s %6s %6s %9s %8s\n", "", "", "", "", "", "", "", "per CPU-s",
                 "1core");
    std::fprintf(out, "%-36s %8s %8s %8s %8s %6s %6s %9s %8s\n", "throughput case (events/s)", "1core",
                 "2thread", "baseline", "direct", "1c/b", "2t/b", "1c/b", "deliv/s");
    double min_ratio = 0;
    std::string min_case;
    int below = 0;
    int compared = 0;
    for (const auto& r : throughput_cases) {
        const figures* b = find(r.name + "/" + impl_baseline);
        const figures* s1 = find(r.name + "/" + impl_1core);
        const figures* s2 = find(r.name + "/" + impl_2thread);
        if (!b && !s1 && !s2)
            continue;
        double bv = b ? b->events_per_s : 0, v1 = s1 ? s1->events_per_s : 0, v2 = s2 ? s2->events_per_s : 0;
        const figures* direct = find(r.name + "/" + impl_direct);
        std::fprintf(out, "%-36s %8s %8s %8s %8s %6s %6s %9s %8s\n", r.name.substr(6).c_str(), si(v1).c_str(),
                     si(v2).c_str(), si(bv).c_str(), si(direct ? direct->events_per_s : 0).c_str(),
                     ratio(v1, bv).c_str(), ratio(v2, bv).c_str(),
                     ratio(s1 ? s1->events_per_cpu_s : 0, b ? b->events_per_cpu_s : 0).c_str(),
                     si(s1 ? s1->deliveries_per_s : 0).c_str());
        if (v1 > 0 && bv > 0) {
            ++compared;
            double q = v1 / bv;
            if (q < 3.0)
                ++below;
            if (min_case.empty() || q < min_ratio) {
                min_ratio = q;
                min_case = r.name.substr(6);
            }
        }
    }

    bool any_latency = false;
    for (const auto& r : latency_cases)
        any_latency |= find(r.name + "/" + impl_1core) || find(r.name + "/" + impl_baseline);
    if (any_latency) {
        std::fprintf(out, "\n%-36s %21s %21s %21s\n", "latency send -> awaiter resumed (ns)",
                     "sluice 1core p50/p99", "sluice 2thr p50/p99", "baseline p50/p99");
        for (const auto& r : latency_cases) {
            const figures* b = find(r.name + "/" + impl_baseline);
            const figures* s1 = find(r.name + "/" + impl_1core);
            const figures* s2 = find(r.name + "/" + impl_2thread);
            if (!b && !s1 && !s2)
                continue;
            auto pair = [](const figures* f) {
                return f ? ns(f->p50_ns) + " / " + ns(f->p99_ns) : std::string("-");
            };
            std::fprintf(out, "%-36s %21s %21s %21s\n", r.name.substr(8).c_str(), pair(s1).c_str(),
                         pair(s2).c_str(), pair(b).c_str());
        }
    }

    std::fprintf(out, "\ntargets (one core):\n");
    auto target = [out](const char* what, const std::string& name, double goal) {
        const figures* f = find(name);
        if (!f)
            return;
        std::fprintf(out, "  %-58s %10s  (goal %s) %s\n", what, si(f->events_per_s).c_str(), si(goal).c_str(),
                     f->events_per_s >= goal ? "met" : "MISSED");
    };
    target("fire-and-forget key delivery to one collector (fifo)",
           std::string("queue/fifo/key/c1/fire_and_forget/") + impl_1core, 10e6);
    target("awaited key delivery to one collector (fifo)",
           std::string("queue/fifo/key/c1/awaited/") + impl_1core, 3e6);
    if (compared > 0)
        std::fprintf(out, "  %-58s %10.1fx  (goal 3.0x) %s; %d of %d cases below 3x (lowest: %s)\n",
                     "sluice 1core / baseline, every case", min_ratio, below == 0 ? "met" : "MISSED", below,
                     compared, min_case.c_str());
}

/// The value of `--name=value` in argv, if given (read before benchmark::Initialize consumes it).
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
    const settings cfg = make_settings(flag_value(argc, argv, "benchmark_min_time").has_value());
    register_all(cfg);

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;

    {
        io_loop probe;
        benchmark::AddCustomContext("sluice_io_backend", std::string(sluice::to_string(probe.backend())));
    }
    benchmark::AddCustomContext("sluice_bench_mode", cfg.quick ? "quick (SLUICE_BENCH_QUICK)" : "full");
    benchmark::AddCustomContext("sluice_events_per_iteration", std::to_string(cfg.batch));
    benchmark::AddCustomContext("sluice_processor", sync_processors() ? "synchronous (SLUICE_BENCH_PROCESSOR=sync)" : "coroutine");

    benchmark::BenchmarkReporter* display_inner = benchmark::CreateDefaultDisplayReporter();
    const bool console = dynamic_cast<benchmark::ConsoleReporter*>(display_inner) != nullptr;
    tee_reporter display(display_inner);
    // The JSON file (--benchmark_out) gets the vs_baseline counters too; other file formats are left
    // to the library.
    std::unique_ptr<benchmark::JSONReporter> json;
    std::unique_ptr<tee_reporter> file;
    if (out_file && !out_file->empty() && (!out_format || *out_format == "json")) {
        json = std::make_unique<benchmark::JSONReporter>();
        file = std::make_unique<tee_reporter>(json.get());
    }
    benchmark::RunSpecifiedBenchmarks(&display, file.get());
    // Keep stdout valid JSON/CSV when that is what --benchmark_format asked for.
    print_tables(console ? stdout : stderr, cfg);
    benchmark::Shutdown();
    return 0;
}
