#pragma once

// An HTTP client on the sluice loop: libcurl's multi-socket API driven by io_loop polls and timers.
// No thread of its own and no busy loop: curl says which sockets it wants watched and when it wants
// a timeout (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION); a small coroutine per socket waits
// on the loop and hands readiness back with curl_multi_socket_action.
//
//     sluice::http::client http(loop);
//     sluice::http::request r;
//     r.method = "POST";
//     r.url = "https://sqs.eu-west-1.amazonaws.com/";
//     r.body = body;                          // not copied: keep it alive until the request ends
//     auto res = co_await http.request(r);    // result<response>: status, headers, body
//
// Connections are kept alive and reused (curl's connection cache, per host), HTTP/2 is negotiated
// over TLS when the server offers it, TLS verifies the peer and the host name unless told not to.
// An HTTP status is never an error here; transport failures are (sluice::http::transport_error).
// Everything runs on the loop's thread: request() hops there when awaited from elsewhere, and the
// awaiting coroutine resumes there. Destroy the client on the loop's thread, then let the loop run
// (drain()) so the socket watchers see their cancellation and free themselves.

#if !SLUICE_HAS_CURL
#error "sluice/http/client.hpp needs libcurl (SLUICE_HAS_CURL): install libcurl4-openssl-dev"
#endif

#include <curl/curl.h>

