#include <doctest/doctest.h>

#include <sluice/core/event.hpp>
#include <sluice/core/executor.hpp>
#include <sluice/core/mutex.hpp>
#include <sluice/core/semaphore.hpp>
#include <sluice/core/sync_wait.hpp>
#include <sluice/core/task.hpp>

#include <atomic>
#include <barrier>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_sync_primitives {

using sluice::async_event;
using sluice::async_mutex;
using sluice::async_semaphore;
using sluice::operation_cancelled;
using sluice::sync_wait;
using sluice::task;

namespace {

// Starts a task by hand (its completion then goes nowhere); the caller keeps it to check done().
void start(task<void>& t) { t.handle().resume(); }

// A single-threaded executor the test drives by hand, standing in for an io loop: it shows whether a
// primitive posted a waiter home instead of resuming it on the completing thread.
class manual_executor final : public sluice::executor {
public:
    void post(std::coroutine_handle<> h) override {
        std::lock_guard lock(mutex_);
        queue_.push_back(h);
    }
    /// Starts `t` as if on this executor's thread.
    void start_here(task<void>& t) {
        sluice::detail::executor_scope scope(this);
        t.handle().resume();
    }
    /// Resumes what was posted so far, as this executor's thread; returns how many.
    std::size_t run_pending() {
        sluice::detail::executor_scope scope(this);
        std::deque<std::coroutine_handle<>> batch;
        {
            std::lock_guard lock(mutex_);
            batch.swap(queue_);
        }
        for (auto h : batch) h.resume();
        return batch.size();
    }

private:
    std::mutex mutex_;
    std::deque<std::coroutine_handle<>> queue_;
};

// Runs `rounds` rounds of a three-way race: `waiter` on one thread against `a` and `b` on two others,
// all released together by a barrier; `check` runs on the test thread after each round. The state a
// round needs is made by `setup` before it starts and dropped after `check`.
template <class State>
void race(int rounds, const std::function<void(State&)>& waiter, const std::function<void(State&)>& a,
          const std::function<void(State&)>& b, const std::function<void(State&)>& check) {
    std::unique_ptr<State> state;
    std::barrier sync(4);
    auto runner = [&](const std::function<void(State&)>& f) {
        return std::thread([&, f] {
            for (int i = 0; i < rounds; ++i) {
                sync.arrive_and_wait();
                f(*state);
                sync.arrive_and_wait();
            }
        });
    };
    std::thread t1 = runner(waiter), t2 = runner(a), t3 = runner(b);
    for (int i = 0; i < rounds; ++i) {
        state = std::make_unique<State>();
        sync.arrive_and_wait();
        sync.arrive_and_wait();
        check(*state);
        state.reset();
    }
    t1.join();
    t2.join();
    t3.join();
}

task<void> wait_and_record(async_event& ev, std::vector<int>& order, int id) {
    co_await ev.wait();
    order.push_back(id);
}

// 1 if the event was set, 2 if the wait was cancelled; counts how often it was resumed.
task<int> wait_or_cancel(async_event& ev, std::stop_token token, int& resumes) {
    try {
        co_await ev.wait(std::move(token));
        ++resumes;
        co_return 1;
    } catch (const operation_cancelled&) {
        ++resumes;
        co_return 2;
    }
}

} // namespace

