#pragma once

// The writing half of a disk_buffer. append() frames a record (length, id, CRC32C) into an in-memory
// block and returns its id; a full block (block_bytes) is written in the background while appends fill
// the next one (double buffering, so framing and CRCs can overlap the kernel's copy), and everything
// buffered is written by append_batch() (one write per batch), flush(), sync() and close(). Records are
// durable only once written and fsynced: with fsync_policy::every_batch every write is followed by
// fdatasync (before the call returns, for append_batch and flush); with `interval` a write syncs when the
// last sync is older than fsync_interval (flush() too, so a caller flushing on a timer bounds the
// window); with `os` the kernel decides. A write that fails (ENOSPC, EFBIG, EIO) is rolled back: the
// files are truncated to where they were (a segment it created is removed) and the error names the file.
// The records of the call that failed are not kept (their ids are reused); records of calls that
// returned are never dropped: they wait in memory for the next write (a failed background write is
// retried by the next append that needs one, which throws if it fails again). The buffer never exceeds
// max_bytes: an append that would is refused with disk_buffer_full, the caller's backpressure signal.

#include <algorithm>
#include <array>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <sluice/codec/compression.hpp>
#include <sluice/codec/crc32c.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/disk/async_gate.hpp>
#include <sluice/delivery/disk/checkpoint.hpp>
#include <sluice/delivery/disk/segment_format.hpp>
#include <sluice/delivery/disk/segment_table.hpp>
#include <sluice/io/loop.hpp>

namespace sluice::detail::disk {

/// Framed records not yet in a segment, with what the reader and acknowledgements know of them.
struct pending_records {
    byte_buffer bytes;
    std::vector<std::uint64_t> done; ///< bit i: record first_id + i acknowledged
    std::size_t stable = 0;          ///< bytes of calls that returned: what the reader may see
    std::size_t read_pos = 0;        ///< where the reader is in `bytes`
    record_id first_id = 0;

    [[nodiscard]] bool is_done(record_id id) const noexcept {
        const std::uint64_t i = id - first_id;
        return i / 64 < done.size() && ((done[i / 64] >> (i % 64)) & 1u) != 0;
    }
    bool mark(record_id id) {
        const std::uint64_t i = id - first_id;
        if (done.size() <= i / 64) done.resize(static_cast<std::size_t>(i / 64 + 1), 0);
        const std::uint64_t bit = std::uint64_t{1} << (i % 64);
        if ((done[i / 64] & bit) != 0) return false;
        done[i / 64] |= bit;
        return true;
    }
    void reset(record_id first) noexcept {
        bytes.clear();
        done.clear();
        stable = 0;
        read_pos = 0;
        first_id = first;
    }
    void swap(pending_records& o) noexcept {
        bytes.swap(o.bytes);
        done.swap(o.done);
        std::swap(stable, o.stable);
        std::swap(read_pos, o.read_pos);
        std::swap(first_id, o.first_id);
    }
};

/// A run of frames written to one segment by a write.
struct written_chunk {
    std::uint64_t seq;
    std::uint64_t begin;
    std::uint64_t end;
    record_id first_id;
    record_id end_id;
};

/// The largest record a buffer with these options takes.
[[nodiscard]] inline std::size_t max_record_bytes(const disk_buffer_options& o) noexcept {
    const std::uint64_t overhead =
        segment_header_size + record_header_size + (o.codec != compression::none ? block_header_size : 0);
    std::uint64_t cap = std::min(o.segment_bytes, o.max_bytes);
    cap = cap > overhead ? cap - overhead : 0;
    cap = std::min<std::uint64_t>(cap, std::numeric_limits<std::uint32_t>::max() - 2 * max_header_size);
    return static_cast<std::size_t>(std::min<std::uint64_t>(cap, std::numeric_limits<std::size_t>::max()));
}

class segment_writer {
public:
    using clock = std::chrono::steady_clock;

    segment_writer(buffer_state& state, checkpoint_writer& checkpoint)
        : st_(&state), ck_(&checkpoint), encoder_(state.options.codec, state.options.zstd_level),
          max_record_(max_record_bytes(state.options)), gate_(*state.loop), last_sync_(clock::now()) {}
    segment_writer(const segment_writer&) = delete;
    segment_writer& operator=(const segment_writer&) = delete;
    ~segment_writer() { release_fds(); }

