#pragma once

// The line sources of sluiced: NDJSON from the standard input, and a file tailed as it grows (its
// truncation and its replacement by a new file, as log rotation does, are followed). Each line is
// checked as JSON before it enters a queue; a line that is not JSON is counted and logged (its number,
// never its text) and goes nowhere. The HTTP source is the API (api.hpp).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <simdjson.h>

#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/log.hpp>
#include <sluice/metrics/metrics.hpp>

namespace sluiced {

/// Where a source's records go: awaits room in the queue; false once the queue refuses (stopped).
using publish_fn = std::function<sluice::task<bool>(std::string json)>;

/// Splits bytes into lines, checks each as JSON and publishes it. Shared by the line sources.
class line_feeder {
public:
    line_feeder(std::string name, publish_fn publish, sluice::metrics_registry& metrics, const sluice::logger& log)
        : name_(std::move(name)), publish_(std::move(publish)), log_(&log),
          flow_(metrics, "source", name_) {}

    /// Takes `bytes`, publishing every complete line; false once the queue refused a record.
    sluice::task<bool> feed(std::string_view bytes) {
        partial_.append(bytes);
        std::size_t start = 0;
        for (std::size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
            std::string line = partial_.substr(start, nl - start);
            if (!co_await publish_line(std::move(line))) co_return false;
        }
        partial_.erase(0, start);
        co_return true;
    }

    /// The last line, when the input ended without a line break.
    sluice::task<bool> finish() {
        std::string line = std::exchange(partial_, {});
        co_return co_await publish_line(std::move(line));
    }

    /// Lines published and refused as not JSON.
    [[nodiscard]] std::uint64_t published() const noexcept { return published_; }
    [[nodiscard]] std::uint64_t invalid() const noexcept { return invalid_; }
    /// Drops a partial line (the file it came from was replaced).
    void reset() { partial_.clear(); }

private:
    sluice::task<bool> publish_line(std::string line) {
        ++line_number_;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) co_return true; // blank lines are not records
        simdjson::dom::element e;
        if (parser_.parse(line).get(e) != simdjson::SUCCESS) {
            ++invalid_;
            flow_.events_dropped.inc();
            log_->warn("sluiced", "source '" + name_ + "': line " + std::to_string(line_number_) + " is not JSON; skipped");
            co_return true;
        }
        flow_.events_in.inc();
        const bool accepted = co_await publish_(std::move(line));
        if (accepted) {
            ++published_;
            flow_.events_out.inc();
        }
        co_return accepted;
    }

    std::string name_;
    publish_fn publish_;
    const sluice::logger* log_;
    sluice::flow_metrics flow_;
    simdjson::dom::parser parser_;
    std::string partial_;
    std::uint64_t line_number_ = 0;
    std::uint64_t published_ = 0;
    std::uint64_t invalid_ = 0;
};

/// Reads NDJSON from the standard input until it ends (or `stop`).
inline sluice::task<void> read_stdin(sluice::io_loop& loop, line_feeder& feeder, std::stop_token stop) {
    const int fd = STDIN_FILENO;
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK); // poll, then read what is there
    std::string buf(64 * 1024, '\0');
    while (!stop.stop_requested()) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n > 0) {
            if (!co_await feeder.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)))) co_return;
            continue;
        }
        if (n == 0) break;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) throw std::system_error(errno, std::generic_category(), "read(stdin)");
        try {
            (void)co_await loop.poll(fd, sluice::poll_events::in, stop);
        } catch (const sluice::operation_cancelled&) {
            co_return;
        }
    }
    (void)co_await feeder.finish();
}

/// Follows the file at `path`: reads what is there (from the start, or from its end), then what is
/// appended, checking every `interval`; starts over when the file shrinks or is replaced.
inline sluice::task<void> tail_file(sluice::io_loop& loop, std::string path, bool from_beginning, line_feeder& feeder,
                                    const sluice::logger& log, std::stop_token stop,
                                    std::chrono::milliseconds interval = std::chrono::milliseconds(200)) {
    int fd = -1;
    ino_t inode = 0;
    std::uint64_t offset = 0;
    bool first = true;
    std::string buf(64 * 1024, '\0');
    while (!stop.stop_requested()) {
        struct stat st {};
        const bool exists = ::stat(path.c_str(), &st) == 0;
        if (exists && (fd < 0 || st.st_ino != inode)) { // appeared, or replaced by a new file
            if (fd >= 0) ::close(fd);
            fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) log.warn("sluiced", "source file '" + path + "': " + std::strerror(errno));
            inode = st.st_ino;
            offset = first && !from_beginning ? static_cast<std::uint64_t>(st.st_size) : 0;
            feeder.reset();
        } else if (exists && static_cast<std::uint64_t>(st.st_size) < offset) { // truncated
            offset = 0;
            feeder.reset();
        }
        first = false;
        bool progressed = false;
        if (fd >= 0) {
            const int n = co_await loop.read(fd, std::as_writable_bytes(std::span(buf)), offset);
            if (n > 0) {
                offset += static_cast<std::uint64_t>(n);
                progressed = true;
                if (!co_await feeder.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)))) break;
            }
        }
        if (progressed) continue;
        try {
            co_await loop.sleep_for(interval, stop);
        } catch (const sluice::operation_cancelled&) {
            break;
        }
    }
    if (fd >= 0) ::close(fd);
}

} // namespace sluiced
