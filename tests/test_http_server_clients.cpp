// http::server against real clients in other processes: the curl command (keep-alive, 100-continue,
// chunked upload, server-sent events, refusals) and Node's http module (tests/node/http_client.js:
// concurrent keep-alive POSTs, chunked upload, 100-continue, events, refusals). The server runs on a
// loop in its own thread and counts every message it accepted by id.

#include <doctest/doctest.h>

#if SLUICE_HAS_SIMDJSON

#include <sluice/core/event.hpp>
#include <sluice/http/json_body.hpp>
#include <sluice/http/router.hpp>
#include <sluice/http/server.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_http_server_clients {

using namespace sluice;
using namespace std::chrono_literals;

namespace {

/// An http::server on its own loop and thread for the life of the object.
class background_server {
public:
    background_server() : thread_([this] { run(); }) { port_ = ready_.get_future().get(); }
    ~background_server() {
        loop_ready_.get_future().wait();
        loop_->call_soon([this] { stop_.set(); });
        posted_.set_value(); // the loop may be destroyed once call_soon has returned
        thread_.join();
    }
    background_server(const background_server&) = delete;
    background_server& operator=(const background_server&) = delete;

    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    /// Ids of the messages the server accepted, per firehose name.
    [[nodiscard]] std::set<long> accepted(const std::string& name) const {
        std::lock_guard lock(mutex_);
        std::set<long> out;
        for (const auto& [n, id] : accepted_)
            if (n == name) out.insert(id);
        return out;
    }
    [[nodiscard]] std::size_t accepted_count() const {
        std::lock_guard lock(mutex_);
        return accepted_.size();
    }

private:
    void run() {
        io_loop loop;
        loop_ = &loop;
        loop_ready_.set_value();
        http::json_body_parser json;
        http::router routes;
        routes.post("/minifirehoses/{name}/message", [&](http::server_request& r) -> task<http::server_response> {
            auto body = json.parse(r);
            if (!body) co_return body.refusal();
            std::int64_t id = 0;
            if (body.value()["id"].get(id) != simdjson::SUCCESS) co_return http::server_response::error(422, "no id");
            {
                std::lock_guard lock(mutex_);
                accepted_.emplace(std::string(r.param("name")), id);
            }
            std::string answer = "{\"accepted\":1,\"name\":\"" + std::string(r.param("name")) + "\",\"id\":" + std::to_string(id) + "}";
            co_return http::server_response::json(202, std::move(answer));
        });
        routes.post("/echo", [](http::server_request& r) -> task<http::server_response> {
            co_return http::server_response::text(200, r.body);
        });
        routes.get("/events", [](http::server_request&) -> task<http::server_response> {
            co_return http::server_response::event_stream([](http::response_stream& out) -> task<void> {
                for (int i = 0; i < 3; ++i) {
                    const std::string n = std::to_string(i);
                    co_await out.send_event(n, "tick", n);
                    co_await out.loop().sleep_for(2ms, out.stop_token());
                }
            });
        });
        http::server server(loop, routes.as_handler());
        auto main = [&]() -> task<void> {
            server.start();
            ready_.set_value(server.port());
            co_await stop_.wait();
            co_await server.stop(1s);
        };
        loop.run_until_complete(main());
        loop.drain();
        posted_.get_future().wait();
    }

    std::promise<std::uint16_t> ready_;
    std::promise<void> loop_ready_;
    std::promise<void> posted_;
    io_loop* loop_ = nullptr;
    async_event stop_;
    mutable std::mutex mutex_;
    std::set<std::pair<std::string, long>> accepted_;
    std::uint16_t port_ = 0;
    std::thread thread_; // last: starts once everything above exists
};

struct command_result {
    int status = -1;
    std::string output; ///< stdout and stderr
};

command_result run_command(const std::string& command) {
    command_result r;
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
    const int raw = ::pclose(p);
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return r;
}

bool on_path(const char* tool) { return run_command(std::string("command -v ") + tool + " >/dev/null").status == 0; }

std::string temp_file(const std::string& content) {
    char name[] = "/tmp/sluice-http-client-XXXXXX";
    const int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    ::close(fd);
    std::ofstream(name, std::ios::binary) << content;
    return name;
}

} // namespace

