#pragma once

// parquet_writer: one Parquet file (apache/parquet-format README, "File format"):
//
//   "PAR1" | row group 1: column chunk 1 ... column chunk N | row group 2 ... | FileMetaData |
//   4-byte little-endian length of FileMetaData | "PAR1"
//
// Records (JSON objects, or typed rows) are converted to rows of the schema, checked completely, then
// added to the column writers of the open row group. A row group closes at row_group_rows rows or
// row_group_bytes of encoded data; its column chunks are then complete bytes of the file, which
// take_output() hands over (the magic first), so only the open row group is held in memory. finish()
// writes the footer.
//
// The schema is declared (parquet_options::columns) or inferred (schema.hpp) from the first
// infer_records records, which are held as text until then; inference widens types so that every
// record it saw fits, so accepting them early never has to be taken back.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/codec/compression.hpp>
#include <sluice/formats/json.hpp>
#include <sluice/formats/object_format.hpp>
#include <sluice/formats/parquet/column_writer.hpp>
#include <sluice/formats/parquet/metadata.hpp>
#include <sluice/formats/row.hpp>
#include <sluice/formats/schema.hpp>
#include <sluice/version.hpp>

namespace sluice::formats {

/// Snappy when this build has it (what pandas and pyarrow write by default), else no compression.
[[nodiscard]] inline compression default_parquet_codec() noexcept {
    return compression_available(compression::snappy) ? compression::snappy : compression::none;
}

/// How a Parquet object is written.
struct parquet_options {
    /// The columns. Empty: inferred from the first infer_records records (see schema.hpp).
    std::vector<column> columns;
    /// How many records inference looks at (they are held as text until the schema is fixed).
    std::size_t infer_records = 1000;
    /// A record field that is not a column: refuse the record, or leave the field out.
    unknown_fields unknown = unknown_fields::reject;
    /// The page codec: none, snappy, gzip, zstd or lz4 (Parquet's LZ4_RAW, the LZ4 block format).
    compression codec = default_parquet_codec();
    /// The codec's level; 0 is the default (zstd 1, gzip 6).
    int level = 0;
    /// A row group closes at this many rows ...
    std::size_t row_group_rows = 1'000'000;
    /// ... or once its pages take this many bytes before compression (bounds the memory of a writer).
    std::size_t row_group_bytes = 64u << 20;
    /// Page size, dictionary and statistics limits of every column.
    parquet::column_limits limits{};
    /// FileMetaData.created_by ("<application> version <version>").
    std::string created_by = "sluice version " SLUICE_VERSION_STRING;
};

/// Writes one Parquet object. Models object_format.
class parquet_writer {
public:
    /// Throws std::invalid_argument for a codec that is not compiled in, a bad level, repeated column
    /// names, or a zero row-group size.
    explicit parquet_writer(parquet_options options = {})
        : options_(std::move(options)),
          compressor_(std::make_unique<block_codec>(options_.codec, level_for(options_))) {
        if (options_.row_group_rows == 0 || options_.row_group_bytes == 0)
            throw std::invalid_argument("sluice::formats::parquet_writer: row-group sizes must not be 0");
        output_.write("PAR1");
        if (!options_.columns.empty()) set_schema(record_schema(options_.columns));
    }

    /// Appends one record (a JSON object), or refuses it and leaves the object as it was.
    [[nodiscard]] append_result append(std::string_view json) {
        simdjson::dom::element root;
        append_result r = reader_.parse(json, root);
        if (!r) return r;
        return append_parsed(json, root);
    }

    /// Appends a record the caller has parsed already: `root` must come from parsing exactly `json`.
    [[nodiscard]] append_result append_parsed(std::string_view json, simdjson::dom::element root) {
        check_open();
        if (!schema_) return hold_for_inference(json, root);
        append_result r = converter_->convert(root, row_);
        if (!r) return r;
        add_row();
        return {};
    }

