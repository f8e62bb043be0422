#pragma once

// One column chunk of the open row group: values in, pages out (apache/parquet-format README "File
// format", "Column chunks", "Data Pages"; Encodings.md).
//
// Every column chunk is written as [dictionary page] data page v1 ...:
//   - a data page holds, uncompressed: the definition levels of an optional column (RLE hybrid, bit
//     width 1, with its 4-byte length), then the values: PLAIN, or RLE_DICTIONARY (one byte of bit
//     width, then the indices in the RLE hybrid). Required columns have no levels (max level 0), and no
//     column has repetition levels (the schema is flat). The whole page is then compressed with the
//     chunk's codec (Compression.md: the raw page, no framing).
//   - dictionary encoding is on for every type but boolean. When the dictionary outgrows its limit
//     (bytes or entries), the page being built is closed and the rest of the chunk is PLAIN (Encodings.md:
//     "If the dictionary grows too big ... the encoding will fall back to the plain encoding"); the
//     dictionary page keeps the entries the earlier pages refer to. The next chunk starts a new dictionary.
//   - statistics per chunk: null_count always; min_value / max_value in the type's order (signed for
//     int64 and timestamps, numeric for doubles with NaN left out and zeros written as -0.0 / +0.0 as
//     parquet.thrift's ColumnOrder asks, unsigned bytewise for strings); nan_count for doubles. A string
//     bound longer than the limit leaves both bounds out.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <sluice/codec/compression.hpp>
#include <sluice/formats/parquet/dictionary.hpp>
#include <sluice/formats/parquet/metadata.hpp>
#include <sluice/formats/parquet/rle.hpp>
#include <sluice/formats/row.hpp>
#include <sluice/formats/schema.hpp>

namespace sluice::formats::parquet {

/// Limits a column writer works within.
struct column_limits {
    std::size_t page_bytes = 1 << 20;            ///< a data page closes once its values take this much
    bool dictionary = true;                       ///< try dictionary encoding (not for booleans)
    std::size_t dictionary_bytes = 1 << 20;       ///< fall back to PLAIN beyond this many dictionary bytes
    std::size_t dictionary_entries = 1 << 20;     ///< ... or this many entries
    std::size_t statistics_bytes = 4096;          ///< string min/max longer than this are left out
};

/// The Parquet physical type and annotation of a sluice column type.
[[nodiscard]] inline schema_leaf leaf_for(const column& c) {
    schema_leaf leaf{c.name, physical_type::byte_array, c.nullable, logical_type::none};
    switch (c.type) {
    case column_type::int64: leaf.type = physical_type::int64; break;
    case column_type::float64: leaf.type = physical_type::double_; break;
    case column_type::boolean: leaf.type = physical_type::boolean; break;
    case column_type::string: leaf.logical = logical_type::string; break;
    case column_type::json: leaf.logical = logical_type::json; break;
    case column_type::timestamp_millis:
        leaf.type = physical_type::int64;
        leaf.logical = logical_type::timestamp_millis;
        break;
    case column_type::timestamp_micros:
        leaf.type = physical_type::int64;
        leaf.logical = logical_type::timestamp_micros;
        break;
    }
    return leaf;
}

namespace detail {

inline void put_le32(std::string& out, std::uint32_t v) {
    for (int b = 0; b < 4; ++b) out.push_back(static_cast<char>(static_cast<std::uint8_t>(v >> (8 * b))));
}
inline void put_le64(std::string& out, std::uint64_t v) {
    for (int b = 0; b < 8; ++b) out.push_back(static_cast<char>(static_cast<std::uint8_t>(v >> (8 * b))));
}

/// Running min / max / null and NaN counts of one column chunk.
class chunk_statistics {
public:
    explicit chunk_statistics(physical_type t, std::size_t max_bytes) : type_(t), max_bytes_(max_bytes) {}

