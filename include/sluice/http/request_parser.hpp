#pragma once

// request_parser: an incremental HTTP/1.1 request parser (RFC 9112). Bytes come in whatever pieces
// the network delivers, down to one at a time; the parser keeps only a partial line between calls,
// so its memory is bounded by the limits. It is strict where leniency lets two parsers disagree
// about where a request ends (request smuggling): lines end with CRLF, no obsolete line folding, no
// space before a field's colon, one Content-Length and never with Transfer-Encoding, chunked last and
// once, no Transfer-Encoding in HTTP/1.0. Every refusal carries the status to answer and a short
// fixed reason that never echoes the request.
//
//     request_parser p(limits);
//     std::size_t used = 0;
//     switch (p.parse(bytes, used)) {   // drop `used` bytes from the input, whatever the result
//     case request_parser::result::need_more: ...        // read more, parse again
//     case request_parser::result::headers_complete: ... // a body follows: answer 100-continue now
//     case request_parser::result::complete: ...         // p.request() is whole; p.reset() for the next
//     case request_parser::result::error: ...            // p.error().status, p.error().reason
//     }

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include <sluice/http/header.hpp>
#include <sluice/http/server_request.hpp>

namespace sluice::http {

/// Bounds on what one request may contain; each breach is refused with the status given.
struct parser_limits {
    std::size_t max_request_line = 8 * 1024;  ///< request-line bytes; longer: 414
    std::size_t max_header_line = 8 * 1024;   ///< one field line; longer: 431
    std::size_t max_header_bytes = 64 * 1024; ///< all field lines, trailers included; more: 431
    std::size_t max_headers = 100;            ///< field lines, trailers included; more: 431
    std::uint64_t max_body_bytes = 1 << 20;   ///< the body (de-chunked); larger: 413
    std::size_t max_chunk_line = 4 * 1024;    ///< a chunk-size line with its extensions; longer: 400
};

/// Why a request was refused: the status to answer (4xx, 501, 505) and a short reason.
struct parse_error {
    /// The status to answer with (400, 413, 414, 431, 501, 505).
    int status = 0;
    std::string_view reason; ///< a string literal: never any part of the request
};

/// Parses one request after another from a connection's bytes. See the file comment.
class request_parser {
public:
    /// What parse() reached.
    enum class result {
        need_more,        ///< every byte given was consumed; parse again with more
        headers_complete, ///< headers are in request() and a body follows (answer 100-continue now)
        complete,         ///< request() is whole; bytes after it were not consumed
        error,            ///< refused: see error(); the connection cannot carry another request
    };

    /// A parser for one connection's requests, within `limits`.
    explicit request_parser(parser_limits limits = {}) : limits_(limits) {}

    /// Consumes bytes of `data` (`consumed` says how many) until it needs more, the headers are
    /// complete (once per request with a body), the request is complete, or it is refused.
    result parse(std::string_view data, std::size_t& consumed) {
        std::size_t pos = 0;
        const result r = run(data, pos);
        consumed = pos;
        return r;
    }

    /// The peer closed its side: an error when a request was under way, else need_more (a clean end).
    result finish() {
        if (state_ == state::complete) return result::complete;
        if (state_ == state::error) return result::error;
        if (!started_) return result::need_more;
        return fail(400, "connection closed before the request was complete");
    }

    /// Starts over for the next request, keeping allocated memory.
    void reset() noexcept {
        req_.clear();
        line_.clear();
        line_from_buffer_ = false;
        state_ = state::request_line;
        error_ = {};
        remaining_ = 0;
        header_bytes_ = 0;
        fields_ = 0;
        empty_lines_ = 0;
        started_ = false;
        host_count_ = 0;
        te_seen_ = te_chunked_ = te_after_chunked_ = te_other_ = false;
        close_ = keep_alive_ = expect_100_ = expect_other_ = false;
    }

    /// The request being parsed; whole once parse() said complete.
    [[nodiscard]] server_request& request() noexcept { return req_; }
    /// Why the request was refused (after result::error).
    [[nodiscard]] const parse_error& error() const noexcept { return error_; }
    /// True once a byte of the current request arrived (a quiet connection is not a slow request).
    [[nodiscard]] bool started() const noexcept { return started_; }
    /// True while a body is being read (after headers_complete).
    [[nodiscard]] bool in_body() const noexcept {
        return state_ == state::body_fixed || state_ == state::chunk_size || state_ == state::chunk_data ||
               state_ == state::chunk_data_end || state_ == state::trailer_line;
    }
    /// The limits it enforces.
    [[nodiscard]] const parser_limits& limits() const noexcept { return limits_; }

private:
    enum class state : std::uint8_t {
        request_line, header_line, body_fixed, chunk_size, chunk_data, chunk_data_end, trailer_line, complete, error,
    };
    enum class line_result { line, more, error };

