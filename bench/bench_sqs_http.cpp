// SQS SendMessageBatch requests per second over HTTP/1.1 keep-alive to a fast loopback server, for
// scripts/bench-http.sh (which starts nginx from bench/http/nginx.conf.in, runs wrk with
// bench/http/post.lua, then this program against the same URL with the same connection count).
// A plain main, not Google Benchmark: each measurement is one timed window of real network traffic.
//
//   bare_libcurl   the floor for any libcurl-based client: one thread, one CURLM driven by
//                  curl_multi_perform + curl_multi_poll, N easy handles (N = --connections) each with one
//                  transfer in flight at all times, re-added as soon as it completes so that it reuses
//                  its kept-alive connection; the request is prepared once (URL, headers, body pointer)
//                  and sent as is: no signing, no encoding. The baseline.
//   bare_libcurl_epoll  the same transfers through libcurl's multi-socket API
//                  (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION + curl_multi_socket_action) on one
//                  epoll set, in one thread: the architecture of sluice's http::client without the
//                  coroutines. curl_multi_perform looks at every transfer on every wake-up, the socket
//                  API only at the ready ones: a stricter floor, printed for information.
//
// Every request carries the 2 KiB body of bench/http/send_message_batch.json (its trailing newline
// stripped) and the headers of a signed SQS request (Content-Type, X-Amz-Target, X-Amz-Date and an
// Authorization with a fixed signature), exactly as bench/http/post.lua makes wrk send them, and no
// "Expect: 100-continue" (curl adds it to POSTs over 1 KiB unless told not to).
//
// More measurements (sluice's own client: http::client + SigV4 + SQS encoding) are functions of type
// measure_fn added to `measurements` below; each prints its requests/s and its ratio to bare_libcurl,
// measured in the same run. Use measure_window so that they count the same way.
//
//   bench_sqs_http --url http://127.0.0.1:PORT/ [--connections 64] [--duration 5] [--warmup 1]
//                  [--body-file bench/http/send_message_batch.json] [--only NAME[,NAME...]]
//
// Each measurement gives requests/s (wall clock) and requests per CPU-second of this process (what one
// whole core would give: steadier on a shared machine, where nginx and other work take CPU too).
// Last lines, one a measurement, for scripts:
//   "result <name> <requests/s> <ratio to bare_libcurl> <requests per CPU-s> <ratio to bare_libcurl>".
// Build it optimised (the release preset): a Debug build measures the Debug build.

#if SLUICE_HAS_CURL

#include <curl/curl.h>

#if SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON
#include <sluice/aws/sqs.hpp>
#include <sluice/core/when_all.hpp>

#include <simdjson.h>
#endif
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
    std::string url;
    int connections = 64;
    double duration_s = 5;
    double warmup_s = 1;
    std::string body;
    std::string body_file;
    std::vector<std::string> only;
};

struct run_result {
    std::uint64_t requests = 0;    // 200 answers completed inside the measured window
    std::uint64_t errors = 0;      // transfers that failed or answered something else, same window
    double seconds = 0;            // length of the measured window
    double cpu_seconds = 0;        // CPU time of the whole process (every thread) in that window
    std::uint64_t connections = 0; // connections opened during the whole run (warm-up included)
    std::string detail;            // anything worth printing
    [[nodiscard]] double per_second() const {
        return seconds > 0 ? static_cast<double>(requests) / seconds : 0;
    }
    // Requests per second of CPU: what one fully available core would give. Steadier than
    // per_second() on a shared machine, where the wall-clock rate depends on what else runs.
    [[nodiscard]] double per_cpu_second() const {
        return cpu_seconds > 0 ? static_cast<double>(requests) / cpu_seconds : 0;
    }
};

double process_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Warm-up, then a measured window: a measurement calls completed() for every finished request and
// stops when finished() says so.
class measure_window {
  public:
    explicit measure_window(const options& o)
        : warmup_end_(clock_type::now() + to_duration(o.warmup_s)), length_(to_duration(o.duration_s)) {}

