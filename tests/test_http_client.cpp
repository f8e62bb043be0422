// http::client: libcurl multi-socket on the io_loop, against the loopback fixture server (plain
// HTTP, fault injection) and `openssl s_server` (TLS verification). Runs on both io backends.

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL

#include "support/http_server.hpp"

#include <sluice/core/sync_wait.hpp>
#include <sluice/core/when_all.hpp>
#include <sluice/http/client.hpp>
#include <sluice/io/loop.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_http_client {

using namespace sluice;
using namespace std::chrono_literals;
using sluice_test::http_exchange;
using sluice_test::http_reply;
using sluice_test::http_server;

namespace {

using sluice_test::unused_port;

// Runs `body(client)` on a fresh loop, destroys the client inside the loop, then drains.
template <class Body>
void with_client(http::client_options options, Body body) {
    io_loop loop;
    auto main = [&]() -> task<void> {
        http::client client(loop, options);
        co_await body(client);
    };
    loop.run_until_complete(main());
    loop.drain();
}

template <class Body>
void with_client(Body body) {
    with_client(http::client_options{}, std::move(body));
}

http::request post(std::string url, std::string_view body) {
    http::request r;
    r.method = "POST";
    r.url = std::move(url);
    r.body = body;
    return r;
}

// A coroutine that owns nothing of its caller's frame: it outlives the frame that spawned it.
task<void> await_into(http::client& c, const http::request& r, result<http::response>& out) {
    out = co_await c.request(r);
}

} // namespace

TEST_SUITE("http client") {

TEST_CASE("GET and POST: status, headers and body both ways; an HTTP error status is a response") {
    http_server server([](const http_exchange& ex) {
        if (ex.target == "/missing") return http_reply::text(404, "no such thing");
        http_reply r = http_reply::json(200, "{\"echo\":" + std::to_string(ex.body.size()) + "}");
        r.headers.emplace_back("X-Amzn-RequestId", "req-123");
        return r;
    });
    with_client([&](http::client& c) -> task<void> {
        const std::string body = "{\"QueueUrl\":\"q\"}";
        http::request r = post(server.url() + "/path?x=1", body);
        r.headers.push_back({"Content-Type", "application/x-amz-json-1.0"});
        r.headers.push_back({"X-Amz-Target", "AmazonSQS.SendMessageBatch"});
        auto res = co_await c.request(r);
        REQUIRE(res.is_ok());
        CHECK(res.value().status == 200);
        CHECK(res.value().body == "{\"echo\":16}");
        CHECK(res.value().header("x-amzn-requestid") == "req-123");
        CHECK(res.value().header("content-type") == "application/x-amz-json-1.0");

        http::request get;
        get.url = server.url() + "/missing";
        auto missing = co_await c.request(get);
        REQUIRE(missing.is_ok());
        CHECK(missing.value().status == 404);
        CHECK(missing.value().body == "no such thing");
    });
    const auto seen = server.requests();
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].method == "POST");
    CHECK(seen[0].target == "/path?x=1");
    CHECK(seen[0].body == "{\"QueueUrl\":\"q\"}");
    CHECK(seen[0].header("x-amz-target") == "AmazonSQS.SendMessageBatch");
    CHECK(seen[0].header("content-type") == "application/x-amz-json-1.0");
    CHECK_FALSE(seen[0].header("expect").has_value());
    CHECK(seen[1].method == "GET");
    CHECK(seen[1].body.empty());
}

TEST_CASE("PUT with an empty body, custom methods and empty header values") {
    http_server server([](const http_exchange&) { return http_reply::text(200, "token-abc"); });
    with_client([&](http::client& c) -> task<void> {
        http::request r;
        r.method = "PUT";
        r.url = server.url() + "/latest/api/token";
        r.headers.push_back({"x-aws-ec2-metadata-token-ttl-seconds", "21600"});
        r.headers.push_back({"x-empty", ""});
        auto res = co_await c.request(r);
        REQUIRE(res.is_ok());
        CHECK(res.value().body == "token-abc");
        http::request d;
        d.method = "DELETE";
        d.url = server.url() + "/thing";
        auto del = co_await c.request(d);
        REQUIRE(del.is_ok());
        // Reused handles must not carry the previous method or body over.
        http::request head;
        head.method = "HEAD";
        head.url = server.url() + "/head";
        auto h = co_await c.request(head);
        REQUIRE(h.is_ok());
        CHECK(h.value().body.empty());
        http::request get;
        get.url = server.url() + "/get";
        auto g = co_await c.request(get);
        REQUIRE(g.is_ok());
        CHECK(g.value().body == "token-abc");
    });
    const auto seen = server.requests();
    REQUIRE(seen.size() == 4);
    CHECK(seen[2].method == "HEAD");
    CHECK(seen[3].method == "GET");
    CHECK(seen[3].body.empty());
    CHECK_FALSE(seen[3].header("content-length").has_value());
    CHECK(seen[0].method == "PUT");
    CHECK(seen[0].header("content-length") == "0");
    CHECK(seen[0].header("x-aws-ec2-metadata-token-ttl-seconds") == "21600");
    CHECK(seen[0].header("x-empty") == "");
    CHECK(seen[1].method == "DELETE");
}

