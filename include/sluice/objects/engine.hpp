#pragma once

// object_engine: records into objects (files, S3 objects), beside the batch engine (delivery/
// pipeline.hpp) and sharing its pieces: the disk_buffer as a journal, backoff for retries, the metrics
// registry and the outcome type.
//
//   submit / deliver(json) -> intake (bounded) -> parse once, place (partition, time) -> journal
//   (group commit: one append_batch, one sync) -> the open object of the record's partition (its
//   writer: NDJSON, CSV or Parquet) -> output handed to the destination as it completes
//   -> close (count, size, age, flush, stop, memory budget) -> close entry journaled and synced ->
//   the destination completes the object (rename into place, PutObject, CompleteMultipartUpload)
//   -> the object's journal entries acknowledged, its records' outcomes resolved.
//
// Crash safety: a record is accepted once it is in the journal. After a crash, start() replays the
// journal: every object that was not written is rebuilt from its own records, in the same order, under
// the same key, so the bytes come out the same (an S3 upload resumes with the parts S3 has; a local
// file is rewritten and renamed over whatever the crash left), and an object that was written but
// whose acknowledgement was lost is written again with the same bytes under the same name. Nothing
// accepted is lost; no object appears twice with different content. Objects decided by time or memory
// (age, flush, budget) are decided in the journal (close entries), never again at replay.
//
// Memory: open and completing objects share memory_budget. After each batch, while they hold more,
// open objects are closed early (the largest or the oldest); while completing objects alone hold more,
// new records wait.
//
// Runs on one io_loop: every member is called on its thread.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sluice/core/async_scope.hpp>
#include <sluice/core/event.hpp>
#include <sluice/core/semaphore.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/disk_buffer.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/log.hpp>
#include <sluice/metrics/metrics.hpp>
#include <sluice/objects/destination.hpp>
#include <sluice/objects/detail/engine_parts.hpp>
#include <sluice/objects/journal.hpp>
#include <sluice/objects/key_template.hpp>
#include <sluice/objects/live_object.hpp>
#include <sluice/objects/object_table.hpp>
#include <sluice/objects/options.hpp>
#include <sluice/objects/partitioner.hpp>
#include <sluice/objects/sequence_file.hpp>

namespace sluice::objects {

/// Records into objects (see the top of this header).
class object_engine {
public:
    /// The clock object ages are measured with.
    using clock = std::chrono::steady_clock;

    /// Checks the options (throws std::invalid_argument naming what is wrong); touches no file yet.
    object_engine(io_loop& loop, object_destination& destination, object_engine_options options)
        : loop_(&loop), dest_(&destination), options_(detail::checked(std::move(options))),
          keys_(options_.layout.key_template), places_(options_.layout, keys_),
          completing_(static_cast<std::ptrdiff_t>(std::max<std::size_t>(1, options_.max_completing))),
          uuids_() {
        const object_writer sample(options_.format); // checks the format options now
        extension_ = sample.extension();
        content_type_ = sample.content_type();
        content_encoding_ = sample.content_encoding();
        if (options_.metrics) metrics_ = detail::engine_metrics(*options_.metrics, options_.name);
    }

    object_engine(const object_engine&) = delete;
    object_engine& operator=(const object_engine&) = delete;
    /// Stop first: destroying a started engine that was not stopped terminates (its tasks still run).
    ~object_engine() = default;

    /// Opens the journal and the destination, rebuilds the objects the last run left (see the top),
    /// then takes records. Throws what opening the journal throws (std::system_error naming the path).
    task<void> start() {
        if (started_) throw std::logic_error("sluice::objects::object_engine: started twice");
        started_ = true;
        std::filesystem::create_directories(options_.directory);
        sequence_.emplace(options_.directory / "sequence");
        disk_buffer_options journal = options_.journal;
        journal.directory = options_.directory / "journal";
        if (!journal.on_corruption && options_.log) {
            const logger* log = options_.log;
            journal.on_corruption = [log](const std::string& what) { log->error("objects", what); };
        }
        co_await dest_->open();
        journal_ = co_await disk_buffer::open(*loop_, std::move(journal));
        co_await replay();
        co_await dest_->recovered();
        running_ = true;
        scope_.spawn(processor());
        if (options_.close.max_age.count() > 0) scope_.spawn(age_timer());
    }

