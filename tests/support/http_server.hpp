#pragma once

// A loopback HTTP/1.1 server for tests: fixtures (IMDS, STS, container credentials) and fault
// injection on top of the real servers (throttling, 5xx, partial failures, slow and hung responses,
// dropped connections). Blocking sockets, a thread per connection: simple beats fast here. It
// records every request it receives so tests can check what the client sent.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace sluice_test {

struct http_exchange {
    std::string method;
    std::string target; ///< path and query, as sent
    std::vector<std::pair<std::string, std::string>> headers; ///< names lower-cased
    std::string body;
    std::size_t connection = 0; ///< which connection carried it (1, 2, ...): shows keep-alive

    [[nodiscard]] std::optional<std::string_view> header(std::string_view lower_name) const {
        for (const auto& [name, value] : headers)
            if (name == lower_name) return std::string_view(value);
        return std::nullopt;
    }
};

struct http_reply {
    enum class fault {
        none,
        hang,                ///< read the request, never answer (until the server stops)
        close_without_reply, ///< close the connection after reading the request
        close_mid_body,      ///< send the headers and half the body, then close
    };
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers{};
    std::string body{};
    std::chrono::milliseconds delay{0}; ///< wait this long before answering
    fault action = fault::none;
    bool close = false; ///< answer with "Connection: close" and close afterwards

    static http_reply json(int status, std::string body) {
        http_reply r;
        r.status = status;
        r.headers.emplace_back("Content-Type", "application/x-amz-json-1.0");
        r.body = std::move(body);
        return r;
    }
    static http_reply text(int status, std::string body) {
        http_reply r;
        r.status = status;
        r.headers.emplace_back("Content-Type", "text/plain");
        r.body = std::move(body);
        return r;
    }
};

/// A loopback port nothing listens on (bound, read back, released): for "connection refused" cases.
inline std::uint16_t unused_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

class http_server {
public:
    using handler_type = std::function<http_reply(const http_exchange&)>;

    explicit http_server(handler_type handler) : handler_(std::move(handler)) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listen_fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
        const int one = 1;
        ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = 0;
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
            ::listen(listen_fd_, 128) != 0) {
            const int e = errno;
            ::close(listen_fd_);
            throw std::system_error(e, std::generic_category(), "bind/listen");
        }
        socklen_t length = sizeof address;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
        port_ = ntohs(address.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }

    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;
    ~http_server() { stop(); }

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    [[nodiscard]] std::vector<http_exchange> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    [[nodiscard]] std::size_t request_count() const {
        std::lock_guard lock(mutex_);
        return requests_.size();
    }
    [[nodiscard]] std::size_t connection_count() const { return connections_.load(); }

    /// With false, requests() keeps requests without their bodies (fixtures that take large bodies).
    void keep_bodies(bool keep) {
        std::lock_guard lock(mutex_);
        keep_bodies_ = keep;
    }

    /// Stops accepting, wakes hung replies, closes every connection and joins the threads.
    void stop() {
        {
            std::lock_guard lock(mutex_);
            if (stopped_) return;
            stopped_ = true;
        }
        stop_cv_.notify_all();
        ::shutdown(listen_fd_, SHUT_RDWR);
        if (acceptor_.joinable()) acceptor_.join();
        std::vector<std::thread> workers;
        {
            std::lock_guard lock(mutex_);
            for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
            workers.swap(workers_);
        }
        for (auto& t : workers) t.join();
        ::close(listen_fd_);
    }

