// tcp_listener and tcp_stream: bytes both ways, end of stream, partial writes, gathered writes,
// refused/unresolvable/timed-out/cancelled connects, cancelled accepts and reads, a peer that went
// away, address errors, IPv6. The binary runs once per io backend (SLUICE_IO_BACKEND).

#include <doctest/doctest.h>

#include "support/http_server.hpp"

#include <sluice/core/when_all.hpp>
#include <sluice/io/socket.hpp>

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_tcp_socket {

using namespace sluice;
using namespace std::chrono_literals;

namespace {

/// Reads until end of stream.
task<std::string> read_to_end(tcp_stream& s, std::size_t chunk = 4096) {
    std::string got;
    std::vector<char> buf(chunk);
    for (;;) {
        const std::size_t n = co_await s.read_some(std::span<char>(buf));
        if (n == 0) break;
        got.append(buf.data(), n);
    }
    co_return got;
}

/// A byte pattern that shows misplaced or missing bytes, not only a wrong count.
std::string pattern(std::size_t size, std::uint32_t seed) {
    std::string out(size, '\0');
    std::uint32_t x = seed;
    for (auto& c : out) {
        x = x * 1664525u + 1013904223u;
        c = static_cast<char>(x >> 24);
    }
    return out;
}

/// Requests stop on `source` after `delay`.
task<void> stop_after(io_loop& loop, std::chrono::milliseconds delay, std::stop_source& source) {
    co_await loop.sleep_for(delay);
    source.request_stop();
}

template <class T>
T run(io_loop& loop, task<T> t) {
    return loop.run_until_complete(std::move(t));
}

} // namespace

TEST_SUITE("tcp socket") {

TEST_CASE("a listener binds 127.0.0.1 on an ephemeral port; bytes go both ways; shutdown_write ends the peer's stream") {
    io_loop loop;
    tcp_listener listener(loop);
    REQUIRE(listener.port() != 0);
    CHECK(listener.address() == "127.0.0.1:" + std::to_string(listener.port()));

    std::string client_seen_peer;
    auto server = [&]() -> task<std::string> {
        tcp_stream s = co_await listener.accept();
        CHECK(s.peer_address().rfind("127.0.0.1:", 0) == 0);
        std::string got = co_await read_to_end(s, 7); // small reads: many of them
        std::string reply = "echo:" + got;
        co_await s.write_all(reply);
        s.shutdown_write();
        co_return got;
    };
    auto client = [&]() -> task<std::string> {
        tcp_stream c = co_await tcp_stream::connect(loop, "127.0.0.1", listener.port());
        client_seen_peer = c.peer_address();
        int nodelay = 0;
        socklen_t len = sizeof nodelay;
        ::getsockopt(c.native_handle(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len);
        CHECK(nodelay != 0);
        const std::string message = "hello over tcp, in more than one read";
        co_await c.write_all(message);
        c.shutdown_write();
        co_return co_await read_to_end(c);
    };
    auto both = [&]() -> task<std::tuple<std::string, std::string>> { co_return co_await when_all(server(), client()); };
    auto [server_got, client_got] = run(loop, both());
    CHECK(server_got == "hello over tcp, in more than one read");
    CHECK(client_got == "echo:hello over tcp, in more than one read");
    CHECK(client_seen_peer == listener.address());
}

TEST_CASE("write_all sends every byte through partial writes; the gathered form keeps piece order") {
    io_loop loop;
    tcp_listener listener(loop);
    const std::string big = pattern(16u << 20, 7); // more than both socket buffers hold
    // 40 pieces (more than one sendmsg takes), some empty, some larger than a socket buffer.
    std::vector<std::string> owned;
    for (int i = 0; i < 40; ++i) owned.push_back(pattern(i % 5 == 0 ? 0 : static_cast<std::size_t>(i) * 9973, 100u + static_cast<std::uint32_t>(i)));
    owned[7] = pattern(1u << 20, 55);
    std::vector<std::string_view> pieces(owned.begin(), owned.end());
    std::string joined;
    for (const auto& p : owned) joined += p;

    auto server = [&]() -> task<std::string> {
        tcp_stream s = co_await listener.accept();
        co_await loop.sleep_for(20ms); // the writer fills the buffers and has to wait
        co_return co_await read_to_end(s, 3000);
    };
    auto client = [&]() -> task<void> {
        tcp_stream c = co_await tcp_stream::connect(loop, "127.0.0.1", listener.port());
        co_await c.write_all(std::as_bytes(std::span(big)));
        co_await c.write_all(std::span<const std::string_view>(pieces));
        c.shutdown_write();
    };
    auto both = [&]() -> task<std::string> {
        auto [got, done] = co_await when_all(server(), client());
        (void)done;
        co_return got;
    };
    const std::string got = run(loop, both());
    REQUIRE(got.size() == big.size() + joined.size());
    CHECK(got.compare(0, big.size(), big) == 0);
    CHECK(got.compare(big.size(), joined.size(), joined) == 0);
}

TEST_CASE("connect: refused, a host name, localhost, a timeout, a cancellation") {
    io_loop loop;

    SUBCASE("refused: the error names the address") {
        const std::uint16_t port = sluice_test::unused_port();
        try {
            run(loop, tcp_stream::connect(loop, "127.0.0.1", port));
            FAIL("connect succeeded");
        } catch (const std::system_error& e) {
            CHECK(e.code() == std::error_code(ECONNREFUSED, std::system_category()));
            CHECK(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
        }
    }
    SUBCASE("a host name is refused at once, never resolved on the loop") {
        try {
            run(loop, tcp_stream::connect(loop, "example.invalid", 80));
            FAIL("connect succeeded");
        } catch (const std::system_error& e) {
            CHECK(e.code() == std::errc::invalid_argument);
            CHECK(std::string(e.what()).find("'example.invalid' is not an IP address literal") != std::string::npos);
        }
    }
    SUBCASE("localhost and a bracketed literal are loopback") {
        tcp_listener listener(loop);
        auto go = [&]() -> task<void> {
            tcp_stream a = co_await tcp_stream::connect(loop, "localhost", listener.port());
            tcp_stream b = co_await tcp_stream::connect(loop, "[127.0.0.1]", listener.port());
            CHECK(a.peer_address() == listener.address());
            CHECK(b.is_open());
        };
        run(loop, go());
    }
    SUBCASE("a listener whose queue is full drops the handshake: timeout, then cancellation") {
        listen_options o;
        o.backlog = 0; // one queued connection; further SYNs are dropped while nobody accepts
        tcp_listener listener(loop, o);
        std::vector<tcp_stream> queued;
        auto go = [&]() -> task<void> {
            bool timed_out = false;
            for (int i = 0; i < 6 && !timed_out; ++i) {
                try {
                    queued.push_back(co_await tcp_stream::connect(loop, "127.0.0.1", listener.port(), 300ms));
                } catch (const std::system_error& e) {
                    CHECK(e.code() == std::errc::timed_out);
                    CHECK(std::string(e.what()).find("timed out after 300 ms") != std::string::npos);
                    timed_out = true;
                }
            }
            REQUIRE(timed_out);
            CHECK(queued.size() >= 1);

            std::stop_source stop;
            async_scope scope;
            scope.spawn(stop_after(loop, 50ms, stop));
            bool cancelled = false;
            try {
                co_await tcp_stream::connect(loop, "127.0.0.1", listener.port(), 10s, stop.get_token());
            } catch (const operation_cancelled&) {
                cancelled = true;
            }
            co_await scope.join();
            CHECK(cancelled);
        };
        run(loop, go());
    }
}

TEST_CASE("accept and read_some end with operation_cancelled when their token fires; the stream stays usable") {
    io_loop loop;
    tcp_listener listener(loop);
    auto go = [&]() -> task<void> {
        std::stop_source stop_accept;
        async_scope scope;
        scope.spawn(stop_after(loop, 30ms, stop_accept));
        bool cancelled = false;
        try {
            co_await listener.accept(stop_accept.get_token());
        } catch (const operation_cancelled&) {
            cancelled = true;
        }
        CHECK(cancelled);

        tcp_stream client = co_await tcp_stream::connect(loop, "127.0.0.1", listener.port());
        tcp_stream server = co_await listener.accept();
        std::stop_source stop_read;
        scope.spawn(stop_after(loop, 30ms, stop_read));
        char buf[16];
        cancelled = false;
        try {
            co_await server.read_some(std::span<char>(buf), stop_read.get_token());
        } catch (const operation_cancelled&) {
            cancelled = true;
        }
        CHECK(cancelled);
        co_await client.write_all(std::string_view("after"));
        const std::size_t n = co_await server.read_some(std::span<char>(buf));
        CHECK(std::string_view(buf, n) == "after");
        co_await scope.join();
    };
    run(loop, go());
}

TEST_CASE("writing to a peer that reset the connection is a system_error, not SIGPIPE") {
    io_loop loop;
    tcp_listener listener(loop);
    auto go = [&]() -> task<void> {
        tcp_stream client = co_await tcp_stream::connect(loop, "127.0.0.1", listener.port());
        {
            tcp_stream server = co_await listener.accept();
            linger l{1, 0}; // close with RST
            ::setsockopt(server.native_handle(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        const std::string block(64 * 1024, 'x');
        bool failed = false;
        for (int i = 0; i < 100 && !failed; ++i) {
            try {
                co_await client.write_all(block);
            } catch (const std::system_error& e) {
                failed = true;
                CHECK((e.code().value() == EPIPE || e.code().value() == ECONNRESET));
                CHECK(std::string(e.what()).find("tcp: write to 127.0.0.1:") != std::string::npos);
            }
        }
        CHECK(failed);
        char buf[8];
        bool read_failed = false;
        try {
            co_await client.read_some(std::span<char>(buf)); // reset or end of stream, never a hang
        } catch (const std::system_error&) {
            read_failed = true;
        }
        (void)read_failed;
    };
    run(loop, go());
}

TEST_CASE("listen: an address in use and a host name are clear errors") {
    io_loop loop;
    tcp_listener first(loop);
    listen_options same;
    same.port = first.port();
    try {
        tcp_listener second(loop, same);
        FAIL("a second listener bound the same port");
    } catch (const std::system_error& e) {
        CHECK(e.code() == std::error_code(EADDRINUSE, std::system_category()));
        CHECK(std::string(e.what()).find("listen on 127.0.0.1:" + std::to_string(first.port())) != std::string::npos);
    }
    listen_options named;
    named.address = "my-host";
    CHECK_THROWS_AS(tcp_listener(loop, named), std::system_error);
}

TEST_CASE("IPv6 loopback, where the machine has it") {
    io_loop loop;
    listen_options o;
    o.address = "::1";
    std::optional<tcp_listener> listener;
    try {
        listener.emplace(loop, o);
    } catch (const std::system_error& e) {
        MESSAGE("no IPv6 loopback here: " << e.what());
        return;
    }
    CHECK(listener->address() == "[::1]:" + std::to_string(listener->port()));
    auto go = [&]() -> task<std::string> {
        tcp_stream c = co_await tcp_stream::connect(loop, "[::1]", listener->port());
        tcp_stream s = co_await listener->accept();
        CHECK(s.peer_address().rfind("[::1]:", 0) == 0);
        co_await c.write_all(std::string_view("six"));
        c.shutdown_write();
        co_return co_await read_to_end(s);
    };
    CHECK(run(loop, go()) == "six");
}

} // TEST_SUITE

} // namespace test_tcp_socket
