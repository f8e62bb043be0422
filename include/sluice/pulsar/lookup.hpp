#pragma once

// client: the entry point. It holds the service URL, one connection per broker (shared by every
// producer and consumer on it, opened once even when many ask at the same time), topic lookup
// (LOOKUP, following Redirect answers up to a limit, authoritative when the broker says so) and
// PARTITIONED_METADATA. Topic names are completed the way Pulsar does: "t" is
// persistent://public/default/t, "tenant/ns/t" is persistent://tenant/ns/t.

#include <charconv>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sluice/core/event.hpp>
#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/pulsar/connection.hpp>

namespace sluice::pulsar {

/// A parsed pulsar:// or pulsar+ssl:// URL.
struct service_address {
    /// The host name or address.
    std::string host;
    /// The port.
    std::uint16_t port = 6650;
    /// True for pulsar+ssl://.
    bool tls = false;

    /// Parses "pulsar://host:port" (port 6650 by default) or "pulsar+ssl://host:port" (6651). Only the
    /// first host of a comma-separated list is used. Throws std::invalid_argument.
    static service_address parse(std::string_view url) {
        service_address a;
        if (url.starts_with("pulsar://")) {
            url.remove_prefix(9);
        } else if (url.starts_with("pulsar+ssl://")) {
            url.remove_prefix(13);
            a.tls = true;
            a.port = 6651;
        } else {
            throw std::invalid_argument("pulsar: service URL must start with pulsar:// or pulsar+ssl://: '" + std::string(url) + "'");
        }
        url = url.substr(0, url.find_first_of(",/"));
        const auto colon = url.rfind(':');
        if (colon != std::string_view::npos && url.find(']', colon) == std::string_view::npos) {
            const auto port = url.substr(colon + 1);
            unsigned v = 0;
            auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
            if (ec != std::errc{} || p != port.data() + port.size() || v == 0 || v > 65535)
                throw std::invalid_argument("pulsar: bad port in service URL '" + std::string(url) + "'");
            a.port = static_cast<std::uint16_t>(v);
            url = url.substr(0, colon);
        }
        if (url.starts_with('[') && url.ends_with(']')) url = url.substr(1, url.size() - 2);
        if (url.empty()) throw std::invalid_argument("pulsar: service URL without a host");
        a.host = std::string(url);
        return a;
    }
};

/// The full name of a topic: persistent://tenant/namespace/topic.
[[nodiscard]] inline std::string normalize_topic(std::string_view topic) {
    if (topic.find("://") != std::string_view::npos) return std::string(topic);
    std::size_t slashes = 0;
    for (char c : topic) slashes += c == '/' ? 1 : 0;
    if (slashes == 0) return "persistent://public/default/" + std::string(topic);
    if (slashes == 2) return "persistent://" + std::string(topic);
    throw std::invalid_argument("pulsar: invalid topic name '" + std::string(topic) + "'");
}

/// The name of partition `i` of a partitioned topic.
[[nodiscard]] inline std::string partition_topic(std::string_view topic, std::uint32_t i) {
    return std::string(topic) + "-partition-" + std::to_string(i);
}

/// Options of a client.
struct client_options {
    /// pulsar://host:port of any broker (or a proxy); pulsar+ssl://host:port for TLS, which then
    /// connects to every broker over TLS (the brokers' TLS URLs from lookups).
    std::string service_url = "pulsar://127.0.0.1:6650";
    /// How connections behave (authentication, timeouts, keep-alive).
    connection_options connection{};
    /// For pulsar+ssl://: the trusted CAs (the system's by default) and a client certificate. The
    /// certificate's names are verified against each broker's host name.
    tls_options tls{};
    /// Lookups give up after this many Redirect answers.
    unsigned max_lookup_redirects = 20;
};

/// A Pulsar client: lookups, and one connection per broker shared by its producers and consumers.
/// Loop thread only; closes its connections when destroyed.
class client {
public:
    /// A client on `loop` (which outlives it). Throws std::invalid_argument for a bad service URL.
    client(io_loop& loop, client_options options) : loop_(&loop), options_(std::move(options)) {
        const auto a = service_address::parse(options_.service_url);
        if (a.tls) {
#if SLUICE_HAS_OPENSSL
            tls_ = std::make_shared<const tls_context>(options_.tls); // the CAs are loaded once
#else
            throw std::invalid_argument("pulsar: pulsar+ssl:// needs sluice built with OpenSSL (SLUICE_HAS_OPENSSL)");
#endif
        }
    }
    client(const client&) = delete;
    client& operator=(const client&) = delete;
    ~client() { close(); }

    /// The loop it runs on.
    [[nodiscard]] io_loop& loop() const noexcept { return *loop_; }
    /// The options it was made with.
    [[nodiscard]] const client_options& options() const noexcept { return options_; }

    /// True when the service URL is pulsar+ssl://: every connection is TLS.
    [[nodiscard]] bool uses_tls() const noexcept { return tls_ != nullptr; }