#include <sluice/core/result.hpp>
#include <sluice/core/task.hpp>
#include <sluice/http/detail/body_parts.hpp>
#include <sluice/http/detail/failure_text.hpp>
#include <sluice/http/error.hpp>
#include <sluice/http/header.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/text/ascii.hpp>
#include <sluice/text/url.hpp>
#include <sluice/version.hpp>

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sluice::http {

/// One HTTP request; the body is borrowed, not copied.
struct request {
    /// Any method libcurl sends ("GET", "POST", "PUT"...).
    std::string method = "GET";
    /// Absolute http:// or https:// URL (errors show it without its query).
    std::string url;
    /// Sent in order; Content-Length and Host are set by the client.
    std::vector<header> headers{};
    /// Sent as is, never copied: must stay valid until the request completes.
    std::string_view body{};
    /// Instead of `body` when not empty: the body in pieces, sent in order without being joined (a
    /// batch request around entries held elsewhere). The span and every piece must stay valid until
    /// the request completes.
    std::span<const std::string_view> body_parts{};
    /// Whole-request limit; zero means the client's default.
    std::chrono::milliseconds timeout{0};
    /// Connection setup limit (TCP + TLS); zero means the client's default.
    std::chrono::milliseconds connect_timeout{0};
    /// Abandons the request (transport_error::cancelled) when stopped.
    std::stop_token stop{};
};

/// A complete response: an HTTP status is an answer, never an error.
struct response {
    /// The final status code.
    long status = 0;
    /// Names lower-cased, in arrival order (the final response's headers only, not 100 Continue's).
    std::vector<http::header> headers{};
    /// The whole body (bounded by client_options::max_response_bytes).
    std::string body{};
    /// "1.1", "2"...
    std::string http_version{};

    /// The first header called `lower_case_name`, if any.
    [[nodiscard]] std::optional<std::string_view> header(std::string_view lower_case_name) const {
        for (const auto& h : headers)
            if (h.name == lower_case_name) return std::string_view(h.value);
        return std::nullopt;
    }
};

/// Which HTTP versions a client may negotiate (client_options::version).
enum class http_version {
    http1_1,             ///< HTTP/1.1 only
    http2_tls,           ///< HTTP/2 when TLS negotiates it (ALPN), else HTTP/1.1 (the default)
    http2_prior_knowledge, ///< HTTP/2 without TLS too (h2c), for servers known to speak it
};

/// How a client connects, verifies and limits requests.
struct client_options {
    /// Default connect limit of a request (TCP + TLS).
    std::chrono::milliseconds connect_timeout{std::chrono::seconds{5}};
    /// Default whole-request limit.
    std::chrono::milliseconds timeout{std::chrono::seconds{30}};
    /// Requests in flight per scheme://host:port; more wait in line (without their timeout ticking).
    std::size_t max_requests_per_host = 64;
    /// Idle connections kept for reuse (0: libcurl's default).
    std::size_t max_idle_connections = 0;
    /// Verify the server's certificate chain; turn off only for test servers.
    bool verify_peer = true;
    /// Verify that the certificate names the host.
    bool verify_host = true;
    /// PEM bundle / directory of CA certificates; empty means the system's.
    std::string ca_file{};
    /// Directory of hashed CA certificates; empty means the system's.
    std::string ca_path{};
    /// Which HTTP versions may be negotiated.
    http_version version = http_version::http2_tls;
    /// A larger response fails with transport_error::too_large.
    std::size_t max_response_bytes = 64u << 20;
    /// The User-Agent header.
    std::string user_agent = "sluice/" SLUICE_VERSION_STRING;
    /// libcurl's receive buffer per connection (CURLOPT_BUFFERSIZE; 0: libcurl's 16 KiB). Larger
    /// reads of large responses take fewer system calls, at this much memory per connection.
    std::size_t receive_buffer_bytes = 0;
    /// libcurl's send buffer per connection (CURLOPT_UPLOAD_BUFFERSIZE; 0: libcurl's 64 KiB): a
    /// request body goes out in writes of this size.
    std::size_t upload_buffer_bytes = 0;
};

namespace detail {

inline void curl_global_setup() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

/// "scheme://host:port" of a URL, lower-cased, with the scheme's default port when none is given: the
/// key of the per-host request cap.
[[nodiscard]] inline std::string origin_of(std::string_view url) {
    const auto u = sluice::text::parse_url(url);
    if (!u) return sluice::text::to_lower(url);
    const std::string scheme = u->scheme.empty() ? std::string("http") : sluice::text::to_lower(u->scheme);
    std::string out = scheme + "://";
    if (u->ipv6) out += '[';
    out += sluice::text::to_lower(u->host);
    if (u->ipv6) out += ']';
    out += ':';
    if (u->has_port) out += u->port;
    else out += std::to_string(sluice::text::default_port(scheme));
    return out;
}

// One request in flight. Lives in the request() coroutine's frame.
struct transfer {
    CURL* easy = nullptr;
    // The request's header lines as libcurl's list, built in memory the transfer owns (libcurl only
    // reads a CURLOPT_HTTPHEADER list): one text block and one node array instead of two allocations
    // per header from curl_slist_append.
    std::string header_text{};
    std::vector<curl_slist> header_nodes{};
    response out{};
    body_reader body{}; // request::body_parts
    std::size_t max_body = 0;
    bool too_large = false;
    bool finished = false;
    CURLcode code = CURLE_OK;
    std::uint64_t id = 0;
    std::coroutine_handle<> waiter{};
    char error_text[CURL_ERROR_SIZE]{};
};

struct host_slots {
    std::size_t in_flight = 0;
    std::deque<std::coroutine_handle<>> waiting{};
};

struct socket_watch;

// The shared state of one client. Held by the client and by every coroutine it runs, so a
// coroutine woken after the client was destroyed still has valid memory to look at.
class curl_core : public std::enable_shared_from_this<curl_core> {
public:
    curl_core(io_loop& loop, client_options options) : loop_(loop), options_(std::move(options)) {
        curl_global_setup();
        multi_ = curl_multi_init();
        if (!multi_) throw std::runtime_error("sluice::http::client: curl_multi_init failed");
        curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &curl_core::on_socket);
        curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
        curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &curl_core::on_timer);
        curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
        curl_multi_setopt(multi_, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_MULTIPLEX));
        if (options_.max_idle_connections > 0)
            curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(options_.max_idle_connections));
    }

    curl_core(const curl_core&) = delete;
    curl_core& operator=(const curl_core&) = delete;
    ~curl_core() { release_handles(); }

    io_loop& loop() noexcept { return loop_; }
    const client_options& options() const noexcept { return options_; }
    bool closed() const noexcept { return closed_; }

    // Waits for a slot under the per-host cap. Returns false when the client closed meanwhile.
    auto acquire_slot(host_slots& slots) {
        struct awaiter {
            curl_core* core;
            host_slots* slots;
            bool await_ready() const noexcept {
                if (core->closed_) return true;
                if (core->options_.max_requests_per_host == 0 ||
                    slots->in_flight < core->options_.max_requests_per_host) {
                    ++slots->in_flight;
                    return true;
                }
                return false;
            }
            void await_suspend(std::coroutine_handle<> h) { slots->waiting.push_back(h); }
            bool await_resume() const noexcept { return !core->closed_; } // the slot was handed over
        };
        return awaiter{this, &slots};
    }

    host_slots& slots_for(const std::string& origin) { return hosts_[origin]; }

    void release_slot(host_slots& slots) {
        if (!slots.waiting.empty()) {
            // Hand the slot straight to the next in line: in_flight stays the same.
            auto next = slots.waiting.front();
            slots.waiting.pop_front();
            loop_.post(next);
            return;
        }
        if (slots.in_flight > 0) --slots.in_flight;
    }

    /// An easy handle with the client's fixed options set (reused handles keep them: what changes
    /// per request is set by configure(), which also clears what a previous request may have left).
    CURL* take_easy() {
        if (!idle_easy_.empty()) {
            CURL* e = idle_easy_.back();
            idle_easy_.pop_back();
            return e;
        }
        CURL* e = curl_easy_init();
        if (!e) throw std::runtime_error("sluice::http::client: curl_easy_init failed");
        set_fixed_options(e);
        return e;
    }

    void set_fixed_options(CURL* e) const {
        const client_options& o = options_;
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, o.verify_peer ? 1L : 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, o.verify_host ? 2L : 0L);
        if (!o.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, o.ca_file.c_str());
        if (!o.ca_path.empty()) curl_easy_setopt(e, CURLOPT_CAPATH, o.ca_path.c_str());
        long version = CURL_HTTP_VERSION_2TLS;
        if (o.version == http_version::http1_1) version = CURL_HTTP_VERSION_1_1;
        if (o.version == http_version::http2_prior_knowledge) version = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, version);
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L); // prefer multiplexing on an h2 connection
        if (!o.user_agent.empty()) curl_easy_setopt(e, CURLOPT_USERAGENT, o.user_agent.c_str());
        if (o.receive_buffer_bytes != 0) curl_easy_setopt(e, CURLOPT_BUFFERSIZE, static_cast<long>(o.receive_buffer_bytes));
        if (o.upload_buffer_bytes != 0)
            curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, static_cast<long>(o.upload_buffer_bytes));
    }

    // Response bodies given back by callers (client::recycle_body), for the next responses.
    static constexpr std::size_t max_spare_bodies = 16;
    static constexpr std::size_t max_spare_body_bytes = 1u << 20;
    std::string take_spare_body() {
        if (spare_bodies_.empty()) return {};
        std::string b = std::move(spare_bodies_.back());
        spare_bodies_.pop_back();
        return b;
    }
    void keep_spare_body(std::string&& b) {
        if (spare_bodies_.size() >= max_spare_bodies || b.capacity() > max_spare_body_bytes) return;
        b.clear();
        spare_bodies_.push_back(std::move(b));
    }

    void give_back_easy(CURL* e) {
        if (closed_ || idle_easy_.size() >= 256) {
            curl_easy_cleanup(e);
            return;
        }
        idle_easy_.push_back(e);
    }

    /// Starts `t` (its easy handle configured); false with t.code set when curl refuses it.
    bool start(transfer& t) {
        t.id = ++next_id_;
        live_.emplace(t.id, &t);
        const CURLMcode rc = curl_multi_add_handle(multi_, t.easy);
        if (rc != CURLM_OK) {
            live_.erase(t.id);
            t.code = CURLE_FAILED_INIT;
            std::snprintf(t.error_text, sizeof t.error_text, "%s", curl_multi_strerror(rc));
            return false;
        }
        return true;
    }

    /// Abandons the transfer with this id, if still in flight (a stop_token fired).
    void cancel(std::uint64_t id) {
        auto it = live_.find(id);
        if (it == live_.end()) return;
        transfer* t = it->second;
        curl_multi_remove_handle(multi_, t->easy);
        finish(*t, CURLE_ABORTED_BY_CALLBACK);
    }

    /// Closes the client: every request in flight ends with transport_error::cancelled, every
    /// socket watcher and the timer are told to stop.
    void close();

    void socket_action(curl_socket_t fd, int mask) {
        int running = 0;
        curl_multi_socket_action(multi_, fd, mask, &running);
        collect_finished();
    }

    std::optional<io_loop::clock::time_point>& timer_deadline() noexcept { return timer_deadline_; }
    std::stop_source& timer_stop() noexcept { return timer_stop_; }
    void timer_stopped() noexcept { timer_running_ = false; }
    void set_timer_sleep(io_loop::clock::time_point at) noexcept { timer_sleep_until_ = at; }

    void forget(socket_watch* w);