    void add_null() noexcept { ++nulls_; }
    void add(std::int64_t v) noexcept {
        if (!any_ || v < imin_) imin_ = v;
        if (!any_ || v > imax_) imax_ = v;
        any_ = true;
    }
    void add(double v) noexcept {
        if (std::isnan(v)) {
            ++nans_;
            return;
        }
        if (!any_ || v < dmin_) dmin_ = v;
        if (!any_ || v > dmax_) dmax_ = v;
        any_ = true;
    }
    void add(bool v) noexcept {
        (v ? seen_true_ : seen_false_) = true;
        any_ = true;
    }
    void add(std::string_view v) {
        if (!any_ || v < std::string_view(smin_)) smin_.assign(v);
        if (!any_ || v > std::string_view(smax_)) smax_.assign(v);
        any_ = true;
    }

    [[nodiscard]] statistics result() const {
        statistics s;
        s.null_count = nulls_;
        if (type_ == physical_type::double_) s.nan_count = nans_;
        if (!any_) return s;
        std::string lo, hi;
        switch (type_) {
        case physical_type::int64:
            put_le64(lo, static_cast<std::uint64_t>(imin_));
            put_le64(hi, static_cast<std::uint64_t>(imax_));
            break;
        case physical_type::double_:
            put_le64(lo, std::bit_cast<std::uint64_t>(dmin_ == 0.0 ? -0.0 : dmin_));
            put_le64(hi, std::bit_cast<std::uint64_t>(dmax_ == 0.0 ? 0.0 : dmax_));
            break;
        case physical_type::boolean:
            lo.push_back(seen_false_ ? '\0' : '\1');
            hi.push_back(seen_true_ ? '\1' : '\0');
            break;
        default:
            if (smin_.size() > max_bytes_ || smax_.size() > max_bytes_) return s;
            lo = smin_;
            hi = smax_;
        }
        s.min_value = std::move(lo);
        s.max_value = std::move(hi);
        return s;
    }

private:
    physical_type type_;
    std::size_t max_bytes_;
    bool any_ = false;
    std::int64_t nulls_ = 0, nans_ = 0;
    std::int64_t imin_ = 0, imax_ = 0;
    double dmin_ = 0, dmax_ = 0;
    bool seen_true_ = false, seen_false_ = false;
    std::string smin_, smax_;
};

} // namespace detail

/// Builds the column chunk of one column for the open row group (see the top of this header).
class column_writer {
public:
    /// A writer for column `c`, its pages compressed with `chunk_codec` through `compressor` (shared
    /// by the columns of one file, which outlives the writer).
    column_writer(const column& c, const column_limits& limits, codec chunk_codec, block_codec& compressor)
        : leaf_(leaf_for(c)), limits_(limits), codec_(chunk_codec), compressor_(&compressor),
          stats_(leaf_.type, limits.statistics_bytes) {
        reset_chunk();
    }

    /// The column as the file schema describes it.
    [[nodiscard]] const schema_leaf& leaf() const noexcept { return leaf_; }

    /// Adds one value (already checked against the column's type by the row converter).
    void add(const cell& v) {
        ++page_values_;
        if (std::holds_alternative<std::monostate>(v)) {
            levels_.push_back(0);
            stats_.add_null();
            return;
        }
        if (leaf_.optional) levels_.push_back(1);
        plain_scratch_.clear();
        encode_plain(v, plain_scratch_);
        if (dictionary_active_) {
            const std::uint32_t index = dictionary_.insert(plain_scratch_);
            indices_.push_back(index);
            if (dictionary_.bytes() > limits_.dictionary_bytes || dictionary_.size() > limits_.dictionary_entries) {
                close_page();
                dictionary_active_ = false;
            }
        } else if (leaf_.type == physical_type::boolean) {
            bools_.push_back(std::get<bool>(v) ? 1 : 0);
        } else {
            values_.append(plain_scratch_);
        }
        if (page_estimate() >= limits_.page_bytes) close_page();
    }

