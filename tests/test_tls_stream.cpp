// tls_stream against Debian's `openssl s_server`, with a throwaway CA and certificates the test makes
// with the openssl command: a trusted chain verifies (by file and by hashed directory, by DNS name
// and by IP address), SNI picks the server's certificate, an untrusted chain, a wrong name and a
// wrong IP are refused with the verification failure and the address in the error, the explicit
// opt-outs connect, client certificates, megabytes both ways with one reader and one writer at once,
// close_notify sent on close and received from the server, a truncated connection, a server that
// does not speak TLS, a handshake that times out. The binary runs once per io backend.

#include <doctest/doctest.h>

#if SLUICE_HAS_OPENSSL

#include "support/http_server.hpp"

#include <sluice/core/async_scope.hpp>
#include <sluice/io/tls_stream.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_tls_stream {


using namespace sluice;
using namespace std::chrono_literals;

namespace {

/// Runs a command line through sh; fails the test when it exits non-zero.
void shell(const std::string& command) {
    const int rc = std::system((command + " >/dev/null 2>&1").c_str());
    REQUIRE_MESSAGE(rc == 0, command << " failed (is Debian's openssl installed? scripts/install-deps.sh)");
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// A throwaway PKI in a temporary directory, made once per run: a CA, a second CA nobody trusts,
/// a server certificate for localhost and 127.0.0.1, one for default.test (the SNI test's default),
/// a client certificate, and the CA in a hashed directory.
struct pki {
    std::string dir;
    std::string path(const std::string& name) const { return dir + "/" + name; }

    static const pki& get() {
        static const pki p = make();
        static const remover r{p.dir};
        return p;
    }

private:
    struct remover {
        std::string dir;
        ~remover() {
            std::error_code ignored;
            std::filesystem::remove_all(dir, ignored);
        }
    };

    static pki make() {
        char tmpl[] = "/tmp/sluice-tls-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        pki p;
        p.dir = tmpl;
        const std::string d = p.dir;
        const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
        shell("openssl req -x509 " + key + " -days 2 -subj '/CN=sluice test CA' -keyout " + d + "/ca.key -out " + d + "/ca.pem");
        shell("openssl req -x509 " + key + " -days 2 -subj '/CN=nobody trusts me' -keyout " + d + "/other-ca.key -out " + d + "/other-ca.pem");
        auto leaf = [&](const std::string& name, const std::string& cn, const std::string& ext) {
            std::ofstream(d + "/" + name + ".ext") << ext << "\nbasicConstraints=CA:FALSE\n";
            shell("openssl req " + key + " -subj '/CN=" + cn + "' -keyout " + d + "/" + name + ".key -out " + d + "/" + name + ".csr");
            shell("openssl x509 -req -in " + d + "/" + name + ".csr -CA " + d + "/ca.pem -CAkey " + d + "/ca.key -CAcreateserial -days 2 -extfile " +
                  d + "/" + name + ".ext -out " + d + "/" + name + ".pem");
        };
        leaf("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth");
        leaf("default", "default.test", "subjectAltName=DNS:default.test\nextendedKeyUsage=serverAuth");
        leaf("client", "sluice client", "extendedKeyUsage=clientAuth");
        shell("mkdir -p " + d + "/cadir && cp " + d + "/ca.pem " + d + "/cadir/ && openssl rehash " + d + "/cadir");
        return p;
    }
};

/// `openssl s_server` on 127.0.0.1 for one connection (-naccept 1), its output in files.
class s_server {
public:
    explicit s_server(const std::vector<std::string>& extra) : port_(sluice_test::unused_port()) {
        static int n = 0;
        out_ = pki::get().path("s_server-" + std::to_string(::getpid()) + "-" + std::to_string(++n) + ".out");
        std::vector<std::string> args{"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port_), "-naccept", "1"};
        args.insert(args.end(), extra.begin(), extra.end());
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        const int rc = posix_spawnp(&pid_, "openssl", &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        REQUIRE_MESSAGE(rc == 0, "cannot start openssl s_server");
        for (int i = 0; i < 200 && slurp(out_).find("ACCEPT") == std::string::npos; ++i) std::this_thread::sleep_for(25ms);
        REQUIRE_MESSAGE(slurp(out_).find("ACCEPT") != std::string::npos, "s_server did not start: " << slurp(out_));
    }
    s_server(const s_server&) = delete;
    s_server& operator=(const s_server&) = delete;
    ~s_server() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

    /// Kills the server outright: the kernel closes its socket, no close_notify is sent.
    void kill_now() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

    /// Waits (up to 10 s) for the server to finish its one connection; returns everything it printed.
    std::string finish() {
        for (int i = 0; i < 400 && pid_ > 0; ++i) {
            if (::waitpid(pid_, nullptr, WNOHANG) == pid_) pid_ = -1;
            else std::this_thread::sleep_for(25ms);
        }
        return slurp(out_);
    }

private:
    std::uint16_t port_;
    pid_t pid_ = -1;
    std::string out_;
};

/// s_server arguments serving `cert`. Its interactive mode would end the connection at once (stdin is
/// /dev/null), so it echoes lines reversed (-rev) unless `more` asks for pages (-www).
std::vector<std::string> serve(const std::string& cert, std::vector<std::string> more = {}) {
    const auto& p = pki::get();
    std::vector<std::string> a{"-cert", p.path(cert + ".pem"), "-key", p.path(cert + ".key")};
    if (std::find(more.begin(), more.end(), "-www") == more.end() && std::find(more.begin(), more.end(), "-rev") == more.end())
        a.push_back("-rev");
    a.insert(a.end(), more.begin(), more.end());
    return a;
}

std::shared_ptr<const tls_context> context(tls_options o) { return std::make_shared<const tls_context>(std::move(o)); }

std::shared_ptr<const tls_context> trusting_ca() {
    tls_options o;
    o.ca_file = pki::get().path("ca.pem");
    return context(o);
}

/// Reads until `lines` newline-terminated lines have arrived (or the end of the stream).
task<std::string> read_lines(tls_stream& s, std::size_t lines) {
    std::string got;
    char buf[8192];
    std::size_t seen = 0;
    while (seen < lines) {
        const std::size_t n = co_await s.read_some(std::span<char>(buf));
        if (n == 0) break;
        for (std::size_t i = 0; i < n; ++i) seen += buf[i] == '\n' ? 1 : 0;
        got.append(buf, n);
    }
    co_return got;
}

/// Connects and expects a tls_error; returns it.
tls_error refused(io_loop& loop, std::shared_ptr<const tls_context> ctx, std::uint16_t port, std::string name) {
    auto attempt = [&]() -> task<void> {
        tls_connect_options o;
        o.server_name = name;
        auto s = co_await tls_stream::connect(loop, ctx, "127.0.0.1", port, o);
    };
    try {
        loop.run_until_complete(attempt());
    } catch (const tls_error& e) {
        return e;
    }
    FAIL("the connection was not refused");
    return tls_error(tls_errc::protocol, "unreachable");
}

} // namespace

TEST_CASE("tls: a trusted chain verifies by DNS name; SNI is sent; data both ways; close_notify on close") {
    // The default certificate names default.test; only a client that sends SNI "localhost" gets the
    // localhost one, so verifying "localhost" succeeds only when SNI went out.
    s_server server(serve("default", {"-servername", "localhost", "-cert2", pki::get().path("server.pem"), "-key2",
                                      pki::get().path("server.key"), "-rev", "-msg"}));
    io_loop loop;
    auto reply = loop.run_until_complete([&]() -> task<std::string> {
        tls_connect_options o;
        o.server_name = "localhost";
        auto s = co_await tls_stream::connect(loop, trusting_ca(), "127.0.0.1", server.port(), o);
        CHECK(s.protocol() == "TLSv1.3");
        CHECK(!s.cipher().empty());
        CHECK(s.server_name() == "localhost");
        co_await s.write_all(std::string_view("hello over tls\n"));
        std::string got = co_await read_lines(s, 1);
        s.close(); // sends close_notify
        co_return got;
    }());
    CHECK(reply == "slt revo olleh\n");
    const std::string log = server.finish();
    CHECK(log.find("<<< TLS 1.3, Alert [length 0002], warning close_notify") != std::string::npos);
    CHECK(log.find("CONNECTION CLOSED") != std::string::npos);
}

TEST_CASE("tls: an IP literal is verified against the certificate's IP addresses, never sent as SNI") {
    s_server server(serve("server", {"-rev"}));
    io_loop loop;
    auto reply = loop.run_until_complete([&]() -> task<std::string> {
        auto s = co_await tls_stream::connect(loop, trusting_ca(), "127.0.0.1", server.port());
        CHECK(s.server_name() == "127.0.0.1");
        co_await s.write_all(std::string_view("ip\n"));
        std::string got = co_await read_lines(s, 1);
        co_await s.shutdown();
        co_return got;
    }());
    CHECK(reply == "pi\n");
    CHECK(server.finish().find("CONNECTION CLOSED") != std::string::npos);
}

TEST_CASE("tls: the CA from a hashed directory verifies too") {
    s_server server(serve("server", {"-rev"}));
    io_loop loop;
    tls_options o;
    o.ca_dir = pki::get().path("cadir");
    auto reply = loop.run_until_complete([&]() -> task<std::string> {
        tls_connect_options c;
        c.server_name = "localhost";
        auto s = co_await tls_stream::connect(loop, context(o), "127.0.0.1", server.port(), c);
        co_await s.write_all(std::string_view("dir\n"));
        co_return co_await read_lines(s, 1);
    }());
    CHECK(reply == "rid\n");
}

TEST_CASE("tls: an untrusted chain is refused, naming the address, the name and why") {
    io_loop loop;
    tls_options other;
    other.ca_file = pki::get().path("other-ca.pem");
    {
        s_server server(serve("server"));
        const auto e = refused(loop, context(other), server.port(), "localhost");
        INFO("what: " << std::string(e.what()));
        CHECK(e.code() == tls_errc::verification_failed);
        CHECK(e.verify_result() == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
        const std::string what = e.what();
        CHECK(what.find("127.0.0.1:" + std::to_string(server.port())) != std::string::npos);
        CHECK(what.find("(localhost)") != std::string::npos);
        CHECK(what.find("unable to get local issuer certificate") != std::string::npos);
    }
    {
        s_server server(serve("server")); // the system's CAs do not know the test CA either
        const auto e = refused(loop, context({}), server.port(), "localhost");
        CHECK(e.code() == tls_errc::verification_failed);
    }
}

TEST_CASE("tls: a wrong host name or IP address is refused") {
    io_loop loop;
    {
        s_server server(serve("server"));
        const auto e = refused(loop, trusting_ca(), server.port(), "wrong.example");
        CHECK(e.code() == tls_errc::verification_failed);
        CHECK(e.verify_result() == X509_V_ERR_HOSTNAME_MISMATCH);
        CHECK(std::string(e.what()).find("hostname mismatch") != std::string::npos);
        CHECK(std::string(e.what()).find("(wrong.example)") != std::string::npos);
    }
    {
        s_server server(serve("server"));
        const auto e = refused(loop, trusting_ca(), server.port(), "127.0.0.2");
        CHECK(e.verify_result() == X509_V_ERR_IP_ADDRESS_MISMATCH);
    }
    {
        s_server server(serve("server")); // *.localhost would not match either: no partial wildcards
        const auto e = refused(loop, trusting_ca(), server.port(), "sub.localhost");
        CHECK(e.verify_result() == X509_V_ERR_HOSTNAME_MISMATCH);
    }
}

TEST_CASE("tls: verification is off only when asked: an untrusted chain with insecure_skip_verify, a wrong name with insecure_skip_hostname_check") {
    io_loop loop;
    auto talk = [&](std::shared_ptr<const tls_context> ctx, std::uint16_t port, std::string name) -> task<std::string> {
        tls_connect_options o;
        o.server_name = name;
        auto s = co_await tls_stream::connect(loop, ctx, "127.0.0.1", port, o);
        co_await s.write_all(std::string_view("abc\n"));
        co_return co_await read_lines(s, 1);
    };
    {
        s_server server(serve("server", {"-rev"}));
        tls_options o;
        o.ca_file = pki::get().path("other-ca.pem");
        o.insecure_skip_verify = true;
        CHECK(loop.run_until_complete(talk(context(o), server.port(), "wrong.example")) == "cba\n");
    }
    {
        s_server server(serve("server", {"-rev"}));
        tls_options o;
        o.ca_file = pki::get().path("ca.pem");
        o.insecure_skip_hostname_check = true;
        CHECK(loop.run_until_complete(talk(context(o), server.port(), "wrong.example")) == "cba\n");
    }
    CHECK(!tls_options{}.insecure_skip_verify);
    CHECK(!tls_options{}.insecure_skip_hostname_check);
}

TEST_CASE("tls: a client certificate when the server asks for one; without it the server refuses") {
    const auto& p = pki::get();
    io_loop loop;
    auto talk = [&](std::shared_ptr<const tls_context> ctx, std::uint16_t port) -> task<std::string> {
        tls_connect_options o;
        o.server_name = "localhost";
        auto s = co_await tls_stream::connect(loop, ctx, "127.0.0.1", port, o);
        co_await s.write_all(std::string_view("me\n"));
        co_return co_await read_lines(s, 1);
    };
    const std::vector<std::string> verify{"-rev", "-Verify", "1", "-verify_return_error", "-CAfile", p.path("ca.pem")};
    {
        s_server server(serve("server", verify));
        tls_options o;
        o.ca_file = p.path("ca.pem");
        o.cert_file = p.path("client.pem");
        o.key_file = p.path("client.key");
        CHECK(loop.run_until_complete(talk(context(o), server.port())) == "em\n");
    }
    {
        // TLS 1.3: the client's handshake ends before the server checks; its refusal arrives as an alert.
        s_server server(serve("server", verify));
        try {
            (void)loop.run_until_complete(talk(trusting_ca(), server.port()));
            FAIL("the server accepted a client without a certificate");
        } catch (const tls_error& e) {
            CHECK(std::string(e.what()).find("certificate required") != std::string::npos);
        }
    }
    tls_options half;
    half.cert_file = p.path("client.pem");
    CHECK_THROWS_AS(tls_context{half}, tls_error);
    tls_options wrong_key;
    wrong_key.cert_file = p.path("client.pem");
    wrong_key.key_file = p.path("server.key");
    try {
        tls_context c(wrong_key);
        FAIL("a key that does not match the certificate was accepted");
    } catch (const tls_error& e) {
        CHECK(e.code() == tls_errc::configuration);
        CHECK(std::string(e.what()).find(p.path("server.key")) != std::string::npos);
    }
    tls_options missing;
    missing.ca_file = p.path("no-such-ca.pem");
    CHECK_THROWS_AS(tls_context{missing}, tls_error);
}

TEST_CASE("tls: megabytes both ways, one reader and one writer at once, plain and gathered writes") {
    s_server server(serve("server", {"-rev"}));
    std::mt19937 rng(7);
    std::vector<std::string> lines;
    std::size_t total = 0;
    while (total < (3u << 20)) {
        std::string l(1 + rng() % 12000, '\0');
        for (auto& c : l) c = static_cast<char>('!' + rng() % 90);
        total += l.size() + 1;
        lines.push_back(std::move(l));
    }
    std::string first_half, expected;
    std::vector<std::string> second_half;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        std::string reversed(lines[i].rbegin(), lines[i].rend());
        expected += reversed + "\n";
        if (i < lines.size() / 2) first_half += lines[i] + "\n";
        else second_half.push_back(lines[i] + "\n");
    }
    io_loop loop;
    std::string got;
    loop.run_until_complete([&]() -> task<void> {
        tls_connect_options o;
        o.server_name = "localhost";
        auto s = co_await tls_stream::connect(loop, trusting_ca(), "127.0.0.1", server.port(), o);
        auto reader = [&]() -> task<void> { got = co_await read_lines(s, lines.size()); };
        async_scope scope;
        scope.spawn(reader());
        co_await s.write_all(std::string_view(first_half));
        std::vector<std::string_view> pieces(second_half.begin(), second_half.end());
        co_await s.write_all(std::span<const std::string_view>(pieces));
        co_await scope.join();
        co_await s.shutdown();
    }());
    CHECK(got.size() == expected.size());
    CHECK(got == expected);
}

TEST_CASE("tls: the server's close_notify ends the stream; a close without it is reported as truncation") {
    io_loop loop;
    {
        s_server server(serve("server", {"-www"})); // answers, then sends close_notify
        auto page = loop.run_until_complete([&]() -> task<std::string> {
            tls_connect_options o;
            o.server_name = "localhost";
            auto s = co_await tls_stream::connect(loop, trusting_ca(), "127.0.0.1", server.port(), o);
            co_await s.write_all(std::string_view("GET / HTTP/1.0\r\n\r\n"));
            std::string all;
            char buf[4096];
            for (;;) {
                const std::size_t n = co_await s.read_some(std::span<char>(buf));
                if (n == 0) break;
                all.append(buf, n);
            }
            co_return all;
        }());
        CHECK(page.rfind("HTTP/1.0 200 ok", 0) == 0);
    }
    {
        s_server server(serve("server", {"-rev"}));
        try {
            loop.run_until_complete([&]() -> task<void> {
                tls_connect_options o;
                o.server_name = "localhost";
                auto s = co_await tls_stream::connect(loop, trusting_ca(), "127.0.0.1", server.port(), o);
                co_await s.write_all(std::string_view("abc\n"));
                const std::string echoed = co_await read_lines(s, 1);
                CHECK(echoed == "cba\n");
                server.kill_now(); // the TCP connection ends without close_notify
                char buf[64];
                (void)co_await s.read_some(std::span<char>(buf));
            }());
            FAIL("the truncated stream read as a clean end");
        } catch (const tls_error& e) {
            CHECK(e.code() == tls_errc::truncated);
            CHECK(std::string(e.what()).find("127.0.0.1:" + std::to_string(server.port())) != std::string::npos);
        }
    }
}

TEST_CASE("tls: a server that does not speak TLS, a handshake that never completes, a cancelled one") {
    io_loop loop;
    tcp_listener listener(loop);
    auto plain = [&]() -> task<void> {
        auto c = co_await listener.accept();
        char buf[512];
        (void)co_await c.read_some(std::span<char>(buf));
        co_await c.write_all(std::string_view("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
        co_await loop.sleep_for(100ms);
    };
    try {
        loop.run_until_complete([&]() -> task<void> {
            async_scope scope;
            scope.spawn(plain());
            std::exception_ptr failed;
            try {
                tls_connect_options o;
                o.server_name = "localhost";
                auto s = co_await tls_stream::connect(loop, trusting_ca(), "127.0.0.1", listener.port(), o);
            } catch (...) {
                failed = std::current_exception();
            }
            co_await scope.join();
            if (failed) std::rethrow_exception(failed);
        }());
        FAIL("a plaintext server passed the handshake");
    } catch (const tls_error& e) {
        CHECK(e.code() == tls_errc::handshake_failed);
        CHECK(std::string(e.what()).find("127.0.0.1:" + std::to_string(listener.port())) != std::string::npos);
    }

    // Accepted by the kernel's backlog, never answered: the timeout ends the handshake.
    tcp_listener silent(loop);
    try {
        loop.run_until_complete([&]() -> task<void> {
            tls_connect_options o;
            o.server_name = "localhost";
            o.timeout = 200ms;
            auto s = co_await tls_stream::connect(loop, trusting_ca(), "127.0.0.1", silent.port(), o);
        }());
        FAIL("the handshake did not time out");
    } catch (const tls_error& e) {
        CHECK(e.code() == tls_errc::handshake_failed);
        CHECK(std::string(e.what()).find("timed out after") != std::string::npos);
    }
    std::stop_source stop;
    CHECK_THROWS_AS(loop.run_until_complete([&]() -> task<void> {
                        auto stopper = [&]() -> task<void> {
                            co_await loop.sleep_for(50ms);
                            stop.request_stop();
                        };
                        async_scope scope;
                        scope.spawn(stopper());
                        std::exception_ptr failed;
                        try {
                            auto s = co_await tls_stream::connect(loop, trusting_ca(), "127.0.0.1", silent.port(), stop.get_token());
                        } catch (...) {
                            failed = std::current_exception();
                        }
                        co_await scope.join();
                        if (failed) std::rethrow_exception(failed);
                    }()),
                    operation_cancelled);
}

} // namespace test_tls_stream

#endif
