#pragma once

// CSV objects per RFC 4180: a header row, then one row per record, every line ended by the same
// terminator (CRLF, as RFC 4180 has it, unless configured "\n"), optionally compressed as a whole.
//
// Columns: a fixed list from csv_options::columns, or the fields of the first record in their order.
// A record is a JSON object; each field goes to its column, fields the record lacks are empty, and a
// field that is not a column refuses the record (or is left out with unknown_fields::ignore).
//
// Values: strings as they are; integers in decimal; other numbers in their shortest round-trip form
// (0.1, 1e+300); true / false; objects and arrays as compact JSON text.
// The null convention: JSON null (and a missing field) is an empty, unquoted field; an empty string is
// a quoted empty field (""), so the two stay apart. Readers that treat "" as null by default need to be
// told (DuckDB: allow_quoted_nulls=false).
// Quoting: a field is quoted when it holds the delimiter, '"', CR or LF, or is an empty string; a '"'
// inside is doubled.

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <sluice/codec/stream_compression.hpp>
#include <sluice/formats/json.hpp>
#include <sluice/formats/object_format.hpp>
#include <sluice/formats/row.hpp>
#include <sluice/formats/schema.hpp>

namespace sluice::formats {

/// How a CSV object is written.
struct csv_options {
    /// The columns, in order. Empty: the fields of the first accepted record, in its order.
    std::vector<std::string> columns;
    /// The field separator (not '"', CR or LF).
    char delimiter = ',';
    /// Ends every line, the header's included: "\r\n" (RFC 4180) or "\n".
    std::string line_terminator = "\r\n";
    /// Write the header row (the column names).
    bool header = true;
    /// A record field that is not a column: refuse the record, or leave the field out.
    unknown_fields unknown = unknown_fields::reject;
    /// Whole-object compression: none, gzip, zstd or lz4 (the LZ4 frame format).
    compression codec = compression::none;
    /// The codec's level; 0 is the library's default (see stream_compressor).
    int level = 0;
    /// Compress on the process's compression threads (codec/background_compression.hpp) instead of
    /// the thread appending records, so an io loop keeps serving while a large object compresses;
    /// the object's bytes are the same. false: compress inline (no thread is started).
    bool background_compression = true;
};

/// Writes one CSV object. Models object_format.
class csv_writer {
public:
    /// Throws std::invalid_argument for a bad delimiter, line terminator, repeated column name, or a
    /// codec that is not compiled in.
    explicit csv_writer(csv_options options = {}) : options_(std::move(options)), output_(options_.codec, options_.level, options_.background_compression) {
        const char d = options_.delimiter;
        if (d == '"' || d == '\r' || d == '\n')
            throw std::invalid_argument("sluice::formats::csv_writer: the delimiter cannot be '\"', CR or LF");
        if (options_.line_terminator != "\r\n" && options_.line_terminator != "\n")
            throw std::invalid_argument("sluice::formats::csv_writer: the line terminator is \"\\r\\n\" or \"\\n\"");
        if (!options_.columns.empty()) {
            std::vector<column> columns;
            for (const auto& name : options_.columns) columns.push_back({name, column_type::json, true});
            set_columns(record_schema(std::move(columns)));
        }
    }

    /// Appends one record (a JSON object), or refuses it and leaves the object as it was.
    [[nodiscard]] append_result append(std::string_view json) {
        simdjson::dom::element root;
        append_result r = reader_.parse(json, root);
        if (!r) return r;
        return append_parsed(json, root);
    }

    /// Appends a record the caller has parsed already: `root` must come from parsing `json` (which
    /// CSV does not need again; the signature is the one every writer shares).
    [[nodiscard]] append_result append_parsed(std::string_view /*json*/, simdjson::dom::element root) {
        check_open();
        if (!schema_) {
            append_result r = columns_from(root);
            if (!r) return r;
        }
        std::fill(present_.begin(), present_.end(), std::uint8_t{0});
        append_result r = walker_->walk(root, [&](std::size_t i, simdjson::dom::element v) {
            values_[i] = v;
            present_[i] = 1;
            return append_result{};
        });
        if (!r) return r;
        write_line();
        return {};
    }

    /// Appends a typed row, one cell per column (the columns must come from csv_options::columns).
    /// Strings must be valid UTF-8.
    [[nodiscard]] append_result append_row(std::span<const cell> row) {
        check_open();
        if (!schema_) throw std::logic_error("sluice::formats::csv_writer: typed rows need csv_options::columns");
        if (row.size() != schema_->size())
            return append_result::refuse(record_error_kind::type_mismatch, {},
                                         "the row has " + std::to_string(row.size()) + " cells for " +
                                             std::to_string(schema_->size()) + " columns");
        std::size_t bound = row.size() + options_.line_terminator.size();
        for (std::size_t i = 0; i < row.size(); ++i) {
            if (const auto* s = std::get_if<std::string_view>(&row[i])) {
                if (!detail::valid_utf8(*s))
                    return append_result::refuse(record_error_kind::invalid_utf8, (*schema_)[i].name,
                                                 "the string is not valid UTF-8");
                bound += field_bound(*s);
            } else {
                bound += number_bound;
            }
        }
        emit_line(bound, row.size(), [&](char* p, std::size_t i) {
            if (const auto* s = std::get_if<std::string_view>(&row[i])) return write_field(p, *s);
            if (const auto* b = std::get_if<bool>(&row[i])) return write_text(p, *b ? "true" : "false");
            if (const auto* n = std::get_if<std::int64_t>(&row[i])) return std::to_chars(p, p + number_bound, *n).ptr;
            if (const auto* d = std::get_if<double>(&row[i])) return std::to_chars(p, p + number_bound, *d).ptr;
            return p; // null
        });
        return {};
    }

