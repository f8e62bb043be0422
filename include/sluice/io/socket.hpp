#pragma once

// Non-blocking TCP on the io_loop: a listener and a stream. Every operation tries the syscall first and
// waits with io_loop::poll only when the kernel answers EAGAIN, so it behaves the same on io_uring and
// epoll and costs no wait when the data (or the buffer space) is already there.
//
//     sluice::tcp_listener listener(loop);                    // 127.0.0.1, an ephemeral port
//     auto client = co_await sluice::tcp_stream::connect(loop, "127.0.0.1", listener.port());
//     sluice::tcp_stream conn = co_await listener.accept(stop);
//     char buf[4096];
//     std::size_t n = co_await conn.read_some(buf, stop);     // 0: the peer closed its side
//     co_await conn.write_all(reply, stop);                   // every byte, or an exception
//
// Addresses are literals: IPv4, IPv6 (with or without brackets) and "localhost" (127.0.0.1). Host names
// are refused with a clear error rather than resolved: getaddrinfo would block the loop's thread.
// Failures are std::system_error whose what() names the operation and the address; a stop_token ends a
// wait with sluice::operation_cancelled and leaves the stream usable. One reader and one writer at a
// time per stream; close() only when no read or write is waiting (cancel them through their token).
// TLS is not here: it goes on top of tcp_stream.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <sluice/core/async_scope.hpp>
#include <sluice/core/executor.hpp>
#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>

namespace sluice {

namespace detail {

/// A socket address and how to print it.
struct socket_address {
    sockaddr_storage storage{};
    socklen_t length = 0;

    [[nodiscard]] const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
    [[nodiscard]] int family() const noexcept { return storage.ss_family; }
};

/// "127.0.0.1:80", "[::1]:80"; "unknown" for anything else.
[[nodiscard]] inline std::string format_address(const socket_address& a) {
    char host[INET6_ADDRSTRLEN] = {};
    std::uint16_t port = 0;
    if (a.family() == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&a.storage);
        ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        return std::string(host) + ':' + std::to_string(port);
    }
    if (a.family() == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a.storage);
        ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        return '[' + std::string(host) + "]:" + std::to_string(port);
    }
    return "unknown";
}

/// The address of a literal host ("127.0.0.1", "::1", "[::1]", "localhost") and port. Never blocks:
/// getaddrinfo only parses (AI_NUMERICHOST). A host name throws std::system_error (invalid_argument).
[[nodiscard]] inline socket_address numeric_address(std::string_view host, std::uint16_t port) {
    std::string literal(host);
    if (literal.size() >= 2 && literal.front() == '[' && literal.back() == ']') literal = literal.substr(1, literal.size() - 2);
    if (literal == "localhost") literal = "127.0.0.1";
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    const int rc = literal.empty() ? EAI_NONAME : ::getaddrinfo(literal.c_str(), service.c_str(), &hints, &found);
    if (rc != 0 || found == nullptr) {
        if (found) ::freeaddrinfo(found);
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "tcp: '" + std::string(host) +
                                    "' is not an IP address literal (host names are not resolved on the loop: "
                                    "getaddrinfo would block it; resolve the name first)");
    }
    socket_address a;
    std::memcpy(&a.storage, found->ai_addr, found->ai_addrlen);
    a.length = found->ai_addrlen;
    ::freeaddrinfo(found);
    return a;
}

/// A non-blocking, close-on-exec TCP socket of `family`.
[[nodiscard]] inline int open_tcp_socket(int family) {
    const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) throw std::system_error(errno, std::system_category(), "tcp: socket");
    return fd;
}

inline void set_nodelay(int fd, bool on) noexcept {
    const int value = on ? 1 : 0;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, sizeof value);
}

/// Sleeps until `deadline`, then raises `fired` and requests stop on `target`; does nothing when
/// `cancel` is stopped first. Gives a wait a timeout without a timer per retry.
inline task<void> stop_at(io_loop& loop, io_loop::clock::time_point deadline, std::stop_source target, bool& fired,
                          std::stop_token cancel) {
    try {
        co_await loop.sleep_until(deadline, cancel);
    } catch (const operation_cancelled&) {
        co_return;
    }
    fired = true;
    target.request_stop();
}

} // namespace detail