private:
    static int on_socket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp);
    static int on_timer(CURLM* multi, long timeout_ms, void* userp);

    void finish(transfer& t, CURLcode code) {
        live_.erase(t.id);
        t.code = code;
        t.finished = true;
        if (t.waiter) loop_.post(std::exchange(t.waiter, {}));
    }

    void collect_finished() {
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
            if (msg->msg != CURLMSG_DONE) continue;
            transfer* t = nullptr;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
            const CURLcode code = msg->data.result;
            curl_multi_remove_handle(multi_, msg->easy_handle); // msg is invalid from here
            if (t) finish(*t, code);
        }
    }

    void arm_timer(long timeout_ms);

    void release_handles() {
        for (CURL* e : idle_easy_) curl_easy_cleanup(e);
        idle_easy_.clear();
        if (multi_) {
            curl_multi_cleanup(multi_);
            multi_ = nullptr;
        }
    }

    io_loop& loop_;
    client_options options_;
    CURLM* multi_ = nullptr;
    bool closed_ = false;
    std::uint64_t next_id_ = 0;
    std::unordered_map<std::uint64_t, transfer*> live_;
    std::unordered_map<std::string, host_slots> hosts_;
    std::vector<CURL*> idle_easy_;
    std::vector<std::string> spare_bodies_;
    std::vector<socket_watch*> watches_;

    // The timer curl asked for: one coroutine sleeps until it; re-armed earlier means cancel+resleep.
    std::optional<io_loop::clock::time_point> timer_deadline_;
    io_loop::clock::time_point timer_sleep_until_{};
    bool timer_running_ = false;
    std::stop_source timer_stop_;
};

