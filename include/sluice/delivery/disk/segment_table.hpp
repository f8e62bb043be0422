#pragma once

// The segments of a disk_buffer as its parts see them in memory, and the state those parts share.
//
// Every segment covers a range of record ids, [first_id, end_id); the ranges of the segments in the
// table never overlap and grow with the sequence number, so an id names at most one segment (recovery
// drops frames that would break this). A bitmap per segment says which of its ids are done:
// acknowledged, lost to corruption, or absent. A segment whose ids are all done and that is no longer
// written to is retired: it leaves the table at once (its bytes no longer count against max_bytes) but
// its file is deleted only after an acknowledgement checkpoint that no longer lists it has replaced the
// previous one. That order lets recovery tell a segment we deleted from one that went missing.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <sluice/delivery/disk/segment_format.hpp>
#include <sluice/delivery/disk/types.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/metrics.hpp>

namespace sluice::detail::disk {

/// One segment file in memory.
struct segment {
    std::uint64_t seq = 0;
    std::string path;
    record_id first_id = 0; ///< ids of the segment: [first_id, end_id)
    record_id end_id = 0;
    std::uint64_t size = 0; ///< bytes written (and committed)
    std::uint64_t pending = 0;
    bool sealed = false;
    /// Where the frame of its first record starts (0: not known). The checkpoint keeps it, so that a
    /// later recovery of a damaged file takes the same first record as the open that handed it out.
    std::uint32_t first_offset = 0;
    std::vector<std::uint64_t> done; ///< bit i: record first_id + i acknowledged, lost or absent
    /// Stretches [from, to) recovery found corrupt (already reported): the reader jumps over them.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> skip;

    [[nodiscard]] bool contains(record_id id) const noexcept { return id >= first_id && id < end_id; }
    [[nodiscard]] bool is_done(record_id id) const noexcept {
        if (!contains(id)) return true;
        const std::uint64_t i = id - first_id;
        return ((done[i / 64] >> (i % 64)) & 1u) != 0;
    }
    /// Marks `id` done; false when it already was (or is not one of this segment's ids).
    bool mark(record_id id) noexcept {
        if (is_done(id)) return false;
        const std::uint64_t i = id - first_id;
        done[i / 64] |= std::uint64_t{1} << (i % 64);
        --pending;
        return true;
    }
    /// Extends the id range to `new_end` (the new ids start done; callers clear the bits of records).
    void grow(record_id new_end) {
        end_id = std::max(end_id, new_end);
        done.resize(static_cast<std::size_t>((end_id - first_id + 63) / 64), ~std::uint64_t{0});
    }
    /// Clears the done bits of [from, to) (records present and pending), a word at a time.
    void set_pending(record_id from, record_id to) noexcept {
        for (std::uint64_t i = from - first_id, end = to - first_id; i < end;) {
            const std::uint64_t bit = i % 64;
            const std::uint64_t n = std::min<std::uint64_t>(64 - bit, end - i);
            const std::uint64_t mask = (n == 64 ? ~std::uint64_t{0} : ((std::uint64_t{1} << n) - 1)) << bit;
            pending += static_cast<std::uint64_t>(std::popcount(done[i / 64] & mask));
            done[i / 64] &= ~mask;
            i += n;
        }
    }
};

/// The segments by sequence number, and the files waiting to be deleted.
class segment_table {
public:
    using map_type = std::map<std::uint64_t, segment>;

    [[nodiscard]] map_type& all() noexcept { return segments_; }
    [[nodiscard]] const map_type& all() const noexcept { return segments_; }
    [[nodiscard]] std::size_t size() const noexcept { return segments_.size(); }
    [[nodiscard]] std::uint64_t disk_bytes() const noexcept { return disk_bytes_; }
    void add_bytes(std::uint64_t n) noexcept { disk_bytes_ += n; }

    [[nodiscard]] segment* at(std::uint64_t seq) noexcept {
        auto it = segments_.find(seq);
        return it == segments_.end() ? nullptr : &it->second;
    }

