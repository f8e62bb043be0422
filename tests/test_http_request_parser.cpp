// http::request_parser: request lines, fields, Content-Length and chunked bodies with trailers,
// pipelining, keep-alive rules, Expect, the four target forms, every limit, and a table of malformed
// requests with the exact status each earns. Every valid request is also fed in every two-piece
// split and one byte at a time, and must parse the same way.

#include <doctest/doctest.h>

#include <sluice/http/request_parser.hpp>

#include <string>
#include <string_view>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_http_request_parser {

using namespace sluice::http;
using result = request_parser::result;
using namespace std::string_view_literals;

namespace {

/// What a parse came to, with the request's essentials for comparison.
struct outcome {
    result last = result::need_more;
    int status = 0;
    std::string reason;
    std::size_t consumed = 0;
    std::string method, target, path, query, body;
    std::vector<std::pair<std::string, std::string>> headers, trailers;
    bool keep_alive = false, expect_continue = false, chunked = false;
    int version_minor = -1;

    bool operator==(const outcome&) const = default;
};

outcome snapshot(request_parser& p, result r, std::size_t consumed) {
    outcome o;
    o.last = r;
    if (r == result::error) { // how far a refused request was consumed depends on the pieces: not compared
        o.status = p.error().status;
        o.reason = std::string(p.error().reason);
        return o;
    }
    const server_request& q = p.request();
    o.consumed = consumed;
    o.method = q.method;
    o.target = q.target;
    o.path = q.path;
    o.query = q.query;
    o.body = q.body;
    for (const auto& h : q.headers) o.headers.emplace_back(h.name, h.value);
    for (const auto& h : q.trailers) o.trailers.emplace_back(h.name, h.value);
    o.keep_alive = q.keep_alive;
    o.expect_continue = q.expect_continue;
    o.chunked = q.chunked;
    o.version_minor = q.version_minor;
    return o;
}

/// Feeds `pieces` in order until the request is complete or refused (headers_complete goes on).
outcome feed(const std::vector<std::string_view>& pieces, parser_limits limits = {}) {
    request_parser p(limits);
    std::size_t total = 0;
    result r = result::need_more;
    for (std::string_view piece : pieces) {
        while (true) {
            std::size_t used = 0;
            r = p.parse(piece, used);
            total += used;
            piece.remove_prefix(used);
            if (r == result::headers_complete) continue;
            break;
        }
        if (r == result::complete || r == result::error) break;
    }
    return snapshot(p, r, total);
}

outcome whole(std::string_view text, parser_limits limits = {}) { return feed({text}, limits); }

/// Parses `text` whole, in every two-piece split and one byte at a time; all must agree.
outcome every_split(std::string_view text, parser_limits limits = {}) {
    const outcome expected = whole(text, limits);
    for (std::size_t cut = 1; cut < text.size(); ++cut) {
        const outcome split = feed({text.substr(0, cut), text.substr(cut)}, limits);
        INFO("split at " << cut);
        CHECK(split == expected);
    }
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < text.size(); ++i) bytes.push_back(text.substr(i, 1));
    CHECK(feed(bytes, limits) == expected);
    return expected;
}

} // namespace

