#pragma once

// io_loop: one thread's event loop. It runs coroutines, timers, socket readiness and file I/O on
// io_uring, or on epoll where io_uring is refused (containers with seccomp filters), with one API.
// One loop per thread; several loops may run at once; post() and call_soon() work from any thread.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <poll.h>

#include <sluice/core/executor.hpp>
#include <sluice/core/task.hpp>
#include <sluice/io/detail/backend.hpp>
#include <sluice/io/detail/epoll_backend.hpp>
#include <sluice/io/detail/io_op.hpp>
#include <sluice/io/detail/timer_heap.hpp>
#include <sluice/io/detail/uring_backend.hpp>

namespace sluice {

/// Which kernel interface a loop uses.
enum class io_backend {
    automatic, ///< io_uring when the kernel allows it, else epoll; SLUICE_IO_BACKEND may force one
    io_uring,
    epoll,
};

/// "automatic", "io_uring" or "epoll".
inline std::string_view to_string(io_backend b) noexcept {
    switch (b) {
    case io_backend::automatic: return "automatic";
    case io_backend::io_uring: return "io_uring";
    case io_backend::epoll: return "epoll";
    }
    return "unknown";
}

/// How an io_loop is built; the defaults suit almost everyone.
struct loop_options {
    /// `automatic` honours the SLUICE_IO_BACKEND environment variable (io_uring | epoll), then probes.
    io_backend backend = io_backend::automatic;
    /// io_uring submission queue size; a full queue is submitted early, never an error.
    unsigned ring_entries = 256;
};

/// Poll event bits for io_loop::poll (the poll(2) ones).
namespace poll_events {
/// Readable.
inline constexpr std::uint32_t in = POLLIN;
/// Writable.
inline constexpr std::uint32_t out = POLLOUT;
/// Urgent data.
inline constexpr std::uint32_t pri = POLLPRI;
/// Error (always reported).
inline constexpr std::uint32_t err = POLLERR;
/// Hang-up (always reported).
inline constexpr std::uint32_t hup = POLLHUP;
} // namespace poll_events

class io_loop;

namespace detail {
inline thread_local io_loop* current_loop = nullptr;
}

/// One thread's event loop: runs coroutines, timers, socket readiness and file I/O on io_uring (or epoll
/// where the kernel refuses io_uring). Everything but post/call_soon/schedule/stop belongs to the thread that
/// runs it.
class io_loop final : public executor {
private:
    // ---- op awaiters ----

    struct checked_result {}; // negative results throw std::system_error
    struct timer_result {};   // timers complete with 0 or -ECANCELED

    template <class Kind>
    struct op_awaiter {
        io_loop* loop;
        detail::io_op op;
        std::stop_token token;
        const char* what = nullptr;
        std::optional<std::stop_callback<std::function<void()>>> on_stop;

        op_awaiter(io_loop* l, const detail::io_op& o, std::stop_token t, const char* w = nullptr)
            : loop(l), op(o), token(std::move(t)), what(w) {}
        // Returned as prvalues straight into the co_await expression: never copied or moved, so the
        // op's address can be the kernel's tag.
        op_awaiter(const op_awaiter&) = delete;
        op_awaiter& operator=(const op_awaiter&) = delete;

        bool await_ready() const noexcept { return false; }

        bool await_suspend(std::coroutine_handle<> h) {
            if (token.stop_requested()) {
                op.result = -ECANCELED;
                return false;
            }
            op.handle = h;
            if (!loop->start_op(&op)) return false; // completed synchronously
            if (token.stop_possible()) {
                op.cancel_id = loop->register_cancellable(&op);
                io_loop* l = loop;
                std::uint64_t id = op.cancel_id;
                // The callback may run on any thread (or right here if already stopped): it only
                // asks the loop, which finds the op by id if it is still outstanding.
                on_stop.emplace(token, std::function<void()>([l, id] { l->request_cancel(id); }));
            }
            return true;
        }

