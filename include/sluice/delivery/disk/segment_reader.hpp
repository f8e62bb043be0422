#pragma once

// The reading half of a disk_buffer: records in append order, first from the segment files (the ones
// recovered at open, then the ones written since), then the ones not yet written (from the writer's
// memory, without forcing a write). Every record is checked against its CRC32C when read; a corrupt
// one is skipped, counted and reported through on_corruption. A record is marked lost only through its
// own segment: ids that lie outside it are never touched (another segment may hold them).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <sluice/codec/compression.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/disk/async_gate.hpp>
#include <sluice/delivery/disk/segment_format.hpp>
#include <sluice/delivery/disk/segment_table.hpp>
#include <sluice/delivery/disk/segment_writer.hpp>
#include <sluice/io/loop.hpp>

namespace sluice::detail::disk {

class segment_reader {
public:
    segment_reader(buffer_state& state, segment_writer& writer)
        : st_(&state), writer_(&writer), gate_(*state.loop) {}
    segment_reader(const segment_reader&) = delete;
    segment_reader& operator=(const segment_reader&) = delete;
    ~segment_reader() { release_fds(); }

    task<std::optional<disk_record>> read_next() {
        check_open();
        co_await gate_.lock();
        gate_guard guard(gate_);
        at_end_ = false;
        for (;;) {
            check_open();
            if (dec_pos_ < dec_.size()) {
                if (auto r = next_decoded()) co_return r;
                continue;
            }
            auto& segments = st_->segments.all();
            auto it = segments.lower_bound(seq_);
            if (it != segments.end()) {
                if (it->first != seq_ || off_ == 0) { // 0: not positioned in it yet
                    seq_ = it->first;
                    off_ = segment_header_size;
                    expect_ = it->second.first_id;
                }
                if (off_ < it->second.size) {
                    if (fd_seq_ != seq_) {
                        co_await open_file(it->second.path);
                        continue; // the segment may be gone meanwhile
                    }
                    if (auto r = co_await read_frame()) co_return r;
                    continue;
                }
                if (it->first != writer_->active_seq()) { // a sealed segment, read to its end
                    seq_ = it->first + 1;
                    off_ = 0;
                    continue;
                }
            }
            at_end_ = true;
            co_return next_buffered();
        }
    }

    /// After a write committed: when the reader was caught up, it skips what it already handed out
    /// from memory and goes on from the first record it has not.
    void after_commit(std::span<const written_chunk> chunks) {
        if (!at_end_ || dec_pos_ < dec_.size()) return;
        for (const auto& ch : chunks) {
            seq_ = ch.seq;
            if (watermark_ >= ch.end_id) {
                off_ = ch.end;
                expect_ = ch.end_id;
            } else {
                off_ = ch.begin;
                expect_ = ch.first_id;
                at_end_ = false; // records ahead of it now
                break;
            }
        }
    }

    void release_fds() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        fd_seq_ = 0;
    }

private:
    void check_open() const {
        if (st_->closed) throw std::logic_error("disk_buffer: " + buffer_state::quoted(st_->dir) + " is closed");
    }

    task<void> open_file(std::string path) {
        release_fds();
        const std::uint64_t seq = seq_;
        path_ = std::move(path);
        int fd = -1;
        try {
            fd = co_await st_->loop->open(path_.c_str(), O_RDONLY);
        } catch (const std::system_error& e) {
            if (st_->segments.at(seq) == nullptr) co_return; // retired meanwhile: all acknowledged
            throw std::system_error(e.code(), "disk_buffer: cannot open " + buffer_state::quoted(path_) +
                                                  " for reading");
        }
        fd_ = fd;
        fd_seq_ = seq;
        walker_.reset(fd);
    }

    /// Reads the frame at the read position: a record (returned), a block (decoded for next_decoded),
    /// or corrupt bytes (skipped, reported).
    task<std::optional<disk_record>> read_frame() {
        const std::uint64_t seq = seq_;
        const std::uint64_t off = off_;
        for (const auto& [from, to] : st_->segments.at(seq)->skip) {
            if (from == off) {
                off_ = to;
                co_return std::nullopt;
            }
        }
        frame_step step;
        try {
            step = co_await walker_.step(*st_->loop, off, st_->segments.at(seq)->size);
        } catch (const std::system_error& e) {
            throw std::system_error(e.code(), "disk_buffer: cannot read " + buffer_state::quoted(path_));
        }
        segment* s = st_->segments.at(seq);
        if (s == nullptr || seq_ != seq) co_return std::nullopt; // retired while reading
        off_ = step.end;
        if (step.what != frame_step::kind::frame) {
            // Bytes that are not a frame (or one running past the end): skipped to the next valid header.
            report(off, step.end - off, "no valid record header");
            if (step.what == frame_step::kind::torn) st_->mark_lost(*s, expect_, s->end_id);
            co_return std::nullopt;
        }
        const frame_header& h = *step.header;
        if (h.first_id < s->first_id || h.end_id() > s->end_id) {
            report(off, step.end - off, "record ids " + std::to_string(h.first_id) + " to " +
                                            std::to_string(h.end_id() - 1) + " do not belong to this segment");
            co_return std::nullopt;
        }
        if (!step.crc_ok) {
            report(off, step.end - off, "CRC32C mismatch");
            st_->mark_lost(*s, h.first_id, h.end_id());
            expect_ = std::max(expect_, h.end_id());
            co_return std::nullopt;
        }
        if (h.first_id > expect_) st_->mark_lost(*s, expect_, h.first_id); // after corrupt bytes
        if (h.first_id < expect_) co_return std::nullopt; // stale; recovery cuts these, so only new damage
        expect_ = h.end_id();
        if (!h.block) {
            if (h.first_id < watermark_ || s->is_done(h.first_id)) co_return std::nullopt;
            co_return hand_out(h.first_id, step.body);
        }
        bool wanted = false;
        for (record_id id = std::max(h.first_id, watermark_); id < h.end_id() && !wanted; ++id)
            wanted = !s->is_done(id);
        if (wanted) decode(*s, h, step.body, off);
        co_return std::nullopt;
    }