    void completed(bool ok) {
        if (!measuring_)
            return;
        ok ? ++requests_ : ++errors_;
    }

    // True once the measured window is over; call it often (at least every few milliseconds).
    bool finished() {
        const auto now = clock_type::now();
        if (!measuring_) {
            if (now < warmup_end_)
                return false;
            measuring_ = true;
            start_ = now;
            cpu_start_ = process_cpu_seconds();
            end_ = now + length_;
            return false;
        }
        if (now < end_)
            return false;
        seconds_ = std::chrono::duration<double>(now - start_).count();
        cpu_seconds_ = process_cpu_seconds() - cpu_start_;
        return true;
    }

    void fill(run_result& r) const {
        r.requests = requests_;
        r.errors = errors_;
        r.seconds = seconds_;
        r.cpu_seconds = cpu_seconds_;
    }

  private:
    static clock_type::duration to_duration(double s) {
        return std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(s));
    }
    clock_type::time_point warmup_end_;
    clock_type::duration length_;
    clock_type::time_point start_{}, end_{};
    bool measuring_ = false;
    std::uint64_t requests_ = 0, errors_ = 0;
    double seconds_ = 0;
    double cpu_start_ = 0, cpu_seconds_ = 0;
};

// The headers of a signed SendMessageBatch request (the signature is fixed: nothing checks it).
const char* const request_headers[] = {
    "Content-Type: application/x-amz-json-1.0",
    "X-Amz-Target: AmazonSQS.SendMessageBatch",
    "X-Amz-Date: 20260314T092653Z",
    "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260314/us-east-1/sqs/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
    "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
    "Expect:",
};

std::size_t count_bytes(char*, std::size_t size, std::size_t n, void* user) {
    *static_cast<std::uint64_t*>(user) += size * n;
    return size * n;
}

void check(CURLcode rc, const char* what) {
    if (rc != CURLE_OK)
        throw std::runtime_error(std::string(what) + ": " + curl_easy_strerror(rc));
}
void check(CURLMcode rc, const char* what) {
    if (rc != CURLM_OK)
        throw std::runtime_error(std::string(what) + ": " + curl_multi_strerror(rc));
}

// N easy handles with the request set up once, and what both bare loops share around them.
struct bare_transfers {
    CURLM* multi = nullptr;
    curl_slist* headers = nullptr;
    std::vector<CURL*> easies;
    std::uint64_t response_bytes = 0;
    std::uint64_t failures = 0;
    std::string first_failure;

