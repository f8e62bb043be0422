#pragma once

// One TCP connection (TLS over it for pulsar+ssl://) to a Pulsar broker, shared by every producer and consumer that talks to that
// broker. open() connects and performs CONNECT/CONNECTED (token authentication when configured; the
// broker's max_message_size bounds the frames read afterwards). Then three coroutines run on the loop:
//   reader      cuts frames (frame_decoder) and routes them: responses by request id, SEND_RECEIPT /
//               SEND_ERROR to the producer by producer id, MESSAGE to the consumer by consumer id,
//               PING answered with PONG;
//   writer      sends what send_frame() queued, many frames per write, in order;
//   keep-alive  PINGs a quiet broker and declares the connection dead when it stays silent.
// When the connection ends (peer closed, error, keep-alive, close()), pending requests fail with
// connection_error and every registered handler hears on_disconnected() once, so producers and
// consumers reconnect; nothing queued is silently dropped without its owner knowing.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sluice/core/event.hpp>
#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/io/socket.hpp>
#include <sluice/io/tls_options.hpp>
#include <sluice/pulsar/frames.hpp>
#include <sluice/version.hpp>

#if SLUICE_HAS_OPENSSL
#include <sluice/io/tls_stream.hpp>
#else
namespace sluice {
class tls_context; // never made without OpenSSL: pulsar+ssl:// is refused by the client
} // namespace sluice
#endif

namespace sluice::pulsar {

/// The connection to the broker failed or was lost; retrying (after a new lookup) may succeed.
class connection_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The broker answered with an error (CommandError, CommandSendError, a failed lookup).
class broker_error : public std::runtime_error {
public:
    /// The broker's `code` and message.
    broker_error(server_error code, const std::string& message)
        : std::runtime_error("pulsar: broker error " + std::string(to_string(code)) + ": " + message), code_(code) {}
    /// The broker's error code.
    [[nodiscard]] server_error code() const noexcept { return code_; }

private:
    server_error code_;
};

namespace detail {

/// A connection's bytes: plain TCP, or TLS over it (pulsar+ssl://).
class broker_stream {
public:
    broker_stream() noexcept = default;
    explicit broker_stream(tcp_stream tcp) noexcept : tcp_(std::move(tcp)) {}
#if SLUICE_HAS_OPENSSL
    explicit broker_stream(tls_stream tls) noexcept : tls_(std::move(tls)), secure_(true) {}
#endif

    [[nodiscard]] task<std::size_t> read_some(std::span<char> buf, std::stop_token stop = {}) {
#if SLUICE_HAS_OPENSSL
        if (secure_) return tls_.read_some(buf, std::move(stop));
#endif
        return tcp_.read_some(buf, std::move(stop));
    }

    [[nodiscard]] task<void> write_all(std::string_view data, std::stop_token stop = {}) {
#if SLUICE_HAS_OPENSSL
        if (secure_) return tls_.write_all(data, std::move(stop));
#endif
        return tcp_.write_all(data, std::move(stop));
    }

