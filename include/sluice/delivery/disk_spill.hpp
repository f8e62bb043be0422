#pragma once

// disk_spill: the engine's side of the disk buffer. Records to persist (every record in disk mode, the
// overflow of a full memory buffer, what is left in memory at stop's deadline) queue for one committer
// that appends whatever queued meanwhile with one append_batch (one write, one fdatasync under
// every_batch: a group commit). Each record learns the result of the append that carried it: on
// success it is persisted; when the disk is full it is backpressure (block: it waits for room, at the
// head of the line, until room appears, its max_block passes or stop()) or refused (drop_newest); any
// other write or sync failure refuses it with a clear outcome. append_batch is all or nothing, so a
// refused record is never in the buffer and never delivered later. A drainer reads persisted records
// back, in order, as memory has room; the pipeline acknowledges each once it finished.
//
// Records are stored with their batch key, weight and order key (record_envelope.hpp).

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sluice/core/async_scope.hpp>
#include <sluice/core/event.hpp>
#include <sluice/core/outcome.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/disk_buffer.hpp>
#include <sluice/delivery/options.hpp>
#include <sluice/delivery/record_envelope.hpp>
#include <sluice/delivery/record_node.hpp>
#include <sluice/io/loop.hpp>

namespace sluice::detail {

/// What the engine does with the results of the disk buffer.
class spill_hooks {
public:
    /// `n` is in the disk buffer now.
    virtual void committed(record_node* n) = 0;
    /// `n` could not be stored: it finishes with `why` (never in the buffer).
    virtual void not_committed(record_node* n, outcome why) = 0;
    /// A record read back from the disk buffer (a pool node holding its id): it enters the engine.
    virtual void replayed(record_node* n) = 0;
    /// Whether memory has room for one more record read back.
    virtual bool room_for_replay() = 0;
    /// The disk side changed (a commit ended, the drainer stopped): the pipeline may be idle now.
    virtual void disk_changed() = 0;

protected:
    ~spill_hooks() = default;
};

/// A kernel error that means "no room" (full disk, file size limit, quota).
[[nodiscard]] inline bool out_of_space(const std::error_code& code) noexcept {
    return code.category() == std::system_category() &&
           (code.value() == ENOSPC || code.value() == EFBIG || code.value() == EDQUOT);
}

/// The disk buffer behind one pipeline; loop thread only.
class disk_spill {
public:
    using clock = std::chrono::steady_clock;

    disk_spill(io_loop& loop, async_scope& scope, node_pool& pool, const delivery_options& options, spill_hooks& hooks,
               delivery_stats& stats)
        : loop_(&loop), scope_(&scope), pool_(&pool), options_(&options), hooks_(&hooks), stats_(&stats) {}
    disk_spill(const disk_spill&) = delete;
    disk_spill& operator=(const disk_spill&) = delete;

    /// Opens the disk buffer and starts reading back what it holds from before.
    task<void> open(disk_buffer_options options) {
        disk_ = co_await disk_buffer::open(*loop_, std::move(options));
        on_disk_ = disk_->recovery().records_recovered;
        if (on_disk_ != 0) ensure_drainer();
    }

    [[nodiscard]] disk_buffer* buffer() const noexcept { return disk_.get(); }
    [[nodiscard]] bool is_open() const noexcept { return disk_ != nullptr; }

    /// A record's options as stored with it.
    static record_meta meta_of(const record_node& n) noexcept {
        return {n.batch_key, n.order_key, static_cast<std::uint32_t>(n.weight)};
    }

    /// Whether the disk buffer stores `n` (with its options).
    [[nodiscard]] bool fits_record(const record_node& n) const noexcept {
        return stored_size(meta_of(n), n.data) <= disk_->max_record_bytes();
    }

    /// Queues `n` to be appended; hooks().committed(n) or not_committed(n, ...) follows. `at_stop`:
    /// kept at stop's deadline rather than sent: never waits for room.
    void persist(record_node* n, bool at_stop = false) {
        n->kept = at_stop;
        if (!at_stop && options_->buffer.max_block.count() > 0) n->due = clock::now() + options_->buffer.max_block;
        pending_.push_back(n);
        if (!committing_) {
            committing_ = true;
            scope_->spawn(commit_loop());
        }
    }

    /// `n`, read back earlier, finished: the buffer forgets it.
    void acknowledge(const record_node& n) {
        if (n.has_disk_id) disk_->acknowledge(n.disk_id);
    }

    /// Memory has room again: the drainer may read on.
    void room_changed() {
        if (drainer_waiting_) {
            drainer_waiting_ = false;
            room_.set();
        }
    }

    /// Stops reading back (at stop's deadline): what is on disk stays there for the next start.
    void stop_reading() {
        reading_stopped_ = true;
        room_changed();
    }
    /// Stops waiting for room (stop): records waiting for a full disk are refused.
    void stop_waiting() { stopping_ = true; }

    /// Persisted and not read back yet.
    [[nodiscard]] std::uint64_t on_disk() const noexcept { return on_disk_; }
    /// True while records wait to be appended.
    [[nodiscard]] bool committing() const noexcept { return committing_; }

