#pragma once

// http::server: an HTTP/1.1 server on the io_loop. Each connection is a coroutine on the loop;
// keep-alive and pipelined requests are answered in order; every malformed request gets a clear
// 4xx (or 501/505) with a short reason and the server carries on. Bound to 127.0.0.1 unless told
// otherwise; the port is known from construction (0 picks a free one).
//
//     http::router routes;
//     routes.post("/minifirehoses/{name}/message", [&](http::server_request& r) -> task<http::server_response> {
//         co_return http::server_response::json(202, "{\"accepted\":1}");
//     });
//     http::server server(loop, routes.as_handler());
//     server.start();                        // on the loop's thread
//     ...
//     co_await server.stop(std::chrono::seconds(5));
//
// stop(grace) stops accepting, closes idle connections, lets requests under way finish (their
// answers carry "Connection: close"), ends streams, and after `grace` stops what is left: handlers
// see it through server_request::stop. Everything runs on the loop's thread; one server per loop (or
// several loops on one port with server_options::reuse_port). A server must be stopped before it is
// destroyed.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <sluice/core/async_scope.hpp>
#include <sluice/core/event.hpp>
#include <sluice/core/semaphore.hpp>
#include <sluice/core/task.hpp>
#include <sluice/http/detail/server_connection.hpp>
#include <sluice/http/server_options.hpp>
#include <sluice/http/server_request.hpp>
#include <sluice/http/server_response.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/io/socket.hpp>

namespace sluice::http {

/// An HTTP/1.1 server; see the file comment.
class server {
public:
    /// Binds and listens at once (std::system_error when the address is taken or not a literal);
    /// serves nothing until start().
    server(io_loop& loop, request_handler handler, server_options options = {})
        : core_(loop, std::move(options), std::move(handler)), listener_(loop, listen_options_of(core_.options)),
          permits_(static_cast<std::ptrdiff_t>(std::max<std::size_t>(core_.options.max_connections, 1))) {
        if (!core_.handler) throw std::invalid_argument("http::server: no handler");
        if (!core_.options.error_response) throw std::invalid_argument("http::server: no error_response");
        if (!detail::is_field_value(core_.options.server_name))
            throw std::invalid_argument("http::server: server_name has control characters");
    }

    server(const server&) = delete;
    server& operator=(const server&) = delete;

    ~server() {
        if (started_ && !stopped_.is_set()) {
            std::fprintf(stderr, "sluice: http::server destroyed while running; co_await stop() first\n");
            std::terminate();
        }
    }

    /// The port it listens on.
    [[nodiscard]] std::uint16_t port() const noexcept { return listener_.port(); }
    /// "127.0.0.1:8080".
    [[nodiscard]] std::string address() const { return listener_.address(); }
    /// "http://127.0.0.1:8080".
    [[nodiscard]] std::string url() const { return "http://" + address(); }

    /// Starts accepting connections. On the loop's thread, once.
    void start() {
        if (started_) throw std::logic_error("http::server: started twice");
        started_ = true;
        scope_.spawn(accept_loop());
        scope_.spawn(reaper());
    }

    /// Stops gracefully: see the file comment. Completes once every connection is closed. A second
    /// call waits for the first.
    [[nodiscard]] task<void> stop(std::chrono::milliseconds grace = std::chrono::seconds(5)) {
        if (!started_) co_return;
        if (core_.draining) {
            co_await stopped_.wait();
            co_return;
        }
        core_.draining = true;
        request_stop(accept_stop_);
        // Idle connections close now, streams end now (they would never finish on their own).
        std::vector<std::stop_source> now;
        for (detail::server_connection* c = core_.connections; c != nullptr; c = c->next)
            if (c->quiet() || c->current_phase() == detail::server_connection::phase::streaming) c->cancellers(now);
        for (auto& s : now) s.request_stop();

        std::stop_source grace_over;
        async_scope timer;
        timer.spawn(force_after(grace, grace_over.get_token()));
        if (core_.stats.open != 0) co_await core_.all_closed.wait();
        grace_over.request_stop();
        co_await timer.join();
        request_stop(reaper_stop_);
        co_await scope_.join();
        listener_.close();
        stopped_.set();
    }

