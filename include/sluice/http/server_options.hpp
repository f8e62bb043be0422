#pragma once

// http::server's options and counters.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <sluice/http/request_parser.hpp>
#include <sluice/http/server_response.hpp>
#include <sluice/metrics/log.hpp>
#include <sluice/version.hpp>

namespace sluice::http {

/// How an http::server listens, what it accepts and how long it waits.
struct server_options {
    /// An IP literal; "0.0.0.0" or "::" to listen on every interface (never the default).
    std::string address = "127.0.0.1";
    /// 0: an ephemeral port (server::port() tells which).
    std::uint16_t port = 0;
    /// listen(2)'s queue of connections not yet accepted.
    int backlog = 1024;
    /// SO_REUSEPORT: one server per loop and thread on the same port, the kernel spreading connections.
    bool reuse_port = false;

    /// Request size limits (414, 431, 413 beyond them).
    parser_limits limits{};

    /// From a request's first byte to its last header; then 408.
    std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
    /// The longest pause while a body arrives; then 408.
    std::chrono::milliseconds body_timeout{std::chrono::seconds(30)};
    /// A kept-alive connection (or a new one) without a request for this long is closed quietly.
    std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
    /// The longest the client may take to accept a response (or one piece of a stream); then the
    /// connection is closed.
    std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
    /// After refusing a request the server reads and discards what the client still sends, for at
    /// most this long, before it closes: closing with unread data would reset the connection and the
    /// client could lose the refusal.
    std::chrono::milliseconds linger_timeout{std::chrono::seconds(2)};

    /// Connections open at once; more wait in the kernel's queue.
    std::size_t max_connections = 10'000;

    /// The Server header (empty: none).
    std::string server_name = "sluice/" SLUICE_VERSION_STRING;
    /// Builds the server's own refusals (400, 408, 413, 414, 417, 431, 500, 501, 505) from a status
    /// and a short reason; JSON {"error": reason} by default.
    std::function<server_response(int status, std::string_view reason)> error_response = &server_response::error;
    /// Handler failures and accept errors go here (never request bodies); null: nowhere.
    const logger* log = nullptr;
};

/// Counters of a server (read on its loop's thread).
struct server_stats {
    std::uint64_t accepted = 0;       ///< connections accepted
    std::uint64_t open = 0;           ///< connections open now
    std::uint64_t requests = 0;       ///< requests handed to the handler
    std::uint64_t refused = 0;        ///< requests the server refused itself: malformed, over a limit
    std::uint64_t timeouts = 0;       ///< requests that did not arrive in time (408)
    std::uint64_t handler_errors = 0; ///< handlers that threw or answered nonsense (500)
    std::uint64_t streams = 0;        ///< streaming responses started
};

} // namespace sluice::http