    /// The pooled connection to the broker at `url` (pulsar://host:port), opened if needed. Concurrent
    /// callers share one attempt.
    [[nodiscard]] task<std::shared_ptr<connection>> connection_to(std::string url) {
        for (;;) {
            auto it = pool_.find(url);
            if (it != pool_.end()) {
                auto entry = it->second; // keep it alive across the wait
                if (entry->conn && entry->conn->is_open()) co_return entry->conn;
                if (!entry->conn && !entry->done.is_set()) {
                    co_await entry->done.wait();
                    if (entry->error) std::rethrow_exception(entry->error);
                    continue;
                }
                pool_.erase(it); // failed or closed: open a new one
            }
            auto entry = std::make_shared<pool_entry>();
            pool_.emplace(url, entry);
            const auto a = service_address::parse(url);
            try {
                if (a.tls != uses_tls())
                    throw connection_error("pulsar: " + url + (a.tls ? " is a TLS URL but the service URL is not" : " is not a TLS URL but the service URL is"));
                entry->conn = co_await connection::open(*loop_, a.host, a.port, options_.connection, url, tls_);
            } catch (...) {
                entry->error = std::current_exception();
            }
            entry->done.set();
            if (entry->error) {
                pool_.erase(url);
                std::rethrow_exception(entry->error);
            }
            co_return entry->conn;
        }
    }

    /// The URL of the broker that serves `topic` (LOOKUP, following redirects).
    [[nodiscard]] task<std::string> lookup(std::string topic) {
        std::string url = options_.service_url.substr(0, options_.service_url.find(',', 9));
        bool authoritative = false;
        for (unsigned hop = 0; hop <= options_.max_lookup_redirects; ++hop) {
            auto c = co_await connection_to(url);
            proto::lookup l;
            l.topic = topic;
            l.request_id = c->next_request_id();
            l.authoritative = authoritative;
            std::string f;
            append_simple_frame(f, l);
            auto reply = co_await c->request(std::move(f), l.request_id);
            auto* r = std::get_if<proto::lookup_response>(&reply);
            if (!r) throw connection_error("pulsar: unexpected answer to LOOKUP of " + topic);
            const auto kind = r->response.value_or(lookup_type::failed);
            if (kind == lookup_type::failed)
                throw broker_error(r->error.value_or(server_error::unknown_error), "lookup of " + topic + " failed: " + r->message.value_or(""));
            // Over TLS only the broker's TLS URL will do: falling back to its plain one would drop TLS.
            const auto& next = uses_tls() ? r->broker_service_url_tls : r->broker_service_url;
            if (!next)
                throw connection_error("pulsar: LOOKUP answer for " + topic + " names no broker" +
                                       (uses_tls() ? " TLS URL (is TLS enabled on the broker?)" : ""));
            if (r->proxy_through_service_url.value_or(false)) co_return url;
            if (kind == lookup_type::connect) co_return *next;
            url = *next;
            authoritative = r->authoritative.value_or(false);
        }
        throw connection_error("pulsar: lookup of " + topic + " was redirected more than " +
                               std::to_string(options_.max_lookup_redirects) + " times");
    }

    /// The number of partitions of `topic` (0: not partitioned).
    [[nodiscard]] task<std::uint32_t> partitions(std::string topic) {
        std::string url = options_.service_url.substr(0, options_.service_url.find(',', 9));
        auto c = co_await connection_to(url);
        proto::partitioned_metadata m;
        m.topic = topic;
        m.request_id = c->next_request_id();
        std::string f;
        append_simple_frame(f, m);
        auto reply = co_await c->request(std::move(f), m.request_id);
        auto* r = std::get_if<proto::partitioned_metadata_response>(&reply);
        if (!r) throw connection_error("pulsar: unexpected answer to PARTITIONED_METADATA of " + topic);
        if (r->response == proto::partitioned_metadata_response::result::failed)
            throw broker_error(r->error.value_or(server_error::unknown_error), "partitioned metadata of " + topic + ": " + r->message.value_or(""));
        co_return r->partitions.value_or(0);
    }

    /// The connection to the broker serving `topic`.
    [[nodiscard]] task<std::shared_ptr<connection>> connection_for(std::string topic) {
        std::string url = co_await lookup(std::move(topic));
        co_return co_await connection_to(std::move(url));
    }

    /// Ids of producers and consumers are unique per client (and so per connection).
    [[nodiscard]] std::uint64_t next_producer_id() noexcept { return next_producer_id_++; }
    /// The next consumer id (see next_producer_id()).
    [[nodiscard]] std::uint64_t next_consumer_id() noexcept { return next_consumer_id_++; }

    /// Closes every connection (their producers and consumers hear it and stop or reconnect). The
    /// connections' coroutines end the next time the loop runs: run it (loop.drain()) before the loop
    /// is destroyed, or their frames are never freed. Close producers and consumers first.
    void close() {
        auto pool = std::move(pool_);
        pool_.clear();
        for (auto& [url, e] : pool)
            if (e->conn) e->conn->close();
    }

    /// Open connections in the pool.
    [[nodiscard]] std::size_t connections() const noexcept {
        std::size_t n = 0;
        for (const auto& [url, e] : pool_) n += e->conn && e->conn->is_open() ? 1 : 0;
        return n;
    }

private:
    struct pool_entry {
        async_event done;
        std::shared_ptr<connection> conn;
        std::exception_ptr error;
    };

    io_loop* loop_;
    client_options options_;
    std::shared_ptr<const tls_context> tls_{};
    std::unordered_map<std::string, std::shared_ptr<pool_entry>> pool_{};
    std::uint64_t next_producer_id_ = 1;
    std::uint64_t next_consumer_id_ = 1;
};

} // namespace sluice::pulsar
