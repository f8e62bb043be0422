#pragma once

// ndjson_file_writer: appends newline-delimited JSON records to a file through an io_loop. Records go
// into a byte buffer that is written when it reaches a threshold, on flush() and on close(), so a
// record costs a memcpy, not a system call. One write is in flight at a time (so the file never sees
// two writes interleave); records appended meanwhile fill a second buffer (double buffering, the two
// are swapped, never copied). ndjson_collector() turns a writer into a collector of a collector_queue.
//
// A writer belongs to its loop's thread: every member is called there.

#include <algorithm>
#include <any>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <sluice/core/executor.hpp>
#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/queue/collector.hpp>
#include <sluice/queue/payload.hpp>

namespace sluice {

/// How a writer opens its file.
enum class ndjson_open_mode {
    append,   ///< O_APPEND: keep what the file holds and add after it
    truncate, ///< O_TRUNC: start from an empty file
};

/// How an ndjson_file_writer opens, buffers and closes its file.
struct ndjson_file_options {
    /// Append to the file or start it empty.
    ndjson_open_mode mode = ndjson_open_mode::append;
    /// The buffer is written once it holds at least this many bytes. 0 writes every record at once.
    std::size_t flush_threshold = 256 * 1024;
    /// fsync before close, so close() returning means the records are on stable storage.
    bool fsync_on_close = false;
    /// Permissions of a file the writer creates (before the umask).
    mode_t permissions = 0644;
};

/// Appends `text` to `out` as a JSON string literal: quoted, with '"', '\\' and control characters
/// escaped, so it never contains a raw newline. Bytes >= 0x80 are copied as they are (UTF-8 in, UTF-8
/// out). For the Format callables of ndjson_collector.
inline void ndjson_append_string(std::string& out, std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    std::size_t run = 0; // start of the current run of bytes that need no escape, copied in one go
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(text, run, i - run);
        run = i + 1;
        switch (c) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        case '\n': out.append("\\n"); break;
        case '\r': out.append("\\r"); break;
        case '\t': out.append("\\t"); break;
        case '\b': out.append("\\b"); break;
        case '\f': out.append("\\f"); break;
        default:
            out.append("\\u00");
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xf]);
        }
    }
    out.append(text, run, text.size() - run);
    out.push_back('"');
}

namespace detail {

/// A task that is already complete, for the paths of append() that have nothing to write.
inline task<void> ndjson_ready() { co_return; }

} // namespace detail

/// Appends NDJSON records to one file through an io_loop, buffered and double-buffered so a record costs a
/// memcpy, not a system call.
class ndjson_file_writer {
public:
    /// Does not touch the file: co_await open() does.
    ndjson_file_writer(io_loop& loop, std::filesystem::path path, ndjson_file_options options = {})
        : loop_(&loop), path_(std::move(path)), path_string_(path_.string()), options_(options) {}

    // Coroutines of the writer and the kernel (the buffer being written) hold its address.
    ndjson_file_writer(const ndjson_file_writer&) = delete;
    ndjson_file_writer& operator=(const ndjson_file_writer&) = delete;

    /// Only releases the descriptor: buffered records are not written (close() is what writes them;
    /// blocking file I/O in a destructor would stall the loop). Destroying a writer while a write is
    /// in flight is a bug (the kernel may still read its buffer).
    ~ndjson_file_writer() {
        if (fd_ >= 0) ::close(fd_);
    }

    /// Opens (creating if needed) the file for writing. Throws std::system_error naming the path.
    task<void> open() {
        if (fd_ >= 0 || opening_)
            throw std::logic_error("ndjson_file_writer: " + quoted_path() + " is already open");
        if (closed_)
            throw std::logic_error("ndjson_file_writer: " + quoted_path() +
                                   " was closed; a writer opens once");
        opening_ = true;
        int flags = O_WRONLY | O_CREAT | (options_.mode == ndjson_open_mode::truncate ? O_TRUNC : O_APPEND);
        int fd = -1;
        try {
            fd = co_await loop_->open(path_string_.c_str(), flags, options_.permissions);
        } catch (const std::system_error& e) {
            opening_ = false;
            throw std::system_error(e.code(),
                                    "ndjson_file_writer: cannot open " + quoted_path() + " for writing");
        }
        opening_ = false;
        fd_ = fd;
        // Writes go at explicit offsets; appending ones start at the current end of the file. (With
        // O_APPEND the kernel appends anyway; the offset keeps the two backends' bookkeeping alike.)
        struct stat st{};
        offset_ = (options_.mode == ndjson_open_mode::append && ::fstat(fd_, &st) == 0)
                      ? static_cast<std::uint64_t>(st.st_size)
                      : 0;
        const std::size_t reserve =
            std::min<std::size_t>(options_.flush_threshold, std::size_t{1} << 20) + 4096;
        active_.reserve(reserve);
        flight_.reserve(reserve);
    }

