#pragma once

// What disk_buffer::open() does with the files it finds. Every segment is scanned with the frame
// walker: a record or block cut short at the end of a file (a torn write) is cut off by truncating the
// file; a corrupt record (bad CRC, bad header) is skipped, counted and reported with its file and
// offset, and scanning resynchronises on the next valid header; everything valid is replayed unless the
// checkpoint says it was acknowledged.
//
// Record ids increase through a segment and from one segment to the next, which is what lets recovery
// count what it cannot read:
//   - a frame whose ids jump further ahead than the bytes skipped before it could hold (every record
//     takes at least a byte) is implausible: skipped as corrupt, never trusted to size anything;
//   - a frame whose ids go back (below what came before it in the file, or below the previous
//     segment's) repeats ids held elsewhere: cut when nothing valid follows it (a failed write that could
//     not be rolled back), skipped otherwise; so no id is ever in two segments;
//   - the records between where a segment's valid frames end and where the next one's start are lost
//     (a segment cut short, or damaged at its end), and so are the unacknowledged records of a segment
//     that should be there and is not (checkpoint.hpp says how that is known).
// Only files that are ours are changed. A file with a valid segment header, or holding valid frames, is
// ours; any other *.seg file is renamed aside (*.corrupt), never truncated nor deleted. An empty file, or
// one holding only the start of the header we would write, is what a crash between creating a segment
// and writing its header leaves: it is removed without an issue.

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/core/task.hpp>
#include <sluice/delivery/disk/checkpoint.hpp>
#include <sluice/delivery/disk/segment_format.hpp>
#include <sluice/delivery/disk/segment_scanner.hpp>
#include <sluice/delivery/disk/segment_table.hpp>
#include <sluice/io/loop.hpp>

namespace sluice::detail::disk {

/// Closes descriptors on scope exit (the segment files recovery opened; the reader opens its own).
struct fd_list {
    std::vector<int> fds;
    fd_list() = default;
    fd_list(const fd_list&) = delete;
    fd_list& operator=(const fd_list&) = delete;
    ~fd_list() { close_all(); }
    void close_all() noexcept {
        for (int fd : fds)
            if (fd >= 0) ::close(fd);
        fds.clear();
    }
};

class recovery {
public:
    recovery(buffer_state& state, checkpoint_writer& checkpoint) noexcept : st_(&state), ck_writer_(&checkpoint) {}

    /// Opens and locks the directory (lock_fd receives the LOCK file's descriptor) and recovers it.
    task<void> run(int& lock_fd) {
        prepare_directory(lock_fd);
        co_await load_checkpoint();
        list_files();
        co_await read_headers();
        for (found_file& f : files_) {
            if (f.what == found_file::kind::ours) co_await scan(f);
        }
        for (found_file& f : files_) {
            if (f.what != found_file::kind::ours) set_aside(f);
        }
        count_missing();
        count_lost_tails();
        co_await finish();
    }

private:
    struct kept_segment {
        record_id first;
        record_id end;
    };

    [[nodiscard]] recovery_report& report() noexcept { return st_->recovery; }
    [[nodiscard]] const recovery_report& report() const noexcept { return st_->recovery; }

    void prepare_directory(int& lock_fd) {
        std::error_code ec;
        std::filesystem::create_directories(st_->options.directory, ec);
        if (ec) throw std::system_error(ec, "disk_buffer: cannot create the directory " + buffer_state::quoted(st_->dir));
        const std::string path = (st_->options.directory / "LOCK").string();
        lock_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lock_fd < 0)
            throw std::system_error(errno, std::system_category(), "disk_buffer: cannot open " + buffer_state::quoted(path));
        if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
            const int e = errno;
            if (e == EWOULDBLOCK)
                throw std::runtime_error("disk_buffer: " + buffer_state::quoted(st_->dir) +
                                         " is in use by another disk_buffer (" + buffer_state::quoted(path) +
                                         " is locked)");
            throw std::system_error(e, std::system_category(), "disk_buffer: cannot lock " + buffer_state::quoted(path));
        }
        st_->dir_fd = ::open(st_->dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (st_->dir_fd < 0)
            throw std::system_error(errno, std::system_category(),
                                    "disk_buffer: cannot open the directory " + buffer_state::quoted(st_->dir));
    }

