#pragma once

// partitioner: which partition a record belongs to, and the record as its object stores it.
//
// Partition columns (MiniFirehose's partition_cols) are top-level fields of the record. Each value
// becomes a Hive-style folder "column=value/" (what DuckDB, Spark, Athena and pyarrow read with hive
// partitioning): strings as they are, integers in decimal, other numbers in their shortest round-trip
// form, true/false; null, a missing field or an empty string is __HIVE_DEFAULT_PARTITION__ (Hive's
// name for "no value"); objects and arrays are refused.
//
// Values are escaped as Hive escapes them (FileUtils.escapePathName: control characters and
// " # % ' * / : = ? \ { [ ] ^ DEL become %XX, upper-case hex), so no value can create a folder, end a
// segment or look like another column. With partition_values::reject, a value that would need a '/'
// or a '\' escaped, holds "..", or has control characters refuses its record instead, with a clear
// error naming the column (never the value).
//
// Partition columns are left out of the stored records unless keep_partition_columns is set (the
// folders carry them, as Hive-partitioned data sets have it): the record is re-serialised without them.
//
// With time_source::record the record's own time (time_field: RFC 3339 text with an offset, or an
// integer count of time_field_unit since the epoch) renders the key template's strftime parts, and
// records are grouped by that rendering too.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sluice/formats/json.hpp>
#include <sluice/formats/timestamp.hpp>
#include <sluice/objects/key_template.hpp>
#include <sluice/text/json_escape.hpp>

namespace sluice::objects {

/// What to do with a partition value that holds '/', '\', ".." or control characters.
enum class partition_values : std::uint8_t {
    escape, ///< escape it (%2F, %5C, ...) like every other special character
    reject, ///< refuse the record with an error
};

/// Where the time of a key's strftime parts comes from.
enum class time_source : std::uint8_t {
    arrival, ///< when the object opened (the engine's clock)
    record,  ///< the record's time_field
};

/// The unit of an integer time field.
enum class time_field_unit : std::uint8_t { seconds, millis, micros };

/// How records map to objects and names (the engine's layout options).
struct layout_options {
    /// See key_template.hpp.
    std::string key_template = "{partitions}{name}-%Y%m%dT%H%M%SZ-{seq}-{uuid}{ext}";
    /// Top-level fields whose values partition the records (in folder order).
    std::vector<std::string> partition_by{};
    /// What to do with partition values that are not safe in a key (see partition_values).
    partition_values partition_policy = partition_values::escape;
    /// Keep the partition columns in the stored records too.
    bool keep_partition_columns = false;
    /// Which time names the object and fills the key template's time fields.
    time_source time = time_source::arrival;
    /// The record's time field (time_source::record).
    std::string time_field{};
    /// The unit of an integer time field.
    time_field_unit time_unit = time_field_unit::millis;
};

/// The Hive folder value of an absent (null, missing or empty) partition value.
inline constexpr std::string_view hive_default_partition = "__HIVE_DEFAULT_PARTITION__";

/// Appends `value` escaped as Hive escapes partition values.
inline void append_hive_escaped(std::string& out, std::string_view value) {
    static constexpr char hex[] = "0123456789ABCDEF";
    for (const char ch : value) {
        const auto c = static_cast<unsigned char>(ch);
        const bool special = c < 0x20 || c == 0x7F || c == '"' || c == '#' || c == '%' || c == '\'' || c == '*' ||
                             c == '/' || c == ':' || c == '=' || c == '?' || c == '\\' || c == '{' || c == '[' ||
                             c == ']' || c == '^';
        if (!special) {
            out.push_back(ch);
            continue;
        }
        out.push_back('%');
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
    }
}

/// Where a record goes and what is stored, for one record (see partitioner::place).
struct placement {
    /// Records with equal keys share objects: the partition folders, then the record's time rendering.
    std::string partition_key{};
    /// The "col=value/..." folders.
    std::string folders{};
    /// The record's time (time_source::record), Unix milliseconds.
    std::int64_t time_ms = 0;
    /// The record without its partition columns (empty: store the record as it came).
    std::string projected{};
};

/// Places records (see the top of this header). One per engine; loop thread only.
class partitioner {
public:
    /// Checks `options` (throws std::invalid_argument naming the mistake); `keys` outlives it.
    explicit partitioner(layout_options options, const key_template& keys)
        : options_(std::move(options)), keys_(&keys) {
        if (options_.time == time_source::record && options_.time_field.empty())
            throw std::invalid_argument("sluice::objects: time_source::record needs a time_field");
        for (const auto& c : options_.partition_by)
            if (c.empty()) throw std::invalid_argument("sluice::objects: a partition column has an empty name");
    }

    /// The options it was made with.
    [[nodiscard]] const layout_options& options() const noexcept { return options_; }
    /// True when records need to be JSON objects (partitioning or record times look into them).
    [[nodiscard]] bool looks_inside() const noexcept {
        return !options_.partition_by.empty() || options_.time == time_source::record;
    }

