#pragma once

// Where an object engine's objects go: a destination (a local directory, an S3 bucket) hands out one
// object_upload per object. The engine writes the object's bytes into it in order as the writer
// produces them, then completes it: complete() returns once the object is durable (renamed into place
// and synced, or its upload completed), which is when the records in it are acknowledged.
//
// Crash safety is shared between the two: the engine's journal rebuilds an unfinished object from its
// records after a restart with exactly the same bytes, under the same key, so a destination only has
// to make completion atomic (a temporary name renamed into place; S3's upload completion) and may keep
// what it had already sent (S3 multipart parts, which a resumed upload checks and reuses instead of
// sending again). open() runs before the journal is replayed (load what the last run left), recovered()
// after it (throw away what no object claimed: stale temporary files, abandoned multipart uploads).
//
// Everything runs on the engine's loop thread.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <sluice/core/outcome.hpp>
#include <sluice/core/task.hpp>

namespace sluice::objects {

/// What a destination knows of an object when it starts.
struct object_description {
    /// The engine's sequence number of the object (unique per engine, across restarts).
    std::uint64_t sequence = 0;
    /// Its name: a path below a local directory, or an S3 key.
    std::string key{};
    /// The MIME type of its format ("application/x-ndjson", "text/csv", ...).
    std::string content_type{};
    /// "" or "gzip", "zstd", "lz4".
    std::string content_encoding{};
    /// True when the object is being rebuilt from the journal after a restart.
    bool replayed = false;
};

/// How an object ended at its destination.
struct object_result {
    /// ok, or the failure (kind retry/throttled when attempts ran out, reject when the destination
    /// refused it) with the destination's error code and request id when it gave them.
    outcome status{};
    /// Where it is: a file path, "s3://bucket/key".
    std::string location{};
    /// The object's size in bytes.
    std::uint64_t bytes = 0;
    /// Requests (or writes) that failed and were tried again.
    unsigned retries = 0;
};

/// One object on its way to a destination (see the top of this header).
class object_upload {
public:
    object_upload() = default;
    object_upload(const object_upload&) = delete;
    object_upload& operator=(const object_upload&) = delete;
    virtual ~object_upload() = default;

    /// Appends the next bytes of the object. May wait while earlier bytes are written (the engine's
    /// backpressure); never throws for a failed write: the upload then fails, which failure() says
    /// and complete() reports.
    virtual task<void> write(std::string bytes) = 0;
    /// Completes the object: returns once it is durable, or why it could not be.
    virtual task<object_result> complete() = 0;
    /// Abandons the object (an object left with no records): removes what was written or started.
    virtual task<void> abort() = 0;
    /// Set once the upload failed for good (writes after that are dropped).
    [[nodiscard]] virtual std::optional<outcome> failure() const = 0;
    /// Memory the upload holds (bytes waiting to be written, parts in flight).
    [[nodiscard]] virtual std::size_t buffered_bytes() const noexcept = 0;
};

/// A place objects go to (see the top of this header).
class object_destination {
public:
    object_destination() = default;
    object_destination(const object_destination&) = delete;
    object_destination& operator=(const object_destination&) = delete;
    virtual ~object_destination() = default;

    /// "local", "s3": for logs and metrics labels.
    [[nodiscard]] virtual std::string_view kind() const noexcept = 0;
    /// Before the engine replays its journal: loads what the previous run left.
    virtual task<void> open() = 0;
    /// Starts an object.
    virtual std::unique_ptr<object_upload> begin(const object_description& object) = 0;
    /// After the replay: removes or aborts what no object of the replay claimed.
    virtual task<void> recovered() = 0;
    /// Abandons what is in flight (stop's deadline passed): uploads then end soon with outcome
    /// `cancelled`, their records left in the journal for the next start.
    virtual void cancel() {}
    /// The largest object it takes (S3: 10,000 parts of part_bytes); the engine closes objects first.
    [[nodiscard]] virtual std::uint64_t max_object_bytes() const noexcept { return ~std::uint64_t{0}; }
};

} // namespace sluice::objects