    /// Appends a typed row, one cell per column (see `cell`). Needs a declared schema (or one already
    /// inferred).
    [[nodiscard]] append_result append_row(std::span<const cell> row) {
        check_open();
        if (!schema_) throw std::logic_error("sluice::formats::parquet_writer: typed rows need parquet_options::columns");
        append_result r = converter_->convert(row, row_);
        if (!r) return r;
        add_row();
        return {};
    }

    /// Closes the open row group now (empty ones are not written).
    void flush_row_group() {
        if (!schema_ || group_rows_ == 0) return;
        parquet::row_group_meta group;
        group.num_rows = static_cast<std::int64_t>(group_rows_);
        group.file_offset = static_cast<std::int64_t>(output_.output_bytes());
        chunk_.clear();
        flushed_raw_ += open_raw_bytes();
        for (auto& c : columns_) {
            const auto offset = group.file_offset + static_cast<std::int64_t>(chunk_.size());
            group.columns.push_back(c.flush(chunk_, offset));
        }
        output_.write(chunk_);
        chunk_.clear();
        row_groups_.push_back(std::move(group));
        group_rows_ = 0;
    }

    /// Completes the file: the schema (inferred now if it was not yet), the last row group, the footer.
    void finish() {
        if (output_.finished()) return;
        if (!schema_) fix_inferred_schema();
        flush_row_group();
        std::string footer;
        std::vector<parquet::schema_leaf> leaves;
        for (const auto& c : columns_) leaves.push_back(c.leaf());
        parquet::write_file_metadata(footer, leaves, static_cast<std::int64_t>(records_), row_groups_,
                                     options_.created_by);
        parquet::detail::put_le32(footer, static_cast<std::uint32_t>(footer.size()));
        footer.append("PAR1");
        output_.write(footer);
        output_.finish();
    }

    /// Nothing to wait for before finish(): pages are compressed as they are written (object_format).
    [[nodiscard]] async_event* begin_finish() noexcept { return nullptr; }

    /// The file's bytes completed since the last call: the magic, then whole row groups, then the footer.
    [[nodiscard]] std::string take_output() { return output_.take(); }

    /// The schema (empty while it is still being inferred).
    [[nodiscard]] const record_schema& schema() const noexcept {
        static const record_schema none;
        return schema_ ? *schema_ : none;
    }
    /// Row groups written so far.
    [[nodiscard]] std::size_t row_group_count() const noexcept { return row_groups_.size(); }

    /// True once finish() has run: no record may be added any more.
    [[nodiscard]] bool finished() const noexcept { return output_.finished(); }
    /// Records written so far.
    [[nodiscard]] std::uint64_t record_count() const noexcept { return records_; }
    /// Bytes of encoded pages before page compression (written row groups and the open one).
    [[nodiscard]] std::uint64_t raw_bytes() const noexcept { return flushed_raw_ + open_raw_bytes(); }
    /// Bytes of the file after compression so far: the magic and the row groups written (not the open one).
    [[nodiscard]] std::uint64_t output_bytes() const noexcept { return output_.output_bytes(); }
    /// Bytes take_output() would hand over now.
    [[nodiscard]] std::size_t pending_output_bytes() const noexcept { return output_.ready_bytes(); }
    /// Memory held for the object: the open row group, records held for inference, output not taken.
    [[nodiscard]] std::size_t buffered_bytes() const noexcept {
        std::size_t n = output_.buffered_bytes() + held_bytes_;
        for (const auto& c : columns_) n += c.buffered_bytes();
        return n;
    }

    /// The file name extension of this format (Parquet compresses inside the file: no suffix).
    [[nodiscard]] std::string_view extension() const noexcept { return ".parquet"; }
    /// The media type IANA registered for Parquet.
    [[nodiscard]] std::string_view content_type() const noexcept { return "application/vnd.apache.parquet"; }
    /// Always "": Parquet compresses its pages, not the object.
    [[nodiscard]] std::string_view content_encoding() const noexcept { return ""; }

private:
    static int level_for(const parquet_options& o) {
        if (o.level != 0) return o.level;
        return o.codec == compression::gzip ? 6 : 1;
    }