    /// The segment holding `id`, if any.
    [[nodiscard]] segment* find(record_id id) noexcept {
        for (auto& [seq, s] : segments_) {
            if (id < s.first_id) return nullptr;
            if (id < s.end_id) return &s;
        }
        return nullptr;
    }

    segment& add(segment s) {
        disk_bytes_ += s.size;
        const std::uint64_t seq = s.seq;
        return segments_.insert_or_assign(seq, std::move(s)).first->second;
    }

    /// Takes a segment whose records are all done out of the table; its file goes once a checkpoint
    /// without it is in place (take_retired).
    void retire(std::uint64_t seq) {
        auto it = segments_.find(seq);
        if (it == segments_.end()) return;
        disk_bytes_ -= it->second.size;
        retired_.push_back(std::move(it->second.path));
        segments_.erase(it);
    }

    [[nodiscard]] bool has_retired() const noexcept { return !retired_.empty(); }
    /// The files of the segments retired so far (the caller deletes them, or gives them back).
    [[nodiscard]] std::vector<std::string> take_retired() { return std::exchange(retired_, {}); }
    void give_back(std::vector<std::string> paths) {
        retired_.insert(retired_.end(), std::make_move_iterator(paths.begin()), std::make_move_iterator(paths.end()));
    }

private:
    map_type segments_;
    std::vector<std::string> retired_;
    std::uint64_t disk_bytes_ = 0;
};

/// What the writer, the reader, the checkpoint and recovery of one disk_buffer share. Lives in the
/// disk_buffer; everything runs on its loop's thread.
struct buffer_state {
    buffer_state(io_loop& l, disk_buffer_options o)
        : loop(&l), options(std::move(o)), dir(options.directory.string()),
          ack_path((options.directory / "acks").string()), ack_tmp_path((options.directory / "acks.tmp").string()) {
        if (options.metrics != nullptr) {
            const label_set labels{{"name", options.metrics_name}};
            corruption_metric = options.metrics->get_counter(
                "sluice_disk_buffer_corruption_total",
                "Problems found in disk buffer files: corrupt or missing records, torn tails, foreign files.", labels);
            lost_metric = options.metrics->get_counter("sluice_disk_buffer_records_lost_total",
                                                       "Records a disk buffer lost to damaged or missing files.", labels);
        }
    }
    buffer_state(const buffer_state&) = delete;
    buffer_state& operator=(const buffer_state&) = delete;

    io_loop* loop;
    disk_buffer_options options;
    std::string dir;
    std::string ack_path;
    std::string ack_tmp_path;
    int dir_fd = -1;
    bool closed = false;

    segment_table segments;
    std::uint64_t next_seq = 1;
    record_id next_id = 0;
    record_id stable_next_id = 0; ///< ids below belong to calls that returned
    std::uint64_t pending = 0;    ///< records neither done nor lost, on disk and in memory
    bool acks_dirty = false;      ///< the checkpoint on disk is behind

    disk_buffer_stats stats;
    recovery_report recovery;
    counter corruption_metric;
    counter lost_metric;

    static std::string quoted(const std::string& s) { return "'" + s + "'"; }

    /// Hands a problem to on_corruption and counts it (the records it cost are counted by whoever
    /// marks them lost).
    void announce(const disk_buffer_issue& issue) {
        corruption_metric.inc();
        if (options.on_corruption) options.on_corruption("disk_buffer: " + issue.describe());
    }

    /// Records of [first, end) of segment `s`, found lost while reading: done and counted. Ids outside
    /// `s` are another segment's business and are never touched.
    std::uint64_t mark_lost(segment& s, record_id first, record_id end) {
        std::uint64_t lost = 0;
        for (record_id id = std::max(first, s.first_id); id < std::min(end, s.end_id); ++id) {
            if (!s.mark(id)) continue;
            --pending;
            ++lost;
        }
        stats.corrupt_records_skipped += lost;
        stats.records_lost += lost;
        lost_metric.add(lost);
        if (lost != 0) acks_dirty = true;
        return lost;
    }
};

} // namespace sluice::detail::disk