    /// Adds one record (and its '\n') to the buffer without writing. Returns true when the buffer
    /// reached the flush threshold: the caller should co_await flush() soon (append() does). Throws
    /// std::invalid_argument for a record that is empty or contains a raw '\n' (nothing of it is
    /// buffered), std::logic_error when the writer is not open, and a previous write's error when the
    /// writer has failed.
    bool buffer(std::string_view record) {
        return buffer_with([record](std::string& out) { out.append(record); });
    }

    /// Like buffer(), but `fill(std::string& out)` appends the record's text straight into the
    /// buffer (no intermediate string). If fill throws, or the text is not a single line, what it
    /// appended is removed and the exception propagates.
    template <class Fill>
        requires std::invocable<Fill&, std::string&>
    bool buffer_with(Fill&& fill) {
        check_writable();
        const std::size_t start = active_.size();
        try {
            fill(active_);
        } catch (...) {
            active_.resize(start);
            throw;
        }
        const std::size_t length = active_.size() - start;
        const void* newline = length == 0 ? nullptr : std::memchr(active_.data() + start, '\n', length);
        if (length == 0 || newline != nullptr) {
            active_.resize(start);
            reject(length == 0 ? std::string::npos
                               : static_cast<std::size_t>(static_cast<const char*>(newline) -
                                                          (active_.data() + start)));
        }
        active_.push_back('\n');
        ++active_records_;
        ++records_appended_;
        bytes_appended_ += length + 1;
        return active_.size() >= options_.flush_threshold;
    }

    /// Buffers `record` (copied before this returns, so it may be a temporary) and, when the buffer
    /// reached the threshold, writes it when the returned task is awaited. That write waits for one
    /// already in flight, which bounds the memory to about two buffers: the backpressure of a writer.
    [[nodiscard]] task<void> append(std::string_view record) {
        if (buffer(record)) return flush();
        return detail::ndjson_ready();
    }

    /// Completes when every record appended before the call is written (waiting for a write in flight
    /// first). Throws std::system_error (with the path) when a write fails; the writer is then failed
    /// and every later append or flush rethrows that error.
    task<void> flush() {
        check_open();
        const std::uint64_t target = bytes_appended_;
        while (bytes_written_ + bytes_dropped_ < target) {
            if (failure_) std::rethrow_exception(failure_);
            if (writing_)
                co_await write_done{this};
            else
                co_await write_active();
        }
        if (failure_) std::rethrow_exception(failure_);
    }

    /// Writes what is buffered, fsyncs if asked to, and closes the file. The descriptor is released
    /// even when a write fails (the error is rethrown then). Closing a writer that is not open, or
    /// that another coroutine is closing, does nothing; records appended after close() started are
    /// refused.
    task<void> close() {
        if (fd_ < 0 || closing_) co_return;
        closing_ = true;
        std::exception_ptr error;
        try {
            co_await flush();
            if (options_.fsync_on_close) {
                try {
                    co_await loop_->fsync(fd_);
                } catch (const std::system_error& e) {
                    throw std::system_error(e.code(),
                                            "ndjson_file_writer: fsync of " + quoted_path() + " failed");
                }
            }
        } catch (...) {
            error = std::current_exception();
        }
        const int fd = std::exchange(fd_, -1);
        closed_ = true;
        try {
            co_await loop_->close(fd);
        } catch (const std::system_error& e) {
            if (!error)
                error = std::make_exception_ptr(
                    std::system_error(e.code(), "ndjson_file_writer: close of " + quoted_path() + " failed"));
        }
        if (error) std::rethrow_exception(error);
    }

