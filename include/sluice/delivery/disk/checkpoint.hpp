#pragma once

// The acknowledgement checkpoint of a disk_buffer: which records are done, per segment, replaced
// atomically (write acks.tmp, rename to acks). Acknowledgements after the last checkpoint are lost in a
// crash: those records are delivered again (at-least-once).
//
// Format (little-endian), version 2:
//   "SLUICEAK", u32 version (2), u32 entry count, u64 next sequence, u64 next record id, then one entry
//   per live segment: u64 sequence, u64 first id, u64 end id, u32 flags (bit 0: sealed; bit 1: the
//   first record's offset is known), u32 leading all-acknowledged 64-bit words, u32 word count, u32 the
//   file offset of its first record's frame (0 without bit 1), that many u64 bitmap words (bit i: record
//   first id + 64 * leading + i done); u32 CRC32C of everything before.
// The first record's offset came later than version 2 itself, in what was a reserved zero: older sluice
// ignores it, and a checkpoint without it reads as "not known".
// Version 1 (older sluice) listed only segments with something acknowledged, without end ids or flags
// (entry: u64 sequence, u64 first id, u32 leading words, u32 word count, words); it is still read.
//
// Listing every live segment (version 2) is what lets recovery count the records of a segment file that
// disappeared: a listed segment that is missing was deleted by something else, since the buffer deletes
// a file only after a checkpoint without it is in place (segment_table.hpp).

#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/codec/crc32c.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/disk/segment_format.hpp>
#include <sluice/delivery/disk/segment_table.hpp>
#include <sluice/io/loop.hpp>

namespace sluice::detail::disk {

inline constexpr char ack_magic[8] = {'S', 'L', 'U', 'I', 'C', 'E', 'A', 'K'};
inline constexpr std::uint32_t ack_version = 2;
inline constexpr std::size_t ack_header_size = 32;
inline constexpr std::size_t ack_entry_v1_size = 24;
inline constexpr std::size_t ack_entry_size = 40;
inline constexpr std::uint32_t ack_sealed_flag = 1;
inline constexpr std::uint32_t ack_first_offset_flag = 2;

/// One segment as the checkpoint knew it.
struct ack_entry {
    record_id first_id = 0;
    record_id end_id = 0; ///< version 2: the end of its ids when the checkpoint was written
    bool has_end = false; ///< version 2: end_id is known (ids from it on were not written yet)
    bool sealed = false;  ///< version 2: no record was to be added to it any more
    /// Where the open that wrote the checkpoint found (or wrote) the frame of the first record (0: not
    /// known): recovery of a damaged segment starts there, and so takes the records that open took.
    std::uint32_t first_offset = 0;
    std::uint32_t skip_words = 0;
    std::vector<std::uint64_t> words;

    [[nodiscard]] bool acked(record_id id) const noexcept {
        if (id < first_id || (has_end && id >= end_id)) return false;
        const std::uint64_t w = (id - first_id) / 64;
        if (w < skip_words) return true;
        const std::uint64_t i = w - skip_words;
        return i < words.size() && ((words[i] >> ((id - first_id) % 64)) & 1u) != 0;
    }

