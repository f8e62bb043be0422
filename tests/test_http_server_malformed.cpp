// http::server against raw sockets: a table of malformed, oversized, slow and pipelined requests.
// Each row expects the exact statuses in order, the reason in the last answer, that the server
// closes the connection when the request was refused, and that the next connection is served.

#include <doctest/doctest.h>

#include "support/raw_http.hpp"

#include <sluice/http/router.hpp>
#include <sluice/http/server.hpp>

#include <chrono>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_http_server_malformed {

using namespace sluice;
using namespace std::chrono_literals;
using namespace std::string_literals;
using sluice_test::exchange;
using sluice_test::raw_reply;
using sluice_test::send_options;
using sluice_test::split_responses;

namespace {

http::server_options strict_options() {
    http::server_options o;
    o.limits.max_request_line = 256;
    o.limits.max_header_line = 128;
    o.limits.max_header_bytes = 1024;
    o.limits.max_headers = 12;
    o.limits.max_body_bytes = 64;
    o.header_timeout = 500ms;
    o.body_timeout = 500ms;
    o.idle_timeout = 5s;
    o.linger_timeout = 300ms;
    return o;
}

void test_routes(http::router& routes) {
    routes.get("/hello", [](http::server_request&) -> task<http::server_response> {
        co_return http::server_response::text(200, "hello");
    });
    routes.get("/id/{n}", [](http::server_request& r) -> task<http::server_response> {
        co_return http::server_response::text(200, std::string(r.param("n")));
    });
    routes.post("/echo", [](http::server_request& r) -> task<http::server_response> {
        co_return http::server_response::text(200, r.body);
    });
}

struct row {
    const char* name;
    std::string request;
    std::vector<int> statuses; ///< every answer, in order
    const char* reason;        ///< in the last answer's body ("" when it is not a refusal)
    send_options how{};
};

std::string big(std::size_t n, char c) { return std::string(n, c); }

std::vector<row> table() {
    const std::string host = "Host: test\r\n";
    std::string many_fields;
    for (int i = 0; i < 13; ++i) many_fields += "X-F" + std::to_string(i) + ": v\r\n";
    return {
        {"bad request line", "GARBAGE\r\n\r\n", {400}, "malformed request line"},
        {"HTTP/0.9 request", "GET /hello\r\n\r\n", {400}, "malformed request line"},
        {"unsupported version", "GET /hello HTTP/2.0\r\n" + host + "\r\n", {505}, "HTTP version not supported"},
        {"malformed version", "GET /hello HTTP/1.x\r\n" + host + "\r\n", {400}, "malformed HTTP version"},
        {"space in the target", "GET /he llo HTTP/1.1\r\n" + host + "\r\n", {400}, "malformed HTTP version"},
        {"control in the target", "GET /he\x7fllo HTTP/1.1\r\n" + host + "\r\n", {400}, "invalid character in request target"},
        {"target too long", "GET /" + big(300, 'a') + " HTTP/1.1\r\n" + host + "\r\n", {414}, "request line too long"},
        {"missing Host", "GET /hello HTTP/1.1\r\n\r\n", {400}, "missing Host header"},
        {"duplicate Host", "GET /hello HTTP/1.1\r\n" + host + host + "\r\n", {400}, "more than one Host header"},
        {"bare LF", "GET /hello HTTP/1.1\n" + host + "\n", {400}, "line ends with a bare LF"},
        {"NUL in a value", "GET /hello HTTP/1.1\r\nHost: a\0b\r\n\r\n"s, {400}, "invalid character in header value"},
        {"space before the colon", "GET /hello HTTP/1.1\r\nHost : test\r\n\r\n", {400}, "invalid header name"},
        {"obsolete folding", "GET /hello HTTP/1.1\r\n" + host + "X: a\r\n b\r\n\r\n", {400}, "obsolete line folding"},
        {"oversized header line", "GET /hello HTTP/1.1\r\n" + host + "X-Big: " + big(200, 'v') + "\r\n\r\n", {431}, "header line too long"},
        {"too many headers", "GET /hello HTTP/1.1\r\n" + host + many_fields + "\r\n", {431}, "too many header fields"},
        {"duplicate Content-Length", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 2\r\nContent-Length: 2\r\n\r\nab", {400}, "more than one Content-Length"},
        {"Content-Length and Transfer-Encoding", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n", {400}, "both Content-Length and Transfer-Encoding"},
        {"negative Content-Length", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: -2\r\n\r\nab", {400}, "invalid Content-Length"},
        {"body over the limit", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 65\r\n\r\n" + big(65, 'b'), {413}, "body larger than the limit"},
        {"body longer than its length", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 3\r\n\r\nabcXYZ\r\n\r\n", {200, 400}, "malformed request line"},
        {"body shorter than its length, client closes", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 10\r\n\r\nabc", {400}, "connection closed before the request was complete", {.half_close = true}},
        {"body shorter than its length, client waits", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 10\r\n\r\nabc", {408}, "request not received in time"},
        {"headers never finished", "GET /hello HTTP/1.1\r\n" + host + "X-Partial: abc", {408}, "request not received in time"},
        {"unsupported transfer coding", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n", {501}, "transfer coding not implemented"},
        {"chunked not last", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, identity\r\n\r\n", {400}, "Transfer-Encoding must end with chunked, once"},
        {"invalid chunk size", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nxyz\r\nabc\r\n0\r\n\r\n", {400}, "invalid chunk size"},
        {"chunk size overflow", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n1" + big(16, '0') + "\r\n", {400}, "chunk size overflows"},
        {"chunk longer than its size", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", {400}, "chunk data longer than its size"},
        {"chunked body over the limit", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n20\r\n" + big(32, 'a') + "\r\n21\r\n", {413}, "body larger than the limit"},
        {"unknown expectation", "POST /echo HTTP/1.1\r\n" + host + "Expect: tea\r\nContent-Length: 1\r\n\r\nx", {417}, "unsupported expectation"},
        {"slow malformed client", "GET /hello HTTP/1.1\r\nHost : x\r\n\r\n", {400}, "invalid header name", {.byte_at_a_time = true}},
        {"slow valid client, byte at a time", "GET /hello HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n", {200}, "", {.byte_at_a_time = true}},
        {"pipelined in one packet", "GET /id/1 HTTP/1.1\r\n" + host + "\r\nPOST /echo HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello" + "GET /id/3 HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n", {200, 200, 200}, ""},
        {"chunked body with trailers", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n", {200}, ""},
    };
}

} // namespace

TEST_SUITE("http server malformed") {

TEST_CASE("every malformed request gets its exact status and reason; the next connection is served") {
    io_loop loop;
    http::router routes;
    test_routes(routes);
    http::server server(loop, routes.as_handler(), strict_options());
    const std::vector<row> rows = table();
    std::size_t refused = 0;
    std::size_t timed_out = 0;
    std::size_t served_after = 0;
    auto body = [&]() -> task<void> {
        server.start();
        for (const row& r : rows) {
            INFO(r.name);
            const raw_reply reply = co_await exchange(loop, server.port(), r.request, r.how);
            CHECK(reply.server_closed);
            const auto responses = split_responses(reply.bytes);
            std::vector<int> statuses;
            for (const auto& res : responses) statuses.push_back(res.status);
            CHECK(statuses == r.statuses);
            if (responses.empty()) continue;
            const auto& last = responses.back();
            if (last.status >= 400) {
                CHECK(last.body == "{\"error\":\"" + std::string(r.reason) + "\"}");
                CHECK(last.header("connection") == "close");
                CHECK(last.header("content-type") == "application/json");
                ++(last.status == 408 ? timed_out : refused);
            }
            // The server is still there and serves the next connection.
            const raw_reply next = co_await exchange(loop, server.port(), "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            const auto again = split_responses(next.bytes);
            REQUIRE(again.size() == 1);
            CHECK(again[0].status == 200);
            CHECK(again[0].body == "hello");
            ++served_after;
        }
        co_await server.stop();
    };
    loop.run_until_complete(body());
    loop.drain();
    CHECK(served_after == rows.size());
    CHECK(server.stats().refused == refused);
    CHECK(server.stats().timeouts == timed_out);
    CHECK(timed_out == 2);
    CHECK(server.stats().open == 0);
}

TEST_CASE("pipelined answers come back in order with their own bodies") {
    io_loop loop;
    http::router routes;
    test_routes(routes);
    http::server server(loop, routes.as_handler(), strict_options());
    auto body = [&]() -> task<void> {
        server.start();
        std::string requests;
        const int count = 50;
        for (int i = 0; i < count; ++i) requests += "GET /id/" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n";
        requests += "GET /id/last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        const raw_reply reply = co_await exchange(loop, server.port(), requests);
        CHECK(reply.server_closed);
        const auto responses = split_responses(reply.bytes);
        REQUIRE(responses.size() == count + 1);
        for (int i = 0; i < count; ++i) {
            CHECK(responses[static_cast<std::size_t>(i)].status == 200);
            CHECK(responses[static_cast<std::size_t>(i)].body == std::to_string(i));
        }
        CHECK(responses.back().body == "last");
        co_await server.stop();
    };
    loop.run_until_complete(body());
    loop.drain();
    CHECK(server.stats().requests == 51);
    CHECK(server.stats().accepted == 1);
}

TEST_CASE("a quiet connection is closed after the idle timeout without an answer") {
    io_loop loop;
    http::router routes;
    test_routes(routes);
    http::server_options o = strict_options();
    o.idle_timeout = 200ms;
    http::server server(loop, routes.as_handler(), o);
    auto body = [&]() -> task<void> {
        server.start();
        tcp_stream idle = co_await tcp_stream::connect(loop, "127.0.0.1", server.port());
        const raw_reply nothing = co_await sluice_test::read_until_close(loop, idle);
        CHECK(nothing.server_closed);
        CHECK(nothing.bytes.empty());
        // Kept alive after an answer, then idle: closed the same way.
        tcp_stream kept = co_await tcp_stream::connect(loop, "127.0.0.1", server.port());
        co_await kept.write_all(std::string_view("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
        const raw_reply after = co_await sluice_test::read_until_close(loop, kept);
        CHECK(after.server_closed);
        const auto responses = split_responses(after.bytes);
        REQUIRE(responses.size() == 1);
        CHECK(responses[0].body == "hello");
        CHECK_FALSE(responses[0].header("connection").has_value());
        co_await server.stop();
    };
    loop.run_until_complete(body());
    loop.drain();
    CHECK(server.stats().timeouts == 0); // idle is not a slow request
}

} // TEST_SUITE

} // namespace test_http_server_malformed