    /// Submits `json` and returns once its object is durably written (or, with acknowledge::accepted,
    /// once it is in the journal). Waits for room in the intake. Throws delivery_error with the outcome
    /// when the record is refused (kind invalid: not JSON, a field against the schema, a partition
    /// value), its object failed (retry / reject, its records kept in the journal), or the engine
    /// stopped (cancelled).
    task<object_receipt> deliver(std::string json, acknowledge when = acknowledge::written) {
        awaited_completion c(*loop_);
        c.when = when;
        co_await submit(std::move(json), &c);
        co_return co_await detail::completion_awaiter{&c};
    }

    /// Submits `json` without waiting for its outcome (only for room in the intake); `completion`, when
    /// given, hears it. A record submitted before start() or after stop() is refused (cancelled).
    task<void> submit(std::string json, record_completion* completion = nullptr) {
        ++stats_.received;
        metrics_.flow.events_in.inc();
        while (running_ && !stopping_ && pending_bytes_ != 0 && pending_bytes_ + json.size() > options_.max_pending_bytes) {
            room_.reset();
            co_await room_.wait();
        }
        if (!running_ || stopping_) {
            refuse(completion, outcome::make(outcome_kind::cancelled, "the object engine '" + options_.name + "' is not running"));
            co_return;
        }
        pending_bytes_ += json.size();
        pending_.push_back({std::move(json), completion, nullptr});
        wake_.set();
    }

    /// Closes every open object (after the records submitted before the call) and returns once the
    /// objects that held them are written, or failed.
    task<void> flush() {
        if (!running_) co_return;
        detail::flush_barrier barrier;
        pending_.push_back({{}, nullptr, &barrier});
        wake_.set();
        co_await barrier.reached.wait();
        while (objects_.any_below(barrier.mark)) {
            done_.reset();
            co_await done_.wait();
        }
    }

    /// Stops taking records, closes and writes every object within `grace`, then cancels what is
    /// still in flight (its records stay in the journal for the next start) and closes the journal.
    task<object_stop_report> stop(std::chrono::milliseconds grace = std::chrono::seconds(30)) {
        object_stop_report report;
        if (!running_ || stopping_) co_return report;
        const auto deadline = clock::now() + grace;
        detail::flush_barrier barrier;
        pending_.push_back({{}, nullptr, &barrier});
        stopping_ = true;
        wake_.set();
        room_.set();
        co_await barrier.reached.wait();
        const bool written = co_await wait_for_objects(deadline);
        report.deadline_passed = !written;
        if (report.deadline_passed) {
            dest_->cancel();
            while (!objects_.empty()) {
                done_.reset();
                co_await done_.wait();
            }
        }
        timer_stop_.request_stop();
        age_wake_.set();
        wake_.set();
        co_await scope_.join();
        report.records_left = stats_.buffered() + stats_.failed; // failed objects keep theirs in the journal
        report.objects_left = stats_.objects_failed;
        co_await journal_->close();
        running_ = false;
        co_return report;
    }

    /// The counters (loop thread).
    [[nodiscard]] object_engine_stats stats() const {
        object_engine_stats s = stats_;
        s.objects_open = objects_.open_count();
        s.objects_completing = objects_.size() - objects_.open_count();
        s.memory_bytes = last_memory_;
        return s;
    }
    /// The options it was made with.
    [[nodiscard]] const object_engine_options& options() const noexcept { return options_; }
    /// True between start() and the beginning of stop(): records are accepted.
    [[nodiscard]] bool running() const noexcept { return running_ && !stopping_; }
    /// The journal (for tests and tools): its stats() say what is on disk.
    [[nodiscard]] const disk_buffer* journal() const noexcept { return journal_.get(); }

private:
    // ---- intake and batches ---------------------------------------------------------------------

    task<void> processor() {
        for (;;) {
            start_completions(); // objects the age timer sealed
            if (memory_blocked()) {
                ++stats_.memory_waits;
                done_.reset();
                co_await done_.wait();
                continue;
            }
            if (pending_.empty()) {
                if (stopping_) break;
                wake_.reset();
                if (pending_.empty() && to_complete_.empty()) co_await wake_.wait();
                continue;
            }
            std::string failure;
            try {
                co_await run_batch();
            } catch (const std::exception& e) {
                failure = e.what();
            }
            if (!failure.empty()) abandon_batch(failure);
        }
    }

