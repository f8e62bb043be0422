// http::server with sluice's own libcurl client and raw sockets: JSON bodies through the router,
// keep-alive, concurrency counted by id, HEAD/OPTIONS/404/405, Expect: 100-continue, handler
// failures, chunked and server-sent-event streams (ended by the client going away), HTTP/1.0,
// graceful stop (in-flight answered, idle closed, grace running out), the connection limit.

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL && SLUICE_HAS_SIMDJSON

#include "support/http_server.hpp"
#include "support/raw_http.hpp"

#include <sluice/core/when_all.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/json_body.hpp>
#include <sluice/http/router.hpp>
#include <sluice/http/server.hpp>

#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_http_server {

using namespace sluice;
using namespace std::chrono_literals;
using sluice_test::exchange;
using sluice_test::raw_reply;
using sluice_test::split_responses;

namespace {

/// What the test routes saw, for the checks.
struct observed {
    int events_sent = 0;
    bool events_ended_by_stop = false;
    bool slow_cancelled = false;
    int slow_started = 0;
};

/// The routes every test here serves.
void add_routes(http::router& routes, io_loop& loop, http::json_body_parser& json, observed& seen) {
    routes.post("/minifirehoses/{name}/message", [&json](http::server_request& r) -> task<http::server_response> {
        auto body = json.parse(r);
        if (!body) co_return body.refusal();
        std::int64_t id = -1;
        if (body.value()["id"].get(id) != simdjson::SUCCESS) co_return http::server_response::error(422, "no id");
        std::string answer = "{\"accepted\":1,\"name\":\"" + std::string(r.param("name")) + "\",\"id\":" + std::to_string(id) + "}";
        co_return http::server_response::json(202, std::move(answer));
    });
    routes.get("/hello", [](http::server_request&) -> task<http::server_response> {
        co_return http::server_response::text(200, "hello");
    });
    routes.get("/query", [](http::server_request& r) -> task<http::server_response> {
        co_return http::server_response::text(200, r.query_param("q").value_or("none"));
    });
    routes.post("/echo", [](http::server_request& r) -> task<http::server_response> {
        co_return http::server_response::text(200, r.body);
    });
    routes.get("/big", [](http::server_request&) -> task<http::server_response> {
        co_return http::server_response::text(200, std::string(8u << 20, 'b'));
    });
    routes.get("/throw", [](http::server_request&) -> task<http::server_response> {
        throw std::runtime_error("boom in the handler");
        co_return http::server_response::text(200, "unreachable");
    });
    routes.get("/bad-header", [](http::server_request&) -> task<http::server_response> {
        co_return http::server_response::text(200, "x").add_header("X-Injected", "a\r\nSet-Cookie: evil=1");
    });
    routes.get("/slow", [&loop, &seen](http::server_request& r) -> task<http::server_response> {
        ++seen.slow_started;
        const auto ms = std::stoi(r.query_param("ms").value_or("100"));
        try {
            co_await loop.sleep_for(std::chrono::milliseconds(ms), r.stop);
        } catch (const operation_cancelled&) {
            seen.slow_cancelled = true;
            throw;
        }
        co_return http::server_response::text(200, "slow");
    });
    routes.get("/stream", [&loop](http::server_request&) -> task<http::server_response> {
        http::server_response res;
        res.headers.push_back({"Content-Type", "text/plain"});
        res.stream = [&loop](http::response_stream& out) -> task<void> {
            for (int i = 0; i < 5; ++i) {
                const std::string part = "part-" + std::to_string(i) + ";";
                co_await out.write(part);
                co_await loop.sleep_for(2ms, out.stop_token());
            }
        };
        co_return res;
    });
    routes.get("/events", [&seen](http::server_request&) -> task<http::server_response> {
        co_return http::server_response::event_stream([&seen](http::response_stream& out) -> task<void> {
            try {
                for (int i = 0;; ++i) {
                    const std::string data = std::to_string(i);
                    const std::string id = "e" + data;
                    co_await out.send_event(data, "tick", id);
                    ++seen.events_sent;
                    co_await out.loop().sleep_for(5ms, out.stop_token());
                }
            } catch (const operation_cancelled&) {
                seen.events_ended_by_stop = out.stop_requested();
                throw;
            }
        });
    });
}

/// A loop, the routes and a server with `options`; `body` runs once the server started, the server
/// stops afterwards whatever happened.
struct harness {
    io_loop loop;
    http::json_body_parser json;
    observed seen;
    http::router routes;
    std::optional<http::server> server;

