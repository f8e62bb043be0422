#pragma once

// disk_buffer: a bounded on-disk queue of records for one sink, so that events survive a sink outage and
// a crash. Records are appended to segment files through the io_loop, handed back in append order by
// read_next(), and acknowledged (in any order) once the sink has them; a segment file is deleted when
// every record in it is acknowledged. The contract is at-least-once: after a crash the unacknowledged
// records are replayed, and a few acknowledged ones may come back too.
//
// The parts, each in sluice/delivery/disk/:
//   types.hpp           options, records, the recovery report, statistics, disk_buffer_full
//   segment_format.hpp  the on-disk format and the one frame walker recovery and reading share
//   segment_table.hpp   the segments in memory and the state the parts share
//   checkpoint.hpp      the acknowledgement checkpoint
//   segment_writer.hpp  appending: framing, blocks, background writes, fsync policies, rollback
//   segment_reader.hpp  reading back in append order, CRC checks
//   recovery.hpp        open(): torn tails cut, corruption skipped and counted, lost records counted
//
// A disk_buffer belongs to its loop's thread: every member is called there. Calls may overlap (one
// coroutine appending while another reads); writes are serialised inside.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <unistd.h>

#include <sluice/codec/compression.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/disk/checkpoint.hpp>
#include <sluice/delivery/disk/recovery.hpp>
#include <sluice/delivery/disk/segment_reader.hpp>
#include <sluice/delivery/disk/segment_table.hpp>
#include <sluice/delivery/disk/segment_writer.hpp>
#include <sluice/delivery/disk/types.hpp>
#include <sluice/io/loop.hpp>

namespace sluice {

/// Segmented append-only files of CRC-framed records, written through the loop; records survive a crash until
/// acknowledged (docs/engine.md, "The disk buffer").
class disk_buffer {
public:
    /// Opens (creating it if needed) the buffer in options.directory and recovers what is there; see
    /// recovery() for what was found. Throws std::invalid_argument for unusable options (or a codec that
    /// is not compiled in), std::system_error naming the path for I/O errors, std::runtime_error when
    /// another disk_buffer has the directory open or a segment has a newer format version (nothing is
    /// changed then).
    static task<std::unique_ptr<disk_buffer>> open(io_loop& loop, disk_buffer_options options) {
        validate(options);
        std::unique_ptr<disk_buffer> buffer(new disk_buffer(loop, std::move(options)));
        co_await buffer->recover();
        co_return buffer;
    }

    disk_buffer(const disk_buffer&) = delete;
    disk_buffer& operator=(const disk_buffer&) = delete;

    /// Releases the descriptors only: records not yet written are lost (close() writes them). Destroying
    /// a buffer while one of its calls is suspended, or while append() has a block being written in the
    /// background (flush() or close() wait for it), is a bug.
    ~disk_buffer() { release_fds(); }

    // ---- writing --------------------------------------------------------------------------------

    /// Appends one record (copied; `record` must stay valid until the task completes) and returns its
    /// id. The record is buffered; once block_bytes are buffered they are written in the background
    /// while later appends fill the next block (an append waits when that one is full too). Throws
    /// std::invalid_argument when the record is larger than max_record_bytes() and disk_buffer_full
    /// when it does not fit under max_bytes (nothing appended either way). A background write that
    /// fails keeps its records buffered; the next append that needs the write retries it and throws
    /// its std::system_error when it fails again (that append's record is not appended).
    task<record_id> append(std::span<const std::byte> record) { return writer_.append(record); }

    /// The same for a text record.
    task<record_id> append(std::string_view record) {
        return writer_.append(std::as_bytes(std::span<const char>(record.data(), record.size())));
    }

    /// Appends `records` in order, writes them together with anything buffered (one write, more only
    /// when they span segments), syncs per the policy, and returns the first one's id (the others
    /// follow: first + 1, ...). All or nothing: on any error none of them is appended. An empty batch
    /// appends nothing and returns the next id.
    task<record_id> append_batch(std::span<const std::span<const std::byte>> records) {
        return writer_.append_batch(records);
    }

    /// Writes what is buffered, syncs per the policy (with `interval`, when it is due) and checkpoints
    /// acknowledgements. Throws std::system_error naming the file when a write fails; the buffered
    /// records stay buffered for the next attempt.
    task<void> flush() {
        check_open();
        return writer_.flush(false);
    }

    /// Like flush(), but always fdatasyncs what was written, whatever the policy.
    task<void> sync() {
        check_open();
        return writer_.flush(true);
    }

    /// Writes what is buffered, syncs (unless the policy is `os`), checkpoints acknowledgements and
    /// closes the files. Later calls throw std::logic_error. Closing twice does nothing.
    task<void> close() {
        co_await writer_.close();
        release_fds();
    }