    /// Called after every committed write with its chunks (the reader follows the writer with it).
    std::function<void(std::span<const written_chunk>)> on_commit;

    [[nodiscard]] std::size_t max_record() const noexcept { return max_record_; }
    [[nodiscard]] pending_records& buffered() noexcept { return raw_; }
    [[nodiscard]] pending_records& in_flight() noexcept { return flight_; }
    [[nodiscard]] std::uint64_t bytes_buffered() const noexcept { return raw_.bytes.size() + flight_.bytes.size(); }
    /// Ids below are in segment files.
    [[nodiscard]] record_id written_end() const noexcept { return flight_.first_id; }
    [[nodiscard]] std::uint64_t active_seq() const noexcept { return active_seq_; }

    /// After recovery: appends continue at st.next_id.
    void start() {
        raw_.reset(st_->next_id);
        flight_.reset(st_->next_id);
    }

    task<record_id> append(std::span<const std::byte> record) {
        check_record_size(record.size());
        co_await gate_.lock();
        gate_guard guard(gate_);
        check_open();
        const std::uint64_t add = record_header_size + record.size();
        if (flight_error_ || (flight_running_ && (raw_.bytes.size() + add >= st_->options.block_bytes || !fits(add, 1))))
            co_await settle_flight();
        if (!fits(add, 1)) [[unlikely]]
            ensure_capacity(add, 1);
        check_ids(1);
        const record_id id = frame(record);
        end_call();
        if (raw_.bytes.size() >= st_->options.block_bytes) {
            start_flight();
            // The loop submits queued I/O when it runs: give it one turn so the write starts now,
            // while the next block fills, not when this coroutine next waits.
            if (flight_running_) co_await st_->loop->schedule();
        }
        co_return id;
    }

    task<record_id> append_batch(std::span<const std::span<const std::byte>> records) {
        std::uint64_t bytes = 0;
        for (const auto& r : records) {
            check_record_size(r.size());
            bytes += record_header_size + r.size();
        }
        co_await gate_.lock();
        gate_guard guard(gate_);
        check_open();
        if (records.empty()) co_return st_->next_id;
        co_await settle_flight();
        ensure_capacity(bytes, records.size());
        check_ids(records.size());
        const rollback_point rb = mark();
        raw_.bytes.reserve(raw_.bytes.size() + static_cast<std::size_t>(bytes));
        const record_id first = st_->next_id;
        for (const auto& r : records) frame(r);
        co_await drain(rb);
        end_call();
        co_return first;
    }

    /// flush(): writes what is buffered, syncs per the policy (or always, with `force_sync`) and
    /// checkpoints acknowledgements.
    task<void> flush(bool force_sync) {
        co_await gate_.lock();
        gate_guard guard(gate_);
        check_open();
        co_await settle_flight();
        co_await drain(mark());
        if (active_dirty_ && (force_sync || (st_->options.fsync == fsync_policy::interval && sync_due())))
            co_await sync_active();
        if (st_->acks_dirty || st_->segments.has_retired()) co_await ck_->write_making_room();
    }

    task<void> close() {
        if (st_->closed) co_return;
        co_await gate_.lock();
        gate_guard guard(gate_);
        if (st_->closed) co_return;
        co_await settle_flight();
        co_await drain(mark());
        if (active_dirty_ && st_->options.fsync != fsync_policy::os) co_await sync_active();
        retire_active_if_done();
        if (st_->acks_dirty || st_->segments.has_retired()) co_await ck_->write_making_room();
        st_->closed = true;
        release_fds();
    }

    /// Acknowledges a record not written yet; false when `id` is already in a segment.
    bool acknowledge_in_memory(record_id id) {
        if (id < flight_.first_id) return false;
        if (id >= raw_.first_id ? raw_.mark(id) : flight_.mark(id)) counted_ack();
        return true;
    }

    void counted_ack() noexcept {
        ++st_->stats.records_acked;
        --st_->pending;
        st_->acks_dirty = true;
    }