    explicit harness(http::server_options options = {}) {
        add_routes(routes, loop, json, seen);
        server.emplace(loop, routes.as_handler(), std::move(options));
    }

    void run(std::function<task<void>()> body) {
        auto main = [&]() -> task<void> {
            server->start();
            std::exception_ptr failed;
            try {
                co_await body();
            } catch (...) {
                failed = std::current_exception();
            }
            co_await server->stop(1s);
            if (failed) std::rethrow_exception(failed);
        };
        loop.run_until_complete(main());
        loop.drain();
    }
};

/// The routes and a server that the test starts itself.
struct harness_without_start {
    io_loop loop;
    http::json_body_parser json;
    observed seen;
    http::router routes;
    std::optional<http::server> server;
    harness_without_start() {
        add_routes(routes, loop, json, seen);
        server.emplace(loop, routes.as_handler());
    }
};

http::request post_json(std::string url, const std::string& body) {
    http::request r;
    r.method = "POST";
    r.url = std::move(url);
    r.body = body;
    r.headers.push_back({"Content-Type", "application/json"});
    return r;
}

task<void> send_one(http::client& client, std::string url, int id, std::set<int>& answered, std::vector<std::string>& errors) {
    const std::string body = "{\"id\":" + std::to_string(id) + ",\"payload\":\"x\"}";
    const auto res = co_await client.request(post_json(url, body));
    if (!res.is_ok()) {
        errors.push_back(res.get_error().what());
        co_return;
    }
    const std::string expected = "{\"accepted\":1,\"name\":\"orders\",\"id\":" + std::to_string(id) + "}";
    if (res.value().status == 202 && res.value().body == expected)
        answered.insert(id);
    else
        errors.push_back(std::to_string(res.value().status) + " " + res.value().body);
}

} // namespace