    /// Writes what is buffered, checkpoints acknowledgements and closes the files.
    task<void> close() {
        if (disk_) co_await disk_->close();
    }

private:
    /// How one append went.
    struct append_result {
        enum { ok, full, failed } status = ok;
        record_id first = 0;
        outcome why{};
    };

    task<void> commit_loop() {
        auto retry_delay = std::chrono::milliseconds(5);
        while (!pending_.empty()) {
            std::vector<record_node*> group;
            group.reserve(std::min<std::size_t>(pending_.size(), max_group));
            while (!pending_.empty() && group.size() < max_group) group.push_back(pending_.pop_front());
            const bool blocked = co_await commit(group);
            hooks_->disk_changed();
            if (!blocked) {
                retry_delay = std::chrono::milliseconds(5);
                co_await checkpoint();
                continue;
            }
            // The disk is full and the head of the line waits for room: acknowledgements delete
            // segments, and space can free outside this process too, so look again after a while.
            ++stats_->disk_full_waits;
            try {
                co_await loop_->sleep_until(next_look(retry_delay), scope_->get_token());
            } catch (const operation_cancelled&) {
            }
            retry_delay = std::min(retry_delay * 2, std::chrono::milliseconds(100));
            refuse_expired();
        }
        committing_ = false;
        hooks_->disk_changed();
    }

    /// Appends `group` as one batch, or record by record when the disk is too full for all of it.
    /// Returns true when the head of the line went back to wait for room.
    task<bool> commit(std::vector<record_node*>& group) {
        append_result r = co_await append(group);
        if (r.status == append_result::ok) {
            for (std::size_t i = 0; i < group.size(); ++i) stored(group[i], r.first + i);
            co_return false;
        }
        if (r.status == append_result::failed) {
            for (record_node* n : group) refuse_write_error(n, r.why);
            co_return false;
        }
        // Full: as many as fit, in order; the first that does not fit decides for itself.
        for (std::size_t i = 0; i < group.size(); ++i) {
            if (group.size() != 1) {
                std::vector<record_node*> one(1, group[i]);
                r = co_await append(one);
            }
            if (r.status == append_result::ok) {
                stored(group[i], r.first);
            } else if (r.status == append_result::failed) {
                refuse_write_error(group[i], r.why);
            } else if (!handle_full(group[i])) {
                // block: this record and every later one wait at the head of the line, in order
                for (std::size_t j = group.size(); j-- > i;) pending_.push_front(group[j]);
                co_return true;
            }
        }
        co_return false;
    }

    /// A record the full disk did not take: refused (drop_newest, at stop, or kept at stop) and
    /// true, or false when it is to wait for room.
    bool handle_full(record_node* n) {
        if (n->kept) {
            hooks_->not_committed(n, outcome::make(outcome_kind::cancelled, "disk buffer full at stop"));
        } else if (options_->buffer.policy == when_full::drop_newest) {
            ++stats_->dropped;
            hooks_->not_committed(n, outcome::make(outcome_kind::dropped, "disk buffer full: record dropped"));
        } else if (stopping_) {
            hooks_->not_committed(
                n, outcome::make(outcome_kind::cancelled, "pipeline stopped while the disk buffer was full; record not accepted"));
        } else {
            return false;
        }
        return true;
    }

    /// When to look for room again: after `delay`, or when the head of the line's max_block passes.
    [[nodiscard]] clock::time_point next_look(std::chrono::milliseconds delay) const {
        auto at = clock::now() + delay;
        const record_node* head = pending_.front();
        if (head && options_->buffer.max_block.count() > 0 && !head->kept) at = std::min(at, head->due);
        return at;
    }

    /// Refuses the records at the head of the line whose max_block passed while the disk was full,
    /// and all of them once stop() began.
    void refuse_expired() {
        const auto now = clock::now();
        while (!pending_.empty()) {
            record_node* n = pending_.front();
            const bool expired = options_->buffer.max_block.count() > 0 && !n->kept && n->due <= now;
            if (!expired && !stopping_) break;
            pending_.pop_front();
            if (expired && !stopping_) {
                ++stats_->dropped;
                hooks_->not_committed(n, outcome::make(outcome_kind::dropped,
                                                       "disk buffer full for " + std::to_string(options_->buffer.max_block.count()) +
                                                           " ms (max_block): record not accepted"));
            } else {
                handle_full(n);
            }
        }
    }

    void stored(record_node* n, record_id id) {
        n->has_disk_id = true;
        n->disk_id = id;
        ++on_disk_;
        ++stats_->persisted;
        hooks_->committed(n);
        ensure_drainer();
    }

    void refuse_write_error(record_node* n, const outcome& why) {
        ++stats_->disk_write_errors;
        hooks_->not_committed(n, why);
    }

