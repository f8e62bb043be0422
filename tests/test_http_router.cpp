// http::router: literal and parameter segments, decoding, precedence and backtracking, 404, 405 with
// Allow, HEAD through GET, OPTIONS, 501 for unused methods, 400 for bad escapes, pattern errors.

#include <doctest/doctest.h>

#include <sluice/core/sync_wait.hpp>
#include <sluice/http/router.hpp>

#include <stdexcept>
#include <string>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_http_router {

using namespace sluice;
using namespace sluice::http;

namespace {

/// A handler that answers "<tag> <params...>" so a test sees which route ran with what.
router::handler tagged(std::string tag) {
    return [tag](server_request& r) -> task<server_response> {
        std::string body = tag;
        for (const auto& [name, value] : r.params) body += " " + name + "=" + value;
        co_return server_response::text(200, body);
    };
}

server_response call(const router& routes, std::string method, std::string path) {
    server_request r;
    r.method = std::move(method);
    r.path = std::move(path);
    return sync_wait(routes.dispatch(r));
}

} // namespace

TEST_SUITE("http router") {

TEST_CASE("literal and parameter segments, decoded; literal wins; dead ends back out") {
    router routes;
    routes.get("/", tagged("root"));
    routes.get("/minifirehoses", tagged("list"));
    routes.post("/minifirehoses", tagged("create"));
    routes.del("/minifirehoses/{name}", tagged("delete"));
    routes.post("/minifirehoses/{name}/message", tagged("message"));
    routes.get("/minifirehoses/{name}/stats", tagged("stats"));
    routes.get("/minifirehoses/special/stats", tagged("special-stats"));
    routes.get("/a/{x}", tagged("a-param"));
    routes.get("/a/b/c", tagged("a-b-c"));
    routes.get("/files/{dir}/{file}", tagged("file"));

    CHECK(call(routes, "GET", "/").body == "root");
    CHECK(call(routes, "GET", "/minifirehoses").body == "list");
    CHECK(call(routes, "POST", "/minifirehoses").body == "create");
    CHECK(call(routes, "POST", "/minifirehoses/orders/message").body == "message name=orders");
    CHECK(call(routes, "POST", "/minifirehoses/with%20space%2Fslash/message").body == "message name=with space/slash");
    CHECK(call(routes, "DELETE", "/minifirehoses/x").body == "delete name=x");
    CHECK(call(routes, "GET", "/minifirehoses/special/stats").body == "special-stats");
    CHECK(call(routes, "GET", "/minifirehoses/other/stats").body == "stats name=other");
    CHECK(call(routes, "GET", "/a/b").body == "a-param x=b"); // the literal b leads nowhere for /a/b
    CHECK(call(routes, "GET", "/a/b/c").body == "a-b-c");
    CHECK(call(routes, "GET", "/files/d/f.txt").body == "file dir=d file=f.txt");

    CHECK(call(routes, "GET", "/minifirehoses/").status == 404);  // an empty segment is no name
    CHECK(call(routes, "POST", "/minifirehoses//message").status == 404);
    CHECK(call(routes, "GET", "/nothing/here").status == 404);
    CHECK(call(routes, "GET", "/minifirehoses/x/stats/more").status == 404);
    CHECK(call(routes, "GET", "*").status == 404);
}

TEST_CASE("405 with Allow, HEAD through GET, OPTIONS, 501 for unused methods, 400 for a bad escape") {
    router routes;
    routes.get("/things/{id}", tagged("get"));
    routes.put("/things/{id}", tagged("put"));
    routes.post("/other", tagged("post"));

    const server_response not_allowed = call(routes, "POST", "/things/1");
    CHECK(not_allowed.status == 405);
    CHECK(not_allowed.header("allow").value() == "GET, PUT, HEAD, OPTIONS");
    CHECK(not_allowed.body == "{\"error\":\"method not allowed\"}");

    CHECK(call(routes, "HEAD", "/things/1").body == "get id=1");
    const server_response options = call(routes, "OPTIONS", "/things/1");
    CHECK(options.status == 204);
    CHECK(options.header("Allow").value() == "GET, PUT, HEAD, OPTIONS");
    CHECK(call(routes, "OPTIONS", "/other").header("allow").value() == "POST, OPTIONS");

    const server_response unknown = call(routes, "BREW", "/things/1");
    CHECK(unknown.status == 501);
    CHECK(call(routes, "DELETE", "/things/1").status == 501); // no route uses DELETE
    CHECK(call(routes, "GET", "/things/%zz").status == 400);
    CHECK(call(routes, "get", "/things/1").status == 501); // methods are case-sensitive
}

TEST_CASE("an explicit HEAD or OPTIONS route wins; a custom error builder is used") {
    router routes([](int status, std::string_view reason) { return server_response::text(status, "custom: " + std::string(reason)); });
    routes.get("/x", tagged("get"));
    routes.add("HEAD", "/x", tagged("head"));
    routes.add("OPTIONS", "/x", tagged("options"));
    CHECK(call(routes, "HEAD", "/x").body == "head");
    CHECK(call(routes, "OPTIONS", "/x").body == "options");
    CHECK(call(routes, "GET", "/y").body == "custom: no such resource");
}

TEST_CASE("pattern errors are refused when routes are added") {
    router routes;
    routes.get("/a/{id}", tagged("a"));
    CHECK_THROWS_AS(routes.get("a/b", tagged("x")), std::invalid_argument);
    CHECK_THROWS_AS(routes.get("/a/{}", tagged("x")), std::invalid_argument);
    CHECK_THROWS_AS(routes.get("/a/{id}/{id}", tagged("x")), std::invalid_argument);
    CHECK_THROWS_AS(routes.get("/a/x{id}", tagged("x")), std::invalid_argument);
    CHECK_THROWS_AS(routes.get("/a/{id}", tagged("again")), std::invalid_argument);
    CHECK_THROWS_AS(routes.add("BAD METHOD", "/b", tagged("x")), std::invalid_argument);
    CHECK_NOTHROW(routes.get("/a/{other}/b", tagged("x"))); // same place, another name: fine
}

} // TEST_SUITE

} // namespace test_http_router