    void release_fds() noexcept {
        if (active_fd_ >= 0) ::close(active_fd_);
        active_fd_ = -1;
    }

private:
    /// Where to roll back to when a call's write fails: the state before the call framed its records.
    struct rollback_point {
        std::size_t raw_size;
        record_id next_id;
    };

    /// A segment file created by a write that has not committed yet.
    struct created_segment {
        std::uint64_t seq;
        std::string path;
        int fd;
        record_id first_id;
    };

    void check_record_size(std::size_t n) const {
        check_open();
        if (n > max_record_) [[unlikely]]
            throw std::invalid_argument("disk_buffer: a " + std::to_string(n) + "-byte record is larger than " +
                                        std::to_string(max_record_) +
                                        " bytes, the most one segment holds (segment_bytes " +
                                        std::to_string(st_->options.segment_bytes) + ", max_bytes " +
                                        std::to_string(st_->options.max_bytes) + "); nothing was appended");
    }

    void check_open() const {
        if (st_->closed) throw std::logic_error("disk_buffer: " + buffer_state::quoted(st_->dir) + " is closed");
    }

    /// Refuses to hand out implausible ids. A buffer cannot get near max_record_id by appending (146
    /// years at a billion records a second); only damaged files can claim ids that high, valid CRCs and
    /// all. The records they hold are still read and delivered; appends fail with this error (nothing
    /// accepted, nothing lost) until the directory is drained and removed.
    void check_ids(std::uint64_t n) const {
        if (n > max_record_id - st_->next_id) [[unlikely]]
            throw std::length_error("disk_buffer: record ids exhausted in " + buffer_state::quoted(st_->dir) +
                                    " (next id " + std::to_string(st_->next_id) +
                                    "): its files claim ids no buffer reaches by appending, a sign of damage; "
                                    "deliver what it holds, then remove the directory; nothing was appended");
    }

    rollback_point mark() const noexcept { return {raw_.bytes.size(), st_->next_id}; }

    /// Frames `record` into the buffer: header, then the payload.
    record_id frame(std::span<const std::byte> record) {
        const record_id id = st_->next_id++;
        std::byte* p = raw_.bytes.extend(record_header_size + record.size());
        if (!record.empty()) std::memcpy(p + record_header_size, record.data(), record.size());
        write_record_header(p, static_cast<std::uint32_t>(record.size()), id, crc32c(record));
        ++st_->pending;
        ++st_->stats.records_appended;
        return id;
    }

    /// A call that appended returns: its records become visible to read_next() and acknowledge().
    void end_call() noexcept {
        raw_.stable = raw_.bytes.size();
        st_->stable_next_id = st_->next_id;
    }

    /// Bytes that `raw` framed bytes of `records` records take once written, at most: with a codec,
    /// a block header per block (a block holds at least one record, and all but the last at least
    /// block_bytes) and no compression at all.
    [[nodiscard]] std::uint64_t written_estimate(std::uint64_t raw, std::uint64_t records) const noexcept {
        if (st_->options.codec == compression::none) return raw;
        return raw + block_header_size * std::min(records, raw / st_->options.block_bytes + 1);
    }

    /// Bytes on disk once `add` more framed bytes (of `records` records) are written too.
    [[nodiscard]] std::uint64_t projected(std::uint64_t add, std::uint64_t records) const noexcept {
        const std::uint64_t in_memory = st_->next_id - flight_.first_id;
        return st_->segments.disk_bytes() + written_estimate(bytes_buffered() + add, in_memory + records) +
               segment_header_size;
    }
    [[nodiscard]] bool fits(std::uint64_t add, std::uint64_t records) const noexcept {
        return projected(add, records) <= st_->options.max_bytes;
    }