    /// Fills `out` for the parsed record `root`, or says why the record cannot be placed (the message
    /// names the field, never its value).
    [[nodiscard]] formats::append_result place(simdjson::dom::element root, placement& out) {
        out.partition_key.clear();
        out.folders.clear();
        out.projected.clear();
        out.time_ms = 0;
        if (!looks_inside()) return {};
        simdjson::dom::object object;
        if (root.get_object().get(object) != simdjson::SUCCESS)
            return formats::append_result::refuse(formats::record_error_kind::not_an_object, {},
                                                  "partitioned records are JSON objects");
        for (const auto& column : options_.partition_by) {
            formats::append_result r = append_folder(object, column, out.folders);
            if (!r) return r;
        }
        out.partition_key = out.folders;
        if (options_.time == time_source::record) {
            formats::append_result r = record_time(object, out.time_ms);
            if (!r) return r;
            out.partition_key.push_back('\x1e');
            keys_->append_time_key(out.partition_key, out.time_ms);
        }
        if (!options_.partition_by.empty() && !options_.keep_partition_columns) project(object, out.projected);
        return {};
    }

private:
    formats::append_result append_folder(simdjson::dom::object object, const std::string& column, std::string& out) {
        append_hive_escaped(out, column);
        out.push_back('=');
        simdjson::dom::element v;
        if (object.at_key(column).get(v) != simdjson::SUCCESS) {
            out.append(hive_default_partition);
            out.push_back('/');
            return {};
        }
        value_.clear();
        using et = simdjson::dom::element_type;
        switch (v.type()) {
        case et::NULL_VALUE: break;
        case et::STRING: value_ = v.get_string().value_unsafe(); break;
        case et::ARRAY:
        case et::OBJECT:
            return formats::append_result::refuse(formats::record_error_kind::type_mismatch, column,
                                                  "a partition value must be a string, a number or a boolean");
        default: formats::detail::append_json(value_, v); break;
        }
        if (options_.partition_policy == partition_values::reject && unsafe(value_))
            return formats::append_result::refuse(formats::record_error_kind::type_mismatch, column,
                                                  "the partition value holds '/', '\\', \"..\" or control characters, "
                                                  "which could create folders");
        if (value_.empty()) out.append(hive_default_partition);
        else append_hive_escaped(out, value_);
        out.push_back('/');
        return {};
    }

    static bool unsafe(std::string_view v) noexcept {
        if (v.find("..") != std::string_view::npos) return true;
        for (const char ch : v) {
            const auto c = static_cast<unsigned char>(ch);
            if (c == '/' || c == '\\' || c < 0x20 || c == 0x7F) return true;
        }
        return false;
    }

    formats::append_result record_time(simdjson::dom::object object, std::int64_t& ms) const {
        const std::string& field = options_.time_field;
        simdjson::dom::element v;
        if (object.at_key(field).get(v) != simdjson::SUCCESS)
            return formats::append_result::refuse(formats::record_error_kind::missing_field, field,
                                                  "the record has no time (the key takes times from records)");
        using et = simdjson::dom::element_type;
        if (v.type() == et::STRING) {
            const auto parsed = formats::parse_rfc3339(v.get_string().value_unsafe(), formats::time_unit::millis);
            if (!parsed)
                return formats::append_result::refuse(formats::record_error_kind::type_mismatch, field,
                                                      "not an RFC 3339 date-time with an offset");
            ms = *parsed;
            return {};
        }
        if (v.type() != et::INT64)
            return formats::append_result::refuse(formats::record_error_kind::type_mismatch, field,
                                                  "a record time is RFC 3339 text or an integer");
        const std::int64_t n = v.get_int64().value_unsafe();
        constexpr std::int64_t limit = std::int64_t{1} << 52; // far beyond any date, no overflow below
        if (n > limit || n < -limit)
            return formats::append_result::refuse(formats::record_error_kind::out_of_range, field,
                                                  "the record time is out of range");
        switch (options_.time_unit) {
        case time_field_unit::seconds: ms = n * 1000; break;
        case time_field_unit::millis: ms = n; break;
        case time_field_unit::micros: ms = n >= 0 ? n / 1000 : (n - 999) / 1000; break;
        }
        return {};
    }

    /// The record without its partition columns, as compact JSON.
    void project(simdjson::dom::object object, std::string& out) const {
        out.push_back('{');
        bool first = true;
        for (const auto field : object) {
            bool partition = false;
            for (const auto& c : options_.partition_by) partition = partition || c == field.key;
            if (partition) continue;
            if (!first) out.push_back(',');
            first = false;
            text::append_json_string(out, field.key);
            out.push_back(':');
            formats::detail::append_json(out, field.value);
        }
        out.push_back('}');
    }

    layout_options options_;
    const key_template* keys_;
    std::string value_;
};

} // namespace sluice::objects
