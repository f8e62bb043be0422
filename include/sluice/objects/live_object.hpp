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
    explicit awaited_completion(io_loop& loop) : loop_(&loop) {}

    void done(const outcome& status, std::string_view location) override {
        status_ = status;
        location_ = location;
        finished_ = true;
        if (waiter_) loop_->post(std::exchange(waiter_, {}));
    }

    [[nodiscard]] bool await_ready() const noexcept { return finished_; }
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
    using clock = std::chrono::steady_clock;

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
    void fail_waiters(const outcome& status) { finish_waiters(status, {}); }

    /// Memory held for the object: writer, upload, journal ids, a constant for the rest.
    [[nodiscard]] std::size_t memory() const noexcept {
        return writer.buffered_bytes() + (upload ? upload->buffered_bytes() : 0) + journal_ids.capacity() * sizeof(record_id) +
               key.capacity() + partition.capacity() + 512;
    }

    const std::uint64_t sequence;
    const std::string partition;
    const std::string key;
    const std::int64_t opened_at_ms;
    const clock::time_point opened;
    object_writer writer;
    std::unique_ptr<object_upload> upload{};
    /// Its journal entries (open, records, close), acknowledged together once it is written.
    std::vector<record_id> journal_ids{};
    std::uint64_t records = 0;
    /// Takes no more records (a close rule fired, or a close was requested).
    bool full = false;
    /// Its close entry is in the journal (written, or found on replay).
    bool close_journaled = false;
    /// Completing (after full): no more writes from the engine's batches.
    bool completing = false;
    bool replayed = false;

private:
    record_completion* waiters_ = nullptr;
};

} // namespace sluice::objects