    /// Throws disk_buffer_full unless `add` more framed bytes (of `records` records) fit under
    /// max_bytes. Retires a fully acknowledged segment being written first, since only then is its
    /// space reclaimable.
    void ensure_capacity(std::uint64_t add, std::uint64_t records) {
        const std::uint64_t limit = st_->options.max_bytes;
        if (written_estimate(add, records) + segment_header_size > limit)
            throw std::invalid_argument("disk_buffer: a batch of " + std::to_string(add) +
                                        " framed bytes can never fit under max_bytes " + std::to_string(limit) +
                                        "; nothing was appended");
        if (fits(add, records)) return;
        if (!flight_running_) retire_active_if_done();
        if (fits(add, records)) return;
        const std::uint64_t on_disk = st_->segments.disk_bytes();
        throw disk_buffer_full("disk_buffer: " + buffer_state::quoted(st_->dir) + " is full: " + std::to_string(add) +
                                   " more bytes would need " + std::to_string(projected(add, records)) +
                                   " of max_bytes " + std::to_string(limit) + " (" + std::to_string(on_disk) +
                                   " in segments, " + std::to_string(bytes_buffered()) +
                                   " buffered); acknowledge records to free space",
                               add, on_disk + bytes_buffered(), limit);
    }

    /// The bytes to write for `src`: its framed records, or blocks of them compressed.
    std::span<const std::byte> encode(const byte_buffer& src) {
        const disk_buffer_options& o = st_->options;
        if (o.codec == compression::none) return src.view();
        enc_.clear();
        const std::uint64_t max_raw = o.segment_bytes - segment_header_size - block_header_size;
        std::size_t pos = 0;
        while (pos < src.size()) {
            const std::size_t start = pos;
            const record_id first = load64(src.data() + pos + 8);
            std::uint32_t count = 0;
            while (pos < src.size()) {
                const std::size_t fs = record_header_size + load32(src.data() + pos + 4);
                if (count != 0 && (pos - start >= o.block_bytes || pos - start + fs > max_raw)) break;
                pos += fs;
                ++count;
            }
            append_block(src.view().subspan(start, pos - start), first, count);
        }
        return enc_.view();
    }

    /// Compresses one block of framed records into enc_ (stored as it is when it does not shrink).
    void append_block(std::span<const std::byte> in, record_id first, std::uint32_t count) {
        const std::size_t at = enc_.size();
        enc_.extend(block_header_size + std::max(encoder_.max_compressed_size(in.size()), in.size()));
        std::byte* out = enc_.data() + at + block_header_size;
        std::size_t n = encoder_.compress(in, std::span<std::byte>(out, enc_.size() - at - block_header_size));
        compression used = st_->options.codec;
        // Incompressible, or so compressible that recovery would find it implausible: stored as it is.
        if (n >= in.size() || n < count) {
            std::memcpy(out, in.data(), in.size());
            n = in.size();
            used = compression::none;
        }
        write_block_header(enc_.data() + at, static_cast<std::uint32_t>(n), first, count,
                           static_cast<std::uint32_t>(in.size()), used, crc32c(out, n));
        enc_.truncate(at + block_header_size + n);
    }

    // Writing goes through `flight_`: the records being written. A background write (start_flight)
    // takes the full block from raw_ and appends go on filling raw_; a write the caller waits for
    // (drain) moves all of raw_ there first. At most one write runs at a time: every writer calls
    // settle_flight() first, under the gate.

    /// Moves the buffered records to flight_ (which is empty).
    void to_flight() noexcept {
        flight_.swap(raw_);
        raw_.reset(st_->next_id);
    }

    /// Starts writing the full block in the background.
    void start_flight() {
        to_flight();
        flight_running_ = true;
        flight_task_ = run_flight();
        flight_task_.handle().resume(); // runs until the write is submitted
    }

    task<void> run_flight() {
        try {
            const bool sealed = co_await write_flight();
            co_await after_write(sealed);
        } catch (...) {
            flight_error_ = std::current_exception();
            flight_records_back_ = !flight_.bytes.empty();
            if (flight_records_back_) flight_back_async();
        }
        flight_running_ = false;
        if (auto h = std::exchange(flight_waiter_, std::coroutine_handle<>{})) st_->loop->post(h);
    }

    struct flight_wait {
        segment_writer* self;
        bool await_ready() const noexcept { return !self->flight_running_; }
        void await_suspend(std::coroutine_handle<> h) noexcept { self->flight_waiter_ = h; }
        void await_resume() const noexcept {}
    };