private:
    void accept_loop() {
        for (;;) {
            pollfd p{listen_fd_, POLLIN, 0};
            const int n = ::poll(&p, 1, 50);
            if (is_stopped()) return;
            if (n <= 0) continue;
            const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            const std::size_t id = ++connections_;
            std::lock_guard lock(mutex_);
            if (stopped_) {
                ::close(fd);
                return;
            }
            open_fds_.push_back(fd);
            workers_.emplace_back([this, fd, id] { serve(fd, id); });
        }
    }

    bool is_stopped() const {
        std::lock_guard lock(mutex_);
        return stopped_;
    }

    // Waits up to `d` (forever when d < 0) or until the server stops; true when stopped.
    bool wait_or_stop(std::chrono::milliseconds d) {
        std::unique_lock lock(mutex_);
        if (d.count() < 0) {
            stop_cv_.wait(lock, [&] { return stopped_; });
            return true;
        }
        return stop_cv_.wait_for(lock, d, [&] { return stopped_; });
    }

    static bool send_all(int fd, std::string_view data) {
        while (!data.empty()) {
            const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) continue;
                return false;
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    static std::string lower(std::string_view s) {
        std::string out(s);
        for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return out;
    }

    static std::string_view trim(std::string_view s) {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
        return s;
    }

    // Reads until `buffer` holds at least `want` bytes; false on EOF/error.
    static bool fill(int fd, std::string& buffer, std::size_t want) {
        char chunk[16384];
        while (buffer.size() < want) {
            const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) continue;
                return false;
            }
            buffer.append(chunk, static_cast<std::size_t>(n));
        }
        return true;
    }

    // Parses one request from the connection; false when the peer closed or sent garbage.
    bool read_request(int fd, std::string& buffer, http_exchange& out) {
        std::size_t end;
        while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
            if (!fill(fd, buffer, buffer.size() + 1)) return false;
        }
        const std::string_view head(buffer.data(), end);
        std::size_t line_end = head.find("\r\n");
        const std::string_view request_line = head.substr(0, line_end);
        const auto sp1 = request_line.find(' ');
        const auto sp2 = request_line.rfind(' ');
        if (sp1 == std::string_view::npos || sp2 == sp1) return false;
        out.method = std::string(request_line.substr(0, sp1));
        out.target = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
        std::size_t content_length = 0;
        bool chunked = false, expect_continue = false;
        while (line_end != std::string_view::npos && line_end < head.size()) {
            const std::size_t start = line_end + 2;
            line_end = head.find("\r\n", start);
            const std::string_view line = head.substr(start, line_end == std::string_view::npos
                                                                 ? std::string_view::npos
                                                                 : line_end - start);
            const auto colon = line.find(':');
            if (colon == std::string_view::npos) continue;
            std::string name = lower(trim(line.substr(0, colon)));
            std::string value(trim(line.substr(colon + 1)));
            if (name == "content-length") content_length = std::stoul(value);
            if (name == "transfer-encoding" && lower(value).find("chunked") != std::string::npos) chunked = true;
            if (name == "expect" && lower(value) == "100-continue") expect_continue = true;
            out.headers.emplace_back(std::move(name), std::move(value));
        }
        buffer.erase(0, end + 4);
        if (expect_continue && !send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n")) return false;
        if (chunked) {
            for (;;) {
                std::size_t eol;
                while ((eol = buffer.find("\r\n")) == std::string::npos)
                    if (!fill(fd, buffer, buffer.size() + 1)) return false;
                const std::size_t size = std::stoul(buffer.substr(0, eol), nullptr, 16);
                if (!fill(fd, buffer, eol + 2 + size + 2)) return false;
                out.body.append(buffer, eol + 2, size);
                buffer.erase(0, eol + 2 + size + 2);
                if (size == 0) break;
            }
        } else {
            if (!fill(fd, buffer, content_length)) return false;
            out.body.assign(buffer, 0, content_length);
            buffer.erase(0, content_length);
        }
        return true;
    }

    static std::string status_text(int status) {
        switch (status) {
        case 200: return "OK";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return "Status";
        }
    }

    void serve(int fd, std::size_t connection) {
        std::string buffer;
        for (;;) {
            http_exchange exchange;
            exchange.connection = connection;
            if (!read_request(fd, buffer, exchange)) break;
            {
                std::lock_guard lock(mutex_);
                requests_.push_back(exchange);
                if (!keep_bodies_) requests_.back().body.clear();
            }
            http_reply reply;
            {
                // One handler call at a time: handlers are test code that keeps its own state.
                std::lock_guard lock(handler_mutex_);
                reply = handler_(exchange);
            }
            if (reply.delay.count() > 0 && wait_or_stop(reply.delay)) break;
            if (reply.action == http_reply::fault::hang) {
                wait_or_stop(std::chrono::milliseconds{-1});
                break;
            }
            if (reply.action == http_reply::fault::close_without_reply) break;
            std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " + status_text(reply.status) + "\r\n";
            for (const auto& [name, value] : reply.headers) out += name + ": " + value + "\r\n";
            out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
            if (reply.close) out += "Connection: close\r\n";
            out += "\r\n";
            if (reply.action == http_reply::fault::close_mid_body) {
                out.append(reply.body, 0, reply.body.size() / 2);
                send_all(fd, out);
                break;
            }
            if (exchange.method != "HEAD") out += reply.body; // HEAD: the length, never the body
            if (!send_all(fd, out) || reply.close) break;
        }
        std::lock_guard lock(mutex_);
        open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
        ::close(fd);
    }

    handler_type handler_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::thread acceptor_;
    mutable std::mutex mutex_;
    std::mutex handler_mutex_;
    std::condition_variable stop_cv_;
    bool stopped_ = false;
    std::vector<std::thread> workers_;
    std::vector<int> open_fds_;
    std::vector<http_exchange> requests_;
    bool keep_bodies_ = true;
    std::atomic<std::size_t> connections_{0};
};

} // namespace sluice_test
