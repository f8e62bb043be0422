#pragma once

// Raw HTTP/1.1 over tcp_stream for the server tests: send exact bytes (whole, or one at a time),
// read until the server closes (or give up after a while, and say so), and split what came back
// into responses (Content-Length, chunked, or until close; 100 Continue included).

#include <sluice/core/async_scope.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/io/socket.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice_test {

struct raw_response {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers; ///< names lower-cased
    std::string body;

    [[nodiscard]] std::optional<std::string> header(std::string_view lower_name) const {
        for (const auto& [n, v] : headers)
            if (n == lower_name) return v;
        return std::nullopt;
    }
};

/// What a raw exchange brought back.
struct raw_reply {
    std::string bytes;
    bool server_closed = false; ///< end of stream (or a reset) before the client gave up
};

namespace detail {
inline sluice::task<void> give_up_after(sluice::io_loop& loop, std::chrono::milliseconds after, std::stop_source target,
                                        std::stop_token cancel) {
    try {
        co_await loop.sleep_for(after, cancel);
    } catch (const sluice::operation_cancelled&) {
        co_return;
    }
    target.request_stop();
}
} // namespace detail

/// Reads until the peer closes, or `limit` passes (then server_closed is false).
inline sluice::task<raw_reply> read_until_close(sluice::io_loop& loop, sluice::tcp_stream& s,
                                                std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    raw_reply out;
    std::stop_source give_up;
    std::stop_source timer_done;
    sluice::async_scope timer;
    timer.spawn(detail::give_up_after(loop, limit, give_up, timer_done.get_token()));
    char buf[4096];
    try {
        for (;;) {
            const std::size_t n = co_await s.read_some(std::span<char>(buf), give_up.get_token());
            if (n == 0) {
                out.server_closed = true;
                break;
            }
            out.bytes.append(buf, n);
        }
    } catch (const sluice::operation_cancelled&) {
    } catch (const std::system_error&) {
        out.server_closed = true; // reset
    }
    timer_done.request_stop();
    co_await timer.join();
    co_return out;
}

/// How a raw request is sent.
struct send_options {
    bool byte_at_a_time = false;  ///< one write per byte, a millisecond apart
    bool half_close = false;      ///< shutdown_write once everything is sent
    std::chrono::milliseconds read_limit{std::chrono::seconds(5)};
};

/// Connects, sends `request`, and reads until the server closes.
inline sluice::task<raw_reply> exchange(sluice::io_loop& loop, std::uint16_t port, std::string request, send_options o = {}) {
    sluice::tcp_stream s = co_await sluice::tcp_stream::connect(loop, "127.0.0.1", port);
    try {
        if (o.byte_at_a_time) {
            for (std::size_t i = 0; i < request.size(); ++i) {
                co_await s.write_all(std::string_view(request).substr(i, 1));
                co_await loop.sleep_for(std::chrono::milliseconds(1));
            }
        } else {
            co_await s.write_all(request);
        }
    } catch (const std::system_error&) {
        // The server may refuse and close before everything was sent; what it answered still counts.
    }
    if (o.half_close) s.shutdown_write();
    co_return co_await read_until_close(loop, s, o.read_limit);
}

/// Splits `data` into responses; a response whose framing is incomplete ends the list. The
/// responses at `head_answers` (0-based) answer HEAD requests: headers only.
inline std::vector<raw_response> split_responses(std::string_view data, std::vector<std::size_t> head_answers = {}) {
    std::vector<raw_response> out;
    while (!data.empty()) {
        const std::size_t head_end = data.find("\r\n\r\n");
        if (head_end == std::string_view::npos || data.substr(0, 9) != "HTTP/1.1 ") break;
        raw_response r;
        r.status = std::atoi(std::string(data.substr(9, 3)).c_str());
        std::string_view head = data.substr(0, head_end);
        head.remove_prefix(std::min(head.size(), head.find("\r\n") + 2));
        while (!head.empty()) {
            const std::size_t eol = head.find("\r\n");
            const std::string_view line = head.substr(0, eol);
            const std::size_t colon = line.find(':');
            std::string name(line.substr(0, colon));
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            r.headers.emplace_back(std::move(name), std::string(value));
            head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
        }
        data.remove_prefix(head_end + 4);
        const bool bodiless = std::find(head_answers.begin(), head_answers.end(), out.size()) != head_answers.end();
        if (bodiless || r.status == 100 || r.status == 204 || r.status == 304) {
            out.push_back(std::move(r));
            continue;
        }
        if (const auto length = r.header("content-length")) {
            const std::size_t n = std::strtoull(length->c_str(), nullptr, 10);
            if (data.size() < n) break;
            r.body = std::string(data.substr(0, n));
            data.remove_prefix(n);
        } else if (r.header("transfer-encoding") == "chunked") {
            for (;;) {
                const std::size_t eol = data.find("\r\n");
                if (eol == std::string_view::npos) return out;
                const std::size_t n = std::strtoull(std::string(data.substr(0, eol)).c_str(), nullptr, 16);
                if (data.size() < eol + 2 + n + 2) return out;
                r.body.append(data.substr(eol + 2, n));
                data.remove_prefix(eol + 2 + n + 2);
                if (n == 0) break;
            }
        } else {
            r.body = std::string(data); // until close
            data = {};
        }
        out.push_back(std::move(r));
    }
    return out;
}

} // namespace sluice_test
