#pragma once

// Crash tests of the object engine: a writer runs in a child process and reports every record the
// engine accepted (journaled) through a pipe; the parent kills it with SIGKILL in the middle of the
// stream, so that objects are open, completing (being renamed, parts in flight) and written at once.
// The parent then restarts an engine on the same directory and checks what the destination holds.

#include <doctest/doctest.h>

#include <sluice/objects/engine.hpp>

#include "objects.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sluice_test {

/// Writes the id of each record the engine accepted into a pipe (in the child).
class reporting_completion final : public sluice::objects::record_completion {
public:
    reporting_completion() { when = sluice::objects::acknowledge::accepted; }
    int id = 0;
    int fd = -1;
    void done(const sluice::outcome& status, std::string_view) override {
        if (status.kind != sluice::outcome_kind::persisted) return;
        const std::string line = std::to_string(id) + "\n";
        std::size_t at = 0;
        while (at < line.size()) {
            const ssize_t n = ::write(fd, line.data() + at, line.size() - at);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) ::_exit(3); // the parent is gone
            at += static_cast<std::size_t>(n);
        }
    }
};

/// Submits records 0..n-1 (made by `record`) to a started engine, each with a reporting completion
/// writing to `fd`; then flushes (the parent kills the child long before).
inline sluice::task<void> submit_reported(sluice::objects::object_engine& engine, int n, int fd,
                                          std::function<std::string(int)> record) {
    std::vector<reporting_completion> completions(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        completions[static_cast<std::size_t>(i)].id = i;
        completions[static_cast<std::size_t>(i)].fd = fd;
        std::string json = record(i);
        co_await engine.submit(std::move(json), &completions[static_cast<std::size_t>(i)]);
    }
    co_await engine.flush();
}

/// What a killed writer had reported.
struct killed_writer {
    std::set<int> accepted;
    bool killed = false; ///< it died of SIGKILL (not finished on its own, not failed)
};

/// Forks; the child runs `child(fd)` (which reports accepted ids into fd) and exits; the parent kills
/// it with SIGKILL once `kill_after` ids arrived, and collects every id it reported.
inline killed_writer kill_midstream(const std::function<void(int)>& child, std::size_t kill_after) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        int rc = 0;
        try {
            child(fds[1]);
        } catch (...) {
            rc = 2;
        }
        ::_exit(rc); // no doctest teardown, no atexit handlers of the parent's
    }
    ::close(fds[1]);
    killed_writer out;
    std::string buffer;
    char chunk[4096];
    bool sent = false;
    for (;;) {
        const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        buffer.append(chunk, static_cast<std::size_t>(n));
        std::size_t start = 0;
        for (std::size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1)
            out.accepted.insert(std::stoi(buffer.substr(start, nl - start)));
        buffer.erase(0, start);
        if (!sent && out.accepted.size() >= kill_after) {
            ::kill(pid, SIGKILL);
            sent = true; // keep reading: what it wrote before it died was accepted too
        }
    }
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    out.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    return out;
}

/// Every id in the NDJSON objects `objects` (name -> bytes), with how often it appears; REQUIREs that
/// every line has an id.
inline std::map<int, int> count_ids(const std::map<std::string, std::string>& objects) {
    std::map<int, int> seen;
    for (const auto& object : objects) // (clang 14's doctest macros cannot name a structured binding)
        for (const auto& line : lines_of(object.second)) {
            const int id = id_of(line);
            REQUIRE_MESSAGE(id >= 0, object.first << ": a line without an id");
            ++seen[id];
        }
    return seen;
}

/// Checks the crash-safety promise: every accepted id in exactly one object, no id twice, nothing
/// that was never submitted.
inline void check_exactly_once(const killed_writer& w, const std::map<int, int>& seen, int submitted) {
    std::size_t missing = 0, twice = 0, unknown = 0;
    for (const int id : w.accepted)
        if (!seen.count(id)) ++missing;
    for (const auto& [id, n] : seen) {
        if (n != 1) ++twice;
        if (id < 0 || id >= submitted) ++unknown;
    }
    CHECK(missing == 0);
    CHECK(twice == 0);
    CHECK(unknown == 0);
    CHECK(seen.size() >= w.accepted.size());
}

} // namespace sluice_test