    /// Completes the object. Writes the header if no record came but the columns are known.
    void finish() {
        if (output_.finished()) return;
        if (schema_ && !header_written_) write_header();
        output_.finish();
    }
    /// Starts finish() on the compression threads; await the event (if any) before finish() so it
    /// does not block (see detail::object_output::begin_finish). No record may be appended after it.
    [[nodiscard]] async_event* begin_finish() {
        if (output_.finished()) return nullptr;
        if (schema_ && !header_written_) write_header();
        return output_.begin_finish();
    }
    /// The object's bytes completed since the last call (see object_format).
    [[nodiscard]] std::string take_output() { return output_.take(); }

    /// The column names (empty until known).
    [[nodiscard]] std::vector<std::string> columns() const {
        std::vector<std::string> names;
        if (schema_)
            for (const auto& c : schema_->columns()) names.push_back(c.name);
        return names;
    }

    /// True once finish() has run: no record may be added any more.
    [[nodiscard]] bool finished() const noexcept { return output_.finished(); }
    /// Records written so far.
    [[nodiscard]] std::uint64_t record_count() const noexcept { return records_; }
    /// Bytes of CSV text (header included) before compression.
    [[nodiscard]] std::uint64_t raw_bytes() const noexcept { return output_.raw_bytes(); }
    /// Bytes of the object after compression so far (the compressor may hold back up to one block).
    [[nodiscard]] std::uint64_t output_bytes() const noexcept { return output_.output_bytes(); }
    /// Bytes take_output() would hand over now.
    [[nodiscard]] std::size_t pending_output_bytes() const noexcept { return output_.ready_bytes(); }
    /// Memory held for the object.
    [[nodiscard]] std::size_t buffered_bytes() const noexcept { return output_.buffered_bytes() + line_.capacity(); }

    /// ".csv", ".csv.gz", ".csv.zst", ".csv.lz4".
    [[nodiscard]] std::string extension() const { return ".csv" + std::string(compression_extension(output_.codec())); }
    /// "text/csv; charset=utf-8; header=present" (RFC 4180's media type; header=absent without one).
    [[nodiscard]] std::string_view content_type() const noexcept {
        return options_.header ? "text/csv; charset=utf-8; header=present" : "text/csv; charset=utf-8; header=absent";
    }
    /// "gzip", "zstd", "lz4" or "" (see sluice::content_encoding).
    [[nodiscard]] std::string_view content_encoding() const noexcept { return sluice::content_encoding(output_.codec()); }

private:
    void set_columns(record_schema schema) {
        schema_ = std::make_unique<record_schema>(std::move(schema));
        walker_ = std::make_unique<detail::field_walker>(*schema_, options_.unknown);
        values_.assign(schema_->size(), simdjson::dom::element{});
        present_.assign(schema_->size(), 0);
        nested_.assign(schema_->size(), {});
    }

    /// The first record's fields become the columns (the record is checked by the walk that follows).
    append_result columns_from(simdjson::dom::element root) {
        simdjson::dom::object object;
        if (root.get_object().get(object) != simdjson::SUCCESS)
            return append_result::refuse(record_error_kind::not_an_object, {},
                                         std::string("the record is ") + std::string(detail::json_type_name(root.type())) +
                                             ", not a JSON object");
        std::vector<column> columns;
        for (const auto field : object) {
            for (const auto& c : columns)
                if (c.name == field.key)
                    return append_result::refuse(record_error_kind::duplicate_field, std::string(field.key),
                                                 "appears more than once in the record");
            if (field.key.empty())
                return append_result::refuse(record_error_kind::unknown_field, {},
                                             "a field with an empty name cannot name a CSV column");
            columns.push_back({std::string(field.key), column_type::json, true});
        }
        set_columns(record_schema(std::move(columns)));
        return {};
    }

    /// Room for any integer or double in its shortest text (and for true / false).
    static constexpr std::size_t number_bound = 32;
    /// The most a field can take once written: every byte a doubled '"', and the quotes around it.
    static std::size_t field_bound(std::string_view text) noexcept { return 2 * text.size() + 2; }

