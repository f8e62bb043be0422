#pragma once

// disk_buffer: a bounded on-disk queue of records for one sink, so that events survive a sink outage and
// a crash. Records are appended to segment files through the io_loop, handed back in append order by
// read_next(), and acknowledged (in any order) once the sink has them; a segment file is deleted when
// every record in it is acknowledged. The contract is at-least-once: after a crash the unacknowledged
// records are replayed, and a few acknowledged ones may come back too.
//
// Writing. append() frames a record (length, id, CRC32C) into an in-memory block and returns its id; a
// full block (block_bytes) is written in the background while appends fill the next one (double
// buffering, so framing and CRCs can overlap the kernel's copy), and everything buffered is written by
// append_batch() (one write per batch), flush(), sync() and close(). Records are durable only once
// written and fsynced: with fsync_policy::every_batch every write is followed by fdatasync (before the
// call returns, for append_batch and flush); with `interval` a write syncs when the last sync is older
// than fsync_interval (flush() too, so a caller flushing on a timer bounds the window); with `os` the
// kernel decides. A write that fails (ENOSPC, EFBIG, EIO) is rolled back: the files are truncated to
// where they were (a segment it created is removed) and the error names the file. The records of the
// call that failed are not kept (their ids are reused); records of calls that returned are never dropped:
// they wait in memory for the next write (a failed background write is retried by the next append that
// needs one, which throws if it fails again). The buffer never exceeds max_bytes: an append that would
// is refused with disk_buffer_full, which is the caller's backpressure signal.
//
// Reading. read_next() returns records from the files (first the ones recovered at open), then the ones
// not yet written (from memory, without forcing a write). Every record is checked against its CRC32C
// when read; a corrupt one is skipped, counted and reported through on_corruption.
//
// Recovery. open() scans every segment: a record or block cut short at the end of a file (a torn write)
// is cut off by truncating the file; a corrupt record (bad CRC, bad header) is skipped, counted and
// reported with its file and offset, and scanning resynchronises on the next valid header (headers carry
// a magic and their own CRC); everything valid is replayed unless the acknowledgement checkpoint says it
// was acknowledged. A file that is not a segment at all is renamed aside (*.corrupt), never deleted.
//
// On-disk format (little-endian), in `directory`:
//   NNNNNNNNNNNNNNNNNNNN.seg   segments, named by a 20-digit sequence number:
//     segment header, 40 bytes: "SLUICESG", u32 version (1), u32 flags (0), u64 sequence,
//       u64 id of the first record, u32 0, u32 CRC32C of bytes 0..35
//     then frames, one after the other:
//     record frame: A5 5C 'R' 01, u32 payload length, u64 record id, u32 CRC32C of the payload,
//       u32 CRC32C of header bytes 0..19, payload
//     block frame (codec lz4 or zstd): A5 5C 'B' 01, u32 stored length, u64 first record id, u32 record
//       count, u32 raw length, u8 codec (0: stored uncompressed, 1: lz4, 2: zstd), 3 x u8 0, u32 CRC32C of
//       the stored bytes, u32 0, u32 CRC32C of header bytes 0..35, stored bytes; decompressed, a block is
//       a run of record frames.
//   acks      acknowledgement checkpoint, replaced (write + rename) on flush(), sync(), close() and when
//             a segment fills: "SLUICEAK", u32 version (1), u32 entry count, u64 next sequence, u64 next
//             record id, then per segment: u64 sequence, u64 first id, u32 leading all-acknowledged
//             64-bit words, u32 word count, that many u64 bitmap words (bit i: record first id + 64 *
//             leading + i acknowledged); u32 CRC32C of everything before. Acknowledgements after the last
//             checkpoint are lost in a crash: those records are delivered again.
//   LOCK      flock()ed while a disk_buffer has the directory open.
//
// A disk_buffer belongs to its loop's thread: every member is called there. Calls may overlap (one
// coroutine appending while another reads); writes are serialised inside.

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <sluice/codec/compression.hpp>
#include <sluice/codec/crc32c.hpp>
#include <sluice/core/task.hpp>
#include <sluice/io/loop.hpp>

namespace sluice {

/// A record's position in a disk_buffer: increasing in append order, unique within the directory.
using record_id = std::uint64_t;

/// When a disk_buffer calls fdatasync.
enum class fsync_policy {
    every_batch, ///< after every write (append_batch, flush, a full block): durable when the call returns
    interval,    ///< at most every fsync_interval, on a write or flush() once the interval has passed
    os,          ///< never (the kernel writes back on its own); close() does not sync either
};

struct disk_buffer_options {
    /// Where the segment files live; created (with parents) if missing. One disk_buffer per directory.
    std::filesystem::path directory;
    /// Upper bound of the segment files' total size; appends beyond it throw disk_buffer_full.
    std::uint64_t max_bytes = std::uint64_t{1} << 30;
    /// A segment file grows to at most this size before the next one is started. A record must fit in
    /// one segment (max_record_bytes()).
    std::uint64_t segment_bytes = std::uint64_t{64} << 20;
    /// Compress blocks of records with lz4 or zstd (when compiled in; see compression_available()).
    compression codec = compression::none;
    /// zstd's level (1 is fast; negative levels are faster still).
    int zstd_level = 1;
    /// Appended records are written once this many bytes are buffered; with a codec, also the size of
    /// the blocks compressed as a unit (a larger block compresses better, a corrupt one loses more).
    std::size_t block_bytes = 64 * 1024;
    fsync_policy fsync = fsync_policy::every_batch;
    std::chrono::milliseconds fsync_interval{100};
    /// Called with a line that names the file, the offset and what was wrong, for every corrupt record
    /// or torn tail found at open or while reading (also collected in recovery()). Runs on the loop thread.
    std::function<void(const std::string&)> on_corruption;
};

/// A record handed out by read_next(). It owns its bytes.
struct disk_record {
    record_id id = 0;
    std::vector<std::byte> data;
};

/// Something wrong found in a file at open: what, where, and what it cost.
struct disk_buffer_issue {
    enum class kind {
        corrupt,  ///< bytes that failed their CRC or held no valid header: skipped, the rest delivered
        torn,     ///< the file ended inside a record (a write cut short) or in bytes holding no record: cut off
        stale,    ///< records left behind by a write that failed and could not be rolled back: cut off
        bad_file, ///< a file that is not a readable segment or checkpoint (renamed aside, or ignored)
    };
    kind what = kind::corrupt;
    std::filesystem::path file;
    std::uint64_t offset = 0;
    std::uint64_t bytes = 0;
    /// Records lost with these bytes, when the framing tells (0 for torn and stale tails, whose records
    /// were never acknowledged as written).
    std::uint64_t records = 0;
    std::string reason;