    /// One append_batch of `nodes` (stored with their options), with its failure classified.
    task<append_result> append(const std::vector<record_node*>& nodes) {
        build_spans(nodes);
        const record_id before = disk_->next_id();
        append_result r;
        std::exception_ptr failure;
        try {
            r.first = co_await disk_->append_batch(std::span<const std::span<const std::byte>>(spans_));
        } catch (...) {
            failure = std::current_exception();
        }
        if (failure) {
            r = classify(failure);
            // A sync that failed after the write leaves the records in the buffer: the senders are
            // told they were not stored, so the buffer must never hand them out.
            for (record_id id = before; id < disk_->next_id(); ++id) {
                try {
                    disk_->acknowledge(id);
                } catch (const std::exception&) {
                }
            }
        }
        co_return r;
    }

    void build_spans(const std::vector<record_node*>& nodes) {
        std::size_t wrapped = 0;
        for (const record_node* n : nodes)
            if (needs_envelope(meta_of(*n), n->data)) wrapped += stored_size(meta_of(*n), n->data);
        arena_.clear();
        arena_.reserve(wrapped);
        spans_.clear();
        for (const record_node* n : nodes) {
            const record_meta meta = meta_of(*n);
            if (!needs_envelope(meta, n->data)) {
                spans_.push_back(std::as_bytes(std::span<const char>(n->data.data(), n->data.size())));
                continue;
            }
            const std::size_t at = arena_.size();
            wrap_record(arena_, meta, n->data); // never reallocates: reserved above
            spans_.push_back(std::as_bytes(std::span<const char>(arena_.data() + at, arena_.size() - at)));
        }
    }

    static append_result classify(const std::exception_ptr& e) {
        append_result r;
        r.status = append_result::failed;
        try {
            std::rethrow_exception(e);
        } catch (const disk_buffer_full&) {
            r.status = append_result::full;
        } catch (const std::system_error& ex) {
            if (out_of_space(ex.code())) r.status = append_result::full;
            r.why = outcome::make(outcome_kind::dropped, std::string("disk buffer write failed: ") + ex.what() +
                                                             "; record not accepted");
            r.why.code = ex.code();
        } catch (const std::exception& ex) {
            r.why = outcome::make(outcome_kind::dropped, std::string("disk buffer write failed: ") + ex.what() +
                                                             "; record not accepted");
        }
        return r;
    }

    /// Checkpoints the acknowledgements made since the last commit (flush() writes nothing else
    /// here), so that after a crash few delivered records come back. Best effort: close() checkpoints
    /// for sure.
    task<void> checkpoint() {
        if (disk_->stats().records_acked == acked_at_checkpoint_) co_return;
        acked_at_checkpoint_ = disk_->stats().records_acked;
        try {
            co_await disk_->flush();
        } catch (const std::exception&) {
        }
    }

    void ensure_drainer() {
        if (draining_ || reading_stopped_ || on_disk_ == 0) return;
        draining_ = true;
        scope_->spawn(drain_loop());
    }

    /// Reads records back from disk, in order, as memory has room.
    task<void> drain_loop() {
        co_await loop_->schedule(); // never inside the caller that started it
        while (on_disk_ != 0 && !reading_stopped_) {
            if (!hooks_->room_for_replay()) {
                room_.reset();
                drainer_waiting_ = true;
                co_await room_.wait();
                co_await loop_->schedule(); // set() resumed us inside the one who made room
                continue;
            }
            std::optional<disk_record> rec = co_await read_next();
            if (reading_stopped_) break; // stop came meanwhile: the record stays on disk, unacknowledged
            if (!rec) {
                on_disk_ = 0; // what was counted was lost to corruption found while reading (counted there)
                break;
            }
            --on_disk_;
            ++stats_->replayed;
            record_node* n = pool_->make(node_origin::replay);
            const unwrapped_record u =
                unwrap_record(std::string_view(reinterpret_cast<const char*>(rec->data.data()), rec->data.size()));
            n->data.assign(u.data);
            n->batch_key.assign(u.meta.batch_key);
            n->order_key.assign(u.meta.order_key);
            n->weight = u.meta.weight;
            n->has_disk_id = true;
            n->disk_id = rec->id;
            hooks_->replayed(n);
        }
        draining_ = false;
        hooks_->disk_changed();
    }

    /// read_next(), with a read error reported as "nothing more" after logging it through the
    /// corruption callback (the buffer keeps its position; the next start reads on).
    task<std::optional<disk_record>> read_next() {
        std::optional<disk_record> rec;
        std::string failure;
        try {
            rec = co_await disk_->read_next();
        } catch (const std::exception& e) {
            failure = e.what();
        }
        if (!failure.empty() && disk_->options().on_corruption) disk_->options().on_corruption("read failed: " + failure);
        co_return rec;
    }

    static constexpr std::size_t max_group = 4096;

    io_loop* loop_;
    async_scope* scope_;
    node_pool* pool_;
    const delivery_options* options_;
    spill_hooks* hooks_;
    delivery_stats* stats_;
    std::unique_ptr<disk_buffer> disk_;
    node_list pending_;
    std::string arena_;
    std::vector<std::span<const std::byte>> spans_;
    std::uint64_t on_disk_ = 0;
    std::uint64_t acked_at_checkpoint_ = 0;
    async_event room_;
    bool committing_ = false;
    bool draining_ = false;
    bool drainer_waiting_ = false;
    bool reading_stopped_ = false;
    bool stopping_ = false;
};

} // namespace sluice::detail