    /// After an unexpected error in a batch: every record of it not yet handed to an object is told.
    void abandon_batch(const std::string& why) {
        log_error("a batch failed: " + why);
        roll_back_created();
        for (auto& s : slots_)
            if (s.completion) {
                refuse(s.completion, outcome::retry("the object engine failed: " + why));
                s.completion = nullptr;
            }
    }

    /// Takes records up to a barrier (or the batch limits), journals them, feeds their objects.
    task<void> run_batch() {
        std::size_t n = take_batch();
        if (n != 0) {
            plan(n);
            if (co_await journal_batch(n)) {
                commit();
                co_await write_touched();
            }
            start_completions();
            evict_over_budget();
        }
        if (!pending_.empty() && pending_.front().barrier) {
            detail::flush_barrier* b = pending_.front().barrier;
            pending_.pop_front();
            close_all_open();
            b->mark = objects_.next_sequence();
            b->reached.set();
        }
    }

    std::size_t take_batch() {
        std::size_t n = 0, bytes = 0;
        while (!pending_.empty() && !pending_.front().barrier && n < options_.batch_records &&
               (n == 0 || bytes < batch_bytes)) {
            if (slots_.size() <= n) slots_.emplace_back();
            detail::batch_slot& s = slots_[n++];
            detail::intake_item& item = pending_.front();
            bytes += item.json.size();
            pending_bytes_ -= item.json.size();
            s.json.swap(item.json);
            s.completion = item.completion;
            s.object = nullptr;
            if (s.json.size() > large_record) large_seen_ = true;
            pending_.pop_front();
        }
        if (n != 0) room_.set();
        return n;
    }

    /// Parses and places every record of the batch, opening objects as needed, and encodes the
    /// journal entries.
    void plan(std::size_t n) {
        entries_.clear();
        created_.clear();
        planned_bytes_.clear();
        for (std::size_t i = 0; i < n; ++i) {
            detail::batch_slot& s = slots_[i];
            simdjson::dom::element root;
            const auto code = parser_.parse_into_document(s.doc, s.json.data(), s.json.size()).get(root);
            if (code != simdjson::SUCCESS) {
                refuse_record(s, formats::detail::json_error(code));
                continue;
            }
            const formats::append_result placed = places_.place(root, s.place);
            if (!placed) {
                refuse_record(s, placed.error());
                continue;
            }
            live_object* o = object_for(s.place);
            if (!o) {
                refuse(s.completion, outcome::retry("the object engine cannot number a new object"));
                s.completion = nullptr;
                continue;
            }
            s.object = o;
            entries_.push_back({});
            encode_record(entries_.back().bytes, o->sequence, s.json);
            entries_.back().slot = i;
            entries_.back().object = o;
            planned_rules(*o, s.json.size());
        }
    }

    /// The open object of the record's partition, or a new one (its open entry queued). Null when no
    /// sequence number can be reserved.
    live_object* object_for(const placement& p) {
        if (live_object* o = objects_.open_for(p.partition_key)) return o;
        std::uint64_t sequence = 0;
        try {
            sequence = sequence_->take();
        } catch (const std::system_error& e) {
            log_error("cannot reserve object sequence numbers: " + std::string(e.what()));
            return nullptr;
        }
        const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch()).count();
        const std::string uuid = uuids_.next();
        key_values v{p.folders, options_.name, sequence, uuid, extension_,
                     options_.layout.time == time_source::record ? p.time_ms : now_ms};
        std::string key = keys_.render(v);
        auto object = std::make_unique<live_object>(sequence, p.partition_key, std::move(key), now_ms, clock::now(),
                                                    options_.format);
        live_object* replaced = nullptr;
        live_object* o = objects_.add(std::move(object), replaced);
        o->upload = dest_->begin(describe(*o));
        if (replaced) to_complete_.push_back(replaced);
        created_.push_back(o);
        entries_.push_back({});
        encode_open(entries_.back().bytes, sequence, o->partition, o->key, now_ms);
        entries_.back().object = o;
        age_wake_.set();
        return o;
    }