    /// Closes the socket (after a best-effort close_notify on TLS). Nothing may wait on it.
    void close() noexcept {
#if SLUICE_HAS_OPENSSL
        tls_.close();
#endif
        tcp_.close();
    }

private:
    tcp_stream tcp_{};
#if SLUICE_HAS_OPENSSL
    tls_stream tls_{};
    bool secure_ = false;
#endif
};

} // namespace detail

/// How connections authenticate, time out and stay alive.
struct connection_options {
    /// Token authentication (auth method "token"), e.g. a JWT; empty: none. Never logged.
    std::string auth_token{};
    /// How long connecting to a broker may take.
    std::chrono::milliseconds connect_timeout{10'000};
    /// How long a request (lookup, producer or consumer creation, close) waits for its response.
    std::chrono::milliseconds operation_timeout{30'000};
    /// A connection quiet for this long is PINGed; quiet for twice as long, it is closed.
    std::chrono::milliseconds keep_alive{30'000};
    /// The client_version CONNECT announces.
    std::string client_version = "sluice " SLUICE_VERSION_STRING;
};

/// What a producer or consumer registers to hear frames for its id and the end of the connection.
class connection_handler {
public:
    /// A frame addressed to this handler (views valid during the call only).
    virtual void on_frame(frame& f) = 0;
    /// The connection ended; called once, on the loop.
    virtual void on_disconnected() = 0;

protected:
    ~connection_handler() = default;
};

/// One TCP (or TLS) connection to a broker, shared by the producers and consumers the client
/// places there: frames out in order, responses matched to requests, keep-alive.
class connection : public std::enable_shared_from_this<connection> {
    struct token {};

public:
    /// Made by open() only (the token), so it is always owned by a shared_ptr.
    connection(token, io_loop& loop, detail::broker_stream stream, connection_options options, std::string url)
        : loop_(&loop), stream_(std::move(stream)), options_(std::move(options)), url_(std::move(url)) {}
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Connects to host:port (over TLS with `tls`, verifying the certificate against `host`), performs
    /// the handshake and starts the connection's coroutines. Throws connection_error (unreachable,
    /// refused, timed out, a certificate that does not verify, closed during the handshake) or
    /// broker_error (authentication refused).
    [[nodiscard]] static task<std::shared_ptr<connection>> open(io_loop& loop, std::string host, std::uint16_t port,
                                                                connection_options options, std::string url,
                                                                std::shared_ptr<const tls_context> tls = nullptr) {
        detail::broker_stream stream;
        try {
            stream = co_await connect_stream(loop, host, port, options.connect_timeout, std::move(tls));
        } catch (const std::system_error& e) { // tls_error included: its text names the address and the cause
            throw connection_error("pulsar: cannot connect to " + url + ": " + e.what());
        }
        auto c = std::make_shared<connection>(token{}, loop, std::move(stream), std::move(options), std::move(url));
        co_await c->handshake();
        c->start();
        co_return c;
    }

    /// The broker's URL.
    [[nodiscard]] const std::string& url() const noexcept { return url_; }
    /// False once it ended.
    [[nodiscard]] bool is_open() const noexcept { return open_; }
    /// The broker's max_message_size (CONNECTED), or Pulsar's default when it sent none.
    [[nodiscard]] std::size_t max_message_size() const noexcept { return max_message_size_; }
    /// The protocol version the broker speaks (CONNECTED).
    [[nodiscard]] std::int32_t server_protocol_version() const noexcept { return server_protocol_; }
    /// The loop it runs on.
    [[nodiscard]] io_loop& loop() const noexcept { return *loop_; }

    /// Queues a complete frame for writing; dropped when the connection is closed (its owner hears
    /// on_disconnected and resends what it needs to).
    void send_frame(std::string_view frame) {
        if (!open_) return;
        outgoing_.append(frame);
        write_wanted_.set();
    }

    /// Queues a command-only frame.
    template <class Command>
    void send_command(const Command& cmd) {
        std::string f;
        append_simple_frame(f, cmd);
        send_frame(f);
    }

    /// A request id unique on this connection.
    [[nodiscard]] std::uint64_t next_request_id() noexcept { return next_request_id_++; }

    /// Sends `frame` (a request carrying `request_id`) and returns the broker's response. Throws
    /// broker_error for an ERROR response, connection_error when the connection ends or the response
    /// does not come within operation_timeout.
    [[nodiscard]] task<base_command> request(std::string frame, std::uint64_t request_id) {
        if (!open_) throw connection_error("pulsar: connection to " + url_ + " is closed");
        auto p = std::make_shared<pending_request>();
        requests_.emplace(request_id, p);
        send_frame(frame);
        std::stop_source timer;
        loop_->spawn(expire(weak_from_this(), request_id, p, timer.get_token()));
        co_await p->done.wait();
        timer.request_stop();
        if (p->failure) std::rethrow_exception(p->failure);
        if (auto* e = std::get_if<proto::error>(&p->reply)) throw broker_error(e->code, e->message);
        co_return std::move(p->reply);
    }

    /// Routes frames for producer `id` (SEND_RECEIPT, SEND_ERROR, CLOSE_PRODUCER) to `h`.
    void add_producer(std::uint64_t id, connection_handler* h) { producers_[id] = h; }
    /// Stops routing frames for producer `id`.
    void remove_producer(std::uint64_t id) { producers_.erase(id); }
    /// Routes frames for consumer `id` (MESSAGE, CLOSE_CONSUMER, ...) to `h`.
    void add_consumer(std::uint64_t id, connection_handler* h) { consumers_[id] = h; }
    /// Stops routing frames for consumer `id`.
    void remove_consumer(std::uint64_t id) { consumers_.erase(id); }

    /// Ends the connection: pending requests fail and handlers hear on_disconnected(). Idempotent.
    void close(std::string reason = "closed by the client") { shutdown(std::move(reason)); }

    /// PINGs sent and PONGs received (keep-alive and the broker's own PINGs answered).
    [[nodiscard]] std::uint64_t pings_sent() const noexcept { return pings_sent_; }
    /// PONGs sent in answer to the broker's PINGs.
    [[nodiscard]] std::uint64_t pongs_sent() const noexcept { return pongs_sent_; }
    /// Why the connection ended (empty while open).
    [[nodiscard]] const std::string& close_reason() const noexcept { return close_reason_; }

private:
    struct pending_request {
        async_event done;
        base_command reply;
        std::exception_ptr failure;
    };

    static task<detail::broker_stream> connect_stream(io_loop& loop, const std::string& host, std::uint16_t port,
                                                      std::chrono::milliseconds timeout, std::shared_ptr<const tls_context> tls) {
#if SLUICE_HAS_OPENSSL
        if (tls) {
            tls_connect_options o;
            o.timeout = timeout;
            tls_stream s = co_await tls_stream::connect(loop, std::move(tls), host, port, o);
            co_return detail::broker_stream(std::move(s));
        }
#else
        if (tls) throw connection_error("pulsar: TLS needs sluice built with OpenSSL");
#endif
        tcp_stream s = co_await tcp_stream::connect(loop, host, port, timeout);
        co_return detail::broker_stream(std::move(s));
    }

    task<void> handshake() {
        proto::connect c;
        c.client_version = options_.client_version;
        c.protocol_version = protocol_version;
        if (!options_.auth_token.empty()) {
            c.auth_method_name = "token";
            c.auth_data = options_.auth_token;
        }
        std::string f;
        append_simple_frame(f, c);
        try {
            co_await stream_.write_all(f);
            for (;;) {
                auto got = decoder_.next();
                if (got) {
                    co_await on_handshake_reply(*got);
                    co_return;
                }
                auto buf = decoder_.prepare(4096);
                const std::size_t n = co_await stream_.read_some(buf);
                decoder_.commit(n);
                if (n == 0) throw connection_error("pulsar: " + url_ + " closed the connection during the handshake");
            }
        } catch (const std::system_error& e) {
            throw connection_error("pulsar: handshake with " + url_ + " failed: " + e.what());
        }
    }

    task<void> on_handshake_reply(frame& f) {
        if (auto* e = std::get_if<proto::error>(&f.command)) throw broker_error(e->code, e->message);
        auto* ok = std::get_if<proto::connected>(&f.command);
        if (!ok) throw connection_error("pulsar: " + url_ + " answered CONNECT with command " + std::to_string(type_of(f.command)));
        server_protocol_ = ok->protocol_version.value_or(0);
        if (ok->max_message_size && *ok->max_message_size > 0)
            max_message_size_ = static_cast<std::size_t>(*ok->max_message_size);
        decoder_.set_max_frame_size(max_message_size_ + frame_overhead_allowance);
        co_return;
    }

    void start() {
        open_ = true;
        auto self = shared_from_this();
        live_loops_ = 3;
        loop_->spawn(read_loop(self));
        loop_->spawn(write_loop(self));
        loop_->spawn(keep_alive_loop(self));
    }

    static task<void> read_loop(std::shared_ptr<connection> self) {
        std::string reason = "closed by the broker";
        try {
            for (;;) {
                auto buf = self->decoder_.prepare(64u << 10);
                const std::size_t n = co_await self->stream_.read_some(buf, self->stop_.get_token());
                self->decoder_.commit(n);
                if (n == 0) break;
                self->heard_ = true;
                while (auto f = self->decoder_.next()) self->route(*f);
            }
        } catch (const operation_cancelled&) {
            reason.clear();
        } catch (const std::exception& e) {
            reason = e.what();
        }
        if (!reason.empty()) self->shutdown(reason);
        self->loop_finished();
    }

    static task<void> write_loop(std::shared_ptr<connection> self) {
        try {
            for (;;) {
                co_await self->write_wanted_.wait(self->stop_.get_token());
                self->write_wanted_.reset();
                self->writing_.clear();
                self->writing_.swap(self->outgoing_);
                if (!self->writing_.empty()) co_await self->stream_.write_all(self->writing_, self->stop_.get_token());
            }
        } catch (const operation_cancelled&) {
        } catch (const std::exception& e) {
            self->shutdown(e.what());
        }
        self->loop_finished();
    }

    static task<void> keep_alive_loop(std::shared_ptr<connection> self) {
        try {
            bool ping_outstanding = false;
            for (;;) {
                co_await self->loop_->sleep_for(self->options_.keep_alive, self->stop_.get_token());
                if (std::exchange(self->heard_, false)) {
                    ping_outstanding = false;
                    continue;
                }
                if (ping_outstanding) {
                    self->shutdown("no answer from the broker for two keep-alive intervals");
                    break;
                }
                self->send_command(proto::ping{});
                ++self->pings_sent_;
                ping_outstanding = true;
            }
        } catch (const operation_cancelled&) {
        }
        self->loop_finished();
    }

    void route(frame& f) {
        std::visit([&](auto& cmd) { route_command(cmd, f); }, f.command);
    }

    template <class C>
    void route_command(C& cmd, frame& f) {
        using T = std::decay_t<C>;
        if constexpr (std::is_same_v<T, proto::ping>) {
            send_command(proto::pong{});
            ++pongs_sent_;
        } else if constexpr (std::is_same_v<T, proto::send_receipt> || std::is_same_v<T, proto::send_error> ||
                             std::is_same_v<T, proto::close_producer>) {
            to_handler(producers_, cmd.producer_id, f);
        } else if constexpr (std::is_same_v<T, proto::message> || std::is_same_v<T, proto::close_consumer> ||
                             std::is_same_v<T, proto::active_consumer_change> ||
                             std::is_same_v<T, proto::reached_end_of_topic>) {
            to_handler(consumers_, cmd.consumer_id, f);
        } else if constexpr (std::is_same_v<T, proto::success> || std::is_same_v<T, proto::error> ||
                             std::is_same_v<T, proto::producer_success> || std::is_same_v<T, proto::lookup_response> ||
                             std::is_same_v<T, proto::partitioned_metadata_response>) {
            answer(cmd.request_id, std::move(f.command));
        } else if constexpr (std::is_same_v<T, proto::ack_response>) {
            if (cmd.request_id) answer(*cmd.request_id, std::move(f.command));
        }
        // PONG only proves the broker alive (heard_); other commands are not for a client.
    }

    static void to_handler(std::unordered_map<std::uint64_t, connection_handler*>& m, std::uint64_t id, frame& f) {
        auto it = m.find(id);
        if (it != m.end()) it->second->on_frame(f);
    }

    void answer(std::uint64_t request_id, base_command reply) {
        auto it = requests_.find(request_id);
        if (it == requests_.end()) return; // timed out already
        auto p = std::move(it->second);
        requests_.erase(it);
        p->reply = std::move(reply);
        p->done.set();
    }

    static task<void> expire(std::weak_ptr<connection> weak, std::uint64_t id, std::shared_ptr<pending_request> p,
                             std::stop_token stop) {
        auto self = weak.lock();
        if (!self) co_return;
        const auto timeout = self->options_.operation_timeout;
        io_loop& loop = *self->loop_;
        self.reset(); // the timer must not keep the connection alive
        try {
            co_await loop.sleep_for(timeout, stop);
        } catch (const operation_cancelled&) {
            co_return;
        }
        if (p->done.is_set()) co_return;
        if (auto c = weak.lock()) c->requests_.erase(id);
        p->failure = std::make_exception_ptr(connection_error("pulsar: no response within " + std::to_string(timeout.count()) + " ms"));
        p->done.set();
    }

    void shutdown(std::string reason) {
        if (!open_ && !close_reason_.empty()) return;
        open_ = false;
        close_reason_ = reason.empty() ? "closed" : reason;
        stop_.request_stop();
        auto requests = std::move(requests_);
        requests_.clear();
        for (auto& [id, p] : requests) {
            p->failure = std::make_exception_ptr(connection_error("pulsar: connection to " + url_ + " lost: " + close_reason_));
            p->done.set();
        }
        auto handlers = std::vector<connection_handler*>{};
        for (auto& [id, h] : producers_) handlers.push_back(h);
        for (auto& [id, h] : consumers_) handlers.push_back(h);
        producers_.clear();
        consumers_.clear();
        for (auto* h : handlers) h->on_disconnected();
    }

    void loop_finished() {
        if (--live_loops_ == 0) stream_.close(); // nothing waits on the socket any more
    }

    io_loop* loop_;
    detail::broker_stream stream_;
    connection_options options_;
    std::string url_;
    frame_decoder decoder_{};
    std::size_t max_message_size_ = default_max_message_size;
    std::int32_t server_protocol_ = 0;
    bool open_ = false;
    bool heard_ = false;
    int live_loops_ = 0;
    std::stop_source stop_{};
    async_event write_wanted_{};
    std::string outgoing_{};
    std::string writing_{};
    std::uint64_t next_request_id_ = 1;
    std::unordered_map<std::uint64_t, std::shared_ptr<pending_request>> requests_{};
    std::unordered_map<std::uint64_t, connection_handler*> producers_{};
    std::unordered_map<std::uint64_t, connection_handler*> consumers_{};
    std::uint64_t pings_sent_ = 0;
    std::uint64_t pongs_sent_ = 0;
    std::string close_reason_{};
};

} // namespace sluice::pulsar