    explicit bare_transfers(const options& o) {
        multi = curl_multi_init();
        if (multi == nullptr)
            throw std::runtime_error("curl_multi_init failed");
        for (const char* h : request_headers)
            headers = curl_slist_append(headers, h);
        check(curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(o.connections)),
              "CURLMOPT_MAXCONNECTS");
        for (int i = 0; i < o.connections; ++i) {
            CURL* e = curl_easy_init();
            if (e == nullptr)
                throw std::runtime_error("curl_easy_init failed");
            easies.push_back(e);
            check(curl_easy_setopt(e, CURLOPT_URL, o.url.c_str()), "CURLOPT_URL");
            check(curl_easy_setopt(e, CURLOPT_POST, 1L), "CURLOPT_POST");
            check(curl_easy_setopt(e, CURLOPT_POSTFIELDS, o.body.data()), "CURLOPT_POSTFIELDS"); // not copied
            check(curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(o.body.size())),
                  "CURLOPT_POSTFIELDSIZE_LARGE");
            check(curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers), "CURLOPT_HTTPHEADER");
            check(curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1)),
                  "CURLOPT_HTTP_VERSION");
            check(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, count_bytes), "CURLOPT_WRITEFUNCTION");
            check(curl_easy_setopt(e, CURLOPT_WRITEDATA, &response_bytes), "CURLOPT_WRITEDATA");
            check(curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L), "CURLOPT_NOSIGNAL");
            check(curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L), "CURLOPT_TCP_NODELAY");
        }
    }
    ~bare_transfers() {
        for (CURL* e : easies) {
            curl_multi_remove_handle(multi, e); // aborts what is still in flight
            curl_easy_cleanup(e);
        }
        curl_multi_cleanup(multi);
        curl_slist_free_all(headers);
    }
    bare_transfers(const bare_transfers&) = delete;
    bare_transfers& operator=(const bare_transfers&) = delete;

    void start() {
        for (CURL* e : easies)
            check(curl_multi_add_handle(multi, e), "curl_multi_add_handle");
    }

    // Counts the finished transfers and adds each one again: the same request, on its kept-alive connection.
    void reap(measure_window& window, run_result& result) {
        int left = 0;
        while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
            if (m->msg != CURLMSG_DONE)
                continue;
            CURL* e = m->easy_handle;
            long status = 0;
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
            long opened = 0;
            curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &opened);
            result.connections += static_cast<std::uint64_t>(opened);
            const bool ok = m->data.result == CURLE_OK && status == 200;
            if (!ok && failures++ == 0) {
                first_failure = m->data.result != CURLE_OK ? curl_easy_strerror(m->data.result)
                                                           : "HTTP status " + std::to_string(status);
            }
            window.completed(ok);
            check(curl_multi_remove_handle(multi, e), "curl_multi_remove_handle");
            check(curl_multi_add_handle(multi, e), "curl_multi_add_handle");
        }
    }

    void finish(const measure_window& window, run_result& result) const {
        window.fill(result);
        if (!first_failure.empty())
            result.detail = "first failure: " + first_failure;
    }
};

run_result bare_libcurl(const options& o) {
    bare_transfers t(o);
    t.start();
    run_result result;
    measure_window window(o);
    for (;;) {
        int running = 0;
        check(curl_multi_perform(t.multi, &running), "curl_multi_perform");
        t.reap(window, result);
        if (window.finished())
            break;
        check(curl_multi_poll(t.multi, nullptr, 0, 10, nullptr), "curl_multi_poll");
    }
    t.finish(window, result);
    return result;
}

// libcurl's socket and timer callbacks onto one epoll set.
struct epoll_driver {
    CURLM* multi = nullptr;
    int epfd = -1;
    long timeout_ms = -1; // what libcurl last asked for: -1 no timer, 0 at once

    static int on_socket(CURL*, curl_socket_t fd, int what, void* user, void* registered) {
        auto* self = static_cast<epoll_driver*>(user);
        if (what == CURL_POLL_REMOVE) {
            epoll_ctl(self->epfd, EPOLL_CTL_DEL, fd, nullptr);
            curl_multi_assign(self->multi, fd, nullptr);
            return 0;
        }
        epoll_event ev{};
        ev.events =
            ((what & CURL_POLL_IN) != 0 ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) != 0 ? EPOLLOUT : 0u);
        ev.data.fd = fd;
        if (registered != nullptr) {
            epoll_ctl(self->epfd, EPOLL_CTL_MOD, fd, &ev);
        } else {
            epoll_ctl(self->epfd, EPOLL_CTL_ADD, fd, &ev);
            curl_multi_assign(self->multi, fd, self); // any non-null pointer: "in the epoll set"
        }
        return 0;
    }
    static int on_timer(CURLM*, long timeout_ms, void* user) {
        static_cast<epoll_driver*>(user)->timeout_ms = timeout_ms;
        return 0;
    }
};

