#pragma once

// The Pulsar fixture broker as the integration tests see it: where it listens (the fixture.json that
// scripts/pulsar-fixture.sh wrote into $SLUICE_PULSAR_FIXTURE_DIR), its HTTP control channel, what it
// stored and counted (GET /state, parsed with simdjson), and pulsar-flex run through
// tests/pulsar/flex-tool.js. A missing fixture is a failure, not a skip.

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <simdjson.h>

namespace pulsar_fixture {

struct info {
    int port = 0;
    int port2 = 0;
    int control = 0;
    int tls_port = 0;  ///< the TLS twin of `port` (certificate for DNS:localhost only)
    int tls_port2 = 0; ///< the TLS twin of `port2`
    std::string url() const { return "pulsar://127.0.0.1:" + std::to_string(port); }
    /// pulsar+ssl://localhost:TLS_PORT, the name the fixture's certificate carries.
    std::string tls_url() const { return "pulsar+ssl://localhost:" + std::to_string(tls_port); }
};

/// The test CA that scripts/pulsar-fixture.sh made for the fixture's TLS listeners.
inline std::string tls_ca_file();

inline std::string dir() {
    const char* d = std::getenv("SLUICE_PULSAR_FIXTURE_DIR");
    REQUIRE_MESSAGE(d != nullptr, "SLUICE_PULSAR_FIXTURE_DIR is not set: run the integration-pulsar suite through ctest, or "
                                  "start scripts/pulsar-fixture.sh <dir> and point it there");
    return d;
}

inline info get() {
    std::ifstream in(dir() + "/fixture.json");
    REQUIRE_MESSAGE(in.good(), "no fixture.json in " << dir() << " (did sluice_pulsar_fixture_start fail?)");
    std::stringstream ss;
    ss << in.rdbuf();
    simdjson::dom::parser p;
    auto doc = p.parse(ss.str());
    info i;
    i.port = static_cast<int>(int64_t(doc["port"]));
    i.port2 = static_cast<int>(int64_t(doc["port2"]));
    i.control = static_cast<int>(int64_t(doc["control"]));
    int64_t tls = 0;
    if (doc["tls_port"].get(tls) == simdjson::SUCCESS) i.tls_port = static_cast<int>(tls);
    if (doc["tls_port2"].get(tls) == simdjson::SUCCESS) i.tls_port2 = static_cast<int>(tls);
    return i;
}

inline std::string tls_ca_file() { return dir() + "/tls/ca.pem"; }

/// POST (or GET /state) on the control channel; returns the body, fails the test on a non-200.
inline std::string control(const std::string& path) {
    const info i = get();
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    timeval timeout{.tv_sec = 10, .tv_usec = 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(i.control));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    const std::string method = path == "/state" ? "GET" : "POST";
    const std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
    std::string resp;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        REQUIRE_MESSAGE(n >= 0, "control " << path << ": " << std::string(std::strerror(errno)));
        if (n == 0) break;
        resp.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    REQUIRE_MESSAGE(resp.rfind("HTTP/1.1 200", 0) == 0, "control " << path << ": " << resp.substr(0, 300));
    return resp.substr(resp.find("\r\n\r\n") + 4);
}

inline std::string base64_decode(std::string_view in) {
    auto v = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    std::string out;
    int bits = 0, acc = 0;
    for (char c : in) {
        const int x = v(c);
        if (x < 0) continue;
        acc = (acc << 6) | x;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    return out;
}

/// One message as the fixture decoded and stored it.
struct stored {
    long entry = 0;
    int batch_index = -1;
    std::string payload;
    std::map<std::string, std::string> properties;
    std::string key;
    std::string ordering_key;
    std::string compression;
    std::string producer;
    bool batch = false;
};

struct subscription {
    long consumers = 0;
    std::vector<long> acked;
    long nacks = 0;
    long dispatched = 0;
    std::map<long, long> redelivery_count;
};

struct state {
    std::map<std::string, std::vector<stored>> topics;
    std::map<std::string, long> duplicates;
    std::map<std::string, subscription> subscriptions;
    long pongs = 0;
    long pings_answered = 0;
    long auth_failures = 0;
    long connections = 0;
};

/// The string at `e`, or "" when it is missing (the fixture leaves unset fields out).
inline std::string str(simdjson::simdjson_result<simdjson::dom::element> e) {
    std::string_view s;
    return e.get_string().get(s) == simdjson::SUCCESS ? std::string(s) : std::string();
}

inline state read_state() {
    const std::string body = control("/state");
    simdjson::dom::parser p;
    auto doc = p.parse(body);
    state s;
    auto counters = doc["counters"];
    s.pongs = int64_t(counters["pongs"]);
    s.pings_answered = int64_t(counters["pingsAnswered"]);
    s.auth_failures = int64_t(counters["authFailures"]);
    s.connections = int64_t(counters["connections"]);
    for (auto [name, t] : simdjson::dom::object(doc["topics"])) {
        auto& list = s.topics[std::string(name)];
        s.duplicates[std::string(name)] = int64_t(t["duplicates"]);
        for (auto e : simdjson::dom::array(t["entries"])) {
            int index = 0;
            const bool batch = bool(e["batch"]);
            for (auto m : simdjson::dom::array(e["messages"])) {
                stored st;
                st.entry = int64_t(e["entryId"]);
                st.batch = batch;
                st.batch_index = batch ? index : -1;
                ++index;
                st.payload = base64_decode(str(m["payload"]));
                st.compression = str(e["compression"]);
                st.producer = str(e["producer"]);
                st.key = str(m["partitionKey"]);
                st.ordering_key = base64_decode(str(m["orderingKey"]));
                for (auto [k, v] : simdjson::dom::object(m["properties"])) {
                    std::string_view value;
                    if (v.get_string().get(value) == simdjson::SUCCESS) st.properties[std::string(k)] = std::string(value);
                }
                list.push_back(std::move(st));
            }
        }
    }
    for (auto [name, sub] : simdjson::dom::object(doc["subscriptions"])) {
        subscription x;
        x.consumers = int64_t(sub["consumers"]);
        x.nacks = int64_t(sub["nacks"]);
        x.dispatched = int64_t(sub["dispatched"]);
        for (auto a : simdjson::dom::array(sub["acked"])) x.acked.push_back(int64_t(a));
        for (auto [k, v] : simdjson::dom::object(sub["redeliveryCount"])) x.redelivery_count[std::stol(std::string(k))] = int64_t(v);
        s.subscriptions[std::string(name)] = std::move(x);
    }
    return s;
}

/// Runs a shell command; returns its standard output; fails the test when it exits non-zero.
inline std::string run(const std::string& command) {
    FILE* f = ::popen(command.c_str(), "r");
    REQUIRE(f != nullptr);
    std::string out;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    const int rc = ::pclose(f);
    REQUIRE_MESSAGE(rc == 0, command << " exited with " << rc << ": " << out.substr(0, 500));
    return out;
}

/// The node command running tests/pulsar/flex-tool.js.
inline std::string flex_tool() {
    return std::string("node ") + SLUICE_TEST_DATA_DIR + "/../pulsar/flex-tool.js";
}

/// Closes the client's connections and runs the loop until their coroutines have ended, so nothing
/// is left suspended (and leaked) when the loop goes away.
template <class Loop, class Client>
void finish(Loop& loop, Client& cl) {
    cl.close();
    loop.drain();
}

/// A topic name no earlier run used.
inline std::string unique_topic(const std::string& stem) {
    static int n = 0;
    return "persistent://public/default/" + stem + "-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

/// The number a test put in a message's "i" property (-1 when it has none).
template <class Message>
int index_of(const Message& m) {
    return std::stoi(std::string(m.property("i").value_or("-1")));
}

} // namespace pulsar_fixture