TEST_SUITE("http request parser") {

TEST_CASE("a GET: request line, lower-cased names, trimmed values, path and query") {
    const std::string_view text = "GET /minifirehoses/a%20b/stats?x=1&y=%41 HTTP/1.1\r\n"
                                  "Host: example\r\n"
                                  "X-Custom-Thing:   spaced value \t\r\n"
                                  "Accept: */*\r\n"
                                  "\r\n";
    const outcome o = every_split(text);
    CHECK(o.last == result::complete);
    CHECK(o.consumed == text.size());
    CHECK(o.method == "GET");
    CHECK(o.target == "/minifirehoses/a%20b/stats?x=1&y=%41");
    CHECK(o.path == "/minifirehoses/a%20b/stats");
    CHECK(o.query == "x=1&y=%41");
    CHECK(o.version_minor == 1);
    CHECK(o.keep_alive);
    REQUIRE(o.headers.size() == 3);
    CHECK(o.headers[0] == std::pair<std::string, std::string>("host", "example"));
    CHECK(o.headers[1] == std::pair<std::string, std::string>("x-custom-thing", "spaced value"));
    CHECK(o.headers[2] == std::pair<std::string, std::string>("accept", "*/*"));
}

TEST_CASE("Content-Length and chunked bodies, extensions and trailers, in any pieces") {
    SUBCASE("Content-Length") {
        const outcome o = every_split("POST /m HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world");
        CHECK(o.last == result::complete);
        CHECK(o.body == "hello world");
        CHECK_FALSE(o.chunked);
    }
    SUBCASE("chunked with extensions and trailers") {
        const outcome o = every_split("POST /m HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      "5;name=value\r\nhello\r\n"
                                      "1 ; quoted=\"a b\"\r\n \r\n"
                                      "00000005\r\nworld\r\n"
                                      "0\r\nChecksum: abc\r\nX-Done: yes\r\n\r\n");
        CHECK(o.last == result::complete);
        CHECK(o.chunked);
        CHECK(o.body == "hello world");
        REQUIRE(o.trailers.size() == 2);
        CHECK(o.trailers[0] == std::pair<std::string, std::string>("checksum", "abc"));
        CHECK(o.trailers[1] == std::pair<std::string, std::string>("x-done", "yes"));
    }
    SUBCASE("upper-case hex and a Transfer-Encoding list spread over lines") {
        const outcome o = every_split("PUT /m HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,\r\nTransfer-Encoding: Chunked\r\n\r\n"
                                      "A\r\n0123456789\r\n0\r\n\r\n");
        CHECK(o.last == result::complete);
        CHECK(o.body == "0123456789");
    }
    SUBCASE("the body keeps room for simdjson's padding") {
        request_parser p;
        const std::string_view text = "POST /m HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}";
        std::size_t used = 0;
        CHECK(p.parse(text, used) == result::headers_complete);
        CHECK(p.parse(text.substr(used), used) == result::complete);
        CHECK(p.request().body.capacity() >= p.request().body.size() + server_request::body_padding);
    }
}

TEST_CASE("pipelined requests: parse stops after each, the rest stays with the caller") {
    const std::string first = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    const std::string second = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    const std::string third = "DELETE /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n";
    const std::string all = first + second + third;
    request_parser p;
    std::string_view rest = all;
    std::vector<std::string> seen;
    while (!rest.empty()) {
        std::size_t used = 0;
        const result r = p.parse(rest, used);
        rest.remove_prefix(used);
        if (r == result::headers_complete) continue;
        REQUIRE(r == result::complete);
        seen.push_back(p.request().method + " " + p.request().path + " " + p.request().body);
        p.reset();
    }
    CHECK(seen == std::vector<std::string>{"POST /a abc", "GET /b ", "DELETE /c z"});
}

TEST_CASE("keep-alive: HTTP/1.1 unless close, HTTP/1.0 only with keep-alive") {
    struct row {
        std::string_view version, connection;
        bool keep;
    };
    const row rows[] = {
        {"HTTP/1.1", "", true},          {"HTTP/1.1", "close", false},     {"HTTP/1.1", "Keep-Alive, CLOSE", false},
        {"HTTP/1.1", "keep-alive", true}, {"HTTP/1.0", "", false},          {"HTTP/1.0", "keep-alive", true},
        {"HTTP/1.0", "Keep-Alive", true}, {"HTTP/1.0", "keep-alive, close", false}, {"HTTP/1.2", "", true},
    };
    for (const row& r : rows) {
        std::string text = "GET / " + std::string(r.version) + "\r\nHost: h\r\n";
        if (!r.connection.empty()) text += "Connection: " + std::string(r.connection) + "\r\n";
        text += "\r\n";
        INFO(text);
        const outcome o = whole(text);
        CHECK(o.last == result::complete);
        CHECK(o.keep_alive == r.keep);
        CHECK(o.version_minor == (r.version == "HTTP/1.0" ? 0 : 1));
    }
}

TEST_CASE("Expect: 100-continue stops at the headers; HTTP/1.0 ignores it; anything else is 417") {
    request_parser p;
    const std::string_view head = "POST /m HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n";
    std::size_t used = 0;
    CHECK(p.parse(head, used) == result::headers_complete);
    CHECK(used == head.size());
    CHECK(p.request().expect_continue);
    CHECK(p.parse("body", used) == result::complete);
    CHECK(p.request().body == "body");

    CHECK_FALSE(whole("POST /m HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx").expect_continue);
    const outcome other = whole("GET / HTTP/1.1\r\nHost: h\r\nExpect: something-else\r\n\r\n");
    CHECK(other.status == 417);
}

TEST_CASE("request-target forms: origin, absolute, asterisk, authority; leading empty lines are skipped") {
    outcome o = every_split("\r\n\r\nGET http://Example.com:8080/p/q?z=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(o.path == "/p/q");
    CHECK(o.query == "z=1");
    o = whole("GET HTTP://example.com HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(o.path == "/");
    o = whole("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(o.path == "*");
    o = whole("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    CHECK(o.last == result::complete);
    CHECK(o.target == "example.com:443");
    CHECK(o.path.empty());
}

TEST_CASE("malformed requests: each refused with its status and reason") {
    struct row {
        std::string_view name, text;
        int status;
        std::string_view reason;
    };
    const std::string cl_and_te = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    const row rows[] = {
        {"no spaces", "GARBAGE\r\n\r\n", 400, "malformed request line"},
        {"HTTP/0.9 style", "GET /\r\n\r\n", 400, "malformed request line"},
        {"two spaces", "GET  / HTTP/1.1\r\n\r\n", 400, "malformed request line"},
        {"leading space", " GET / HTTP/1.1\r\n\r\n", 400, "malformed request line"},
        {"method with a slash", "GE/T / HTTP/1.1\r\n\r\n", 400, "invalid method"},
        {"lower-case protocol", "GET / http/1.1\r\n\r\n", 400, "malformed HTTP version"},
        {"version with letters", "GET / HTTP/1.x\r\n\r\n", 400, "malformed HTTP version"},
        {"version too long", "GET / HTTP/1.10\r\n\r\n", 400, "malformed HTTP version"},
        {"space in the target", "GET /a b HTTP/1.1\r\n\r\n", 400, "malformed HTTP version"},
        {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, "HTTP version not supported"},
        {"HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 505, "HTTP version not supported"},
        {"control character in the target", "GET /a\x01 HTTP/1.1\r\n\r\n", 400, "invalid character in request target"},
        {"non-ASCII target", "GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400, "invalid character in request target"},
        {"fragment", "GET /a#b HTTP/1.1\r\n\r\n", 400, "invalid character in request target"},
        {"relative target", "GET a/b HTTP/1.1\r\n\r\n", 400, "invalid request target"},
        {"asterisk with GET", "GET * HTTP/1.1\r\n\r\n", 400, "asterisk target outside OPTIONS"},
        {"bare LF", "GET / HTTP/1.1\nHost: h\n\n", 400, "line ends with a bare LF"},
        {"bare LF in a header", "GET / HTTP/1.1\r\nHost: h\n\r\n", 400, "line ends with a bare LF"},
        {"bare CR in a value", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400, "invalid character in header value"},
        {"NUL in a value", "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n"sv, 400, "invalid character in header value"},
        {"space before the colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "invalid header name"},
        {"empty name", "GET / HTTP/1.1\r\n: v\r\nHost: h\r\n\r\n", 400, "invalid header name"},
        {"no colon", "GET / HTTP/1.1\r\nHost h\r\n\r\n", 400, "header line without a colon"},
        {"obsolete folding", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  b\r\n\r\n", 400, "obsolete line folding"},
        {"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, "missing Host header"},
        {"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host header"},
        {"duplicate Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400, "more than one Content-Length"},
        {"Content-Length list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", 400, "invalid Content-Length"},
        {"negative Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400, "invalid Content-Length"},
        {"signed Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc", 400, "invalid Content-Length"},
        {"hex Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc", 400, "invalid Content-Length"},
        {"empty Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400, "invalid Content-Length"},
        {"Content-Length and Transfer-Encoding", cl_and_te, 400, "both Content-Length and Transfer-Encoding"},
        {"chunked not last", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400, "Transfer-Encoding must end with chunked, once"},
        {"chunked twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer-Encoding must end with chunked, once"},
        {"no coding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n", 400, "Transfer-Encoding must end with chunked, once"},
        {"identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 400, "Transfer-Encoding must end with chunked, once"},
        {"gzip then chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "transfer coding not implemented"},
        {"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer-Encoding in an HTTP/1.0 request"},
        {"chunk size not hex", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "invalid chunk size"},
        {"negative chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 400, "invalid chunk size"},
        {"0x chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n", 400, "invalid chunk size"},
        {"empty chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400, "invalid chunk size"},
        {"chunk size overflow", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", 400, "chunk size overflows"},
        {"chunk longer than its size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", 400, "chunk data longer than its size"},
        {"chunk without CRLF", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab0\r\n\r\n", 400, "chunk data longer than its size"},
        {"control in a chunk extension", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;a=\x01\r\nx\r\n", 400, "invalid chunk extension"},
        {"bad trailer", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", 400, "header line without a colon"},
        {"too many empty lines", "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n", 400, "too many empty lines before the request"},
    };
    for (const row& r : rows) {
        INFO(r.name);
        const outcome o = every_split(r.text);
        CHECK(o.last == result::error);
        CHECK(o.status == r.status);
        CHECK(o.reason == r.reason);
    }
}

TEST_CASE("limits: request line 414, header line and total 431, field count 431, body 413, chunk line 400") {
    parser_limits limits;
    limits.max_request_line = 64;
    limits.max_header_line = 40;
    limits.max_header_bytes = 100;
    limits.max_headers = 4;
    limits.max_body_bytes = 10;
    limits.max_chunk_line = 16;

    const std::string at_limit = "GET /" + std::string(64 - 14, 'a') + " HTTP/1.1"; // exactly 64 bytes
    REQUIRE(at_limit.size() == 64);
    CHECK(whole(at_limit + "\r\nHost: h\r\n\r\n", limits).last == result::complete);
    CHECK(whole("GET /" + std::string(51, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", limits).status == 414);
    // Refused before the line ends: an endless line never grows the parser's memory.
    CHECK(whole("GET /" + std::string(500, 'a'), limits).status == 414);

    const std::string field_at_limit = "X: " + std::string(37, 'v'); // 40 bytes
    CHECK(whole("GET / HTTP/1.1\r\nHost: h\r\n" + field_at_limit + "\r\n\r\n", limits).last == result::complete);
    const outcome long_field = whole("GET / HTTP/1.1\r\nHost: h\r\n" + field_at_limit + "v\r\n\r\n", limits);
    CHECK(long_field.status == 431);
    CHECK(long_field.reason == "header line too long");
    const outcome total = whole("GET / HTTP/1.1\r\nHost: h\r\nA: " + std::string(35, 'a') + "\r\nB: " + std::string(35, 'b') +
                                    "\r\nC: " + std::string(20, 'c') + "\r\n\r\n",
                                limits);
    CHECK(total.status == 431);
    CHECK(total.reason == "request header fields too large");
    const outcome count = whole("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", limits);
    CHECK(count.status == 431);
    CHECK(count.reason == "too many header fields");

    CHECK(whole("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", limits).last == result::complete);
    CHECK(whole("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", limits).status == 413);
    CHECK(whole("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", limits).status == 413);
    CHECK(whole("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\nghijk\r\n", limits).status == 413);
    CHECK(whole("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", limits).status == 413);
    const outcome chunk_line = whole("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;" + std::string(20, 'e') + "\r\n", limits);
    CHECK(chunk_line.status == 400);
    CHECK(chunk_line.reason == "chunk size line too long");
    // Trailers count against the header budget too.
    CHECK(whole("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\r\nU: 2\r\nV: 3\r\n\r\n", limits).status == 431);
}

TEST_CASE("finish(): the peer closing mid-request is a 400, between requests a clean end") {
    request_parser p;
    std::size_t used = 0;
    CHECK(p.finish() == result::need_more);
    CHECK(p.parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab", used) == result::headers_complete);
    CHECK(p.parse("ab", used) == result::need_more);
    CHECK(p.finish() == result::error);
    CHECK(p.error().status == 400);
    CHECK(p.error().reason == "connection closed before the request was complete");
    p.reset();
    CHECK_FALSE(p.started());
    CHECK(p.parse("GE", used) == result::need_more);
    CHECK(p.started());
    CHECK(p.finish() == result::error);
}

TEST_CASE("percent_decode and query parameters") {
    CHECK(percent_decode("a%20b%2Fc").value() == "a b/c");
    CHECK(percent_decode("a+b").value() == "a+b");
    CHECK(percent_decode("a+b", true).value() == "a b");
    CHECK_FALSE(percent_decode("%4").has_value());
    CHECK_FALSE(percent_decode("%zz").has_value());
    CHECK_FALSE(percent_decode("abc%").has_value());
    server_request r;
    r.query = "limit=10&name=a+b%21&flag&limit=20";
    CHECK(r.query_param("limit").value() == "10");
    CHECK(r.query_param("name").value() == "a b!");
    CHECK(r.query_param("flag").value().empty());
    CHECK_FALSE(r.query_param("missing").has_value());
}

} // TEST_SUITE

} // namespace test_http_request_parser