run_result bare_libcurl_epoll(const options& o) {
    bare_transfers t(o);
    epoll_driver driver;
    driver.multi = t.multi;
    driver.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (driver.epfd < 0)
        throw std::runtime_error("epoll_create1 failed");
    struct closer {
        int fd;
        ~closer() { ::close(fd); }
    } close_epoll{driver.epfd};
    check(curl_multi_setopt(t.multi, CURLMOPT_SOCKETFUNCTION, &epoll_driver::on_socket),
          "CURLMOPT_SOCKETFUNCTION");
    check(curl_multi_setopt(t.multi, CURLMOPT_SOCKETDATA, &driver), "CURLMOPT_SOCKETDATA");
    check(curl_multi_setopt(t.multi, CURLMOPT_TIMERFUNCTION, &epoll_driver::on_timer),
          "CURLMOPT_TIMERFUNCTION");
    check(curl_multi_setopt(t.multi, CURLMOPT_TIMERDATA, &driver), "CURLMOPT_TIMERDATA");
    t.start();

    run_result result;
    measure_window window(o);
    std::vector<epoll_event> events(static_cast<std::size_t>(o.connections) + 16);
    int running = 0;
    for (;;) {
        // Never sleep past 10 ms, so that the window closes on time.
        const long wait = driver.timeout_ms < 0 ? 10 : std::min(driver.timeout_ms, 10L);
        const int n = wait == 0 ? 0
                                : epoll_wait(driver.epfd, events.data(), static_cast<int>(events.size()),
                                             static_cast<int>(wait));
        for (int i = 0; i < n; ++i) {
            const auto& ev = events[static_cast<std::size_t>(i)];
            const int mask = ((ev.events & EPOLLIN) != 0 ? CURL_CSELECT_IN : 0) |
                             ((ev.events & EPOLLOUT) != 0 ? CURL_CSELECT_OUT : 0) |
                             ((ev.events & (EPOLLERR | EPOLLHUP)) != 0 ? CURL_CSELECT_ERR : 0);
            check(curl_multi_socket_action(t.multi, ev.data.fd, mask, &running), "curl_multi_socket_action");
        }
        if (n <= 0 && driver.timeout_ms >= 0) {
            driver.timeout_ms = -1; // the timer fired (or was due at once); libcurl sets the next one
            check(curl_multi_socket_action(t.multi, CURL_SOCKET_TIMEOUT, 0, &running),
                  "curl_multi_socket_action");
        }
        t.reap(window, result); // re-added transfers ask for a timeout of 0: served on the next turn
        if (window.finished())
            break;
    }
    t.finish(window, result);
    return result;
}

#if SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON
// sluice's own path, one thread: http::client on the io_loop (libcurl multi-socket driven by the loop's
// polls), N coroutines each with one request in flight, every request signed with SigV4.
//   sluice_call  service_client::call_json with the same body bytes as the baselines: signing + HTTP
//   sluice_sqs   sqs_sink::send of 10 entries (the body file's messages, encoded once as the dispatcher
//                does): SendMessageBatch encoding + signing + HTTP + response parsing per request
run_result sluice_measure(const options& o, bool full_sqs) {
    namespace aws = sluice::aws;
    sluice::io_loop loop;
    measure_window window(o);
    run_result result;
    bool done = false;
    std::uint64_t failures = 0;
    std::string first_failure;

    // The body file's messages, for the sqs_sink variant.
    std::vector<std::string> entries;
    {
        simdjson::dom::parser parser;
        simdjson::dom::element doc = parser.parse(o.body);
        for (simdjson::dom::element e : doc["Entries"].get_array()) {
            aws::sqs_message m;
            m.body = std::string(std::string_view(e["MessageBody"]));
            std::string fields;
            aws::append_sqs_entry_fields(fields, m);
            entries.push_back(std::move(fields));
        }
    }
    const std::vector<std::string_view> batch(entries.begin(), entries.end());

    auto main = [&]() -> sluice::task<void> {
        sluice::http::client_options http_options;
        http_options.max_requests_per_host = static_cast<std::size_t>(o.connections);
        http_options.version = sluice::http::http_version::http1_1;
        sluice::http::client http(loop, http_options);
        sluice::aws::aws_credentials credentials;
        credentials.access_key_id = "AKIDEXAMPLE";
        credentials.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        aws::service_client_options client_options;
        client_options.service = "sqs";
        client_options.region = "us-east-1";
        client_options.endpoint = o.url;
        client_options.retry.max_attempts = 1;
        aws::service_client client(http, std::make_shared<aws::static_credentials_provider>(credentials),
                                   client_options);
        aws::sqs_sink sink(client, "https://sqs.us-east-1.amazonaws.com/123456789012/sluice-bench");
        auto worker = [&]() -> sluice::task<void> {
            while (!done) {
                bool ok = false;
                std::string why;
                if (full_sqs) {
                    const sluice::batch_result r = co_await sink.send(batch);
                    ok = !r.request && r.entries.empty();
                    if (!ok) why = r.request ? r.request->message : "entries failed";
                } else {
                    const aws::call_outcome out = co_await client.call_json("AmazonSQS.SendMessageBatch", o.body);
                    ok = out.ok() && out.response->status == 200;
                    if (!ok) why = out.ok() ? "HTTP status " + std::to_string(out.response->status) : out.failure.message;
                }
                window.completed(ok);
                if (!ok && failures++ == 0) first_failure = why;
                if (!done && window.finished()) done = true;
            }
        };
        std::vector<sluice::task<void>> workers;
        for (int i = 0; i < o.connections; ++i) workers.push_back(worker());
        co_await sluice::when_all(std::move(workers));
    };
    loop.run_until_complete(main());
    loop.drain();
    window.fill(result);
    if (!first_failure.empty()) result.detail = "first failure: " + first_failure;
    return result;
}