struct socket_watch {
    std::shared_ptr<curl_core> core;
    curl_socket_t fd;
    std::uint32_t events = 0;
    bool closed = false;
    std::stop_source stop{};
};

// Waits on one socket for what curl wants, hands readiness to curl, repeats until curl lets go.
inline task<void> watch_socket(socket_watch* w) {
    std::unique_ptr<socket_watch> own(w);
    while (!w->closed) {
        w->stop = std::stop_source{};
        const std::uint32_t wanted = w->events;
        std::uint32_t ready = 0;
        bool cancelled = false;
        try {
            ready = static_cast<std::uint32_t>(co_await w->core->loop().poll(w->fd, wanted, w->stop.get_token()));
        } catch (const operation_cancelled&) {
            cancelled = true; // interest changed or curl let go: look again
        } catch (const std::system_error&) {
            ready = poll_events::err; // let curl find out what is wrong with the socket
        }
        if (cancelled || w->closed) continue;
        int mask = 0;
        if (ready & (poll_events::in | poll_events::hup)) mask |= CURL_CSELECT_IN;
        if (ready & poll_events::out) mask |= CURL_CSELECT_OUT;
        if (ready & poll_events::err) mask |= CURL_CSELECT_ERR;
        w->core->socket_action(w->fd, mask);
    }
    w->core->forget(w);
}

// Sleeps until curl's timeout and tells curl it expired; ends when no timeout is wanted.
inline task<void> run_curl_timer(std::shared_ptr<curl_core> core) {
    while (!core->closed() && core->timer_deadline()) {
        const auto at = *core->timer_deadline();
        core->set_timer_sleep(at);
        core->timer_stop() = std::stop_source{};
        bool cancelled = false;
        try {
            co_await core->loop().sleep_until(at, core->timer_stop().get_token());
        } catch (const operation_cancelled&) {
            cancelled = true; // re-armed earlier, disarmed or closed: look again
        }
        if (cancelled || core->closed()) continue;
        auto& deadline = core->timer_deadline();
        if (deadline && *deadline <= io_loop::clock::now()) {
            deadline.reset();
            core->socket_action(CURL_SOCKET_TIMEOUT, 0);
        }
    }
    core->timer_stopped();
}

