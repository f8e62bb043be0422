// The HTTP server under load, for scripts/bench-http-server.sh (which runs wrk against it and
// against nginx answering the same request with a static reply, in the same run). A plain main, not
// Google Benchmark: the load comes from wrk in another process.
//
// Serves POST /minifirehoses/{name}/message on one io_loop thread, built from sluice's pieces: the
// router, the request parser, http::json_body_parser (simdjson) for the body, which must be a JSON
// object with a "message" string; the answer is 202 {"accepted":1} (400 or 415 otherwise).
//
//   bench_http_server [--port 0] [--address 127.0.0.1]
//
// Prints "listening http://ADDRESS:PORT" once it accepts connections, runs until SIGINT or SIGTERM,
// then prints "result requests=N accepted=N refused=N handler_errors=N connections=N" and exits.
// Build it optimised (the release preset).

#if SLUICE_HAS_SIMDJSON

#include <sluice/core/event.hpp>
#include <sluice/http/json_body.hpp>
#include <sluice/http/router.hpp>
#include <sluice/http/server.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

namespace {

int usage(const char* why) {
    std::fprintf(stderr, "bench_http_server: %s\nusage: bench_http_server [--port N] [--address IP]\n", why);
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    sluice::http::server_options options;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (i + 1 >= argc) return usage("every option needs a value");
        if (arg == "--port")
            options.port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
        else if (arg == "--address")
            options.address = argv[++i];
        else
            return usage("unknown option");
    }

    // SIGINT/SIGTERM are taken by a thread of their own (sigwait), which asks the loop to stop.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    sluice::io_loop loop;
    sluice::async_event stop;
    sluice::http::json_body_parser json;
    std::uint64_t accepted = 0;
    sluice::http::router routes;
    routes.post("/minifirehoses/{name}/message", [&](sluice::http::server_request& r) -> sluice::task<sluice::http::server_response> {
        auto body = json.parse(r);
        if (!body) co_return body.refusal();
        std::string_view message;
        if (body.value()["message"].get(message) != simdjson::SUCCESS)
            co_return sluice::http::server_response::error(400, "a message string is required");
        ++accepted;
        co_return sluice::http::server_response::json(202, "{\"accepted\":1}");
    });
    sluice::http::server server(loop, routes.as_handler(), options);

    std::thread waiter([&] {
        int which = 0;
        sigwait(&signals, &which);
        loop.call_soon([&] { stop.set(); });
    });
    auto run = [&]() -> sluice::task<void> {
        server.start();
        std::printf("listening %s\n", server.url().c_str());
        std::fflush(stdout);
        co_await stop.wait();
        co_await server.stop(std::chrono::seconds(2));
    };
    loop.run_until_complete(run());
    loop.drain();
    waiter.join();
    const auto& s = server.stats();
    std::printf("result requests=%llu accepted=%llu refused=%llu handler_errors=%llu connections=%llu\n",
                static_cast<unsigned long long>(s.requests), static_cast<unsigned long long>(accepted),
                static_cast<unsigned long long>(s.refused), static_cast<unsigned long long>(s.handler_errors),
                static_cast<unsigned long long>(s.accepted));
    return 0;
}

#else

#include <cstdio>

int main() {
    std::fprintf(stderr, "bench_http_server needs simdjson (SLUICE_HAS_SIMDJSON)\n");
    return 1;
}

#endif