TEST_CASE("keep-alive: sequential requests reuse one connection") {
    http_server server([](const http_exchange&) { return http_reply::text(200, "ok"); });
    with_client([&](http::client& c) -> task<void> {
        const std::string body(2048, 'x');
        for (int i = 0; i < 25; ++i) {
            auto res = co_await c.request(post(server.url() + "/", body));
            REQUIRE(res.is_ok());
            CHECK(res.value().status == 200);
        }
    });
    CHECK(server.request_count() == 25);
    CHECK(server.connection_count() == 1);
}

TEST_CASE("many concurrent requests: all answered, the per-host cap bounds the connections") {
    http_server server([](const http_exchange& ex) {
        http_reply r = http_reply::text(200, ex.body);
        r.delay = 2ms;
        return r;
    });
    http::client_options options;
    options.max_requests_per_host = 4;
    std::atomic<int> ok{0};
    with_client(options, [&](http::client& c) -> task<void> {
        std::vector<std::string> bodies;
        for (int i = 0; i < 60; ++i) bodies.push_back("body-" + std::to_string(i));
        std::vector<task<void>> all;
        auto one = [&](std::size_t i) -> task<void> {
            auto res = co_await c.request(post(server.url() + "/", bodies[i]));
            if (res.is_ok() && res.value().status == 200 && res.value().body == bodies[i]) ++ok;
        };
        for (std::size_t i = 0; i < bodies.size(); ++i) all.push_back(one(i));
        co_await when_all(std::move(all));
    });
    CHECK(ok.load() == 60);
    CHECK(server.request_count() == 60);
    CHECK(server.connection_count() <= 4);
    CHECK(server.connection_count() >= 1);
}

TEST_CASE("a large body is sent intact and a large response is received intact") {
    std::string big(3u << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7) % 26);
    http_server server([&](const http_exchange& ex) {
        return http_reply::text(ex.body == big ? 200 : 400, big);
    });
    with_client([&](http::client& c) -> task<void> {
        auto res = co_await c.request(post(server.url() + "/", big));
        REQUIRE(res.is_ok());
        CHECK(res.value().status == 200);
        CHECK(res.value().body == big);
    });
}

TEST_CASE("a body in pieces is sent as their concatenation; the handle then serves plain bodies and GETs") {
    std::string big(1u << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7) % 26);
    const std::vector<std::string_view> pieces = {"head:", "", big, ",", std::string_view(big).substr(0, 70000), ":tail"};
    std::string joined;
    for (auto p : pieces) joined += p;
    std::vector<std::string> bodies;
    std::vector<std::string> lengths;
    http_server server([&](const http_exchange& ex) {
        bodies.push_back(ex.body);
        lengths.emplace_back(ex.header("content-length").value_or(""));
        return http_reply::text(200, "ok");
    });
    with_client([&](http::client& c) -> task<void> {
        http::request parts;
        parts.method = "POST";
        parts.url = server.url() + "/parts";
        parts.body_parts = pieces;
        auto a = co_await c.request(parts);
        REQUIRE(a.is_ok());
        CHECK(a.value().status == 200);
        auto b = co_await c.request(post(server.url() + "/plain", "plain body"));
        REQUIRE(b.is_ok());
        http::request get;
        get.url = server.url() + "/get";
        auto g = co_await c.request(get);
        REQUIRE(g.is_ok());
        parts.method = "PUT"; // any method with a body
        auto d = co_await c.request(parts);
        REQUIRE(d.is_ok());
    });
    REQUIRE(bodies.size() == 4);
    CHECK(bodies[0] == joined);
    CHECK(lengths[0] == std::to_string(joined.size()));
    CHECK(bodies[1] == "plain body");
    CHECK(bodies[2].empty());
    CHECK(bodies[3] == joined);
}