    /// The file it writes.
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    /// True between open() and close().
    [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0 && !closing_; }
    /// True while a write is with the kernel.
    [[nodiscard]] bool write_in_flight() const noexcept { return writing_; }
    /// True once a write failed; failure() is the error.
    [[nodiscard]] bool failed() const noexcept { return static_cast<bool>(failure_); }
    /// The error that failed the writer, or null.
    [[nodiscard]] std::exception_ptr failure() const noexcept { return failure_; }

    /// Records accepted by append/buffer.
    [[nodiscard]] std::uint64_t records_appended() const noexcept { return records_appended_; }
    /// Records whose every byte (newline included) reached the file.
    [[nodiscard]] std::uint64_t records_written() const noexcept { return records_written_; }
    /// Bytes that reached the file through this writer.
    [[nodiscard]] std::uint64_t bytes_written() const noexcept { return bytes_written_; }
    /// Bytes appended but not yet written (buffered or in flight).
    [[nodiscard]] std::uint64_t bytes_pending() const noexcept {
        return bytes_appended_ - bytes_written_ - bytes_dropped_;
    }
    /// Records refused by validation.
    [[nodiscard]] std::uint64_t records_rejected() const noexcept { return records_rejected_; }
    /// Buffers handed to the kernel (one per flush that had something to write).
    [[nodiscard]] std::uint64_t writes() const noexcept { return writes_; }

private:
    /// A coroutine waiting for the write in flight to end. The node lives in its frame.
    struct write_done {
        ndjson_file_writer* writer;
        detail::waiter_node node{};
        bool await_ready() const noexcept { return !writer->writing_; }
        void await_suspend(std::coroutine_handle<> h) noexcept {
            node.handle = h;
            writer->waiters_.push_back(&node);
        }
        void await_resume() const noexcept {}
    };

    /// Swaps the buffers and writes what was active; the only place that writes.
    task<void> write_active() {
        writing_ = true;
        std::swap(active_, flight_);
        const std::uint64_t records = std::exchange(active_records_, 0);
        const std::size_t total = flight_.size();
        std::size_t done = 0;
        ++writes_;
        try {
            // write_all's loop, kept here so a failure knows how much of the buffer reached the file.
            while (done < total) {
                auto rest = std::as_bytes(std::span<const char>(flight_).subspan(done));
                const int n = co_await loop_->write(fd_, rest, offset_ + done);
                if (n <= 0) throw std::system_error(EIO, std::system_category(), "write returned 0");
                done += static_cast<std::size_t>(n);
            }
        } catch (const std::system_error& e) {
            failure_ = std::make_exception_ptr(std::system_error(
                e.code(), "ndjson_file_writer: writing " + quoted_path() + " failed after " +
                              std::to_string(done) + " of " + std::to_string(total) + " bytes of a flush (" +
                              std::to_string(records_written_ + count_lines(done)) +
                              " records written in all)"));
        } catch (...) {
            failure_ = std::current_exception();
        }
        offset_ += done;
        bytes_written_ += done;
        if (failure_) {
            // What did not reach the file is dropped: the writer is failed and writes no more.
            records_written_ += count_lines(done);
            bytes_dropped_ += (total - done) + active_.size();
            active_.clear();
            active_records_ = 0;
        } else {
            records_written_ += records;
        }
        flight_.clear();
        writing_ = false;
        // Waiters resume from the loop, not from inside this completion.
        while (detail::waiter_node* w = waiters_.pop_front()) loop_->post(w->handle);
        if (failure_) std::rethrow_exception(failure_);
    }

    std::uint64_t count_lines(std::size_t bytes) const noexcept {
        return static_cast<std::uint64_t>(
            std::count(flight_.begin(), flight_.begin() + static_cast<std::ptrdiff_t>(bytes), '\n'));
    }

    void check_open() const {
        if (fd_ < 0 || closed_)
            throw std::logic_error("ndjson_file_writer: " + quoted_path() +
                                   (closed_ ? " is closed" : " is not open"));
    }

    void check_writable() const {
        if (failure_) std::rethrow_exception(failure_);
        check_open();
        if (closing_)
            throw std::logic_error("ndjson_file_writer: " + quoted_path() + " is closing; record refused");
    }

