// http::client against a real web server: Debian's nginx, started by the ctest fixture `nginx`
// (scripts/nginx-fixture.sh) on 127.0.0.1 with plain HTTP/1.1 and HTTPS + HTTP/2 and a throwaway
// certificate. nginx tags each response with its connection's serial number (X-Connection), which
// shows keep-alive reuse and HTTP/2 multiplexing from the outside. Fails (not skips) without the
// fixture: ctest always provides it.

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL

#include <sluice/core/when_all.hpp>
#include <sluice/http/client.hpp>
#include <sluice/io/loop.hpp>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_http_nginx {

using namespace sluice;

namespace {

std::string fixture_file(const char* name) {
    const char* dir = std::getenv("SLUICE_NGINX_STATE");
    REQUIRE_MESSAGE(dir != nullptr, "SLUICE_NGINX_STATE is not set: run these through ctest (the nginx fixture)");
    std::ifstream in(std::string(dir) + "/" + name);
    std::string line;
    std::getline(in, line);
    REQUIRE_MESSAGE(!line.empty(), "nothing in " << dir << "/" << name);
    return line;
}

std::string ca_file() { return std::string(std::getenv("SLUICE_NGINX_STATE")) + "/ca.pem"; }

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

} // namespace

TEST_SUITE("integration-http") {

TEST_CASE("HTTP/1.1 keep-alive against nginx: one connection serves a sequence of requests") {
    const std::string url = fixture_file("http_url") + "/";
    with_client({}, [&](http::client& c) -> task<void> {
        std::set<std::string> connections;
        const std::string body(4096, 'b');
        for (int i = 0; i < 20; ++i) {
            http::request r;
            r.method = "POST";
            r.url = url;
            r.body = body;
            auto res = co_await c.request(r);
            REQUIRE(res.is_ok());
            CHECK(res.value().status == 200);
            CHECK(res.value().http_version == "1.1");
            CHECK(res.value().body == R"({"ok":true})");
            connections.insert(std::string(res.value().header("x-connection").value_or("?")));
        }
        CHECK(connections.size() == 1);
        http::request missing;
        missing.url = fixture_file("http_url") + "/missing";
        auto res = co_await c.request(missing);
        REQUIRE(res.is_ok());
        CHECK(res.value().status == 404);
    });
}

TEST_CASE("HTTPS with HTTP/2 against nginx: verified, negotiated by ALPN, concurrent requests multiplexed") {
    const std::string url = fixture_file("https_url") + "/";
    http::client_options options;
    options.ca_file = ca_file();
    with_client(options, [&](http::client& c) -> task<void> {
        // One request first opens the connection; the rest then share it as HTTP/2 streams.
        http::request first;
        first.url = url;
        auto warm = co_await c.request(first);
        REQUIRE(warm.is_ok());
        CHECK(warm.value().http_version == "2");
        CHECK(warm.value().header("x-protocol") == "HTTP/2.0");

        std::vector<std::string> seen(40);
        std::vector<task<void>> all;
        auto one = [&](std::size_t i) -> task<void> {
            http::request r;
            r.method = "POST";
            r.url = url;
            r.body = "{\"i\":1}";
            auto res = co_await c.request(r);
            if (res.is_ok() && res.value().status == 200 && res.value().http_version == "2")
                seen[i] = std::string(res.value().header("x-connection").value_or("?"));
        };
        for (std::size_t i = 0; i < seen.size(); ++i) all.push_back(one(i));
        co_await when_all(std::move(all));
        std::set<std::string> connections(seen.begin(), seen.end());
        CHECK(connections.count("") == 0); // every request succeeded over HTTP/2
        CHECK(connections.size() == 1);    // on the one connection
    });
}

TEST_CASE("HTTPS against nginx is refused without its CA, and HTTP/1.1 can be forced") {
    const std::string url = fixture_file("https_url") + "/";
    with_client({}, [&](http::client& c) -> task<void> {
        http::request r;
        r.url = url;
        auto res = co_await c.request(r);
        REQUIRE_FALSE(res.is_ok());
        CHECK(res.get_error().code == http::transport_error::tls_failure);
    });
    http::client_options h1;
    h1.ca_file = ca_file();
    h1.version = http::http_version::http1_1;
    with_client(h1, [&](http::client& c) -> task<void> {
        http::request r;
        r.url = url;
        auto res = co_await c.request(r);
        REQUIRE(res.is_ok());
        CHECK(res.value().http_version == "1.1");
        CHECK(res.value().header("x-protocol") == "HTTP/1.1");
    });
}

} // TEST_SUITE

} // namespace test_http_nginx

#endif