    /// Waits for the background write. When it failed, retries its records now (throwing if that fails
    /// too) or, when only its sync failed, rethrows that. Afterwards nothing runs in the background.
    task<void> settle_flight() {
        if (flight_running_) co_await flight_wait{this};
        if (!flight_error_) co_return;
        std::exception_ptr e = std::exchange(flight_error_, nullptr);
        if (std::exchange(flight_records_back_, false))
            co_await drain(mark());
        else
            std::rethrow_exception(e);
    }

    /// Writes everything buffered and waits for it, then syncs per the policy. All or nothing: when the
    /// write fails, the files are cut back, the records framed since `rb` are dropped (earlier ones stay
    /// buffered) and the error is rethrown. A failing sync after the write leaves the records written
    /// and throws. No background write may be running.
    task<void> drain(rollback_point rb) {
        if (raw_.bytes.empty()) co_return;
        to_flight();
        bool sealed = false;
        try {
            sealed = co_await write_flight();
        } catch (...) {
            flight_back_sync(rb);
            throw;
        }
        co_await after_write(sealed);
    }

    /// After a drain failed: the records of the failing call are dropped, the rest go back to raw_.
    void flight_back_sync(rollback_point rb) noexcept {
        const std::uint64_t dropped = st_->next_id - rb.next_id;
        st_->pending -= dropped;
        st_->stats.records_appended -= dropped;
        st_->next_id = rb.next_id;
        flight_.bytes.truncate(rb.raw_size);
        flight_.done.resize(std::min<std::size_t>(
            flight_.done.size(), static_cast<std::size_t>((st_->next_id - flight_.first_id + 63) / 64)));
        flight_.stable = std::min(flight_.stable, flight_.bytes.size());
        flight_.read_pos = std::min(flight_.read_pos, flight_.stable);
        flight_.swap(raw_); // raw_ was empty: the gate kept appends out
        flight_.reset(raw_.first_id);
    }

    /// After a background write failed: its records go back in front of those appended meanwhile.
    void flight_back_async() {
        const record_id count = raw_.first_id - flight_.first_id;
        const std::size_t flight_bytes = flight_.bytes.size();
        std::byte* tail = flight_.bytes.extend(raw_.bytes.size());
        if (!raw_.bytes.empty()) std::memcpy(tail, raw_.bytes.data(), raw_.bytes.size());
        flight_.done.resize(static_cast<std::size_t>((st_->next_id - flight_.first_id + 63) / 64), 0);
        for (std::size_t w = 0; w < raw_.done.size(); ++w)
            for (unsigned b = 0; b < 64; ++b)
                if (((raw_.done[w] >> b) & 1u) != 0) {
                    const std::uint64_t i = count + w * 64 + b;
                    flight_.done[i / 64] |= std::uint64_t{1} << (i % 64);
                }
        flight_.stable = flight_bytes + raw_.stable;
        flight_.read_pos = flight_.read_pos + raw_.read_pos;
        flight_.swap(raw_);
        flight_.reset(raw_.first_id);
    }

    task<void> after_write(bool sealed) {
        const fsync_policy policy = st_->options.fsync;
        if (policy == fsync_policy::every_batch || (policy == fsync_policy::interval && sync_due()))
            co_await sync_active();
        if (sealed) {
            // A segment boundary: checkpoint (best effort: flush() reports failures), so that the
            // checkpoint knows where the sealed segment ends.
            try {
                co_await ck_->write();
            } catch (const std::system_error&) {
            }
        }
    }

