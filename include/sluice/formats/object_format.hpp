#pragma once

// What every object writer (NDJSON, CSV, Parquet) has in common: the per-record error it answers with,
// the object_format concept the object engine builds on, and the output buffer that hands the
// object's bytes out as they complete.
//
// A writer builds one object (a file, an S3 object) from records appended one at a time:
//   - append(json) parses and checks the record completely before it touches the object, so a record
//     that is refused (not JSON, invalid UTF-8, a field whose type contradicts the schema...) leaves
//     the records already appended exactly as they were; the append_result says what was wrong.
//   - The object's bytes become available while it is built: take_output() hands over what is
//     complete so far (NDJSON/CSV lines or compressed blocks, Parquet row groups), so a multi-GB object
//     never has to sit in memory and an S3 multipart upload can send parts of >= 5 MiB as they come.
//   - finish() completes the object (compressor trailer, Parquet footer); take_output() then hands
//     over the rest. finish_object() does both and returns the whole object when nothing was taken.
//
// Sizes, each in bytes: raw_bytes() is the encoded data *before* compression (NDJSON/CSV text,
// Parquet pages before page compression), output_bytes() the object's size *after* compression so far
// (what take_output() handed out plus what it holds; a compressor may hold back up to one block, and a
// Parquet writer its open row group), buffered_bytes() the memory the writer holds for the object.
//
// Writers are single-threaded: one per object, used from one thread at a time.

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <sluice/codec/background_compression.hpp>
#include <sluice/codec/stream_compression.hpp>

namespace sluice::formats {

/// Why a record was refused.
enum class record_error_kind : std::uint8_t {
    invalid_json,    ///< not a JSON document (or nested deeper than the parser allows)
    invalid_utf8,    ///< a string is not valid UTF-8
    not_an_object,   ///< CSV and Parquet records are JSON objects (one field per column)
    type_mismatch,   ///< a field's value contradicts its column's type
    out_of_range,    ///< a number or timestamp the column cannot hold exactly
    missing_field,   ///< a required (non-nullable) column has no value
    unknown_field,   ///< a field that is not a column (with unknown_fields::reject)
    duplicate_field, ///< the same field twice in one record
};

/// "invalid_json", "type_mismatch", ...
[[nodiscard]] inline std::string_view to_string(record_error_kind k) noexcept {
    switch (k) {
    case record_error_kind::invalid_json: return "invalid_json";
    case record_error_kind::invalid_utf8: return "invalid_utf8";
    case record_error_kind::not_an_object: return "not_an_object";
    case record_error_kind::type_mismatch: return "type_mismatch";
    case record_error_kind::out_of_range: return "out_of_range";
    case record_error_kind::missing_field: return "missing_field";
    case record_error_kind::unknown_field: return "unknown_field";
    case record_error_kind::duplicate_field: return "duplicate_field";
    }
    return "unknown";
}

/// What was wrong with one record. Names the field but never carries the record's values, so it can
/// be logged and returned to whoever sent the record.
struct record_error {
    /// What kind of mistake it is.
    record_error_kind kind = record_error_kind::invalid_json;
    /// The field (column) concerned; empty when the record as a whole is at fault.
    std::string field;
    /// A human-readable explanation.
    std::string message;

    /// "field 'price': expected a number (double column), found a string" or the message alone.
    [[nodiscard]] std::string what() const { return field.empty() ? message : "field '" + field + "': " + message; }
};

/// The answer to one append(): ok, or the record_error that made the writer refuse the record (which
/// then left the object untouched).
class [[nodiscard]] append_result {
public:
    /// Accepted.
    append_result() = default;
    /// Refused, for `e`.
    append_result(record_error e) : error_(std::move(e)) {} // NOLINT: implicit on purpose

    /// Builds a refusal.
    static append_result refuse(record_error_kind kind, std::string field, std::string message) {
        return append_result(record_error{kind, std::move(field), std::move(message)});
    }

    /// True when the record was added.
    [[nodiscard]] bool ok() const noexcept { return !error_.has_value(); }
    /// ok().
    explicit operator bool() const noexcept { return ok(); }