run_result sluice_call(const options& o) { return sluice_measure(o, false); }
run_result sluice_sqs(const options& o) { return sluice_measure(o, true); }
#endif

using measure_fn = run_result (*)(const options&);
struct measurement {
    std::string_view name;
    std::string_view what;
    measure_fn run;
};

// The first entry is the baseline every other one is compared with.
const measurement measurements[] = {
    {"bare_libcurl",
     "one-thread libcurl multi loop (curl_multi_perform + curl_multi_poll), reused easy handles",
     bare_libcurl},
    {"bare_libcurl_epoll", "the same transfers on libcurl's multi-socket API and one epoll set",
     bare_libcurl_epoll},
#if SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON
    {"sluice_call", "sluice http::client on the io_loop + SigV4 signing of every request (same body)", sluice_call},
    {"sluice_sqs", "sluice sqs_sink: SendMessageBatch encoding + SigV4 + http::client + response parsing",
     sluice_sqs},
#endif
};

[[noreturn]] void usage(const char* argv0, const std::string& error = {}) {
    if (!error.empty())
        std::fprintf(stderr, "bench_sqs_http: %s\n", error.c_str());
    std::fprintf(stderr,
                 "usage: %s --url URL [--connections N] [--duration SECONDS] [--warmup SECONDS]\n"
                 "       [--body-file FILE] [--only NAME[,NAME...]]\n"
                 "measurements:",
                 argv0);
    for (const auto& m : measurements)
        std::fprintf(stderr, " %.*s", static_cast<int>(m.name.size()), m.name.data());
    std::fprintf(stderr, "\n");
    std::exit(2);
}

