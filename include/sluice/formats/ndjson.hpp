#pragma once

// NDJSON objects: one JSON document per line, "\n" after each, optionally compressed as a whole
// (gzip, zstd, lz4 frame).
//
// Every record is validated by simdjson (complete JSON, valid UTF-8). A valid record is written as it
// came (pass-through, only the whitespace around it trimmed) unless it spans lines (a pretty-printed
// document): then its compact re-serialisation is written, so every record stays one line. Any JSON
// value is a record (the object engine's partitioning needs objects, NDJSON itself does not).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <sluice/codec/stream_compression.hpp>
#include <sluice/formats/json.hpp>
#include <sluice/formats/object_format.hpp>

namespace sluice::formats {

/// How an NDJSON object is written.
struct ndjson_options {
    /// Whole-object compression: none, gzip, zstd or lz4 (the LZ4 frame format).
    compression codec = compression::none;
    /// The codec's level; 0 is the library's default (see stream_compressor).
    int level = 0;
    /// Compress on the process's compression threads (codec/background_compression.hpp) instead of
    /// the thread appending records, so an io loop keeps serving while a large object compresses;
    /// the object's bytes are the same. false: compress inline (no thread is started).
    bool background_compression = true;
};

/// Writes one NDJSON object. Models object_format.
class ndjson_writer {
public:
    /// Throws std::invalid_argument for a codec that is not compiled in or has no stream format.
    explicit ndjson_writer(ndjson_options options = {}) : output_(options.codec, options.level, options.background_compression) {}

    /// Appends one record (a JSON document), or refuses it and leaves the object as it was.
    [[nodiscard]] append_result append(std::string_view json) {
        simdjson::dom::element root;
        append_result r = reader_.parse(json, root);
        if (!r) return r;
        return append_parsed(json, root);
    }

    /// Appends a record the caller has parsed already: `root` must come from parsing exactly `json`
    /// (the object engine parses each record once, to find its partition, and hands both here).
    [[nodiscard]] append_result append_parsed(std::string_view json, simdjson::dom::element root) {
        check_open();
        const std::string_view trimmed = trim(json);
        if (std::memchr(trimmed.data(), '\n', trimmed.size()) == nullptr &&
            std::memchr(trimmed.data(), '\r', trimmed.size()) == nullptr) {
            output_.write(trimmed);
            output_.write("\n");
        } else {
            line_.clear();
            detail::append_json(line_, root);
            line_.push_back('\n');
            output_.write(line_);
        }
        ++records_;
        return {};
    }

    /// Completes the object (the compressor's trailer). Appending afterwards throws std::logic_error.
    void finish() { output_.finish(); }
    /// Starts finish() on the compression threads; await the event (if any) before finish() so it
    /// does not block (see detail::object_output::begin_finish). No record may be appended after it.
    [[nodiscard]] async_event* begin_finish() { return output_.begin_finish(); }
    /// The object's bytes completed since the last call (see object_format).
    [[nodiscard]] std::string take_output() { return output_.take(); }

    /// True once finish() has run: no record may be added any more.
    [[nodiscard]] bool finished() const noexcept { return output_.finished(); }
    /// Records written so far.
    [[nodiscard]] std::uint64_t record_count() const noexcept { return records_; }
    /// Bytes of NDJSON text before compression.
    [[nodiscard]] std::uint64_t raw_bytes() const noexcept { return output_.raw_bytes(); }
    /// Bytes of the object after compression so far (the compressor may hold back up to one block).
    [[nodiscard]] std::uint64_t output_bytes() const noexcept { return output_.output_bytes(); }
    /// Bytes take_output() would hand over now.
    [[nodiscard]] std::size_t pending_output_bytes() const noexcept { return output_.ready_bytes(); }
    /// Memory held for the object (output not yet taken, the compressor's staging).
    [[nodiscard]] std::size_t buffered_bytes() const noexcept { return output_.buffered_bytes() + line_.capacity(); }

    /// ".ndjson", ".ndjson.gz", ".ndjson.zst", ".ndjson.lz4".
    [[nodiscard]] std::string extension() const { return ".ndjson" + std::string(compression_extension(output_.codec())); }
    /// The MIME type objects of this format are stored with.
    [[nodiscard]] std::string_view content_type() const noexcept { return "application/x-ndjson"; }
    /// "gzip", "zstd", "lz4" or "" (see sluice::content_encoding).
    [[nodiscard]] std::string_view content_encoding() const noexcept { return sluice::content_encoding(output_.codec()); }

private:
    static std::string_view trim(std::string_view s) noexcept {
        const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
        while (!s.empty() && space(s.front())) s.remove_prefix(1);
        while (!s.empty() && space(s.back())) s.remove_suffix(1);
        return s;
    }
    void check_open() const {
        if (output_.finished()) throw std::logic_error("sluice::formats::ndjson_writer: append after finish");
    }

    detail::object_output output_;
    detail::json_reader reader_;
    std::string line_;
    std::uint64_t records_ = 0;
};

static_assert(object_format<ndjson_writer>);

} // namespace sluice::formats