inline int curl_core::on_socket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) {
    auto* core = static_cast<curl_core*>(userp);
    auto* w = static_cast<socket_watch*>(socketp);
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            // curl closes the socket right after this: stop watching it now.
            w->closed = true;
            w->stop.request_stop();
            curl_multi_assign(core->multi_, fd, nullptr);
        }
        return 0;
    }
    std::uint32_t events = 0;
    if (what & CURL_POLL_IN) events |= poll_events::in;
    if (what & CURL_POLL_OUT) events |= poll_events::out;
    if (!w) {
        w = new socket_watch{core->shared_from_this(), fd, events};
        curl_multi_assign(core->multi_, fd, w);
        core->watches_.push_back(w);
        core->loop_.spawn(watch_socket(w));
    } else if (w->events != events) {
        w->events = events;
        w->stop.request_stop(); // the watcher re-polls with the new interest
    }
    return 0;
}

inline int curl_core::on_timer(CURLM*, long timeout_ms, void* userp) {
    static_cast<curl_core*>(userp)->arm_timer(timeout_ms);
    return 0;
}

inline void curl_core::arm_timer(long timeout_ms) {
    if (closed_) return;
    if (timeout_ms < 0) {
        timer_deadline_.reset();
        if (timer_running_) timer_stop_.request_stop();
        return;
    }
    const auto at = io_loop::clock::now() + std::chrono::milliseconds(timeout_ms);
    timer_deadline_ = at;
    if (!timer_running_) {
        timer_running_ = true;
        loop_.spawn(run_curl_timer(shared_from_this()));
    } else if (at < timer_sleep_until_) {
        timer_stop_.request_stop();
    }
}

inline void curl_core::forget(socket_watch* w) {
    watches_.erase(std::remove(watches_.begin(), watches_.end(), w), watches_.end());
}

inline void curl_core::close() {
    if (closed_) return;
    closed_ = true;
    // Requests in flight end as cancelled; their coroutines resume later on the loop.
    std::vector<transfer*> in_flight;
    in_flight.reserve(live_.size());
    for (auto& [id, t] : live_) in_flight.push_back(t);
    for (transfer* t : in_flight) {
        curl_multi_remove_handle(multi_, t->easy);
        finish(*t, CURLE_ABORTED_BY_CALLBACK);
    }
    for (auto& [origin, slots] : hosts_) {
        for (auto h : slots.waiting) loop_.post(h);
        slots.waiting.clear();
    }
    for (CURL* e : idle_easy_) curl_easy_cleanup(e);
    idle_easy_.clear();
    curl_multi_cleanup(multi_); // may report sockets removed (handled above)
    multi_ = nullptr;
    for (socket_watch* w : watches_) {
        w->closed = true;
        w->stop.request_stop();
    }
    timer_deadline_.reset();
    if (timer_running_) timer_stop_.request_stop();
}

} // namespace detail

/// An HTTP/1.1 and HTTP/2 client on the io_loop (libcurl's multi-socket API, no thread of its own):
/// connections kept alive per host, TLS verified by default.
class client {
public:
    /// Requests run on `loop`; the client belongs to its thread.
    explicit client(io_loop& loop, client_options options = {})
        : core_(std::make_shared<detail::curl_core>(loop, std::move(options))) {}

    client(const client&) = delete;
    client& operator=(const client&) = delete;
    ~client() { core_->close(); }

    /// The options it was made with.
    [[nodiscard]] const client_options& options() const noexcept { return core_->options(); }
    /// The loop its requests run on.
    [[nodiscard]] io_loop& loop() const noexcept { return core_->loop(); }