    /// Count and (estimated) raw-size rules at planning, so a batch does not overfill an object.
    void planned_rules(live_object& o, std::size_t bytes) {
        auto& planned = planned_bytes_[o.sequence];
        planned.first += 1;
        planned.second += bytes;
        const close_rules& r = options_.close;
        const bool by_count = r.max_records != 0 && o.records + planned.first >= r.max_records;
        const bool by_size = r.max_bytes != 0 && r.basis == size_basis::raw &&
                             o.writer.raw_bytes() + planned.second >= r.max_bytes;
        if (by_count || by_size) seal(o);
    }

    /// Writes the batch's entries to the journal; on failure the batch is refused or put back.
    task<bool> journal_batch(std::size_t n) {
        spans_.clear();
        for (const auto& e : entries_)
            spans_.push_back(std::as_bytes(std::span<const char>(e.bytes.data(), e.bytes.size())));
        std::string failure;
        bool full = false;
        try {
            first_id_ = co_await journal_->append_batch(spans_);
            co_return true;
        } catch (const disk_buffer_full&) {
            full = true;
        } catch (const std::exception& e) {
            failure = e.what();
        }
        roll_back_created();
        if (full && !objects_.empty()) {
            ++stats_.journal_full_waits;
            for (std::size_t i = n; i-- > 0;)
                if (slots_[i].object) {
                    pending_bytes_ += slots_[i].json.size();
                    pending_.push_front({std::move(slots_[i].json), slots_[i].completion, nullptr});
                    slots_[i].completion = nullptr;
                }
            if (live_object* oldest = objects_.oldest_open()) seal(*oldest);
            start_completions();
            done_.reset();
            co_await done_.wait();
            co_return false;
        }
        const std::string why = full ? "the journal is full (journal.max_bytes) with nothing to write out"
                                     : "the journal cannot be written: " + failure;
        for (std::size_t i = 0; i < n; ++i)
            if (slots_[i].object) {
                refuse(slots_[i].completion, outcome::retry(why));
                slots_[i].completion = nullptr;
            }
        co_return false;
    }

    void roll_back_created() {
        for (live_object* o : created_) {
            std::erase(to_complete_, o);
            objects_.erase(o->sequence);
        }
        created_.clear();
    }

    /// Feeds the journaled records to their objects' writers.
    void commit() {
        touched_.clear();
        for (std::size_t k = 0; k < entries_.size(); ++k) {
            const record_id id = first_id_ + k;
            const auto& e = entries_[k];
            if (e.slot == detail::journal_item::no_slot) {
                e.object->journal_ids.push_back(id);
                continue;
            }
            detail::batch_slot& s = slots_[e.slot];
            live_object& o = *e.object;
            const std::string_view text = s.place.projected.empty() ? std::string_view(s.json) : std::string_view(s.place.projected);
            simdjson::dom::element root = s.doc.root();
            if (!s.place.projected.empty() && projection_parser_.parse(text.data(), text.size()).get(root) != simdjson::SUCCESS) {
                journal_->acknowledge(id);
                refuse(s.completion, outcome::make(outcome_kind::invalid, "the record without its partition columns is not JSON"));
                s.completion = nullptr;
                continue;
            }
            const formats::append_result r = o.writer.append_parsed(text, root);
            if (!r) {
                journal_->acknowledge(id);
                refuse_record(s, r.error());
                continue;
            }
            o.journal_ids.push_back(id);
            accept(o, s.completion);
            s.completion = nullptr;
            if (touched_.empty() || touched_.back() != &o) touched_.push_back(&o);
        }
        if (large_seen_) shrink_documents();
    }

    void accept(live_object& o, record_completion* c) {
        ++o.records;
        ++stats_.accepted;
        if (c == nullptr) return;
        if (c->when == acknowledge::accepted) c->done(outcome::make(outcome_kind::persisted, {}), {});
        else o.add_waiter(c);
    }

