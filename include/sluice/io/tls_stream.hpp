#pragma once

// TLS client streams on the io_loop, with OpenSSL, over a tcp_stream:
//
//     auto tls = std::make_shared<const sluice::tls_context>(sluice::tls_options{.ca_file = "ca.pem"});
//     auto s = co_await sluice::tls_stream::connect(loop, tls, "127.0.0.1", 6651, {.server_name = "broker.local"});
//     co_await s.write_all(request);
//     std::size_t n = co_await s.read_some(buf);   // 0: the peer sent close_notify
//     co_await s.shutdown();                       // our close_notify; close() sends it too, best effort
//
// OpenSSL reads and writes the socket itself through a small BIO of ours (recv, and send with
// MSG_NOSIGNAL: a peer that went away is an error, never a SIGPIPE); when it wants to read or write
// and the socket is not ready, the coroutine waits with io_loop::poll, so handshake, reads and writes
// never block the loop and behave the same on io_uring and epoll. One reader and one writer may run
// at once (TLS 1.3 key updates are answered by the next write; renegotiation is refused).
//
// Verification is on unless switched off explicitly: the chain against the system's trusted CAs (or
// ca_file / ca_dir) and the certificate's names against the host (a DNS name, or an IP address
// SAN for an IP literal). SNI carries the host name (never an IP literal). Errors are tls_error
// (a std::system_error) naming the peer address, the name verified and what failed: the
// verification result, or OpenSSL's reason. Keys and data never appear in them.

#if !SLUICE_HAS_OPENSSL
#error "sluice/io/tls_stream.hpp needs OpenSSL 3 (CMake: SLUICE_WITH_OPENSSL, meson: -Dopenssl=enabled; it defines SLUICE_HAS_OPENSSL=1)"
#endif

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <sluice/core/async_scope.hpp>
#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/io/socket.hpp>
#include <sluice/io/tls_options.hpp>

namespace sluice {

/// What went wrong in TLS (the category of tls_error's code).
enum class tls_errc {
    configuration = 1,   ///< a CA file, directory, certificate or key could not be loaded
    handshake_failed,    ///< the handshake failed (protocol, alert, not TLS at all)
    verification_failed, ///< the peer's certificate did not verify (chain, name, dates)
    protocol,            ///< an error after the handshake (bad record, alert)
    truncated,           ///< the peer closed the TCP connection without close_notify
};

namespace detail {
class tls_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "tls"; }
    std::string message(int c) const override {
        switch (static_cast<tls_errc>(c)) {
        case tls_errc::configuration: return "TLS configuration error";
        case tls_errc::handshake_failed: return "TLS handshake failed";
        case tls_errc::verification_failed: return "certificate verification failed";
        case tls_errc::protocol: return "TLS protocol error";
        case tls_errc::truncated: return "connection closed without close_notify";
        }
        return "TLS error";
    }
};
} // namespace detail

/// The "tls" error category.
[[nodiscard]] inline const std::error_category& tls_category() noexcept {
    static const detail::tls_category_impl c;
    return c;
}

/// `e` as a std::error_code (what lets a tls_errc convert to one).
[[nodiscard]] inline std::error_code make_error_code(tls_errc e) noexcept { return {static_cast<int>(e), tls_category()}; }

/// A TLS failure. what() names the peer, the name verified and the cause; verify_result() is
/// OpenSSL's X509_V_* code when the certificate did not verify (X509_V_OK otherwise).
class tls_error : public std::system_error {
public:
    /// A failure of kind `code`; `verify_result` when a certificate did not verify.
    tls_error(tls_errc code, const std::string& what, long verify_result = X509_V_OK)
        : std::system_error(make_error_code(code), what), verify_result_(verify_result) {}
    /// OpenSSL's X509_V_* code (X509_V_OK unless a certificate did not verify).
    [[nodiscard]] long verify_result() const noexcept { return verify_result_; }

private:
    long verify_result_;
};

} // namespace sluice

template <>
struct std::is_error_code_enum<sluice::tls_errc> : std::true_type {};