TEST_CASE("a body in pieces is read again from its start when libcurl resends it on a new connection") {
    // The first request leaves a kept-alive connection; the server then drops the second request's
    // connection without a reply, once. libcurl sends it again on a fresh connection, rewinding the
    // body through the seek callback.
    const std::string body(300000, 'q');
    const std::vector<std::string_view> pieces = {"<", std::string_view(body).substr(0, 1000), std::string_view(body).substr(1000), ">"};
    std::atomic<int> drops{0};
    std::vector<std::string> bodies;
    http_server server([&](const http_exchange& ex) {
        http_reply r = http_reply::text(200, "ok");
        if (ex.target == "/drop" && drops.fetch_add(1) == 0) r.action = http_reply::fault::close_without_reply;
        else bodies.push_back(ex.body);
        return r;
    });
    std::optional<result<http::response>> out;
    with_client([&](http::client& c) -> task<void> {
        auto warm = co_await c.request(post(server.url() + "/warm", "x"));
        REQUIRE(warm.is_ok());
        http::request r;
        r.method = "POST";
        r.url = server.url() + "/drop";
        r.body_parts = pieces;
        out = co_await c.request(r);
    });
    // The fixture reads the whole request before dropping it, so libcurl had read the body to its
    // end: without the seek callback the retry fails ("necessary data rewind wasn't possible").
    REQUIRE(out.has_value());
    REQUIRE(out->is_ok());
    CHECK(drops.load() == 2); // /drop came twice: dropped, then answered
    REQUIRE(bodies.size() == 2); // /warm, then /drop on its second try
    CHECK(bodies[1] == "<" + body + ">");
}

TEST_CASE("body_reader: reads across pieces in small steps and seeks to any position") {
    const std::vector<std::string_view> pieces = {"abc", "", "defg", "h", "", "ijklmnop"};
    const std::string all = "abcdefghijklmnop";
    http::detail::body_reader r;
    r.reset(pieces);
    CHECK(http::detail::body_reader::total(pieces) == all.size());
    std::string got;
    char buf[3];
    while (std::size_t n = http::detail::body_reader::on_read(buf, 1, sizeof buf, &r)) got.append(buf, n);
    CHECK(got == all);
    for (std::size_t at = 0; at <= all.size(); ++at) {
        REQUIRE(http::detail::body_reader::on_seek(&r, static_cast<curl_off_t>(at), SEEK_SET) == CURL_SEEKFUNC_OK);
        std::string rest;
        while (std::size_t n = http::detail::body_reader::on_read(buf, 1, sizeof buf, &r)) rest.append(buf, n);
        CHECK(rest == all.substr(at));
    }
    CHECK(http::detail::body_reader::on_seek(&r, static_cast<curl_off_t>(all.size() + 1), SEEK_SET) == CURL_SEEKFUNC_FAIL);
    CHECK(http::detail::body_reader::on_seek(&r, 1, SEEK_CUR) == CURL_SEEKFUNC_CANTSEEK);
}

TEST_CASE("a recycled response body's memory serves the next response; a huge one is not kept") {
    http_server server([](const http_exchange&) { return http_reply::text(200, std::string(5000, 'r')); });
    with_client([&](http::client& c) -> task<void> {
        http::request r;
        r.url = server.url() + "/";
        std::string spare;
        spare.reserve(200000);
        const char* storage = spare.data();
        c.recycle_body(std::move(spare));
        auto a = co_await c.request(r);
        REQUIRE(a.is_ok());
        CHECK(a.value().body == std::string(5000, 'r'));
        CHECK(a.value().body.data() == storage); // the recycled string's memory
        std::string huge;
        huge.reserve(2u << 20);
        const char* huge_storage = huge.data();
        c.recycle_body(std::move(huge)); // over 1 MiB: freed, not kept
        auto b = co_await c.request(r);
        REQUIRE(b.is_ok());
        CHECK(b.value().body == std::string(5000, 'r'));
        CHECK(b.value().body.data() != huge_storage);
    });
}

TEST_CASE("a response over max_response_bytes fails with too_large") {
    http_server server([](const http_exchange&) { return http_reply::text(200, std::string(100000, 'z')); });
    http::client_options options;
    options.max_response_bytes = 1000;
    with_client(options, [&](http::client& c) -> task<void> {
        http::request r;
        r.url = server.url() + "/";
        auto res = co_await c.request(r);
        REQUIRE_FALSE(res.is_ok());
        CHECK(res.get_error().code == http::transport_error::too_large);
        CHECK_FALSE(http::is_retryable(res.get_error().code));
    });
}