    // ---- reading --------------------------------------------------------------------------------

    /// The next record not yet handed out, in append order (after open: the recovered unacknowledged
    /// ones first), or nothing when every record has been handed out. Records already acknowledged are
    /// skipped. Records not yet written are returned from memory. A record that fails its CRC is skipped
    /// and reported. Throws std::system_error for read errors and std::runtime_error for a block whose
    /// codec is not compiled in (the position is kept: nothing is skipped).
    task<std::optional<disk_record>> read_next() { return reader_.read_next(); }

    /// Marks a record delivered. Any order; acknowledging twice, or a record lost to corruption, does
    /// nothing. A segment is deleted once all its records are acknowledged and it is no longer written
    /// to. Throws std::out_of_range for an id that was never appended.
    void acknowledge(record_id id) {
        check_open();
        if (id >= state_.stable_next_id)
            throw std::out_of_range("disk_buffer: acknowledge(" + std::to_string(id) +
                                    "): no record with this id (next id is " + std::to_string(state_.stable_next_id) +
                                    ")");
        if (writer_.acknowledge_in_memory(id)) return;
        detail::disk::segment* s = state_.segments.find(id);
        if (s == nullptr || !s->mark(id)) return; // its segment is gone: already done
        writer_.counted_ack();
        if (s->pending == 0 && s->sealed) checkpoint_.retire(s->seq);
    }

    // ---- state ----------------------------------------------------------------------------------

    /// Counters and sizes now.
    [[nodiscard]] disk_buffer_stats stats() const noexcept {
        disk_buffer_stats s = state_.stats;
        s.bytes_on_disk = state_.segments.disk_bytes();
        s.bytes_buffered = writer_.bytes_buffered();
        s.records_pending = state_.pending;
        s.segments = state_.segments.size();
        return s;
    }

    /// What open() found and did.
    [[nodiscard]] const recovery_report& recovery() const noexcept { return state_.recovery; }

    /// The largest record append() takes with these options.
    [[nodiscard]] std::size_t max_record_bytes() const noexcept { return writer_.max_record(); }

    /// The options it was opened with.
    [[nodiscard]] const disk_buffer_options& options() const noexcept { return state_.options; }

    /// The next id append() will return.
    [[nodiscard]] record_id next_id() const noexcept { return state_.next_id; }

private:
    disk_buffer(io_loop& loop, disk_buffer_options options)
        : state_(loop, std::move(options)), checkpoint_(state_), writer_(state_, checkpoint_), reader_(state_, writer_) {
        writer_.on_commit = [this](std::span<const detail::disk::written_chunk> chunks) { reader_.after_commit(chunks); };
    }

    static void validate(const disk_buffer_options& o) {
        if (o.directory.empty()) throw std::invalid_argument("disk_buffer: options.directory is empty");
        if (o.segment_bytes < 512 || o.segment_bytes > std::numeric_limits<std::uint32_t>::max())
            throw std::invalid_argument("disk_buffer: segment_bytes must be between 512 bytes and 4 GiB, not " +
                                        std::to_string(o.segment_bytes));
        if (o.max_bytes < 512)
            throw std::invalid_argument("disk_buffer: max_bytes must be at least 512, not " +
                                        std::to_string(o.max_bytes));
        if (o.block_bytes == 0) throw std::invalid_argument("disk_buffer: block_bytes must not be 0");
        if (o.fsync_interval.count() < 0) throw std::invalid_argument("disk_buffer: fsync_interval is negative");
        if (o.codec != compression::none && o.codec != compression::lz4 && o.codec != compression::zstd)
            throw std::invalid_argument("disk_buffer: codec " + std::string(to_string(o.codec)) +
                                        " is not one the disk buffer stores (none, lz4, zstd)");
        (void)block_codec(o.codec, o.zstd_level); // throws std::invalid_argument for a codec not compiled in
    }

    task<void> recover() {
        detail::disk::recovery r(state_, checkpoint_);
        co_await r.run(lock_fd_);
        writer_.start();
    }

    void check_open() const {
        if (state_.closed)
            throw std::logic_error("disk_buffer: " + detail::disk::buffer_state::quoted(state_.dir) + " is closed");
    }

    void release_fds() noexcept {
        writer_.release_fds();
        reader_.release_fds();
        for (int* fd : {&state_.dir_fd, &lock_fd_}) {
            if (*fd >= 0) ::close(*fd);
            *fd = -1;
        }
    }

    detail::disk::buffer_state state_;
    detail::disk::checkpoint_writer checkpoint_;
    detail::disk::segment_writer writer_;
    detail::disk::segment_reader reader_;
    int lock_fd_ = -1;
};

} // namespace sluice
