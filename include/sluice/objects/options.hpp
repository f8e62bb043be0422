#pragma once

// The object engine's options, receipts and counters.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include <sluice/core/outcome.hpp>
#include <sluice/delivery/disk_buffer.hpp>
#include <sluice/objects/object_writer.hpp>
#include <sluice/objects/partitioner.hpp>

namespace sluice {
class logger;
class metrics_registry;
} // namespace sluice

namespace sluice::objects {

/// What an object's byte size is measured on.
enum class size_basis : std::uint8_t {
    raw,    ///< the encoded records before compression (NDJSON/CSV text, Parquet pages before page
            ///< compression): exact at every record
    object, ///< the object's size after compression so far; lags by what a compressor holds back (up to
            ///< one block) and, for Parquet, by the open row group
};

/// When an object closes: whichever comes first (MiniFirehose's buffer_count_limit,
/// buffer_size_limit_mb, buffer_time_limit). Zero turns a rule off. flush() and stop() close every
/// object, and the memory budget closes objects early.
struct close_rules {
    /// Records per object.
    std::uint64_t max_records = 100'000;
    /// Bytes per object, counted as `basis` says.
    std::uint64_t max_bytes = std::uint64_t{64} << 20;
    /// Whether max_bytes counts the data before compression (raw) or the object as stored.
    size_basis basis = size_basis::raw;
    /// How long an object stays open after its first record.
    std::chrono::milliseconds max_age{60'000};
};

/// Which open object the memory budget closes first.
enum class evict_policy : std::uint8_t {
    largest, ///< the one holding the most memory
    oldest,  ///< the one opened first
};

/// Everything an object_engine is configured with.
struct object_engine_options {
    /// Names the engine in keys ({name}), errors, logs and metrics. No '/'.
    std::string name = "objects";
    /// The objects' format and its options (NDJSON, CSV or Parquet; compression).
    format_options format = formats::ndjson_options{};
    /// How records map to objects and keys (partitions, key template, time source).
    layout_options layout{};
    /// When an object closes.
    close_rules close{};
    /// Memory the open and closing objects may hold together (writers, compressors, bytes waiting
    /// for their destination, parts in flight). Over it, open objects close early (evict), and new
    /// records wait while closing objects alone hold more.
    std::size_t memory_budget = std::size_t{256} << 20;
    /// Which open object the budget closes first.
    evict_policy evict = evict_policy::largest;
    /// The engine's own folder: the journal (`<directory>/journal`, a disk_buffer) and the sequence
    /// numbers (`<directory>/sequence`). One engine per directory.
    std::filesystem::path directory;
    /// The journal's disk_buffer options (its directory is set from `directory`): max_bytes bounds
    /// what open objects may hold on disk, fsync when accepted records are durable.
    disk_buffer_options journal{};
    /// Records submitted and not yet journaled (bytes); submit() waits beyond.
    std::size_t max_pending_bytes = std::size_t{16} << 20;
    /// Records journaled together (one write, one sync).
    std::size_t batch_records = 4096;
    /// Objects being completed at once.
    std::size_t max_completing = 8;
    /// Writer output handed to the destination once this much is ready.
    std::size_t write_threshold = 256 * 1024;
    /// Where to publish the engine's metrics (labelled component="objects", name=`<name>`); none if null.
    metrics_registry* metrics = nullptr;
    /// Object failures, journal damage (warn/error), evictions (debug). Never record bodies.
    const logger* log = nullptr;
};

/// When deliver() returns.
enum class acknowledge : std::uint8_t {
    written,  ///< once the object holding the record is durably written or uploaded
    accepted, ///< once the record is in the journal (survives a crash; written later)
};

/// How a delivered record ended up.
struct object_receipt {
    /// ok (its object is written) or persisted (acknowledge::accepted: in the journal).
    outcome_kind kind = outcome_kind::ok;
    /// Where its object is (a path, "s3://bucket/key"); empty when only persisted.
    std::string location{};
};

/// Counters of one engine (loop thread only).
struct object_engine_stats {
    std::uint64_t received = 0;        ///< records submitted
    std::uint64_t refused = 0;         ///< refused (invalid JSON, schema, partition value)
    std::uint64_t accepted = 0;        ///< journaled and in an object
    std::uint64_t written = 0;         ///< in objects durably written
    std::uint64_t failed = 0;          ///< in objects that failed (kept in the journal)
    std::uint64_t objects_open = 0;       ///< objects taking records now
    std::uint64_t objects_completing = 0; ///< closed, being written or uploaded
    std::uint64_t objects_written = 0;    ///< durably written or uploaded
    std::uint64_t objects_failed = 0;     ///< that failed (their records kept in the journal)
    std::uint64_t bytes_written = 0;   ///< object bytes
    std::uint64_t evictions = 0;       ///< objects the memory budget closed early
    std::uint64_t memory_bytes = 0;    ///< held by open and completing objects (after the last batch)
    std::uint64_t memory_peak = 0;     ///< the most they held after a batch (and its evictions)
    std::uint64_t memory_waits = 0;    ///< batches that waited for memory
    std::uint64_t journal_full_waits = 0; ///< batches that waited for room in the journal
    std::uint64_t replayed_records = 0;   ///< records found in the journal at start and put back in objects
    std::uint64_t replayed_objects = 0;   ///< objects completed from the journal at start
    std::uint64_t journal_errors = 0;  ///< damaged or unreadable journal entries skipped
    /// Journaled records found at start whose object has no open entry any more: the object was
    /// written before the crash and the journal's note that these records were done had not reached
    /// the disk (the open entry's segment had), so they are in that object already and are skipped.
    /// An open entry lost to damage looks the same; the journal reports damage (on_corruption).
    std::uint64_t orphaned_records = 0;
    /// When the last object was written (system clock); epoch if none yet.
    std::chrono::system_clock::time_point last_write{};

    /// Accepted records not yet written or failed.
    [[nodiscard]] std::uint64_t buffered() const noexcept { return accepted - written - failed; }
};

/// What stop() left.
struct object_stop_report {
    /// Records accepted but not written (their object failed, or stop's deadline passed): they stay in
    /// the journal and are written after the next start.
    std::uint64_t records_left = 0;
    /// Objects that failed or were cancelled.
    std::uint64_t objects_left = 0;
    /// True when the grace period ended with objects still completing (their requests were cancelled).
    bool deadline_passed = false;
};

} // namespace sluice::objects
