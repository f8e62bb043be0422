// ndjson_file_writer and ndjson_collector: real files in a temporary directory, written through a real
// io_loop (the binary runs once per backend, so both io_uring and epoll are covered), read back.

#include <doctest/doctest.h>

#include <sluice/io/loop.hpp>
#include <sluice/queue/collector_queue.hpp>
#include <sluice/sinks/ndjson_file.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_ndjson_file {

using namespace sluice;

namespace {

namespace fs = std::filesystem;

/// A fresh directory under /tmp, removed with its files at scope exit.
struct temp_dir {
    fs::path path;
    temp_dir() {
        char tmpl[] = "/tmp/sluice-ndjson-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    fs::path operator/(const char* name) const { return path / name; }
};

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::string> read_lines(const fs::path& p) {
    std::vector<std::string> lines;
    std::string text = read_file(p);
    std::size_t start = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n') {
            lines.push_back(text.substr(start, i - start));
            start = i + 1;
        }
    }
    if (start != text.size()) lines.push_back(text.substr(start) + "<no newline>");
    return lines;
}

std::string record(std::size_t i, std::size_t padding = 0) {
    return "{\"i\":" + std::to_string(i) + ",\"pad\":\"" + std::string(padding, 'x') + "\"}";
}

/// Runs a ready-made test body on a fresh loop.
template <class Body> void run(Body body) {
    io_loop loop;
    loop.run_until_complete(body(loop));
}

} // namespace