    /// How many of the ids in [from, to) (within the entry's) are marked done.
    [[nodiscard]] std::uint64_t acked_between(record_id from, record_id to) const noexcept {
        from = std::max(from, first_id);
        if (has_end) to = std::min(to, end_id);
        if (to <= from) return 0;
        const std::uint64_t lead_end = first_id + std::uint64_t{skip_words} * 64;
        std::uint64_t n = from < lead_end ? std::min(to, lead_end) - from : 0;
        for (std::size_t w = 0; w < words.size(); ++w) {
            const record_id base = lead_end + 64 * w;
            if (base >= to) break;
            if (base + 64 <= from) continue;
            std::uint64_t bits = words[w];
            if (from > base) bits &= ~std::uint64_t{0} << (from - base);
            if (to < base + 64) bits &= (std::uint64_t{1} << (to - base)) - 1;
            n += static_cast<std::uint64_t>(std::popcount(bits));
        }
        return n;
    }
};

/// A checkpoint as read back.
struct checkpoint_data {
    std::uint32_t version = 0;
    std::uint64_t next_seq = 0;
    record_id next_id = 0;
    std::map<std::uint64_t, ack_entry> entries; ///< by sequence number
};

/// Parses checkpoint bytes; nothing when they are not a well-formed, plausible checkpoint.
[[nodiscard]] inline std::optional<checkpoint_data> parse_checkpoint(std::span<const std::byte> b) {
    if (b.size() < ack_header_size + 4 || std::memcmp(b.data(), ack_magic, 8) != 0) return std::nullopt;
    if (crc32c(b.first(b.size() - 4)) != load32(b.data() + b.size() - 4)) return std::nullopt;
    checkpoint_data ck;
    ck.version = load32(b.data() + 8);
    if (ck.version != 1 && ck.version != ack_version) return std::nullopt;
    const std::uint32_t entries = load32(b.data() + 12);
    ck.next_seq = load64(b.data() + 16);
    ck.next_id = load64(b.data() + 24);
    // Ends are exclusive: a buffer whose last record is max_record_id - 1 continues at max_record_id.
    if (ck.next_id > max_record_id) return std::nullopt;
    const std::size_t entry_size = ck.version == 1 ? ack_entry_v1_size : ack_entry_size;
    std::size_t pos = ack_header_size;
    const std::size_t end = b.size() - 4;
    for (std::uint32_t i = 0; i < entries; ++i) {
        if (end - pos < entry_size) return std::nullopt;
        const std::byte* e = b.data() + pos;
        ack_entry a;
        const std::uint64_t seq = load64(e);
        a.first_id = load64(e + 8);
        std::uint32_t words = 0;
        if (ck.version == 1) {
            a.skip_words = load32(e + 16);
            words = load32(e + 20);
            a.end_id = a.first_id;
        } else {
            a.end_id = load64(e + 16);
            a.has_end = true;
            const std::uint32_t flags = load32(e + 24);
            a.sealed = (flags & ack_sealed_flag) != 0;
            a.skip_words = load32(e + 28);
            words = load32(e + 32);
            if ((flags & ack_first_offset_flag) != 0) a.first_offset = load32(e + 36);
        }
        if (a.first_id > max_record_id || a.end_id > max_record_id || a.end_id < a.first_id) return std::nullopt;
        pos += entry_size;
        if ((end - pos) / 8 < words) return std::nullopt;
        a.words.resize(words);
        for (std::uint32_t w = 0; w < words; ++w) a.words[w] = load64(b.data() + pos + 8 * w);
        pos += 8 * std::size_t{words};
        if (!ck.entries.emplace(seq, std::move(a)).second) return std::nullopt;
    }
    if (pos != end) return std::nullopt;
    return ck;
}

/// Encodes the checkpoint of `segments` (version 2) into `out`.
inline void encode_checkpoint(byte_buffer& out, const segment_table::map_type& segments, std::uint64_t next_seq,
                              record_id next_id) {
    out.clear();
    std::byte* h = out.extend(ack_header_size);
    std::memcpy(h, ack_magic, 8);
    store32(h + 8, ack_version);
    store32(h + 12, static_cast<std::uint32_t>(segments.size()));
    store64(h + 16, next_seq);
    store64(h + 24, next_id);
    for (const auto& [seq, s] : segments) {
        std::size_t skip = 0;
        while (skip < s.done.size() && s.done[skip] == ~std::uint64_t{0}) ++skip;
        std::size_t last = s.done.size();
        while (last > skip && s.done[last - 1] == 0) --last;
        std::byte* e = out.extend(ack_entry_size + 8 * (last - skip));
        store64(e, seq);
        store64(e + 8, s.first_id);
        store64(e + 16, s.end_id);
        store32(e + 24, (s.sealed ? ack_sealed_flag : 0) | (s.first_offset != 0 ? ack_first_offset_flag : 0));
        store32(e + 28, static_cast<std::uint32_t>(skip));
        store32(e + 32, static_cast<std::uint32_t>(last - skip));
        store32(e + 36, s.first_offset);
        for (std::size_t i = skip; i < last; ++i) {
            // Bits past the end of the ids are ones in memory ("absent"); ids written later are not done.
            std::uint64_t word = s.done[i];
            const std::uint64_t base = 64 * i;
            if (base + 64 > s.end_id - s.first_id) word &= (std::uint64_t{1} << (s.end_id - s.first_id - base)) - 1;
            store64(e + ack_entry_size + 8 * (i - skip), word);
        }
    }
    const std::uint32_t crc = crc32c(out.view());
    store32(out.extend(4), crc);
}

/// Writes checkpoints of a buffer's state and deletes the segment files they no longer list.
class checkpoint_writer {
public:
    explicit checkpoint_writer(buffer_state& state) noexcept : state_(&state) {}