TEST_SUITE("event") {
    TEST_CASE("waiters suspend until set; set resumes all of them in order") {
        async_event ev;
        CHECK_FALSE(ev.is_set());
        std::vector<int> order;
        std::vector<task<void>> waiters;
        for (int i = 1; i <= 3; ++i) waiters.push_back(wait_and_record(ev, order, i));
        for (auto& w : waiters) start(w);
        CHECK(order.empty());
        for (auto& w : waiters) CHECK_FALSE(w.done());
        ev.set();
        CHECK(ev.is_set());
        CHECK(order == std::vector<int>{1, 2, 3});
        for (auto& w : waiters) CHECK(w.done());
    }

    TEST_CASE("a set event lets waiters pass until reset") {
        async_event ev(true);
        CHECK(ev.is_set());
        sync_wait(ev.wait());
        auto op = ev.wait(); // an awaitable may be awaited more than once
        sync_wait(op);
        sync_wait(op);
        ev.reset();
        CHECK_FALSE(ev.is_set());
        std::vector<int> order;
        task<void> w = wait_and_record(ev, order, 7);
        start(w);
        CHECK_FALSE(w.done());
        ev.set();
        ev.set(); // idempotent
        CHECK(order == std::vector<int>{7});
    }

    TEST_CASE("a waiter is resumed on its home executor") {
        manual_executor home;
        async_event ev;
        std::vector<int> order;
        task<void> w = wait_and_record(ev, order, 1);
        home.start_here(w);
        ev.set(); // from a thread with no executor: must post, not resume here
        CHECK(order.empty());
        CHECK(home.run_pending() == 1);
        CHECK(order == std::vector<int>{1});
    }

    TEST_CASE("set from another thread wakes a blocked sync_wait [threads]") {
        for (int i = 0; i < 100; ++i) {
            async_event ev;
            std::thread setter([&] { ev.set(); });
            sync_wait(ev.wait());
            setter.join();
            REQUIRE(ev.is_set());
        }
    }

    TEST_CASE("a stopped token cancels a wait, unless the event is already set") {
        async_event ev;
        std::stop_source src;
        src.request_stop();
        CHECK_THROWS_AS(sync_wait(ev.wait(src.get_token())), operation_cancelled);
        ev.set();
        CHECK_NOTHROW(sync_wait(ev.wait(src.get_token())));
    }

    TEST_CASE("stopping cancels only that waiter, exactly once") {
        async_event ev;
        std::stop_source src;
        int resumes_a = 0, resumes_b = 0;
        task<int> a = wait_or_cancel(ev, src.get_token(), resumes_a);
        task<int> b = wait_or_cancel(ev, std::stop_token{}, resumes_b);
        a.handle().resume();
        b.handle().resume();
        CHECK_FALSE(a.done());
        src.request_stop();
        REQUIRE(a.done());
        CHECK(sync_wait(a) == 2);
        CHECK_FALSE(b.done());
        ev.set();
        REQUIRE(b.done());
        CHECK(sync_wait(b) == 1);
        CHECK(resumes_a == 1);
        CHECK(resumes_b == 1);
    }

    TEST_CASE("a stop after the event was set does nothing") {
        async_event ev;
        std::stop_source src;
        int resumes = 0;
        task<int> w = wait_or_cancel(ev, src.get_token(), resumes);
        w.handle().resume();
        ev.set();
        REQUIRE(w.done());
        src.request_stop();
        CHECK(sync_wait(w) == 1);
        CHECK(resumes == 1);
    }

    TEST_CASE("set racing a stop resumes the waiter exactly once [threads]") {
        struct state {
            async_event ev;
            std::stop_source src;
            int resumes = 0;
            int outcome = 0;
        };
        int set_won = 0, cancel_won = 0, bad = 0;
        race<state>(
            2000, [](state& s) { s.outcome = sync_wait(wait_or_cancel(s.ev, s.src.get_token(), s.resumes)); },
            [](state& s) { s.ev.set(); }, [](state& s) { s.src.request_stop(); },
            [&](state& s) {
                bad += s.resumes != 1;
                set_won += s.outcome == 1;
                cancel_won += s.outcome == 2;
            });
        CHECK(bad == 0);
        CHECK(set_won + cancel_won == 2000); // which wins varies; both happen in practice
    }
}

TEST_SUITE("mutex") {
    TEST_CASE("try_lock and unlock") {
        async_mutex m;
        CHECK(m.try_lock());
        CHECK_FALSE(m.try_lock());
        m.unlock();
        CHECK(m.try_lock());
        m.unlock();
    }

    TEST_CASE("lockers queue in order while it is held") {
        async_mutex m;
        std::vector<int> order;
        auto locker = [&](int id) -> task<void> {
            co_await m.lock();
            order.push_back(id);
            m.unlock();
        };
        REQUIRE(m.try_lock());
        std::vector<task<void>> lockers;
        for (int i = 1; i <= 4; ++i) lockers.push_back(locker(i));
        for (auto& l : lockers) start(l);
        CHECK(order.empty());
        m.unlock();
        CHECK(order == std::vector<int>{1, 2, 3, 4});
        CHECK(m.try_lock()); // the last one released it
        m.unlock();
    }

    TEST_CASE("unlock hands ownership to the next waiter: nobody can barge in") {
        manual_executor home;
        async_mutex m;
        bool ran = false;
        auto locker = [&]() -> task<void> {
            co_await m.lock();
            ran = true;
            m.unlock();
        };
        REQUIRE(m.try_lock());
        task<void> l = locker();
        home.start_here(l);
        m.unlock(); // posts the waiter home, already owning the mutex
        CHECK_FALSE(ran);
        CHECK_FALSE(m.try_lock());
        CHECK(home.run_pending() == 1);
        CHECK(ran);
        CHECK(m.try_lock());
        m.unlock();
    }

    TEST_CASE("scoped_lock returns a guard that unlocks") {
        async_mutex m;
        auto body = [&]() -> task<void> {
            {
                sluice::async_mutex_lock guard = co_await m.scoped_lock();
                CHECK(guard.owns_lock());
                CHECK(guard.mutex() == &m);
                CHECK_FALSE(m.try_lock());
                sluice::async_mutex_lock moved = std::move(guard);
                CHECK_FALSE(guard.owns_lock()); // NOLINT(bugprone-use-after-move)
                CHECK(moved.owns_lock());
                CHECK_FALSE(m.try_lock());
            }
            CHECK(m.try_lock());
            m.unlock();
            auto guard = co_await m.scoped_lock();
            guard.unlock();
            CHECK_FALSE(guard.owns_lock());
            CHECK(m.try_lock());
            m.unlock();
        };
        sync_wait(body());
    }

    TEST_CASE("4 threads x 10,000 increments under the lock [threads]") {
        async_mutex m;
        long counter = 0;
        std::atomic<int> inside{0};
        std::atomic<int> overlaps{0};
        auto worker = [&]() -> task<void> {
            for (int i = 0; i < 10'000; ++i) {
                co_await m.lock();
                if (inside.fetch_add(1, std::memory_order_relaxed) != 0) overlaps.fetch_add(1);
                ++counter;
                inside.fetch_sub(1, std::memory_order_relaxed);
                m.unlock();
            }
        };
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) threads.emplace_back([&] { sync_wait(worker()); });
        for (auto& t : threads) t.join();
        CHECK(counter == 40'000);
        CHECK(overlaps.load() == 0);
        CHECK(m.try_lock());
        m.unlock();
    }
}