TEST_SUITE("http server clients") {

TEST_CASE("the curl command: JSON POST, keep-alive, 100-continue, chunked upload, events, refusals") {
    REQUIRE_MESSAGE(on_path("curl"), "curl is not installed (bash scripts/install-deps.sh)");
    background_server server;
    const std::string url = server.url();
    const std::string curl = "curl -sS --max-time 20 ";

    command_result r = run_command(curl + "-i -H 'Content-Type: application/json' --data-binary '{\"id\":7}' " + url +
                                   "/minifirehoses/orders/message");
    CHECK(r.status == 0);
    CHECK(r.output.rfind("HTTP/1.1 202 Accepted\r\n", 0) == 0);
    CHECK(r.output.find("\r\n\r\n{\"accepted\":1,\"name\":\"orders\",\"id\":7}") != std::string::npos);

    // Two transfers in one command share the connection: the second makes no new connect.
    r = run_command(curl + "-o /dev/null -w '%{http_code} %{num_connects}\\n' -H 'Content-Type: application/json' "
                           "--data-binary '{\"id\":8}' " + url + "/minifirehoses/orders/message --next -o /dev/null "
                           "-w '%{http_code} %{num_connects}\\n' -H 'Content-Type: application/json' --data-binary '{\"id\":9}' " +
                    url + "/minifirehoses/orders/message");
    CHECK(r.status == 0);
    CHECK(r.output == "202 1\n202 0\n");

    const std::string big = "{\"id\":10,\"pad\":\"" + std::string(200000, 'p') + "\"}";
    const std::string big_file = temp_file(big);
    r = run_command(curl + "-v -H 'Expect: 100-continue' -H 'Content-Type: application/json' --data-binary @" + big_file +
                    " " + url + "/minifirehoses/orders/message");
    CHECK(r.status == 0);
    CHECK(r.output.find("< HTTP/1.1 100 Continue") != std::string::npos);
    CHECK(r.output.find("{\"accepted\":1,\"name\":\"orders\",\"id\":10}") != std::string::npos);

    const std::string upload = std::string(100000, 'u') + "end";
    const std::string upload_file = temp_file(upload);
    r = run_command(curl + "-H 'Transfer-Encoding: chunked' --data-binary @" + upload_file + " " + url + "/echo");
    CHECK(r.status == 0);
    CHECK(r.output == upload);
    std::remove(big_file.c_str());
    std::remove(upload_file.c_str());

    r = run_command(curl + "-N " + url + "/events");
    CHECK(r.status == 0);
    CHECK(r.output == "event: tick\nid: 0\ndata: 0\n\nevent: tick\nid: 1\ndata: 1\n\nevent: tick\nid: 2\ndata: 2\n\n");

    r = run_command(curl + "-i -X PATCH " + url + "/echo");
    CHECK(r.output.rfind("HTTP/1.1 501 Not Implemented\r\n", 0) == 0);
    r = run_command(curl + "-i " + url + "/echo");
    CHECK(r.output.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0) == 0);
    CHECK(r.output.find("Allow: POST, OPTIONS\r\n") != std::string::npos);
    r = run_command(curl + "-i -H 'Content-Type: application/json' --data-binary '{\"id\":' " + url + "/minifirehoses/orders/message");
    CHECK(r.output.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);

    CHECK(server.accepted("orders") == std::set<long>{7, 8, 9, 10});
}

TEST_CASE("node's http client: concurrent keep-alive POSTs, chunked upload, 100-continue, events, refusals") {
    REQUIRE_MESSAGE(on_path("node"), "node is not installed (bash scripts/install-deps.sh)");
    background_server server;
    const std::string script = std::string(SLUICE_TEST_DATA_DIR) + "/../node/http_client.js";
    const command_result r = run_command("node " + script + " " + server.url());
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(r.output.find("result posts_ok 200\n") != std::string::npos);
    for (const char* check : {"chunked_upload", "expect_continue", "events", "refusals"})
        CHECK(r.output.find(std::string("result ") + check + " 1\n") != std::string::npos);
    // Counted on the server's side too, by id.
    const std::set<long> ids = server.accepted("node");
    CHECK(ids.size() == 201);
    CHECK(ids.count(4242) == 1);
    CHECK(*ids.begin() == 0);
    CHECK(*std::prev(ids.end(), 2) == 199);
}

} // TEST_SUITE

} // namespace test_http_server_clients

#endif