/// A connected TCP socket on a loop. Move-only; the destructor closes it.
class tcp_stream {
public:
    /// An empty stream (is_open() is false).
    tcp_stream() noexcept = default;

    /// Adopts `fd`, a connected stream socket; makes it non-blocking.
    tcp_stream(io_loop& loop, int fd) noexcept : loop_(&loop), fd_(fd) {
        const int flags = ::fcntl(fd, F_GETFL);
        if (flags >= 0 && (flags & O_NONBLOCK) == 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }

    /// Moves the connection; the source is closed.
    tcp_stream(tcp_stream&& other) noexcept
        : loop_(other.loop_), fd_(std::exchange(other.fd_, -1)), peer_(other.peer_) {}
    /// Closes what it held, then takes `other`'s connection.
    tcp_stream& operator=(tcp_stream&& other) noexcept {
        if (this != &other) {
            close();
            loop_ = other.loop_;
            fd_ = std::exchange(other.fd_, -1);
            peer_ = other.peer_;
        }
        return *this;
    }
    tcp_stream(const tcp_stream&) = delete;
    tcp_stream& operator=(const tcp_stream&) = delete;
    ~tcp_stream() { close(); }

    /// Connects to `host` (an IP literal or "localhost") and `port`, with TCP_NODELAY set. Throws
    /// std::system_error: at once for a host that is not a literal, and on refusal, unreachability or
    /// `timeout` (errc::timed_out); operation_cancelled when `stop` fires first.
    [[nodiscard]] static task<tcp_stream> connect(io_loop& loop, std::string_view host, std::uint16_t port,
                                                  std::chrono::milliseconds timeout = std::chrono::seconds(10),
                                                  std::stop_token stop = {}) {
        return connect_to(loop, detail::numeric_address(host, port), timeout, std::move(stop));
    }

    /// Reads what is available, up to buf.size() bytes, waiting for at least one; 0 means the peer
    /// closed its side (or `buf` is empty).
    [[nodiscard]] task<std::size_t> read_some(std::span<std::byte> buf, std::stop_token stop = {}) {
        return read_raw(buf.data(), buf.size(), std::move(stop));
    }
    /// Reads what is available (at least one byte, 0 at end of stream), waiting on the loop; `stop` abandons
    /// the wait.
    [[nodiscard]] task<std::size_t> read_some(std::span<char> buf, std::stop_token stop = {}) {
        return read_raw(buf.data(), buf.size(), std::move(stop));
    }

    /// Writes every byte of `data`, waiting for buffer space as often as needed. After an exception an
    /// unknown prefix was sent.
    [[nodiscard]] task<void> write_all(std::span<const std::byte> data, std::stop_token stop = {}) {
        return write_raw(reinterpret_cast<const char*>(data.data()), data.size(), std::move(stop));
    }
    /// Writes all of `data`, waiting for room on the loop; `stop` abandons it (part may be written).
    [[nodiscard]] task<void> write_all(std::string_view data, std::stop_token stop = {}) {
        return write_raw(data.data(), data.size(), std::move(stop));
    }

    /// Writes the pieces one after the other with as few syscalls as possible (sendmsg), no copying.
    /// The views (and what they point to) must stay valid until the task completes.
    [[nodiscard]] task<void> write_all(std::span<const std::string_view> pieces, std::stop_token stop = {}) {
        while (!pieces.empty() && pieces.front().empty()) pieces = pieces.subspan(1);
        std::size_t skip = 0; // bytes of pieces.front() already sent
        while (!pieces.empty()) {
            iovec iov[16];
            std::size_t count = 0;
            for (; count < pieces.size() && count < std::size(iov); ++count) {
                const std::string_view p = count == 0 ? pieces[0].substr(skip) : pieces[count];
                iov[count].iov_base = const_cast<char*>(p.data());
                iov[count].iov_len = p.size();
            }
            msghdr msg{};
            msg.msg_iov = iov;
            msg.msg_iovlen = count;
            const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK) throw failure(errno, "write to");
                co_await loop_->poll(fd_, poll_events::out, stop);
                continue;
            }
            std::size_t sent = static_cast<std::size_t>(n) + skip;
            while (!pieces.empty() && sent >= pieces.front().size()) {
                sent -= pieces.front().size();
                pieces = pieces.subspan(1);
            }
            skip = sent;
        }
    }

    /// Sends FIN: the peer reads end-of-stream once it has the rest; reading here goes on. Errors
    /// (the peer is gone already) are ignored.
    void shutdown_write() noexcept {
        if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
    }

    /// Closes the socket now (no lingering). Nothing may be waiting on it.
    void close() noexcept {
        if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    }

    /// TCP_NODELAY: small writes go out at once instead of waiting for the previous one's ack.
    void set_nodelay(bool on) noexcept {
        if (fd_ >= 0) detail::set_nodelay(fd_, on);
    }

    /// False once closed or moved from.
    [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
    /// The socket's descriptor (for setsockopt and the like; it stays owned by the stream).
    [[nodiscard]] int native_handle() const noexcept { return fd_; }
    /// The loop the stream waits on.
    [[nodiscard]] io_loop& loop() const noexcept { return *loop_; }

    /// "127.0.0.1:54321" / "[::1]:54321": the other end, for logs and errors.
    [[nodiscard]] std::string peer_address() const {
        if (peer_.length == 0 && fd_ >= 0) {
            detail::socket_address a;
            a.length = sizeof a.storage;
            if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&a.storage), &a.length) == 0) return detail::format_address(a);
        }
        return detail::format_address(peer_);
    }

    /// This end's address.
    [[nodiscard]] std::string local_address() const {
        detail::socket_address a;
        a.length = sizeof a.storage;
        if (fd_ < 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a.storage), &a.length) != 0) return "unknown";
        return detail::format_address(a);
    }