    /// One line for a log: "<file> at offset N: reason".
    [[nodiscard]] std::string describe() const {
        return file.string() + " at offset " + std::to_string(offset) + ": " + reason;
    }
};

/// What open() found.
struct recovery_report {
    std::uint64_t records_recovered = 0;       ///< unacknowledged records, replayed by read_next()
    std::uint64_t records_already_acked = 0;   ///< valid records the checkpoint marks acknowledged
    std::uint64_t corrupt_records_skipped = 0; ///< records lost to corruption (known from the framing)
    std::uint64_t torn_bytes_truncated = 0;    ///< bytes cut off the ends of files (torn or stale tails)
    std::size_t segments = 0;                  ///< segment files found
    std::size_t segments_deleted = 0;          ///< of those, deleted because nothing in them was pending
    std::vector<disk_buffer_issue> issues;
};

struct disk_buffer_stats {
    std::uint64_t bytes_on_disk = 0;           ///< total size of the segment files
    std::uint64_t bytes_buffered = 0;          ///< framed records appended but not yet written
    std::uint64_t bytes_written = 0;           ///< written to segment files since open
    std::uint64_t records_appended = 0;        ///< since open
    std::uint64_t records_recovered = 0;       ///< found unacknowledged at open
    std::uint64_t records_read = 0;            ///< handed out by read_next() since open
    std::uint64_t records_acked = 0;           ///< acknowledged since open
    std::uint64_t records_pending = 0;         ///< recovered or appended, and neither acknowledged nor lost
    std::uint64_t segments = 0;                ///< segment files
    std::uint64_t segments_deleted = 0;        ///< since open (recovery included)
    std::uint64_t corrupt_records_skipped = 0; ///< at open and while reading
    std::uint64_t write_errors = 0;            ///< failed writes, each rolled back
    std::uint64_t fsyncs = 0;
    std::uint64_t ack_checkpoints = 0; ///< acknowledgement checkpoints written
};

/// Thrown by append when the buffer would exceed max_bytes. Nothing of the call was appended and the
/// buffer is unchanged: acknowledge records (so their segments can go) and try again.
class disk_buffer_full : public std::runtime_error {
public:
    disk_buffer_full(const std::string& what, std::uint64_t requested, std::uint64_t used, std::uint64_t limit)
        : std::runtime_error(what), requested_(requested), used_(used), limit_(limit) {}
    /// Bytes the refused call needed.
    [[nodiscard]] std::uint64_t requested() const noexcept { return requested_; }
    /// Bytes in use (segments and buffered records) when it was refused.
    [[nodiscard]] std::uint64_t used() const noexcept { return used_; }
    [[nodiscard]] std::uint64_t limit() const noexcept { return limit_; }

private:
    std::uint64_t requested_;
    std::uint64_t used_;
    std::uint64_t limit_;
};

namespace detail::disk {

inline constexpr std::size_t segment_header_size = 40;
inline constexpr std::size_t record_header_size = 24;
inline constexpr std::size_t block_header_size = 40;
inline constexpr std::size_t max_header_size = 40;
inline constexpr std::uint32_t format_version = 1;
inline constexpr std::byte magic0{0xA5};
inline constexpr std::byte magic1{0x5C};
inline constexpr std::byte record_tag{'R'};
inline constexpr std::byte block_tag{'B'};
inline constexpr std::byte magic3{0x01};
inline constexpr char segment_magic[8] = {'S', 'L', 'U', 'I', 'C', 'E', 'S', 'G'};
inline constexpr char ack_magic[8] = {'S', 'L', 'U', 'I', 'C', 'E', 'A', 'K'};
inline constexpr std::size_t ack_header_size = 32;
inline constexpr std::size_t ack_entry_header_size = 24;
inline constexpr std::size_t read_chunk = 256 * 1024;

// Little-endian fields. On little-endian hosts one plain store or load each: byte-wise stores followed
// by the wider loads of a CRC would defeat store-to-load forwarding on the write path.
inline void store32(std::byte* p, std::uint32_t v) noexcept {
    if constexpr (std::endian::native == std::endian::little)
        std::memcpy(p, &v, 4);
    else
        for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline void store64(std::byte* p, std::uint64_t v) noexcept {
    if constexpr (std::endian::native == std::endian::little)
        std::memcpy(p, &v, 8);
    else
        for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline std::uint32_t load32(const std::byte* p) noexcept {
    std::uint32_t v = 0;
    if constexpr (std::endian::native == std::endian::little)
        std::memcpy(&v, p, 4);
    else
        for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(p[i]) << (8 * i);
    return v;
}
inline std::uint64_t load64(const std::byte* p) noexcept {
    std::uint64_t v = 0;
    if constexpr (std::endian::native == std::endian::little)
        std::memcpy(&v, p, 8);
    else
        for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    return v;
}

/// A growable byte array that does not zero what it adds (the write path fills every byte it adds).
class byte_buffer {
public:
    byte_buffer() = default;
    byte_buffer(const byte_buffer&) = delete;
    byte_buffer& operator=(const byte_buffer&) = delete;

    [[nodiscard]] std::byte* data() noexcept { return data_.get(); }
    [[nodiscard]] const std::byte* data() const noexcept { return data_.get(); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::span<const std::byte> view() const noexcept { return {data_.get(), size_}; }

    void reserve(std::size_t n) {
        if (n <= capacity_) return;
        const std::size_t cap = std::max(n, capacity_ + capacity_ / 2);
        std::unique_ptr<std::byte[]> bigger(new std::byte[cap]);
        if (size_ != 0) std::memcpy(bigger.get(), data_.get(), size_);
        data_ = std::move(bigger);
        capacity_ = cap;
    }
    /// Adds `n` bytes (uninitialised) and returns where they start.
    std::byte* extend(std::size_t n) {
        reserve(size_ + n);
        std::byte* p = data_.get() + size_;
        size_ += n;
        return p;
    }
    void truncate(std::size_t n) noexcept { size_ = std::min(size_, n); }
    void clear() noexcept { size_ = 0; }
    void swap(byte_buffer& o) noexcept {
        data_.swap(o.data_);
        std::swap(size_, o.size_);
        std::swap(capacity_, o.capacity_);
    }

private:
    std::unique_ptr<std::byte[]> data_;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

/// A frame's header, decoded.
struct frame_header {
    bool block = false;
    std::uint32_t stored = 0; ///< bytes after the header
    std::uint32_t raw = 0;    ///< a block's decompressed size; a record's payload size
    record_id first_id = 0;
    std::uint32_t count = 0; ///< records in it (1 for a record frame)
    std::uint32_t crc = 0;   ///< of the stored bytes
    compression codec = compression::none;
    std::size_t header_size = 0;
    [[nodiscard]] std::uint64_t frame_size() const noexcept { return header_size + stored; }
    [[nodiscard]] record_id end_id() const noexcept { return first_id + count; }
};

enum class header_check { valid, invalid, incomplete };

/// Decodes the frame header at the start of `b`. `incomplete` when `b` ends before the header does and
/// what there is could still be one.
inline header_check parse_frame_header(std::span<const std::byte> b, frame_header& h) noexcept {
    const std::byte want[4] = {magic0, magic1, b.size() > 2 ? b[2] : record_tag, magic3};
    for (std::size_t i = 0; i < 4 && i < b.size(); ++i)
        if (b[i] != want[i]) return header_check::invalid;
    if (b.size() < 4) return header_check::incomplete;
    if (b[2] != record_tag && b[2] != block_tag) return header_check::invalid;
    const bool block = b[2] == block_tag;
    const std::size_t hs = block ? block_header_size : record_header_size;
    if (b.size() < hs) return header_check::incomplete;
    if (crc32c(b.first(hs - 4)) != load32(b.data() + hs - 4)) return header_check::invalid;
    h.block = block;
    h.header_size = hs;
    h.stored = load32(b.data() + 4);
    h.first_id = load64(b.data() + 8);
    if (!block) {
        h.raw = h.stored;
        h.count = 1;
        h.crc = load32(b.data() + 16);
        h.codec = compression::none;
        return header_check::valid;
    }
    h.count = load32(b.data() + 16);
    h.raw = load32(b.data() + 20);
    const auto codec = static_cast<unsigned>(b[24]);
    h.crc = load32(b.data() + 28);
    if (codec > 2 || h.count == 0 || (codec == 0 && h.raw != h.stored)) return header_check::invalid;
    h.codec = static_cast<compression>(codec);
    return header_check::valid;
}

inline void write_record_header(std::byte* p, std::uint32_t length, record_id id, std::uint32_t crc) noexcept {
    // Built in one 8-byte word per field pair, so the header CRC's loads forward from these stores.
    constexpr std::uint32_t magic = static_cast<std::uint32_t>(magic0) | static_cast<std::uint32_t>(magic1) << 8 |
                                    static_cast<std::uint32_t>(record_tag) << 16 |
                                    static_cast<std::uint32_t>(magic3) << 24;
    store64(p, magic | static_cast<std::uint64_t>(length) << 32);
    store64(p + 8, id);
    store32(p + 16, crc);
    store32(p + 20, crc32c(p, 20));
}

inline void write_block_header(std::byte* p, std::uint32_t stored, record_id first, std::uint32_t count,
                               std::uint32_t raw, compression codec, std::uint32_t crc) noexcept {
    p[0] = magic0;
    p[1] = magic1;
    p[2] = block_tag;
    p[3] = magic3;
    store32(p + 4, stored);
    store64(p + 8, first);
    store32(p + 16, count);
    store32(p + 20, raw);
    p[24] = static_cast<std::byte>(codec);
    p[25] = p[26] = p[27] = std::byte{0};
    store32(p + 28, crc);
    store32(p + 32, 0);
    store32(p + 36, crc32c(p, 36));
}

inline void write_segment_header(std::byte* p, std::uint64_t seq, record_id first) noexcept {
    std::memcpy(p, segment_magic, 8);
    store32(p + 8, format_version);
    store32(p + 12, 0);
    store64(p + 16, seq);
    store64(p + 24, first);
    store32(p + 32, 0);
    store32(p + 36, crc32c(p, 36));
}

/// Size, first id and record count of a frame we wrote ourselves (no checks).
struct frame_span {
    std::size_t size;
    record_id first;
    std::uint32_t count;
};
inline frame_span own_frame_at(const std::byte* p) noexcept {
    if (p[2] == block_tag) return {block_header_size + load32(p + 4), load64(p + 8), load32(p + 16)};
    return {record_header_size + load32(p + 4), load64(p + 8), 1};
}

/// A window over a file, refilled by reads through the loop a chunk at a time.
class file_window {
public:
    void reset(int fd) noexcept {
        fd_ = fd;
        start_ = 0;
        len_ = 0;
    }
    [[nodiscard]] int fd() const noexcept { return fd_; }
    [[nodiscard]] bool has(std::uint64_t off, std::size_t n) const noexcept {
        return off >= start_ && off + n <= start_ + len_;
    }
    /// The bytes of the window from `off` on (`off` within the window).
    [[nodiscard]] std::span<const std::byte> at(std::uint64_t off) const noexcept {
        return {buf_.data() + (off - start_), static_cast<std::size_t>(start_ + len_ - off)};
    }
    /// Makes [off, off + n) available (less only where `limit` comes first) and returns the bytes from off.
    task<std::span<const std::byte>> load(io_loop& loop, std::uint64_t off, std::size_t n, std::uint64_t limit) {
        if (off >= limit) co_return std::span<const std::byte>{};
        n = static_cast<std::size_t>(std::min<std::uint64_t>(n, limit - off));
        if (has(off, n)) co_return at(off);
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(std::max(n, read_chunk), limit - off));
        buf_.clear();
        buf_.reserve(want);
        start_ = off;
        len_ = 0;
        while (len_ < want) {
            const int got = co_await loop.read(fd_, std::span<std::byte>(buf_.data() + len_, want - len_), off + len_);
            if (got == 0) break;
            len_ += static_cast<std::size_t>(got);
        }
        co_return at(off);
    }

private:
    int fd_ = -1;
    byte_buffer buf_;
    std::uint64_t start_ = 0;
    std::size_t len_ = 0;
};

/// The offset of the next valid frame header in [pos, limit), if any: how scanning resynchronises after
/// corrupt bytes. A candidate needs the magic and a header CRC that matches.
inline task<std::optional<std::uint64_t>> find_frame(io_loop& loop, file_window& w, std::uint64_t pos,
                                                     std::uint64_t limit) {
    while (pos < limit) {
        std::span<const std::byte> s = co_await w.load(loop, pos, 2 * max_header_size, limit);
        const bool at_end = pos + s.size() >= limit;
        // Candidates whose whole header is in `s` (all of them once `s` reaches the limit).
        const std::size_t scan = at_end ? s.size() : s.size() - (max_header_size - 1);
        for (std::size_t i = 0; i < scan; ++i) {
            if (s[i] != magic0) continue;
            frame_header h;
            if (parse_frame_header(s.subspan(i), h) == header_check::valid) co_return pos + i;
        }
        if (at_end) break;
        pos += scan;
    }
    co_return std::nullopt;
}

/// A FIFO lock for coroutines of one loop: the holder may suspend (on I/O) while others queue.
class async_gate {
public:
    explicit async_gate(io_loop& loop) noexcept : loop_(&loop) {}
    async_gate(const async_gate&) = delete;
    async_gate& operator=(const async_gate&) = delete;

    [[nodiscard]] auto lock() noexcept {
        struct awaiter {
            async_gate* gate;
            bool await_ready() const noexcept {
                if (gate->held_) return false;
                gate->held_ = true;
                return true;
            }
            void await_suspend(std::coroutine_handle<> h) { gate->waiters_.push_back(h); }
            void await_resume() const noexcept {}
        };
        return awaiter{this};
    }
    /// Hands the gate to the next waiter (which then runs from the loop), or frees it.
    void unlock() {
        if (waiters_.empty()) {
            held_ = false;
            return;
        }
        auto next = waiters_.front();
        waiters_.pop_front();
        loop_->post(next);
    }

private:
    io_loop* loop_;
    bool held_ = false;
    std::deque<std::coroutine_handle<>> waiters_;
};

class gate_guard {
public:
    explicit gate_guard(async_gate& g) noexcept : gate_(&g) {}
    gate_guard(const gate_guard&) = delete;
    gate_guard& operator=(const gate_guard&) = delete;
    ~gate_guard() { gate_->unlock(); }

private:
    async_gate* gate_;
};

inline std::string segment_name(std::uint64_t seq) {
    char name[32];
    std::snprintf(name, sizeof name, "%020llu.seg", static_cast<unsigned long long>(seq));
    return name;
}

/// The sequence number of a segment file name, or nothing for other files.
inline std::optional<std::uint64_t> parse_segment_name(std::string_view name) {
    if (name.size() != 24 || name.substr(20) != ".seg") return std::nullopt;
    std::uint64_t seq = 0;
    for (char c : name.substr(0, 20)) {
        if (c < '0' || c > '9') return std::nullopt;
        seq = seq * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return seq;
}

/// The acknowledgement state of one segment, as read from the checkpoint.
struct ack_entry {
    record_id first_id = 0;
    std::uint32_t skip_words = 0;
    std::vector<std::uint64_t> words;
    [[nodiscard]] bool acked(record_id id) const noexcept {
        if (id < first_id) return false;
        const std::uint64_t w = (id - first_id) / 64;
        if (w < skip_words) return true;
        const std::uint64_t i = w - skip_words;
        return i < words.size() && ((words[i] >> ((id - first_id) % 64)) & 1u) != 0;
    }
};

/// Closes descriptors on scope exit (error paths of open()).
struct fd_list {
    std::vector<int> fds;
    fd_list() = default;
    fd_list(const fd_list&) = delete;
    fd_list& operator=(const fd_list&) = delete;
    ~fd_list() {
        for (int fd : fds)
            if (fd >= 0) ::close(fd);
    }
};

} // namespace detail::disk

class disk_buffer {
public:
    using clock = std::chrono::steady_clock;

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
    task<record_id> append(std::span<const std::byte> record) {
        check_open();
        check_record_size(record.size());
        co_await write_gate_.lock();
        detail::disk::gate_guard guard(write_gate_);
        check_open();
        const std::uint64_t add = detail::disk::record_header_size + record.size();
        if (flight_error_ || (flight_running_ && (raw_.bytes.size() + add >= options_.block_bytes || !fits(add, 1))))
            co_await settle_flight();
        if (!fits(add, 1)) [[unlikely]]
            ensure_capacity(add, 1);
        const record_id id = frame(record);
        end_call();
        if (raw_.bytes.size() >= options_.block_bytes) {
            start_flight();
            // The loop submits queued I/O when it runs: give it one turn so the write starts now,
            // while the next block fills, not when this coroutine next waits.
            if (flight_running_) co_await loop_->schedule();
        }
        co_return id;
    }

    task<record_id> append(std::string_view record) {
        return append(std::as_bytes(std::span<const char>(record.data(), record.size())));
    }

    /// Appends `records` in order, writes them together with anything buffered (one write, more only
    /// when they span segments), syncs per the policy, and returns the first one's id (the others
    /// follow: first + 1, ...). All or nothing: on any error none of them is appended. An empty batch
    /// appends nothing and returns the next id.
    task<record_id> append_batch(std::span<const std::span<const std::byte>> records) {
        check_open();
        std::uint64_t bytes = 0;
        for (const auto& r : records) {
            check_record_size(r.size());
            bytes += detail::disk::record_header_size + r.size();
        }
        co_await write_gate_.lock();
        detail::disk::gate_guard guard(write_gate_);
        check_open();
        if (records.empty()) co_return next_id_;
        co_await settle_flight();
        ensure_capacity(bytes, records.size());
        const rollback_point rb = mark();
        raw_.bytes.reserve(raw_.bytes.size() + static_cast<std::size_t>(bytes));
        const record_id first = next_id_;
        for (const auto& r : records) frame(r);
        co_await drain(rb);
        end_call();
        co_return first;
    }

    /// Writes what is buffered, syncs per the policy (with `interval`, when it is due) and checkpoints
    /// acknowledgements. Throws std::system_error naming the file when a write fails; the buffered
    /// records stay buffered for the next attempt.
    task<void> flush() {
        check_open();
        co_await write_gate_.lock();
        detail::disk::gate_guard guard(write_gate_);
        check_open();
        co_await settle_flight();
        co_await drain(mark());
        if (options_.fsync == fsync_policy::interval && active_dirty_ && sync_due()) co_await sync_active();
        if (acks_dirty_) co_await write_ack_checkpoint();
    }

    /// Like flush(), but always fdatasyncs what was written, whatever the policy.
    task<void> sync() {
        check_open();
        co_await write_gate_.lock();
        detail::disk::gate_guard guard(write_gate_);
        check_open();
        co_await settle_flight();
        co_await drain(mark());
        if (active_dirty_) co_await sync_active();
        if (acks_dirty_) co_await write_ack_checkpoint();
    }

    /// Writes what is buffered, syncs (unless the policy is `os`), checkpoints acknowledgements and
    /// closes the files. Later calls throw std::logic_error. Closing twice does nothing.
    task<void> close() {
        if (closed_) co_return;
        co_await write_gate_.lock();
        detail::disk::gate_guard guard(write_gate_);
        if (closed_) co_return;
        co_await settle_flight();
        co_await drain(mark());
        if (active_dirty_ && options_.fsync != fsync_policy::os) co_await sync_active();
        retire_active_if_done();
        if (acks_dirty_) co_await write_ack_checkpoint();
        closed_ = true;
        release_fds();
    }

    // ---- reading --------------------------------------------------------------------------------

    /// The next record not yet handed out, in append order (after open: the recovered unacknowledged
    /// ones first), or nothing when every record has been handed out. Records already acknowledged are
    /// skipped. Records not yet written are returned from memory. A record that fails its CRC is skipped
    /// and reported. Throws std::system_error for read errors and std::runtime_error for a block whose
    /// codec is not compiled in (the position is kept: nothing is skipped).
    task<std::optional<disk_record>> read_next() {
        check_open();
        co_await read_gate_.lock();
        detail::disk::gate_guard guard(read_gate_);
        reader_at_end_ = false;
        for (;;) {
            check_open();
            if (dec_pos_ < dec_.size()) {
                if (auto r = next_decoded()) co_return r;
                continue;
            }
            auto it = segments_.lower_bound(read_seq_);
            if (it != segments_.end()) {
                if (it->first != read_seq_ || read_off_ == 0) { // 0: not positioned in it yet
                    read_seq_ = it->first;
                    read_off_ = detail::disk::segment_header_size;
                    read_expect_id_ = it->second.first_id;
                }
                if (read_off_ < it->second.size) {
                    if (read_fd_seq_ != read_seq_) {
                        co_await open_reader(it->second.path);
                        continue; // the segment may be gone meanwhile
                    }
                    if (auto r = co_await read_frame()) co_return r;
                    continue;
                }
                if (it->first != active_seq_) { // a sealed segment, read to its end
                    read_seq_ = it->first + 1;
                    read_off_ = 0;
                    continue;
                }
            }
            reader_at_end_ = true;
            co_return next_buffered();
        }
    }

    /// Marks a record delivered. Any order; acknowledging twice, or a record lost to corruption, does
    /// nothing. A segment is deleted once all its records are acknowledged and it is no longer written
    /// to. Throws std::out_of_range for an id that was never appended.
    void acknowledge(record_id id) {
        check_open();
        if (id >= stable_next_id_)
            throw std::out_of_range("disk_buffer: acknowledge(" + std::to_string(id) +
                                    "): no record with this id (next id is " + std::to_string(stable_next_id_) + ")");
        if (id >= flight_.first_id) { // not written yet
            if (id >= raw_.first_id ? raw_.mark(id) : flight_.mark(id)) counted_ack();
            return;
        }
        segment* s = find_segment(id);
        if (s == nullptr || !s->mark(id)) return; // its segment is gone: already done
        counted_ack();
        if (s->pending == 0 && s->sealed) delete_segment(*s);
    }

    // ---- state ----------------------------------------------------------------------------------

    [[nodiscard]] disk_buffer_stats stats() const noexcept {
        disk_buffer_stats s = stats_;
        s.bytes_on_disk = disk_bytes_;
        s.bytes_buffered = raw_.bytes.size() + flight_.bytes.size();
        s.records_pending = pending_;
        s.segments = segments_.size();
        return s;
    }

    /// What open() found and did.
    [[nodiscard]] const recovery_report& recovery() const noexcept { return recovery_; }

    /// The largest record append() takes with these options.
    [[nodiscard]] std::size_t max_record_bytes() const noexcept { return max_record_; }

    [[nodiscard]] const disk_buffer_options& options() const noexcept { return options_; }

    /// The next id append() will return.
    [[nodiscard]] record_id next_id() const noexcept { return next_id_; }

private:
    // ---- types ----

    struct segment {
        std::uint64_t seq = 0;
        std::string path;
        record_id first_id = 0; ///< ids of the segment: [first_id, end_id)
        record_id end_id = 0;
        std::uint64_t size = 0; ///< bytes written (and committed)
        std::uint64_t pending = 0;
        bool sealed = false;
        std::vector<std::uint64_t> done; ///< bit i: record first_id + i acknowledged, lost or absent
        /// Corrupt stretches [from, to) found at open (already reported): the reader jumps over them.
        std::vector<std::pair<std::uint64_t, std::uint64_t>> skip;

        [[nodiscard]] bool is_done(record_id id) const noexcept {
            if (id < first_id || id >= end_id) return true;
            const std::uint64_t i = id - first_id;
            return ((done[i / 64] >> (i % 64)) & 1u) != 0;
        }
        /// Marks `id` done; false when it already was.
        bool mark(record_id id) noexcept {
            if (is_done(id)) return false;
            const std::uint64_t i = id - first_id;
            done[i / 64] |= std::uint64_t{1} << (i % 64);
            --pending;
            return true;
        }
        void grow(record_id new_end) {
            end_id = std::max(end_id, new_end);
            done.resize(static_cast<std::size_t>((end_id - first_id + 63) / 64), 0);
        }
    };

    /// Where to roll back to when a call's write fails: the state before the call framed its records.
    struct rollback_point {
        std::size_t raw_size;
        record_id next_id;
    };

    /// Framed records not yet in a segment, with what the reader and acknowledgements know of them.
    struct pending_records {
        detail::disk::byte_buffer bytes;
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

    /// A run of frames written to one segment by a drain.
    struct written_chunk {
        std::uint64_t seq;
        std::uint64_t begin;
        std::uint64_t end;
        record_id first_id;
        record_id end_id;
    };

    /// A segment file created by a drain that has not committed yet.
    struct created_segment {
        std::uint64_t seq;
        std::string path;
        int fd;
        record_id first_id;
    };

    disk_buffer(io_loop& loop, disk_buffer_options options)
        : loop_(&loop), options_(std::move(options)), dir_(options_.directory.string()),
          ack_path_((options_.directory / "acks").string()), ack_tmp_path_((options_.directory / "acks.tmp").string()),
          encoder_(options_.codec, options_.zstd_level), max_record_(max_record_bytes(options_)), write_gate_(loop),
          read_gate_(loop) {
        last_sync_ = clock::now();
    }

    // ---- options ----

    static std::size_t max_record_bytes(const disk_buffer_options& o) noexcept {
        using namespace detail::disk;
        const std::uint64_t overhead =
            segment_header_size + record_header_size + (o.codec != compression::none ? block_header_size : 0);
        std::uint64_t cap = std::min(o.segment_bytes, o.max_bytes);
        cap = cap > overhead ? cap - overhead : 0;
        cap = std::min<std::uint64_t>(cap, std::numeric_limits<std::uint32_t>::max() - 2 * max_header_size);
        return static_cast<std::size_t>(std::min<std::uint64_t>(cap, std::numeric_limits<std::size_t>::max()));
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

    void check_record_size(std::size_t n) const {
        if (n > max_record_) [[unlikely]]
            throw std::invalid_argument("disk_buffer: a " + std::to_string(n) + "-byte record is larger than " +
                                        std::to_string(max_record_bytes()) +
                                        " bytes, the most one segment holds (segment_bytes " +
                                        std::to_string(options_.segment_bytes) + ", max_bytes " +
                                        std::to_string(options_.max_bytes) + "); nothing was appended");
    }

    void check_open() const {
        if (closed_) throw std::logic_error("disk_buffer: " + quoted(dir_) + " is closed");
    }

    static std::string quoted(const std::string& s) { return "'" + s + "'"; }

    // ---- appending ----

    rollback_point mark() const noexcept { return {raw_.bytes.size(), next_id_}; }

    /// Frames `record` into the buffer: header, then the payload.
    record_id frame(std::span<const std::byte> record) {
        const record_id id = next_id_++;
        std::byte* p = raw_.bytes.extend(detail::disk::record_header_size + record.size());
        if (!record.empty()) std::memcpy(p + detail::disk::record_header_size, record.data(), record.size());
        detail::disk::write_record_header(p, static_cast<std::uint32_t>(record.size()), id, crc32c(record));
        ++pending_;
        ++stats_.records_appended;
        return id;
    }

    /// A call that appended returns: its records become visible to read_next() and acknowledge().
    void end_call() noexcept {
        raw_.stable = raw_.bytes.size();
        stable_next_id_ = next_id_;
    }

    /// Bytes that `raw` framed bytes of `records` records take once written, at most: with a codec,
    /// a block header per block (a block holds at least one record, and all but the last at least
    /// block_bytes) and no compression at all.
    [[nodiscard]] std::uint64_t written_estimate(std::uint64_t raw, std::uint64_t records) const noexcept {
        if (options_.codec == compression::none) return raw;
        return raw + detail::disk::block_header_size * std::min(records, raw / options_.block_bytes + 1);
    }

    /// Bytes on disk once `add` more framed bytes (of `records` records) are written too.
    [[nodiscard]] std::uint64_t projected(std::uint64_t add, std::uint64_t records) const noexcept {
        const std::uint64_t in_memory = next_id_ - flight_.first_id;
        return disk_bytes_ + written_estimate(raw_.bytes.size() + flight_.bytes.size() + add, in_memory + records) +
               detail::disk::segment_header_size;
    }
    [[nodiscard]] bool fits(std::uint64_t add, std::uint64_t records) const noexcept {
        return projected(add, records) <= options_.max_bytes;
    }

    /// Throws disk_buffer_full unless `add` more framed bytes (of `records` records) fit under
    /// max_bytes. Retires a fully acknowledged segment being written first, since only then is its
    /// space reclaimable.
    void ensure_capacity(std::uint64_t add, std::uint64_t records) {
        if (written_estimate(add, records) + detail::disk::segment_header_size > options_.max_bytes)
            throw std::invalid_argument("disk_buffer: a batch of " + std::to_string(add) +
                                        " framed bytes can never fit under max_bytes " +
                                        std::to_string(options_.max_bytes) + "; nothing was appended");
        if (fits(add, records)) return;
        if (!flight_running_) retire_active_if_done();
        if (fits(add, records)) return;
        const std::uint64_t buffered = raw_.bytes.size() + flight_.bytes.size();
        throw disk_buffer_full("disk_buffer: " + quoted(dir_) + " is full: " + std::to_string(add) +
                                   " more bytes would need " + std::to_string(projected(add, records)) +
                                   " of max_bytes " + std::to_string(options_.max_bytes) + " (" +
                                   std::to_string(disk_bytes_) + " in segments, " + std::to_string(buffered) +
                                   " buffered); acknowledge records to free space",
                               add, disk_bytes_ + buffered, options_.max_bytes);
    }

    /// The bytes to write for `src`: its framed records, or blocks of them compressed.
    std::span<const std::byte> encode(const detail::disk::byte_buffer& src) {
        using namespace detail::disk;
        if (options_.codec == compression::none) return src.view();
        enc_.clear();
        const std::uint64_t max_raw = options_.segment_bytes - segment_header_size - block_header_size;
        std::size_t pos = 0;
        while (pos < src.size()) {
            const std::size_t start = pos;
            const record_id first = load64(src.data() + pos + 8);
            std::uint32_t count = 0;
            while (pos < src.size()) {
                const std::size_t fs = record_header_size + load32(src.data() + pos + 4);
                if (count != 0 && (pos - start >= options_.block_bytes || pos - start + fs > max_raw)) break;
                pos += fs;
                ++count;
            }
            const std::span<const std::byte> in(src.data() + start, pos - start);
            const std::size_t at = enc_.size();
            enc_.extend(block_header_size + std::max(encoder_.max_compressed_size(in.size()), in.size()));
            std::byte* out = enc_.data() + at + block_header_size;
            std::size_t n = encoder_.compress(in, std::span<std::byte>(out, enc_.size() - at - block_header_size));
            compression used = options_.codec;
            if (n >= in.size()) { // incompressible: store it as it is
                std::memcpy(out, in.data(), in.size());
                n = in.size();
                used = compression::none;
            }
            write_block_header(enc_.data() + at, static_cast<std::uint32_t>(n), first, count,
                               static_cast<std::uint32_t>(in.size()), used, crc32c(out, n));
            enc_.truncate(at + block_header_size + n);
        }
        return enc_.view();
    }

    // Writing goes through `flight_`: the records being written. A background write (start_flight)
    // takes the full block from raw_ and appends go on filling raw_; a write the caller waits for
    // (drain) moves all of raw_ there first. At most one write runs at a time: every writer calls
    // settle_flight() first, under the write gate.

    /// Moves the buffered records to flight_ (which is empty).
    void to_flight() noexcept {
        flight_.swap(raw_);
        raw_.reset(next_id_);
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
        if (auto h = std::exchange(flight_waiter_, std::coroutine_handle<>{})) loop_->post(h);
    }

    struct flight_wait {
        disk_buffer* self;
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
        const std::uint64_t dropped = next_id_ - rb.next_id;
        pending_ -= dropped;
        stats_.records_appended -= dropped;
        next_id_ = rb.next_id;
        flight_.bytes.truncate(rb.raw_size);
        flight_.done.resize(std::min<std::size_t>(flight_.done.size(),
                                                  static_cast<std::size_t>((next_id_ - flight_.first_id + 63) / 64)));
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
        flight_.done.resize(static_cast<std::size_t>((next_id_ - flight_.first_id + 63) / 64), 0);
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
        if (options_.fsync == fsync_policy::every_batch || (options_.fsync == fsync_policy::interval && sync_due()))
            co_await sync_active();
        if (sealed && acks_dirty_) {
            // A segment boundary: checkpoint acknowledgements, best effort (flush() reports failures).
            try {
                co_await write_ack_checkpoint();
            } catch (const std::system_error&) {
            }
        }
    }

    /// Writes flight_ to the segments, starting new ones as needed, and commits. On failure every file
    /// touched is cut back (or removed, if created here) and the error names the file; flight_ is left
    /// as it was. Returns true when a segment was sealed.
    task<bool> write_flight() {
        using namespace detail::disk;
        chunks_.clear();
        created_.clear();
        std::uint64_t seq = active_seq_;
        int fd = active_fd_;
        const std::uint64_t committed_seq = active_seq_;
        const std::uint64_t committed_size = active_seq_ != 0 ? segments_.at(active_seq_).size : 0;
        std::uint64_t size = committed_size;
        std::string failing_path = committed_seq != 0 ? segments_.at(committed_seq).path : std::string();
        try {
            const std::span<const std::byte> bytes = encode(flight_.bytes);
            std::size_t pos = 0;
            while (pos < bytes.size()) {
                if (fd < 0) {
                    seq = next_seq_ + created_.size();
                    failing_path = (options_.directory / segment_name(seq)).string();
                    fd = co_await create_segment(seq, failing_path, own_frame_at(bytes.data() + pos).first);
                    size = segment_header_size;
                }
                // As many whole frames as fit in this segment (all of them, usually: no need to walk).
                std::size_t end = pos;
                const record_id first = own_frame_at(bytes.data() + pos).first;
                record_id last_end = first;
                if (pos == 0 && size + bytes.size() <= options_.segment_bytes) {
                    end = bytes.size();
                    last_end = raw_.first_id; // flight_ holds exactly the ids below raw_'s
                }
                while (end < bytes.size()) {
                    const frame_span f = own_frame_at(bytes.data() + end);
                    if (size + (end - pos) + f.size > options_.segment_bytes) break;
                    end += f.size;
                    last_end = f.first + f.count;
                }
                if (end == pos) { // the next frame needs a new segment
                    if (options_.fsync != fsync_policy::os) {
                        co_await loop_->fdatasync(fd);
                        ++stats_.fsyncs;
                    }
                    fd = -1;
                    continue;
                }
                co_await loop_->write_all(fd, bytes.subspan(pos, end - pos), size);
                chunks_.push_back(written_chunk{seq, size, size + (end - pos), first, last_end});
                size += end - pos;
                pos = end;
            }
        } catch (const std::system_error& e) {
            rollback_files(committed_seq, committed_size);
            throw std::system_error(e.code(), "disk_buffer: cannot write " + quoted(failing_path) +
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
        const int fd = co_await loop_->open(open_path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
        created_.back().fd = fd;
        detail::disk::write_segment_header(segment_header_.data(), seq, first);
        co_await loop_->write_all(fd, segment_header_, 0);
        if (options_.fsync != fsync_policy::os) co_await loop_->fsync(dir_fd_); // the new name, durably
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
        ++stats_.write_errors;
        // Space may have run out: a fully acknowledged segment being written can go now.
        retire_active_if_done();
    }

    /// Makes a successful write visible. Returns true when a segment was sealed.
    bool commit(std::uint64_t committed_seq, std::uint64_t final_seq, int final_fd) {
        using namespace detail::disk;
        for (auto& c : created_) {
            segment s;
            s.seq = c.seq;
            s.path = c.path;
            s.first_id = c.first_id;
            s.end_id = c.first_id;
            s.size = segment_header_size;
            disk_bytes_ += segment_header_size;
            segments_.emplace(c.seq, std::move(s));
        }
        next_seq_ += created_.size();
        for (const auto& ch : chunks_) {
            segment& s = segments_.at(ch.seq);
            s.size = ch.end;
            disk_bytes_ += ch.end - ch.begin;
            stats_.bytes_written += ch.end - ch.begin;
            s.grow(ch.end_id);
            if (flight_.done.empty()) {
                s.pending += ch.end_id - ch.first_id;
                continue;
            }
            for (record_id id = ch.first_id; id < ch.end_id; ++id) {
                if (flight_.is_done(id))
                    s.done[(id - s.first_id) / 64] |= std::uint64_t{1} << ((id - s.first_id) % 64);
                else
                    ++s.pending;
            }
        }
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
        // The reader was caught up: skip what it already handed out from memory.
        if (reader_at_end_ && dec_pos_ >= dec_.size()) {
            for (const auto& ch : chunks_) {
                read_seq_ = ch.seq;
                if (watermark_ >= ch.end_id) {
                    read_off_ = ch.end;
                    read_expect_id_ = ch.end_id;
                } else {
                    read_off_ = ch.begin;
                    read_expect_id_ = ch.first_id;
                    reader_at_end_ = false; // records ahead of it now
                    break;
                }
            }
        }
        chunks_.clear();
        enc_.clear();
        flight_.reset(raw_.first_id);
        stable_next_id_ = std::max(stable_next_id_, raw_.first_id); // written: visible whatever the sync does
        bool sealed_any = false;
        for (std::uint64_t s : sealed) {
            auto it = segments_.find(s);
            if (it == segments_.end()) continue;
            it->second.sealed = true;
            sealed_any = true;
            if (it->second.pending == 0) delete_segment(it->second);
        }
        return sealed_any;
    }

    [[nodiscard]] bool sync_due() const noexcept { return clock::now() - last_sync_ >= options_.fsync_interval; }

    task<void> sync_active() {
        if (active_fd_ < 0 || !active_dirty_) co_return;
        active_dirty_ = false;
        try {
            co_await loop_->fdatasync(active_fd_);
        } catch (const std::system_error& e) {
            active_dirty_ = true;
            const auto it = segments_.find(active_seq_);
            throw std::system_error(e.code(), "disk_buffer: fdatasync of " +
                                                  quoted(it != segments_.end() ? it->second.path : dir_) +
                                                  " failed: records written but not known to be durable");
        }
        last_sync_ = clock::now();
        ++stats_.fsyncs;
    }

    // ---- acknowledgements ----

    void counted_ack() noexcept {
        ++stats_.records_acked;
        --pending_;
        acks_dirty_ = true;
    }

    segment* find_segment(record_id id) noexcept {
        for (auto& [seq, s] : segments_) {
            if (id < s.first_id) return nullptr;
            if (id < s.end_id) return &s;
        }
        return nullptr;
    }

    void delete_segment(segment& s) {
        if (s.seq == active_seq_) {
            if (active_fd_ >= 0) ::close(active_fd_);
            active_fd_ = -1;
            active_seq_ = 0;
            active_dirty_ = false;
        }
        ::unlink(s.path.c_str());
        disk_bytes_ -= s.size;
        ++stats_.segments_deleted;
        acks_dirty_ = true;
        const std::uint64_t seq = s.seq; // not a reference into the node being erased
        segments_.erase(seq);
    }

    /// Deletes the segment being written when everything in it is acknowledged, so its space counts as
    /// free; the next write starts a new one.
    void retire_active_if_done() {
        if (active_seq_ == 0) return;
        auto it = segments_.find(active_seq_);
        if (it != segments_.end() && it->second.pending == 0) delete_segment(it->second);
    }

    /// Records of [first, end) lost to corruption found while reading: done, counted.
    void mark_lost(record_id first, record_id end) {
        for (record_id id = first; id < end; ++id) {
            segment* s = find_segment(id);
            if (s == nullptr) continue;
            if (s->mark(id)) {
                --pending_;
                ++stats_.corrupt_records_skipped;
                acks_dirty_ = true;
            }
        }
    }

    task<void> write_ack_checkpoint() {
        using namespace detail::disk;
        acks_dirty_ = false; // acknowledgements arriving meanwhile make it dirty again
        ack_buf_.clear();
        std::byte* h = ack_buf_.extend(ack_header_size);
        std::memcpy(h, ack_magic, 8);
        store32(h + 8, format_version);
        store64(h + 16, next_seq_);
        store64(h + 24, next_id_);
        std::uint32_t entries = 0;
        for (const auto& [seq, s] : segments_) {
            std::size_t skip = 0;
            while (skip < s.done.size() && s.done[skip] == ~std::uint64_t{0}) ++skip;
            std::size_t last = s.done.size();
            while (last > skip && s.done[last - 1] == 0) --last;
            if (skip == 0 && last == 0) continue; // nothing acknowledged
            std::byte* e = ack_buf_.extend(ack_entry_header_size + 8 * (last - skip));
            store64(e, seq);
            store64(e + 8, s.first_id);
            store32(e + 16, static_cast<std::uint32_t>(skip));
            store32(e + 20, static_cast<std::uint32_t>(last - skip));
            for (std::size_t i = skip; i < last; ++i) store64(e + ack_entry_header_size + 8 * (i - skip), s.done[i]);
            ++entries;
        }
        store32(ack_buf_.data() + 12, entries);
        const std::uint32_t crc = crc32c(ack_buf_.view());
        store32(ack_buf_.extend(4), crc);
        int fd = -1;
        try {
            fd = co_await loop_->open(ack_tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            co_await loop_->write_all(fd, ack_buf_.view(), 0);
            const int f = std::exchange(fd, -1);
            co_await loop_->close(f);
            if (::rename(ack_tmp_path_.c_str(), ack_path_.c_str()) != 0)
                throw std::system_error(errno, std::system_category(), "rename");
        } catch (const std::system_error& e) {
            if (fd >= 0) ::close(fd);
            ::unlink(ack_tmp_path_.c_str());
            acks_dirty_ = true;
            throw std::system_error(e.code(), "disk_buffer: cannot write the acknowledgement checkpoint " +
                                                  quoted(ack_path_) +
                                                  " (acknowledgements since the last one "
                                                  "would be replayed after a crash)");
        }
        ++stats_.ack_checkpoints;
    }

    // ---- reading ----

    task<void> open_reader(std::string path) {
        if (read_fd_ >= 0) ::close(read_fd_);
        read_fd_ = -1;
        read_fd_seq_ = 0;
        const std::uint64_t seq = read_seq_;
        read_path_ = std::move(path);
        int fd = -1;
        try {
            fd = co_await loop_->open(read_path_.c_str(), O_RDONLY);
        } catch (const std::system_error& e) {
            if (segments_.find(seq) == segments_.end()) co_return; // deleted meanwhile: all acknowledged
            throw std::system_error(e.code(), "disk_buffer: cannot open " + quoted(read_path_) + " for reading");
        }
        read_fd_ = fd;
        read_fd_seq_ = seq;
        window_.reset(fd);
    }

    /// Reads the frame at the read position: a record (returned), a block (decoded for next_decoded),
    /// or corrupt bytes (skipped, reported).
    task<std::optional<disk_record>> read_frame() {
        using namespace detail::disk;
        const std::uint64_t seq = read_seq_;
        const std::uint64_t off = read_off_;
        const segment& current = segments_.at(seq);
        const std::uint64_t limit = current.size;
        for (const auto& [from, to] : current.skip) {
            if (from == off) {
                read_off_ = to;
                co_return std::nullopt;
            }
        }
        std::span<const std::byte> bytes;
        try {
            // (Not a conditional expression: GCC 12 miscompiles co_await inside one.)
            if (window_.has(off, max_header_size))
                bytes = window_.at(off);
            else
                bytes = co_await window_.load(*loop_, off, max_header_size, limit);
        } catch (const std::system_error& e) {
            throw std::system_error(e.code(), "disk_buffer: cannot read " + quoted(read_path_));
        }
        frame_header h;
        const header_check check = parse_frame_header(bytes, h);
        if (check == header_check::valid && off + h.frame_size() <= limit) {
            const auto fsize = static_cast<std::size_t>(h.frame_size());
            if (!window_.has(off, fsize)) {
                try {
                    bytes = co_await window_.load(*loop_, off, fsize, limit);
                } catch (const std::system_error& e) {
                    throw std::system_error(e.code(), "disk_buffer: cannot read " + quoted(read_path_));
                }
            }
            auto it = segments_.find(seq);
            if (it == segments_.end() || read_seq_ != seq) co_return std::nullopt; // deleted while reading
            segment& s = it->second;
            const std::span<const std::byte> body = bytes.subspan(h.header_size, h.stored);
            if (crc32c(body) != h.crc) {
                report_read_issue(off, fsize, h.count, "CRC32C mismatch");
                mark_lost(h.first_id, h.end_id());
                read_off_ = off + fsize;
                read_expect_id_ = std::max(read_expect_id_, h.end_id());
                co_return std::nullopt;
            }
            if (h.first_id > read_expect_id_) mark_lost(read_expect_id_, h.first_id); // after corrupt bytes
            if (h.first_id < read_expect_id_) { // stale; recovery cuts these, so only new damage gets here
                read_off_ = off + fsize;
                co_return std::nullopt;
            }
            read_expect_id_ = h.end_id();
            if (!h.block) {
                read_off_ = off + fsize;
                if (h.first_id < watermark_ || s.is_done(h.first_id)) co_return std::nullopt;
                co_return hand_out(h.first_id, body);
            }
            bool wanted = false;
            for (record_id id = std::max(h.first_id, watermark_); id < h.end_id() && !wanted; ++id)
                wanted = !s.is_done(id);
            if (!wanted) {
                read_off_ = off + fsize;
                co_return std::nullopt;
            }
            block_codec* codec = nullptr;
            try {
                codec = &decoder(h.codec);
            } catch (const std::invalid_argument& e) {
                throw std::runtime_error("disk_buffer: " + quoted(read_path_) + " at offset " + std::to_string(off) +
                                         " holds a " + std::string(to_string(h.codec)) +
                                         " block that this build cannot read (" + e.what() + "); nothing was skipped");
            }
            dec_.clear();
            dec_.extend(h.raw);
            try {
                codec->decompress(body, std::span<std::byte>(dec_.data(), h.raw));
            } catch (const compression_error& e) {
                dec_.clear();
                report_read_issue(off, fsize, h.count, e.what());
                mark_lost(h.first_id, h.end_id());
                read_off_ = off + fsize;
                co_return std::nullopt;
            }
            dec_pos_ = 0;
            dec_first_ = h.first_id;
            dec_end_ = h.end_id();
            dec_offset_ = off;
            read_off_ = off + fsize;
            co_return std::nullopt;
        }
        // Bytes that are not a frame (or one running past the end): skip to the next valid header.
        std::optional<std::uint64_t> next;
        try {
            next = co_await find_frame(*loop_, window_, off + 1, limit);
        } catch (const std::system_error& e) {
            throw std::system_error(e.code(), "disk_buffer: cannot read " + quoted(read_path_));
        }
        auto it = segments_.find(seq);
        if (it == segments_.end() || read_seq_ != seq) co_return std::nullopt;
        const std::uint64_t to = next.value_or(limit);
        report_read_issue(off, to - off, 0, "no valid record header");
        if (!next) mark_lost(read_expect_id_, it->second.end_id);
        read_off_ = to;
        co_return std::nullopt;
    }

    /// The next wanted record of the decoded block.
    std::optional<disk_record> next_decoded() {
        using namespace detail::disk;
        while (dec_pos_ < dec_.size()) {
            frame_header h;
            const auto rest = std::span<const std::byte>(dec_.data() + dec_pos_, dec_.size() - dec_pos_);
            if (parse_frame_header(rest, h) != header_check::valid || h.block || h.frame_size() > rest.size() ||
                crc32c(rest.subspan(h.header_size, h.stored)) != h.crc || h.first_id < dec_first_ ||
                h.first_id >= dec_end_) {
                report_read_issue(dec_offset_, 0, 0, "corrupt record inside a block");
                const record_id from = dec_first_;
                dec_.clear();
                dec_pos_ = 0;
                mark_lost(from, dec_end_);
                return std::nullopt;
            }
            dec_pos_ += static_cast<std::size_t>(h.frame_size());
            dec_first_ = h.first_id + 1; // ids inside only grow
            if (h.first_id < watermark_) continue;
            segment* s = find_segment(h.first_id);
            if (s == nullptr || s->is_done(h.first_id)) continue;
            return hand_out(h.first_id, rest.subspan(h.header_size, h.stored));
        }
        dec_.clear();
        dec_pos_ = 0;
        return std::nullopt;
    }

    /// The next wanted record among those not yet written: being written first, then buffered.
    std::optional<disk_record> next_buffered() {
        if (auto r = next_in(flight_)) return r;
        return next_in(raw_);
    }

    std::optional<disk_record> next_in(pending_records& m) {
        using namespace detail::disk;
        while (m.read_pos < m.stable) {
            const std::byte* p = m.bytes.data() + m.read_pos;
            const std::uint32_t len = load32(p + 4);
            const record_id id = load64(p + 8);
            m.read_pos += record_header_size + len;
            if (id < watermark_ || m.is_done(id)) continue;
            return hand_out(id, std::span<const std::byte>(p + record_header_size, len));
        }
        return std::nullopt;
    }

    disk_record hand_out(record_id id, std::span<const std::byte> body) {
        watermark_ = id + 1;
        ++stats_.records_read;
        return disk_record{id, std::vector<std::byte>(body.begin(), body.end())};
    }

    block_codec& decoder(compression c) {
        auto& slot = decoders_[static_cast<std::size_t>(c)];
        if (!slot) slot.emplace(c);
        return *slot;
    }

    void report_read_issue(std::uint64_t offset, std::uint64_t bytes, std::uint64_t records, const std::string& why) {
        disk_buffer_issue issue;
        issue.what = disk_buffer_issue::kind::corrupt;
        issue.file = read_path_;
        issue.offset = offset;
        issue.bytes = bytes;
        issue.records = records;
        issue.reason = why + " while reading; skipped";
        if (options_.on_corruption) options_.on_corruption("disk_buffer: " + issue.describe());
    }

    // ---- recovery ----

    struct found_segment {
        std::uint64_t seq = 0;
        std::string path;
        int fd = -1;
        std::uint64_t size = 0;
        bool header_valid = false;
        record_id header_first = 0;
    };

    void report(disk_buffer_issue issue) {
        if (options_.on_corruption) options_.on_corruption("disk_buffer: " + issue.describe());
        recovery_.issues.push_back(std::move(issue));
    }

    void lock_directory() {
        const std::string path = (options_.directory / "LOCK").string();
        lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lock_fd_ < 0)
            throw std::system_error(errno, std::system_category(), "disk_buffer: cannot open " + quoted(path));
        if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
            const int e = errno;
            if (e == EWOULDBLOCK)
                throw std::runtime_error("disk_buffer: " + quoted(dir_) + " is in use by another disk_buffer (" +
                                         quoted(path) + " is locked)");
            throw std::system_error(e, std::system_category(), "disk_buffer: cannot lock " + quoted(path));
        }
    }

    task<void> recover() {
        using namespace detail::disk;
        std::error_code ec;
        std::filesystem::create_directories(options_.directory, ec);
        if (ec) throw std::system_error(ec, "disk_buffer: cannot create the directory " + quoted(dir_));
        lock_directory();
        try {
            dir_fd_ = co_await loop_->open(dir_.c_str(), O_RDONLY | O_DIRECTORY);
        } catch (const std::system_error& e) {
            throw std::system_error(e.code(), "disk_buffer: cannot open the directory " + quoted(dir_));
        }
        std::map<std::uint64_t, ack_entry> acks;
        std::uint64_t ck_next_seq = 0;
        record_id ck_next_id = 0;
        co_await read_ack_checkpoint(acks, ck_next_seq, ck_next_id);
        ::unlink(ack_tmp_path_.c_str());

        std::vector<found_segment> found;
        for (const auto& entry : std::filesystem::directory_iterator(options_.directory, ec)) {
            const auto seq = parse_segment_name(entry.path().filename().string());
            if (!seq || !entry.is_regular_file()) continue;
            found_segment f;
            f.seq = *seq;
            f.path = entry.path().string();
            found.push_back(std::move(f));
        }
        if (ec) throw std::system_error(ec, "disk_buffer: cannot list " + quoted(dir_));
        std::sort(found.begin(), found.end(),
                  [](const found_segment& a, const found_segment& b) { return a.seq < b.seq; });
        recovery_.segments = found.size();

        // First every header, so a segment of an unknown version stops us before anything is changed.
        fd_list fds;
        for (auto& f : found) {
            open_path_ = f.path;
            try {
                f.fd = co_await loop_->open(open_path_.c_str(), O_RDWR);
            } catch (const std::system_error& e) {
                throw std::system_error(e.code(), "disk_buffer: cannot open " + quoted(f.path));
            }
            fds.fds.push_back(f.fd);
            struct stat st {};
            if (::fstat(f.fd, &st) != 0)
                throw std::system_error(errno, std::system_category(), "disk_buffer: cannot stat " + quoted(f.path));
            f.size = static_cast<std::uint64_t>(st.st_size);
            std::array<std::byte, segment_header_size> head{};
            std::size_t got = 0;
            while (got < head.size() && got < f.size) {
                const int n =
                    co_await loop_->read(f.fd, std::span<std::byte>(head.data() + got, head.size() - got), got);
                if (n == 0) break;
                got += static_cast<std::size_t>(n);
            }
            if (got == head.size() && std::memcmp(head.data(), segment_magic, 8) == 0 &&
                crc32c(head.data(), 36) == load32(head.data() + 36)) {
                const std::uint32_t version = load32(head.data() + 8);
                if (version != format_version)
                    throw std::runtime_error("disk_buffer: " + quoted(f.path) + " has format version " +
                                             std::to_string(version) + "; this sluice reads version " +
                                             std::to_string(format_version) + " (nothing was changed)");
                f.header_valid = load64(head.data() + 16) == f.seq;
                f.header_first = load64(head.data() + 24);
            }
        }

        std::uint64_t max_seq = 0;
        record_id max_id = ck_next_id;
        for (std::size_t i = 0; i < found.size(); ++i) {
            std::optional<record_id> next_first;
            if (i + 1 < found.size() && found[i + 1].header_valid) next_first = found[i + 1].header_first;
            const auto a = acks.find(found[i].seq);
            max_seq = std::max(max_seq, found[i].seq);
            if (found[i].header_valid) max_id = std::max(max_id, found[i].header_first);
            co_await recover_segment(found[i], next_first, a != acks.end() ? &a->second : nullptr, max_id);
        }
        next_seq_ = std::max(max_seq + 1, ck_next_seq);
        next_id_ = max_id;
        stable_next_id_ = next_id_;
        raw_.reset(next_id_);
        flight_.reset(next_id_);
        stats_.records_recovered = recovery_.records_recovered;
        stats_.corrupt_records_skipped = recovery_.corrupt_records_skipped;
        stats_.segments_deleted = recovery_.segments_deleted;
        // fds (the list) closes every segment descriptor; the reader opens its own.
    }

    task<void> read_ack_checkpoint(std::map<std::uint64_t, detail::disk::ack_entry>& acks, std::uint64_t& next_seq,
                                   record_id& next_id) {
        using namespace detail::disk;
        const int fd = ::open(ack_path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT) co_return;
            throw std::system_error(errno, std::system_category(), "disk_buffer: cannot open " + quoted(ack_path_));
        }
        fd_list guard;
        guard.fds.push_back(fd);
        struct stat st {};
        if (::fstat(fd, &st) != 0)
            throw std::system_error(errno, std::system_category(), "disk_buffer: cannot stat " + quoted(ack_path_));
        byte_buffer buf;
        const auto size = static_cast<std::size_t>(st.st_size);
        buf.extend(size);
        std::size_t got = 0;
        while (got < size) {
            const int n = co_await loop_->read(fd, std::span<std::byte>(buf.data() + got, size - got), got);
            if (n == 0) break;
            got += static_cast<std::size_t>(n);
        }
        buf.truncate(got);
        if (!parse_ack_checkpoint(buf.view(), acks, next_seq, next_id)) {
            acks.clear();
            next_seq = 0;
            next_id = 0;
            disk_buffer_issue issue;
            issue.what = disk_buffer_issue::kind::bad_file;
            issue.file = ack_path_;
            issue.bytes = got;
            issue.reason = "the acknowledgement checkpoint is corrupt: ignored, so every record is replayed";
            report(std::move(issue));
        }
    }

    static bool parse_ack_checkpoint(std::span<const std::byte> b,
                                     std::map<std::uint64_t, detail::disk::ack_entry>& acks, std::uint64_t& next_seq,
                                     record_id& next_id) {
        using namespace detail::disk;
        if (b.size() < ack_header_size + 4 || std::memcmp(b.data(), ack_magic, 8) != 0) return false;
        if (crc32c(b.first(b.size() - 4)) != load32(b.data() + b.size() - 4)) return false;
        if (load32(b.data() + 8) != format_version) return false;
        const std::uint32_t entries = load32(b.data() + 12);
        next_seq = load64(b.data() + 16);
        next_id = load64(b.data() + 24);
        std::size_t pos = ack_header_size;
        const std::size_t end = b.size() - 4;
        for (std::uint32_t i = 0; i < entries; ++i) {
            if (end - pos < ack_entry_header_size) return false;
            const std::byte* e = b.data() + pos;
            ack_entry a;
            const std::uint64_t seq = load64(e);
            a.first_id = load64(e + 8);
            a.skip_words = load32(e + 16);
            const std::uint32_t words = load32(e + 20);
            pos += ack_entry_header_size;
            if ((end - pos) / 8 < words) return false;
            a.words.resize(words);
            for (std::uint32_t w = 0; w < words; ++w) a.words[w] = load64(b.data() + pos + 8 * w);
            pos += 8 * std::size_t{words};
            acks[seq] = std::move(a);
        }
        return pos == end;
    }

    /// Scans one segment: keeps its valid records, cuts a torn or stale tail, reports corrupt bytes.
    task<void> recover_segment(found_segment& f, std::optional<record_id> next_first,
                               const detail::disk::ack_entry* acks, record_id& max_id) {
        using namespace detail::disk;
        file_window w;
        w.reset(f.fd);
        std::vector<std::pair<record_id, record_id>> runs; // valid ids, merged
        std::uint64_t pos = segment_header_size;
        std::uint64_t size = f.size;
        bool have_expect = f.header_valid;
        record_id expect = f.header_first;
        std::optional<std::size_t> open_issue; // a corrupt stretch whose record count the next frame tells
        std::optional<std::uint64_t> cut;      // where to truncate
        std::vector<std::pair<std::uint64_t, std::uint64_t>> skip;
        disk_buffer_issue::kind cut_kind = disk_buffer_issue::kind::torn;
        std::string cut_reason;

        auto settle_open_issue = [&](const frame_header& h) {
            if (!open_issue) return;
            std::uint64_t lost = 1;
            if (have_expect && h.first_id > expect) lost = h.first_id - expect;
            recovery_.issues[*open_issue].records = lost;
            recovery_.corrupt_records_skipped += lost;
            open_issue.reset();
        };

        if (!f.header_valid) {
            disk_buffer_issue issue;
            issue.file = f.path;
            issue.bytes = std::min<std::uint64_t>(size, segment_header_size);
            issue.reason = size < segment_header_size ? "segment header cut short" : "bad segment header";
            report(issue);
        }
        try {
            while (pos < size) {
                // The window usually has the bytes: no coroutine call per frame then.
                const std::size_t head = static_cast<std::size_t>(std::min<std::uint64_t>(max_header_size, size - pos));
                std::span<const std::byte> bytes;
                if (w.has(pos, head))
                    bytes = w.at(pos);
                else
                    bytes = co_await w.load(*loop_, pos, head, size);
                frame_header h;
                const header_check check = parse_frame_header(bytes, h);
                if (check == header_check::valid && pos + h.frame_size() <= size) {
                    const auto fsize = static_cast<std::size_t>(h.frame_size());
                    if (!w.has(pos, fsize)) bytes = co_await w.load(*loop_, pos, fsize, size);
                    const bool stale =
                        (have_expect && h.first_id < expect) || (next_first && h.first_id >= *next_first);
                    if (stale) {
                        cut = pos;
                        cut_kind = disk_buffer_issue::kind::stale;
                        cut_reason = "record id " + std::to_string(h.first_id) +
                                     " repeats or overlaps a later one: left over from a failed write";
                        break;
                    }
                    settle_open_issue(h);
                    if (crc32c(bytes.subspan(h.header_size, h.stored)) != h.crc) {
                        disk_buffer_issue issue;
                        issue.file = f.path;
                        issue.offset = pos;
                        issue.bytes = fsize;
                        issue.records = h.count;
                        issue.reason =
                            std::string(h.block ? "block of " + std::to_string(h.count) + " records" : "record") + " " +
                            std::to_string(h.first_id) + " fails its CRC32C: skipped";
                        recovery_.corrupt_records_skipped += h.count;
                        report(std::move(issue));
                        skip.emplace_back(pos, pos + fsize);
                    } else if (!runs.empty() && runs.back().second == h.first_id) {
                        runs.back().second = h.end_id();
                    } else {
                        runs.emplace_back(h.first_id, h.end_id());
                    }
                    expect = h.end_id();
                    have_expect = true;
                    max_id = std::max(max_id, expect);
                    pos += fsize;
                    continue;
                }
                // Not a frame, or one running past the end of the file.
                const std::optional<std::uint64_t> next = co_await find_frame(*loop_, w, pos + 1, size);
                if (!next) {
                    cut = pos;
                    cut_reason = check == header_check::valid
                                     ? "the last " + std::string(h.block ? "block" : "record") + " is cut short (" +
                                           std::to_string(size - pos) + " of " + std::to_string(h.frame_size()) +
                                           " bytes): a torn write"
                                     : std::to_string(size - pos) +
                                           " bytes at the end hold no valid record: a torn write or garbage";
                    break;
                }
                if (open_issue) { // two corrupt stretches in a row: the first costs at least a record
                    recovery_.issues[*open_issue].records = 1;
                    ++recovery_.corrupt_records_skipped;
                }
                disk_buffer_issue issue;
                issue.file = f.path;
                issue.offset = pos;
                issue.bytes = *next - pos;
                issue.reason = std::to_string(*next - pos) + " corrupt bytes (no valid record header): skipped";
                report(std::move(issue));
                open_issue = recovery_.issues.size() - 1;
                skip.emplace_back(pos, *next);
                pos = *next;
            }
        } catch (const std::system_error& e) {
            throw std::system_error(e.code(), "disk_buffer: cannot read " + quoted(f.path));
        }
        if (open_issue) {
            recovery_.issues[*open_issue].records = 1;
            ++recovery_.corrupt_records_skipped;
        }
        if (cut) {
            if (::ftruncate(f.fd, static_cast<off_t>(*cut)) != 0)
                throw std::system_error(errno, std::system_category(),
                                        "disk_buffer: cannot truncate " + quoted(f.path));
            disk_buffer_issue issue;
            issue.what = cut_kind;
            issue.file = f.path;
            issue.offset = *cut;
            issue.bytes = size - *cut;
            issue.reason = cut_reason + "; cut off";
            recovery_.torn_bytes_truncated += size - *cut;
            report(std::move(issue));
            size = *cut;
        }

        if (!f.header_valid && runs.empty() && size < segment_header_size) {
            ::unlink(f.path.c_str()); // a crash while creating it: it cannot hold a record
            ++recovery_.segments_deleted;
            co_return;
        }
        if (!f.header_valid && runs.empty()) {
            // Not recognisably ours: keep it out of the way instead of deleting it.
            const std::string aside = f.path + ".corrupt";
            ::rename(f.path.c_str(), aside.c_str());
            disk_buffer_issue issue;
            issue.what = disk_buffer_issue::kind::bad_file;
            issue.file = f.path;
            issue.bytes = size;
            issue.reason = "not a readable segment: renamed to " + quoted(aside);
            report(std::move(issue));
            co_return;
        }

        segment s;
        s.seq = f.seq;
        s.path = f.path;
        s.first_id = f.header_valid ? f.header_first : (runs.empty() ? 0 : runs.front().first);
        s.end_id = s.first_id;
        s.size = size;
        s.sealed = true;
        s.skip = std::move(skip);
        if (!runs.empty()) s.grow(runs.back().second);
        std::fill(s.done.begin(), s.done.end(), ~std::uint64_t{0});
        const bool acks_match = acks != nullptr && acks->first_id == s.first_id;
        for (const auto& [from, to] : runs) {
            for (record_id id = from; id < to; ++id) {
                if (id < s.first_id) continue;
                if (acks_match && acks->acked(id)) {
                    ++recovery_.records_already_acked;
                    continue;
                }
                const std::uint64_t i = id - s.first_id;
                s.done[i / 64] &= ~(std::uint64_t{1} << (i % 64));
                ++s.pending;
            }
        }
        if (s.pending == 0) {
            ::unlink(f.path.c_str());
            ++recovery_.segments_deleted;
            co_return;
        }
        recovery_.records_recovered += s.pending;
        pending_ += s.pending;
        disk_bytes_ += s.size;
        segments_.emplace(s.seq, std::move(s));
    }

    void release_fds() noexcept {
        for (int* fd : {&active_fd_, &read_fd_, &dir_fd_, &lock_fd_}) {
            if (*fd >= 0) ::close(*fd);
            *fd = -1;
        }
    }

    // ---- state ----

    io_loop* loop_;
    disk_buffer_options options_;
    std::string dir_;
    std::string ack_path_;
    std::string ack_tmp_path_;
    block_codec encoder_;
    std::size_t max_record_;
    std::optional<block_codec> decoders_[3];
    int dir_fd_ = -1;
    int lock_fd_ = -1;
    bool closed_ = false;

    std::map<std::uint64_t, segment> segments_; // by sequence number: oldest first
    std::uint64_t next_seq_ = 1;
    std::uint64_t active_seq_ = 0; // the segment written to (0: none yet)
    int active_fd_ = -1;
    bool active_dirty_ = false; // written since its last fdatasync
    clock::time_point last_sync_;
    std::uint64_t disk_bytes_ = 0;
    std::uint64_t pending_ = 0;
    std::uint64_t rollback_failures_ = 0;

    record_id next_id_ = 0;
    record_id stable_next_id_ = 0;  // ids below belong to calls that returned
    pending_records raw_;           // appended, not yet written
    pending_records flight_;        // being written (ids below raw_'s)
    detail::disk::byte_buffer enc_; // flight_ as compressed blocks
    task<void> flight_task_;        // the background write (run_flight)
    bool flight_running_ = false;
    bool flight_records_back_ = false; // the failed background write's records are back in raw_
    std::exception_ptr flight_error_;
    std::coroutine_handle<> flight_waiter_;
    std::vector<written_chunk> chunks_;
    std::vector<created_segment> created_;
    std::vector<std::uint64_t> sealed_scratch_;
    std::array<std::byte, detail::disk::segment_header_size> segment_header_{};
    std::string open_path_; // a path the kernel may be reading

    bool acks_dirty_ = false;
    detail::disk::byte_buffer ack_buf_;

    // The reader: a position in the files, a decoded block, a position in raw_.
    std::uint64_t read_seq_ = 0;
    std::uint64_t read_off_ = 0;
    record_id read_expect_id_ = 0;
    int read_fd_ = -1;
    std::uint64_t read_fd_seq_ = 0;
    std::string read_path_;
    detail::disk::file_window window_;
    detail::disk::byte_buffer dec_;
    std::size_t dec_pos_ = 0;
    record_id dec_first_ = 0;
    record_id dec_end_ = 0;
    std::uint64_t dec_offset_ = 0;
    record_id watermark_ = 0; // every record below was handed out (or skipped)
    bool reader_at_end_ = false;

    detail::disk::async_gate write_gate_;
    detail::disk::async_gate read_gate_;
    recovery_report recovery_;
    disk_buffer_stats stats_;
};

} // namespace sluice
