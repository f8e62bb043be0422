// libFuzzer harness for sluice::http::request_parser, the parser of what clients send http::server.
//
// The input is a byte stream from a client: requests one after the other (pipelining), parsed with
// small limits so every limit is reached often. Oracles besides the sanitizers:
//   - the stream parses the same (every request and the final refusal, if any) whether it is fed
//     whole, in pieces of 1 to 8 bytes chosen by the input itself, or one byte at a time;
//   - parse() never consumes more than it was given, consumes everything when it asks for more, and
//     says headers_complete at most once per request;
//   - a complete request respects the limits (body, header count), has a token method, never both
//     chunked and Content-Length, and a body as long as its Content-Length;
//   - a refusal has a status among 400, 413, 414, 417, 431, 501, 505 and a non-empty reason;
//   - the router-side helpers (percent_decode, query_param) accept whatever path and query came.
//
// Build and run (clang 14, libFuzzer; from the repository root):
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize=function \
//     -Iinclude fuzz/fuzz_http_request.cpp -o /tmp/fuzz_http_request
//   mkdir -p /tmp/fuzz_http_request_corpus
//   /tmp/fuzz_http_request -dict=fuzz/http_request.dict -max_len=2048 -runs=2000000 /tmp/fuzz_http_request_corpus
// A file argument instead of a directory replays one input (e.g. a crash).

#include <sluice/http/request_parser.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using sluice::http::parser_limits;
using sluice::http::request_parser;
using result = request_parser::result;

void require(bool ok) {
    if (!ok) std::abort();
}

parser_limits small_limits() {
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
std::string summary(const request_parser& p, result r) {
    if (r == result::error) return "error " + std::to_string(p.error().status) + " " + std::string(p.error().reason);
    const auto& q = const_cast<request_parser&>(p).request();
    std::string s = q.method + '\n' + q.target + '\n' + q.path + '\n' + q.query + '\n' + std::to_string(q.version_minor);
    s += q.keep_alive ? " keep" : " close";
    s += q.chunked ? " chunked" : "";
    s += q.expect_continue ? " continue\n" : "\n";
    for (const auto& h : q.headers) s += h.name + ": " + h.value + '\n';
    for (const auto& h : q.trailers) s += "trailer " + h.name + ": " + h.value + '\n';
    s += "body " + std::to_string(q.body.size()) + ' ' + q.body;
    return s;
}

void check_complete(request_parser& p) {
    const auto& q = p.request();
    const parser_limits l = small_limits();
    require(sluice::http::detail::is_token(q.method));
    require(q.body.size() <= l.max_body_bytes);
    require(q.headers.size() + q.trailers.size() <= l.max_headers);
    require(!(q.chunked && q.content_length));
    if (q.content_length) require(*q.content_length == q.body.size());
    if (!q.body.empty()) require(q.body.capacity() >= q.body.size() + sluice::http::server_request::body_padding);
    (void)sluice::http::percent_decode(q.path);
    (void)q.query_param("a");
}

void check_error(const request_parser& p) {
    const int s = p.error().status;
    require(s == 400 || s == 413 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505);
    require(!p.error().reason.empty());
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
            require(used <= piece.size());
            piece.remove_prefix(used);
            if (r == result::need_more) {
                require(piece.empty());
                break;
            }
            if (r == result::headers_complete) {
                require(!headers_seen);
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

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    const std::string_view data(reinterpret_cast<const char*>(bytes), size);
    const auto whole = parse_stream(data, [&] { return data.size(); });
    std::size_t i = 0;
    const auto pieces = parse_stream(data, [&] { return std::size_t{1} + static_cast<unsigned char>(data[i++ % size]) % 8; });
    require(pieces == whole);
    if (size <= 1024) {
        const auto single = parse_stream(data, [] { return std::size_t{1}; });
        require(single == whole);
    }
    return 0;
}