        auto await_resume() {
            on_stop.reset(); // waits out a callback running on another thread
            if (op.cancel_id != 0) loop->unregister_cancellable(op.cancel_id);
            if (op.result == -ECANCELED && (token.stop_requested() || std::is_same_v<Kind, timer_result>))
                throw operation_cancelled();
            if constexpr (std::is_same_v<Kind, timer_result>) {
                return;
            } else {
                if (op.result < 0) throw std::system_error(-op.result, std::system_category(), what);
                return op.result;
            }
        }
    };

public:
    /// Awaiter of a timer: completes with nothing, or throws operation_cancelled.
    using timer_awaiter = op_awaiter<timer_result>;
    /// Awaiter of an I/O op: completes with a non-negative count/fd/mask, or throws.
    using io_awaiter = op_awaiter<checked_result>;

public:
    /// The clock of every timer.
    using clock = std::chrono::steady_clock;

    /// Chooses the backend (loop_options::backend, SLUICE_IO_BACKEND, then a probe). Throws std::system_error
    /// when neither backend can start.
    explicit io_loop(loop_options options = {}) : backend_kind_(choose_backend(options)) {
        if (backend_kind_ == io_backend::io_uring)
            backend_ = std::make_unique<detail::uring_backend>(options.ring_entries);
        else
            backend_ = std::make_unique<detail::epoll_backend>();
    }

    ~io_loop() {
        // Handles still queued belong to coroutines that were never resumed; their owners (tasks,
        // scopes) destroy the frames. Nothing here may resume them after the loop is gone.
    }

    io_loop(const io_loop&) = delete;
    io_loop& operator=(const io_loop&) = delete;

    /// The backend actually in use (never `automatic`).
    [[nodiscard]] io_backend backend() const noexcept { return backend_kind_; }

    /// The loop running on the calling thread, or null.
    [[nodiscard]] static io_loop* current() noexcept { return detail::current_loop; }

    /// True when called from inside this loop's run.
    [[nodiscard]] bool in_loop_thread() const noexcept { return detail::current_loop == this; }

    // ---- scheduling -------------------------------------------------------------------------

    /// Queues `h` to resume on this loop. Any thread.
    void post(std::coroutine_handle<> h) override {
        if (in_loop_thread()) {
            ready_.push_back(h);
            return;
        }
        {
            std::lock_guard lock(remote_mutex_);
            remote_.push_back(remote_item{h, {}});
            remote_pending_.store(true, std::memory_order_release);
        }
        notify_remote();
    }

    /// Queues a callable to run on this loop. Any thread.
    void call_soon(std::function<void()> fn) {
        {
            std::lock_guard lock(remote_mutex_);
            remote_.push_back(remote_item{{}, std::move(fn)});
            remote_pending_.store(true, std::memory_order_release);
        }
        notify_remote();
    }

    /// `co_await loop.schedule()` continues the calling coroutine on this loop (from any thread).
    [[nodiscard]] auto schedule() noexcept {
        struct awaiter {
            io_loop* loop;
            bool await_ready() const noexcept { return false; }
            void await_suspend(std::coroutine_handle<> h) { loop->post(h); }
            void await_resume() const noexcept {}
        };
        return awaiter{this};
    }

    /// Starts `t` on this loop without waiting for it. The loop keeps count; run_until_complete and
    /// drain() wait for spawned tasks. An exception escaping a spawned task is kept and rethrown from
    /// run()/run_until_complete() so no failure is silent.
    void spawn(task<void> t) {
        ++spawned_live_;
        auto wrapper = run_spawned(std::move(t));
        post(wrapper.release_handle());
    }

    /// Number of spawned tasks not yet finished.
    [[nodiscard]] std::size_t spawned_live() const noexcept { return spawned_live_.load(); }

    // ---- timers -------------------------------------------------------------------------------

    /// Suspends for `d`. With a stop_token, throws operation_cancelled if stopped first.
    [[nodiscard]] timer_awaiter sleep_for(clock::duration d, std::stop_token token = {}) {
        return sleep_until(clock::now() + d, std::move(token));
    }

