#pragma once

// object_writer: one object in the format an engine was configured with (NDJSON, CSV or Parquet),
// behind one type, so the engine holds writers of any format side by side.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <sluice/formats/csv.hpp>
#include <sluice/formats/ndjson.hpp>
#include <sluice/formats/parquet/writer.hpp>

namespace sluice::objects {

/// The format of an engine's objects, with its options (compression included).
using format_options = std::variant<formats::ndjson_options, formats::csv_options, formats::parquet_options>;

/// A writer of the configured format; models formats::object_format.
class object_writer {
public:
    /// Throws std::invalid_argument for options the format refuses (see each writer).
    explicit object_writer(const format_options& options) : writer_(make(options)) {}

    /// Adds one record (a JSON document), or says why it is refused.
    [[nodiscard]] formats::append_result append(std::string_view json) {
        return std::visit([&](auto& w) { return w.append(json); }, writer_);
    }
    /// `root` must come from parsing exactly `json`.
    [[nodiscard]] formats::append_result append_parsed(std::string_view json, simdjson::dom::element root) {
        return std::visit([&](auto& w) { return w.append_parsed(json, root); }, writer_);
    }
    /// Takes the object bytes ready so far (see pending_output_bytes()).
    [[nodiscard]] std::string take_output() {
        return std::visit([](auto& w) { return w.take_output(); }, writer_);
    }
    /// Writes what ends the object (footer, compressor end); take_output() then has the rest.
    void finish() {
        std::visit([](auto& w) { w.finish(); }, writer_);
    }
    /// Starts finish() on the compression threads (see formats::object_format); nullptr: nothing to wait for.
    [[nodiscard]] async_event* begin_finish() {
        return std::visit([](auto& w) { return w.begin_finish(); }, writer_);
    }
    /// True once finish() has run.
    [[nodiscard]] bool finished() const noexcept {
        return std::visit([](const auto& w) { return w.finished(); }, writer_);
    }
    /// Records added.
    [[nodiscard]] std::uint64_t record_count() const noexcept {
        return std::visit([](const auto& w) { return w.record_count(); }, writer_);
    }
    /// Bytes of the encoded data before compression (see formats/object_format.hpp).
    [[nodiscard]] std::uint64_t raw_bytes() const noexcept {
        return std::visit([](const auto& w) { return w.raw_bytes(); }, writer_);
    }
    /// Bytes of the object produced so far (after compression).
    [[nodiscard]] std::uint64_t output_bytes() const noexcept {
        return std::visit([](const auto& w) { return w.output_bytes(); }, writer_);
    }
    /// Output not taken yet.
    [[nodiscard]] std::size_t pending_output_bytes() const noexcept {
        return std::visit([](const auto& w) { return w.pending_output_bytes(); }, writer_);
    }
    /// Memory the writer holds for the object, in bytes.
    [[nodiscard]] std::size_t buffered_bytes() const noexcept {
        return std::visit([](const auto& w) { return w.buffered_bytes(); }, writer_);
    }
    /// The file name extension (".ndjson.gz", ".csv", ".parquet"...).
    [[nodiscard]] std::string extension() const {
        return std::visit([](const auto& w) { return std::string(w.extension()); }, writer_);
    }
    /// The MIME type of the format.
    [[nodiscard]] std::string_view content_type() const noexcept {
        return std::visit([](const auto& w) { return std::string_view(w.content_type()); }, writer_);
    }
    /// The Content-Encoding of the compression ("" when none).
    [[nodiscard]] std::string_view content_encoding() const noexcept {
        return std::visit([](const auto& w) { return std::string_view(w.content_encoding()); }, writer_);
    }

private:
    using variant = std::variant<formats::ndjson_writer, formats::csv_writer, formats::parquet_writer>;
    static variant make(const format_options& options) {
        return std::visit(
            [](const auto& o) -> variant {
                using O = std::decay_t<decltype(o)>;
                if constexpr (std::is_same_v<O, formats::ndjson_options>) return formats::ndjson_writer(o);
                else if constexpr (std::is_same_v<O, formats::csv_options>) return formats::csv_writer(o);
                else return formats::parquet_writer(o);
            },
            options);
    }

    variant writer_;
};

static_assert(formats::object_format<object_writer>);

} // namespace sluice::objects
