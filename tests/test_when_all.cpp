#include <doctest/doctest.h>

#include "support.hpp"

#include <sluice/core/event.hpp>
#include <sluice/core/executor.hpp>
#include <sluice/core/sync_wait.hpp>
#include <sluice/core/task.hpp>
#include <sluice/core/when_all.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_when_all {

using sluice::sync_wait;
using sluice::task;
using sluice::when_all;

namespace {

using sluice_test::lifetime_counted;
using sluice_test::manual_executor;
using sluice_test::thread_pool;

task<int> value(int v) { co_return v; }
task<void> nothing() { co_return; }
task<int&> ref_to(int& x) { co_return x; }
task<std::string> make_text(std::string s) { co_return s; }

task<int> fail_with(std::string what) {
    throw std::runtime_error(what);
    co_return 0;
}

task<void> count_up(std::atomic<int>& counter) {
    counter.fetch_add(1);
    co_return;
}

task<int> holds(lifetime_counted c, bool& ran) {
    (void)c;
    ran = true;
    co_return 1;
}

task<int> square_on(thread_pool& pool, int i) {
    co_await pool.schedule();
    co_return i * i;
}

} // namespace

TEST_SUITE("when_all") {
    TEST_CASE("a tuple of results in argument order, void as monostate") {
        auto result = sync_wait(when_all(value(1), nothing(), make_text("two"), value(3)));
        static_assert(std::is_same_v<decltype(result), std::tuple<int, std::monostate, std::string, int>>);
        CHECK(std::get<0>(result) == 1);
        CHECK(std::get<2>(result) == "two");
        CHECK(std::get<3>(result) == 3);
    }

    TEST_CASE("lvalue-reference results stay references") {
        int x = 5;
        auto outer = [&]() -> task<int> {
            auto [r, v] = co_await when_all(ref_to(x), value(2));
            static_assert(std::is_same_v<decltype(r), int&>);
            CHECK(&r == &x);
            r += v;
            co_return r;
        };
        CHECK(sync_wait(outer()) == 7);
        CHECK(x == 7);
    }

    TEST_CASE("when_all of nothing completes at once") {
        auto result = sync_wait(when_all());
        static_assert(std::is_same_v<decltype(result), std::tuple<>>);
        CHECK(sync_wait(when_all(std::vector<task<int>>{})).empty());
        sync_wait(when_all(std::vector<task<void>>{}));
    }

    TEST_CASE("the vector form keeps results in order") {
        std::vector<task<int>> tasks;
        for (int i = 0; i < 100; ++i) tasks.push_back(value(i));
        const std::vector<int> results = sync_wait(when_all(std::move(tasks)));
        REQUIRE(results.size() == 100);
        for (int i = 0; i < 100; ++i) CHECK(results[static_cast<std::size_t>(i)] == i);

        std::atomic<int> counter{0};
        std::vector<task<void>> voids;
        for (int i = 0; i < 10; ++i) voids.push_back(count_up(counter));
        static_assert(std::is_void_v<sluice::await_result_t<decltype(when_all(std::move(voids)))>>);
        sync_wait(when_all(std::move(voids)));
        CHECK(counter == 10);

        int a = 1, b = 2;
        std::vector<task<int&>> refs;
        refs.push_back(ref_to(a));
        refs.push_back(ref_to(b));
        auto wrapped = sync_wait(when_all(std::move(refs)));
        REQUIRE(wrapped.size() == 2);
        CHECK(&wrapped[0].get() == &a);
        CHECK(&wrapped[1].get() == &b);
    }

    TEST_CASE("nothing starts until awaited; destroying it unstarted frees every child") {
        lifetime_counted::alive = 0;
        bool ran1 = false, ran2 = false, ran3 = false;
        {
            auto both = when_all(holds(lifetime_counted{}, ran1), holds(lifetime_counted{}, ran2));
            std::vector<task<int>> tasks;
            tasks.push_back(holds(lifetime_counted{}, ran3));
            auto many = when_all(std::move(tasks));
            CHECK(lifetime_counted::alive == 3);
        }
        CHECK(lifetime_counted::alive == 0);
        CHECK_FALSE(ran1);
        CHECK_FALSE(ran2);
        CHECK_FALSE(ran3);

        auto awaited = when_all(holds(lifetime_counted{}, ran1));
        CHECK_FALSE(ran1);
        CHECK(std::get<0>(sync_wait(awaited)) == 1);
        CHECK(ran1);
    }

    TEST_CASE("a failing child: the others still finish, then the first exception is rethrown") {
        std::atomic<int> counter{0};
        CHECK_THROWS_WITH_AS(sync_wait(when_all(fail_with("first"), count_up(counter), fail_with("second"),
                                                count_up(counter))),
                             "first", std::runtime_error);
        CHECK(counter == 2);

        std::vector<task<int>> tasks;
        tasks.push_back(value(1));
        tasks.push_back(fail_with("v-first"));
        tasks.push_back(fail_with("v-second"));
        CHECK_THROWS_WITH_AS(sync_wait(when_all(std::move(tasks))), "v-first", std::runtime_error);
    }

    TEST_CASE("first means first to fail, not first in argument order") {
        sluice::async_event ev;
        auto late = [&]() -> task<int> {
            co_await ev.wait();
            throw std::runtime_error("late");
        };
        auto release = [&]() -> task<void> {
            ev.set();
            co_return;
        };
        CHECK_THROWS_WITH_AS(sync_wait(when_all(late(), fail_with("early"), release())), "early",
                             std::runtime_error);
    }

    TEST_CASE("children run concurrently: one can wait for another") {
        sluice::async_event ev;
        std::vector<int> order;
        auto waiter = [&]() -> task<int> {
            order.push_back(1);
            co_await ev.wait();
            order.push_back(3);
            co_return 10;
        };
        auto setter = [&]() -> task<int> {
            order.push_back(2);
            ev.set();
            co_return 20;
        };
        auto [a, b] = sync_wait(when_all(waiter(), setter()));
        CHECK(a == 10);
        CHECK(b == 20);
        CHECK(order == std::vector<int>{1, 2, 3});
    }

    TEST_CASE("children completing on other threads [threads]") {
        thread_pool pool(4);
        for (int round = 0; round < 200; ++round) {
            std::vector<task<int>> tasks;
            for (int i = 0; i < 16; ++i) tasks.push_back(square_on(pool, i));
            const std::vector<int> squares = sync_wait(when_all(std::move(tasks)));
            REQUIRE(squares.size() == 16);
            int mismatches = 0;
            for (int i = 0; i < 16; ++i) mismatches += squares[static_cast<std::size_t>(i)] != i * i;
            REQUIRE(mismatches == 0);

            // Mixed: one child finishes synchronously, the others on pool threads.
            auto [x, y, z] = sync_wait(when_all(square_on(pool, 3), value(round), square_on(pool, 5)));
            REQUIRE(x == 9);
            REQUIRE(y == round);
            REQUIRE(z == 25);
        }
    }

    TEST_CASE("the awaiting coroutine resumes on its own executor [threads]") {
        thread_pool pool(2);
        manual_executor home;
        const std::thread::id home_thread = std::this_thread::get_id();
        std::atomic<bool> finished{false};
        std::thread::id resumed_on;
        int sum = 0;
        auto parent = [&]() -> task<void> {
            for (int i = 0; i < 50; ++i) {
                auto [a, b] = co_await when_all(square_on(pool, 2), square_on(pool, 3));
                sum += a + b;
                resumed_on = std::this_thread::get_id();
                if (resumed_on != home_thread) break;
            }
            finished = true;
        };
        task<void> t = parent();
        home.post(t.handle());
        REQUIRE(home.run_until([&] { return finished.load(); }));
        CHECK(resumed_on == home_thread);
        CHECK(sum == 50 * 13);
    }
}

} // namespace test_when_all