    /// Suspends until `deadline`. With a stop_token, throws operation_cancelled if stopped first.
    [[nodiscard]] timer_awaiter sleep_until(clock::time_point deadline, std::stop_token token = {}) {
        detail::io_op op;
        op.kind = detail::io_op_kind::timer;
        op.deadline = deadline;
        return timer_awaiter{this, op, std::move(token)};
    }

    // ---- readiness ----------------------------------------------------------------------------

    /// Waits until `fd` is ready for `events` (poll_events bits); returns the ready bits (which may
    /// include err/hup). Throws std::system_error on failure, operation_cancelled on stop.
    [[nodiscard]] io_awaiter poll(int fd, std::uint32_t events, std::stop_token token = {}) {
        detail::io_op op;
        op.kind = detail::io_op_kind::poll;
        op.fd = fd;
        op.events = events;
        return io_awaiter{this, op, std::move(token), "poll"};
    }

    // ---- files --------------------------------------------------------------------------------

    /// Opens `path` (which must stay valid until the open completes); returns the fd.
    [[nodiscard]] io_awaiter open(const char* path, int flags, mode_t mode = 0644) {
        detail::io_op op;
        op.kind = detail::io_op_kind::open;
        op.path = path;
        op.open_flags = flags | O_CLOEXEC;
        op.mode = mode;
        return io_awaiter{this, op, {}, "open"};
    }

    /// Reads up to buf.size() bytes at `offset`; returns the count (0 at end of file).
    [[nodiscard]] io_awaiter read(int fd, std::span<std::byte> buf, std::uint64_t offset) {
        return rw(detail::io_op_kind::read, fd, buf.data(), buf.size(), offset, "read");
    }

    /// Writes up to buf.size() bytes at `offset`; returns the count written (may be short).
    [[nodiscard]] io_awaiter write(int fd, std::span<const std::byte> buf, std::uint64_t offset) {
        return rw(detail::io_op_kind::write, fd, const_cast<std::byte*>(buf.data()), buf.size(), offset,
                  "write");
    }

    /// Writes all of `buf` at `offset`, resubmitting after short writes.
    task<void> write_all(int fd, std::span<const std::byte> buf, std::uint64_t offset) {
        while (!buf.empty()) {
            std::size_t n = static_cast<std::size_t>(co_await write(fd, buf, offset));
            if (n == 0) throw std::system_error(EIO, std::system_category(), "write returned 0");
            buf = buf.subspan(n);
            offset += n;
        }
    }

    /// fsync(2) through the loop (on io_uring it does not block the thread).
    [[nodiscard]] io_awaiter fsync(int fd) { return simple(detail::io_op_kind::fsync, fd, "fsync"); }
    /// fdatasync(2) through the loop.
    [[nodiscard]] io_awaiter fdatasync(int fd) { return simple(detail::io_op_kind::fdatasync, fd, "fdatasync"); }
    /// close(2) through the loop.
    [[nodiscard]] io_awaiter close(int fd) { return simple(detail::io_op_kind::close, fd, "close"); }

    // ---- running ------------------------------------------------------------------------------

    /// Runs until stop() is called. Rethrows the first exception that escaped a spawned task.
    void run() {
        binding bind(this);
        stop_requested_.store(false, std::memory_order_relaxed);
        auto stopped = [this] { return stop_requested_.load(std::memory_order_acquire); };
        while (!stopped()) {
            run_once_impl(true, stopped);
            rethrow_spawn_failure();
        }
    }

    /// Runs one iteration: resumes what is ready, then waits up to `timeout` for events.
    /// Returns true when anything ran.
    bool run_once(clock::duration timeout = clock::duration::zero()) {
        binding bind(this);
        bool ran = run_once_impl(false, [] { return false; }, timeout);
        rethrow_spawn_failure();
        return ran;
    }

