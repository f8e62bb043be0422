#pragma once

// The columns of a CSV or Parquet object: declared by the caller, or inferred from the first records.
//
// Inference looks at the fields of the first records (their names in order of first appearance) and
// gives each column the narrowest type that holds every value seen:
//   only integers -> int64; integers and other numbers -> float64; only booleans -> boolean;
//   only strings -> string; objects, arrays or a mix of kinds -> json (the value's JSON text);
//   only nulls -> string. Every inferred column is nullable. Timestamps are never inferred (a string
//   that looks like a date stays a string): declare them.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sluice/formats/timestamp.hpp>

namespace sluice::formats {

/// What a column holds.
enum class column_type : std::uint8_t {
    int64,            ///< JSON integers from -2^63 to 2^63-1
    float64,          ///< any JSON number, as an IEEE double
    boolean,          ///< true / false
    string,           ///< JSON strings (UTF-8)
    json,             ///< any JSON value, stored as its compact JSON text (nested objects and arrays)
    timestamp_millis, ///< milliseconds since the epoch, UTC: a JSON integer or an RFC 3339 string
    timestamp_micros, ///< microseconds since the epoch, UTC: likewise
};

/// "int64", "float64", ...
[[nodiscard]] inline std::string_view to_string(column_type t) noexcept {
    switch (t) {
    case column_type::int64: return "int64";
    case column_type::float64: return "float64";
    case column_type::boolean: return "boolean";
    case column_type::string: return "string";
    case column_type::json: return "json";
    case column_type::timestamp_millis: return "timestamp_millis";
    case column_type::timestamp_micros: return "timestamp_micros";
    }
    return "unknown";
}

/// One column: its name (the JSON field it comes from), type, and whether it may be null (or missing).
struct column {
    /// The field's name (top-level key of the JSON record).
    std::string name;
    /// Its type.
    column_type type = column_type::string;
    /// True when records may lack it or hold null.
    bool nullable = true;
};

/// What to do with a record field that is not a column.
enum class unknown_fields : std::uint8_t {
    reject, ///< refuse the record (record_error_kind::unknown_field): nothing is dropped silently
    ignore, ///< leave the field out of the object
};

/// An ordered list of columns with a lookup by name. Names are unique and non-empty.
class record_schema {
public:
    record_schema() = default;

    /// Throws std::invalid_argument for an empty or repeated name.
    explicit record_schema(std::vector<column> columns) : columns_(std::move(columns)) {
        index_.reserve(columns_.size());
        for (std::size_t i = 0; i < columns_.size(); ++i) {
            if (columns_[i].name.empty()) throw std::invalid_argument("sluice::formats: a column has an empty name");
            if (!index_.emplace(columns_[i].name, i).second)
                throw std::invalid_argument("sluice::formats: column '" + columns_[i].name + "' is declared twice");
        }
    }

    /// The columns, in order.
    [[nodiscard]] const std::vector<column>& columns() const noexcept { return columns_; }
    /// How many columns.
    [[nodiscard]] std::size_t size() const noexcept { return columns_.size(); }
    /// True with no column.
    [[nodiscard]] bool empty() const noexcept { return columns_.empty(); }
    /// Column `i` (i < size()).
    [[nodiscard]] const column& operator[](std::size_t i) const { return columns_[i]; }

    /// The index of the column named `name`.
    [[nodiscard]] std::optional<std::size_t> find(std::string_view name) const {
        const auto it = index_.find(name);
        if (it == index_.end()) return std::nullopt;
        return it->second;
    }

private:
    struct name_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::vector<column> columns_;
    std::unordered_map<std::string, std::size_t, name_hash, std::equal_to<>> index_;
};

/// What inference has seen of one field so far.
enum class value_kind : std::uint8_t { null, integer, number, boolean, string, nested };

/// Accumulates the fields of records to infer a schema (see the top of this header).
class schema_inference {
public:
    /// Notes one field's value.
    void observe(std::string_view name, value_kind kind) {
        auto it = index_.find(std::string(name));
        if (it == index_.end()) {
            it = index_.emplace(std::string(name), fields_.size()).first;
            fields_.push_back({std::string(name), std::nullopt});
        }
        auto& seen = fields_[it->second].type;
        if (kind == value_kind::null) return;
        const column_type t = kind == value_kind::integer   ? column_type::int64
                              : kind == value_kind::number  ? column_type::float64
                              : kind == value_kind::boolean ? column_type::boolean
                              : kind == value_kind::string  ? column_type::string
                                                            : column_type::json;
        if (!seen)
            seen = t;
        else if (*seen != t)
            seen = widen(*seen, t);
    }

    /// The inferred columns, in order of first appearance (all nullable).
    [[nodiscard]] record_schema result() const {
        std::vector<column> columns;
        columns.reserve(fields_.size());
        for (const auto& f : fields_) columns.push_back({f.name, f.type.value_or(column_type::string), true});
        return record_schema(std::move(columns));
    }

    /// True before any field was seen.
    [[nodiscard]] bool empty() const noexcept { return fields_.empty(); }

private:
    static column_type widen(column_type a, column_type b) noexcept {
        const auto numeric = [](column_type t) { return t == column_type::int64 || t == column_type::float64; };
        if (numeric(a) && numeric(b)) return column_type::float64;
        return column_type::json;
    }
    struct field {
        std::string name;
        std::optional<column_type> type;
    };
    std::vector<field> fields_;
    std::unordered_map<std::string, std::size_t> index_;
};

} // namespace sluice::formats