    /// The reason of a refusal. Throws std::logic_error on an accepted record.
    [[nodiscard]] const record_error& error() const {
        if (!error_) throw std::logic_error("sluice::formats::append_result::error() on an accepted record");
        return *error_;
    }

private:
    std::optional<record_error> error_;
};

/// A writer of one object in some format, as the object engine uses it (see the top of this header).
/// Each writer also has append_parsed(json, simdjson::dom::element) for records the caller has parsed
/// already (json.hpp; not part of the concept so that this header needs no simdjson).
template <class W>
concept object_format = requires(W& w, const W& cw, std::string_view json) {
    { w.append(json) } -> std::same_as<append_result>;
    { w.take_output() } -> std::same_as<std::string>;
    { w.finish() } -> std::same_as<void>;
    { w.begin_finish() } -> std::same_as<async_event*>;
    { cw.finished() } -> std::same_as<bool>;
    { cw.record_count() } -> std::same_as<std::uint64_t>;
    { cw.raw_bytes() } -> std::same_as<std::uint64_t>;
    { cw.output_bytes() } -> std::same_as<std::uint64_t>;
    { cw.pending_output_bytes() } -> std::same_as<std::size_t>;
    { cw.buffered_bytes() } -> std::same_as<std::size_t>;
    { cw.extension() } -> std::convertible_to<std::string_view>;
    { cw.content_type() } -> std::convertible_to<std::string_view>;
    { cw.content_encoding() } -> std::convertible_to<std::string_view>;
};

/// Finishes `w` and returns what take_output() has not handed out yet: the whole object when nothing
/// was taken before.
template <object_format W>
[[nodiscard]] std::string finish_object(W& w) {
    w.finish();
    return w.take_output();
}

namespace detail {

/// Output buffers whose bytes have been written, kept for the next object's output. A large buffer
/// from malloc is often fresh memory (an mmap, or heap top that was trimmed), and filling it costs a
/// page fault per 4 KiB: measured, a third of the CSV writer's time. Bounded (a few buffers, a few
/// MiB), shared by every thread.
class output_buffer_pool {
public:
    /// Buffers smaller than this are not worth keeping (the heap's own free lists serve them).
    static constexpr std::size_t min_capacity = 64 * 1024;
    static constexpr std::size_t max_buffers = 4;
    static constexpr std::size_t max_bytes = 8u << 20;

    static output_buffer_pool& instance() {
        static output_buffer_pool pool;
        return pool;
    }

    /// Keeps `s`'s memory if there is room (its bytes are dropped).
    void give(std::string&& s) {
        const std::size_t capacity = s.capacity();
        if (capacity < min_capacity || capacity > max_bytes) return;
        s.clear();
        std::lock_guard lock(mutex_);
        if (count_ == max_buffers || bytes_ + capacity > max_bytes) return;
        buffers_[count_++].swap(s);
        bytes_ += capacity;
    }

    /// An empty buffer with room for more than `more_than` bytes, if one is kept.
    [[nodiscard]] std::optional<std::string> take(std::size_t more_than) {
        std::lock_guard lock(mutex_);
        for (std::size_t i = count_; i-- > 0;) {
            if (buffers_[i].capacity() <= more_than) continue;
            std::optional<std::string> out(std::move(buffers_[i]));
            buffers_[i].swap(buffers_[--count_]);
            buffers_[count_] = std::string();
            bytes_ -= out->capacity();
            return out;
        }
        return std::nullopt;
    }

private:
    std::mutex mutex_;
    std::array<std::string, max_buffers> buffers_;
    std::size_t count_ = 0;
    std::size_t bytes_ = 0;
};

} // namespace detail

/// Hands back a buffer that take_output() returned, once its bytes are written, so that the next
/// object's output fills memory that is already mapped instead of faulting in fresh pages. Optional:
/// the object engine's destinations and sluice's own callers do it; a buffer not handed back is
/// simply freed.
inline void recycle_output(std::string&& bytes) { detail::output_buffer_pool::instance().give(std::move(bytes)); }

namespace detail {

/// The object's bytes on their way out: raw encoded text in, optionally through a stream compressor,
/// into a buffer of complete output that take() hands over. Small writes are gathered into pieces of
/// `chunk_bytes` before they reach the compressor (a call per record would cost more than the
/// compression of a record). With `background` the compressor runs on the process's compression
/// pool (codec/background_compression.hpp) and compressed output joins the buffer when the next
/// piece is handed over; the object's bytes are the same either way.
class object_output {
public:
    explicit object_output(compression codec = compression::none, int level = 0, bool background = false,
                           std::size_t chunk_bytes = 128 * 1024)
        : codec_(codec), chunk_bytes_(chunk_bytes) {
        if (codec == compression::none) return;
        if (background)
            background_ = sluice::detail::background_owner(codec, level, 4 * chunk_bytes);
        else
            compressor_.emplace(codec, level);
    }