private:
    friend class tcp_listener;

    tcp_stream(io_loop& loop, int fd, const detail::socket_address& peer) noexcept : loop_(&loop), fd_(fd), peer_(peer) {}

    [[nodiscard]] std::system_error failure(int error, const char* what) const {
        return std::system_error(error, std::system_category(), std::string("tcp: ") + what + ' ' + peer_address());
    }

    task<std::size_t> read_raw(void* data, std::size_t size, std::stop_token stop) {
        for (;;) {
            const ssize_t n = ::recv(fd_, data, size, 0);
            if (n >= 0) co_return static_cast<std::size_t>(n);
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) throw failure(errno, "read from");
            co_await loop_->poll(fd_, poll_events::in, stop);
        }
    }

    task<void> write_raw(const char* data, std::size_t size, std::stop_token stop) {
        while (size > 0) {
            const ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
            if (n >= 0) {
                data += n;
                size -= static_cast<std::size_t>(n);
                continue;
            }
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) throw failure(errno, "write to");
            co_await loop_->poll(fd_, poll_events::out, stop);
        }
    }

    static task<tcp_stream> connect_to(io_loop& loop, detail::socket_address address, std::chrono::milliseconds timeout,
                                       std::stop_token stop) {
        tcp_stream s(loop, detail::open_tcp_socket(address.family()), address);
        if (::connect(s.fd_, address.get(), address.length) == 0) {
            s.set_nodelay(true);
            co_return s;
        }
        if (errno != EINPROGRESS) throw s.failure(errno, "connect to");

        // Wait for writability, stopped by the caller or by a timer at the deadline.
        std::stop_source wait_stop;
        std::stop_callback forward(stop, [&wait_stop] { wait_stop.request_stop(); });
        std::stop_source timer_stop;
        bool timed_out = false;
        async_scope timer;
        timer.spawn(detail::stop_at(loop, io_loop::clock::now() + timeout, wait_stop, timed_out, timer_stop.get_token()));
        bool cancelled = false;
        std::exception_ptr failed;
        try {
            co_await loop.poll(s.fd_, poll_events::out, wait_stop.get_token());
        } catch (const operation_cancelled&) {
            cancelled = true;
        } catch (...) {
            failed = std::current_exception();
        }
        timer_stop.request_stop();
        co_await timer.join();
        if (failed) std::rethrow_exception(failed);
        if (cancelled && !timed_out) throw operation_cancelled();
        if (cancelled)
            throw std::system_error(std::make_error_code(std::errc::timed_out),
                                    "tcp: connect to " + detail::format_address(address) + " timed out after " +
                                        std::to_string(timeout.count()) + " ms");
        int error = 0;
        socklen_t length = sizeof error;
        if (::getsockopt(s.fd_, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
        if (error != 0) throw s.failure(error, "connect to");
        s.set_nodelay(true);
        co_return s;
    }

    io_loop* loop_ = nullptr;
    int fd_ = -1;
    detail::socket_address peer_{};
};

/// Where and how a tcp_listener listens.
struct listen_options {
    /// An IP literal; "0.0.0.0" or "::" to listen on every interface (never the default).
    std::string address = "127.0.0.1";
    /// 0: an ephemeral port, read back with tcp_listener::port().
    std::uint16_t port = 0;
    /// Connections the kernel queues before accept().
    int backlog = 1024;
    /// SO_REUSEPORT: several listeners (one per loop and thread) share the port and the kernel spreads
    /// connections between them.
    bool reuse_port = false;
    /// TCP_NODELAY on every accepted stream.
    bool nodelay = true;
};

/// A listening TCP socket on a loop: bound and listening from construction, so port() is known at once.
class tcp_listener {
public:
    /// Binds and listens; throws std::system_error naming the address (EADDRINUSE, a non-literal...).
    explicit tcp_listener(io_loop& loop, listen_options options = {}) : loop_(&loop), nodelay_(options.nodelay) {
        detail::socket_address a = detail::numeric_address(options.address, options.port);
        fd_ = detail::open_tcp_socket(a.family());
        const int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (options.reuse_port) ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (::bind(fd_, a.get(), a.length) != 0 || ::listen(fd_, options.backlog) != 0) {
            const int e = errno;
            close();
            throw std::system_error(e, std::system_category(), "tcp: listen on " + detail::format_address(a));
        }
        address_.length = sizeof address_.storage;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address_.storage), &address_.length);
    }

    /// Moves the listening socket; the source is closed.
    tcp_listener(tcp_listener&& other) noexcept
        : loop_(other.loop_), fd_(std::exchange(other.fd_, -1)), nodelay_(other.nodelay_), address_(other.address_) {}
    /// Closes what it held, then takes `other`'s socket.
    tcp_listener& operator=(tcp_listener&& other) noexcept {
        if (this != &other) {
            close();
            loop_ = other.loop_;
            fd_ = std::exchange(other.fd_, -1);
            nodelay_ = other.nodelay_;
            address_ = other.address_;
        }
        return *this;
    }
    tcp_listener(const tcp_listener&) = delete;
    tcp_listener& operator=(const tcp_listener&) = delete;
    ~tcp_listener() { close(); }

    /// The bound port (the ephemeral one when options.port was 0).
    [[nodiscard]] std::uint16_t port() const noexcept {
        if (address_.family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&address_.storage)->sin6_port);
        return ntohs(reinterpret_cast<const sockaddr_in*>(&address_.storage)->sin_port);
    }

    /// "127.0.0.1:8080".
    [[nodiscard]] std::string address() const { return detail::format_address(address_); }

    /// The next connection. Throws operation_cancelled when `stop` fires first, std::system_error when
    /// the process is out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM: retry later).
    /// Connections that die before they are accepted are skipped.
    [[nodiscard]] task<tcp_stream> accept(std::stop_token stop = {}) {
        for (;;) {
            detail::socket_address peer;
            peer.length = sizeof peer.storage;
            const int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer.storage), &peer.length,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0) {
                if (nodelay_) detail::set_nodelay(fd, true);
                co_return tcp_stream(*loop_, fd, peer);
            }
            const int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK) {
                co_await loop_->poll(fd_, poll_events::in, stop);
                continue;
            }
            if (e == EINTR || e == ECONNABORTED || e == EPROTO || e == EPERM) continue;
            throw std::system_error(e, std::system_category(), "tcp: accept on " + address());
        }
    }

    /// Stops listening. Nothing may be waiting in accept() (cancel it through its token).
    void close() noexcept {
        if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    }

    /// False once closed or moved from.
    [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
    /// The listening socket's descriptor (it stays owned by the listener).
    [[nodiscard]] int native_handle() const noexcept { return fd_; }

private:
    io_loop* loop_;
    int fd_ = -1;
    bool nodelay_ = true;
    detail::socket_address address_{};
};

} // namespace sluice