    /// Serves until `until` is stopped (from any thread), then stop(grace).
    [[nodiscard]] task<void> serve(std::stop_token until, std::chrono::milliseconds grace = std::chrono::seconds(5)) {
        start();
        async_event stop_requested;
        std::stop_callback on_stop(until, [&stop_requested] { stop_requested.set(); });
        co_await stop_requested.wait();
        co_await stop(grace);
    }

    /// Counters (read on the loop's thread).
    [[nodiscard]] const server_stats& stats() const noexcept { return core_.stats; }
    /// The options it was made with.
    [[nodiscard]] const server_options& options() const noexcept { return core_.options; }

private:
    static listen_options listen_options_of(const server_options& o) {
        listen_options l;
        l.address = o.address;
        l.port = o.port;
        l.backlog = o.backlog;
        l.reuse_port = o.reuse_port;
        return l;
    }

    /// Stops through a copy: the callbacks may end coroutines that own the source.
    static void request_stop(const std::stop_source& source) {
        std::stop_source copy = source;
        copy.request_stop();
    }

    task<void> accept_loop() {
        const std::stop_token stop = accept_stop_.get_token();
        while (!stop.stop_requested()) {
            bool cancelled = false;
            bool failed = false;
            std::optional<tcp_stream> stream;
            try {
                co_await permits_.acquire(stop);
            } catch (const operation_cancelled&) {
                break;
            }
            try {
                stream.emplace(co_await listener_.accept(stop));
            } catch (const operation_cancelled&) {
                cancelled = true;
            } catch (const std::system_error& e) {
                failed = true;
                note_accept_failure(e);
            }
            if (!stream || stop.stop_requested()) {
                permits_.release();
                if (cancelled || stop.stop_requested()) break;
                if (failed) {
                    // Out of descriptors or memory: give closing connections a moment.
                    try {
                        co_await core_.loop.sleep_for(std::chrono::milliseconds(50), stop);
                    } catch (const operation_cancelled&) {
                        break;
                    }
                }
                continue;
            }
            ++core_.stats.accepted;
            scope_.spawn(serve_connection(std::move(*stream)));
        }
    }

    task<void> serve_connection(tcp_stream stream) {
        {
            detail::server_connection connection(core_, std::move(stream));
            co_await connection.run();
        }
        permits_.release();
        if (core_.draining && core_.stats.open == 0) core_.all_closed.set();
    }

    /// One timer for every connection's deadline (header, body, idle, write, linger).
    task<void> reaper() {
        const std::stop_token stop = reaper_stop_.get_token();
        const auto tick = reaper_tick(core_.options);
        std::vector<std::stop_source> expired;
        for (;;) {
            try {
                co_await core_.loop.sleep_for(tick, stop);
            } catch (const operation_cancelled&) {
                break;
            }
            const auto now = io_loop::clock::now();
            for (detail::server_connection* c = core_.connections; c != nullptr; c = c->next)
                if (c->deadline() <= now) expired.push_back(c->expire());
            for (auto& s : expired) s.request_stop();
            expired.clear();
        }
    }

    /// A quarter of the shortest timeout, between 5 ms and 1 s: timeouts fire within 25% late.
    static std::chrono::milliseconds reaper_tick(const server_options& o) {
        const auto shortest = std::min({o.header_timeout, o.body_timeout, o.idle_timeout, o.write_timeout, o.linger_timeout});
        return std::clamp(shortest / 4, std::chrono::milliseconds(5), std::chrono::milliseconds(1000));
    }

    task<void> force_after(std::chrono::milliseconds grace, std::stop_token cancel) {
        try {
            co_await core_.loop.sleep_for(grace, cancel);
        } catch (const operation_cancelled&) {
            co_return;
        }
        std::vector<std::stop_source> all;
        for (detail::server_connection* c = core_.connections; c != nullptr; c = c->next) c->cancellers(all);
        for (auto& s : all) s.request_stop();
    }

    void note_accept_failure(const std::system_error& e) const noexcept {
        if (core_.options.log) core_.options.log->log(log_level::error, "http.server", e.what());
    }

    detail::server_core core_;
    tcp_listener listener_;
    async_semaphore permits_;
    std::stop_source accept_stop_;
    std::stop_source reaper_stop_;
    async_event stopped_;
    bool started_ = false;
    async_scope scope_; // last: destroyed first, while everything its tasks use still exists
};

} // namespace sluice::http