    task<void> load_checkpoint() {
        bool corrupt = false;
        std::uint64_t size = 0;
        ck_ = co_await read_checkpoint(*st_->loop, st_->ack_path, corrupt, size);
        ck_corrupt_ = corrupt;
        ::unlink(st_->ack_tmp_path.c_str());
        if (!corrupt) co_return;
        disk_buffer_issue issue;
        issue.what = disk_buffer_issue::kind::bad_file;
        issue.file = st_->ack_path;
        issue.bytes = size;
        issue.reason = "the acknowledgement checkpoint is corrupt: ignored, so every record is replayed";
        report().issues.push_back(std::move(issue));
    }

    void list_files() {
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(st_->options.directory, ec)) {
            const auto seq = parse_segment_name(entry.path().filename().string());
            if (!seq || !entry.is_regular_file()) continue;
            found_file f;
            f.seq = *seq;
            f.path = entry.path().string();
            files_.push_back(std::move(f));
        }
        if (ec) throw std::system_error(ec, "disk_buffer: cannot list " + buffer_state::quoted(st_->dir));
        std::sort(files_.begin(), files_.end(), [](const found_file& a, const found_file& b) { return a.seq < b.seq; });
        report().segments = files_.size();
    }

    /// Every header first, so a segment of an unknown version stops open() before anything changes.
    task<void> read_headers() {
        for (found_file& f : files_) {
            path_ = f.path;
            // Read only: a file is changed (truncated) only once it is known to be ours.
            bool unreadable = false;
            try {
                f.fd = co_await st_->loop->open(path_.c_str(), O_RDONLY);
            } catch (const std::system_error& e) {
                if (e.code() != std::errc::permission_denied)
                    throw std::system_error(e.code(), "disk_buffer: cannot open " + buffer_state::quoted(f.path));
                unreadable = true; // not a file we wrote
            }
            if (unreadable) {
                f.what = found_file::kind::foreign;
                continue;
            }
            fds_.fds.push_back(f.fd);
            struct stat sb {};
            if (::fstat(f.fd, &sb) != 0)
                throw std::system_error(errno, std::system_category(),
                                        "disk_buffer: cannot stat " + buffer_state::quoted(f.path));
            f.size = static_cast<std::uint64_t>(sb.st_size);
            std::array<std::byte, segment_header_size> head{};
            std::size_t got = 0;
            while (got < head.size() && got < f.size) {
                const int n = co_await st_->loop->read(f.fd, std::span<std::byte>(head.data() + got, head.size() - got), got);
                if (n == 0) break;
                got += static_cast<std::size_t>(n);
            }
            f.header = parse_segment_header(std::span<const std::byte>(head.data(), got), f.size, f.seq);
            if (f.header.what == segment_header_info::kind::newer_version)
                throw std::runtime_error("disk_buffer: " + buffer_state::quoted(f.path) + " has format version " +
                                         std::to_string(f.header.version) + "; this sluice reads version " +
                                         std::to_string(format_version) + " (nothing was changed)");
            if (f.header.what == segment_header_info::kind::torn_creation) f.what = found_file::kind::torn_creation;
            if (f.header.what == segment_header_info::kind::valid && f.size > segment_header_size) {
                frame_walker walker;
                walker.reset(f.fd);
                const frame_step first = co_await walker.step(*st_->loop, segment_header_size, f.size);
                if (first.what == frame_step::kind::frame) f.first_frame = first.header->first_id;
            }
        }
    }

    /// The first id of the next segment with a valid header: ids at or above it are not this one's.
    /// A later header naming an id at or below this segment's start, below the floor, or below the end
    /// the checkpoint saw this segment sealed at, is wrong itself (ids only grow from one segment to
    /// the next) and bounds nothing: trusted, it would make every record here look like a copy and
    /// cut them all.
    [[nodiscard]] std::optional<record_id> ceiling_after(const found_file& f, record_id floor, const ack_entry* acks) const {
        record_id lowest = floor;
        std::optional<record_id> start;
        if (f.header.what == segment_header_info::kind::valid) start = f.header.first_id;
        if (acks != nullptr) {
            start = start ? std::max(*start, acks->first_id) : acks->first_id;
            if (acks->sealed && acks->has_end) lowest = std::max(lowest, acks->end_id);
        }
        for (const found_file& g : files_) {
            if (g.seq <= f.seq || g.header.what != segment_header_info::kind::valid) continue;
            const record_id next = g.header.first_id;
            // A header the record right behind it contradicts (a higher id) is ignored when its own
            // segment is scanned, unless the checkpoint knew that segment by it: it bounds nothing here
            // either, or this segment would be judged by a bound the next open no longer has.
            const ack_entry* g_acks = entry(g.seq);
            if (g.first_frame && *g.first_frame > next && (g_acks == nullptr || g_acks->first_id != next)) continue;
            if (next >= lowest && (!start || next > *start)) return next;
        }
        return std::nullopt;
    }

    task<void> scan(found_file& f) {
        const std::size_t issues_start = report().issues.size();
        if (f.header.what != segment_header_info::kind::valid) {
            disk_buffer_issue issue;
            issue.file = f.path;
            issue.bytes = std::min<std::uint64_t>(f.size, segment_header_size);
            issue.reason = f.size < segment_header_size ? "segment header cut short" : "bad segment header";
            report().issues.push_back(std::move(issue));
        }
        const record_id floor = ids_end_;
        const ack_entry* acks = entry(f.seq);
        const std::optional<record_id> ceiling = ceiling_after(f, floor, acks);
        frame_walker walker;
        walker.reset(f.fd);
        const std::optional<std::uint64_t> anchor = co_await anchor_of(walker, f, floor, ceiling, acks);
        segment_scanner scanner(report(), f, floor, ceiling, acks, anchor);
        try {
            for (std::uint64_t pos = anchor.value_or(segment_header_size); pos < f.size;) {
                const frame_step step = co_await walker.step(*st_->loop, pos, f.size);
                if (!scanner.take(step)) break;
                pos = step.end;
            }
        } catch (const std::system_error& e) {
            throw std::system_error(e.code(), "disk_buffer: cannot read " + buffer_state::quoted(f.path));
        }
        scan_result r = scanner.finish();
        if (!r.ours && f.header.what != segment_header_info::kind::valid) {
            // Not recognisably ours: nothing it said counts, and nothing is changed.
            report().issues.resize(issues_start);
            report().corrupt_records_skipped = corrupt_before_;
            report().torn_bytes_truncated = torn_before_;
            f.what = found_file::kind::foreign;
            co_return;
        }
        corrupt_before_ = report().corrupt_records_skipped;
        torn_before_ = report().torn_bytes_truncated;
        if (auto at = scanner.cut_at()) {
            if (::truncate(f.path.c_str(), static_cast<off_t>(*at)) != 0)
                throw std::system_error(errno, std::system_category(),
                                        "disk_buffer: cannot truncate " + buffer_state::quoted(f.path));
        }
        keep(f, std::move(r));
    }

    /// The checkpoint's offset of segment `f`'s first record, when the frame there still fits what the
    /// checkpoint says (its first id, or a later one the bytes before could account for) and no
    /// earlier or later segment holds its ids: where the scan starts. Nothing when anything disagrees:
    /// the scan then starts after the header, as without a checkpoint.
    task<std::optional<std::uint64_t>> anchor_of(frame_walker& walker, const found_file& f, record_id floor,
                                                 std::optional<record_id> ceiling, const ack_entry* acks) {
        if (acks == nullptr || acks->first_offset < segment_header_size || acks->first_offset >= f.size ||
            acks->first_id < floor)
            co_return std::nullopt;
        frame_step at;
        bool readable = true;
        try {
            at = co_await walker.step(*st_->loop, acks->first_offset, f.size);
        } catch (const std::system_error&) {
            readable = false; // the scan meets it again and says so
        }
        if (!readable || at.what != frame_step::kind::frame) co_return std::nullopt;
        const frame_header& h = *at.header;
        const bool fits = h.first_id >= acks->first_id &&
                          h.first_id - acks->first_id <= acks->first_offset - segment_header_size &&
                          (!ceiling || h.end_id() <= *ceiling) &&
                          (!acks->sealed || !acks->has_end || h.end_id() <= acks->end_id);
        if (!fits) co_return std::nullopt;
        co_return acks->first_offset;
    }

    /// A scanned segment joins the table with its valid records pending, unless acknowledged.
    void keep(const found_file& f, scan_result r) {
        // A segment without a record of its own sits where the ids stand, not below them: its end
        // must neither lower the floor of the next segment nor make the gap to it look like losses.
        if (!r.first) r.end = std::max(r.end, ids_end_);
        ids_end_ = std::max(ids_end_, r.end);
        const record_id first = r.first.value_or(r.end);
        kept_[f.seq] = kept_segment{first, r.end};
        tails_[f.seq] = {r.tail_issue, r.unresolved};
        sizes_[f.seq] = r.size;
        segment s;
        s.seq = f.seq;
        s.path = f.path;
        s.first_id = first;
        s.end_id = first;
        s.size = r.size;
        if (r.first && r.first_offset <= std::numeric_limits<std::uint32_t>::max())
            s.first_offset = static_cast<std::uint32_t>(r.first_offset);
        s.sealed = true;
        s.skip = std::move(r.skip);
        s.grow(r.end);
        const ack_entry* acks = entry(f.seq);
        if (acks != nullptr && acks->first_id != first) acks = nullptr;
        for (const auto& [from, to] : r.runs) {
            for (record_id id = from; id < to; ++id) {
                if (acks != nullptr && acks->acked(id)) {
                    ++report().records_already_acked;
                    continue;
                }
                s.set_pending(id, id + 1);
            }
        }
        const std::uint64_t pending = s.pending;
        st_->segments.add(std::move(s));
        if (pending == 0) {
            st_->segments.retire(f.seq); // its file goes after the checkpoint finish() writes
            ++report().segments_deleted;
            return;
        }
        report().records_recovered += pending;
        st_->pending += pending;
    }

    /// A file that is not a segment is renamed aside; an empty one from a crash while creating one is
    /// removed.
    void set_aside(const found_file& f) {
        if (f.what == found_file::kind::torn_creation) {
            ::unlink(f.path.c_str());
            ++report().empty_segments_removed;
            return;
        }
        std::string aside = f.path + ".corrupt";
        for (int i = 1; std::filesystem::exists(aside) && i < 1000; ++i) aside = f.path + ".corrupt." + std::to_string(i);
        const bool renamed = !std::filesystem::exists(aside) && ::rename(f.path.c_str(), aside.c_str()) == 0;
        if (!renamed) blocked_seq_ = std::max(blocked_seq_, f.seq); // never reuse its name
        disk_buffer_issue issue;
        issue.what = disk_buffer_issue::kind::bad_file;
        issue.file = f.path;
        issue.bytes = f.size;
        issue.reason = renamed ? "not a readable segment: renamed to " + buffer_state::quoted(aside)
                               : "not a readable segment, and it cannot be renamed aside: left as it is";
        report().issues.push_back(std::move(issue));
    }

    /// The checkpoint's entry for segment `seq`, if any.
    [[nodiscard]] const ack_entry* entry(std::uint64_t seq) const {
        if (!ck_) return nullptr;
        auto e = ck_->entries.find(seq);
        return e == ck_->entries.end() ? nullptr : &e->second;
    }

    /// A version-2 checkpoint lists every live segment; the entry of `seq` when it does.
    [[nodiscard]] const ack_entry* listed(std::uint64_t seq) const {
        return ck_ && ck_->version == ack_version ? entry(seq) : nullptr;
    }

    /// Where segment `seq` ended, when something says so: the next segment's first id (found, or listed
    /// by the checkpoint), or the checkpoint's end of a segment that was sealed then; never past the
    /// first id of the next segment found, whatever the checkpoint says (its ids are that segment's: a
    /// segment grown into them would take their acknowledgements, and they would come back).
    [[nodiscard]] std::optional<record_id> known_end(std::uint64_t seq) const {
        if (auto k = kept_.find(seq + 1); k != kept_.end()) return k->second.first;
        std::optional<record_id> end;
        if (const ack_entry* e = listed(seq + 1)) end = e->first_id;
        else if (const ack_entry* e = listed(seq); e != nullptr && e->sealed) end = e->end_id;
        if (auto next = kept_.upper_bound(seq); end && next != kept_.end() && next->second.first < *end)
            end = next->second.first;
        return end;
    }

    /// Ids of [from, to) that the checkpoint entry `e` (when it describes the same ids) does not mark
    /// done: what is lost when they are gone.
    [[nodiscard]] static std::uint64_t unacked(const ack_entry* e, record_id from, record_id to,
                                               std::optional<record_id> first = std::nullopt) noexcept {
        if (to <= from) return 0;
        const bool match = e != nullptr && (!first || e->first_id == *first);
        return (to - from) - (match ? e->acked_between(from, to) : 0);
    }

    /// The records between where a segment's frames end and where it is known to end are lost. The
    /// segment's ids are extended to that end (done), so that the next checkpoint remembers them.
    void count_lost_tails() {
        for (const auto& [seq, k] : kept_) {
            if (tail_in_run_.count(seq) != 0) continue;
            // A plain id and flag, not the optional: GCC 12 at -O2 warns (wrongly) that its payload may be
            // read uninitialized below.
            bool has_end = false;
            record_id end = 0;
            if (const auto known = known_end(seq)) {
                has_end = true;
                end = *known;
            }
            const auto& [tail_issue, unresolved] = tails_.at(seq);
            if (has_end && end > k.end && end - k.end > most_records_in_a_segment) {
                implausible_end(seq, k.end, end);
                has_end = false;
            }
            std::uint64_t lost = has_end ? unacked(entry(seq), k.end, end, k.first) : 0;
            if (!has_end && unresolved) lost = 1; // corrupt bytes at the end held at least one record
            // The ids counted join the segment (done), so that the next checkpoint remembers them;
            // only as many as its bytes could have held, so that no bitmap grows by an untrusted number.
            if (segment* s = st_->segments.at(seq);
                s != nullptr && has_end && end > s->end_id && end - s->end_id <= st_->options.segment_bytes)
                s->grow(end);
            if (lost == 0) continue;
            report().corrupt_records_skipped += lost;
            if (tail_issue) {
                report().issues[*tail_issue].records += lost;
                continue;
            }
            disk_buffer_issue issue;
            issue.what = disk_buffer_issue::kind::torn;
            issue.file = path_of(seq);
            issue.offset = sizes_.at(seq);
            issue.records = lost;
            // (Only with an end: a lost tail without one is unresolved, and those have a tail issue.)
            issue.reason = "the segment ends at record " + std::to_string(k.end) + " but the next one starts at " +
                           std::to_string(end) + ": " + std::to_string(lost) + " records are missing";
            report().issues.push_back(std::move(issue));
        }
    }

    /// A segment holds at most one record per byte, and a segment at most 4 GiB.
    static constexpr std::uint64_t most_records_in_a_segment = std::numeric_limits<std::uint32_t>::max();

    void implausible_end(std::uint64_t seq, record_id end, record_id next) {
        disk_buffer_issue issue;
        issue.what = disk_buffer_issue::kind::corrupt;
        issue.file = path_of(seq);
        issue.offset = sizes_.at(seq);
        issue.reason = "the segment ends at record " + std::to_string(end) + " but the next one claims to start at " +
                       std::to_string(next) + ", more than a segment holds: what is missing here cannot be counted";
        report().issues.push_back(std::move(issue));
    }

    [[nodiscard]] std::string path_of(std::uint64_t seq) const {
        return (st_->options.directory / segment_name(seq)).string();
    }

    /// A run of consecutive segments that should be there and are not.
    struct missing_run {
        std::uint64_t first_seq = 0;
        std::uint64_t last_seq = 0;
        std::uint64_t count = 0;
        std::optional<record_id> start; ///< the first id they held
        std::vector<const ack_entry*> listed;
    };

    /// Segments that should be there and are not: those a version-2 checkpoint lists, and (with any
    /// usable checkpoint, or none at all) those numbered after it up to the last one found, since the
    /// buffer deletes a segment only after a checkpoint without it.
    void count_missing() {
        if (ck_corrupt_ || (kept_.empty() && (!ck_ || ck_->version != ack_version))) return;
        const std::uint64_t lo = ck_ ? ck_->next_seq : kept_.begin()->first;
        const std::uint64_t hi = kept_.empty() ? 0 : kept_.rbegin()->first;
        std::map<std::uint64_t, const ack_entry*> points; // kept (null) and listed segments
        for (const auto& [seq, k] : kept_) points.emplace(seq, nullptr);
        if (ck_ && ck_->version == ack_version)
            for (const auto& [seq, e] : ck_->entries) points.emplace(seq, &e);
        std::optional<missing_run> run;
        std::optional<std::uint64_t> prev_kept;
        std::optional<std::uint64_t> last;
        auto add = [&](std::uint64_t from, std::uint64_t to, const ack_entry* e) {
            if (!run) {
                run.emplace();
                run->first_seq = from;
                if (e != nullptr) run->start = e->first_id;
                else if (prev_kept) run->start = known_end(*prev_kept).value_or(kept_.at(*prev_kept).end);
                else if (ck_) run->start = ck_->next_id;
                if (prev_kept && e == nullptr && !known_end(*prev_kept)) tail_in_run_.insert(*prev_kept);
            }
            run->last_seq = to;
            run->count += to - from + 1;
            if (e != nullptr) run->listed.push_back(e);
        };
        for (const auto& [seq, e] : points) {
            const std::uint64_t from = std::max(last ? *last + 1 : lo, lo);
            if (seq > from && from <= hi) add(from, std::min(seq - 1, hi), nullptr);
            if (e == nullptr || kept_.count(seq) != 0) {
                if (run) close_run(*run, kept_.at(seq).first);
                run.reset();
                prev_kept = seq;
            } else {
                add(seq, seq, e);
            }
            last = seq;
        }
        if (run) close_run(*run, run->listed.empty() ? std::nullopt : std::optional(run->listed.back()->end_id));
    }

    void close_run(const missing_run& run, std::optional<record_id> end) {
        std::uint64_t lost = 0;
        if (run.start && end && *end > *run.start) {
            lost = *end - *run.start;
            for (const ack_entry* e : run.listed) lost -= std::min(lost, e->acked_between(*run.start, *end));
        }
        report().segments_missing += run.count;
        disk_buffer_issue issue;
        issue.what = disk_buffer_issue::kind::missing;
        issue.file = path_of(run.first_seq);
        issue.records = lost;
        issue.reason = (run.count == 1 ? std::string("the segment is missing")
                                       : "segments " + std::to_string(run.first_seq) + " to " +
                                             std::to_string(run.last_seq) + " are missing") +
                       ": " + std::to_string(lost) + " unacknowledged records lost";
        report().issues.push_back(std::move(issue));
    }

    /// Sets where appending continues, publishes what was found, and writes a checkpoint that no
    /// longer lists what is gone (then the retired segments' files go).
    task<void> finish() {
        recovery_report& r = report();
        record_id max_id = ck_ ? ck_->next_id : 0;
        for (const auto& [seq, k] : kept_) max_id = std::max(max_id, k.end);
        for (const auto& [seq, s] : st_->segments.all()) max_id = std::max(max_id, s.end_id);
        const std::uint64_t max_seq = std::max(kept_.empty() ? 0 : kept_.rbegin()->first, blocked_seq_);
        st_->next_seq = std::max<std::uint64_t>({max_seq + 1, ck_ ? ck_->next_seq : 1, 1});
        st_->next_id = max_id;
        st_->stable_next_id = max_id;
        for (const auto& issue : r.issues) r.records_lost += issue.records;
        st_->stats.records_recovered = r.records_recovered;
        st_->stats.corrupt_records_skipped = r.corrupt_records_skipped;
        st_->stats.records_lost = r.records_lost;
        st_->stats.segments_deleted = r.segments_deleted;
        for (const auto& issue : r.issues) st_->announce(issue);
        st_->lost_metric.add(r.records_lost);
        fds_.close_all();
        if (files_.empty() && !ck_ && !ck_corrupt_) co_return;
        if (st_->segments.has_retired()) {
            co_await ck_writer_->free_retired();
            co_return;
        }
        try {
            co_await ck_writer_->write();
        } catch (const std::system_error&) {
            st_->acks_dirty = true; // the next flush tries again
        }
    }

    buffer_state* st_;
    checkpoint_writer* ck_writer_;
    std::optional<checkpoint_data> ck_;
    bool ck_corrupt_ = false;
    std::vector<found_file> files_;
    fd_list fds_;
    std::map<std::uint64_t, kept_segment> kept_;
    record_id ids_end_ = 0; // past the highest id of the segments kept so far: the next one's floor
    std::map<std::uint64_t, std::pair<std::optional<std::size_t>, bool>> tails_;
    std::map<std::uint64_t, std::uint64_t> sizes_;
    std::set<std::uint64_t> tail_in_run_; // kept segments whose lost tail a missing run counts
    std::uint64_t corrupt_before_ = 0; // counters as they were before the file being scanned
    std::uint64_t torn_before_ = 0;
    std::uint64_t blocked_seq_ = 0;
    std::string path_; // a path the kernel may be reading
};

} // namespace sluice::detail::disk