    /// Runs the loop until `t` completes and returns its result (or rethrows its exception).
    template <class T>
    T run_until_complete(task<T> t) {
        binding bind(this);
        bool done = false;
        auto wrapper = complete_flag(std::move(t), done);
        ready_.push_back(wrapper.handle());
        while (!done) {
            run_once_impl(true, [&done] { return done; });
            rethrow_spawn_failure();
        }
        return wrapper.take();
    }

    /// Runs until every spawned task has finished.
    void drain() {
        binding bind(this);
        auto finished = [this] { return spawned_live_.load() == 0; };
        while (!finished()) {
            run_once_impl(true, finished);
            rethrow_spawn_failure();
        }
    }

    /// Makes run() return after the current iteration. Any thread.
    void stop() noexcept {
        stop_requested_.store(true, std::memory_order_release);
        backend_->wake();
    }

private:
    [[nodiscard]] io_awaiter rw(detail::io_op_kind kind, int fd, std::byte* data, std::size_t size, std::uint64_t offset,
                          const char* what) {
        detail::io_op op;
        op.kind = kind;
        op.fd = fd;
        op.buffer = data;
        op.length = std::min<std::size_t>(size, 1u << 30); // one op moves at most 1 GiB
        op.offset = offset;
        return io_awaiter{this, op, {}, what};
    }

    [[nodiscard]] io_awaiter simple(detail::io_op_kind kind, int fd, const char* what) {
        detail::io_op op;
        op.kind = kind;
        op.fd = fd;
        return io_awaiter{this, op, {}, what};
    }

    /// Returns true when the op is outstanding (the caller suspends), false when already complete.
    bool start_op(detail::io_op* op) {
        if (op->kind == detail::io_op_kind::timer) {
            if (op->deadline <= clock::now()) {
                op->result = 0;
                return false;
            }
            timers_.push(op);
            return true;
        }
        return !backend_->start(op);
    }

    std::uint64_t register_cancellable(detail::io_op* op) {
        std::uint64_t id = ++next_cancel_id_;
        cancellable_.emplace(id, op);
        return id;
    }
    void unregister_cancellable(std::uint64_t id) { cancellable_.erase(id); }

    /// Any thread: routes a cancellation to the loop thread, where the op is looked up by id so a
    /// request that arrives after completion finds nothing and does nothing.
    void request_cancel(std::uint64_t id) {
        auto cancel = [this, id] {
            auto it = cancellable_.find(id);
            if (it == cancellable_.end()) return;
            detail::io_op* op = it->second;
            if (op->kind == detail::io_op_kind::timer) {
                if (timers_.erase(op)) {
                    op->result = -ECANCELED;
                    ready_.push_back(op->handle);
                }
            } else {
                backend_->cancel(op);
            }
        };
        if (in_loop_thread())
            cancel();
        else
            call_soon(cancel);
    }

    // ---- the loop proper ----

    struct remote_item {
        std::coroutine_handle<> handle;
        std::function<void()> fn;
    };

    class binding {
    public:
        explicit binding(io_loop* loop)
            : previous_loop_(detail::current_loop), executor_(loop) {
            detail::current_loop = loop;
        }
        ~binding() { detail::current_loop = previous_loop_; }
        binding(const binding&) = delete;
        binding& operator=(const binding&) = delete;

    private:
        io_loop* previous_loop_;
        detail::executor_scope executor_;
    };

    void notify_remote() {
        // Only a loop that is (about to be) blocked in the kernel needs the eventfd write.
        if (sleeping_.exchange(false, std::memory_order_seq_cst)) backend_->wake();
    }

    bool take_remote() {
        // Most iterations have nothing from other threads: one load, no lock.
        if (!remote_pending_.load(std::memory_order_acquire)) return false;
        {
            std::lock_guard lock(remote_mutex_);
            taken_.swap(remote_);
            remote_pending_.store(false, std::memory_order_relaxed);
        }
        for (auto& item : taken_) {
            if (item.handle)
                ready_.push_back(item.handle);
            else
                item.fn();
        }
        taken_.clear(); // keeps its capacity for the next swap
        return true;
    }