    /// Sends `r` and waits for the whole response. `r` (and its body) must stay valid until this
    /// completes. Transport failures come back as an Error whose code is a transport_error and whose
    /// message names the method and URL without its query.
    [[nodiscard]] task<result<response>> request(const http::request& r) {
        std::shared_ptr<detail::curl_core> core = core_;
        if (!core->loop().in_loop_thread()) co_await core->loop().schedule();
        if (core->closed()) co_return failure(r, transport_error::cancelled, "client closed");

        detail::host_slots& slots = core->slots_for(detail::origin_of(r.url));
        const bool got_slot = co_await core->acquire_slot(slots);
        if (!got_slot) co_return failure(r, transport_error::cancelled, "client closed");
        if (r.stop.stop_requested()) {
            core->release_slot(slots);
            co_return failure(r, transport_error::cancelled, "cancelled");
        }

        detail::transfer t;
        t.max_body = core->options().max_response_bytes;
        t.easy = core->take_easy();
        t.out.body = core->take_spare_body();
        configure(*core, t, r);
        if (!core->start(t)) {
            cleanup(*core, t);
            core->release_slot(slots);
            co_return failure(r, transport_error::other, t.error_text);
        }
        {
            std::optional<std::stop_callback<canceller>> on_stop;
            if (r.stop.stop_possible()) on_stop.emplace(r.stop, canceller{&core->loop(), core, t.id});
            co_await completion{&t};
        }
        core->release_slot(slots);

        const CURLcode code = t.code;
        if (code == CURLE_OK) {
            long status = 0;
            curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
            t.out.status = status;
            long version = 0;
            curl_easy_getinfo(t.easy, CURLINFO_HTTP_VERSION, &version);
            t.out.http_version = version == CURL_HTTP_VERSION_2_0 ? "2"
                                 : version == CURL_HTTP_VERSION_1_0 ? "1.0"
                                                                    : "1.1";
        }
        cleanup(*core, t);
        if (code != CURLE_OK) {
            if (t.too_large) co_return failure(r, transport_error::too_large, "response larger than max_response_bytes");
            co_return failure(r, detail::classify_curl(code),
                              t.error_text[0] != '\0' ? std::string_view(t.error_text) : curl_easy_strerror(code));
        }
        co_return result<response>::ok(std::move(t.out));
    }

    /// Gives a response's body back for a later response to reuse (its capacity; up to 16 bodies of
    /// at most 1 MiB are kept). A caller that reads each response and drops it (the AWS batch sink)
    /// saves an allocation per response, and the heap does not shrink and grow again (page faults)
    /// around every burst of responses. On the loop's thread.
    void recycle_body(std::string&& body) { core_->keep_spare_body(std::move(body)); }

private:
    /// Cancels transfer `id` when a request's stop token fires, on the loop (a named type rather than a
    /// std::function: no allocation per request).
    struct canceller {
        io_loop* loop;
        std::weak_ptr<detail::curl_core> core;
        std::uint64_t id;
        void operator()() const {
            auto cancel = [weak = core, id = id] {
                if (auto c = weak.lock()) c->cancel(id);
            };
            if (loop->in_loop_thread())
                cancel();
            else
                loop->call_soon(cancel);
        }
    };

    struct completion {
        detail::transfer* t;
        bool await_ready() const noexcept { return t->finished; }
        void await_suspend(std::coroutine_handle<> h) noexcept { t->waiter = h; }
        void await_resume() const noexcept {}
    };

    static result<response> failure(const http::request& r, transport_error why, std::string_view detail_text) {
        error e;
        e.source = "http";
        e.code = make_error_code(why);
        e.message = detail::describe_request(r.method, r.url) + ": " + make_error_code(why).message();
        if (!detail_text.empty()) {
            e.message += " (";
            e.message += detail_text;
            e.message += ')';
        }
        return result<response>::failure(std::move(e));
    }