TEST_CASE("a hung response times out; the error names the URL without its query (signatures)") {
    http_server server([](const http_exchange&) {
        http_reply r;
        r.action = http_reply::fault::hang;
        return r;
    });
    with_client([&](http::client& c) -> task<void> {
        http::request r;
        r.url = server.url() + "/q?X-Amz-Signature=deadbeefsecret&X-Amz-Credential=AKIDEXAMPLE";
        r.timeout = 200ms;
        const auto start = std::chrono::steady_clock::now();
        auto res = co_await c.request(r);
        const auto took = std::chrono::steady_clock::now() - start;
        REQUIRE_FALSE(res.is_ok());
        CHECK(res.get_error().code == http::transport_error::timed_out);
        CHECK(http::is_retryable(res.get_error().code));
        CHECK(took >= 150ms);
        const std::string what = res.get_error().what();
        CHECK(what.find("GET http://127.0.0.1:") != std::string::npos);
        CHECK(what.find("deadbeefsecret") == std::string::npos);
        CHECK(what.find("AKIDEXAMPLE") == std::string::npos);
    });
    server.stop();
}

TEST_CASE("dropped connections: closed before the reply and in the middle of the body") {
    std::atomic<int> calls{0};
    http_server server([&](const http_exchange& ex) {
        ++calls;
        http_reply r = http_reply::text(200, std::string(1000, 'b'));
        if (ex.target == "/close") r.action = http_reply::fault::close_without_reply;
        if (ex.target == "/half") r.action = http_reply::fault::close_mid_body;
        return r;
    });
    with_client([&](http::client& c) -> task<void> {
        http::request r;
        r.url = server.url() + "/close";
        auto closed = co_await c.request(r);
        REQUIRE_FALSE(closed.is_ok());
        CHECK(closed.get_error().code == http::transport_error::connection_reset);
        CHECK(http::is_retryable(closed.get_error().code));

        r.url = server.url() + "/half";
        auto half = co_await c.request(r);
        REQUIRE_FALSE(half.is_ok());
        CHECK(half.get_error().code == http::transport_error::connection_reset);

        // The client recovers: a fresh connection serves the next request.
        r.url = server.url() + "/fine";
        auto fine = co_await c.request(r);
        REQUIRE(fine.is_ok());
        CHECK(fine.value().status == 200);
    });
    CHECK(calls.load() >= 3);
}

TEST_CASE("connection refused is couldnt_connect") {
    const std::uint16_t port = unused_port();
    with_client([&](http::client& c) -> task<void> {
        http::request r;
        r.url = "http://127.0.0.1:" + std::to_string(port) + "/";
        auto res = co_await c.request(r);
        REQUIRE_FALSE(res.is_ok());
        CHECK(res.get_error().code == http::transport_error::couldnt_connect);
        CHECK(res.get_error().source == "http");
    });
}

TEST_CASE("a stop_token abandons a request in flight") {
    http_server server([](const http_exchange&) {
        http_reply r;
        r.action = http_reply::fault::hang;
        return r;
    });
    io_loop loop;
    auto main = [&]() -> task<void> {
        http::client c(loop);
        std::stop_source stop;
        http::request r;
        r.url = server.url() + "/";
        r.stop = stop.get_token();
        auto stopper = [&]() -> task<void> {
            co_await loop.sleep_for(50ms);
            stop.request_stop();
        };
        loop.spawn(stopper());
        auto res = co_await c.request(r);
        REQUIRE_FALSE(res.is_ok());
        CHECK(res.get_error().code == http::transport_error::cancelled);
        // The client stays usable.
        http_server fine([](const http_exchange&) { return http_reply::text(200, "ok"); });
        http::request again;
        again.url = fine.url() + "/";
        auto ok = co_await c.request(again);
        REQUIRE(ok.is_ok());
        CHECK(ok.value().body == "ok");
    };
    loop.run_until_complete(main());
    loop.drain();
    server.stop();
}

TEST_CASE("destroying the client ends its requests as cancelled and frees its watchers") {
    http_server server([](const http_exchange&) {
        http_reply r;
        r.action = http_reply::fault::hang;
        return r;
    });
    io_loop loop;
    result<http::response> seen;
    http::request r; // must outlive the request, which ends after main() returns
    r.url = server.url() + "/";
    auto main = [&]() -> task<void> {
        auto c = std::make_unique<http::client>(loop);
        loop.spawn(await_into(*c, r, seen));
        co_await loop.sleep_for(50ms);
        c.reset();
    };
    loop.run_until_complete(main());
    loop.drain(); // would hang if a watcher or the timer outlived the client
    REQUIRE_FALSE(seen.is_ok());
    CHECK(seen.get_error().code == http::transport_error::cancelled);
    server.stop();
}

