#pragma once

// How disk_buffer recovery judges the frames of one segment file, one step of the frame walker at a
// time: which are its records, which are copies of ids held elsewhere (cut or skipped), which are
// implausible (skipped as corrupt), and what is lost between them. The rules are the ones recovery.hpp's
// file comment lists; recovery.hpp decides the floor, the ceiling and where the walk starts.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sluice/delivery/disk/checkpoint.hpp>
#include <sluice/delivery/disk/segment_format.hpp>
#include <sluice/delivery/disk/types.hpp>

namespace sluice::detail::disk {

/// A *.seg file found at open.
struct found_file {
    enum class kind { ours, foreign, torn_creation };
    std::uint64_t seq = 0;
    std::string path;
    int fd = -1;
    std::uint64_t size = 0;
    segment_header_info header;
    std::optional<record_id> first_frame; ///< the id of a valid frame right behind a valid header
    kind what = kind::ours;
};

/// What scanning one segment found.
struct scan_result {
    bool ours = false;             ///< a valid header or at least one valid frame
    std::optional<record_id> first; ///< its first id (the header's, or its first plausible frame's)
    std::uint64_t first_offset = 0; ///< where the first frame kept starts (0: none)
    record_id end = 0;              ///< past the last plausible frame (valid or corrupt)
    std::vector<std::pair<record_id, record_id>> runs; ///< ids of valid records, merged
    std::vector<std::pair<std::uint64_t, std::uint64_t>> skip;
    std::uint64_t size = 0;               ///< bytes kept (after a cut)
    std::optional<std::size_t> tail_issue; ///< the issue a lost tail is counted in (garbage or cut)
    bool unresolved = false;               ///< corrupt bytes no plausible frame followed
};

/// Scans one segment: the decisions of the file comment, frame by frame.
class segment_scanner {
public:
    /// `anchor`: the checkpoint's offset of the first record (`acks->first_offset`), when the frame
    /// there fits the checkpoint's first id; the walk then starts there (scan()).
    segment_scanner(recovery_report& report, const found_file& f, record_id floor, std::optional<record_id> ceiling,
                    const ack_entry* acks, std::optional<std::uint64_t> anchor = std::nullopt)
        : report_(&report), file_(&f), floor_(floor), ceiling_(ceiling), acks_(acks) {
        if (f.header.what == segment_header_info::kind::valid && f.header.first_id >= floor &&
            (!ceiling || f.header.first_id <= *ceiling))
            expect_ = f.header.first_id;
        header_trusted_ = expect_.has_value();
        // The checkpoint knew this segment with the same first id: two records agree, so a first frame
        // that disagrees is the damaged one (implausible), not the header.
        header_confirmed_ = header_trusted_ && acks != nullptr && acks->first_id == *expect_;
        // A segment the checkpoint saw sealed never held ids from its end on: frames claiming them are
        // not its records, whether or not the next segment is still there to say so.
        if (acks != nullptr && acks->sealed && acks->has_end && (!ceiling_ || acks->end_id < *ceiling_))
            ceiling_ = acks->end_id;
        // Nor ids below the first the checkpoint knew it by: frames claiming them were skipped by the
        // open that wrote the checkpoint (held by a segment then), and must stay skipped once that
        // segment is gone, or records would come back that no open ever handed out.
        if (acks != nullptr && acks->first_id > floor_) floor_ = acks->first_id;
        out_.size = f.size;
        if (anchor && acks != nullptr) start_at(*anchor, acks->first_id);
    }

    /// Takes the next step of the walk; false once the walk is over.
    bool take(const frame_step& step) {
        if (step.what == frame_step::kind::torn) {
            torn(step);
            return false;
        }
        if (step.what == frame_step::kind::garbage) {
            garbage(step.offset, step.end, std::to_string(step.end - step.offset) +
                                                " corrupt bytes (no valid record header): skipped");
            return true;
        }
        frame(step);
        return true;
    }

    /// After the last step: cuts a pending stale run; the result.
    scan_result finish() {
        if (stale_from_ && !cut_) cut(*stale_from_, disk_buffer_issue::kind::stale, stale_reason_);
        if (!out_.first && header_trusted_) out_.first = expect_;
        if (expect_) out_.end = *expect_;
        if (out_.first && out_.end < *out_.first) out_.end = *out_.first;
        return std::move(out_);
    }