TEST_SUITE("ndjson_file") {

TEST_CASE("records are written in order, one per line, and counted") {
    temp_dir dir;
    const fs::path file = dir / "a.ndjson";
    run([&](io_loop& loop) -> task<void> {
        ndjson_file_writer w(loop, file);
        co_await w.open();
        CHECK(w.is_open());
        for (std::size_t i = 0; i < 100; ++i) co_await w.append(record(i));
        CHECK(w.records_appended() == 100);
        co_await w.close();
        CHECK_FALSE(w.is_open());
        CHECK(w.records_written() == 100);
        CHECK(w.bytes_written() == fs::file_size(file));
        CHECK(w.bytes_pending() == 0);
        CHECK(w.writes() == 1); // far below the default threshold: close writes once
    });
    auto lines = read_lines(file);
    REQUIRE(lines.size() == 100);
    for (std::size_t i = 0; i < lines.size(); ++i) CHECK(lines[i] == record(i));
}

TEST_CASE("append mode keeps what the file holds; truncate mode starts empty") {
    temp_dir dir;
    const fs::path file = dir / "modes.ndjson";
    std::ofstream(file) << "{\"old\":1}\n";
    run([&](io_loop& loop) -> task<void> {
        ndjson_file_writer w(loop, file);
        co_await w.open();
        co_await w.append("{\"new\":2}");
        co_await w.close();
    });
    CHECK(read_file(file) == "{\"old\":1}\n{\"new\":2}\n");
    run([&](io_loop& loop) -> task<void> {
        ndjson_file_options o;
        o.mode = ndjson_open_mode::truncate;
        ndjson_file_writer w(loop, file, o);
        co_await w.open();
        co_await w.append("{\"fresh\":3}");
        co_await w.close();
    });
    CHECK(read_file(file) == "{\"fresh\":3}\n");
}

TEST_CASE("many small records: a write each time the buffer reaches the threshold") {
    temp_dir dir;
    const fs::path file = dir / "small.ndjson";
    run([&](io_loop& loop) -> task<void> {
        ndjson_file_options o;
        o.flush_threshold = 1000;
        ndjson_file_writer w(loop, file, o);
        co_await w.open();
        const std::string r = record(0, 100 - record(0).size() - 1); // 100 bytes with its newline
        REQUIRE(r.size() + 1 == 100);
        for (int i = 0; i < 9; ++i) co_await w.append(r);
        CHECK(w.writes() == 0);
        CHECK(fs::file_size(file) == 0);
        co_await w.append(r); // the 10th reaches 1000 bytes
        CHECK(w.writes() == 1);
        CHECK(fs::file_size(file) == 1000);
        for (int i = 0; i < 15; ++i) co_await w.append(r);
        CHECK(w.writes() == 2);
        CHECK(fs::file_size(file) == 2000);
        CHECK(w.records_written() == 20);
        CHECK(w.bytes_pending() == 500);
        co_await w.close();
        CHECK(w.writes() == 3);
        CHECK(w.records_written() == 25);
    });
    CHECK(fs::file_size(file) == 2500);
}

TEST_CASE("records larger than the threshold are written whole, at once") {
    temp_dir dir;
    const fs::path file = dir / "large.ndjson";
    std::vector<std::string> expected;
    run([&](io_loop& loop) -> task<void> {
        ndjson_file_options o;
        o.flush_threshold = 64;
        ndjson_file_writer w(loop, file, o);
        co_await w.open();
        for (std::size_t i = 0; i < 20; ++i) {
            expected.push_back(record(i, 1000 + i * 997)); // up to ~20 KiB, never a multiple of anything
            co_await w.append(expected.back());
            CHECK(w.writes() == i + 1);
            CHECK(w.bytes_pending() == 0);
        }
        co_await w.close();
        CHECK(w.writes() == 20); // close had nothing left to write
    });
    CHECK(read_lines(file) == expected);
}

TEST_CASE("the default threshold: a million small records in few writes") {
    temp_dir dir;
    const fs::path file = dir / "million.ndjson";
    std::uint64_t bytes = 0;
    run([&](io_loop& loop) -> task<void> {
        ndjson_file_writer w(loop, file);
        co_await w.open();
        std::string r;
        for (std::size_t i = 0; i < 200'000; ++i) {
            r = record(i);
            bytes += r.size() + 1;
            if (w.buffer(r)) co_await w.flush();
        }
        co_await w.close();
        CHECK(w.records_written() == 200'000);
        CHECK(w.writes() <= bytes / (256 * 1024) + 1);
    });
    CHECK(fs::file_size(file) == bytes);
    auto lines = read_lines(file);
    REQUIRE(lines.size() == 200'000);
    CHECK(lines.front() == record(0));
    CHECK(lines.back() == record(199'999));
}

TEST_CASE("double buffering: records appended while a write is in flight are all written, in order") {
    temp_dir dir;
    const fs::path file = dir / "double.ndjson";
    run([&](io_loop& loop) -> task<void> {
        ndjson_file_options o;
        o.flush_threshold = 64 * 1024;
        ndjson_file_writer w(loop, file, o);
        co_await w.open();
        std::size_t next = 0;
        bool full = false;
        while (!full) full = w.buffer(record(next++, 50));
        const std::size_t first_batch = next;

        // A flush of the full buffer, started by another coroutine.
        loop.spawn([](ndjson_file_writer& wr) -> task<void> { co_await wr.flush(); }(w));
        co_await loop.schedule(); // the spawned flush runs first and submits its write
        if (loop.backend() == io_backend::io_uring) {
            // io_uring completes the write later; epoll writes files synchronously.
            CHECK(w.write_in_flight());
            CHECK(w.writes() == 1);
        }
        // Appends now go to the second buffer; one filling it waits for the first write, then writes.
        full = false;
        while (!full) full = w.buffer(record(next++, 50));
        co_await w.flush();
        CHECK_FALSE(w.write_in_flight());
        CHECK(w.writes() == 2);
        CHECK(w.records_written() == next);
        CHECK(next > first_batch);
        for (int i = 0; i < 10; ++i) co_await w.append(record(next++, 50));
        co_await w.close();
        CHECK(w.records_written() == next);
    });
    auto lines = read_lines(file);
    REQUIRE(!lines.empty());
    for (std::size_t i = 0; i < lines.size(); ++i) REQUIRE(lines[i] == record(i, 50));
}

TEST_CASE("several coroutines appending past the threshold wait their turn; nothing lost or reordered") {
    temp_dir dir;
    const fs::path file = dir / "producers.ndjson";
    constexpr int producers = 4;
    constexpr int per_producer = 3000;
    run([&](io_loop& loop) -> task<void> {
        ndjson_file_options o;
        o.flush_threshold = 4096;
        auto w = std::make_shared<ndjson_file_writer>(loop, file, o);
        co_await w->open();
        for (int p = 0; p < producers; ++p) {
            loop.spawn([](std::shared_ptr<ndjson_file_writer> wr, int id) -> task<void> {
                for (int i = 0; i < per_producer; ++i)
                    co_await wr->append("{\"p\":" + std::to_string(id) + ",\"i\":" + std::to_string(i) +
                                        "}");
            }(w, p));
        }
        while (loop.spawned_live() != 0) co_await loop.sleep_for(std::chrono::milliseconds(1));
        co_await w->close();
        CHECK(w->records_written() == producers * per_producer);
        CHECK(w->writes() > 10);
    });
    auto lines = read_lines(file);
    REQUIRE(lines.size() == producers * per_producer);
    std::vector<int> next(producers, 0);
    for (const auto& line : lines) {
        int p = -1, i = -1;
        REQUIRE(std::sscanf(line.c_str(), "{\"p\":%d,\"i\":%d}", &p, &i) == 2);
        REQUIRE(p >= 0);
        REQUIRE(p < producers);
        CHECK(i == next[static_cast<std::size_t>(p)]++); // each producer's records in its order
    }
}

TEST_CASE("a multi-line or empty record is rejected with a clear error and nothing of it is written") {
    temp_dir dir;
    const fs::path file = dir / "reject.ndjson";
    run([&](io_loop& loop) -> task<void> {
        ndjson_file_writer w(loop, file);
        co_await w.open();
        co_await w.append("{\"ok\":1}");
        std::string message;
        try {
            co_await w.append("{\"bad\":\n2}");
        } catch (const std::invalid_argument& e) {
            message = e.what();
        }
        CHECK(message.find("record 2") != std::string::npos);
        CHECK(message.find("newline at byte 7") != std::string::npos);
        CHECK(message.find(file.string()) != std::string::npos);
        CHECK_THROWS_AS(w.buffer(""), std::invalid_argument);
        CHECK_THROWS_WITH_AS(w.buffer("{}\n"), doctest::Contains("raw newline at byte 2"),
                             std::invalid_argument);
        // A fill that throws, or writes several lines, leaves nothing behind either.
        auto failing_fill = [](std::string& out) {
            out += "{\"partial\":";
            throw std::runtime_error("format failed");
        };
        CHECK_THROWS_AS(w.buffer_with(failing_fill), std::runtime_error);
        CHECK_THROWS_AS(w.buffer_with([](std::string& out) { out += "{\"a\":1}\n{\"b\":2}"; }),
                        std::invalid_argument);
        CHECK(w.records_rejected() == 4);
        co_await w.append("{\"ok\":3}");
        co_await w.close();
        CHECK(w.records_appended() == 2);
        CHECK(w.records_written() == 2);
    });
    CHECK(read_file(file) == "{\"ok\":1}\n{\"ok\":3}\n");
}

TEST_CASE("close writes what is buffered; the writer refuses records once closed") {
    temp_dir dir;
    const fs::path file = dir / "close.ndjson";
    run([&](io_loop& loop) -> task<void> {
        ndjson_file_options o;
        o.fsync_on_close = true;
        ndjson_file_writer w(loop, file, o);
        CHECK_THROWS_AS(w.buffer("{}"), std::logic_error); // not open yet
        co_await w.open();
        for (std::size_t i = 0; i < 1000; ++i) co_await w.append(record(i));
        CHECK(w.writes() == 0);
        CHECK(fs::file_size(file) == 0);
        co_await w.close();
        CHECK(w.records_written() == 1000);
        co_await w.close(); // harmless
        CHECK_THROWS_WITH_AS(w.buffer("{}"), doctest::Contains("is closed"), std::logic_error);
        bool threw = false;
        try {
            co_await w.open();
        } catch (const std::logic_error&) {
            threw = true;
        }
        CHECK(threw);
    });
    CHECK(read_lines(file).size() == 1000);
}

TEST_CASE("an unwritable path is an error that names the path") {
    temp_dir dir;
    const fs::path missing = dir.path / "no" / "such" / "dir" / "x.ndjson";
    const fs::path a_directory = dir.path;
    run([&](io_loop& loop) -> task<void> {
        std::vector<fs::path>
            paths; // not a braced list: GCC 12 cannot keep its array in a coroutine frame
        paths.push_back(missing);
        paths.push_back(a_directory);
        for (const fs::path& p : paths) {
            ndjson_file_writer w(loop, p);
            std::string message;
            std::error_code code;
            try {
                co_await w.open();
            } catch (const std::system_error& e) {
                message = e.what();
                code = e.code();
            }
            CHECK(message.find("'" + p.string() + "'") != std::string::npos);
            CHECK(message.find("cannot open") != std::string::npos);
            CHECK(code.value() == (p == missing ? ENOENT : EISDIR));
            CHECK_FALSE(w.is_open());
        }
    });
}

TEST_CASE("a full disk (EFBIG under RLIMIT_FSIZE) is reported, never silently lost") {
    temp_dir dir;
    const fs::path file = dir / "full.ndjson";
    constexpr rlim_t limit = 64 * 1024;
    // The limit applies to the whole process: set it in a child. Checks there report by exit code.
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::signal(SIGXFSZ, SIG_IGN); // the write then fails with EFBIG instead of killing the process
        rlimit rl{limit, limit};
        if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) ::_exit(90);
        int status = 0;
        try {
            io_loop loop;
            status = loop.run_until_complete([](io_loop& lp, const fs::path& f) -> task<int> {
                ndjson_file_options o;
                o.flush_threshold = 16 * 1024;
                ndjson_file_writer w(lp, f, o);
                co_await w.open();
                std::string message;
                int code = 0;
                try {
                    for (std::size_t i = 0; i < 100'000; ++i) co_await w.append(record(i, 40));
                    co_await w.close();
                    co_return 10; // no error at all: lost silently
                } catch (const std::system_error& e) {
                    message = e.what();
                    code = e.code().value();
                }
                if (code != EFBIG && code != ENOSPC) co_return 11;
                if (message.find("'" + f.string() + "'") == std::string::npos) co_return 12;
                if (!w.failed()) co_return 13;
                // Later records, flushes and the close report the same failure.
                try {
                    w.buffer("{}");
                    co_return 14;
                } catch (const std::system_error&) {
                }
                bool close_failed = false;
                try {
                    co_await w.close();
                } catch (const std::system_error&) {
                    close_failed = true;
                }
                if (!close_failed) co_return 15;
                if (w.bytes_written() != limit) co_return 16;
                if (fs::file_size(f) != limit) co_return 17;
                // records_written counts the complete lines that reached the file.
                std::ifstream in(f);
                std::uint64_t lines = 0;
                for (std::string line; std::getline(in, line);) lines += in.eof() ? 0 : 1;
                if (lines != w.records_written()) co_return 18;
                if (w.records_written() >= w.records_appended()) co_return 19;
                co_return 0;
            }(loop, file));
        } catch (...) {
            status = 20;
        }
        ::_exit(status);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(fs::file_size(file) == limit);
}

TEST_CASE("ndjson_append_string escapes JSON strings") {
    std::string out;
    ndjson_append_string(out, "plain");
    CHECK(out == "\"plain\"");
    out.clear();
    ndjson_append_string(out, std::string_view("q\"b\\n\nr\rt\t\x01z\x7f\xc3\xa9", 15));
    CHECK(out == "\"q\\\"b\\\\n\\nr\\rt\\t\\u0001z\x7f\xc3\xa9\"");
    CHECK(out.find('\n') == std::string::npos);
}

namespace {
struct order {
    int id = 0;
    std::string who;
};

void format_order(const order& o, std::string& out) {
    out += "{\"id\":";
    out += std::to_string(o.id);
    out += ",\"who\":";
    ndjson_append_string(out, o.who);
    out += '}';
}
} // namespace

TEST_CASE("ndjson_collector: routed payloads land in each collector's file") {
    temp_dir dir;
    const fs::path a = dir / "a.ndjson";
    const fs::path b = dir / "b.ndjson";
    std::ofstream(a) << "stale\n";
    run([&](io_loop& loop) -> task<void> {
        ndjson_file_options truncating;
        truncating.mode = ndjson_open_mode::truncate;
        truncating.flush_threshold = 512;
        std::vector<collector<order>> collectors;
        collectors.push_back(ndjson_collector<order>("a", a, {"x"}, format_order, truncating));
        collectors.push_back(ndjson_collector<order>(
            "b", b, {"y"}, [](const order& o, std::string& out) { format_order(o, out); }));
        queue_options qo;
        qo.max_consumers = 3;
        collector_queue<order> queue(loop, std::move(collectors), qo);
        co_await queue.start();
        auto pub = queue.get_publisher();
        for (int i = 0; i < 300; ++i) {
            order o{i, i % 2 == 0 ? "even \"quoted\"" : "odd\nline"};
            payload<order> p = i % 3 == 0
                                   ? payload<order>::broadcast(std::move(o))
                                   : payload<order>::to_topics(std::move(o), i % 3 == 1 ? "x" : "y");
            auto ev = co_await pub.send(std::move(p));
            const auto& results = co_await ev.wait();
            CHECK(results.all_ok());
        }
        auto report = co_await queue.stop();
        CHECK(report.teardown_errors.empty());
        CHECK(queue.stats().failed == 0);
    });
    auto lines_a = read_lines(a);
    auto lines_b = read_lines(b);
    CHECK(lines_a.size() == 200); // broadcasts (100) + topic x (100)
    CHECK(lines_b.size() == 200);
    CHECK(lines_a.front() == "{\"id\":0,\"who\":\"even \\\"quoted\\\"\"}");
    CHECK(lines_a[1] == "{\"id\":1,\"who\":\"odd\\nline\"}");
}

TEST_CASE("ndjson_collector: a bad record and an unopenable file are Error results, not silence") {
    temp_dir dir;
    const fs::path good = dir / "good.ndjson";
    const fs::path bad = dir.path / "missing" / "bad.ndjson";
    run([&](io_loop& loop) -> task<void> {
        auto raw = [](const order& o, std::string& out) { out += o.who; }; // no escaping: may break lines
        std::vector<collector<order>> collectors;
        collectors.push_back(ndjson_collector<order>("good", good, {}, raw));
        collectors.push_back(ndjson_collector<order>("bad", bad, {}, raw));
        collector_queue<order> queue(loop, std::move(collectors));
        co_await queue.start();
        auto setup_errors = queue.setup_errors();
        REQUIRE(setup_errors.size() == 1);
        CHECK(setup_errors[0].source == "bad");
        CHECK(setup_errors[0].message.find(bad.string()) != std::string::npos);
        auto pub = queue.get_publisher();

        // Payloads are built before the co_await: GCC 12 miscompiles a braced aggregate temporary
        // (order{...}) inside a co_await expression (it copies the std::string bitwise).
        auto p = payload<order>::to_keys(order{1, "{\"fine\":true}"}, "good");
        auto ev = co_await pub.send(std::move(p));
        CHECK((co_await ev.wait()).all_ok());
        p = payload<order>::to_keys(order{2, "{\"two\":\n\"lines\"}"}, "good");
        ev = co_await pub.send(std::move(p));
        const auto& results = co_await ev.wait();
        REQUIRE(results.size() == 1);
        REQUIRE(results[0].is_error());
        CHECK(results[0].get_error().message.find("raw newline") != std::string::npos);
        p = payload<order>::to_keys(order{3, "{}"}, "bad");
        ev = co_await pub.send(std::move(p));
        CHECK((co_await ev.wait()).error_count() == 1);
        auto report = co_await queue.stop();
        CHECK(report.teardown_errors.empty());
    });
    CHECK(read_file(good) == "{\"fine\":true}\n");
}

TEST_CASE("ndjson_collector: a write failure reaches the payloads and the stop report") {
    temp_dir dir;
    const fs::path file = dir / "full.ndjson";
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::signal(SIGXFSZ, SIG_IGN);
        rlimit rl{8192, 8192};
        if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) ::_exit(90);
        int status = 0;
        try {
            io_loop loop;
            status = loop.run_until_complete([](io_loop& lp, const fs::path& f) -> task<int> {
                ndjson_file_options o;
                o.flush_threshold = 1024;
                std::vector<collector<order>> collectors;
                collectors.push_back(ndjson_collector<order>("disk", f, {}, format_order, o));
                collector_queue<order> queue(lp, std::move(collectors));
                co_await queue.start();
                auto pub = queue.get_publisher();
                std::size_t errors = 0;
                for (int i = 0; i < 2000; ++i) {
                    auto p = payload<order>::broadcast(order{i, "someone"});
                    auto ev = co_await pub.send(std::move(p));
                    errors += (co_await ev.wait()).error_count();
                }
                auto report = co_await queue.stop();
                if (errors == 0) co_return 10;
                if (queue.stats().failed != errors) co_return 11;
                if (report.teardown_errors.size() != 1) co_return 12;
                if (report.teardown_errors[0].message.find(f.string()) == std::string::npos) co_return 13;
                if (report.teardown_errors[0].code.value() != EFBIG &&
                    report.teardown_errors[0].code.value() != ENOSPC)
                    co_return 14;
                co_return 0;
            }(loop, file));
        } catch (...) {
            status = 20;
        }
        ::_exit(status);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

} // TEST_SUITE

} // namespace test_ndjson_file