    /// Appends `raw` (encoded, uncompressed) to the object.
    void write(std::string_view raw) {
        if (finished_ || ending_) throw std::logic_error("sluice::formats: write to a finished object");
        raw_bytes_ += raw.size();
        if (codec_ == compression::none) {
            make_room(raw.size());
            ready_.append(raw);
            return;
        }
        stage_.append(raw);
        if (stage_.size() >= chunk_bytes_) compress_stage();
    }

    /// Completes the object (compresses what is staged, writes the compressor's trailer).
    void finish() {
        if (finished_) return;
        if (background_) {
            background_->finish(stage_); // a no-op hand-over after begin_finish()
            background_->collect(ready_);
        } else if (compressor_) {
            compressor_->finish(stage_, ready_); // the last piece and the end in one call
            stage_.clear();
            compressor_.reset(); // the library's state is not needed any more
        }
        finished_ = true;
    }

    /// With background compression: hands the staged text and the end of the stream to the pool and
    /// returns the event that is set when both are compressed, so a coroutine can await it and then
    /// call finish() without blocking its loop. nullptr when finish() will not wait for a pool.
    [[nodiscard]] async_event* begin_finish() {
        if (!background_ || finished_) return nullptr;
        ending_ = true;
        background_->request_end(stage_);
        return &background_->ended();
    }

    /// Hands over the complete output so far.
    [[nodiscard]] std::string take() {
        std::string out;
        out.swap(ready_);
        taken_ += out.size();
        return out;
    }

    [[nodiscard]] bool finished() const noexcept { return finished_; }
    [[nodiscard]] std::uint64_t raw_bytes() const noexcept { return raw_bytes_; }
    [[nodiscard]] std::uint64_t output_bytes() const noexcept { return taken_ + ready_.size(); }
    [[nodiscard]] std::size_t ready_bytes() const noexcept { return ready_.size(); }
    /// Memory held for the object: output not taken, the staging buffer and the compressor's state
    /// (in the background: also the raw text waiting for the pool).
    [[nodiscard]] std::size_t buffered_bytes() const noexcept {
        std::size_t n = ready_.capacity() + stage_.capacity();
        if (compressor_) n += compressor_->memory_bytes();
        if (background_) n += background_->memory_bytes();
        return n;
    }
    [[nodiscard]] compression codec() const noexcept { return codec_; }

private:
    /// Before ready_ grows past a small size, moves it into a recycled buffer when one is kept (see
    /// output_buffer_pool); small objects keep their small buffer.
    void make_room(std::size_t more) {
        if (ready_.size() + more <= ready_.capacity() || ready_.capacity() < output_buffer_pool::min_capacity / 2) return;
        std::optional<std::string> pooled = output_buffer_pool::instance().take(ready_.size() + more);
        if (!pooled) return;
        pooled->append(ready_);
        ready_.swap(*pooled);
    }

    void compress_stage() {
        if (stage_.empty()) return;
        make_room(stage_.size());
        if (background_) {
            background_->submit(stage_);
            background_->collect(ready_);
        } else {
            compressor_->write(stage_, ready_);
            stage_.clear();
        }
    }

    compression codec_;
    std::size_t chunk_bytes_;
    std::optional<stream_compressor> compressor_;
    sluice::detail::background_owner background_;
    std::string stage_;
    std::string ready_;
    std::uint64_t raw_bytes_ = 0;
    std::uint64_t taken_ = 0;
    bool finished_ = false;
    bool ending_ = false; // begin_finish() ran: only finish() may follow
};

} // namespace detail
} // namespace sluice::formats
