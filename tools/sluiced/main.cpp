// sluiced: the sluice service, configured by a TOML file (examples/sluiced.toml documents the format).
//
//   sluiced --config FILE [--state-dir DIR] [--grace SECONDS] [--log-level LEVEL]
//   sluiced validate FILE
//
// It runs the file's pipelines (sources -> collector queues -> sinks) and, on each HTTP source, the
// MiniFirehose API, /metrics and /status.json. SIGTERM or SIGINT drains within the grace period and
// exits; a second one exits at once. With only finite sources (stdin), it drains and exits when they end.
// SIGHUP reads the file again and restarts only what changed; the rest keeps running.

#include <malloc.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <sluice/config/summary.hpp>
#include <sluice/config/toml_config.hpp>

#include "api.hpp"
#include "service.hpp"

namespace {

constexpr std::string_view help_text =
    "usage: sluiced --config FILE [--state-dir DIR] [--grace SECONDS] [--log-level LEVEL]\n"
    "       sluiced validate FILE\n"
    "       sluiced --help\n"
    "\n"
    "sluiced runs sluice pipelines (sources -> collector queues -> sinks) described by a TOML file;\n"
    "see examples/sluiced.toml for every option.\n"
    "\n"
    "commands and options:\n"
    "  --config FILE     run the pipelines of FILE (checked first: nothing starts on an invalid file)\n"
    "  --state-dir DIR   journals, upload states and firehoses created over the API (default ./sluiced-state)\n"
    "  --grace SECONDS   how long a stop (SIGTERM, SIGINT) lets queues and sinks deliver (default 30)\n"
    "  --log-level L     debug, info, warn or error (default info)\n"
    "  validate FILE     check FILE: print every error as 'file:line:column: message' and exit 1,\n"
    "                    or print what it defines (names and types, never secrets) and exit 0\n"
    "  --help, -h        print this help\n"
    "\n"
    "String values may use ${NAME} to read an environment variable (for secrets); such values are\n"
    "never printed.\n";

int usage_error(std::string_view why) {
    std::fprintf(stderr, "sluiced: %.*s\n%.*s", static_cast<int>(why.size()), why.data(),
                 static_cast<int>(help_text.size()), help_text.data());
    return 2;
}

int print_errors(const char* file, const sluice::config::config_result& result, std::FILE* out) {
    for (const auto& e : result.errors) std::fprintf(out, "%s\n", e.to_string().c_str());
    std::fprintf(out, "%s: %zu error%s\n", file, result.errors.size(), result.errors.size() == 1 ? "" : "s");
    return 1;
}

int validate(const char* file) {
    const auto result = sluice::config::load_config(file);
    if (!result.ok()) return print_errors(file, result, stdout);
    const std::string summary = sluice::config::describe(*result.config);
    std::printf("%s: valid\n%s", file, summary.c_str());
    return 0;
}

struct run_arguments {
    const char* config = nullptr;
    sluiced::service_options service{};
    sluice::log_level level = sluice::log_level::info;
};

/// Waits for SIGTERM, SIGINT and SIGHUP on a signalfd through the loop.
/// SIGHUP: reads the file again and applies it (an invalid file changes nothing; its errors are logged).
sluice::task<void> reload(sluiced::service& svc, const char* file) {
    auto loaded = sluice::config::load_config(file);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) svc.log().error("sluiced", "reload: " + e.to_string());
        svc.log().error("sluiced", "SIGHUP: " + std::string(file) + " is invalid; nothing changed");
        co_return;
    }
    std::string failure;
    try {
        co_await svc.reload(std::move(*loaded.config));
    } catch (const std::exception& e) {
        failure = e.what();
    }
    if (!failure.empty()) svc.log().error("sluiced", "SIGHUP: reload failed: " + failure);
}