    /// Hands ready output to the destination; applies the size rules that need the writer's figures.
    task<void> write_touched() {
        std::sort(touched_.begin(), touched_.end());
        touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
        for (live_object* o : touched_) {
            if (o->completing) continue;
            const close_rules& r = options_.close;
            const std::uint64_t size = r.basis == size_basis::raw ? o->writer.raw_bytes() : o->writer.output_bytes();
            const std::uint64_t cap = dest_->max_object_bytes();
            if ((r.max_bytes != 0 && size >= r.max_bytes) ||
                o->writer.output_bytes() + o->writer.buffered_bytes() >= cap - cap / 16 || o->upload->failure())
                seal(*o);
            if (o->full || o->writer.pending_output_bytes() < options_.write_threshold) continue;
            std::string out = o->writer.take_output();
            co_await o->upload->write(std::move(out));
        }
    }

    void seal(live_object& o) {
        if (o.full) return;
        objects_.seal(o);
        to_complete_.push_back(&o);
    }

    void start_completions() {
        std::vector<live_object*> ready;
        ready.swap(to_complete_);
        for (live_object* o : ready)
            if (!o->completing) {
                o->completing = true;
                scope_.spawn(complete_object(o));
            }
    }

    void close_all_open() {
        for (live_object* o : objects_.open_objects()) seal(*o);
        start_completions();
    }

    /// Closes open objects early, one at a time (the largest or the oldest), until the others fit in the
    /// budget: an object closed here releases its memory once it is written, so it no longer counts
    /// against the objects that stay open (counting it would close every open object each time).
    void evict_over_budget() {
        auto [open, other] = objects_.memory();
        last_memory_ = open + other;
        metrics_.memory.set(static_cast<double>(last_memory_));
        metrics_.open_objects.set(static_cast<double>(objects_.open_count()));
        std::size_t closing = 0;
        while (open + other > options_.memory_budget && objects_.open_count() != 0) {
            live_object* victim = options_.evict == evict_policy::oldest ? objects_.oldest_open() : objects_.largest_open();
            if (!victim) break;
            const std::size_t m = victim->memory();
            open -= std::min(open, m);
            closing += m;
            seal(*victim);
            ++stats_.evictions;
            metrics_.evictions.inc();
            if (options_.log)
                options_.log->debug("objects", "memory budget: closing an object early",
                                    {field::plain("name", options_.name), field::plain("key", victim->key)});
        }
        stats_.memory_peak = std::max<std::uint64_t>(stats_.memory_peak, open + other + closing);
        start_completions();
    }

    /// True while completing objects alone hold more than the budget: new records wait.
    bool memory_blocked() {
        if (objects_.size() == objects_.open_count()) return false;
        const auto [open, other] = objects_.memory();
        last_memory_ = open + other;
        return other > options_.memory_budget;
    }

    // ---- completing objects ---------------------------------------------------------------------

    task<void> complete_object(live_object* o) {
        co_await completing_.acquire();
        std::string failure;
        try {
            co_await journal_close(*o);
        } catch (const std::exception& e) {
            failure = std::string("the journal cannot be written: ") + e.what();
        }
        object_result result;
        if (!failure.empty()) {
            result.status = outcome::retry(failure);
        } else if (o->records == 0) {
            co_await o->upload->abort();
        } else {
            result = co_await o->upload->complete();
        }
        finish_object(*o, result);
        completing_.release();
        done_.set();
    }

    /// Writes the close entry (unless replay found it), the writer's last bytes, and syncs the journal:
    /// the object's record set is final on disk before the object appears at its destination.
    task<void> journal_close(live_object& o) {
        if (!o.close_journaled) {
            std::string entry;
            encode_close(entry, o.sequence);
            const record_id id = co_await journal_->append(entry);
            o.journal_ids.push_back(id);
            o.close_journaled = true;
        }
        // With background compression the stream's end is compressed on the pool while the loop
        // serves other work; finish() then only collects it.
        if (async_event* compressed = o.writer.begin_finish()) co_await compressed->wait();
        o.writer.finish();
        std::string rest = o.writer.take_output();
        co_await o.upload->write(std::move(rest));
        if (journal_->options().fsync == fsync_policy::os) co_await journal_->flush();
        else co_await journal_->sync();
    }

