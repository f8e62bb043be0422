#include <doctest/doctest.h>

#include <sluice/core/detail/block_pool.hpp>
#include <sluice/core/sync_wait.hpp>
#include <sluice/core/task.hpp>

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_task {

using sluice::sync_wait;
using sluice::task;

namespace {

// Counts live instances, so a test can see whether a coroutine frame holding one was freed.
struct counted {
    static inline int alive = 0;
    static inline int constructed = 0;
    counted() noexcept {
        ++alive;
        ++constructed;
    }
    counted(const counted&) noexcept : counted() {}
    counted(counted&&) noexcept : counted() {}
    counted& operator=(const counted&) = default;
    counted& operator=(counted&&) = default;
    ~counted() { --alive; }
};

struct counted_reset {
    counted_reset() { counted::alive = counted::constructed = 0; }
    ~counted_reset() { CHECK(counted::alive == 0); }
};

task<int> answer() { co_return 42; }

task<int> add_answers() {
    const int a = co_await answer();
    const int b = co_await answer();
    co_return a + b;
}

task<void> set_flag(bool& flag) {
    flag = true;
    co_return;
}

task<int&> ref_to(int& x) { co_return x; }
task<const std::string&> cref_to(const std::string& s) { co_return s; }

task<int> thrower() {
    throw std::runtime_error("boom");
    co_return 0; // NOLINT(unreachable)
}

task<void> void_thrower() {
    throw std::logic_error("void boom");
    co_return;
}

task<std::unique_ptr<int>> make_unique_value(int v) { co_return std::make_unique<int>(v); }

task<int> holds(counted c, bool& ran) {
    (void)c;
    ran = true;
    co_return counted::alive;
}

task<void> trivial() { co_return; }
task<int> trivial_value(int i) { co_return i; }

// The position of the machine stack where it is called from (coroutine locals live in frames instead).
[[gnu::noinline]] std::uintptr_t stack_position() noexcept {
    return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
}

// How far the machine stack grew over `n` synchronously completing awaits (it grows downwards).
task<std::ptrdiff_t> stack_growth(int n) {
    std::uintptr_t first = 0;
    for (int i = 0; i < n; ++i) {
        co_await trivial();
        if (i == 0) first = stack_position();
    }
    co_return static_cast<std::ptrdiff_t>(first - stack_position());
}

// Resumes the awaiting coroutine from a freshly started thread. The thread waits until it has been
// stored, so that the test can join it as soon as the coroutine completes.
struct resume_on_new_thread {
    std::thread* thread;
    std::atomic<bool>* stored;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const {
        std::atomic<bool>* flag = stored;
        *thread = std::thread([h, flag] {
            flag->wait(false, std::memory_order_acquire);
            h.resume();
        });
        flag->store(true, std::memory_order_release);
        flag->notify_one();
    }
    std::thread::id await_resume() const noexcept { return std::this_thread::get_id(); }
};

} // namespace

TEST_SUITE("task") {
    TEST_CASE("a task is lazy: its body runs only when awaited") {
        bool ran = false;
        task<void> t = set_flag(ran);
        CHECK(t.valid());
        CHECK_FALSE(t.done());
        CHECK_FALSE(ran);
        sync_wait(t);
        CHECK(ran);
        CHECK(t.done());
    }

    TEST_CASE("value results, nested awaits") {
        CHECK(sync_wait(answer()) == 42);
        CHECK(sync_wait(add_answers()) == 84);
    }

    TEST_CASE("reference results refer to the original object") {
        int x = 1;
        int& r = sync_wait(ref_to(x));
        CHECK(&r == &x);
        r = 7;
        CHECK(x == 7);

        const std::string s = "hello";
        const std::string& cr = sync_wait(cref_to(s));
        CHECK(&cr == &s);

        auto through = [](int& target) -> task<int> {
            int& inner = co_await ref_to(target);
            inner += 1;
            co_return inner;
        };
        CHECK(sync_wait(through(x)) == 8);
        CHECK(x == 8);
    }

    TEST_CASE("an exception reaches the awaiter") {
        auto catcher = []() -> task<std::string> {
            try {
                co_await thrower();
            } catch (const std::runtime_error& e) {
                co_return e.what();
            }
            co_return "not thrown";
        };
        CHECK(sync_wait(catcher()) == "boom");
        CHECK_THROWS_WITH_AS(sync_wait(thrower()), "boom", std::runtime_error);
        CHECK_THROWS_WITH_AS(sync_wait(void_thrower()), "void boom", std::logic_error);
    }

    TEST_CASE("tasks and their results can be move-only") {
        static_assert(!std::is_copy_constructible_v<task<int>>);
        static_assert(!std::is_copy_assignable_v<task<int>>);
        static_assert(std::is_nothrow_move_constructible_v<task<int>>);

        std::unique_ptr<int> p = sync_wait(make_unique_value(5));
        REQUIRE(p);
        CHECK(*p == 5);

        task<std::unique_ptr<int>> a = make_unique_value(6);
        task<std::unique_ptr<int>> b = std::move(a);
        CHECK_FALSE(a.valid()); // NOLINT(bugprone-use-after-move)
        CHECK(b.valid());
        auto consumer = [](task<std::unique_ptr<int>> t) -> task<int> {
            std::unique_ptr<int> v = co_await std::move(t);
            co_return *v;
        };
        CHECK(sync_wait(consumer(std::move(b))) == 6);
    }

    TEST_CASE("destroying an unstarted task frees its frame") {
        counted_reset guard;
        bool ran = false;
        {
            task<int> t = holds(counted{}, ran);
            CHECK(counted::alive == 1); // the parameter copy lives in the frame
        }
        CHECK(counted::alive == 0);
        CHECK_FALSE(ran);
        CHECK(counted::constructed >= 1);
    }

    TEST_CASE("move assignment frees the frame it replaces; a finished task frees its frame") {
        counted_reset guard;
        bool ran = false;
        task<int> t = holds(counted{}, ran);
        CHECK(counted::alive == 1);
        t = holds(counted{}, ran);
        CHECK(counted::alive == 1);
        CHECK(sync_wait(t) == 1); // its own capture was alive while it ran
        CHECK(ran);
        CHECK(counted::alive == 1); // a finished task still holds its frame...
        t = task<int>{};
        CHECK(counted::alive == 0); // ...until it is destroyed
    }

    TEST_CASE("a million synchronously completing awaits do not grow the stack") {
        // If each await nested a resume, 1000 of them would take tens of KiB. (Where the compiler does
        // not emit symmetric transfer as a tail call, as g++ 12 at -O0/-O1 or under ASan, task falls
        // back to a handshake that keeps the stack flat too.)
        const std::ptrdiff_t growth = sync_wait(stack_growth(1000));
        REQUIRE(growth < 4096);
        auto loop = []() -> task<long> {
            long sum = 0;
            for (int i = 0; i < 1'000'000; ++i) sum += co_await trivial_value(1);
            co_return sum;
        };
        CHECK(sync_wait(loop()) == 1'000'000);
    }

    TEST_CASE("sync_wait: value, lvalue task, void and exceptions") {
        CHECK(sync_wait(answer()) == 42);
        task<int> t = answer();
        int& in_place = sync_wait(t); // an lvalue task yields a reference into its own frame
        CHECK(in_place == 42);
        CHECK(t.done());
        bool ran = false;
        sync_wait(set_flag(ran));
        CHECK(ran);
        CHECK_THROWS_AS(sync_wait(thrower()), std::runtime_error);
    }

    TEST_CASE("sync_wait waits for a task that completes on another thread [threads]") {
        std::thread worker;
        std::atomic<bool> stored{false};
        auto hop = [&]() -> task<std::thread::id> { co_return co_await resume_on_new_thread{&worker, &stored}; };
        const std::thread::id where = sync_wait(hop());
        worker.join();
        CHECK(where != std::this_thread::get_id());
    }
}

TEST_SUITE("block pool") {
    struct tracked {
        static inline int alive = 0;
        std::string text;
        explicit tracked(std::string t) : text(std::move(t)) { ++alive; }
        ~tracked() { --alive; }
    };

    TEST_CASE("allocate_shared objects come back as spares and are reused, up to the bound") {
        sluice::detail::block_pool_owner owner(2);
        sluice::detail::block_pool& pool = owner.get();
        const sluice::detail::pool_allocator<tracked> alloc(pool);
        {
            auto a = std::allocate_shared<tracked>(alloc, "a");
            auto b = std::allocate_shared<tracked>(alloc, "b");
            auto c = std::allocate_shared<tracked>(alloc, "c");
            CHECK(pool.live() == 3);
            CHECK(tracked::alive == 3);
        }
        CHECK(tracked::alive == 0);
        CHECK(pool.live() == 0);
        CHECK(pool.spares() == (SLUICE_FRAME_RECYCLING ? 2U : 0U)); // the third went back to the heap
        auto d = std::allocate_shared<tracked>(alloc, "d");
        CHECK(d->text == "d");
        CHECK(pool.spares() == (SLUICE_FRAME_RECYCLING ? 1U : 0U));
    }

    TEST_CASE("a block of another size passes through to the heap") {
        sluice::detail::block_pool_owner owner(8);
        sluice::detail::block_pool& pool = owner.get();
        void* p = pool.allocate(48);
        void* q = pool.allocate(96);
        pool.deallocate(q, 96);
        CHECK(pool.spares() == 0);
        pool.deallocate(p, 48);
        CHECK(pool.spares() == (SLUICE_FRAME_RECYCLING ? 1U : 0U));
        CHECK(pool.live() == 0);
    }

    TEST_CASE("objects may outlive the pool's owner: the pool goes with the last of them") {
        std::shared_ptr<tracked> survivor;
        {
            sluice::detail::block_pool_owner owner(8);
            const sluice::detail::pool_allocator<tracked> alloc(owner.get());
            survivor = std::allocate_shared<tracked>(alloc, "kept");
            auto dropped = std::allocate_shared<tracked>(alloc, "dropped");
        } // retired with one block live and one spare (freed now)
        CHECK(survivor->text == "kept");
        CHECK(tracked::alive == 1);
        survivor.reset(); // frees the block, then the pool (ASan/LSan would report either leaking)
        CHECK(tracked::alive == 0);
    }
}

} // namespace test_task
