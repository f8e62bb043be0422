#include <doctest/doctest.h>

#include <sluice/core/channel.hpp>
#include <sluice/core/executor.hpp>
#include <sluice/core/sync_wait.hpp>
#include <sluice/core/task.hpp>

#include <atomic>
#include <barrier>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_channel {

using sluice::channel;
using sluice::channel_closed;
using sluice::operation_cancelled;
using sluice::sync_wait;
using sluice::task;

namespace {

// Starts a task by hand (its completion then goes nowhere); the caller keeps it to check done().
template <class T>
void start(task<T>& t) {
    t.handle().resume();
}

// A single-threaded executor driven by hand, standing in for an io loop.
class channel_home final : public sluice::executor {
public:
    void post(std::coroutine_handle<> h) override {
        std::lock_guard lock(mutex_);
        queue_.push_back(h);
    }
    template <class T>
    void start_here(task<T>& t) {
        sluice::detail::executor_scope scope(this);
        t.handle().resume();
    }
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

template <class T>
task<void> send_all(channel<T>& ch, std::vector<T> values, int& sent) {
    for (auto& v : values) {
        co_await ch.send(std::move(v));
        ++sent;
    }
}

template <class T>
task<std::optional<T>> receive_one(channel<T>& ch, std::stop_token token = {}) {
    co_return co_await ch.receive(std::move(token));
}

// What became of a send: 1 sent, 2 cancelled, 3 closed.
task<int> send_outcome(channel<int>& ch, int v, std::stop_token token = {}) {
    try {
        co_await ch.send(v, std::move(token));
        co_return 1;
    } catch (const operation_cancelled&) {
        co_return 2;
    } catch (const channel_closed&) {
        co_return 3;
    }
}

std::vector<int> drain(channel<int>& ch) {
    std::vector<int> out;
    while (auto v = ch.try_receive()) out.push_back(*v);
    return out;
}

} // namespace

TEST_SUITE("channel") {
    TEST_CASE("values come out in the order they went in") {
        channel<int> ch(4);
        CHECK(ch.capacity() == 4);
        CHECK(ch.size() == 0);
        for (int i = 1; i <= 4; ++i) sync_wait(ch.send(i));
        CHECK(ch.size() == 4);
        for (int i = 1; i <= 4; ++i) CHECK(sync_wait(ch.receive()) == i);
        CHECK(ch.size() == 0);
        // Wrapping around the ring.
        for (int round = 0; round < 10; ++round) {
            sync_wait(ch.send(round));
            sync_wait(ch.send(round + 100));
            CHECK(sync_wait(ch.receive()) == round);
            CHECK(sync_wait(ch.receive()) == round + 100);
        }
    }

    TEST_CASE("a capacity of zero is rejected") { CHECK_THROWS_AS(channel<int>(0), std::invalid_argument); }

    TEST_CASE("send suspends while the channel is full: backpressure") {
        channel<int> ch(2);
        int sent = 0;
        task<void> sender = send_all(ch, std::vector<int>{1, 2, 3, 4, 5}, sent);
        start(sender);
        CHECK(sent == 2);
        CHECK(ch.size() == 2);
        CHECK_FALSE(sender.done());

        CHECK(ch.try_receive() == 1); // makes room: the waiting sender's 3 moves in
        CHECK(sent == 3);
        CHECK(ch.size() == 2);

        std::vector<int> got;
        for (int i = 0; i < 4; ++i) got.push_back(*sync_wait(ch.receive()));
        CHECK(got == std::vector<int>{2, 3, 4, 5});
        CHECK(sender.done());
        CHECK(sent == 5);
        CHECK(ch.size() == 0);
    }

    TEST_CASE("a waiting receiver gets the value straight from the sender") {
        channel<std::string> ch(1);
        task<std::optional<std::string>> receiver = receive_one(ch);
        start(receiver);
        CHECK_FALSE(receiver.done());
        sync_wait(ch.send("direct"));
        REQUIRE(receiver.done());
        CHECK(ch.size() == 0);
        CHECK(sync_wait(receiver) == "direct");

        task<std::optional<std::string>> second = receive_one(ch);
        start(second);
        std::string s = "via try_send";
        CHECK(ch.try_send(std::move(s)));
        REQUIRE(second.done());
        CHECK(sync_wait(second) == "via try_send");
        CHECK(ch.size() == 0);
    }

    TEST_CASE("try_send moves from its argument only when it succeeds") {
        channel<std::unique_ptr<int>> ch(1);
        auto first = std::make_unique<int>(1);
        auto second = std::make_unique<int>(2);
        CHECK(ch.try_send(std::move(first)));
        CHECK(first == nullptr); // NOLINT(bugprone-use-after-move)
        CHECK_FALSE(ch.try_send(std::move(second)));
        REQUIRE(second != nullptr); // NOLINT(bugprone-use-after-move)
        CHECK(*second == 2);
        ch.close();
        std::optional<std::unique_ptr<int>> got = ch.try_receive();
        REQUIRE(got.has_value());
        CHECK(**got == 1);
        CHECK_FALSE(ch.try_send(std::move(second))); // closed
        CHECK(second != nullptr);
    }

    TEST_CASE("try_receive takes from the buffer and lets a waiting sender in") {
        channel<int> ch(1);
        CHECK_FALSE(ch.try_receive().has_value());
        int sent = 0;
        task<void> sender = send_all(ch, std::vector<int>{1, 2}, sent);
        start(sender);
        CHECK(sent == 1);
        CHECK(ch.try_receive() == 1);
        CHECK(sender.done());
        CHECK(ch.try_receive() == 2);
        CHECK_FALSE(ch.try_receive().has_value());
    }

    TEST_CASE("move-only values pass through every path") {
        channel<std::unique_ptr<int>> ch(1);
        auto receiver = [](channel<std::unique_ptr<int>>& c) -> task<int> {
            auto v = co_await c.receive();
            co_return v && *v ? **v : -1;
        };
        task<int> r = receiver(ch);
        start(r); // waits
        sync_wait(ch.send(std::make_unique<int>(10))); // straight to the receiver
        CHECK(sync_wait(r) == 10);

        sync_wait(ch.send(std::make_unique<int>(11))); // buffered
        int sent = 0;
        std::vector<std::unique_ptr<int>> more;
        more.push_back(std::make_unique<int>(12));
        task<void> sender = send_all(ch, std::move(more), sent);
        start(sender); // waits
        CHECK(**sync_wait(ch.receive()) == 11);
        CHECK(sender.done());
        CHECK(**sync_wait(ch.receive()) == 12);
    }

    TEST_CASE("close: receivers drain the buffer, then get nullopt; sends throw channel_closed") {
        channel<int> ch(3);
        sync_wait(ch.send(1));
        sync_wait(ch.send(2));
        CHECK_FALSE(ch.closed());
        ch.close();
        ch.close(); // idempotent
        CHECK(ch.closed());
        CHECK_THROWS_AS(sync_wait(ch.send(3)), channel_closed);
        CHECK(sync_wait(ch.receive()) == 1);
        CHECK(sync_wait(ch.receive()) == 2);
        CHECK_FALSE(sync_wait(ch.receive()).has_value());
        CHECK_FALSE(sync_wait(ch.receive()).has_value());
    }

    TEST_CASE("close wakes waiting senders with channel_closed and waiting receivers with nullopt") {
        channel<int> full(1);
        sync_wait(full.send(0));
        task<int> s1 = send_outcome(full, 1);
        task<int> s2 = send_outcome(full, 2);
        start(s1);
        start(s2);
        CHECK_FALSE(s1.done());

        channel<int> empty(1);
        task<std::optional<int>> r1 = receive_one(empty);
        task<std::optional<int>> r2 = receive_one(empty);
        start(r1);
        start(r2);
        CHECK_FALSE(r1.done());

        full.close();
        REQUIRE(s1.done());
        REQUIRE(s2.done());
        CHECK(sync_wait(s1) == 3);
        CHECK(sync_wait(s2) == 3);
        CHECK(drain(full) == std::vector<int>{0}); // the buffered value is still there; theirs are not

        empty.close();
        REQUIRE(r1.done());
        REQUIRE(r2.done());
        CHECK_FALSE(sync_wait(r1).has_value());
        CHECK_FALSE(sync_wait(r2).has_value());
    }

    TEST_CASE("a stop token cancels a waiting send or receive, and only that one") {
        channel<int> ch(1);
        sync_wait(ch.send(0));
        std::stop_source src;
        task<int> cancelled_send = send_outcome(ch, 1, src.get_token());
        task<int> plain_send = send_outcome(ch, 2);
        start(cancelled_send);
        start(plain_send);
        src.request_stop();
        REQUIRE(cancelled_send.done());
        CHECK(sync_wait(cancelled_send) == 2);
        CHECK_FALSE(plain_send.done());
        CHECK(drain(ch) == std::vector<int>{0, 2}); // 1 was never sent
        CHECK(sync_wait(plain_send) == 1);

        std::stop_source rsrc;
        task<std::optional<int>> cancelled_receive = receive_one(ch, rsrc.get_token());
        start(cancelled_receive);
        rsrc.request_stop();
        REQUIRE(cancelled_receive.done());
        CHECK_THROWS_AS(sync_wait(cancelled_receive), operation_cancelled);
        sync_wait(ch.send(5)); // not handed to the cancelled receiver
        CHECK(ch.size() == 1);

        // A stopped token fails only what would have to wait.
        CHECK(sync_wait(receive_one(ch, rsrc.get_token())) == 5);
        CHECK_THROWS_AS(sync_wait(receive_one(ch, rsrc.get_token())), operation_cancelled);
        CHECK(sync_wait(send_outcome(ch, 6, rsrc.get_token())) == 1);
        CHECK(sync_wait(send_outcome(ch, 7, rsrc.get_token())) == 2);
    }

    TEST_CASE("waiters are resumed on their home executor") {
        channel_home home;
        channel<int> ch(1);
        sync_wait(ch.send(0));
        task<int> sender = send_outcome(ch, 1);
        home.start_here(sender);
        CHECK(ch.try_receive() == 0); // takes the sender's value in, posts the sender home
        CHECK(ch.size() == 1);
        CHECK_FALSE(sender.done());
        CHECK(home.run_pending() == 1);
        CHECK(sender.done());
        CHECK(drain(ch) == std::vector<int>{1});

        task<std::optional<int>> receiver = receive_one(ch);
        home.start_here(receiver);
        CHECK(ch.try_send(9));
        CHECK_FALSE(receiver.done());
        CHECK(home.run_pending() == 1);
        CHECK(sync_wait(receiver) == 9);
    }

    TEST_CASE("4 producers, 4 consumers: every value arrives exactly once, in order per producer [threads]") {
        constexpr int producers = 4, consumers = 4, per_producer = 5'000;
        channel<int> ch(8);
        std::vector<std::vector<int>> received(consumers);
        auto produce = [&](int p) -> task<void> {
            for (int i = 0; i < per_producer; ++i) co_await ch.send(p * per_producer + i);
        };
        auto consume = [&](int c) -> task<void> {
            while (std::optional<int> v = co_await ch.receive()) received[static_cast<std::size_t>(c)].push_back(*v);
        };
        std::vector<std::thread> consumer_threads, producer_threads;
        for (int c = 0; c < consumers; ++c) consumer_threads.emplace_back([&, c] { sync_wait(consume(c)); });
        for (int p = 0; p < producers; ++p) producer_threads.emplace_back([&, p] { sync_wait(produce(p)); });
        for (auto& t : producer_threads) t.join();
        ch.close();
        for (auto& t : consumer_threads) t.join();

        std::vector<int> seen(producers * per_producer, 0);
        int out_of_order = 0;
        for (const auto& values : received) {
            std::vector<int> last(producers, -1);
            for (int v : values) {
                ++seen[static_cast<std::size_t>(v)];
                int& prev = last[static_cast<std::size_t>(v / per_producer)];
                out_of_order += v <= prev;
                prev = v;
            }
        }
        int wrong = 0;
        for (int count : seen) wrong += count != 1;
        CHECK(wrong == 0);
        CHECK(out_of_order == 0);
        CHECK(ch.size() == 0);
    }

    TEST_CASE("a receive racing a stop: the waiting send goes in or is cancelled, never both [threads]") {
        struct state {
            channel<int> ch{1};
            std::stop_source src;
            int outcome = 0;
            std::optional<int> taken;
        };
        int bad = 0;
        std::unique_ptr<state> s;
        std::barrier sync(4);
        constexpr int rounds = 1000;
        auto loop = [&](auto f) {
            return std::thread([&, f] {
                for (int i = 0; i < rounds; ++i) {
                    sync.arrive_and_wait();
                    f(*s);
                    sync.arrive_and_wait();
                }
            });
        };
        std::thread sender = loop([](state& st) { st.outcome = sync_wait(send_outcome(st.ch, 1, st.src.get_token())); });
        std::thread receiver = loop([](state& st) { st.taken = st.ch.try_receive(); });
        std::thread stopper = loop([](state& st) { st.src.request_stop(); });
        for (int i = 0; i < rounds; ++i) {
            s = std::make_unique<state>();
            REQUIRE(s->ch.try_send(0)); // full, so the send has to wait (or give up at once)
            sync.arrive_and_wait();
            sync.arrive_and_wait();
            const std::vector<int> rest = drain(s->ch);
            const bool ok = s->taken == 0 &&
                            ((s->outcome == 1 && rest == std::vector<int>{1}) || (s->outcome == 2 && rest.empty()));
            bad += !ok;
            s.reset();
        }
        sender.join();
        receiver.join();
        stopper.join();
        CHECK(bad == 0);
    }
}

} // namespace test_channel