    /// Writes flight_ to the segments, starting new ones as needed, and commits. On failure every file
    /// touched is cut back (or removed, if created here) and the error names the file; flight_ is left
    /// as it was. Returns true when a segment was sealed.
    task<bool> write_flight() {
        co_await ck_->free_retired(); // their space first
        chunks_.clear();
        created_.clear();
        std::uint64_t seq = active_seq_;
        int fd = active_fd_;
        const std::uint64_t committed_seq = active_seq_;
        const std::uint64_t committed_size = active_seq_ != 0 ? st_->segments.at(active_seq_)->size : 0;
        std::uint64_t size = committed_size;
        std::string failing_path = committed_seq != 0 ? st_->segments.at(committed_seq)->path : std::string();
        const std::uint64_t limit = st_->options.segment_bytes;
        try {
            const std::span<const std::byte> bytes = encode(flight_.bytes);
            std::size_t pos = 0;
            while (pos < bytes.size()) {
                if (fd < 0) {
                    seq = st_->next_seq + created_.size();
                    failing_path = (st_->options.directory / segment_name(seq)).string();
                    fd = co_await create_segment(seq, failing_path, own_frame_at(bytes.data() + pos).first);
                    size = segment_header_size;
                }
                // As many whole frames as fit in this segment (all of them, usually: no need to walk).
                std::size_t end = pos;
                const record_id first = own_frame_at(bytes.data() + pos).first;
                record_id last_end = first;
                if (pos == 0 && size + bytes.size() <= limit) {
                    end = bytes.size();
                    last_end = raw_.first_id; // flight_ holds exactly the ids below raw_'s
                }
                while (end < bytes.size()) {
                    const frame_span f = own_frame_at(bytes.data() + end);
                    if (size + (end - pos) + f.size > limit) break;
                    end += f.size;
                    last_end = f.first + f.count;
                }
                if (end == pos) { // the next frame needs a new segment
                    if (st_->options.fsync != fsync_policy::os) {
                        co_await st_->loop->fdatasync(fd);
                        ++st_->stats.fsyncs;
                    }
                    fd = -1;
                    continue;
                }
                co_await st_->loop->write_all(fd, bytes.subspan(pos, end - pos), size);
                chunks_.push_back(written_chunk{seq, size, size + (end - pos), first, last_end});
                size += end - pos;
                pos = end;
            }
        } catch (const std::system_error& e) {
            rollback_files(committed_seq, committed_size);
            throw std::system_error(e.code(), "disk_buffer: cannot write " + buffer_state::quoted(failing_path) +
                                                  " (rolled back: the records of this call are not stored)");
        } catch (...) {
            rollback_files(committed_seq, committed_size);
            throw;
        }
        co_return commit(committed_seq, seq, fd);
    }