    /// Replaces the checkpoint with the current state through the loop, then deletes the files of the
    /// segments retired before it was encoded. Throws std::system_error naming the file when it cannot
    /// be written (the old one stays).
    task<void> write() {
        buffer_state& st = *state_;
        encode();
        std::vector<std::string> retired = st.segments.take_retired();
        ++writing_;
        int fd = -1;
        try {
            fd = co_await st.loop->open(st.ack_tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            co_await st.loop->write_all(fd, buf_.view(), 0);
            const int f = std::exchange(fd, -1);
            co_await st.loop->close(f);
            if (::rename(st.ack_tmp_path.c_str(), st.ack_path.c_str()) != 0)
                throw std::system_error(errno, std::system_category(), "rename");
        } catch (const std::system_error& e) {
            --writing_;
            if (fd >= 0) ::close(fd);
            failed(std::move(retired));
            throw std::system_error(e.code(), "disk_buffer: cannot write the acknowledgement checkpoint " +
                                                  buffer_state::quoted(st.ack_path) +
                                                  " (acknowledgements since the last one "
                                                  "would be replayed after a crash)");
        }
        --writing_;
        written(retired);
    }

    /// Retires a segment whose records are all done, and deletes its file at once behind a checkpoint
    /// written synchronously (a few hundred bytes, no fsync: cheaper than keeping the file around).
    /// While a checkpoint is being written through the loop, the file waits for the next one.
    void retire(std::uint64_t seq) {
        buffer_state& st = *state_;
        st.segments.retire(seq);
        ++st.stats.segments_deleted;
        st.acks_dirty = true;
        if (writing_ != 0) return;
        encode();
        std::vector<std::string> retired = st.segments.take_retired();
        const int fd = ::open(st.ack_tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        bool ok = fd >= 0;
        for (std::size_t done = 0; ok && done < buf_.size();) {
            const ssize_t n = ::write(fd, buf_.data() + done, buf_.size() - done);
            if (n < 0 && errno == EINTR) continue;
            ok = n > 0;
            if (ok) done += static_cast<std::size_t>(n);
        }
        if (fd >= 0 && ::close(fd) != 0) ok = false;
        ok = ok && ::rename(st.ack_tmp_path.c_str(), st.ack_path.c_str()) == 0;
        if (ok)
            written(retired);
        else
            failed(std::move(retired));
    }

    /// Deletes retired segment files now, writing a checkpoint first when it can: their space is
    /// needed. Should the checkpoint fail (a full disk), they go anyway; recovery after a crash may then
    /// count their records as lost although they were all acknowledged, which errs on the safe side.
    task<void> free_retired() {
        if (!state_->segments.has_retired()) co_return;
        try {
            co_await write();
        } catch (const std::system_error&) {
            for (const auto& path : state_->segments.take_retired()) ::unlink(path.c_str());
        }
    }

    /// write(), but when the disk is full, the retired segments' files go first to make room (their
    /// records are all acknowledged; see free_retired() for what a crash then reports), and it tries
    /// once more. Throws what the last attempt threw.
    task<void> write_making_room() {
        try {
            co_await write();
            co_return;
        } catch (const std::system_error& e) {
            const int code = e.code().value();
            if (e.code().category() != std::system_category() || (code != ENOSPC && code != EDQUOT && code != EFBIG))
                throw;
            if (!state_->segments.has_retired()) throw;
        }
        for (const auto& path : state_->segments.take_retired()) ::unlink(path.c_str());
        co_await write();
    }

private:
    void encode() {
        state_->acks_dirty = false; // acknowledgements arriving meanwhile make it dirty again
        encode_checkpoint(buf_, state_->segments.all(), state_->next_seq, state_->next_id);
    }

    void written(const std::vector<std::string>& retired) {
        ++state_->stats.ack_checkpoints;
        for (const auto& path : retired) ::unlink(path.c_str());
    }

    void failed(std::vector<std::string> retired) {
        ::unlink(state_->ack_tmp_path.c_str());
        state_->acks_dirty = true;
        state_->segments.give_back(std::move(retired));
    }

    buffer_state* state_;
    byte_buffer buf_;
    int writing_ = 0; // checkpoints being written through the loop
};

/// Reads the checkpoint at `path`: nothing when there is none; `corrupt` set when there is one that
/// cannot be used. Throws std::system_error when it cannot be read.
inline task<std::optional<checkpoint_data>> read_checkpoint(io_loop& loop, const std::string& path, bool& corrupt,
                                                            std::uint64_t& size) {
    corrupt = false;
    size = 0;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) co_return std::nullopt;
        throw std::system_error(errno, std::system_category(), "disk_buffer: cannot open '" + path + "'");
    }
    struct closer {
        int fd;
        ~closer() { ::close(fd); }
    } guard{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0)
        throw std::system_error(errno, std::system_category(), "disk_buffer: cannot stat '" + path + "'");
    byte_buffer buf;
    const auto want = static_cast<std::size_t>(st.st_size);
    buf.extend(want);
    std::size_t got = 0;
    while (got < want) {
        const int n = co_await loop.read(fd, std::span<std::byte>(buf.data() + got, want - got), got);
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    buf.truncate(got);
    size = got;
    auto ck = parse_checkpoint(buf.view());
    if (!ck) corrupt = true;
    co_return ck;
}

} // namespace sluice::detail::disk