    bool run_ready() {
        // Only what is ready now; what these resumptions queue runs next iteration, after I/O.
        std::size_t n = ready_.size();
        for (std::size_t i = 0; i < n; ++i) {
            auto h = ready_.front();
            ready_.pop_front();
            h.resume();
        }
        return n != 0;
    }

    bool fire_timers() {
        if (timers_.empty()) return false;
        auto now = clock::now();
        bool fired = false;
        while (!timers_.empty() && timers_.top()->deadline <= now) {
            detail::io_op* op = timers_.top();
            timers_.pop();
            op->result = 0;
            ready_.push_back(op->handle);
            fired = true;
        }
        return fired;
    }

    /// One iteration. `finished` is checked before blocking so a loop whose goal was reached by the
    /// resumptions of this iteration never sleeps in the kernel.
    template <class Finished>
    bool run_once_impl(bool block, Finished&& finished, clock::duration max_wait = clock::duration::max()) {
        bool ran = run_ready();
        ran |= take_remote();
        ran |= fire_timers();

        std::chrono::nanoseconds timeout{-1};
        if (block && finished()) {
            block = false;
            max_wait = clock::duration::zero();
        }
        if (!ready_.empty() || !block) {
            timeout = std::chrono::nanoseconds::zero();
            if (!block && ready_.empty() && max_wait > clock::duration::zero())
                timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(max_wait);
        }
        if (timeout.count() != 0 && !timers_.empty()) {
            auto until = std::chrono::duration_cast<std::chrono::nanoseconds>(timers_.top()->deadline - clock::now());
            if (until.count() < 0) until = std::chrono::nanoseconds::zero();
            if (timeout.count() < 0 || until < timeout) timeout = until;
        }
        if (timeout.count() != 0) {
            sleeping_.store(true, std::memory_order_seq_cst);
            // Re-check after publishing `sleeping_`: a post that raced with us either sees the flag
            // (and wakes us) or is visible here.
            bool pending = remote_pending_.load(std::memory_order_seq_cst);
            if (pending || stop_requested_.load(std::memory_order_acquire)) timeout = std::chrono::nanoseconds::zero();
        }
        completions_.clear();
        backend_->wait(timeout, completions_);
        sleeping_.store(false, std::memory_order_relaxed);
        for (detail::io_op* op : completions_) ready_.push_back(op->handle);
        ran |= !completions_.empty();
        ran |= take_remote();
        ran |= fire_timers();
        return ran;
    }

    // ---- spawned and awaited tasks ----

    /// @cond internal
    /// A detached coroutine that runs a spawned task and accounts for it.
    struct spawned {
        struct promise_type {
            spawned get_return_object() noexcept {
                return spawned{std::coroutine_handle<promise_type>::from_promise(*this)};
            }
            std::suspend_always initial_suspend() const noexcept { return {}; }
            std::suspend_never final_suspend() const noexcept { return {}; }
            void return_void() const noexcept {}
            void unhandled_exception() const noexcept { std::terminate(); } // run_spawned catches all
        };
        std::coroutine_handle<promise_type> handle;
        std::coroutine_handle<> release_handle() noexcept { return std::exchange(handle, {}); }
    };

    spawned run_spawned(task<void> t) {
        try {
            co_await std::move(t);
        } catch (...) {
            std::lock_guard lock(remote_mutex_);
            if (!spawn_failure_) spawn_failure_ = std::current_exception();
        }
        --spawned_live_;
    }

    void rethrow_spawn_failure() {
        std::exception_ptr e;
        {
            std::lock_guard lock(remote_mutex_);
            e = std::exchange(spawn_failure_, nullptr);
        }
        if (e) std::rethrow_exception(e);
    }

    template <class T>
    struct flagged_value {
        std::optional<std::conditional_t<std::is_reference_v<T>, std::add_pointer_t<T>, T>> value;
        template <class U>
        void return_value(U&& v) {
            if constexpr (std::is_reference_v<T>)
                value.emplace(std::addressof(v));
            else
                value.emplace(std::forward<U>(v));
        }
        T take() {
            if constexpr (std::is_reference_v<T>)
                return static_cast<T>(**value);
            else
                return std::move(*value);
        }
    };
    template <class T>
        requires std::is_void_v<T>
    struct flagged_value<T> {
        void return_void() noexcept {}
        void take() noexcept {}
    };