    /// Creates segment `seq` and writes its header; the write in progress owns it until commit.
    task<int> create_segment(std::uint64_t seq, const std::string& path, record_id first) {
        created_.push_back(created_segment{seq, path, -1, first});
        open_path_ = path;
        const int fd = co_await st_->loop->open(open_path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
        created_.back().fd = fd;
        write_segment_header(segment_header_.data(), seq, first);
        co_await st_->loop->write_all(fd, segment_header_, 0);
        if (st_->options.fsync != fsync_policy::os) co_await st_->loop->fsync(st_->dir_fd); // the new name, durably
        co_return fd;
    }

    void rollback_files(std::uint64_t committed_seq, std::uint64_t committed_size) noexcept {
        for (auto& c : created_) {
            if (c.fd >= 0) ::close(c.fd);
            ::unlink(c.path.c_str());
        }
        created_.clear();
        chunks_.clear();
        enc_.clear();
        if (committed_seq != 0) {
            // Cutting back a partial write; should even this fail, recovery cuts records whose ids
            // reappear later ("stale"), so the reused ids cannot be delivered twice.
            if (::ftruncate(active_fd_, static_cast<off_t>(committed_size)) != 0) ++rollback_failures_;
        }
        ++st_->stats.write_errors;
        // Space may have run out: a fully acknowledged segment being written can go now.
        retire_active_if_done();
    }

    /// Makes a successful write visible. Returns true when a segment was sealed.
    bool commit(std::uint64_t committed_seq, std::uint64_t final_seq, int final_fd) {
        for (auto& c : created_) {
            segment s;
            s.seq = c.seq;
            s.path = c.path;
            s.first_id = c.first_id;
            s.end_id = c.first_id;
            s.size = segment_header_size;
            s.first_offset = segment_header_size; // its first record follows the header
            st_->segments.add(std::move(s));
        }
        st_->next_seq += created_.size();
        for (const auto& ch : chunks_) commit_chunk(ch);
        // Every segment but the last one written is full now.
        std::vector<std::uint64_t>& sealed = sealed_scratch_;
        sealed.clear();
        if (committed_seq != 0 && committed_seq != final_seq) {
            ::close(active_fd_);
            sealed.push_back(committed_seq);
        }
        for (auto& c : created_) {
            if (c.seq == final_seq) continue;
            ::close(c.fd);
            sealed.push_back(c.seq);
        }
        created_.clear();
        active_seq_ = final_seq;
        active_fd_ = final_fd;
        active_dirty_ = true;
        if (on_commit) on_commit(chunks_);
        chunks_.clear();
        enc_.clear();
        flight_.reset(raw_.first_id);
        st_->stable_next_id = std::max(st_->stable_next_id, raw_.first_id); // written: visible whatever the sync does
        bool sealed_any = false;
        for (std::uint64_t s : sealed) {
            segment* seg = st_->segments.at(s);
            if (seg == nullptr) continue;
            seg->sealed = true;
            sealed_any = true;
            if (seg->pending == 0) ck_->retire(s);
        }
        return sealed_any;
    }

    /// The records of one chunk join its segment: pending, unless acknowledged while in memory.
    void commit_chunk(const written_chunk& ch) {
        segment& s = *st_->segments.at(ch.seq);
        st_->segments.add_bytes(ch.end - ch.begin);
        s.size = ch.end;
        st_->stats.bytes_written += ch.end - ch.begin;
        s.grow(ch.end_id);
        if (flight_.done.empty()) {
            s.set_pending(ch.first_id, ch.end_id);
            return;
        }
        for (record_id id = ch.first_id; id < ch.end_id; ++id)
            if (!flight_.is_done(id)) s.set_pending(id, id + 1);
    }

    [[nodiscard]] bool sync_due() const noexcept { return clock::now() - last_sync_ >= st_->options.fsync_interval; }

    task<void> sync_active() {
        if (active_fd_ < 0 || !active_dirty_) co_return;
        active_dirty_ = false;
        try {
            co_await st_->loop->fdatasync(active_fd_);
        } catch (const std::system_error& e) {
            active_dirty_ = true;
            const segment* s = st_->segments.at(active_seq_);
            throw std::system_error(e.code(), "disk_buffer: fdatasync of " +
                                                  buffer_state::quoted(s != nullptr ? s->path : st_->dir) +
                                                  " failed: records written but not known to be durable");
        }
        last_sync_ = clock::now();
        ++st_->stats.fsyncs;
    }

public:
    /// Retires the segment being written when everything in it is acknowledged, so its space counts as
    /// free; the next write starts a new one.
    void retire_active_if_done() {
        if (active_seq_ == 0) return;
        const segment* s = st_->segments.at(active_seq_);
        if (s != nullptr && s->pending != 0) return;
        if (active_fd_ >= 0) ::close(active_fd_);
        active_fd_ = -1;
        active_dirty_ = false;
        if (s != nullptr) ck_->retire(active_seq_);
        active_seq_ = 0;
    }

private:
    buffer_state* st_;
    checkpoint_writer* ck_;
    block_codec encoder_;
    std::size_t max_record_;
    async_gate gate_;

    std::uint64_t active_seq_ = 0; // the segment written to (0: none yet)
    int active_fd_ = -1;
    bool active_dirty_ = false; // written since its last fdatasync
    clock::time_point last_sync_;
    std::uint64_t rollback_failures_ = 0;

    pending_records raw_;    // appended, not yet written
    pending_records flight_; // being written (ids below raw_'s)
    byte_buffer enc_;        // flight_ as compressed blocks
    task<void> flight_task_; // the background write (run_flight)
    bool flight_running_ = false;
    bool flight_records_back_ = false; // the failed background write's records are back in raw_
    std::exception_ptr flight_error_;
    std::coroutine_handle<> flight_waiter_;
    std::vector<written_chunk> chunks_;
    std::vector<created_segment> created_;
    std::vector<std::uint64_t> sealed_scratch_;
    std::array<std::byte, segment_header_size> segment_header_{};
    std::string open_path_; // a path the kernel may be reading
};

} // namespace sluice::detail::disk