    static constexpr std::size_t max_leading_empty_lines = 8;

    [[nodiscard]] static std::string_view trim(std::string_view s) noexcept {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
        return s;
    }
    [[nodiscard]] static int hex_value(char c) noexcept {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    result fail(int status, std::string_view reason) noexcept {
        state_ = state::error;
        error_ = {status, reason};
        return result::error;
    }

    bool refuse(int status, std::string_view reason) noexcept {
        fail(status, reason);
        return false;
    }

    result run(std::string_view data, std::size_t& pos) {
        for (;;) {
            switch (state_) {
            case state::complete: return result::complete;
            case state::error: return result::error;
            case state::body_fixed:
            case state::chunk_data:
                if (pos == data.size()) return result::need_more;
                take_body(data, pos);
                if (remaining_ != 0) continue;
                if (state_ == state::chunk_data) {
                    state_ = state::chunk_data_end;
                    continue;
                }
                return complete();
            default: break;
            }
            if (pos == data.size()) return result::need_more;
            started_ = true;
            std::string_view line;
            const line_result lr = take_line(data, pos, line);
            if (lr == line_result::more) return result::need_more;
            if (lr == line_result::error) return result::error;
            const result r = on_line(line);
            if (r != result::need_more) return r;
        }
    }

    void take_body(std::string_view data, std::size_t& pos) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size() - pos));
        req_.body.append(data.data() + pos, n);
        pos += n;
        remaining_ -= n;
    }

    /// The longest line the current state accepts (CR excluded), and what exceeding it means.
    struct line_budget {
        std::size_t limit;
        int status;
        std::string_view reason;
    };
    [[nodiscard]] line_budget budget() const noexcept {
        switch (state_) {
        case state::request_line: return {limits_.max_request_line, 414, "request line too long"};
        case state::chunk_size: return {limits_.max_chunk_line, 400, "chunk size line too long"};
        case state::chunk_data_end: return {0, 400, "chunk data longer than its size"};
        default: break;
        }
        const std::size_t left = limits_.max_header_bytes > header_bytes_ ? limits_.max_header_bytes - header_bytes_ : 0;
        if (left < limits_.max_header_line) return {left, 431, "request header fields too large"};
        return {limits_.max_header_line, 431, "header line too long"};
    }

    /// A whole line without its CRLF, from `data` directly or from what earlier calls kept.
    line_result take_line(std::string_view data, std::size_t& pos, std::string_view& line) {
        if (line_from_buffer_) {
            line_.clear();
            line_from_buffer_ = false;
        }
        const line_budget b = budget();
        const char* begin = data.data() + pos;
        const std::size_t avail = data.size() - pos;
        const auto* newline = static_cast<const char*>(std::memchr(begin, '\n', avail));
        const std::size_t length = newline ? static_cast<std::size_t>(newline - begin) : avail;
        // The CR may be the last byte kept or given, hence the + 1.
        if (line_.size() + length > b.limit + 1) {
            fail(b.status, b.reason);
            return line_result::error;
        }
        if (newline == nullptr) {
            line_.append(begin, avail);
            pos = data.size();
            return line_result::more;
        }
        pos += length + 1;
        if (line_.empty()) {
            line = std::string_view(begin, length);
        } else {
            line_.append(begin, length);
            line = line_;
            line_from_buffer_ = true;
        }
        if (line.empty() || line.back() != '\r') {
            fail(400, "line ends with a bare LF");
            return line_result::error;
        }
        line.remove_suffix(1);
        if (line.size() > b.limit) {
            fail(b.status, b.reason);
            return line_result::error;
        }
        return line_result::line;
    }

    result on_line(std::string_view line) {
        switch (state_) {
        case state::request_line:
            if (line.empty()) {
                // RFC 9112 2.2: ignore empty lines before a request (old clients add CRLF after bodies).
                if (++empty_lines_ > max_leading_empty_lines) return fail(400, "too many empty lines before the request");
                return result::need_more;
            }
            return request_line(line);
        case state::header_line:
            if (line.empty()) return headers_done();
            return field_line(line, false);
        case state::chunk_size: return chunk_size_line(line);
        case state::chunk_data_end:
            if (!line.empty()) return fail(400, "chunk data longer than its size");
            state_ = state::chunk_size;
            return result::need_more;
        case state::trailer_line:
            if (line.empty()) return complete();
            return field_line(line, true);
        default: return fail(400, "malformed request");
        }
    }

    result request_line(std::string_view line) {
        const std::size_t sp1 = line.find(' ');
        if (sp1 == std::string_view::npos || sp1 == 0) return fail(400, "malformed request line");
        const std::string_view method = line.substr(0, sp1);
        if (!detail::is_token(method)) return fail(400, "invalid method");
        const std::string_view rest = line.substr(sp1 + 1);
        const std::size_t sp2 = rest.find(' ');
        if (sp2 == std::string_view::npos || sp2 == 0) return fail(400, "malformed request line");
        const std::string_view target = rest.substr(0, sp2);
        const std::string_view version = rest.substr(sp2 + 1);
        if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' ||
            version[5] > '9' || version[7] < '0' || version[7] > '9')
            return fail(400, "malformed HTTP version");
        if (version[5] != '1') return fail(505, "HTTP version not supported");
        req_.version_minor = version[7] == '0' ? 0 : 1; // 1.2 and up are served as 1.1 (RFC 9110 2.5)
        for (const char c : target) {
            const auto u = static_cast<unsigned char>(c);
            if (u <= 0x20 || u >= 0x7f || c == '#') return fail(400, "invalid character in request target");
        }
        req_.method.assign(method);
        req_.target.assign(target);
        if (!split_target(target)) return result::error;
        state_ = state::header_line;
        return result::need_more;
    }

    /// Fills path and query from the four request-target forms of RFC 9112 3.2.
    bool split_target(std::string_view target) {
        std::string_view path_and_query;
        if (target.front() == '/') {
            path_and_query = target;
        } else if (target == "*") {
            if (req_.method != "OPTIONS") return refuse(400, "asterisk target outside OPTIONS");
            req_.path = "*";
            return true;
        } else if (req_.method == "CONNECT") {
            return true; // authority-form: host:port, no path
        } else {
            const std::size_t scheme_end = target.find("://");
            const std::string_view scheme = target.substr(0, scheme_end);
            if (scheme_end == std::string_view::npos || !(detail::iequals(scheme, "http") || detail::iequals(scheme, "https")))
                return refuse(400, "invalid request target");
            const std::string_view after = target.substr(scheme_end + 3);
            const std::size_t path_start = after.find_first_of("/?");
            if (path_start == 0) return refuse(400, "invalid request target");
            path_and_query = path_start == std::string_view::npos ? std::string_view{} : after.substr(path_start);
        }
        const std::size_t q = path_and_query.find('?');
        const std::string_view path = path_and_query.substr(0, q);
        req_.path.assign(path.empty() ? std::string_view("/") : path);
        if (q != std::string_view::npos) req_.query.assign(path_and_query.substr(q + 1));
        return true;
    }

    result field_line(std::string_view line, bool trailer) {
        if (line.front() == ' ' || line.front() == '\t') return fail(400, "obsolete line folding");
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) return fail(400, "header line without a colon");
        const std::string_view name = line.substr(0, colon);
        if (!detail::is_token(name)) return fail(400, "invalid header name");
        const std::string_view value = trim(line.substr(colon + 1));
        if (!detail::is_field_value(value)) return fail(400, "invalid character in header value");
        if (++fields_ > limits_.max_headers) return fail(431, "too many header fields");
        header_bytes_ += line.size() + 2;
        auto& list = trailer ? req_.trailers : req_.headers;
        list.emplace_back();
        std::string& lower = list.back().name;
        lower.resize(name.size());
        std::transform(name.begin(), name.end(), lower.begin(), detail::ascii_lower);
        list.back().value.assign(value);
        if (trailer) return result::need_more;
        return interpret(lower, value);
    }

    /// Records what the framing and connection handling depend on.
    result interpret(std::string_view name, std::string_view value) {
        if (name == "content-length") {
            if (req_.content_length) return fail(400, "more than one Content-Length");
            if (value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos)
                return fail(400, "invalid Content-Length");
            std::uint64_t n = 0;
            for (const char c : value) {
                const auto digit = static_cast<std::uint64_t>(c - '0');
                if (n > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
                    n = std::numeric_limits<std::uint64_t>::max(); // larger than any limit: 413
                    break;
                }
                n = n * 10 + digit;
            }
            req_.content_length = n;
        } else if (name == "transfer-encoding") {
            te_seen_ = true;
            for_each_element(value, [this](std::string_view coding) {
                if (te_chunked_) te_after_chunked_ = true; // chunked repeated, or not last
                if (detail::iequals(coding, "chunked"))
                    te_chunked_ = true;
                else
                    te_other_ = true;
            });
        } else if (name == "host") {
            ++host_count_;
        } else if (name == "connection") {
            for_each_element(value, [this](std::string_view option) {
                if (detail::iequals(option, "close")) close_ = true;
                if (detail::iequals(option, "keep-alive")) keep_alive_ = true;
            });
        } else if (name == "expect") {
            if (detail::iequals(value, "100-continue"))
                expect_100_ = true;
            else
                expect_other_ = true;
        }
        return result::need_more;
    }

    /// Calls `f` with each non-empty element of a comma-separated list, trimmed.
    template <class F>
    static void for_each_element(std::string_view list, F&& f) {
        while (!list.empty()) {
            const std::size_t comma = list.find(',');
            const std::string_view element = trim(list.substr(0, comma));
            if (!element.empty()) f(element);
            list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        }
    }

    result headers_done() {
        const bool http11 = req_.version_minor == 1;
        if (http11 && host_count_ == 0) return fail(400, "missing Host header");
        if (host_count_ > 1) return fail(400, "more than one Host header");
        if (te_seen_) {
            if (!http11) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
            if (req_.content_length) return fail(400, "both Content-Length and Transfer-Encoding");
            if (!te_chunked_ || te_after_chunked_) return fail(400, "Transfer-Encoding must end with chunked, once");
            if (te_other_) return fail(501, "transfer coding not implemented");
            req_.chunked = true;
        }
        if (expect_other_) return fail(417, "unsupported expectation");
        req_.expect_continue = expect_100_ && http11;
        req_.keep_alive = !close_ && (http11 || keep_alive_);
        if (req_.chunked) {
            state_ = state::chunk_size;
            return result::headers_complete;
        }
        const std::uint64_t length = req_.content_length.value_or(0);
        if (length == 0) return complete();
        if (length > limits_.max_body_bytes) return fail(413, "body larger than the limit");
        // Reserve what is announced, within reason: a client may announce much and send nothing.
        req_.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(length, 64 * 1024)) + server_request::body_padding);
        remaining_ = length;
        state_ = state::body_fixed;
        return result::headers_complete;
    }

    result chunk_size_line(std::string_view line) {
        std::uint64_t size = 0;
        std::size_t i = 0;
        for (; i < line.size(); ++i) {
            const int v = hex_value(line[i]);
            if (v < 0) break;
            if (size > (std::numeric_limits<std::uint64_t>::max() >> 4)) return fail(400, "chunk size overflows");
            size = size * 16 + static_cast<std::uint64_t>(v);
        }
        if (i == 0) return fail(400, "invalid chunk size");
        const std::string_view extension = trim(line.substr(i));
        if (!extension.empty() && extension.front() != ';') return fail(400, "invalid chunk size");
        if (!detail::is_field_value(extension)) return fail(400, "invalid chunk extension");
        if (size == 0) {
            state_ = state::trailer_line;
            return result::need_more;
        }
        if (size > limits_.max_body_bytes - std::min<std::uint64_t>(req_.body.size(), limits_.max_body_bytes))
            return fail(413, "body larger than the limit");
        remaining_ = size;
        state_ = state::chunk_data;
        return result::need_more;
    }

    result complete() {
        // Room after the body for parsers that read ahead (see server_request::body_padding).
        if (!req_.body.empty() && req_.body.capacity() - req_.body.size() < server_request::body_padding)
            req_.body.reserve(req_.body.size() + server_request::body_padding);
        state_ = state::complete;
        return result::complete;
    }

    parser_limits limits_;
    server_request req_;
    std::string line_;              // a line that arrived in pieces
    bool line_from_buffer_ = false; // line_ holds the last line returned: clear it before the next
    state state_ = state::request_line;
    parse_error error_{};
    std::uint64_t remaining_ = 0; // body or chunk bytes still to come
    std::size_t header_bytes_ = 0;
    std::size_t fields_ = 0;
    std::size_t empty_lines_ = 0;
    bool started_ = false;
    int host_count_ = 0;
    bool te_seen_ = false, te_chunked_ = false, te_after_chunked_ = false, te_other_ = false;
    bool close_ = false, keep_alive_ = false, expect_100_ = false, expect_other_ = false;
};

} // namespace sluice::http