    /// Bytes of this chunk's pages before compression (closed pages and the open one).
    [[nodiscard]] std::uint64_t raw_bytes() const noexcept { return chunk_raw_ + page_estimate() + dictionary_.bytes(); }
    /// Memory this column holds for the open row group.
    [[nodiscard]] std::size_t buffered_bytes() const noexcept {
        return pages_.capacity() + values_.capacity() + indices_.capacity() * 4 + levels_.capacity() +
               bools_.capacity() + dictionary_.memory_bytes() + body_.capacity() + compressed_.capacity();
    }

    /// Appends the finished chunk to `out` (which starts at file offset `offset`), describes it, and
    /// starts an empty chunk for the next row group.
    column_meta flush(std::string& out, std::int64_t offset) {
        if (page_values_ > 0) close_page();
        column_meta m;
        m.type = leaf_.type;
        m.path = leaf_.name;
        m.compression = codec_;
        m.num_values = chunk_values_;
        m.stats = stats_.result();
        const std::size_t chunk_start = out.size();
        if (dictionary_pages_ > 0) {
            write_page(out, dictionary_.plain(), [&](std::string& o, std::int32_t raw, std::int32_t packed) {
                write_dictionary_page_header(o, raw, packed, static_cast<std::int32_t>(dictionary_.size()));
            });
            m.dictionary_page_offset = offset;
            m.total_uncompressed_size += dictionary_uncompressed_;
            m.encodings.push_back(encoding::plain); // the dictionary page
            m.encodings.push_back(encoding::rle_dictionary);
            m.encoding_stats.push_back({page_type::dictionary_page, encoding::plain, 1});
            m.encoding_stats.push_back({page_type::data_page, encoding::rle_dictionary,
                                        static_cast<std::int32_t>(dictionary_pages_)});
        }
        if (plain_pages_ > 0)
            m.encoding_stats.push_back({page_type::data_page, encoding::plain, static_cast<std::int32_t>(plain_pages_)});
        if (plain_pages_ > 0 || dictionary_pages_ == 0) m.encodings.push_back(encoding::plain);
        if (leaf_.optional) m.encodings.push_back(encoding::rle);
        std::sort(m.encodings.begin(), m.encodings.end());
        m.encodings.erase(std::unique(m.encodings.begin(), m.encodings.end()), m.encodings.end());
        m.data_page_offset = offset + static_cast<std::int64_t>(out.size() - chunk_start);
        out.append(pages_);
        m.total_uncompressed_size += pages_uncompressed_;
        m.total_compressed_size = static_cast<std::int64_t>(out.size() - chunk_start);
        reset_chunk();
        return m;
    }

private:
    void encode_plain(const cell& v, std::string& out) {
        switch (leaf_.type) {
        case physical_type::int64: detail::put_le64(out, static_cast<std::uint64_t>(std::get<std::int64_t>(v))); break;
        case physical_type::double_: detail::put_le64(out, std::bit_cast<std::uint64_t>(std::get<double>(v))); break;
        case physical_type::boolean: break; // bit-packed per page, not byte by byte
        default: {
            const auto s = std::get<std::string_view>(v);
            detail::put_le32(out, static_cast<std::uint32_t>(s.size()));
            out.append(s);
        }
        }
        add_statistics(v);
    }

    void add_statistics(const cell& v) {
        auto& s = stats_;
        if (const auto* i = std::get_if<std::int64_t>(&v)) s.add(*i);
        else if (const auto* d = std::get_if<double>(&v)) s.add(*d);
        else if (const auto* b = std::get_if<bool>(&v)) s.add(*b);
        else if (const auto* t = std::get_if<std::string_view>(&v)) s.add(*t);
    }

    [[nodiscard]] std::size_t page_estimate() const noexcept {
        const int width = std::max(1, bit_width(dictionary_.size()));
        return values_.size() + bools_.size() / 8 + indices_.size() * static_cast<std::size_t>(width) / 8 +
               levels_.size() / 8;
    }