    void finish_object(live_object& o, const object_result& result) {
        if (result.status.is_ok()) {
            for (const record_id id : o.journal_ids) journal_->acknowledge(id);
            if (o.records != 0) {
                stats_.written += o.records;
                ++stats_.objects_written;
                stats_.bytes_written += result.bytes;
                stats_.last_write = std::chrono::system_clock::now();
                metrics_.flow.events_out.add(o.records);
                metrics_.objects_written.inc();
                metrics_.bytes_written.add(result.bytes);
            }
            o.finish_waiters(outcome::ok(), result.location);
        } else {
            stats_.failed += o.records;
            ++stats_.objects_failed;
            metrics_.flow.events_failed.add(o.records);
            metrics_.objects_failed.inc();
            if (options_.log)
                options_.log->warn("objects", "an object could not be written; its records stay in the journal",
                                   {field::plain("name", options_.name), field::plain("key", o.key),
                                    field::plain("reason", result.status.describe())});
            o.fail_waiters(result.status);
        }
        objects_.erase(o.sequence);
    }

    // ---- time -----------------------------------------------------------------------------------

    task<void> age_timer() {
        const std::stop_token token = timer_stop_.get_token();
        while (!token.stop_requested()) {
            live_object* oldest = objects_.oldest_open();
            bool cancelled = false;
            if (!oldest) {
                age_wake_.reset();
                try {
                    co_await age_wake_.wait(token);
                } catch (const operation_cancelled&) {
                    cancelled = true;
                }
            } else if (const auto due = oldest->opened + options_.close.max_age; clock::now() < due) {
                try {
                    co_await loop_->sleep_until(due, token);
                } catch (const operation_cancelled&) {
                    cancelled = true;
                }
            } else {
                seal(*oldest); // the processor starts its completion between batches
                wake_.set();
            }
            if (cancelled) break;
        }
    }

    /// Waits until no object is live or `deadline` passes; true when none is live.
    task<bool> wait_for_objects(clock::time_point deadline) {
        std::stop_source expired;
        std::stop_source timer_done;
        auto expire = [&]() -> task<void> {
            try {
                co_await loop_->sleep_until(deadline, timer_done.get_token());
                expired.request_stop();
            } catch (const operation_cancelled&) {
            }
        };
        async_scope timer;
        timer.spawn(expire());
        bool empty = true;
        while (!objects_.empty()) {
            done_.reset();
            try {
                co_await done_.wait(expired.get_token());
            } catch (const operation_cancelled&) {
                empty = objects_.empty();
                break;
            }
        }
        timer_done.request_stop();
        co_await timer.join();
        co_return empty;
    }

    // ---- replay ---------------------------------------------------------------------------------

    task<void> replay() {
        std::uint64_t next = 0;
        while (auto rec = co_await journal_->read_next()) {
            const std::string_view data(reinterpret_cast<const char*>(rec->data.data()), rec->data.size());
            const auto e = decode_journal_entry(data);
            if (!e) {
                ++stats_.journal_errors;
                journal_->acknowledge(rec->id);
                log_error("a journal entry of an unknown kind or version was skipped");
                continue;
            }
            next = std::max(next, e->object + 1);
            switch (e->kind) {
            case journal_entry_kind::open: replay_open(*e, rec->id); break;
            case journal_entry_kind::record: co_await replay_record(*e, rec->id); break;
            case journal_entry_kind::close: replay_close(*e, rec->id); break;
            }
        }
        sequence_->at_least(next);
        if (stats_.orphaned_records != 0 && options_.log)
            options_.log->info("objects",
                               "journaled records of objects written before the restart were skipped (their "
                               "acknowledgement had not reached the disk)",
                               {field::plain("name", options_.name), field::plain("records", stats_.orphaned_records)});
        start_completions();
        for (auto& [seq, o] : objects_.all())
            if (!o->full) last_memory_ += o->memory();
    }

    void replay_open(const journal_entry& e, record_id id) {
        if (objects_.find(e.object)) { // a duplicate: keep the first
            ++stats_.journal_errors;
            journal_->acknowledge(id);
            return;
        }
        const auto age = std::chrono::system_clock::now() - std::chrono::system_clock::time_point(std::chrono::milliseconds(e.opened_at_ms));
        auto object = std::make_unique<live_object>(e.object, std::string(e.partition), std::string(e.key), e.opened_at_ms,
                                                    clock::now() - std::chrono::duration_cast<clock::duration>(age), options_.format);
        object->replayed = true;
        live_object* replaced = nullptr;
        live_object* o = objects_.add(std::move(object), replaced);
        o->journal_ids.push_back(id);
        o->upload = dest_->begin(describe(*o));
        if (replaced) to_complete_.push_back(replaced);
        ++stats_.replayed_objects;
    }

