#pragma once

// sluice::http::request_parser, the parser of what clients send http::server: a byte stream of
// requests one after the other (pipelining), parsed with small limits so every limit is reached often.
// What must hold:
//   - the stream parses the same (every request and the final refusal, if any) whether it is fed
//     whole, in pieces of 1 to 8 bytes chosen by the input itself, or one byte at a time;
//   - parse() never consumes more than it was given, consumes everything when it asks for more, and
//     says headers_complete at most once per request;
//   - a complete request respects the limits (body, header count), has a token method, never both
//     chunked and Content-Length, and a body as long as its Content-Length;
//   - a refusal has a status among 400, 413, 414, 417, 431, 501, 505 and a non-empty reason;
//   - the router-side helpers (percent_decode, query_param) accept whatever path and query came, and
//     the router answers every request with its route (parameters non-empty, as many as the pattern
//     names) or one of its own refusals (204 for OPTIONS, 400, 404, 405 with Allow, 501).
//
// Input: the raw stream. Dictionary: fuzz/dict/http_request.dict.

#include "../fuzz.hpp"

#include <sluice/core/sync_wait.hpp>
#include <sluice/http/request_parser.hpp>
#include <sluice/http/router.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sluice_fuzz {

namespace http_request_detail {

using sluice::http::parser_limits;
using sluice::http::request_parser;
using result = request_parser::result;

inline parser_limits small_limits() {
    parser_limits l;
    l.max_request_line = 128;
    l.max_header_line = 96;
    l.max_header_bytes = 400;
    l.max_headers = 8;
    l.max_body_bytes = 200;
    l.max_chunk_line = 32;
    return l;
}

/// One parsed request, or the refusal that ended the stream.
inline std::string summary(request_parser& p, result r) {
    if (r == result::error) return "error " + std::to_string(p.error().status) + " " + std::string(p.error().reason);
    const auto& q = p.request();
    std::string s = q.method + '\n' + q.target + '\n' + q.path + '\n' + q.query + '\n' + std::to_string(q.version_minor);
    s += q.keep_alive ? " keep" : " close";
    s += q.chunked ? " chunked" : "";
    s += q.expect_continue ? " continue\n" : "\n";
    for (const auto& h : q.headers) s += h.name + ": " + h.value + '\n';
    for (const auto& h : q.trailers) s += "trailer " + h.name + ": " + h.value + '\n';
    s += "body " + std::to_string(q.body.size()) + ' ' + q.body;
    return s;
}

/// A route's answer: 200 and its parameters, one a line.
inline sluice::task<sluice::http::server_response> answer(sluice::http::server_request& r) {
    std::string body;
    for (const auto& [name, value] : r.params) body += name + "=" + value + "\n";
    co_return sluice::http::server_response::text(200, std::move(body));
}

inline const sluice::http::router& routes() {
    static const sluice::http::router* const r = [] {
        auto* out = new sluice::http::router; // kept for the process, as a server keeps its router
        out->get("/items", &answer);
        out->post("/items/{id}", &answer);
        out->get("/items/{id}/parts/{n}", &answer);
        out->del("/items/special", &answer);
        out->get("/{any}/x", &answer);
        return out;
    }();
    return *r;
}

inline void route(sluice::http::server_request& q) {
    const sluice::http::server_response a = sluice::sync_wait(routes().dispatch(q));
    const int s = a.status;
    SLUICE_FUZZ_CHECK(s == 200 || s == 204 || s == 400 || s == 404 || s == 405 || s == 501, std::to_string(s));
    if (s == 200) {
        SLUICE_FUZZ_CHECK(q.params.size() <= 2, "more parameters than a pattern names");
        for (const auto& [name, value] : q.params) SLUICE_FUZZ_CHECK(!value.empty(), "an empty parameter " + name);
    }
    if (s == 204 || s == 405) {
        bool allow = false;
        for (const auto& h : a.headers) allow = allow || h.name == "Allow";
        SLUICE_FUZZ_CHECK(allow, "405 or OPTIONS without Allow");
    }
}

inline void check_complete(request_parser& p) {
    auto& q = p.request();
    const parser_limits l = small_limits();
    SLUICE_FUZZ_CHECK(sluice::http::detail::is_token(q.method), show(q.method));
    SLUICE_FUZZ_CHECK(q.body.size() <= l.max_body_bytes, "body over its limit");
    SLUICE_FUZZ_CHECK(q.headers.size() + q.trailers.size() <= l.max_headers, "more headers than the limit");
    SLUICE_FUZZ_CHECK(!(q.chunked && q.content_length), "both chunked and Content-Length");
    if (q.content_length) SLUICE_FUZZ_CHECK(*q.content_length == q.body.size(), "body length differs from Content-Length");
    if (!q.body.empty())
        SLUICE_FUZZ_CHECK(q.body.capacity() >= q.body.size() + sluice::http::server_request::body_padding,
                          "body without its padding");
    (void)sluice::http::percent_decode(q.path);
    (void)q.query_param("a");
    route(q);
}

inline void check_error(const request_parser& p) {
    const int s = p.error().status;
    SLUICE_FUZZ_CHECK(s == 400 || s == 413 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505,
                      std::to_string(s));
    SLUICE_FUZZ_CHECK(!p.error().reason.empty(), "a refusal without a reason");
}

/// Feeds `data` in pieces of the sizes `next_size()` gives; returns every request and the refusal.
template <class NextSize>
std::vector<std::string> parse_stream(std::string_view data, NextSize next_size) {
    request_parser p(small_limits());
    std::vector<std::string> out;
    bool headers_seen = false;
    while (!data.empty()) {
        std::string_view piece = data.substr(0, next_size());
        data.remove_prefix(piece.size());
        while (!piece.empty()) {
            std::size_t used = 0;
            const result r = p.parse(piece, used);
            SLUICE_FUZZ_CHECK(used <= piece.size(), "consumed more than it was given");
            piece.remove_prefix(used);
            if (r == result::need_more) {
                SLUICE_FUZZ_CHECK(piece.empty(), "asked for more with bytes left");
                break;
            }
            if (r == result::headers_complete) {
                SLUICE_FUZZ_CHECK(!headers_seen, "headers_complete twice for one request");
                headers_seen = true;
                continue;
            }
            out.push_back(summary(p, r));
            if (r == result::error) {
                check_error(p);
                return out;
            }
            check_complete(p);
            p.reset();
            headers_seen = false;
        }
    }
    if (p.finish() == result::error) {
        check_error(p);
        out.push_back(summary(p, result::error));
    }
    return out;
}

} // namespace http_request_detail

SLUICE_FUZZ_TARGET(http_request) {
    using http_request_detail::parse_stream;
    const std::string_view text = as_text(data);
    const auto whole = parse_stream(text, [&] { return text.size(); });
    std::size_t i = 0;
    const auto pieces = parse_stream(text, [&] {
        return std::size_t{1} + static_cast<unsigned char>(text[i++ % text.size()]) % 8;
    });
    SLUICE_FUZZ_CHECK(pieces == whole, "fed in pieces, the stream parses differently");
    if (text.size() <= 1024) {
        const auto single = parse_stream(text, [] { return std::size_t{1}; });
        SLUICE_FUZZ_CHECK(single == whole, "fed byte by byte, the stream parses differently");
    }
}

} // namespace sluice_fuzz
