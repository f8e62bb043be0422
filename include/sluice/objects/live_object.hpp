#pragma once

// What the object engine keeps of one object between its first record and its completion: the
// writer, the upload, the journal entries to acknowledge, and whoever waits for its records.

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/core/outcome.hpp>
#include <sluice/delivery/disk_buffer.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/objects/destination.hpp>
#include <sluice/objects/object_writer.hpp>
#include <sluice/objects/options.hpp>

namespace sluice::objects {

/// Told how one record ended (loop thread). Owned by whoever submitted the record; must live until
/// done() is called, exactly once.
class record_completion {
public:
    record_completion() = default;
    record_completion(const record_completion&) = delete;
    record_completion& operator=(const record_completion&) = delete;
    virtual ~record_completion() = default;

    /// `status` ok (written), persisted (acknowledge::accepted) or the failure; `location` where the
    /// object is, when written.
    virtual void done(const outcome& status, std::string_view location) = 0;

    /// When this completion wants to hear (the engine reads it).
    acknowledge when = acknowledge::written;

private:
    friend class live_object;
    record_completion* next_ = nullptr;
};

/// The record_completion a coroutine awaits (deliver()).
class awaited_completion final : public record_completion {
public:
    /// done() resumes the awaiting coroutine through `loop` (posted, never from inside done()).
    explicit awaited_completion(io_loop& loop) : loop_(&loop) {}

    void done(const outcome& status, std::string_view location) override {
        status_ = status;
        location_ = location;
        finished_ = true;
        if (waiter_) loop_->post(std::exchange(waiter_, {}));
    }

    /// True once done() was called: no need to suspend.
    [[nodiscard]] bool await_ready() const noexcept { return finished_; }
    /// Remembers the one coroutine done() resumes.
    void await_suspend(std::coroutine_handle<> h) noexcept { waiter_ = h; }
    /// The receipt, or throws delivery_error with the failure.
    object_receipt await_resume() const {
        if (!status_.is_ok()) throw delivery_error(status_);
        return {status_.kind, location_};
    }

private:
    io_loop* loop_;
    std::coroutine_handle<> waiter_{};
    outcome status_{};
    std::string location_{};
    bool finished_ = false;
};

/// One object in the engine (see the top of this header).
class live_object {
public:
    /// What the age rule (close_rules::max_age) measures with.
    using clock = std::chrono::steady_clock;

    /// An object just opened, or rebuilt from its journaled open entry; `format` makes its writer.
    live_object(std::uint64_t sequence, std::string partition, std::string key, std::int64_t opened_at_ms,
                clock::time_point opened, const format_options& format)
        : sequence(sequence), partition(std::move(partition)), key(std::move(key)), opened_at_ms(opened_at_ms),
          opened(opened), writer(format) {}

    live_object(const live_object&) = delete;
    live_object& operator=(const live_object&) = delete;
    ~live_object() { fail_waiters(outcome::make(outcome_kind::cancelled, "the engine was destroyed")); }

    /// Adds a waiter for a record of this object.
    void add_waiter(record_completion* c) noexcept {
        c->next_ = waiters_;
        waiters_ = c;
    }
    /// Tells every waiter `status` (and `location`), in submission order.
    void finish_waiters(const outcome& status, std::string_view location) {
        record_completion* list = std::exchange(waiters_, nullptr);
        record_completion* reversed = nullptr;
        while (list) {
            record_completion* next = list->next_;
            list->next_ = reversed;
            reversed = list;
            list = next;
        }
        while (reversed) {
            record_completion* next = reversed->next_;
            reversed->done(status, location);
            reversed = next;
        }
    }
    /// finish_waiters() for a failure: there is no location.
    void fail_waiters(const outcome& status) { finish_waiters(status, {}); }

    /// Memory held for the object: writer, upload, journal ids, a constant for the rest.
    [[nodiscard]] std::size_t memory() const noexcept {
        return writer.buffered_bytes() + (upload ? upload->buffered_bytes() : 0) + journal_ids.capacity() * sizeof(record_id) +
               key.capacity() + partition.capacity() + 512;
    }

    /// Its number, unique per engine across restarts: the journal's entries name the object by it.
    const std::uint64_t sequence;
    /// Its partition key (placement::partition_key): the partition's records go to it while it is open.
    const std::string partition;
    /// Its name at the destination: a path below a directory, or an S3 key.
    const std::string key;
    /// When it was first opened, Unix milliseconds, as its open entry records it.
    const std::int64_t opened_at_ms;
    /// The same on `clock`, for the age rule: a replayed object keeps the age it had.
    const clock::time_point opened;
    /// Encodes its records in the format; what it outputs goes to `upload`.
    object_writer writer;
    /// Its destination's upload, begun when the object was opened or replayed.
    std::unique_ptr<object_upload> upload{};
    /// Its journal entries (open, records, close), acknowledged together once it is written.
    std::vector<record_id> journal_ids{};
    /// Records it took, replayed ones included; none at completion: the upload is aborted.
    std::uint64_t records = 0;
    /// Takes no more records (a close rule fired, or a close was requested).
    bool full = false;
    /// Its close entry is in the journal (written, or found on replay).
    bool close_journaled = false;
    /// Completing (after full): no more writes from the engine's batches.
    bool completing = false;
    /// Rebuilt from the journal after a restart (what object_description::replayed tells the destination).
    bool replayed = false;

private:
    record_completion* waiters_ = nullptr;
};

} // namespace sluice::objects
