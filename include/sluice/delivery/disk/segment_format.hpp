#pragma once

// The bytes of a disk_buffer's segment files, and the one walker over them. Recovery (at open) and the
// reader (afterwards) walk frames with frame_walker; the reader walks the frames inside a decoded block
// with walk_in_memory. Both take the same decisions from the same checks: a frame is a valid header
// (magic, its own CRC, plausible fields) whose stored bytes end before the limit; anything else is
// garbage up to the next valid header, or a torn tail when none follows.
//
// On-disk format (little-endian), in the buffer's directory:
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
//   acks      the acknowledgement checkpoint (checkpoint.hpp)
//   LOCK      flock()ed while a disk_buffer has the directory open.
//
// Plausibility, so that bytes that pass a CRC by chance (or by malice) cannot make a reader allocate
// or loop without bound: record ids stay below max_record_id; a block holds at least one record and no
// more than its raw bytes can frame (24 bytes each) nor, compressed, than it has stored bytes (every
// record carries a 4-byte header CRC that no codec can squeeze); its raw size is at most what its codec
// can expand the stored bytes to.

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <sluice/codec/compression.hpp>
#include <sluice/codec/crc32c.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/disk/types.hpp>
#include <sluice/io/loop.hpp>

namespace sluice::detail::disk {

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
inline constexpr std::size_t read_chunk = 256 * 1024;
/// Ids at or above this are implausible (at a billion records a second it takes 146 years to get there);
/// keeping them far from 2^64 means id arithmetic cannot wrap.
inline constexpr record_id max_record_id = record_id{1} << 62;

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

/// How far a codec can expand its stored bytes, at most (lz4: 255 to 1; zstd: a 4-byte RLE block
/// stands for up to 128 KiB), plus room for a frame's fixed overhead.
[[nodiscard]] inline std::uint64_t max_raw_size(compression codec, std::uint32_t stored) noexcept {
    switch (codec) {
    case compression::none: return stored;
    case compression::lz4: return std::uint64_t{stored} * 256 + 64;
    case compression::zstd: return std::uint64_t{stored} * 32768 + 1024;
    case compression::gzip:   // segments store none, lz4 or zstd only (plausible_block refuses
    case compression::snappy: // codec > 2): never asked
        return 0;
    }
    return 0;
}

enum class header_check { valid, invalid, incomplete };

/// Checks a block header's fields beyond its CRC (see the file comment).
[[nodiscard]] inline bool plausible_block(const frame_header& h, unsigned codec) noexcept {
    if (codec > 2 || h.count == 0) return false;
    if (std::uint64_t{h.count} * record_header_size > h.raw) return false;
    if (codec == 0) return h.raw == h.stored;
    return h.count <= h.stored && h.raw <= max_raw_size(static_cast<compression>(codec), h.stored);
}

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
        return h.first_id < max_record_id ? header_check::valid : header_check::invalid;
    }
    h.count = load32(b.data() + 16);
    h.raw = load32(b.data() + 20);
    const auto codec = static_cast<unsigned>(b[24]);
    h.crc = load32(b.data() + 28);
    if (!plausible_block(h, codec) || h.first_id > max_record_id - h.count) return header_check::invalid;
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

/// What the first bytes of a segment file say.
struct segment_header_info {
    enum class kind {
        valid,         ///< ours, with this sequence number: `first_id` is its first record's id
        invalid,       ///< not a header (damaged, or not our file)
        newer_version, ///< a header of a format this code does not read (`version`)
        torn_creation, ///< empty, or the start of the header we would write (a crash while creating it)
    };
    kind what = kind::invalid;
    record_id first_id = 0;
    std::uint32_t version = 0;
};

/// Reads the header at the start of a file of `file_size` bytes named for sequence `seq`; `head` holds
/// its first min(40, file_size) bytes.
[[nodiscard]] inline segment_header_info parse_segment_header(std::span<const std::byte> head, std::uint64_t file_size,
                                                              std::uint64_t seq) noexcept {
    segment_header_info out;
    if (file_size < segment_header_size) {
        // What we write first: magic, version 1, flags 0, the sequence number; the rest is unknowable.
        std::array<std::byte, 24> expected{};
        std::memcpy(expected.data(), segment_magic, 8);
        store32(expected.data() + 8, format_version);
        store32(expected.data() + 12, 0);
        store64(expected.data() + 16, seq);
        const std::size_t n = std::min<std::size_t>(head.size(), expected.size());
        if (head.size() == file_size && std::memcmp(head.data(), expected.data(), n) == 0)
            out.what = segment_header_info::kind::torn_creation;
        return out;
    }
    if (head.size() < segment_header_size || std::memcmp(head.data(), segment_magic, 8) != 0 ||
        crc32c(head.data(), 36) != load32(head.data() + 36))
        return out;
    out.version = load32(head.data() + 8);
    if (out.version != format_version) {
        out.what = segment_header_info::kind::newer_version;
        return out;
    }
    out.first_id = load64(head.data() + 24);
    if (load64(head.data() + 16) == seq && out.first_id < max_record_id) out.what = segment_header_info::kind::valid;
    return out;
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
        if (seq > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) return std::nullopt;
        seq = seq * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return seq;
}

// ---- the frame walker ------------------------------------------------------------------------

