#pragma once

// The delivery engine's options, per-record options, receipts, counters and stop report. The table of
// every option with its default, unit and interactions is in docs/engine.md.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <sluice/core/task.hpp>
#include <sluice/delivery/backoff.hpp>
#include <sluice/delivery/concurrency.hpp>
#include <sluice/delivery/disk_buffer.hpp>
#include <sluice/delivery/rate_limiter.hpp>
#include <sluice/delivery/sink.hpp>

namespace sluice {

class logger;
class metrics_registry;

/// When a batch is sealed and handed to the sink.
struct batch_options {
    /// Seal a batch at this many records (also capped by the sink's max_batch_entries).
    std::size_t max_events = 500;
    /// Seal a batch at this many bytes of record weight (also capped by the sink's max_batch_bytes).
    std::size_t max_bytes = 1u << 20;
    /// Seal a non-empty batch this long after its first record arrived.
    std::chrono::milliseconds max_age{1000};
    /// Batches open at once (one per batch key); opening one more seals the oldest first.
    std::size_t max_open_batches = 1024;
};

/// What to do with a record when the buffer is full.
enum class when_full {
    block,       ///< deliver() waits for room: backpressure up to the sender
    drop_newest, ///< the new record is refused with an Error and counted
    overflow,    ///< memory spills to the disk buffer, drained back in order (needs `disk`)
};

/// Where records wait between deliver() and the sink.
enum class buffer_type {
    memory, ///< in memory, bounded by events and bytes; deliver() returns on the sink's acknowledgement
    disk,   ///< written to the disk buffer first; deliver() returns once the record is persisted, and
            ///< what is on disk survives a crash or a stop and is delivered after the next start()
};

/// The memory buffer: records admitted and not yet finished.
struct memory_buffer_options {
    /// Records in memory and not yet finished (batching, in flight, waiting to retry). With a disk
    /// buffer this also bounds how much is read back from disk at a time.
    std::size_t max_events = 100'000;
    /// Bytes of those records (their encoded size, whatever their weight).
    std::size_t max_bytes = 64u << 20;
    /// What happens when the buffer is full.
    when_full policy = when_full::block;
    /// Memory, or disk first (every record persisted before deliver() returns).
    buffer_type type = buffer_type::memory;
    /// Under `block`: how long a record may wait for room (in memory, or on a full disk) before it
    /// is refused with a delivery_error of kind `dropped`. Zero: until room appears or stop().
    std::chrono::milliseconds max_block{0};
};

/// Per-record options of deliver() and submit().
struct record_options {
    /// Records with different batch keys never share a request; the key reaches the sink as
    /// sink_batch::key (a stream, a table, a log stream). One open batch per key, each with its age.
    std::string batch_key{};
    /// What the record counts against max_batch_bytes and the sink's max_batch_bytes and
    /// max_record_bytes (0: its size), so an adapter can say what a record costs the service (decoded
    /// size plus partition key, 26 bytes of overhead per log event, ...).
    std::size_t weight = 0;
    /// With delivery_options::order_by_key: records with the same order key never overtake each other.
    std::string order_key{};
};

/// A record that finally failed, as handed to the dead-letter output.
struct dead_letter {
    /// The pipeline's name.
    std::string_view sink;
    /// The encoded record.
    std::string_view record;
    /// Why it finally failed.
    std::string_view reason;
    /// Requests that carried it.
    unsigned attempts;
};

/// Everything a delivery_pipeline is configured with; docs/engine.md has the table.
struct delivery_options {
    /// Names the pipeline in errors, logs and metrics.
    std::string name = "sink";
    /// When a batch closes.
    batch_options batch{};
    /// The memory buffer: its bounds and what happens when it is full.
    memory_buffer_options buffer{};
    /// Attempts and backoff.
    retry_options retry{};
    /// Requests and bytes per second.
    rate_limit_options rate{};
    /// Requests in flight, fixed or adaptive.
    concurrency_options concurrency{};
    /// Receives every record that finally failed (another queue, a file...). Its own failure is
    /// reported in the record's Error, never swallowed.
    std::function<task<void>(const dead_letter&)> dead_letter_output{};
    /// Overrides for the sink's own limits (services change them); zero fields keep the sink's.
    sink_limits limit_overrides{0, 0, 0};
    /// The disk buffer, for buffer_type::disk and when_full::overflow (bounded by its max_bytes).
    std::optional<disk_buffer_options> disk{};
    /// Where to publish the sink's and the buffer's metrics (labelled with `name`); none if null.
    metrics_registry* metrics = nullptr;
    /// Where to log final failures, drops and disk buffer corruption (warn/error), and batches sealed
    /// only by their age while their senders waited (debug). Records' bodies are never logged.
    const logger* log = nullptr;
    /// Keep records in order (FIFO queues): one request at a time, and records to retry go out again,
    /// after their backoff, before anything newer. Forces a concurrency of 1.
    bool ordered = false;
    /// Keep records in order per record_options::order_key: a record is not sent while an earlier one
    /// of its key is in flight or waiting to retry; other keys proceed. Records without an order key
    /// are not held. Excludes `ordered`.
    bool order_by_key = false;
};

/// How a record ended up.
struct delivery_receipt {
    /// Requests that carried the record (0 when it was persisted and not yet sent).
    unsigned attempts = 0;
    /// True when deliver() returned because the record reached the disk buffer: delivery goes on in
    /// the background and, after a crash or stop, after the next start().
    bool persisted = false;
};

/// Counters of one pipeline.
struct delivery_stats {
    /// Records admitted.
    std::uint64_t accepted = 0;
    /// Records the sink acknowledged.
    std::uint64_t delivered = 0;
    std::uint64_t failed = 0;        ///< rejected or out of attempts
    std::uint64_t dropped = 0;       ///< refused by a full buffer (drop_newest, or max_block passed)
    std::uint64_t retried = 0;       ///< entry retries scheduled
    std::uint64_t throttled = 0;     ///< responses that throttled the request or any of its entries
    /// Entries a service throttled one by one in a 2xx answer. Each backs off alone; the sink's
    /// adaptive concurrency drops only when most entries of a request (or the request) were throttled.
    std::uint64_t throttled_records = 0;
    /// Records handed to the dead-letter output.
    std::uint64_t dead_lettered = 0;
    /// Requests sent.
    std::uint64_t requests = 0;
    /// Requests that failed as a whole.
    std::uint64_t request_failures = 0;
    std::uint64_t cancelled_requests = 0; ///< requests cancelled at stop's deadline
    std::uint64_t unprocessed = 0;   ///< given up at stop
    std::uint64_t persisted = 0;     ///< written to the disk buffer (spilled, or every record in disk mode)
    std::uint64_t replayed = 0;      ///< read back from the disk buffer into memory
    std::uint64_t on_disk = 0;       ///< persisted, not yet read back
    std::uint64_t disk_full_waits = 0; ///< times records waited for the disk buffer to have room
    std::uint64_t disk_write_errors = 0; ///< appends to the disk buffer that failed (records told so)
    std::uint64_t budget_delays = 0; ///< retries delayed to the backoff ceiling: the retry budget was empty
    std::uint64_t order_key_waits = 0; ///< records held behind an earlier record of their order key
    std::uint64_t sealed_by_age = 0;   ///< batches sealed by max_age
    /// Batches sealed by max_age while nothing else was moving and every record in them had a sender
    /// waiting for its acknowledgement: senders were only waiting for the age timer (too few
    /// concurrent senders for the batch size, or max_age too long).
    std::uint64_t age_only_waits = 0;
    std::size_t buffered_events = 0; ///< admitted, not finished
    /// Bytes of the records admitted and not finished.
    std::size_t buffered_bytes = 0;
    /// Requests in flight now.
    std::size_t in_flight = 0;
    /// The concurrency limit now (adaptive: it moves).
    std::size_t concurrency_limit = 0;
    /// Batches open now (one per batch key).
    std::size_t open_batches = 0;
    /// Batches sent.
    std::uint64_t batches = 0;
    std::uint64_t batched_records = 0; ///< sum of batch sizes (mean = batched_records / batches)
    /// Sum of acknowledgement latencies (mean = total_latency / delivered).
    std::chrono::nanoseconds total_latency{0};
};

/// What stop() left behind.
struct delivery_report {
    /// True when everything was delivered (or finally failed) before the deadline.
    bool drained = true;
    /// Finished with an Error "unprocessed" at the deadline (no disk buffer to keep them).
    std::uint64_t unprocessed = 0;
    /// Left in the disk buffer at the deadline, for the next start().
    std::uint64_t persisted = 0;
    /// Requests still in flight at the deadline, cancelled through sink_batch::cancel.
    std::uint64_t cancelled_requests = 0;
};

} // namespace sluice
