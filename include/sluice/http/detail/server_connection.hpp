#pragma once

// One connection of http::server: a coroutine that reads a request, hands it to the handler, writes
// the answer and starts over, so pipelined requests are answered in order. Answers to requests that
// are already buffered go out together in one write. Deadlines are plain time points that the
// server's reaper checks (one timer for all connections); a passed deadline stops the connection's
// I/O through a stop_source. A refused request gets its 4xx, then the connection lingers: it reads
// and drops what the client still sends, for a bounded time, and closes.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <memory>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sluice/core/async_scope.hpp>
#include <sluice/core/event.hpp>
#include <sluice/core/executor.hpp>
#include <sluice/core/task.hpp>
#include <sluice/http/request_parser.hpp>
#include <sluice/http/server_options.hpp>
#include <sluice/http/server_request.hpp>
#include <sluice/http/server_response.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/io/socket.hpp>

namespace sluice::http::detail {

class server_connection;

/// What a server and its connections share (loop thread only).
struct server_core {
    server_core(io_loop& l, server_options o, request_handler h)
        : loop(l), options(std::move(o)), handler(std::move(h)) {}

    io_loop& loop;
    server_options options;
    request_handler handler;
    server_stats stats;
    bool draining = false;                  ///< stop() began: finish what is under way, take nothing new
    server_connection* connections = nullptr; ///< every open connection (intrusive list)
    async_event all_closed;                 ///< set when the last connection closes while draining
};

/// "Sun, 06 Nov 1994 08:49:37 GMT", formatted once a second per thread.
[[nodiscard]] inline std::string_view http_date() {
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    thread_local std::time_t cached = -1;
    thread_local char text[64];
    thread_local int length = 0;
    const std::time_t now = std::time(nullptr);
    if (now != cached) {
        std::tm tm{};
        ::gmtime_r(&now, &tm);
        length = std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
                               months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached = now;
    }
    return {text, static_cast<std::size_t>(length)};
}

/// A fixed read buffer: bytes land at the end, the parser takes them from the front.
class read_buffer {
public:
    explicit read_buffer(std::size_t capacity) : data_(new char[capacity]), capacity_(capacity) {}