/// One step of a walk: what the bytes at `offset` are.
struct frame_step {
    enum class kind {
        frame,   ///< a frame with a valid header, wholly before the limit: [offset, end)
        garbage, ///< no frame at `offset`; the next valid header starts at `end`
        torn,    ///< no valid header from `offset` to the limit (`end`)
    };
    kind what = kind::torn;
    std::uint64_t offset = 0;
    std::uint64_t end = 0;
    /// frame: its header. torn: set when the bytes at `offset` are a valid header whose frame runs past
    /// the limit (a write cut short).
    std::optional<frame_header> header;
    /// frame: the stored bytes (valid until the walker moves) and whether they match their CRC.
    std::span<const std::byte> body;
    bool crc_ok = false;
};

/// Offset (in `s`) of the first valid frame header at or after `from` whose header lies wholly in `s`,
/// or nothing. How a walk resynchronises after corrupt bytes: a candidate needs the magic and a header
/// CRC that matches.
[[nodiscard]] inline std::optional<std::size_t> find_header(std::span<const std::byte> s, std::size_t from) noexcept {
    for (std::size_t i = from; i < s.size(); ++i) {
        if (s[i] != magic0) continue;
        frame_header h;
        if (parse_frame_header(s.subspan(i), h) == header_check::valid) return i;
    }
    return std::nullopt;
}

/// The step at `pos` once `s` holds the bytes from `pos` to the limit (or at least the whole frame).
[[nodiscard]] inline std::optional<frame_step> frame_at(std::span<const std::byte> s, std::uint64_t pos,
                                                        std::uint64_t limit) noexcept {
    frame_header h;
    if (parse_frame_header(s, h) != header_check::valid || pos + h.frame_size() > limit) return std::nullopt;
    if (s.size() < h.frame_size()) return std::nullopt;
    frame_step step;
    step.what = frame_step::kind::frame;
    step.offset = pos;
    step.end = pos + h.frame_size();
    step.header = h;
    step.body = s.subspan(h.header_size, h.stored);
    step.crc_ok = crc32c(step.body) == h.crc;
    return step;
}

/// The walker over bytes that are all in memory (the record frames of a decoded block).
[[nodiscard]] inline frame_step walk_in_memory(std::span<const std::byte> bytes, std::size_t pos) noexcept {
    const std::span<const std::byte> s = bytes.subspan(pos);
    if (auto f = frame_at(s, pos, bytes.size())) return *f;
    frame_step step;
    step.offset = pos;
    if (auto next = find_header(s, 1)) {
        step.what = frame_step::kind::garbage;
        step.end = pos + *next;
        return step;
    }
    step.end = bytes.size();
    frame_header h;
    if (parse_frame_header(s, h) == header_check::valid) step.header = h;
    return step;
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
    /// Makes [off, off + n) available (less only where `limit` or the file's end comes first) and
    /// returns the bytes from off.
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

/// The walker over a segment file, read through the loop: recovery and the reader both step with it.
/// Throws std::system_error for read errors.
class frame_walker {
public:
    void reset(int fd) noexcept { window_.reset(fd); }
    [[nodiscard]] int fd() const noexcept { return window_.fd(); }

    /// The step at `pos` (< limit) of a file whose frames end at `limit`.
    task<frame_step> step(io_loop& loop, std::uint64_t pos, std::uint64_t limit) {
        // The window usually has the bytes: no coroutine call per frame then. (Not a conditional
        // expression: GCC 12 miscompiles co_await inside one.)
        std::span<const std::byte> s;
        if (window_.has(pos, std::min<std::uint64_t>(max_header_size, limit - pos)))
            s = window_.at(pos);
        else
            s = co_await window_.load(loop, pos, max_header_size, limit);
        frame_header h;
        if (parse_frame_header(s, h) == header_check::valid && pos + h.frame_size() <= limit) {
            const auto size = static_cast<std::size_t>(h.frame_size());
            if (!window_.has(pos, size)) s = co_await window_.load(loop, pos, size, limit);
            if (auto f = frame_at(s, pos, limit)) co_return *f;
        }
        frame_step step;
        step.offset = pos;
        if (auto next = co_await find_next(loop, pos + 1, limit)) {
            step.what = frame_step::kind::garbage;
            step.end = *next;
            co_return step;
        }
        step.end = limit;
        s = co_await window_.load(loop, pos, max_header_size, limit);
        if (parse_frame_header(s, h) == header_check::valid) step.header = h;
        co_return step;
    }

private:
    /// The offset of the next valid frame header in [pos, limit), if any.
    task<std::optional<std::uint64_t>> find_next(io_loop& loop, std::uint64_t pos, std::uint64_t limit) {
        while (pos < limit) {
            std::span<const std::byte> s = co_await window_.load(loop, pos, 2 * max_header_size, limit);
            const bool at_end = pos + s.size() >= limit || s.size() < 2 * max_header_size;
            // Candidates whose whole header is in `s` (all of them once `s` reaches the limit).
            const std::size_t scan = at_end ? s.size() : s.size() - (max_header_size - 1);
            if (auto i = find_header(s.first(at_end ? s.size() : scan + max_header_size - 1), 0); i && *i < scan)
                co_return pos + *i;
            if (at_end) break;
            pos += scan;
        }
        co_return std::nullopt;
    }

    file_window window_;
};

} // namespace sluice::detail::disk