TEST_SUITE("semaphore") {
    TEST_CASE("try_acquire, release and available") {
        async_semaphore sem(2);
        CHECK(sem.available() == 2);
        CHECK(sem.try_acquire());
        CHECK(sem.try_acquire());
        CHECK_FALSE(sem.try_acquire());
        CHECK(sem.available() == 0);
        sem.release();
        CHECK(sem.available() == 1);
        sem.release(3);
        CHECK(sem.available() == 4);
    }

    TEST_CASE("acquire waits at zero; release hands permits to the waiters in order") {
        async_semaphore sem(0);
        std::vector<int> order;
        auto acquirer = [&](int id) -> task<void> {
            co_await sem.acquire();
            order.push_back(id);
        };
        std::vector<task<void>> waiters;
        for (int i = 1; i <= 3; ++i) waiters.push_back(acquirer(i));
        for (auto& w : waiters) start(w);
        CHECK(order.empty());
        sem.release(2);
        CHECK(order == std::vector<int>{1, 2});
        CHECK(sem.available() == 0);
        sem.release(2);
        CHECK(order == std::vector<int>{1, 2, 3});
        CHECK(sem.available() == 1);
    }

    TEST_CASE("a released permit goes to the waiter, not to a newcomer") {
        manual_executor home;
        async_semaphore sem(0);
        bool acquired = false;
        auto acquirer = [&]() -> task<void> {
            co_await sem.acquire();
            acquired = true;
        };
        task<void> w = acquirer();
        home.start_here(w);
        sem.release();
        CHECK_FALSE(acquired);
        CHECK(sem.available() == 0);
        CHECK_FALSE(sem.try_acquire());
        CHECK(home.run_pending() == 1);
        CHECK(acquired);
    }

    TEST_CASE("a cancelled acquire holds no permit") {
        async_semaphore sem(0);
        std::stop_source src;
        bool cancelled = false;
        auto acquirer = [&]() -> task<void> {
            try {
                co_await sem.acquire(src.get_token());
            } catch (const operation_cancelled&) {
                cancelled = true;
            }
        };
        task<void> w = acquirer();
        start(w);
        CHECK_FALSE(w.done());
        src.request_stop();
        CHECK(w.done());
        CHECK(cancelled);
        sem.release();
        CHECK(sem.available() == 1); // nobody took it

        // A stopped token fails only an acquire that would have to wait.
        CHECK_NOTHROW(sync_wait(sem.acquire(src.get_token())));
        CHECK(sem.available() == 0);
        CHECK_THROWS_AS(sync_wait(sem.acquire(src.get_token())), operation_cancelled);
    }

    TEST_CASE("never more holders than permits [threads]") {
        async_semaphore sem(3);
        std::atomic<int> holders{0};
        std::atomic<int> most{0};
        auto worker = [&]() -> task<void> {
            for (int i = 0; i < 5'000; ++i) {
                co_await sem.acquire();
                const int now = holders.fetch_add(1) + 1;
                for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
                }
                holders.fetch_sub(1);
                sem.release();
            }
        };
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) threads.emplace_back([&] { sync_wait(worker()); });
        for (auto& t : threads) t.join();
        CHECK(most.load() <= 3);
        CHECK(most.load() >= 1);
        CHECK(sem.available() == 3);
    }

    TEST_CASE("release racing a stop: the permit is taken or kept, never lost or doubled [threads]") {
        struct state {
            async_semaphore sem{0};
            std::stop_source src;
            bool acquired = false;
            int resumes = 0;
        };
        int bad = 0;
        race<state>(
            1000,
            [](state& s) {
                auto acquirer = [](state& st) -> task<void> {
                    try {
                        co_await st.sem.acquire(st.src.get_token());
                        st.acquired = true;
                    } catch (const operation_cancelled&) {
                    }
                    ++st.resumes;
                };
                sync_wait(acquirer(s));
            },
            [](state& s) { s.sem.release(); }, [](state& s) { s.src.request_stop(); },
            [&](state& s) { bad += s.resumes != 1 || (s.acquired ? 1 : 0) + s.sem.available() != 1; });
        CHECK(bad == 0);
    }
}

} // namespace test_sync_primitives
