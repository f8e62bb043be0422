#pragma once

// The public vocabulary of sluice::disk_buffer: its options, what it hands out, what open() reports,
// its statistics and the error a full buffer throws. The parts live next to this header:
//   segment_format.hpp   the bytes on disk: frames, segment headers, the one frame walker
//   checkpoint.hpp       the acknowledgement checkpoint file
//   segment_table.hpp    the segments in memory: id ranges, what is acknowledged, deferred deletion
//   segment_writer.hpp   appending: framing, blocks, background writes, rollback
//   segment_reader.hpp   reading back in append order
//   recovery.hpp         open(): scanning the directory, cutting torn tails, counting what was lost
// and sluice/delivery/disk_buffer.hpp composes them.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sluice/codec/compression.hpp>

namespace sluice {

class metrics_registry;

/// A record's position in a disk_buffer: increasing in append order, unique within the directory.
using record_id = std::uint64_t;

/// When a disk_buffer calls fdatasync.
enum class fsync_policy {
    every_batch, ///< after every write (append_batch, flush, a full block): durable when the call returns
    interval,    ///< at most every fsync_interval, on a write or flush() once the interval has passed
    os,          ///< never (the kernel writes back on its own); close() does not sync either
};

/// Where and how a disk_buffer keeps records.
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
    /// When appends reach stable storage (every_batch: before append() returns).
    fsync_policy fsync = fsync_policy::every_batch;
    /// The period of fsync_policy::interval.
    std::chrono::milliseconds fsync_interval{100};
    /// Called with a line that names the file, the offset and what was wrong, for every corrupt record,
    /// torn tail or missing segment found at open or while reading (also collected in recovery()). Runs
    /// on the loop thread.
    std::function<void(const std::string&)> on_corruption;
    /// When set, the buffer publishes sluice_disk_buffer_corruption_total (problems found in its files)
    /// and sluice_disk_buffer_records_lost_total (records lost with them), labelled {name=metrics_name}.
    metrics_registry* metrics = nullptr;
    /// Labels the buffer's metrics.
    std::string metrics_name = "disk_buffer";
};

/// A record handed out by read_next(). It owns its bytes.
struct disk_record {
    /// Its id (what acknowledge() takes).
    record_id id = 0;
    /// The record's bytes.
    std::vector<std::byte> data;
};

/// Something wrong found in a file at open: what, where, and what it cost.
struct disk_buffer_issue {
    /// The kinds of damage recovery finds.
    enum class kind {
        corrupt,  ///< bytes that failed their CRC, held no valid header or implausible ids: skipped
        torn,     ///< the file ended inside a record (a write cut short) or in bytes holding no record: cut off
        stale,    ///< records left behind by a write that failed and could not be rolled back: cut off
        bad_file, ///< a file that is not a readable segment or checkpoint (renamed aside, or ignored)
        missing,  ///< a segment that should be there is not (deleted by something else): its records lost
    };
    /// What was wrong.
    kind what = kind::corrupt;
    /// The file it was found in.
    std::filesystem::path file;
    /// Where in the file.
    std::uint64_t offset = 0;
    /// Bytes skipped or cut.
    std::uint64_t bytes = 0;
    /// Records lost with these bytes, as far as the framing and the neighbouring segments tell (0 for
    /// the torn tail of the last segment, whose records were never acknowledged as written).
    std::uint64_t records = 0;
    /// What was wrong, in words.
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
    std::uint64_t corrupt_records_skipped = 0; ///< records lost to corruption inside files
    /// Every record known lost: corrupt ones, the cut tail of a segment followed by another one, and the
    /// unacknowledged records of segments that are missing. The sum of the issues' `records`.
    std::uint64_t records_lost = 0;
    std::uint64_t torn_bytes_truncated = 0; ///< bytes cut off the ends of files (torn or stale tails)
    std::size_t segments = 0;               ///< segment files found
    std::size_t segments_deleted = 0;       ///< of those, deleted because nothing in them was pending
    std::size_t segments_missing = 0;       ///< segments the checkpoint or the sequence numbers expect, gone
    /// Empty or header-less segment files left by a crash while one was being created: harmless,
    /// removed without an issue.
    std::size_t empty_segments_removed = 0;
    /// Every problem found, with its file and offset.
    std::vector<disk_buffer_issue> issues;
};

/// Counters and sizes of a disk_buffer.
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
    std::uint64_t records_lost = 0;            ///< at open (recovery_report::records_lost) and while reading
    std::uint64_t write_errors = 0;            ///< failed writes, each rolled back
    /// fsync calls made.
    std::uint64_t fsyncs = 0;
    std::uint64_t ack_checkpoints = 0; ///< acknowledgement checkpoints written
};

/// Thrown by append when the buffer would exceed max_bytes. Nothing of the call was appended and the
/// buffer is unchanged: acknowledge records (so their segments can go) and try again.
class disk_buffer_full : public std::runtime_error {
public:
    /// `requested` bytes did not fit: `used` of `limit` are taken.
    disk_buffer_full(const std::string& what, std::uint64_t requested, std::uint64_t used, std::uint64_t limit)
        : std::runtime_error(what), requested_(requested), used_(used), limit_(limit) {}
    /// Bytes the refused call needed.
    [[nodiscard]] std::uint64_t requested() const noexcept { return requested_; }
    /// Bytes in use (segments and buffered records) when it was refused.
    [[nodiscard]] std::uint64_t used() const noexcept { return used_; }
    /// The byte limit (disk_buffer_options::max_bytes).
    [[nodiscard]] std::uint64_t limit() const noexcept { return limit_; }

private:
    std::uint64_t requested_;
    std::uint64_t used_;
    std::uint64_t limit_;
};

} // namespace sluice