    /// Writes the line of the values the walk found. Nested values become JSON text first (in
    /// scratch_), so the line's worst-case size is known and it is written through a pointer into
    /// memory sized once, with no growth check per byte.
    void write_line() {
        using et = simdjson::dom::element_type;
        scratch_.clear();
        std::size_t bound = values_.size() + options_.line_terminator.size();
        for (std::size_t i = 0; i < values_.size(); ++i) {
            if (present_[i] == 0) continue;
            const simdjson::dom::element v = values_[i];
            const et type = v.type();
            if (type == et::STRING) {
                bound += field_bound(v.get_string().value_unsafe());
            } else if (type == et::ARRAY || type == et::OBJECT) {
                const std::size_t from = scratch_.size();
                detail::append_json(scratch_, v);
                nested_[i] = {from, scratch_.size() - from};
                bound += field_bound(std::string_view(scratch_).substr(from));
            } else {
                bound += number_bound;
            }
        }
        emit_line(bound, values_.size(), [&](char* p, std::size_t i) { return present_[i] != 0 ? render(p, i) : p; });
    }

    /// Writes a line of `count` fields, `render(p, i)` writing field i at p and returning its end, into
    /// memory for `bound` bytes (the terminator included), and hands it on.
    template <class Render>
    void emit_line(std::size_t bound, std::size_t count, Render&& render) {
        char* const start = line_room(bound);
        char* p = start;
        for (std::size_t i = 0; i < count; ++i) {
            if (i != 0) *p++ = options_.delimiter;
            p = render(p, i);
        }
        commit_line(start, p);
    }

    /// Writes the value of column `i` at p (room for its bound) and returns the end.
    char* render(char* p, std::size_t i) const noexcept {
        using et = simdjson::dom::element_type;
        const simdjson::dom::element v = values_[i];
        switch (v.type()) {
        case et::NULL_VALUE: return p;
        case et::STRING: return write_field(p, v.get_string().value_unsafe());
        case et::ARRAY:
        case et::OBJECT: return write_field(p, std::string_view(scratch_).substr(nested_[i].first, nested_[i].second));
        case et::INT64: return std::to_chars(p, p + number_bound, v.get_int64().value_unsafe()).ptr;
        case et::UINT64: return std::to_chars(p, p + number_bound, v.get_uint64().value_unsafe()).ptr;
        case et::DOUBLE: return std::to_chars(p, p + number_bound, v.get_double().value_unsafe()).ptr;
        case et::BOOL: return write_text(p, v.get_bool().value_unsafe() ? "true" : "false");
        }
        return p;
    }

    static char* write_text(char* p, std::string_view text) noexcept {
        std::memcpy(p, text.data(), text.size());
        return p + text.size();
    }

    /// Writes a field (room for field_bound(text)), quoted when it has to be, and returns the end.
    char* write_field(char* p, std::string_view text) const noexcept {
        if (!needs_quotes(text)) return write_text(p, text);
        *p++ = '"';
        for (const char c : text) {
            *p++ = c;
            if (c == '"') *p++ = '"';
        }
        *p++ = '"';
        return p;
    }

    [[nodiscard]] bool needs_quotes(std::string_view text) const noexcept {
        if (text.empty()) return true; // "" is the empty string; an empty field is null
        // No early exit: fields are short, and this form compiles to byte-wise vector compares.
        const char d = options_.delimiter;
        bool special = false;
        for (const char c : text) special |= (c == d) | (c == '"') | (c == '\r') | (c == '\n');
        return special;
    }

    /// Memory for a line of up to `bound` bytes: line_ only ever grows, and is used as raw storage.
    char* line_room(std::size_t bound) {
        if (line_.size() < bound) line_.resize(std::max(bound, 2 * line_.size()));
        return line_.data();
    }

    void write_header() {
        header_written_ = true;
        if (!options_.header) return;
        std::size_t bound = schema_->size() + options_.line_terminator.size();
        for (std::size_t i = 0; i < schema_->size(); ++i) bound += field_bound((*schema_)[i].name);
        std::string row(bound, '\0');
        char* p = row.data();
        for (std::size_t i = 0; i < schema_->size(); ++i) {
            if (i != 0) *p++ = options_.delimiter;
            p = write_field(p, (*schema_)[i].name);
        }
        p = write_text(p, options_.line_terminator);
        output_.write(std::string_view(row.data(), static_cast<std::size_t>(p - row.data())));
    }

    /// Ends the line written at [start, end) (room for the terminator is in its bound) and hands it on.
    void commit_line(char* start, char* end) {
        if (!header_written_) write_header();
        end = write_text(end, options_.line_terminator);
        output_.write(std::string_view(start, static_cast<std::size_t>(end - start)));
        ++records_;
    }

    void check_open() const {
        if (output_.finished()) throw std::logic_error("sluice::formats::csv_writer: append after finish");
    }

    csv_options options_;
    detail::object_output output_;
    detail::json_reader reader_;
    std::unique_ptr<record_schema> schema_;
    std::unique_ptr<detail::field_walker> walker_;
    std::vector<simdjson::dom::element> values_;
    std::vector<std::uint8_t> present_;
    std::vector<std::pair<std::size_t, std::size_t>> nested_; // per column: its JSON text in scratch_
    std::string line_; // raw storage for the line being written (see line_room)
    std::string scratch_;
    bool header_written_ = false;
    std::uint64_t records_ = 0;
};

static_assert(object_format<csv_writer>);

} // namespace sluice::formats