TEST_SUITE("http server") {

TEST_CASE("JSON bodies through the router over one kept-alive connection, each answer checked by id") {
    harness h;
    CHECK(h.server->address().rfind("127.0.0.1:", 0) == 0); // loopback unless told otherwise
    std::set<int> answered;
    std::vector<std::string> errors;
    h.run([&]() -> task<void> {
        http::client client(h.loop);
        const std::string url = h.server->url() + "/minifirehoses/orders/message";
        for (int id = 0; id < 100; ++id) co_await send_one(client, url, id, answered, errors);

        const auto bad_json = co_await client.request(post_json(url, "{\"id\":"));
        CHECK(bad_json.value().status == 400);
        CHECK(bad_json.value().body.find("body is not valid JSON") != std::string::npos);
        http::request text = post_json(url, "{\"id\":1}");
        text.headers[0].value = "text/plain";
        const auto wrong_type = co_await client.request(text);
        CHECK(wrong_type.value().status == 415);
        const auto no_id = co_await client.request(post_json(url, "{}"));
        CHECK(no_id.value().status == 422);

        http::request q;
        q.url = h.server->url() + "/query?q=a+b%26c";
        CHECK((co_await client.request(q)).value().body == "a b&c");
    });
    CHECK(errors.empty());
    CHECK(answered.size() == 100);
    CHECK(*answered.begin() == 0);
    CHECK(*answered.rbegin() == 99);
    CHECK(h.server->stats().accepted == 1);
    CHECK(h.server->stats().requests == 104);
}

TEST_CASE("300 concurrent requests over 16 connections: every id answered once") {
    harness h;
    std::set<int> answered;
    std::vector<std::string> errors;
    h.run([&]() -> task<void> {
        http::client_options o;
        o.max_requests_per_host = 16;
        http::client client(h.loop, o);
        std::vector<task<void>> all;
        for (int id = 0; id < 300; ++id)
            all.push_back(send_one(client, h.server->url() + "/minifirehoses/orders/message", id, answered, errors));
        co_await when_all(std::move(all));
    });
    CHECK(errors.empty());
    CHECK(answered.size() == 300);
    CHECK(h.server->stats().requests == 300);
}

TEST_CASE("404, 405 with Allow, HEAD without a body, OPTIONS, HTTP/1.0 keep-alive") {
    harness h;
    h.run([&]() -> task<void> {
        const std::string requests =
            "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n"
            "DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n"
            "PUT /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
            "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"
            "OPTIONS /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        auto responses = split_responses((co_await exchange(h.loop, h.server->port(), requests)).bytes, std::vector<std::size_t>(1, 3));
        REQUIRE(responses.size() == 5);
        CHECK(responses[0].status == 404);
        CHECK(responses[0].body == "{\"error\":\"no such resource\"}");
        CHECK(responses[1].status == 501); // no route uses DELETE
        CHECK(responses[2].status == 501);
        CHECK(responses[3].status == 200);
        CHECK(responses[3].header("content-length") == "5");
        CHECK(responses[3].body.empty());
        CHECK(responses[4].status == 204);
        CHECK(responses[4].header("allow") == "GET, HEAD, OPTIONS");

        const std::string methods = "POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        responses = split_responses((co_await exchange(h.loop, h.server->port(), methods)).bytes);
        REQUIRE(responses.size() == 1);
        CHECK(responses[0].status == 405);
        CHECK(responses[0].header("allow") == "GET, HEAD, OPTIONS");

        const std::string http10 = "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /hello HTTP/1.0\r\n\r\n";
        const raw_reply reply = co_await exchange(h.loop, h.server->port(), http10);
        CHECK(reply.server_closed);
        responses = split_responses(reply.bytes);
        REQUIRE(responses.size() == 2);
        CHECK(responses[0].header("connection") == "keep-alive");
        CHECK(responses[1].header("connection") == "close");
        CHECK(responses[1].body == "hello");
        CHECK(responses[1].header("date").has_value());
        CHECK(responses[1].header("server") == "sluice/" SLUICE_VERSION_STRING);
    });
}

TEST_CASE("Expect: 100-continue: the interim answer before the body, none when over the limit") {
    http::server_options o;
    o.limits.max_body_bytes = 100;
    harness h(o);
    h.run([&]() -> task<void> {
        tcp_stream s = co_await tcp_stream::connect(h.loop, "127.0.0.1", h.server->port());
        co_await s.write_all(std::string_view("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                                              "Content-Length: 7\r\nConnection: close\r\n\r\n"));
        std::string interim;
        char buf[256];
        while (interim.find("\r\n\r\n") == std::string::npos) {
            const std::size_t n = co_await s.read_some(std::span<char>(buf));
            REQUIRE(n > 0);
            interim.append(buf, n);
        }
        CHECK(interim == "HTTP/1.1 100 Continue\r\n\r\n");
        co_await s.write_all(std::string_view("payload"));
        const auto final_answer = split_responses((co_await sluice_test::read_until_close(h.loop, s)).bytes);
        REQUIRE(final_answer.size() == 1);
        CHECK(final_answer[0].body == "payload");

        const auto too_big = split_responses((co_await exchange(h.loop, h.server->port(),
            "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n")).bytes);
        REQUIRE(too_big.size() == 1);
        CHECK(too_big[0].status == 413);
    });
}

TEST_CASE("a failing handler gets 500 and is logged without the body; the connection carries on") {
    std::vector<std::string> lines;
    logger log(log_options{}, [&lines](const log_record& r) { lines.push_back(std::string(r.message)); });
    http::server_options o;
    o.log = &log;
    harness h(o);
    h.run([&]() -> task<void> {
        http::client client(h.loop);
        http::request r;
        r.url = h.server->url() + "/throw";
        const auto thrown = co_await client.request(r);
        CHECK(thrown.value().status == 500);
        CHECK(thrown.value().body == "{\"error\":\"internal server error\"}");
        r.url = h.server->url() + "/bad-header";
        const auto injected = co_await client.request(r);
        CHECK(injected.value().status == 500);
        CHECK_FALSE(injected.value().header("set-cookie").has_value());
        r.url = h.server->url() + "/hello";
        CHECK((co_await client.request(r)).value().body == "hello");
    });
    CHECK(h.server->stats().handler_errors == 2);
    CHECK(h.server->stats().accepted == 1);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0] == "boom in the handler");
    CHECK(lines[1] == "handler answered a malformed header");
}

TEST_CASE("streams: chunked to http::client, raw until close over HTTP/1.0, HEAD without a body") {
    harness h;
    h.run([&]() -> task<void> {
        http::client client(h.loop);
        http::request r;
        r.url = h.server->url() + "/stream";
        const auto res = co_await client.request(r);
        CHECK(res.value().status == 200);
        CHECK(res.value().header("transfer-encoding") == "chunked");
        CHECK(res.value().body == "part-0;part-1;part-2;part-3;part-4;");
        // The same connection serves the next request after the last chunk.
        r.url = h.server->url() + "/hello";
        CHECK((co_await client.request(r)).value().body == "hello");

        const raw_reply old = co_await exchange(h.loop, h.server->port(), "GET /stream HTTP/1.0\r\n\r\n");
        CHECK(old.server_closed);
        CHECK(old.bytes.find("Transfer-Encoding") == std::string::npos);
        CHECK(old.bytes.substr(old.bytes.find("\r\n\r\n") + 4) == "part-0;part-1;part-2;part-3;part-4;");

        const auto head = split_responses((co_await exchange(h.loop, h.server->port(),
            "HEAD /events HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")).bytes, std::vector<std::size_t>(1, 0));
        REQUIRE(head.size() == 1);
        CHECK(head[0].header("content-type") == "text/event-stream");
    });
    CHECK(h.server->stats().streams == 2);
    CHECK(h.seen.events_sent == 0);
}

TEST_CASE("server-sent events run until the client goes away; the producer sees its stop token") {
    harness h;
    std::string received;
    h.run([&]() -> task<void> {
        {
            tcp_stream s = co_await tcp_stream::connect(h.loop, "127.0.0.1", h.server->port());
            co_await s.write_all(std::string_view("GET /events HTTP/1.1\r\nHost: t\r\n\r\n"));
            char buf[512];
            while (received.find("data: 3\n\n") == std::string::npos) {
                const std::size_t n = co_await s.read_some(std::span<char>(buf));
                REQUIRE(n > 0);
                received.append(buf, n);
            }
        } // the client goes away
        for (int i = 0; i < 400 && !h.seen.events_ended_by_stop; ++i) co_await h.loop.sleep_for(5ms);
    });
    CHECK(h.seen.events_ended_by_stop);
    const auto head_end = received.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    CHECK(received.find("Content-Type: text/event-stream") < head_end);
    CHECK(received.find("Transfer-Encoding: chunked") < head_end);
    // Events in order, each framed as a chunk: "event: tick\nid: e0\ndata: 0\n\n".
    std::size_t at = head_end;
    for (int i = 0; i <= 3; ++i) {
        const std::string event = "event: tick\nid: e" + std::to_string(i) + "\ndata: " + std::to_string(i) + "\n\n";
        const std::size_t found = received.find(event, at);
        REQUIRE(found != std::string::npos);
        at = found + event.size();
    }
}

TEST_CASE("graceful stop: the request under way is answered with Connection: close, idle ones close, no new ones") {
    harness h;
    raw_reply in_flight;
    raw_reply idle;
    h.run([&]() -> task<void> {
        tcp_stream idle_conn = co_await tcp_stream::connect(h.loop, "127.0.0.1", h.server->port());
        co_await idle_conn.write_all(std::string_view("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
        tcp_stream busy = co_await tcp_stream::connect(h.loop, "127.0.0.1", h.server->port());
        co_await busy.write_all(std::string_view("GET /slow?ms=200 HTTP/1.1\r\nHost: t\r\n\r\n"));
        while (h.seen.slow_started == 0) co_await h.loop.sleep_for(1ms);
        auto stopping = [&]() -> task<void> { co_await h.server->stop(5s); };
        auto reading = [&]() -> task<void> {
            in_flight = co_await sluice_test::read_until_close(h.loop, busy);
            busy.close(); // the server lingers until the client closes too
            idle = co_await sluice_test::read_until_close(h.loop, idle_conn);
        };
        co_await when_all(stopping(), reading());
        bool refused = false;
        try {
            co_await tcp_stream::connect(h.loop, "127.0.0.1", h.server->port());
        } catch (const std::system_error& e) {
            refused = e.code() == std::error_code(ECONNREFUSED, std::system_category());
        }
        CHECK(refused);
    });
    CHECK_FALSE(h.seen.slow_cancelled);
    const auto answered = split_responses(in_flight.bytes);
    REQUIRE(answered.size() == 1);
    CHECK(answered[0].body == "slow");
    CHECK(answered[0].header("connection") == "close");
    CHECK(in_flight.server_closed);
    CHECK(idle.server_closed);
    CHECK(split_responses(idle.bytes).size() == 1); // its earlier answer, then the close
}

TEST_CASE("when the grace runs out, handlers see server_request::stop and the stop completes") {
    harness h;
    raw_reply reply;
    h.run([&]() -> task<void> {
        tcp_stream busy = co_await tcp_stream::connect(h.loop, "127.0.0.1", h.server->port());
        co_await busy.write_all(std::string_view("GET /slow?ms=60000 HTTP/1.1\r\nHost: t\r\n\r\n"));
        while (h.seen.slow_started == 0) co_await h.loop.sleep_for(1ms);
        auto stopping = [&]() -> task<void> { co_await h.server->stop(50ms); };
        auto reading = [&]() -> task<void> { reply = co_await sluice_test::read_until_close(h.loop, busy); };
        co_await when_all(stopping(), reading());
    });
    CHECK(h.seen.slow_cancelled);
    CHECK(reply.server_closed);
    CHECK(h.server->stats().open == 0);
}

TEST_CASE("max_connections: a connection beyond the limit waits in the kernel's queue until one closes") {
    http::server_options o;
    o.max_connections = 1;
    harness h(o);
    h.run([&]() -> task<void> {
        std::optional<tcp_stream> first(co_await tcp_stream::connect(h.loop, "127.0.0.1", h.server->port()));
        co_await first->write_all(std::string_view("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
        char buf[512];
        CHECK(co_await first->read_some(std::span<char>(buf)) > 0);
        tcp_stream second = co_await tcp_stream::connect(h.loop, "127.0.0.1", h.server->port());
        co_await second.write_all(std::string_view("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
        co_await h.loop.sleep_for(50ms);
        CHECK(h.server->stats().accepted == 1); // the second waits: the permit is the first's
        first.reset();
        const auto answer = split_responses((co_await sluice_test::read_until_close(h.loop, second)).bytes);
        REQUIRE(answer.size() == 1);
        CHECK(answer[0].body == "hello");
        CHECK(h.server->stats().accepted == 2);
    });
}

TEST_CASE("write_timeout: a client that stops reading a large answer is disconnected") {
    http::server_options o;
    o.write_timeout = 200ms;
    harness h(o);
    h.run([&]() -> task<void> {
        tcp_stream s = co_await tcp_stream::connect(h.loop, "127.0.0.1", h.server->port());
        co_await s.write_all(std::string_view("GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
        // Not reading: 8 MiB is more than both socket buffers take, so the server's write waits.
        for (int i = 0; i < 200 && h.server->stats().open != 0; ++i) co_await h.loop.sleep_for(10ms);
        CHECK(h.server->stats().open == 0);
        const raw_reply reply = co_await sluice_test::read_until_close(h.loop, s);
        CHECK(reply.server_closed);
        CHECK(reply.bytes.size() < (8u << 20));
    });
}

TEST_CASE("serve() runs until its stop token fires, from another thread, then stops gracefully") {
    harness_without_start h;
    std::stop_source stop;
    std::string answer;
    auto main = [&]() -> task<void> {
        auto serving = [&]() -> task<void> { co_await h.server->serve(stop.get_token(), 1s); };
        auto client = [&]() -> task<void> {
            while (h.server->stats().accepted == 0 && answer.empty()) {
                answer = (co_await exchange(h.loop, h.server->port(), "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")).bytes;
            }
            std::thread([&stop] { stop.request_stop(); }).join();
        };
        co_await when_all(serving(), client());
    };
    h.loop.run_until_complete(main());
    h.loop.drain();
    const auto responses = split_responses(answer);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].body == "hello");
    CHECK(h.server->stats().open == 0);
}

TEST_CASE("a taken port is a clear error") {
    io_loop loop;
    http::router routes;
    http::server first(loop, routes.as_handler());
    http::server_options o;
    o.port = first.port();
    CHECK_THROWS_AS(http::server(loop, routes.as_handler(), o), std::system_error);
}

} // TEST_SUITE

} // namespace test_http_server

#endif