    /// Decompresses a block for next_decoded; a block that does not decompress is reported and lost.
    void decode(segment& s, const frame_header& h, std::span<const std::byte> body, std::uint64_t off) {
        block_codec* codec = nullptr;
        try {
            codec = &decoder(h.codec);
        } catch (const std::invalid_argument& e) {
            off_ = off; // nothing skipped
            throw std::runtime_error("disk_buffer: " + buffer_state::quoted(path_) + " at offset " +
                                     std::to_string(off) + " holds a " + std::string(to_string(h.codec)) +
                                     " block that this build cannot read (" + e.what() + "); nothing was skipped");
        }
        dec_.clear();
        dec_.extend(h.raw);
        try {
            codec->decompress(body, std::span<std::byte>(dec_.data(), h.raw));
        } catch (const compression_error& e) {
            dec_.clear();
            report(off, h.frame_size(), e.what());
            st_->mark_lost(s, h.first_id, h.end_id());
            return;
        }
        dec_pos_ = 0;
        dec_seq_ = s.seq;
        dec_first_ = h.first_id;
        dec_end_ = h.end_id();
        dec_offset_ = off;
    }

    /// The next wanted record of the decoded block.
    std::optional<disk_record> next_decoded() {
        while (dec_pos_ < dec_.size()) {
            const frame_step step = walk_in_memory(dec_.view(), dec_pos_);
            segment* s = st_->segments.at(dec_seq_);
            const frame_header* h = step.header ? &*step.header : nullptr;
            if (step.what != frame_step::kind::frame || h->block || !step.crc_ok || h->first_id < dec_first_ ||
                h->first_id >= dec_end_) {
                report(dec_offset_, 0, "corrupt record inside a block");
                const record_id from = dec_first_;
                dec_.clear();
                dec_pos_ = 0;
                if (s != nullptr) st_->mark_lost(*s, from, dec_end_);
                return std::nullopt;
            }
            dec_pos_ = static_cast<std::size_t>(step.end);
            dec_first_ = h->first_id + 1; // ids inside only grow
            if (h->first_id < watermark_ || s == nullptr || s->is_done(h->first_id)) continue;
            return hand_out(h->first_id, step.body);
        }
        dec_.clear();
        dec_pos_ = 0;
        return std::nullopt;
    }

    /// The next wanted record among those not yet written: being written first, then buffered.
    std::optional<disk_record> next_buffered() {
        if (auto r = next_in(writer_->in_flight())) return r;
        return next_in(writer_->buffered());
    }

    std::optional<disk_record> next_in(pending_records& m) {
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
        ++st_->stats.records_read;
        return disk_record{id, std::vector<std::byte>(body.begin(), body.end())};
    }

    block_codec& decoder(compression c) {
        auto& slot = decoders_[static_cast<std::size_t>(c)];
        if (!slot) slot.emplace(c);
        return *slot;
    }

    void report(std::uint64_t offset, std::uint64_t bytes, const std::string& why) {
        disk_buffer_issue issue;
        issue.what = disk_buffer_issue::kind::corrupt;
        issue.file = path_;
        issue.offset = offset;
        issue.bytes = bytes;
        issue.reason = why + " while reading; skipped";
        st_->announce(issue);
    }

    buffer_state* st_;
    segment_writer* writer_;
    async_gate gate_;
    std::optional<block_codec> decoders_[3];

    // A position in the files.
    std::uint64_t seq_ = 0;
    std::uint64_t off_ = 0;
    record_id expect_ = 0;
    int fd_ = -1;
    std::uint64_t fd_seq_ = 0;
    std::string path_;
    frame_walker walker_;
    // A decoded block.
    byte_buffer dec_;
    std::size_t dec_pos_ = 0;
    std::uint64_t dec_seq_ = 0;
    record_id dec_first_ = 0;
    record_id dec_end_ = 0;
    std::uint64_t dec_offset_ = 0;

    record_id watermark_ = 0; // every record below was handed out (or skipped)
    bool at_end_ = false;
};

} // namespace sluice::detail::disk