    [[nodiscard]] std::optional<std::uint64_t> cut_at() const noexcept { return cut_; }

private:
    /// The checkpoint says where the open that wrote it found this segment's first record: the walk
    /// starts there, with that open's first id. What lies before was judged then (not records of this
    /// segment: copies, implausible ids, garbage) and is judged the same way now, even where what is
    /// around the file has changed (an earlier segment gone, a header that reads differently once the
    /// floor is lower): otherwise a record could be handed out by one open and refused by the next.
    void start_at(std::uint64_t offset, record_id first) {
        expect_ = first;
        header_trusted_ = header_confirmed_ = true;
        gap_ = offset - segment_header_size;
        if (offset == segment_header_size) return;
        out_.skip.emplace_back(segment_header_size, offset);
        issue(disk_buffer_issue::kind::corrupt, segment_header_size, gap_, 0,
              std::to_string(gap_) + " bytes before record " + std::to_string(first) +
                  ", where the checkpoint says this segment's records start: skipped, as when it was written");
    }

    void frame(const frame_step& step) {
        const frame_header& h = *step.header;
        out_.ours = true;
        // The header is wrong when the record right behind it disagrees with it.
        if (header_trusted_ && !header_confirmed_ && step.offset == segment_header_size && h.first_id != *expect_ &&
            !backward(h)) {
            issue(disk_buffer_issue::kind::corrupt, 0, segment_header_size, 0,
                  "the segment header says its first record is " + std::to_string(*expect_) +
                      ", the record behind it is " + std::to_string(h.first_id) + ": header ignored");
            header_trusted_ = false;
            expect_.reset();
        }
        if (backward(h)) {
            if (!stale_from_) {
                stale_from_ = step.offset;
                stale_reason_ = "record id " + std::to_string(h.first_id) +
                                " repeats or overlaps ids held elsewhere: left over from a failed write";
            }
            gap_ += step.end - step.offset;
            backward_end_ = h.end_id();
            backward_gap_ = 0;
            return;
        }
        if (const auto after = implausible_after(h)) {
            garbage(step.offset, step.end,
                    "record id " + std::to_string(h.first_id) + " is implausible after " + std::to_string(after->first) +
                        " (" + std::to_string(after->second) + " bytes between): skipped");
            return;
        }
        settle_stale(step.offset);
        if (!out_.first) {
            out_.first = header_trusted_ ? *expect_ : h.first_id;
            out_.first_offset = step.offset;
        }
        settle_open_issue(h.first_id);
        if (!step.crc_ok) {
            const std::uint64_t lost = lost_between(h.first_id, h.end_id());
            issue(disk_buffer_issue::kind::corrupt, step.offset, step.end - step.offset, lost,
                  std::string(h.block ? "block of " + std::to_string(h.count) + " records" : "record") + " " +
                      std::to_string(h.first_id) + " fails its CRC32C: skipped");
            report_->corrupt_records_skipped += lost;
            out_.skip.emplace_back(step.offset, step.end);
        } else if (!out_.runs.empty() && out_.runs.back().second == h.first_id) {
            out_.runs.back().second = h.end_id();
        } else {
            out_.runs.emplace_back(h.first_id, h.end_id());
        }
        expect_ = h.end_id();
        gap_ = 0;
    }

    /// The id a frame jumps too far ahead of (and the bytes between), if it does. The reference is
    /// the id this segment expects next; before it has one (no trusted header, no frame kept yet), the
    /// last frame that went back: copies of ids held elsewhere are still this file's frames, and a
    /// frame cannot hold ids further from theirs than the bytes between allow. Without that reference a
    /// stray id after copies would become the segment's first id whenever the copies' owner is there,
    /// and be refused once it is gone: handed out on one open, missing on the next.
    [[nodiscard]] std::optional<std::pair<record_id, std::uint64_t>> implausible_after(const frame_header& h) const noexcept {
        if (expect_) {
            if (h.first_id - *expect_ > gap_) return std::pair{*expect_, gap_};
        } else if (backward_end_ && h.first_id > *backward_end_ && h.first_id - *backward_end_ > backward_gap_) {
            return std::pair{*backward_end_, backward_gap_};
        }
        return std::nullopt;
    }

    /// Ids held by an earlier part of this segment, an earlier segment, or a later one.
    [[nodiscard]] bool backward(const frame_header& h) const noexcept {
        return (expect_ && h.first_id < *expect_) || h.first_id < floor_ || (ceiling_ && h.end_id() > *ceiling_);
    }