options parse(int argc, char** argv) {
    options o;
    o.body_file =
        (std::filesystem::path(__FILE__).parent_path() / "http" / "send_message_batch.json").string();
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                usage(argv[0], std::string(arg) + " needs a value");
            return argv[++i];
        };
        try {
            if (arg == "--url")
                o.url = value();
            else if (arg == "--connections")
                o.connections = std::stoi(value());
            else if (arg == "--duration")
                o.duration_s = std::stod(value());
            else if (arg == "--warmup")
                o.warmup_s = std::stod(value());
            else if (arg == "--body-file")
                o.body_file = value();
            else if (arg == "--only") {
                std::stringstream names(value());
                for (std::string name; std::getline(names, name, ',');)
                    o.only.push_back(name);
            } else if (arg == "--help" || arg == "-h")
                usage(argv[0]);
            else
                usage(argv[0], "unknown argument " + std::string(arg));
        } catch (const std::logic_error&) {
            usage(argv[0], "bad value for " + std::string(arg));
        }
    }
    if (o.url.empty())
        usage(argv[0], "--url is required");
    if (o.connections < 1 || o.connections > 10000)
        usage(argv[0], "--connections must be 1..10000");
    if (o.duration_s <= 0 || o.warmup_s < 0)
        usage(argv[0], "--duration must be > 0 and --warmup >= 0");
    std::ifstream in(o.body_file, std::ios::binary);
    if (!in)
        usage(argv[0], "cannot read the body file " + o.body_file);
    o.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    while (!o.body.empty() && (o.body.back() == '\n' || o.body.back() == '\r' || o.body.back() == ' '))
        o.body.pop_back();
    for (const auto& name : o.only) {
        if (std::none_of(std::begin(measurements), std::end(measurements),
                         [&](const measurement& m) { return m.name == name; }))
            usage(argv[0], "no measurement named " + name);
    }
    return o;
}

} // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        std::fprintf(stderr, "bench_sqs_http: curl_global_init failed\n");
        return 1;
    }
    std::printf("bench_sqs_http: POST %s, %zu-byte body, %d connections, %.1f s warm-up + %.1f s each (%s)\n",
                o.url.c_str(), o.body.size(), o.connections, o.warmup_s, o.duration_s, curl_version());
#if !defined(__OPTIMIZE__)
    std::printf("  note: built without optimisation (a Debug build?): build the release preset to measure\n");
#endif

    struct line {
        std::string_view name;
        double rate, cpu_rate;
    };
    std::vector<line> lines;
    double baseline = 0, cpu_baseline = 0;
    int status = 0;
    for (const auto& m : measurements) {
        const bool is_baseline = &m == &measurements[0];
        if (!o.only.empty() && std::find(o.only.begin(), o.only.end(), m.name) == o.only.end())
            continue;
        run_result r;
        try {
            r = m.run(o);
        } catch (const std::exception& e) {
            std::printf("  %-18.*s failed: %s\n", static_cast<int>(m.name.size()), m.name.data(), e.what());
            status = 1;
            continue;
        }
        if (is_baseline) {
            baseline = r.per_second();
            cpu_baseline = r.per_cpu_second();
        }
        std::printf(
            "  %-18.*s %8.0f req/s  %8.0f req/CPU-s (%5.1f us CPU/req, %3.0f%% CPU)  %llu in %.2f s, %llu "
            "errors, %llu connections opened\n  %-18s %.*s\n",
            static_cast<int>(m.name.size()), m.name.data(), r.per_second(), r.per_cpu_second(),
            r.requests > 0 ? 1e6 * r.cpu_seconds / static_cast<double>(r.requests) : 0.0,
            r.seconds > 0 ? 100 * r.cpu_seconds / r.seconds : 0.0,
            static_cast<unsigned long long>(r.requests), r.seconds, static_cast<unsigned long long>(r.errors),
            static_cast<unsigned long long>(r.connections), "", static_cast<int>(m.what.size()),
            m.what.data());
        if (!r.detail.empty())
            std::printf("  %-18s %s\n", "", r.detail.c_str());
        if (r.errors > 0 || r.requests == 0)
            status = 1;
        lines.push_back({m.name, r.per_second(), r.per_cpu_second()});
    }
    for (const auto& l : lines) {
        std::printf("result %.*s %.0f %.3f %.0f %.3f\n", static_cast<int>(l.name.size()), l.name.data(),
                    l.rate, baseline > 0 ? l.rate / baseline : 0.0, l.cpu_rate,
                    cpu_baseline > 0 ? l.cpu_rate / cpu_baseline : 0.0);
    }
    curl_global_cleanup();
    return status;
}

#else // !SLUICE_HAS_CURL

#include <cstdio>

int main() {
    std::printf("bench_sqs_http: skipped, sluice was built without libcurl\n");
    return 0;
}

#endif
