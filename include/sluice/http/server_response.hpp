#pragma once

// server_response: what a handler of http::server answers: a status, headers and either a body or a
// coroutine that streams it (chunked, or server-sent events for live pages) until it returns or the
// client goes away. The server adds the framing (Content-Length or Transfer-Encoding), Date, Server
// and Connection itself.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/core/task.hpp>
#include <sluice/http/header.hpp>
#include <sluice/http/server_request.hpp>
#include <sluice/io/loop.hpp>

namespace sluice::http {

/// The standard reason phrase of `status` ("Not Found"), or "Unknown".
[[nodiscard]] constexpr std::string_view reason_phrase(int status) noexcept {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

namespace detail {

/// Appends `s` as a JSON string literal (quotes included), escaping what JSON requires.
inline void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (u < 0x20) {
                out += "\\u00";
                out.push_back(hex[u >> 4]);
                out.push_back(hex[u & 15]);
            } else {
                out.push_back(c);
            }
        }
    }
    out.push_back('"');
}

} // namespace detail

/// The body writer a streaming response's coroutine gets. One write at a time (await each).
class response_stream {
public:
    virtual ~response_stream() = default;
    response_stream(const response_stream&) = delete;
    response_stream& operator=(const response_stream&) = delete;

    /// Sends `data` as the next piece of the body (one chunk), waiting while the client is slow.
    /// Throws operation_cancelled or std::system_error once the client is gone or the server stops.
    [[nodiscard]] virtual task<void> write(std::string_view data) = 0;

    /// Sends one server-sent event: "event:" and "id:" when given (line breaks in them dropped), then a
    /// "data:" line for each line of `data`, then the blank line that ends the event.
    [[nodiscard]] task<void> send_event(std::string_view data, std::string_view event = {}, std::string_view id = {}) {
        buffer_.clear();
        append_field("event", event, true);
        append_field("id", id, true);
        std::size_t start = 0;
        for (;;) {
            const std::size_t end = data.find_first_of("\r\n", start);
            append_field("data", data.substr(start, end - start), false);
            if (end == std::string_view::npos) break;
            start = end + (data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n' ? 2 : 1);
        }
        buffer_ += '\n';
        return write(buffer_);
    }

    /// Sends an event-stream comment (": text"): keeps idle streams open through proxies.
    [[nodiscard]] task<void> send_comment(std::string_view text) {
        buffer_.assign(": ");
        for (const char c : text)
            if (c != '\r' && c != '\n') buffer_ += c;
        buffer_ += "\n\n";
        return write(buffer_);
    }

    /// Fires when the client goes away or the server stops: end the stream then.
    [[nodiscard]] std::stop_token stop_token() const noexcept { return stop_; }
    /// True once the client went away or the server is stopping.
    [[nodiscard]] bool stop_requested() const noexcept { return stop_.stop_requested(); }
    /// The loop the connection runs on (for timers between events).
    [[nodiscard]] io_loop& loop() const noexcept { return *loop_; }

protected:
    /// A stream belongs to one response on `loop`; `stop` fires when it should end.
    response_stream(io_loop& loop, std::stop_token stop) noexcept : loop_(&loop), stop_(std::move(stop)) {}

private:
    void append_field(std::string_view name, std::string_view value, bool skip_empty) {
        if (skip_empty && value.empty()) return;
        buffer_ += name;
        buffer_ += ": ";
        for (const char c : value)
            if (c != '\r' && c != '\n') buffer_ += c;
        buffer_ += '\n';
    }

    io_loop* loop_;
    std::stop_token stop_;
    std::string buffer_;
};

/// A handler's answer. See the file comment.
struct server_response {
    /// The producer of a streaming body.
    using stream_fn = std::function<task<void>(response_stream&)>;

    /// 200 to 599; anything else is answered 500.
    int status = 200;
    /// Sent as given, except Content-Length, Transfer-Encoding and Connection, which the server owns
    /// ("Connection: close" is honoured: the server closes after this response).
    std::vector<http::header> headers;
    /// The body (sent with a Content-Length; not for HEAD, 204 and 304).
    std::string body;
    /// When set, the body comes from this coroutine instead: chunked over HTTP/1.1, until the
    /// connection closes over HTTP/1.0. `body` is ignored.
    stream_fn stream;

    /// A plain text response (text/plain; charset=utf-8).
    [[nodiscard]] static server_response text(int status, std::string body) {
        return with_type(status, "text/plain; charset=utf-8", std::move(body));
    }
    /// A JSON response (application/json); `body` must already be JSON.
    [[nodiscard]] static server_response json(int status, std::string body) {
        return with_type(status, "application/json", std::move(body));
    }
    /// {"error":"<reason>"} with `status`: how the server refuses requests unless told otherwise.
    [[nodiscard]] static server_response error(int status, std::string_view reason) {
        std::string body = "{\"error\":";
        detail::append_json_string(body, reason);
        body += '}';
        return json(status, std::move(body));
    }
    /// Server-sent events (text/event-stream, not cached): `producer` sends them through the stream.
    [[nodiscard]] static server_response event_stream(stream_fn producer) {
        server_response r;
        r.headers.push_back({"Content-Type", "text/event-stream"});
        r.headers.push_back({"Cache-Control", "no-cache"});
        r.stream = std::move(producer);
        return r;
    }

    /// Adds a header (no check for an existing one of the same name).
    server_response& add_header(std::string name, std::string value) & {
        headers.push_back({std::move(name), std::move(value)});
        return *this;
    }
    /// Adds a header (the name as given; Content-Length and Connection are the server's).
    server_response&& add_header(std::string name, std::string value) && {
        headers.push_back({std::move(name), std::move(value)});
        return std::move(*this);
    }

    /// The first header called `name` (any case).
    [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const {
        for (const auto& h : headers)
            if (detail::iequals(h.name, name)) return std::string_view(h.value);
        return std::nullopt;
    }

private:
    static server_response with_type(int status, const char* type, std::string body) {
        server_response r;
        r.status = status;
        r.headers.push_back({"Content-Type", type});
        r.body = std::move(body);
        return r;
    }
};

/// What http::server calls for each request: a coroutine answering it. The request stays valid until
/// the response has been written.
using request_handler = std::function<task<server_response>(server_request&)>;

} // namespace sluice::http