    void garbage(std::uint64_t from, std::uint64_t to, std::string reason) {
        if (open_issue_ && report_->issues[*open_issue_].offset + report_->issues[*open_issue_].bytes == from) {
            report_->issues[*open_issue_].bytes = to - report_->issues[*open_issue_].offset; // one stretch
        } else if (!open_issue_) {
            open_issue_ = issue(disk_buffer_issue::kind::corrupt, from, to - from, 0, std::move(reason));
        }
        out_.skip.emplace_back(from, to);
        gap_ += to - from;
        backward_gap_ += to - from;
    }

    void torn(const frame_step& step) {
        const bool stale = stale_from_.has_value();
        const std::uint64_t at = stale ? *stale_from_ : step.offset;
        const std::uint64_t bytes = out_.size - step.offset;
        std::string reason = stale_reason_;
        if (!stale)
            reason = step.header ? "the last " + std::string(step.header->block ? "block" : "record") +
                                       " is cut short (" + std::to_string(bytes) + " of " +
                                       std::to_string(step.header->frame_size()) + " bytes): a torn write"
                                 : std::to_string(bytes) + " bytes at the end hold no valid record: a torn write "
                                                           "or garbage";
        cut(at, stale ? disk_buffer_issue::kind::stale : disk_buffer_issue::kind::torn, reason);
    }

    void cut(std::uint64_t at, disk_buffer_issue::kind kind, const std::string& reason) {
        cut_ = at;
        const std::size_t i = issue(kind, at, out_.size - at, 0, reason + "; cut off");
        report_->torn_bytes_truncated += out_.size - at;
        out_.size = at;
        stale_from_.reset();
        if (open_issue_) {
            out_.unresolved = true;
            out_.tail_issue = open_issue_;
        } else {
            out_.tail_issue = i;
        }
    }

    /// Frames that went back, followed by a plausible one: copies, skipped (they cost nothing).
    void settle_stale(std::uint64_t until) {
        if (!stale_from_) return;
        issue(disk_buffer_issue::kind::corrupt, *stale_from_, until - *stale_from_, 0,
              "records whose ids are held elsewhere: skipped");
        out_.skip.emplace_back(*stale_from_, until);
        stale_from_.reset();
    }

    /// Corrupt bytes followed by a plausible frame: the ids in between are the records they held.
    void settle_open_issue(record_id next) {
        if (!open_issue_) return;
        const std::uint64_t lost = expect_ ? lost_between(*expect_, next) : 0;
        report_->issues[*open_issue_].records = lost;
        report_->corrupt_records_skipped += lost;
        open_issue_.reset();
    }

    /// Ids of [from, to) the checkpoint does not mark done: records that are gone unread.
    [[nodiscard]] std::uint64_t lost_between(record_id from, record_id to) const noexcept {
        if (to <= from) return 0;
        const bool match = acks_ != nullptr && out_.first && acks_->first_id == *out_.first;
        return (to - from) - (match ? acks_->acked_between(from, to) : 0);
    }

    std::size_t issue(disk_buffer_issue::kind kind, std::uint64_t offset, std::uint64_t bytes, std::uint64_t records,
                      std::string reason) {
        disk_buffer_issue i;
        i.what = kind;
        i.file = file_->path;
        i.offset = offset;
        i.bytes = bytes;
        i.records = records;
        i.reason = std::move(reason);
        report_->issues.push_back(std::move(i));
        return report_->issues.size() - 1;
    }

    recovery_report* report_;
    const found_file* file_;
    record_id floor_;
    std::optional<record_id> ceiling_;
    const ack_entry* acks_;
    std::optional<record_id> expect_; // the next id this segment should hold
    bool header_trusted_ = false;
    bool header_confirmed_ = false; // the checkpoint names the same first id
    std::uint64_t gap_ = 0; // bytes skipped since the last plausible frame
    std::optional<record_id> backward_end_; // past the last frame that went back
    std::uint64_t backward_gap_ = 0;        // bytes skipped since that frame
    std::optional<std::size_t> open_issue_;
    std::optional<std::uint64_t> stale_from_;
    std::string stale_reason_;
    std::optional<std::uint64_t> cut_;
    scan_result out_;
};

} // namespace sluice::detail::disk