    [[noreturn]] void reject(std::size_t newline_at) {
        ++records_rejected_;
        std::string why =
            newline_at == std::string::npos
                ? "it is empty (an NDJSON record is one JSON text)"
                : "it contains a raw newline at byte " + std::to_string(newline_at) +
                      " (an NDJSON record is a single line: escape newlines in JSON strings as \\n)";
        throw std::invalid_argument("ndjson_file_writer: record " + std::to_string(records_appended_ + 1) +
                                    " for " + quoted_path() + " rejected: " + why +
                                    "; nothing of it was written");
    }

    std::string quoted_path() const { return "'" + path_string_ + "'"; }

    io_loop* loop_;
    std::filesystem::path path_;
    std::string path_string_; // the path open() hands to the kernel: must outlive the open
    ndjson_file_options options_;
    int fd_ = -1;
    bool opening_ = false;
    bool closing_ = false;
    bool closed_ = false;
    bool writing_ = false;
    std::uint64_t offset_ = 0;

    std::string active_; // records appended now
    std::string flight_; // the buffer the kernel is writing (empty when no write is in flight)
    std::uint64_t active_records_ = 0;
    detail::waiter_list waiters_; // coroutines waiting for the write in flight
    std::exception_ptr failure_;

    std::uint64_t records_appended_ = 0;
    std::uint64_t records_written_ = 0;
    std::uint64_t records_rejected_ = 0;
    std::uint64_t bytes_appended_ = 0;
    std::uint64_t bytes_written_ = 0;
    std::uint64_t bytes_dropped_ = 0; // appended, then abandoned because a write failed
    std::uint64_t writes_ = 0;
};

namespace detail {

using ndjson_writer_ptr = std::shared_ptr<ndjson_file_writer>;

/// The writer a collector's setup stored in its context (std::any needs a copyable value, hence the
/// shared_ptr).
inline ndjson_file_writer& ndjson_writer_of(collector_context& ctx) {
    auto* writer = std::any_cast<ndjson_writer_ptr>(&ctx.state());
    if (writer == nullptr || !*writer)
        throw std::logic_error("ndjson collector '" + ctx.key() +
                               "': no writer in the context (setup did not run)");
    return **writer;
}

inline task<void> ndjson_setup(collector_context& ctx, std::filesystem::path path,
                               ndjson_file_options options) {
    auto writer = std::make_shared<ndjson_file_writer>(ctx.loop(), std::move(path), options);
    co_await writer->open();
    ctx.state() = writer; // only an open writer is ever stored
}

inline task<void> ndjson_teardown(collector_context& ctx) {
    auto* slot = std::any_cast<ndjson_writer_ptr>(&ctx.state());
    if (slot == nullptr || !*slot) co_return;
    ndjson_writer_ptr writer = *slot; // keeps it alive across the close whatever happens to the state
    co_await writer->close();
}

} // namespace detail

/// A collector that writes each payload routed to it as one line of the NDJSON file at `path`.
/// `format(const T&, std::string& out)` appends the record's JSON text to `out` (ndjson_append_string
/// helps with strings). Setup opens the file (truncating it with ndjson_open_mode::truncate), the
/// processor formats and buffers, teardown writes what is left and closes. A payload's Ok means it is
/// buffered: a failed write is reported by the payload whose append triggered it, by every later
/// payload and by teardown (stop_report::teardown_errors).
template <class T, class Format>
    requires std::invocable<Format&, const T&, std::string&> && std::copy_constructible<Format>
collector<T, void> ndjson_collector(std::string key, std::filesystem::path path,
                                   std::vector<std::string> topics, Format format,
                                   ndjson_file_options options = {}) {
    collector<T, void> c;
    c.key = std::move(key);
    c.topics = std::move(topics);
    // Not a coroutine: the record is formatted into the writer's buffer before this returns, so the
    // task it hands back refers to nothing of this lambda.
    c.processor = [format = std::move(format)](const payload<T>& p,
                                               collector_context& ctx) mutable -> task<void> {
        ndjson_file_writer& writer = detail::ndjson_writer_of(ctx);
        if (writer.buffer_with([&](std::string& out) { format(p.value, out); })) return writer.flush();
        return detail::ndjson_ready();
    };
    c.setup = [path = std::move(path), options](collector_context& ctx) {
        return detail::ndjson_setup(ctx, path, options);
    };
    c.teardown = [](collector_context& ctx) { return detail::ndjson_teardown(ctx); };
    return c;
}

} // namespace sluice
