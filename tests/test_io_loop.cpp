// io_loop: backends, timers, readiness, files, cross-thread posting, spawning, cancellation.
// The binary runs once per backend (SLUICE_IO_BACKEND), so everything here is checked on both.

#include <doctest/doctest.h>

#include <sluice/core/sync_wait.hpp>
#include <sluice/io/loop.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_io_loop {

using namespace sluice;
using namespace std::chrono_literals;

namespace {

std::string temp_dir() {
    char tmpl[] = "/tmp/sluice-loop-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    return tmpl;
}

/// Restores an environment variable on scope exit.
struct env_guard {
    std::string name;
    std::string old;
    bool had;
    env_guard(const char* n, const char* value) : name(n) {
        const char* v = std::getenv(n);
        had = v != nullptr;
        if (had) old = v;
        if (value)
            ::setenv(n, value, 1);
        else
            ::unsetenv(n);
    }
    ~env_guard() {
        if (had)
            ::setenv(name.c_str(), old.c_str(), 1);
        else
            ::unsetenv(name.c_str());
    }
};

} // namespace

TEST_SUITE("io_loop") {

TEST_CASE("the backend follows SLUICE_IO_BACKEND, and an explicit option wins") {
    io_loop loop;
    const char* env = std::getenv("SLUICE_IO_BACKEND");
    if (env && std::string(env) == "epoll") CHECK(loop.backend() == io_backend::epoll);
    if (env && std::string(env) == "io_uring") CHECK(loop.backend() == io_backend::io_uring);
    CHECK(loop.backend() != io_backend::automatic);

    io_loop forced({.backend = io_backend::epoll});
    CHECK(forced.backend() == io_backend::epoll);
    CHECK(to_string(forced.backend()) == "epoll");
}

TEST_CASE("an invalid SLUICE_IO_BACKEND is a clear error") {
    env_guard guard("SLUICE_IO_BACKEND", "kqueue");
    CHECK_THROWS_WITH_AS(io_loop{}, doctest::Contains("SLUICE_IO_BACKEND"), std::invalid_argument);
}

TEST_CASE("run_until_complete returns the task's value and rethrows its exception") {
    io_loop loop;
    CHECK(loop.run_until_complete([]() -> task<int> { co_return 42; }()) == 42);
    CHECK_THROWS_WITH_AS(loop.run_until_complete([]() -> task<void> {
        throw std::runtime_error("boom");
        co_return;
    }()),
                         "boom", std::runtime_error);
    std::string s = "kept";
    std::string& ref = loop.run_until_complete([&]() -> task<std::string&> { co_return s; }());
    CHECK(&ref == &s);
}

TEST_CASE("timers fire in deadline order, ties in arrival order, never early") {
    io_loop loop;
    std::vector<int> order;
    auto sleeper = [&](int id, std::chrono::milliseconds d) -> task<void> {
        auto start = io_loop::clock::now();
        co_await loop.sleep_for(d);
        CHECK(io_loop::clock::now() - start >= d);
        order.push_back(id);
    };
    // Coroutine lambdas are named: a temporary closure would die while its coroutine still runs.
    auto same = io_loop::clock::now() + 5ms;
    auto at_same_deadline = [&](int id) -> task<void> {
        co_await loop.sleep_until(same);
        order.push_back(id);
    };
    loop.spawn(sleeper(3, 30ms));
    loop.spawn(sleeper(1, 10ms));
    loop.spawn(sleeper(2, 20ms));
    loop.spawn(at_same_deadline(10));
    loop.spawn(at_same_deadline(11));
    loop.drain();
    CHECK(order == std::vector<int>{10, 11, 1, 2, 3});
}

TEST_CASE("a zero or past deadline completes without waiting") {
    io_loop loop;
    loop.run_until_complete([&]() -> task<void> {
        co_await loop.sleep_for(0ms);
        co_await loop.sleep_until(io_loop::clock::now() - 1s);
    }());
}

TEST_CASE("sleep is cancelled by a stop_token from another thread [threads]") {
    io_loop loop;
    std::stop_source source;
    std::thread stopper([&] {
        std::this_thread::sleep_for(10ms);
        source.request_stop();
    });
    auto start = io_loop::clock::now();
    CHECK_THROWS_AS(loop.run_until_complete([&]() -> task<void> { co_await loop.sleep_for(10s, source.get_token()); }()),
                    operation_cancelled);
    stopper.join();
    CHECK(io_loop::clock::now() - start < 5s);
}

TEST_CASE("an already stopped token cancels at once; stopping after completion is harmless") {
    io_loop loop;
    std::stop_source stopped;
    stopped.request_stop();
    loop.run_until_complete([&]() -> task<void> {
        CHECK_THROWS_AS(co_await loop.sleep_for(10s, stopped.get_token()), operation_cancelled);
        std::stop_source later;
        co_await loop.sleep_for(1ms, later.get_token());
        later.request_stop(); // the op is gone: must be a no-op
        co_await loop.sleep_for(2ms);
    }());
}

TEST_CASE("poll reports readiness of a pipe written from another thread [threads]") {
    io_loop loop;
    int fds[2];
    REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
    std::thread writer([&] {
        std::this_thread::sleep_for(5ms);
        REQUIRE(::write(fds[1], "x", 1) == 1);
    });
    int revents = loop.run_until_complete([&]() -> task<int> { co_return co_await loop.poll(fds[0], poll_events::in); }());
    writer.join();
    CHECK((revents & poll_events::in) != 0);
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST_CASE("two polls on one fd (read and write interest) both complete") {
    io_loop loop;
    int sv[2];
    REQUIRE(::pipe2(sv, O_NONBLOCK | O_CLOEXEC) == 0);
    int w = sv[1];
    int r = sv[0];
    // A socketpair end is readable and writable independently.
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair) == 0);
    int got_in = 0, got_out = 0;
    auto wait_in = [&]() -> task<void> { got_in = co_await loop.poll(pair[0], poll_events::in); };
    auto wait_out = [&]() -> task<void> { got_out = co_await loop.poll(pair[0], poll_events::out); };
    loop.run_until_complete([&]() -> task<void> {
        loop.spawn(wait_in());
        loop.spawn(wait_out());
        co_await loop.sleep_for(2ms);
        CHECK(got_out != 0); // writable at once
        CHECK(got_in == 0);  // nothing to read yet
        REQUIRE(::write(pair[1], "y", 1) == 1);
        while (got_in == 0) co_await loop.sleep_for(1ms);
        CHECK((got_in & poll_events::in) != 0);
    }());
    ::close(pair[0]);
    ::close(pair[1]);
    ::close(r);
    ::close(w);
}

