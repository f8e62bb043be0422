#pragma once

// Helpers shared by the coroutine tests: a type that counts its live instances (to catch leaked or
// double-destroyed frames), a thread pool executor, an executor driven by the test's own thread, and
// a wait on a loop for a condition.

#include <sluice/core/executor.hpp>
#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>

#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice_test {

struct lifetime_counted {
    static inline int alive = 0;
    lifetime_counted() noexcept { ++alive; }
    lifetime_counted(const lifetime_counted&) noexcept { ++alive; }
    lifetime_counted(lifetime_counted&&) noexcept { ++alive; }
    lifetime_counted& operator=(const lifetime_counted&) = default;
    lifetime_counted& operator=(lifetime_counted&&) = default;
    ~lifetime_counted() { --alive; }
};

// A few worker threads that resume whatever is posted to them.
class thread_pool final : public sluice::executor {
public:
    explicit thread_pool(int threads) {
        for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
    }
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;
    ~thread_pool() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        cv_.notify_all();
        for (auto& t : threads_) t.join();
    }

    void post(std::coroutine_handle<> h) override {
        // Notifies under the lock: once the handle is seen, this executor may be destroyed.
        std::lock_guard lock(mutex_);
        queue_.push_back(h);
        cv_.notify_one();
    }

    /// `co_await pool.schedule()` continues on one of the pool's threads.
    auto schedule() noexcept {
        struct awaiter {
            thread_pool* pool;
            bool await_ready() const noexcept { return false; }
            void await_suspend(std::coroutine_handle<> h) const { pool->post(h); }
            void await_resume() const noexcept {}
        };
        return awaiter{this};
    }

private:
    void work() {
        sluice::detail::executor_scope scope(this);
        for (;;) {
            std::coroutine_handle<> h;
            {
                std::unique_lock lock(mutex_);
                cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
                if (queue_.empty()) return;
                h = queue_.front();
                queue_.pop_front();
            }
            h.resume();
        }
    }

    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::coroutine_handle<>> queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

// An executor driven by the test's own thread, standing in for an io loop.
class manual_executor final : public sluice::executor {
public:
    void post(std::coroutine_handle<> h) override {
        // Notifies under the lock: once the handle is seen, this executor may be destroyed.
        std::lock_guard lock(mutex_);
        queue_.push_back(h);
        cv_.notify_one();
    }

    /// Runs posted coroutines on the calling thread, as this executor's thread, until `done()`.
    /// False if nothing was posted for 10 s (a failure, not a hang).
    bool run_until(const std::function<bool()>& done) {
        sluice::detail::executor_scope scope(this);
        while (!done()) {
            std::coroutine_handle<> h;
            {
                std::unique_lock lock(mutex_);
                if (!cv_.wait_for(lock, std::chrono::seconds(10), [&] { return !queue_.empty(); })) return false;
                h = queue_.front();
                queue_.pop_front();
            }
            h.resume();
        }
        return true;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::coroutine_handle<>> queue_;
};

/// Waits (on the loop) until `done()` or about `limit`; the caller checks the condition afterwards.
template <class Done>
sluice::task<void> wait_until(sluice::io_loop& loop, Done done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    for (auto waited = std::chrono::milliseconds(0); !done() && waited < limit; waited += std::chrono::milliseconds(1))
        co_await loop.sleep_for(std::chrono::milliseconds(1));
}

} // namespace sluice_test