    [[nodiscard]] std::string_view view() const noexcept { return {data_.get() + begin_, end_ - begin_}; }
    [[nodiscard]] bool empty() const noexcept { return begin_ == end_; }
    void consume(std::size_t n) noexcept {
        begin_ += n;
        if (begin_ == end_) begin_ = end_ = 0;
    }
    /// Free room after the data (moved to the front first when the end is reached).
    [[nodiscard]] std::span<char> space() noexcept {
        if (end_ == capacity_ && begin_ > 0) {
            std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        return {data_.get() + end_, capacity_ - end_};
    }
    void commit(std::size_t n) noexcept { end_ += n; }
    void clear() noexcept { begin_ = end_ = 0; }

private:
    std::unique_ptr<char[]> data_;
    std::size_t capacity_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

/// Why a response cannot be sent as the handler built it, or null.
[[nodiscard]] inline const char* invalid_response(const server_response& r) noexcept {
    if (r.status < 200 || r.status > 599) return "handler answered a status outside 200-599";
    for (const auto& h : r.headers)
        if (!is_token(h.name) || !is_field_value(h.value)) return "handler answered a malformed header";
    return nullptr;
}

[[nodiscard]] inline bool wants_close(const server_response& r) noexcept {
    for (const auto& h : r.headers)
        if (iequals(h.name, "connection") && h.value.find("close") != std::string::npos) return true;
    return false;
}

class server_connection {
    using clock = io_loop::clock;
    using result = request_parser::result;

public:
    /// What the server's reaper and stop() look at.
    enum class phase : std::uint8_t { idle, reading, handling, writing, streaming, lingering };

    server_connection(server_core& core, tcp_stream stream)
        : core_(core), stream_(std::move(stream)), in_(read_buffer_size), parser_(core.options.limits),
          remote_(stream_.peer_address()) {
        next = core_.connections;
        if (next) next->prev = this;
        core_.connections = this;
        ++core_.stats.open;
    }
    ~server_connection() {
        (prev ? prev->next : core_.connections) = next;
        if (next) next->prev = prev;
        --core_.stats.open;
    }
    server_connection(const server_connection&) = delete;
    server_connection& operator=(const server_connection&) = delete;

    /// Serves requests until the connection closes. Never throws.
    task<void> run() {
        try {
            for (;;) {
                const read_outcome got = co_await read_request();
                if (got == read_outcome::closed) break;
                if (got != read_outcome::ready) {
                    parse_error why = parser_.error();
                    if (got == read_outcome::timed_out) why = timeout_error();
                    co_await refuse(why);
                    break;
                }
                const respond_outcome answered = co_await respond();
                if (answered == respond_outcome::broken) break;
                if (answered == respond_outcome::close) {
                    co_await linger();
                    break;
                }
                parser_.reset();
            }
        } catch (...) {
            note_failure("connection failed");
        }
    }

    // ---- for the server (loop thread) ----

    [[nodiscard]] phase current_phase() const noexcept { return phase_; }
    /// Between requests with nothing received: safe to close at once when draining.
    [[nodiscard]] bool quiet() const noexcept { return phase_ == phase::idle && !parser_.started() && in_.empty(); }
    [[nodiscard]] clock::time_point deadline() const noexcept { return deadline_; }
    /// Marks the deadline as passed; the caller stops the returned source (after it is done with the
    /// list: stopping may resume this connection's coroutine, which may end and free it).
    [[nodiscard]] std::stop_source expire() noexcept {
        timed_out_ = true;
        deadline_ = clock::time_point::max();
        return phase_ == phase::lingering ? linger_stop_ : io_stop_;
    }
    /// Everything to stop to end the connection now.
    void cancellers(std::vector<std::stop_source>& out) const {
        out.push_back(io_stop_);
        out.push_back(linger_stop_);
    }

    server_connection* next = nullptr;
    server_connection* prev = nullptr;

private:
    /// The response_stream of a streaming response: each write is one chunk (HTTP/1.1) or raw bytes
    /// (HTTP/1.0), under the write deadline.
    class chunk_writer final : public response_stream {
    public:
        chunk_writer(server_connection& c, bool chunked)
            : response_stream(c.core_.loop, c.io_stop_.get_token()), c_(c), chunked_(chunked) {}

        task<void> write(std::string_view data) override {
            if (data.empty()) co_return; // an empty chunk would end the body
            char size[24];
            char* end = std::to_chars(size, size + 16, data.size(), 16).ptr;
            *end++ = '\r';
            *end++ = '\n';
            const std::string_view pieces[3] = {std::string_view(size, static_cast<std::size_t>(end - size)), data, "\r\n"};
            const std::span<const std::string_view> all(pieces);
            const std::span<const std::string_view> to_send = chunked_ ? all : all.subspan(1, 1);
            c_.deadline_ = after(c_.options().write_timeout);
            try {
                co_await c_.stream_.write_all(to_send, c_.io_stop_.get_token());
            } catch (...) {
                c_.deadline_ = clock::time_point::max();
                throw;
            }
            c_.deadline_ = clock::time_point::max();
        }

    private:
        server_connection& c_;
        bool chunked_;
    };

    enum class read_outcome { ready, closed, refused, timed_out };
    enum class respond_outcome { keep_open, close, broken };
    enum class framing { length, chunked, until_close };

    static constexpr std::size_t read_buffer_size = 16 * 1024;
    static constexpr std::size_t inline_body_limit = 16 * 1024; // larger bodies are written from the response
    static constexpr std::size_t batch_limit = 64 * 1024;       // pipelined answers held back at most
    static constexpr std::size_t max_linger_bytes = 1 << 20;

    [[nodiscard]] const server_options& options() const noexcept { return core_.options; }
    [[nodiscard]] static parse_error timeout_error() noexcept { return {408, "request not received in time"}; }
    [[nodiscard]] static clock::time_point after(std::chrono::milliseconds d) noexcept { return clock::now() + d; }

    task<read_outcome> read_request() {
        phase_ = phase::idle;
        deadline_ = after(options().idle_timeout);
        for (;;) {
            if (!in_.empty()) {
                std::size_t used = 0;
                const result r = parser_.parse(in_.view(), used);
                in_.consume(used);
                if (phase_ == phase::idle && parser_.started()) {
                    phase_ = phase::reading;
                    deadline_ = after(options().header_timeout);
                }
                if (r == result::complete) co_return read_outcome::ready;
                if (r == result::error) co_return read_outcome::refused;
                if (r == result::headers_complete) {
                    deadline_ = after(options().body_timeout);
                    if (parser_.request().expect_continue && in_.empty()) {
                        out_ += "HTTP/1.1 100 Continue\r\n\r\n";
                        const bool sent = co_await flush_pending();
                        if (!sent) co_return read_outcome::closed;
                    }
                    continue;
                }
            }
            if (!out_.empty()) { // answers to pipelined requests go out before waiting for more
                const bool sent = co_await flush_pending();
                if (!sent) co_return read_outcome::closed;
            }
            if (!parser_.started() && core_.draining) co_return read_outcome::closed;
            std::size_t n = 0;
            bool cancelled = false;
            bool failed = false;
            try {
                n = co_await stream_.read_some(in_.space(), io_stop_.get_token());
            } catch (const operation_cancelled&) {
                cancelled = true;
            } catch (const std::system_error&) {
                failed = true;
            }
            if (cancelled) co_return timed_out_ && parser_.started() ? read_outcome::timed_out : read_outcome::closed;
            if (failed) co_return read_outcome::closed;
            if (n == 0) co_return parser_.finish() == result::error ? read_outcome::refused : read_outcome::closed;
            in_.commit(n);
            if (parser_.in_body()) deadline_ = after(options().body_timeout); // a pause, not the whole body
        }
    }

    task<respond_outcome> respond() {
        server_request& req = parser_.request();
        req.stop = io_stop_.get_token();
        req.remote_address = remote_;
        phase_ = phase::handling;
        deadline_ = clock::time_point::max();
        ++core_.stats.requests;
        server_response res = co_await call_handler(req);
        if (const char* bad = invalid_response(res)) {
            ++core_.stats.handler_errors;
            note_failure(bad);
            res = options().error_response(500, "internal server error");
        }
        const bool keep = req.keep_alive && !core_.draining && !wants_close(res);
        if (res.stream) co_return co_await stream_response(req, res, keep);

        const bool no_body = req.method == "HEAD" || res.status == 204 || res.status == 304;
        append_head(&req, res, keep, framing::length);
        std::string_view body = no_body ? std::string_view{} : std::string_view(res.body);
        if (body.size() <= inline_body_limit) {
            out_ += body;
            body = {};
        }
        // More requests already here: answer them first and send the answers together.
        if (keep && body.empty() && !in_.empty() && out_.size() < batch_limit) co_return respond_outcome::keep_open;
        const bool sent = co_await flush(body);
        if (!sent) co_return respond_outcome::broken;
        co_return keep ? respond_outcome::keep_open : respond_outcome::close;
    }

    task<server_response> call_handler(server_request& req) {
        try {
            co_return co_await core_.handler(req);
        } catch (const operation_cancelled&) {
            if (!io_stop_.stop_requested()) note_failure("handler cancelled");
        } catch (const std::exception& e) {
            note_failure(e.what());
        } catch (...) {
            note_failure("handler threw a non-exception");
        }
        ++core_.stats.handler_errors;
        co_return options().error_response(500, "internal server error");
    }

    task<respond_outcome> stream_response(server_request& req, server_response& res, bool keep) {
        const bool chunked = req.version_minor == 1;
        if (!chunked) keep = false; // HTTP/1.0: the end of the connection ends the body
        append_head(&req, res, keep, chunked ? framing::chunked : framing::until_close);
        bool sent = co_await flush({});
        if (!sent) co_return respond_outcome::broken;
        if (req.method == "HEAD") co_return keep ? respond_outcome::keep_open : respond_outcome::close;

        ++core_.stats.streams;
        phase_ = phase::streaming;
        std::stop_source watch_stop;
        async_scope watcher;
        watcher.spawn(watch_client(watch_stop.get_token()));
        chunk_writer writer(*this, chunked);
        bool finished = false;
        try {
            co_await res.stream(writer);
            finished = true;
        } catch (const operation_cancelled&) {
        } catch (const std::system_error&) {
        } catch (const std::exception& e) {
            note_failure(e.what());
        }
        watch_stop.request_stop();
        co_await watcher.join();
        phase_ = phase::writing;
        if (!finished || io_stop_.stop_requested()) co_return respond_outcome::broken;
        if (chunked) {
            out_ += "0\r\n\r\n";
            sent = co_await flush({});
            if (!sent) co_return respond_outcome::broken;
        }
        co_return keep ? respond_outcome::keep_open : respond_outcome::close;
    }

    /// While a stream runs, reads what the client sends (a pipelined request is kept for later) so
    /// that its going away is seen at once, not at the next write.
    task<void> watch_client(std::stop_token token) {
        bool gone = true;
        try {
            for (;;) {
                const std::span<char> space = in_.space();
                if (space.empty()) {
                    gone = false; // a client pipelining this much while streaming: stop watching
                    break;
                }
                const std::size_t n = co_await stream_.read_some(space, token);
                if (n == 0) break;
                in_.commit(n);
            }
        } catch (const operation_cancelled&) {
            gone = false;
        } catch (const std::system_error&) {
        }
        if (gone) {
            std::stop_source stop = io_stop_; // a copy: stopping may run the producer to its end
            stop.request_stop();
        }
    }

    /// Answers a refused request (408 after a timeout) and lingers. After a timeout the I/O source is
    /// stopped already: what fits in the socket buffer is sent, nothing waits.
    task<void> refuse(parse_error why) {
        ++(why.status == 408 ? core_.stats.timeouts : core_.stats.refused);
        server_response res = options().error_response(why.status, why.reason);
        res.status = why.status;
        append_head(nullptr, res, false, framing::length);
        out_ += res.body;
        const bool sent = co_await flush({});
        if (sent || timed_out_) co_await linger();
    }

    /// Half-closes, then reads and drops what the client still sends until it closes, for at most
    /// linger_timeout and max_linger_bytes.
    task<void> linger() {
        stream_.shutdown_write();
        phase_ = phase::lingering;
        deadline_ = after(options().linger_timeout);
        std::size_t drained = 0;
        try {
            while (drained < max_linger_bytes) {
                in_.clear();
                const std::size_t n = co_await stream_.read_some(in_.space(), linger_stop_.get_token());
                if (n == 0) break;
                drained += n;
            }
        } catch (...) {
        }
    }

    /// Writes out_ (then `extra`, not copied) with the write deadline; false when the client is gone.
    task<bool> flush(std::string_view extra) {
        phase_ = phase::writing;
        deadline_ = after(options().write_timeout);
        bool ok = true;
        try {
            if (extra.empty()) {
                co_await stream_.write_all(std::string_view(out_), io_stop_.get_token());
            } else {
                const std::string_view pieces[2] = {out_, extra};
                co_await stream_.write_all(std::span<const std::string_view>(pieces), io_stop_.get_token());
            }
        } catch (...) {
            ok = false;
        }
        out_.clear();
        deadline_ = clock::time_point::max();
        co_return ok;
    }

    /// flush() in the middle of reading a request: the read's phase and deadline carry on after it.
    task<bool> flush_pending() {
        const phase was = phase_;
        const clock::time_point until = deadline_;
        const bool ok = co_await flush({});
        phase_ = was;
        deadline_ = until;
        co_return ok;
    }

    /// Status line and headers; the server's own headers after the handler's.
    void append_head(const server_request* req, const server_response& res, bool keep, framing how) {
        char number[24];
        out_ += "HTTP/1.1 ";
        out_.append(number, std::to_chars(number, number + sizeof number, res.status).ptr);
        out_ += ' ';
        out_ += reason_phrase(res.status);
        out_ += "\r\n";
        bool has_date = false;
        bool has_server = false;
        for (const auto& h : res.headers) {
            if (iequals(h.name, "content-length") || iequals(h.name, "transfer-encoding") || iequals(h.name, "connection"))
                continue;
            has_date = has_date || iequals(h.name, "date");
            has_server = has_server || iequals(h.name, "server");
            out_ += h.name;
            out_ += ": ";
            out_ += h.value;
            out_ += "\r\n";
        }
        if (!has_server && !options().server_name.empty()) {
            out_ += "Server: ";
            out_ += options().server_name;
            out_ += "\r\n";
        }
        if (!has_date) {
            out_ += "Date: ";
            out_ += http_date();
            out_ += "\r\n";
        }
        if (how == framing::chunked) {
            out_ += "Transfer-Encoding: chunked\r\n";
        } else if (how == framing::length && res.status != 204 && res.status != 304) {
            out_ += "Content-Length: ";
            out_.append(number, std::to_chars(number, number + sizeof number, res.body.size()).ptr);
            out_ += "\r\n";
        }
        if (!keep)
            out_ += "Connection: close\r\n";
        else if (req != nullptr && req->version_minor == 0)
            out_ += "Connection: keep-alive\r\n";
        out_ += "\r\n";
    }

    void note_failure(const char* what) const noexcept {
        if (options().log == nullptr) return;
        options().log->log(log_level::warn, "http.server", what, {field::plain("remote", remote_)});
    }

    server_core& core_;
    tcp_stream stream_;
    read_buffer in_;
    std::string out_;
    request_parser parser_;
    std::string remote_;
    phase phase_ = phase::idle;
    clock::time_point deadline_ = clock::time_point::max();
    bool timed_out_ = false;
    std::stop_source io_stop_;     // reads, writes and the handler's token
    std::stop_source linger_stop_; // the lingering read, stopped apart: a timeout stops io_stop_ first
};

} // namespace sluice::http::detail