namespace sluice {

namespace detail {

struct ssl_ctx_free {
    void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct ssl_free {
    void operator()(SSL* s) const noexcept { SSL_free(s); }
};

/// The first error on OpenSSL's queue as text ("certificate verify failed"), and the queue cleared;
/// `fallback` when it is empty.
[[nodiscard]] inline std::string take_openssl_error(std::string_view fallback) {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return std::string(fallback);
    const char* reason = ERR_reason_error_string(e);
    if (reason != nullptr) return reason;
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

/// A BIO reading and writing a non-blocking socket with recv and send(MSG_NOSIGNAL): the socket BIO
/// of OpenSSL uses write(), which raises SIGPIPE when the peer is gone. The descriptor is the BIO's
/// data; the tcp_stream owns it.
struct socket_bio {
    static int fd_of(BIO* b) noexcept { return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(b))); }

    static int write(BIO* b, const char* data, int size) {
        BIO_clear_retry_flags(b);
        const ssize_t n = ::send(fd_of(b), data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
        if (n >= 0) return static_cast<int>(n);
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_write(b);
        return -1;
    }

    static int read(BIO* b, char* data, int size) {
        BIO_clear_retry_flags(b);
        const ssize_t n = ::recv(fd_of(b), data, static_cast<std::size_t>(size), 0);
        if (n >= 0) return static_cast<int>(n);
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_read(b);
        return -1;
    }

    static long control(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

    static int create(BIO* b) {
        BIO_set_init(b, 1);
        return 1;
    }

    /// The method, made once per process (thread-safe static initialisation; never freed).
    static const BIO_METHOD* method() {
        static BIO_METHOD* m = [] {
            BIO_METHOD* meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sluice socket");
            if (meth == nullptr) return meth;
            BIO_meth_set_write(meth, &socket_bio::write);
            BIO_meth_set_read(meth, &socket_bio::read);
            BIO_meth_set_ctrl(meth, &socket_bio::control);
            BIO_meth_set_create(meth, &socket_bio::create);
            return meth;
        }();
        return m;
    }

    [[nodiscard]] static BIO* open(int fd) {
        const BIO_METHOD* m = method();
        BIO* b = m ? BIO_new(m) : nullptr;
        if (b == nullptr) throw tls_error(tls_errc::configuration, "tls: cannot create a BIO: " + take_openssl_error("out of memory"));
        BIO_set_data(b, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
        return b;
    }
};

/// True for "127.0.0.1", "::1", "[::1]": names that are verified as IP addresses and never sent as SNI.
[[nodiscard]] inline bool is_ip_literal(std::string_view host) {
    std::string h(host);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    unsigned char buf[sizeof(in6_addr)];
    return ::inet_pton(AF_INET, h.c_str(), buf) == 1 || ::inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

} // namespace detail

/// A configured OpenSSL client context: trusted CAs loaded once, shared by every stream made from it
/// (immutable after construction, so streams on several threads may share one).
class tls_context {
public:
    /// Throws tls_error (configuration) when a CA file or directory, certificate or key cannot be loaded.
    explicit tls_context(tls_options options = {}) : options_(std::move(options)) {
        ctx_.reset(SSL_CTX_new(TLS_client_method()));
        if (!ctx_) throw tls_error(tls_errc::configuration, "tls: cannot create a context: " + detail::take_openssl_error("out of memory"));
        SSL_CTX* c = ctx_.get();
        SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
        SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
        // Partial writes let write_all advance record by record; the buffer may move between retries.
        SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_verify(c, options_.insecure_skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
        if (options_.ca_file.empty() && options_.ca_dir.empty()) {
            if (!options_.insecure_skip_verify && SSL_CTX_set_default_verify_paths(c) != 1)
                throw tls_error(tls_errc::configuration, "tls: cannot load the system's trusted CAs: " + detail::take_openssl_error("unknown error"));
        } else {
            const char* file = options_.ca_file.empty() ? nullptr : options_.ca_file.c_str();
            const char* dir = options_.ca_dir.empty() ? nullptr : options_.ca_dir.c_str();
            if (SSL_CTX_load_verify_locations(c, file, dir) != 1)
                throw tls_error(tls_errc::configuration, "tls: cannot load trusted CAs from " + where(file, dir) + ": " +
                                                             detail::take_openssl_error("unknown error"));
        }
        load_identity(c);
        ERR_clear_error();
    }

    /// The options the context was made with.
    [[nodiscard]] const tls_options& options() const noexcept { return options_; }
    /// OpenSSL's context, for settings sluice does not wrap (it stays owned by this object).
    [[nodiscard]] SSL_CTX* native_handle() const noexcept { return ctx_.get(); }

private:
    static std::string where(const char* file, const char* dir) {
        std::string s;
        if (file) s = "file '" + std::string(file) + "'";
        if (dir) s += (s.empty() ? "" : " and ") + std::string("directory '") + dir + "'";
        return s;
    }

    void load_identity(SSL_CTX* c) const {
        if (options_.cert_file.empty() && options_.key_file.empty()) return;
        if (options_.cert_file.empty() || options_.key_file.empty())
            throw tls_error(tls_errc::configuration, "tls: a client certificate needs both cert_file and key_file");
        if (SSL_CTX_use_certificate_chain_file(c, options_.cert_file.c_str()) != 1)
            throw tls_error(tls_errc::configuration, "tls: cannot load the client certificate '" + options_.cert_file +
                                                         "': " + detail::take_openssl_error("unknown error"));
        // The key's path is named, its content never.
        if (SSL_CTX_use_PrivateKey_file(c, options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(c) != 1)
            throw tls_error(tls_errc::configuration, "tls: cannot use the private key '" + options_.key_file +
                                                         "' with the client certificate: " + detail::take_openssl_error("unknown error"));
    }

    tls_options options_;
    std::unique_ptr<SSL_CTX, detail::ssl_ctx_free> ctx_;
};

/// Per-connection settings of tls_stream::connect.
struct tls_connect_options {
    /// The name sent as SNI and verified against the certificate; empty: the host connected to.
    std::string server_name{};
    /// Bounds the TCP connect and the handshake together.
    std::chrono::milliseconds timeout{10'000};
};

/// A TLS client connection on a loop. Move-only; the destructor closes it (close()).
class tls_stream {
public:
    /// An empty stream (is_open() is false).
    tls_stream() noexcept = default;
    /// Takes over the connection; `other` is left empty.
    tls_stream(tls_stream&&) noexcept = default;
    /// Closes this stream's connection, then takes over `other`'s.
    tls_stream& operator=(tls_stream&& other) noexcept {
        if (this != &other) {
            close();
            tcp_ = std::move(other.tcp_);
            context_ = std::move(other.context_);
            ssl_ = std::move(other.ssl_);
            server_name_ = std::move(other.server_name_);
            broken_ = other.broken_;
            shut_down_ = other.shut_down_;
        }
        return *this;
    }
    tls_stream(const tls_stream&) = delete;
    tls_stream& operator=(const tls_stream&) = delete;
    ~tls_stream() { close(); }

    /// Connects to `host` (an IP literal or "localhost") and `port`, then performs the handshake,
    /// verifying the certificate as `context` says against `host`, within 10 s.
    [[nodiscard]] static task<tls_stream> connect(io_loop& loop, std::shared_ptr<const tls_context> context, std::string host,
                                                  std::uint16_t port, std::stop_token stop = {}) {
        tls_connect_options options; // named: a braced temporary in a caller's co_await trips GCC 12
        return connect(loop, std::move(context), std::move(host), port, std::move(options), std::move(stop));
    }

    /// Connects and performs the handshake, verifying the certificate against options.server_name
    /// (or `host`). Throws std::system_error for TCP failures, tls_error for TLS ones,
    /// operation_cancelled when `stop` fires first. Pass `options` as a named variable (GCC 12).
    [[nodiscard]] static task<tls_stream> connect(io_loop& loop, std::shared_ptr<const tls_context> context, std::string host,
                                                  std::uint16_t port, tls_connect_options options, std::stop_token stop = {}) {
        const auto deadline = io_loop::clock::now() + options.timeout;
        tcp_stream tcp = co_await tcp_stream::connect(loop, host, port, options.timeout, stop);
        std::string name = options.server_name.empty() ? host : options.server_name;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - io_loop::clock::now());
        co_return co_await handshake(std::move(tcp), std::move(context), std::move(name),
                                     std::max(left, std::chrono::milliseconds(1)), std::move(stop));
    }

    /// Performs a client handshake over an established TCP connection (which it takes over).
    /// `server_name` is sent as SNI (unless an IP literal) and verified.
    [[nodiscard]] static task<tls_stream> handshake(tcp_stream tcp, std::shared_ptr<const tls_context> context, std::string server_name,
                                                    std::chrono::milliseconds timeout = std::chrono::seconds(10), std::stop_token stop = {}) {
        tls_stream s(std::move(tcp), std::move(context), std::move(server_name));
        s.prepare();
        io_loop& loop = s.tcp_.loop();
        std::stop_source wait_stop;
        std::stop_callback forward(stop, [&wait_stop] { wait_stop.request_stop(); });
        std::stop_source timer_stop;
        bool timed_out = false;
        async_scope timer;
        timer.spawn(detail::stop_at(loop, io_loop::clock::now() + timeout, wait_stop, timed_out, timer_stop.get_token()));
        bool cancelled = false;
        std::exception_ptr failed;
        try {
            co_await s.run_handshake(wait_stop.get_token());
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
            throw tls_error(tls_errc::handshake_failed,
                            "tls: handshake with " + s.describe_peer() + " timed out after " + std::to_string(timeout.count()) + " ms");
        co_return s;
    }

    /// Reads what is available, up to buf.size() bytes, waiting for at least one; 0 means the peer
    /// sent close_notify (or `buf` is empty). A TCP close without close_notify is tls_error(truncated).
    [[nodiscard]] task<std::size_t> read_some(std::span<std::byte> buf, std::stop_token stop = {}) {
        return read_raw(buf.data(), buf.size(), std::move(stop));
    }
    /// read_some() into chars.
    [[nodiscard]] task<std::size_t> read_some(std::span<char> buf, std::stop_token stop = {}) {
        return read_raw(buf.data(), buf.size(), std::move(stop));
    }

    /// Writes every byte of `data`. After an exception an unknown prefix was sent.
    [[nodiscard]] task<void> write_all(std::span<const std::byte> data, std::stop_token stop = {}) {
        return write_raw(reinterpret_cast<const char*>(data.data()), data.size(), std::move(stop));
    }
    /// write_all() of a string's bytes.
    [[nodiscard]] task<void> write_all(std::string_view data, std::stop_token stop = {}) {
        return write_raw(data.data(), data.size(), std::move(stop));
    }

    /// Writes the pieces in order; small ones are gathered into records of up to 16 KiB rather than
    /// a record each. The views must stay valid until the task completes.
    [[nodiscard]] task<void> write_all(std::span<const std::string_view> pieces, std::stop_token stop = {}) {
        constexpr std::size_t record = 16u << 10;
        std::string gathered;
        for (const std::string_view p : pieces) {
            if (!gathered.empty() && gathered.size() + p.size() > record) {
                co_await write_raw(gathered.data(), gathered.size(), stop);
                gathered.clear();
            }
            if (p.size() >= record) {
                co_await write_raw(p.data(), p.size(), stop);
                continue;
            }
            gathered.append(p);
        }
        if (!gathered.empty()) co_await write_raw(gathered.data(), gathered.size(), stop);
    }

    /// Sends close_notify (waiting for socket space, not for the peer's own close_notify). Reading
    /// may go on; writing may not. Idempotent; does nothing on a broken connection.
    [[nodiscard]] task<void> shutdown(std::stop_token stop = {}) {
        while (ssl_ && !broken_ && !shut_down_) {
            ERR_clear_error();
            const int rc = SSL_shutdown(ssl_.get());
            if (rc >= 0) break;
            const int err = SSL_get_error(ssl_.get(), rc);
            if (err == SSL_ERROR_WANT_WRITE) {
                co_await tcp_.loop().poll(tcp_.native_handle(), poll_events::out, stop);
                continue;
            }
            ERR_clear_error(); // the peer is gone already: nothing to tell it
            break;
        }
        shut_down_ = true;
    }

    /// Sends close_notify if the socket takes it at once (never waits), then closes the socket. Nothing
    /// may be waiting on the stream.
    void close() noexcept {
        if (ssl_ && !broken_ && !shut_down_ && tcp_.is_open() && SSL_is_init_finished(ssl_.get())) {
            ERR_clear_error();
            (void)SSL_shutdown(ssl_.get());
            ERR_clear_error();
        }
        shut_down_ = true;
        ssl_.reset();
        tcp_.close();
    }

    /// False when empty, closed or moved from.
    [[nodiscard]] bool is_open() const noexcept { return ssl_ != nullptr && tcp_.is_open(); }
    /// The loop the stream waits on.
    [[nodiscard]] io_loop& loop() const noexcept { return tcp_.loop(); }
    /// The TCP socket's descriptor.
    [[nodiscard]] int native_handle() const noexcept { return tcp_.native_handle(); }
    /// OpenSSL's SSL object, for inspection (peer certificate, ALPN...).
    [[nodiscard]] SSL* ssl() const noexcept { return ssl_.get(); }
    /// "127.0.0.1:6651": the other end.
    [[nodiscard]] std::string peer_address() const { return tcp_.peer_address(); }
    /// The name sent as SNI and verified.
    [[nodiscard]] const std::string& server_name() const noexcept { return server_name_; }
    /// "TLSv1.3", "TLSv1.2".
    [[nodiscard]] std::string protocol() const { return ssl_ ? SSL_get_version(ssl_.get()) : ""; }
    /// The negotiated cipher suite ("TLS_AES_256_GCM_SHA384").
    [[nodiscard]] std::string cipher() const {
        const char* c = ssl_ ? SSL_get_cipher_name(ssl_.get()) : nullptr;
        return c ? c : "";
    }

private:
    tls_stream(tcp_stream tcp, std::shared_ptr<const tls_context> context, std::string server_name) noexcept
        : tcp_(std::move(tcp)), context_(std::move(context)), server_name_(std::move(server_name)) {}

    /// "127.0.0.1:6651 (localhost)": for errors.
    [[nodiscard]] std::string describe_peer() const { return tcp_.peer_address() + " (" + server_name_ + ")"; }

    void prepare() {
        if (!context_) throw tls_error(tls_errc::configuration, "tls: no context given for " + describe_peer());
        ssl_.reset(SSL_new(context_->native_handle()));
        if (!ssl_) throw tls_error(tls_errc::configuration, "tls: cannot create a connection: " + detail::take_openssl_error("out of memory"));
        SSL* s = ssl_.get();
        BIO* bio = detail::socket_bio::open(tcp_.native_handle());
        SSL_set_bio(s, bio, bio); // one BIO both ways; the SSL owns it
        SSL_set_connect_state(s);
        std::string name = server_name_;
        if (name.size() >= 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
        const bool ip = detail::is_ip_literal(name);
        if (!ip && !name.empty() && SSL_set_tlsext_host_name(s, name.c_str()) != 1)
            throw tls_error(tls_errc::configuration, "tls: invalid server name '" + server_name_ + "'");
        const auto& o = context_->options();
        if (!o.insecure_skip_verify && !o.insecure_skip_hostname_check) {
            if (name.empty()) throw tls_error(tls_errc::configuration, "tls: host name verification needs a server name");
            X509_VERIFY_PARAM* param = SSL_get0_param(s);
            X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) : X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
            if (ok != 1) throw tls_error(tls_errc::configuration, "tls: cannot verify against the name '" + server_name_ + "'");
        }
    }

    task<void> run_handshake(std::stop_token stop) {
        for (;;) {
            ERR_clear_error();
            const int rc = SSL_connect(ssl_.get());
            if (rc == 1) co_return;
            const int saved_errno = errno;
            const int err = SSL_get_error(ssl_.get(), rc);
            if (err == SSL_ERROR_WANT_READ) {
                co_await tcp_.loop().poll(tcp_.native_handle(), poll_events::in, stop);
            } else if (err == SSL_ERROR_WANT_WRITE) {
                co_await tcp_.loop().poll(tcp_.native_handle(), poll_events::out, stop);
            } else {
                broken_ = true;
                throw handshake_failure(err, saved_errno);
            }
        }
    }

    [[nodiscard]] tls_error handshake_failure(int err, int saved_errno) const {
        const long verify = SSL_get_verify_result(ssl_.get());
        if (!context_->options().insecure_skip_verify && verify != X509_V_OK) {
            ERR_clear_error();
            return tls_error(tls_errc::verification_failed,
                             "tls: the certificate of " + describe_peer() + " did not verify: " + X509_verify_cert_error_string(verify),
                             verify);
        }
        return tls_error(tls_errc::handshake_failed, "tls: handshake with " + describe_peer() + " failed: " + cause(err, saved_errno));
    }

    /// Why an SSL call failed, from OpenSSL's error queue or errno.
    [[nodiscard]] static std::string cause(int err, int saved_errno) {
        if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
            return saved_errno != 0 ? std::string(std::strerror(saved_errno)) : std::string("the peer closed the connection");
        if (err == SSL_ERROR_ZERO_RETURN) return "the peer sent close_notify";
        return detail::take_openssl_error("unknown error");
    }

    /// Throws the error after the handshake: tls_error for TLS failures and truncation, a
    /// std::system_error for the socket's own. The connection is unusable afterwards.
    [[noreturn]] void fail_io(const char* what, int err, int saved_errno) {
        broken_ = true;
        if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && saved_errno != 0)
            throw std::system_error(saved_errno, std::system_category(), std::string("tls: ") + what + ' ' + describe_peer());
        const unsigned long e = ERR_peek_error();
        if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING || (err == SSL_ERROR_SYSCALL && e == 0)) {
            ERR_clear_error();
            throw tls_error(tls_errc::truncated, "tls: " + describe_peer() + " closed the connection without close_notify");
        }
        throw tls_error(tls_errc::protocol, std::string("tls: ") + what + ' ' + describe_peer() + ": " + cause(err, saved_errno));
    }

    task<std::size_t> read_raw(void* data, std::size_t size, std::stop_token stop) {
        if (size == 0) co_return 0;
        for (;;) {
            if (!ssl_ || broken_) throw tls_error(tls_errc::protocol, "tls: read from a closed or failed connection to " + describe_peer());
            ERR_clear_error();
            std::size_t n = 0;
            const int rc = SSL_read_ex(ssl_.get(), data, size, &n);
            if (rc == 1) co_return n;
            const int saved_errno = errno;
            const int err = SSL_get_error(ssl_.get(), rc);
            if (err == SSL_ERROR_ZERO_RETURN) co_return 0;
            if (err == SSL_ERROR_WANT_READ)
                co_await tcp_.loop().poll(tcp_.native_handle(), poll_events::in, stop);
            else if (err == SSL_ERROR_WANT_WRITE)
                co_await tcp_.loop().poll(tcp_.native_handle(), poll_events::out, stop);
            else
                fail_io("read from", err, saved_errno);
        }
    }

    task<void> write_raw(const char* data, std::size_t size, std::stop_token stop) {
        while (size > 0) {
            if (!ssl_ || broken_ || shut_down_)
                throw tls_error(tls_errc::protocol, "tls: write to a closed or failed connection to " + describe_peer());
            ERR_clear_error();
            std::size_t n = 0;
            const int rc = SSL_write_ex(ssl_.get(), data, size, &n);
            if (rc == 1) {
                data += n;
                size -= n;
                continue;
            }
            const int saved_errno = errno;
            const int err = SSL_get_error(ssl_.get(), rc);
            if (err == SSL_ERROR_WANT_WRITE)
                co_await tcp_.loop().poll(tcp_.native_handle(), poll_events::out, stop);
            else if (err == SSL_ERROR_WANT_READ)
                co_await tcp_.loop().poll(tcp_.native_handle(), poll_events::in, stop);
            else
                fail_io("write to", err, saved_errno);
        }
    }

    tcp_stream tcp_{};
    std::shared_ptr<const tls_context> context_{};
    std::unique_ptr<SSL, detail::ssl_free> ssl_{};
    std::string server_name_{};
    bool broken_ = false;
    bool shut_down_ = false;
};

} // namespace sluice