    task<void> replay_record(const journal_entry& e, record_id id) {
        live_object* o = objects_.find(e.object);
        simdjson::dom::element root;
        bool ok = o && !o->completing && parser_.parse(e.record.data(), e.record.size()).get(root) == simdjson::SUCCESS;
        std::string_view text = e.record;
        if (ok && places_.looks_inside()) {
            ok = static_cast<bool>(places_.place(root, replay_place_));
            if (ok && !replay_place_.projected.empty()) {
                text = replay_place_.projected;
                ok = projection_parser_.parse(text.data(), text.size()).get(root) == simdjson::SUCCESS;
            }
        }
        if (!ok || !o->writer.append_parsed(text, root)) { // refused as it was the first time, or damaged
            if (!o) ++stats_.orphaned_records; // its object was written already (see the stats)
            journal_->acknowledge(id);
            co_return;
        }
        o->journal_ids.push_back(id);
        ++o->records;
        ++stats_.accepted;
        ++stats_.replayed_records;
        if (o->writer.pending_output_bytes() >= options_.write_threshold) {
            std::string out = o->writer.take_output();
            co_await o->upload->write(std::move(out));
        }
    }

    void replay_close(const journal_entry& e, record_id id) {
        live_object* o = objects_.find(e.object);
        if (!o) {
            journal_->acknowledge(id);
            return;
        }
        o->journal_ids.push_back(id);
        o->close_journaled = true;
        seal(*o);
    }

    // ---- helpers --------------------------------------------------------------------------------

    [[nodiscard]] object_description describe(const live_object& o) const {
        return {o.sequence, o.key, content_type_, content_encoding_, o.replayed};
    }

    void refuse_record(detail::batch_slot& s, const formats::record_error& e) {
        refuse(s.completion, outcome::make(outcome_kind::invalid, e.what()));
        s.completion = nullptr;
        s.object = nullptr;
    }

    void refuse(record_completion* c, const outcome& why) {
        ++stats_.refused;
        metrics_.flow.events_failed.inc();
        if (c) c->done(why, {});
    }

    void shrink_documents() {
        for (auto& s : slots_) s.shrink(large_record);
        large_seen_ = false;
    }

    void log_error(const std::string& what) const {
        if (options_.log) options_.log->error("objects", what, {field::plain("name", options_.name)});
    }

    static constexpr std::size_t batch_bytes = std::size_t{1} << 20;
    static constexpr std::size_t large_record = std::size_t{1} << 20;
    io_loop* loop_;
    object_destination* dest_;
    object_engine_options options_;
    key_template keys_;
    partitioner places_;
    std::string extension_, content_type_, content_encoding_;
    detail::engine_metrics metrics_{};
    std::optional<detail::sequence_file> sequence_{};
    std::unique_ptr<disk_buffer> journal_{};
    detail::object_table objects_{};
    // intake
    std::deque<detail::intake_item> pending_{};
    std::size_t pending_bytes_ = 0;
    async_event wake_{}, room_{}, done_{}, age_wake_{};
    // the batch being journaled
    std::vector<detail::batch_slot> slots_{};
    std::vector<detail::journal_item> entries_{};
    std::vector<std::span<const std::byte>> spans_{};
    std::vector<live_object*> created_{}, touched_{}, to_complete_{};
    std::unordered_map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>> planned_bytes_{};
    record_id first_id_ = 0;
    simdjson::dom::parser parser_{}, projection_parser_{};
    placement replay_place_{};
    bool large_seen_ = false;
    // running
    async_semaphore completing_;
    async_scope scope_{};
    std::stop_source timer_stop_{};
    detail::uuid_source uuids_;
    object_engine_stats stats_{};
    std::size_t last_memory_ = 0;
    bool started_ = false, running_ = false, stopping_ = false;
};

} // namespace sluice::objects
