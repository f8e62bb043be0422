#include <doctest/doctest.h>

#include "support.hpp"

#include <sluice/core/async_scope.hpp>
#include <sluice/core/event.hpp>
#include <sluice/core/executor.hpp>
#include <sluice/core/sync_wait.hpp>
#include <sluice/core/task.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <csignal>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_async_scope {

using sluice::async_event;
using sluice::async_scope;
using sluice::sync_wait;
using sluice::task;

namespace {

using scope_counted = sluice_test::lifetime_counted;
using scope_pool = sluice_test::thread_pool;
using scope_home = sluice_test::manual_executor;

task<void> wait_for(async_event& ev) { co_await ev.wait(); }

task<void> wait_then_throw(async_event& ev, std::string what) {
    co_await ev.wait();
    throw std::runtime_error(what);
}

task<void> throw_now(std::string what) {
    throw std::runtime_error(what);
    co_return;
}

task<void> join_into(async_scope& scope, bool& joined) {
    co_await scope.join();
    joined = true;
}

// Starts a task by hand (its completion then goes nowhere); the caller keeps it to check done().
void start(task<void>& t) { t.handle().resume(); }

} // namespace

TEST_SUITE("async_scope") {
    TEST_CASE("spawn runs the task at once, up to its first suspension") {
        async_scope scope;
        async_event ev;
        int step = 0;
        auto body = [&]() -> task<void> {
            step = 1;
            co_await ev.wait();
            step = 2;
        };
        scope.spawn(body());
        CHECK(step == 1);
        CHECK(scope.live() == 1);
        ev.set();
        CHECK(step == 2);
        CHECK(scope.live() == 0);
        sync_wait(scope.join());
    }

    TEST_CASE("a task that completes synchronously is never live") {
        async_scope scope;
        int runs = 0;
        auto body = [&]() -> task<void> {
            ++runs;
            co_return;
        };
        scope.spawn(body());
        scope.spawn(body());
        CHECK(runs == 2);
        CHECK(scope.live() == 0);
        sync_wait(scope.join());
    }

    TEST_CASE("join with nothing live completes at once") {
        async_scope scope;
        bool joined = false;
        task<void> j = join_into(scope, joined);
        start(j);
        CHECK(joined);
        CHECK(j.done());
    }

    TEST_CASE("join waits for every spawned task, whose frames are gone by then") {
        async_scope scope;
        async_event ev;
        scope_counted::alive = 0;
        auto holder = [](async_event& e, scope_counted c) -> task<void> {
            (void)c;
            co_await e.wait();
        };
        for (int i = 0; i < 3; ++i) scope.spawn(holder(ev, scope_counted{}));
        CHECK(scope.live() == 3);
        CHECK(scope_counted::alive == 3);

        int alive_at_join = -1;
        auto joiner = [&]() -> task<void> {
            co_await scope.join();
            alive_at_join = scope_counted::alive;
        };
        task<void> j = joiner();
        start(j);
        CHECK_FALSE(j.done());
        ev.set();
        CHECK(j.done());
        CHECK(alive_at_join == 0);
        CHECK(scope.live() == 0);
    }

    TEST_CASE("join rethrows the first exception, once; the other tasks still run") {
        async_scope scope;
        async_event ev;
        bool finished = false;
        auto quiet = [&]() -> task<void> {
            co_await ev.wait();
            finished = true;
        };
        scope.spawn(throw_now("first"));
        scope.spawn(wait_then_throw(ev, "second"));
        scope.spawn(quiet());
        CHECK(scope.live() == 2);

        std::string caught;
        auto joiner = [&]() -> task<void> {
            try {
                co_await scope.join();
            } catch (const std::runtime_error& e) {
                caught = e.what();
            }
        };
        task<void> j = joiner();
        start(j);
        CHECK_FALSE(j.done());
        ev.set();
        REQUIRE(j.done());
        CHECK(caught == "first");
        CHECK(finished);
        CHECK_NOTHROW(sync_wait(scope.join())); // already reported
    }

    TEST_CASE("tasks spawned while a join waits are waited for too") {
        async_scope scope;
        async_event first, second;
        auto child = [&]() -> task<void> { co_await second.wait(); };
        auto parent = [&]() -> task<void> {
            co_await first.wait();
            scope.spawn(child());
        };
        scope.spawn(parent());
        bool joined = false;
        task<void> j = join_into(scope, joined);
        start(j);
        first.set();
        CHECK(scope.live() == 1);
        CHECK_FALSE(joined);
        second.set();
        CHECK(joined);
        CHECK(scope.live() == 0);
    }

    TEST_CASE("a scope can be joined again after more spawns") {
        async_scope scope;
        for (int round = 0; round < 3; ++round) {
            async_event ev;
            scope.spawn(wait_for(ev));
            bool joined = false;
            task<void> j = join_into(scope, joined);
            start(j);
            CHECK_FALSE(joined);
            ev.set();
            CHECK(joined);
        }
    }

    TEST_CASE("request_stop reaches the tasks through get_token") {
        async_scope scope;
        async_event never;
        int cancelled = 0;
        auto worker = [&]() -> task<void> {
            try {
                co_await never.wait(scope.get_token());
            } catch (const sluice::operation_cancelled&) {
                ++cancelled;
            }
        };
        for (int i = 0; i < 3; ++i) scope.spawn(worker());
        CHECK(scope.live() == 3);
        CHECK_FALSE(scope.get_token().stop_requested());
        CHECK(scope.request_stop());
        CHECK_FALSE(scope.request_stop());
        CHECK(scope.get_token().stop_requested());
        CHECK(cancelled == 3);
        CHECK(scope.live() == 0);
        sync_wait(scope.join());
    }

    TEST_CASE("tasks finishing on other threads [threads]") {
        scope_pool pool(4);
        for (int round = 0; round < 20; ++round) {
            async_scope scope;
            std::atomic<int> done{0};
            auto work = [](scope_pool& p, std::atomic<int>& d) -> task<void> {
                co_await p.schedule();
                d.fetch_add(1, std::memory_order_relaxed);
            };
            for (int i = 0; i < 200; ++i) scope.spawn(work(pool, done));
            sync_wait(scope.join());
            REQUIRE(done.load() == 200);
            REQUIRE(scope.live() == 0);
        }
    }

    TEST_CASE("an exception thrown on another thread reaches join [threads]") {
        scope_pool pool(2);
        async_scope scope;
        auto fail = [](scope_pool& p) -> task<void> {
            co_await p.schedule();
            throw std::runtime_error("from the pool");
        };
        scope.spawn(fail(pool));
        CHECK_THROWS_WITH_AS(sync_wait(scope.join()), "from the pool", std::runtime_error);
    }

    TEST_CASE("join resumes on the joiner's executor [threads]") {
        scope_pool pool(2);
        scope_home home;
        async_scope scope;
        const std::thread::id home_thread = std::this_thread::get_id();
        std::atomic<bool> finished{false};
        std::thread::id resumed_on;
        std::atomic<int> done{0};
        auto work = [](scope_pool& p, std::atomic<int>& d) -> task<void> {
            co_await p.schedule();
            d.fetch_add(1, std::memory_order_relaxed);
        };
        auto parent = [&]() -> task<void> {
            for (int i = 0; i < 20; ++i) scope.spawn(work(pool, done));
            co_await scope.join();
            resumed_on = std::this_thread::get_id();
            finished = true;
        };
        task<void> t = parent();
        home.post(t.handle());
        REQUIRE(home.run_until([&] { return finished.load(); }));
        CHECK(resumed_on == home_thread);
        CHECK(done.load() == 20);
    }

    TEST_CASE("destroying a scope with live tasks terminates the program") {
        int pipe_fds[2];
        REQUIRE(::pipe(pipe_fds) == 0);
        std::fflush(nullptr);
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            // Child: report only through the pipe, and die of the abort itself, not doctest's handler.
            std::signal(SIGABRT, SIG_DFL);
            ::dup2(pipe_fds[1], STDERR_FILENO);
            if (std::FILE* null = std::fopen("/dev/null", "w")) ::dup2(::fileno(null), STDOUT_FILENO);
            ::close(pipe_fds[0]);
            async_event never;
            {
                async_scope scope;
                scope.spawn(wait_for(never));
            }
            ::_exit(0);
        }
        ::close(pipe_fds[1]);
        std::string output;
        char buffer[256];
        for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) output.append(buffer, static_cast<std::size_t>(n));
        ::close(pipe_fds[0]);
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        CHECK(WIFSIGNALED(status));
        if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGABRT);
        CHECK(output.find("async_scope destroyed with 1 live task") != std::string::npos);
    }
}

} // namespace test_async_scope