sluice::task<void> watch_signals(sluice::io_loop& loop, int fd, sluiced::service& svc, const char* file, std::stop_token stop) {
    int stops = 0;
    for (;;) {
        try {
            (void)co_await loop.poll(fd, sluice::poll_events::in, stop);
        } catch (const sluice::operation_cancelled&) {
            co_return;
        }
        signalfd_siginfo si{};
        while (::read(fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
            if (si.ssi_signo == SIGHUP) {
                if (stops == 0) {
                    svc.log().info("sluiced", "SIGHUP: reloading " + std::string(file));
                    co_await reload(svc, file);
                }
                continue;
            }
            if (++stops > 1) {
                svc.log().error("sluiced", "second stop signal: exiting without draining");
                std::_Exit(130);
            }
            svc.log().info("sluiced", std::string("received ") + ::strsignal(static_cast<int>(si.ssi_signo)) + ": draining");
            svc.request_stop();
        }
    }
}

int run(const run_arguments& args) {
    const auto loaded = sluice::config::load_config(args.config);
    if (!loaded.ok()) return print_errors(args.config, loaded, stderr);

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    ::pthread_sigmask(SIG_BLOCK, &signals, nullptr); // before any thread: every thread inherits it
    const int sfd = ::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        std::perror("sluiced: signalfd");
        return 1;
    }

    sluice::logger log(sluice::log_options{.level = args.level});
    sluice::io_loop loop;
    const auto grace = args.service.grace;
    sluiced::service* self = nullptr;
    auto mount = [&self, grace](sluice::http::router& routes, const sluice::config::source_config& source) {
        sluiced::add_api_routes(routes, *self, source, grace);
    };
    sluiced::service svc(loop, *loaded.config, args.service, log, mount);
    self = &svc;
    int exit_code = 0;
    auto main_task = [&]() -> sluice::task<void> {
        sluice::async_scope watchers;
        watchers.spawn(watch_signals(loop, sfd, svc, args.config, watchers.get_token()));
        std::string failure;
        try {
            co_await svc.start();
        } catch (const std::exception& e) {
            failure = e.what();
        }
        if (failure.empty()) {
            log.info("sluiced", "running " + std::string(args.config));
            co_await svc.wait();
        } else {
            log.error("sluiced", "cannot start: " + failure);
            exit_code = 1;
        }
        co_await svc.stop();
        watchers.request_stop();
        co_await watchers.join();
    };
    try {
        loop.run_until_complete(main_task());
        loop.drain();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sluiced: %s\n", e.what());
        exit_code = 1;
    }
    ::close(sfd);
    return exit_code;
}

bool parse_level(std::string_view s, sluice::log_level& out) {
    using sluice::log_level;
    if (s == "debug") out = log_level::debug;
    else if (s == "info") out = log_level::info;
    else if (s == "warn") out = log_level::warn;
    else if (s == "error") out = log_level::error;
    else return false;
    return true;
}

/// Keeps glibc from giving the top of the heap back to the kernel after every burst. A sender's heap
/// shrinks and regrows around each batch of requests (response bodies, libcurl's per-transfer upload
/// buffer), and each shrink is a brk() with TLB flushes and each regrowth page faults: 17 % of the CPU
/// per record on the Kinesis path over HTTP (0.87-0.90 -> 0.73-0.75 us, bench/README.md). The heap keeps
/// up to 8 MiB free at its top instead of 128 KiB. A GLIBC_TUNABLES or MALLOC_TRIM_THRESHOLD_ setting
/// in the environment wins.
void keep_heap_top() {
#ifdef M_TRIM_THRESHOLD
    if (std::getenv("GLIBC_TUNABLES") == nullptr && std::getenv("MALLOC_TRIM_THRESHOLD_") == nullptr)
        mallopt(M_TRIM_THRESHOLD, 8 << 20);
#endif
}

} // namespace

int main(int argc, char** argv) {
    const std::string_view command = argc > 1 ? std::string_view(argv[1]) : std::string_view();
    if (argc == 2 && (command == "--help" || command == "-h")) {
        std::fwrite(help_text.data(), 1, help_text.size(), stdout);
        return 0;
    }
    if (command == "validate") {
        if (argc != 3) return usage_error("validate takes exactly one FILE");
        return validate(argv[2]);
    }
    if (argc < 2) return usage_error("no command given");
    run_arguments args;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        if (i + 1 >= argc) return usage_error("'" + std::string(flag) + "' needs a value, or is unknown");
        const char* value = argv[++i];
        if (flag == "--config") args.config = value;
        else if (flag == "--state-dir") args.service.state_directory = value;
        else if (flag == "--grace") {
            double seconds = -1;
            const std::string_view v = value;
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
            if (ec != std::errc{} || end != v.data() + v.size() || seconds < 0) return usage_error("--grace needs seconds (a number)");
            args.service.grace = std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
        } else if (flag == "--log-level") {
            if (!parse_level(value, args.level)) return usage_error("--log-level must be debug, info, warn or error");
        } else
            return usage_error("unknown option '" + std::string(flag) + "'");
    }
    if (!args.config) return usage_error("--config FILE is required");
    keep_heap_top();
    return run(args);
}