TEST_CASE("poll is cancelled by its stop_token and the fd stays usable") {
    io_loop loop;
    int fds[2];
    REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
    std::stop_source source;
    bool cancelled = false;
    auto waiter = [&]() -> task<void> {
        try {
            co_await loop.poll(fds[0], poll_events::in, source.get_token());
        } catch (const operation_cancelled&) {
            cancelled = true;
        }
    };
    loop.run_until_complete([&]() -> task<void> {
        loop.spawn(waiter());
        co_await loop.sleep_for(2ms);
        source.request_stop();
        while (!cancelled) co_await loop.sleep_for(1ms);
        REQUIRE(::write(fds[1], "z", 1) == 1);
        int rev = co_await loop.poll(fds[0], poll_events::in);
        CHECK((rev & poll_events::in) != 0);
    }());
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST_CASE("files: open, write_all, fsync, read back, close; errors carry errno") {
    io_loop loop;
    std::string dir = temp_dir();
    std::string path = dir + "/data.bin";
    std::string payload(300'000, '\0');
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);

    loop.run_until_complete([&]() -> task<void> {
        int fd = co_await loop.open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR, 0600);
        CHECK(fd >= 0);
        co_await loop.write_all(fd, std::as_bytes(std::span(payload)), 0);
        co_await loop.fsync(fd);
        co_await loop.fdatasync(fd);
        std::string back(payload.size(), '\0');
        std::size_t off = 0;
        while (off < back.size()) {
            int n = co_await loop.read(fd, std::as_writable_bytes(std::span(back)).subspan(off), off);
            REQUIRE(n > 0);
            off += static_cast<std::size_t>(n);
        }
        CHECK(back == payload);
        std::byte extra[8];
        CHECK(co_await loop.read(fd, extra, payload.size()) == 0); // end of file
        co_await loop.close(fd);

        try {
            (void)co_await loop.open((dir + "/missing/x").c_str(), O_RDONLY);
            FAIL("open of a missing path succeeded");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == ENOENT);
        }
        try {
            (void)co_await loop.write(fd, std::as_bytes(std::span(payload)).first(1), 0); // closed fd
            FAIL("write to a closed fd succeeded");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == EBADF);
        }
    }());
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(static_cast<std::size_t>(st.st_size) == payload.size());
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
}

