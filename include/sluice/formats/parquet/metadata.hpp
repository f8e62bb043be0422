#pragma once

// Parquet's metadata structures as sluice writes them: page headers and the footer (FileMetaData),
// serialised with the Thrift compact protocol. Field ids and enum values are those of
// apache/parquet-format src/main/thrift/parquet.thrift; only the fields sluice sets are modelled.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sluice/formats/parquet/thrift_compact.hpp>

namespace sluice::formats::parquet {

/// parquet.thrift `Type`.
enum class physical_type : std::int32_t { boolean = 0, int32 = 1, int64 = 2, float_ = 4, double_ = 5, byte_array = 6 };

/// parquet.thrift `Encoding`.
enum class encoding : std::int32_t { plain = 0, rle = 3, rle_dictionary = 8 };

/// parquet.thrift `CompressionCodec`.
enum class codec : std::int32_t { uncompressed = 0, snappy = 1, gzip = 2, zstd = 6, lz4_raw = 7 };

/// parquet.thrift `PageType`.
enum class page_type : std::int32_t { data_page = 0, dictionary_page = 2 };

/// parquet.thrift `ConvertedType` (the ones sluice writes, for readers that predate LogicalType).
enum class converted_type : std::int32_t { utf8 = 0, timestamp_millis = 9, timestamp_micros = 10, json = 19 };

/// Which parquet.thrift `LogicalType` union member annotates a column.
enum class logical_type : std::uint8_t { none, string, json, timestamp_millis, timestamp_micros };

/// A leaf of the (flat) schema: parquet.thrift `SchemaElement` of a primitive column.
struct schema_leaf {
    std::string name;                               ///< field 4: the column's name, also its path
    physical_type type = physical_type::byte_array; ///< field 1
    bool optional = true;                           ///< field 3: OPTIONAL (nulls allowed), else REQUIRED
    logical_type logical = logical_type::none;      ///< field 10, with the matching ConvertedType (6)
};

/// parquet.thrift `Statistics` (min/max already PLAIN-encoded, byte arrays without their length).
struct statistics {
    std::optional<std::string> min_value; ///< field 6 (and is_min_value_exact, 8); none: not written
    std::optional<std::string> max_value; ///< field 5 (and is_max_value_exact, 7); none: not written
    std::int64_t null_count = 0;          ///< field 3, always written
    std::optional<std::int64_t> nan_count; ///< floating-point columns only
};

/// parquet.thrift `PageEncodingStats`: how many pages of a type used an encoding.
struct page_encoding_count {
    page_type type = page_type::data_page; ///< field 1: data or dictionary pages
    encoding used = encoding::plain;       ///< field 2: the encoding of their values
    std::int32_t count = 0;                ///< field 3: how many such pages the chunk has
};

/// parquet.thrift `ColumnMetaData`: one column chunk of a row group.
struct column_meta {
    /// Field 1: the leaf's type.
    physical_type type = physical_type::byte_array;
    /// Field 2: every encoding its pages use (with RLE for the levels of an optional column).
    std::vector<encoding> encodings;
    /// Field 3: path_in_schema, the leaf's name (flat schema).
    std::string path;
    /// Field 4: the codec of every page.
    codec compression = codec::uncompressed;
    /// Field 5: the chunk's values, nulls included.
    std::int64_t num_values = 0;
    /// Field 6: page headers plus uncompressed bodies.
    std::int64_t total_uncompressed_size = 0;
    /// Field 7: the chunk's bytes in the file, headers included.
    std::int64_t total_compressed_size = 0;
    /// Field 9: file offset of the first data page.
    std::int64_t data_page_offset = 0;
    /// Field 11: file offset of the dictionary page, when the chunk has one.
    std::optional<std::int64_t> dictionary_page_offset;
    /// Field 12: the chunk's statistics.
    statistics stats;
    /// Pages per type and encoding: tells readers whether every data page is dictionary-encoded.
    std::vector<page_encoding_count> encoding_stats;
};

/// parquet.thrift `RowGroup`.
struct row_group_meta {
    std::vector<column_meta> columns; ///< field 1: a chunk per leaf, in schema order
    std::int64_t num_rows = 0;        ///< field 3
    std::int64_t file_offset = 0;     ///< field 5: file offset of its first page
};

/// Appends a `PageHeader` of a v1 data page (levels RLE-encoded) to `out`.
inline void write_data_page_header(std::string& out, std::int32_t uncompressed, std::int32_t compressed,
                                   std::int32_t num_values, encoding values) {
    thrift::compact_writer w(out);
    w.field_i32(1, static_cast<std::int32_t>(page_type::data_page));
    w.field_i32(2, uncompressed);
    w.field_i32(3, compressed);
    w.begin_struct(5); // DataPageHeader
    w.field_i32(1, num_values);
    w.field_i32(2, static_cast<std::int32_t>(values));
    w.field_i32(3, static_cast<std::int32_t>(encoding::rle)); // definition levels
    w.field_i32(4, static_cast<std::int32_t>(encoding::rle)); // repetition levels (none: max level 0)
    w.end();
    w.end();
}

/// Appends a `PageHeader` of a dictionary page (entries PLAIN-encoded, as Encodings.md asks of new files).
inline void write_dictionary_page_header(std::string& out, std::int32_t uncompressed, std::int32_t compressed,
                                         std::int32_t num_entries) {
    thrift::compact_writer w(out);
    w.field_i32(1, static_cast<std::int32_t>(page_type::dictionary_page));
    w.field_i32(2, uncompressed);
    w.field_i32(3, compressed);
    w.begin_struct(7); // DictionaryPageHeader
    w.field_i32(1, num_entries);
    w.field_i32(2, static_cast<std::int32_t>(encoding::plain));
    w.end();
    w.end();
}

namespace detail {

inline void write_schema_leaf(thrift::compact_writer& w, const schema_leaf& leaf) {
    w.begin_list_struct();
    w.field_i32(1, static_cast<std::int32_t>(leaf.type));
    w.field_i32(3, leaf.optional ? 1 : 0); // FieldRepetitionType OPTIONAL / REQUIRED
    w.field_binary(4, leaf.name);
    switch (leaf.logical) {
    case logical_type::none: break;
    case logical_type::string:
        w.field_i32(6, static_cast<std::int32_t>(converted_type::utf8));
        w.begin_struct(10);
        w.empty_struct(1); // LogicalType.STRING
        w.end();
        break;
    case logical_type::json:
        w.field_i32(6, static_cast<std::int32_t>(converted_type::json));
        w.begin_struct(10);
        w.empty_struct(12); // LogicalType.JSON
        w.end();
        break;
    case logical_type::timestamp_millis:
    case logical_type::timestamp_micros: {
        const bool millis = leaf.logical == logical_type::timestamp_millis;
        w.field_i32(6, static_cast<std::int32_t>(millis ? converted_type::timestamp_millis : converted_type::timestamp_micros));
        w.begin_struct(10);
        w.begin_struct(8);          // LogicalType.TIMESTAMP: TimestampType
        w.field_bool(1, true);      // isAdjustedToUTC
        w.begin_struct(2);          // unit: TimeUnit
        w.empty_struct(millis ? 1 : 2); // MILLIS / MICROS
        w.end();
        w.end();
        w.end();
        break;
    }
    }
    w.end();
}

inline void write_statistics(thrift::compact_writer& w, const statistics& s) {
    w.begin_struct(12);
    w.field_i64(3, s.null_count);
    if (s.max_value) w.field_binary(5, *s.max_value);
    if (s.min_value) w.field_binary(6, *s.min_value);
    if (s.max_value) w.field_bool(7, true); // is_max_value_exact
    if (s.min_value) w.field_bool(8, true); // is_min_value_exact
    if (s.nan_count) w.field_i64(9, *s.nan_count);
    w.end();
}

inline void write_column_chunk(thrift::compact_writer& w, const column_meta& c) {
    w.begin_list_struct(); // ColumnChunk
    w.field_i64(2, 0);     // file_offset: 0, no ColumnMetaData outside the footer
    w.begin_struct(3);     // ColumnMetaData
    w.field_i32(1, static_cast<std::int32_t>(c.type));
    w.begin_list(2, thrift::ctype::i32, static_cast<std::uint32_t>(c.encodings.size()));
    for (const encoding e : c.encodings) w.list_i32(static_cast<std::int32_t>(e));
    w.begin_list(3, thrift::ctype::binary, 1);
    w.list_binary(c.path);
    w.field_i32(4, static_cast<std::int32_t>(c.compression));
    w.field_i64(5, c.num_values);
    w.field_i64(6, c.total_uncompressed_size);
    w.field_i64(7, c.total_compressed_size);
    w.field_i64(9, c.data_page_offset);
    if (c.dictionary_page_offset) w.field_i64(11, *c.dictionary_page_offset);
    write_statistics(w, c.stats);
    w.begin_list(13, thrift::ctype::structure, static_cast<std::uint32_t>(c.encoding_stats.size()));
    for (const auto& e : c.encoding_stats) {
        w.begin_list_struct();
        w.field_i32(1, static_cast<std::int32_t>(e.type));
        w.field_i32(2, static_cast<std::int32_t>(e.used));
        w.field_i32(3, e.count);
        w.end();
    }
    w.end(); // ColumnMetaData
    w.end(); // ColumnChunk
}

inline void write_row_group(thrift::compact_writer& w, const row_group_meta& g, std::int16_t ordinal) {
    std::int64_t uncompressed = 0;
    std::int64_t compressed = 0;
    for (const auto& c : g.columns) {
        uncompressed += c.total_uncompressed_size;
        compressed += c.total_compressed_size;
    }
    w.begin_list_struct();
    w.begin_list(1, thrift::ctype::structure, static_cast<std::uint32_t>(g.columns.size()));
    for (const auto& c : g.columns) write_column_chunk(w, c);
    w.field_i64(2, uncompressed); // total_byte_size
    w.field_i64(3, g.num_rows);
    w.field_i64(5, g.file_offset);
    w.field_i64(6, compressed);
    w.field_i16(7, ordinal);
    w.end();
}

} // namespace detail

/// Appends the serialised `FileMetaData` (version 1, as parquet.thrift advises writers) to `out`.
/// column_orders says TYPE_ORDER for every column: the statistics follow each type's order.
inline void write_file_metadata(std::string& out, const std::vector<schema_leaf>& leaves, std::int64_t num_rows,
                                const std::vector<row_group_meta>& row_groups, std::string_view created_by) {
    thrift::compact_writer w(out);
    w.field_i32(1, 1);
    w.begin_list(2, thrift::ctype::structure, static_cast<std::uint32_t>(leaves.size() + 1));
    w.begin_list_struct(); // the root: a group of every column
    w.field_binary(4, "schema");
    w.field_i32(5, static_cast<std::int32_t>(leaves.size()));
    w.end();
    for (const auto& leaf : leaves) detail::write_schema_leaf(w, leaf);
    w.field_i64(3, num_rows);
    w.begin_list(4, thrift::ctype::structure, static_cast<std::uint32_t>(row_groups.size()));
    for (std::size_t i = 0; i < row_groups.size(); ++i)
        detail::write_row_group(w, row_groups[i], static_cast<std::int16_t>(i));
    w.field_binary(6, created_by);
    w.begin_list(7, thrift::ctype::structure, static_cast<std::uint32_t>(leaves.size()));
    for (std::size_t i = 0; i < leaves.size(); ++i) {
        w.begin_list_struct();
        w.empty_struct(1); // ColumnOrder.TYPE_ORDER
        w.end();
    }
    w.end();
}

} // namespace sluice::formats::parquet