    static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* userp) {
        auto* t = static_cast<detail::transfer*>(userp);
        const std::size_t n = size * count;
        if (t->out.body.size() + n > t->max_body) {
            t->too_large = true;
            return 0; // makes curl fail the transfer with CURLE_WRITE_ERROR
        }
        if (t->out.body.empty()) {
            curl_off_t expected = -1;
            curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &expected);
            if (expected > 0 && static_cast<std::size_t>(expected) <= t->max_body)
                t->out.body.reserve(static_cast<std::size_t>(expected));
        }
        t->out.body.append(data, n);
        return n;
    }

    static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* userp) {
        auto* t = static_cast<detail::transfer*>(userp);
        const std::size_t n = size * count;
        std::string_view line(data, n);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
        if (line.starts_with("HTTP/")) {
            t->out.headers.clear(); // a new response (after 100 Continue or a redirect)
            return n;
        }
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) return n;
        std::string name = sluice::text::to_lower(line.substr(0, colon));
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
        t->out.headers.push_back(http::header{std::move(name), std::string(value)});
        return n;
    }

    static void configure(detail::curl_core& core, detail::transfer& t, const http::request& r) {
        const client_options& o = core.options();
        CURL* e = t.easy;
        curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
        curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.error_text);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &client::on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &client::on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
        const auto timeout = r.timeout.count() > 0 ? r.timeout : o.timeout;
        const auto connect_timeout = r.connect_timeout.count() > 0 ? r.connect_timeout : o.connect_timeout;
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));

        // A reused handle may carry the previous request's method: every branch sets all of it.
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, static_cast<const char*>(nullptr));
        curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
        if (r.method == "GET") {
            curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        } else if (r.method == "HEAD") {
            curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        } else {
            if (!r.body_parts.empty()) {
                set_body_parts(t, r.body_parts);
            } else {
                // POSTFIELDS points at the caller's bytes: libcurl does not copy them.
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data() ? r.body.data() : "");
            }
            if (r.method != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
        }

        t.out.headers.reserve(16);
        set_headers(t, r);
    }

    /// A body in pieces: no POSTFIELDS (libcurl then reads through the callback), the size known.
    static void set_body_parts(detail::transfer& t, std::span<const std::string_view> parts) {
        CURL* e = t.easy;
        t.body.reset(parts);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, static_cast<const char*>(nullptr));
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(detail::body_reader::total(parts)));
        curl_easy_setopt(e, CURLOPT_READFUNCTION, &detail::body_reader::on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, &t.body);
        curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, &detail::body_reader::on_seek);
        curl_easy_setopt(e, CURLOPT_SEEKDATA, &t.body);
    }

    /// Hands r's headers to curl as one list, plus "Expect:" (no 100-continue round trip for large
    /// bodies) and, for a body without a Content-Type, "Content-Type:" (no default form type).
    static void set_headers(detail::transfer& t, const http::request& r) {
        bool has_content_type = false;
        std::size_t text_bytes = sizeof "Expect:" + sizeof "Content-Type:";
        for (const auto& h : r.headers) {
            text_bytes += h.name.size() + h.value.size() + 3; // ": " or ';', and the NUL
            if (sluice::text::iequals(h.name, "content-type")) has_content_type = true;
        }
        const bool blank_type = !has_content_type && r.method != "GET" && r.method != "HEAD";
        std::string& text = t.header_text;
        text.clear();
        text.reserve(text_bytes); // never reallocated below: the nodes point into it
        t.header_nodes.resize(r.headers.size() + (blank_type ? 2 : 1));
        std::size_t n = 0;
        const auto add_line = [&](std::string_view a, std::string_view b, std::string_view c) {
            t.header_nodes[n] = curl_slist{text.data() + text.size(), n + 1 < t.header_nodes.size() ? &t.header_nodes[n + 1] : nullptr};
            ++n;
            text.append(a).append(b).append(c).push_back('\0');
        };
        for (const auto& h : r.headers) {
            if (h.value.empty())
                add_line(h.name, ";", {}); // curl's spelling of "send this header with an empty value"
            else
                add_line(h.name, ": ", h.value);
        }
        add_line("Expect:", {}, {});
        if (blank_type) add_line("Content-Type:", {}, {});
        curl_easy_setopt(t.easy, CURLOPT_HTTPHEADER, t.header_nodes.data());
    }

    static void cleanup(detail::curl_core& core, detail::transfer& t) {
        if (t.easy) {
            core.give_back_easy(t.easy);
            t.easy = nullptr;
        }
    }

    std::shared_ptr<detail::curl_core> core_;
};

} // namespace sluice::http