    /// Encodes the open page, compresses it, and appends header and body to the chunk's pages.
    void close_page() {
        if (page_values_ == 0) return;
        body_.clear();
        if (leaf_.optional) rle_hybrid_with_length(body_, std::span<const std::uint8_t>(levels_), 1);
        encoding values_encoding = encoding::plain;
        if (!indices_.empty() || (dictionary_active_ && dictionary_.size() > 0)) {
            values_encoding = encoding::rle_dictionary;
            const int width = std::max(1, bit_width(dictionary_.size() - 1));
            body_.push_back(static_cast<char>(width));
            rle_hybrid(body_, std::span<const std::uint32_t>(indices_), width);
            ++dictionary_pages_;
        } else if (leaf_.type == physical_type::boolean) {
            bit_pack(body_, std::span<const std::uint8_t>(bools_), 1);
            ++plain_pages_;
        } else {
            body_.append(values_);
            ++plain_pages_;
        }
        const auto values = static_cast<std::int32_t>(page_values_);
        write_page(pages_, body_, [&](std::string& o, std::int32_t raw, std::int32_t packed) {
            write_data_page_header(o, raw, packed, values, values_encoding);
        });
        chunk_values_ += page_values_;
        chunk_raw_ += body_.size();
        page_values_ = 0;
        levels_.clear();
        values_.clear();
        indices_.clear();
        bools_.clear();
    }

    /// Compresses `body` and appends header + compressed body to `out`; counts the uncompressed size.
    template <class WriteHeader>
    void write_page(std::string& out, std::string_view body, WriteHeader&& header) {
        const auto raw = std::as_bytes(std::span<const char>(body.data(), body.size()));
        std::string_view packed = body;
        if (codec_ != codec::uncompressed) {
            compressed_.resize(compressor_->max_compressed_size(body.size()));
            const std::size_t n = compressor_->compress(raw, std::as_writable_bytes(std::span<char>(compressed_)));
            packed = std::string_view(compressed_.data(), n);
        }
        const std::size_t header_at = out.size();
        header(out, static_cast<std::int32_t>(body.size()), static_cast<std::int32_t>(packed.size()));
        const auto header_bytes = static_cast<std::int64_t>(out.size() - header_at);
        out.append(packed);
        const std::int64_t uncompressed = header_bytes + static_cast<std::int64_t>(body.size());
        if (&out == &pages_) pages_uncompressed_ += uncompressed;
        else dictionary_uncompressed_ = uncompressed;
    }

    void reset_chunk() {
        pages_.clear();
        dictionary_.clear();
        dictionary_active_ = limits_.dictionary && leaf_.type != physical_type::boolean;
        dictionary_pages_ = plain_pages_ = 0;
        pages_uncompressed_ = dictionary_uncompressed_ = 0;
        chunk_values_ = 0;
        chunk_raw_ = 0;
        stats_ = detail::chunk_statistics(leaf_.type, limits_.statistics_bytes);
    }

    schema_leaf leaf_;
    column_limits limits_;
    codec codec_;
    block_codec* compressor_;
    detail::chunk_statistics stats_;
    // the open page
    std::size_t page_values_ = 0;
    std::vector<std::uint8_t> levels_;
    std::string values_;
    std::vector<std::uint32_t> indices_;
    std::vector<std::uint8_t> bools_;
    // the chunk
    dictionary dictionary_;
    bool dictionary_active_ = true;
    std::size_t dictionary_pages_ = 0, plain_pages_ = 0;
    std::string pages_;
    std::int64_t pages_uncompressed_ = 0, dictionary_uncompressed_ = 0;
    std::int64_t chunk_values_ = 0;
    std::uint64_t chunk_raw_ = 0;
    // scratch
    std::string plain_scratch_, body_, compressed_;
};

} // namespace sluice::formats::parquet