    static parquet::codec codec_of(compression c) {
        switch (c) {
        case compression::none: return parquet::codec::uncompressed;
        case compression::snappy: return parquet::codec::snappy;
        case compression::gzip: return parquet::codec::gzip;
        case compression::zstd: return parquet::codec::zstd;
        case compression::lz4: return parquet::codec::lz4_raw;
        }
        throw std::invalid_argument("sluice::formats::parquet_writer: unknown codec");
    }

    void set_schema(record_schema schema) {
        schema_ = std::make_unique<record_schema>(std::move(schema));
        converter_ = std::make_unique<detail::row_converter>(*schema_, options_.unknown);
        columns_.clear();
        columns_.reserve(schema_->size());
        for (const auto& c : schema_->columns())
            columns_.emplace_back(c, options_.limits, codec_of(options_.codec), *compressor_);
    }

    append_result hold_for_inference(std::string_view json, simdjson::dom::element root) {
        simdjson::dom::object object;
        if (root.get_object().get(object) != simdjson::SUCCESS)
            return append_result::refuse(record_error_kind::not_an_object, {},
                                         std::string("the record is ") + std::string(detail::json_type_name(root.type())) +
                                             ", not a JSON object");
        for (const auto field : object) {
            if (field.key.empty())
                return append_result::refuse(record_error_kind::unknown_field, {},
                                             "a field with an empty name cannot name a column");
            std::size_t count = 0;
            for (const auto other : object) count += other.key == field.key ? 1 : 0;
            if (count > 1)
                return append_result::refuse(record_error_kind::duplicate_field, std::string(field.key),
                                             "appears more than once in the record");
        }
        for (const auto field : object) inference_.observe(field.key, detail::kind_of(field.value));
        held_.emplace_back(json);
        held_bytes_ += json.size();
        ++records_;
        if (held_.size() >= options_.infer_records) fix_inferred_schema();
        return {};
    }

    /// Fixes the schema from what inference saw and adds the records held meanwhile.
    void fix_inferred_schema() {
        set_schema(inference_.result());
        std::vector<std::string> held = std::move(held_);
        held_.clear();
        held_bytes_ = 0;
        for (const auto& text : held) {
            simdjson::dom::element root;
            append_result r = reader_.parse(text, root);
            if (r) r = converter_->convert(root, row_);
            if (!r) // inference widened every type to fit these records: this is a bug, not bad input
                throw std::logic_error("sluice::formats::parquet_writer: a record held for inference no longer "
                                       "fits the inferred schema: " + r.error().what());
            add_row_values();
        }
    }

    void add_row() {
        add_row_values();
        ++records_;
    }

    void add_row_values() {
        for (std::size_t i = 0; i < columns_.size(); ++i) columns_[i].add(row_[i]);
        ++group_rows_;
        if (group_rows_ >= options_.row_group_rows || open_raw_bytes() >= options_.row_group_bytes) flush_row_group();
    }

    [[nodiscard]] std::uint64_t open_raw_bytes() const noexcept {
        std::uint64_t n = 0;
        for (const auto& c : columns_) n += c.raw_bytes();
        return n;
    }

    void check_open() const {
        if (output_.finished()) throw std::logic_error("sluice::formats::parquet_writer: append after finish");
    }

    parquet_options options_;
    std::unique_ptr<block_codec> compressor_; // on the heap: the column writers point at it
    detail::object_output output_;
    detail::json_reader reader_;
    std::unique_ptr<record_schema> schema_;
    std::unique_ptr<detail::row_converter> converter_;
    std::vector<parquet::column_writer> columns_;
    std::vector<cell> row_;
    std::vector<parquet::row_group_meta> row_groups_;
    std::string chunk_;
    std::size_t group_rows_ = 0;
    std::uint64_t flushed_raw_ = 0;
    std::uint64_t records_ = 0;
    // inference
    schema_inference inference_;
    std::vector<std::string> held_;
    std::size_t held_bytes_ = 0;
};

static_assert(object_format<parquet_writer>);

} // namespace sluice::formats