TEST_CASE("post, call_soon and schedule from many threads run on the loop thread [threads]") {
    io_loop loop;
    std::thread::id loop_thread;
    std::atomic<int> calls{0};
    std::atomic<int> scheduled{0};
    constexpr int threads = 4;
    constexpr int per_thread = 2000;

    auto hop = [&]() -> task<void> {
        co_await loop.schedule();
        CHECK(std::this_thread::get_id() == loop_thread);
        scheduled.fetch_add(1);
    };

    std::thread runner([&] {
        loop_thread = std::this_thread::get_id();
        loop.run();
    });
    while (loop_thread == std::thread::id{}) std::this_thread::yield();

    std::vector<std::thread> posters;
    for (int t = 0; t < threads; ++t) {
        posters.emplace_back([&] {
            for (int i = 0; i < per_thread; ++i) {
                loop.call_soon([&] {
                    CHECK(std::this_thread::get_id() == loop_thread);
                    calls.fetch_add(1);
                });
            }
            for (int i = 0; i < 50; ++i) sync_wait(hop());
        });
    }
    for (auto& p : posters) p.join();
    while (calls.load() < threads * per_thread) std::this_thread::sleep_for(1ms);
    loop.stop();
    runner.join();
    CHECK(calls.load() == threads * per_thread);
    CHECK(scheduled.load() == threads * 50);
}

TEST_CASE("spawned tasks are drained; an escaping exception is rethrown, not lost") {
    io_loop loop;
    int done = 0;
    auto sleeper = [&](int ms) -> task<void> {
        co_await loop.sleep_for(std::chrono::milliseconds(ms));
        ++done;
    };
    for (int i = 0; i < 10; ++i) loop.spawn(sleeper(i));
    CHECK(loop.spawned_live() == 10);
    loop.drain();
    CHECK(done == 10);
    CHECK(loop.spawned_live() == 0);

    auto failing = []() -> task<void> {
        throw std::runtime_error("spawned failure");
        co_return;
    };
    loop.spawn(failing());
    CHECK_THROWS_WITH_AS(loop.drain(), "spawned failure", std::runtime_error);
}

TEST_CASE("stop() from another thread ends run() [threads]") {
    io_loop loop;
    std::thread stopper([&] {
        std::this_thread::sleep_for(10ms);
        loop.stop();
    });
    loop.run(); // blocks in the kernel with nothing to do until stop() wakes it
    stopper.join();
}

TEST_CASE("several loops run at once on their own threads [threads]") {
    constexpr int loops = 3;
    std::vector<std::thread> threads;
    std::atomic<int> finished{0};
    for (int i = 0; i < loops; ++i) {
        threads.emplace_back([&, i] {
            io_loop loop;
            int n = loop.run_until_complete([&]() -> task<int> {
                int count = 0;
                for (int k = 0; k < 20; ++k) {
                    co_await loop.sleep_for(1ms);
                    CHECK(io_loop::current() == &loop);
                    ++count;
                }
                co_return count + i;
            }());
            CHECK(n == 20 + i);
            finished.fetch_add(1);
        });
    }
    for (auto& t : threads) t.join();
    CHECK(finished.load() == loops);
}

TEST_CASE("run_once processes ready work without blocking") {
    io_loop loop;
    int ran = 0;
    loop.call_soon([&] { ++ran; });
    CHECK(loop.run_once());
    CHECK(ran == 1);
    CHECK_FALSE(loop.run_once());
}

}

} // namespace test_io_loop