    /// Runs a task for run_until_complete and raises a flag (read on the same thread) when it ends.
    template <class T>
    class flagged {
    public:
        struct promise_type : flagged_value<T> {
            bool* done;
            std::exception_ptr error;
            promise_type(task<T>&, bool& d) noexcept : done(&d) {}
            flagged get_return_object() noexcept {
                return flagged{std::coroutine_handle<promise_type>::from_promise(*this)};
            }
            std::suspend_always initial_suspend() const noexcept { return {}; }
            auto final_suspend() const noexcept {
                struct set_flag {
                    bool await_ready() const noexcept { return false; }
                    void await_suspend(std::coroutine_handle<promise_type> h) const noexcept {
                        *h.promise().done = true;
                    }
                    void await_resume() const noexcept {}
                };
                return set_flag{};
            }
            void unhandled_exception() noexcept { error = std::current_exception(); }
        };
        explicit flagged(std::coroutine_handle<promise_type> h) : handle_(h) {}
        flagged(flagged&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
        flagged& operator=(flagged&&) = delete;
        ~flagged() {
            if (handle_) handle_.destroy();
        }
        [[nodiscard]] std::coroutine_handle<> handle() const noexcept { return handle_; }
        T take() {
            auto& p = handle_.promise();
            if (p.error) std::rethrow_exception(p.error);
            return p.take();
        }

    private:
        std::coroutine_handle<promise_type> handle_;
    };
    /// @endcond

    template <class T>
    static flagged<T> complete_flag(task<T> t, bool& /*done: taken by the promise*/) {
        if constexpr (std::is_void_v<T>)
            co_await std::move(t);
        else
            co_return co_await std::move(t);
    }

    static io_backend choose_backend(const loop_options& options) {
        io_backend wanted = options.backend;
        if (wanted == io_backend::automatic) {
            if (const char* env = std::getenv("SLUICE_IO_BACKEND")) {
                std::string_view v(env);
                if (v == "epoll")
                    wanted = io_backend::epoll;
                else if (v == "io_uring" || v == "uring")
                    wanted = io_backend::io_uring;
                else if (!v.empty() && v != "auto" && v != "automatic")
                    throw std::invalid_argument("SLUICE_IO_BACKEND must be io_uring, epoll or auto, not '" +
                                                std::string(v) + "'");
            }
        }
        if (wanted != io_backend::automatic) return wanted;
        return uring_available() ? io_backend::io_uring : io_backend::epoll;
    }

    /// Probes once per process whether the kernel lets us create a ring.
    static bool uring_available() {
        static const bool available = [] {
            io_uring ring;
            int rc = io_uring_queue_init(2, &ring, 0);
            if (rc < 0) return false; // EPERM/ENOSYS from seccomp, ENOMEM from memlock limits...
            io_uring_queue_exit(&ring);
            return true;
        }();
        return available;
    }

    io_backend backend_kind_;
    std::unique_ptr<detail::io_backend_base> backend_;
    std::deque<std::coroutine_handle<>> ready_;
    detail::timer_heap timers_;
    std::vector<detail::io_op*> completions_;
    std::unordered_map<std::uint64_t, detail::io_op*> cancellable_;
    std::uint64_t next_cancel_id_ = 0;

    std::mutex remote_mutex_;
    std::vector<remote_item> remote_;
    std::vector<remote_item> taken_; // loop thread only: what take_remote() is running
    std::atomic<bool> remote_pending_{false};
    std::exception_ptr spawn_failure_;
    std::atomic<bool> sleeping_{false};
    std::atomic<bool> stop_requested_{false};
    std::atomic<std::size_t> spawned_live_{0};
};

} // namespace sluice