TEST_CASE("request() awaited from another thread hops onto the loop") {
    http_server server([](const http_exchange&) { return http_reply::text(200, "hop"); });
    io_loop loop;
    http::client* client = nullptr;
    std::atomic<bool> ready{false};
    std::thread runner([&] {
        auto main = [&]() -> task<void> {
            http::client c(loop);
            client = &c;
            ready = true;
            while (ready.load()) co_await loop.sleep_for(1ms);
        };
        loop.run_until_complete(main());
        loop.drain();
    });
    while (!ready.load()) std::this_thread::yield();
    http::request r;
    r.url = server.url() + "/";
    auto on_other_thread = [&]() -> task<result<http::response>> { co_return co_await client->request(r); };
    auto res = sync_wait(on_other_thread());
    ready = false;
    runner.join();
    REQUIRE(res.is_ok());
    CHECK(res.value().body == "hop");
}

} // TEST_SUITE

// TLS against a real TLS server (openssl s_server) with a throwaway certificate for "localhost".
TEST_CASE("TLS: the peer and the host name are verified by default") {
    if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
        FAIL("the openssl command line tool is needed (apt-get install openssl)");
        return;
    }
    char tmpl[] = "/tmp/sluice-tls-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl;
    const std::string make_cert =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
        "-addext subjectAltName=DNS:localhost -keyout " + dir + "/key.pem -out " + dir +
        "/cert.pem >/dev/null 2>&1";
    REQUIRE(std::system(make_cert.c_str()) == 0);
    const std::uint16_t port = unused_port();
    const pid_t server = ::fork();
    REQUIRE(server >= 0);
    if (server == 0) {
        const std::string accept = "127.0.0.1:" + std::to_string(port);
        const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
        std::freopen("/dev/null", "w", stdout);
        std::freopen("/dev/null", "w", stderr);
        ::execlp("openssl", "openssl", "s_server", "-accept", accept.c_str(), "-cert", cert.c_str(), "-key",
                 key.c_str(), "-www", "-quiet", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    // Wait until it listens.
    for (int i = 0; i < 200; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port);
        const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        if (up) break;
        std::this_thread::sleep_for(20ms);
    }
    const std::string localhost = "https://localhost:" + std::to_string(port) + "/";
    const std::string by_ip = "https://127.0.0.1:" + std::to_string(port) + "/";

    SUBCASE("an untrusted certificate is refused by default") {
        with_client([&](http::client& c) -> task<void> {
            http::request r;
            r.url = localhost;
            auto res = co_await c.request(r);
            REQUIRE_FALSE(res.is_ok());
            CHECK(res.get_error().code == http::transport_error::tls_failure);
            CHECK_FALSE(http::is_retryable(res.get_error().code));
        });
    }
    SUBCASE("trusted through ca_file: the request succeeds") {
        http::client_options o;
        o.ca_file = dir + "/cert.pem";
        with_client(o, [&](http::client& c) -> task<void> {
            http::request r;
            r.url = localhost;
            auto res = co_await c.request(r);
            REQUIRE(res.is_ok());
            CHECK(res.value().status == 200);
        });
    }
    SUBCASE("a trusted certificate for another name is refused (host verification)") {
        http::client_options o;
        o.ca_file = dir + "/cert.pem";
        with_client(o, [&](http::client& c) -> task<void> {
            http::request r;
            r.url = by_ip;
            auto res = co_await c.request(r);
            REQUIRE_FALSE(res.is_ok());
            CHECK(res.get_error().code == http::transport_error::tls_failure);
        });
    }
    SUBCASE("verification can be turned off explicitly") {
        http::client_options o;
        o.verify_peer = false;
        o.verify_host = false;
        with_client(o, [&](http::client& c) -> task<void> {
            http::request r;
            r.url = by_ip;
            auto res = co_await c.request(r);
            REQUIRE(res.is_ok());
            CHECK(res.value().status == 200);
        });
    }
    ::kill(server, SIGTERM);
    int status = 0;
    ::waitpid(server, &status, 0);
    std::system(("rm -rf " + dir).c_str());
}

} // namespace test_http_client

#endif // SLUICE_HAS_CURL
