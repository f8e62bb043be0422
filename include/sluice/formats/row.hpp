#pragma once

// Records as rows of cells: a JSON object's fields matched to a schema's columns and checked against
// their types (row_converter), and typed rows that callers build themselves (cell).
//
// Conversion checks everything before the writer changes anything: a row comes out complete or not at
// all, with the record_error of the first field at fault.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <sluice/formats/json.hpp>
#include <sluice/formats/object_format.hpp>
#include <sluice/formats/schema.hpp>
#include <sluice/formats/timestamp.hpp>

namespace sluice::formats {

/// One value of a typed row: null (std::monostate), a boolean, an integer, a double or a string.
/// Which alternative a column takes: int64 -> int64_t; float64 -> double or int64_t; boolean -> bool;
/// string -> string_view (UTF-8); json -> string_view holding JSON text; timestamp_* -> int64_t in the
/// column's unit or an RFC 3339 string_view.
using cell = std::variant<std::monostate, bool, std::int64_t, double, std::string_view>;

namespace detail {

/// What inference calls the value `e`.
[[nodiscard]] inline value_kind kind_of(simdjson::dom::element e) noexcept {
    switch (e.type()) {
    case simdjson::dom::element_type::NULL_VALUE: return value_kind::null;
    case simdjson::dom::element_type::INT64: return value_kind::integer;
    case simdjson::dom::element_type::UINT64: // above 2^63-1: only a double holds it
    case simdjson::dom::element_type::DOUBLE: return value_kind::number;
    case simdjson::dom::element_type::BOOL: return value_kind::boolean;
    case simdjson::dom::element_type::STRING: return value_kind::string;
    default: return value_kind::nested;
    }
}

/// Walks the fields of a record object and hands each to `on_field(column_index, value)`, refusing
/// non-objects, duplicate fields and (with unknown_fields::reject) fields that are not columns.
class field_walker {
public:
    field_walker(const record_schema& schema, unknown_fields policy) : schema_(&schema), policy_(policy) {}

    template <class OnField>
    [[nodiscard]] append_result walk(simdjson::dom::element root, OnField&& on_field) {
        simdjson::dom::object object;
        if (root.get_object().get(object) != simdjson::SUCCESS)
            return append_result::refuse(record_error_kind::not_an_object, {},
                                         std::string("the record is ") + std::string(json_type_name(root.type())) +
                                             ", not a JSON object");
        if (seen_.size() != schema_->size()) seen_.assign(schema_->size(), 0);
        if (++generation_ == 0) { // wrapped: forget every mark
            std::fill(seen_.begin(), seen_.end(), 0);
            generation_ = 1;
        }
        // Records usually list their fields in the schema's order: try the column after the last
        // field's before the lookup by name.
        std::size_t next = 0;
        for (const auto field : object) {
            const bool in_order = next < schema_->size() && same_text((*schema_)[next].name, field.key);
            const auto index = in_order ? std::optional<std::size_t>(next) : schema_->find(field.key);
            if (!index) {
                if (policy_ == unknown_fields::ignore) continue;
                return append_result::refuse(record_error_kind::unknown_field, std::string(field.key),
                                             "not a column of this object");
            }
            if (seen_[*index] == generation_)
                return append_result::refuse(record_error_kind::duplicate_field, std::string(field.key),
                                             "appears more than once in the record");
            seen_[*index] = generation_;
            next = *index + 1;
            append_result r = on_field(*index, field.value);
            if (!r) return r;
        }
        return {};
    }

private:
    // Spelled out: std::string == std::string_view goes through an out-of-line compare() here.
    static bool same_text(std::string_view a, std::string_view b) noexcept {
        return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
    }

    const record_schema* schema_;
    unknown_fields policy_;
    std::vector<std::uint32_t> seen_;
    std::uint32_t generation_ = 0;
};

/// Turns records (JSON objects or typed rows) into rows of cells that match a schema. String cells
/// point into the parsed record or into the converter's own buffers: valid until the next conversion.
class row_converter {
public:
    row_converter(const record_schema& schema, unknown_fields policy)
        : schema_(&schema), walker_(schema, policy), json_text_(schema.size()) {}

    /// Converts a parsed JSON object into `row` (one cell per column).
    [[nodiscard]] append_result convert(simdjson::dom::element root, std::vector<cell>& row) {
        row.assign(schema_->size(), cell{});
        append_result r = walker_.walk(root, [&](std::size_t i, simdjson::dom::element v) {
            return from_json(i, v, row[i]);
        });
        if (!r) return r;
        return check_required(row);
    }

    /// Checks a typed row against the schema and normalises it into `row` (float64 columns get doubles,
    /// timestamps their count of units, json columns checked to be JSON text).
    [[nodiscard]] append_result convert(std::span<const cell> in, std::vector<cell>& row) {
        if (in.size() != schema_->size())
            return append_result::refuse(record_error_kind::type_mismatch, {},
                                         "the row has " + std::to_string(in.size()) + " cells for " +
                                             std::to_string(schema_->size()) + " columns");
        row.assign(in.begin(), in.end());
        for (std::size_t i = 0; i < row.size(); ++i) {
            append_result r = normalise(i, row[i]);
            if (!r) return r;
        }
        return check_required(row);
    }

private:
    append_result mismatch(std::size_t i, std::string_view found) const {
        const column& c = (*schema_)[i];
        return append_result::refuse(record_error_kind::type_mismatch, c.name,
                                     "the column is " + std::string(to_string(c.type)) + " and does not take " +
                                         std::string(found));
    }

    append_result from_json(std::size_t i, simdjson::dom::element v, cell& out) {
        const column& c = (*schema_)[i];
        const auto t = v.type();
        using et = simdjson::dom::element_type;
        if (t == et::NULL_VALUE) return {}; // checked by check_required
        switch (c.type) {
        case column_type::int64:
            if (t == et::INT64) {
                out = v.get_int64().value_unsafe();
                return {};
            }
            if (t == et::UINT64)
                return append_result::refuse(record_error_kind::out_of_range, c.name,
                                             "an integer above 2^63-1 does not fit an int64 column");
            return mismatch(i, json_type_name(t));
        case column_type::float64:
            if (t == et::DOUBLE) out = v.get_double().value_unsafe();
            else if (t == et::INT64) out = static_cast<double>(v.get_int64().value_unsafe());
            else if (t == et::UINT64) out = static_cast<double>(v.get_uint64().value_unsafe());
            else return mismatch(i, json_type_name(t));
            return {};
        case column_type::boolean:
            if (t != et::BOOL) return mismatch(i, json_type_name(t));
            out = v.get_bool().value_unsafe();
            return {};
        case column_type::string:
            if (t != et::STRING) return mismatch(i, json_type_name(t));
            out = v.get_string().value_unsafe();
            return {};
        case column_type::json:
            json_text_[i].clear();
            append_json(json_text_[i], v);
            out = std::string_view(json_text_[i]);
            return {};
        case column_type::timestamp_millis:
        case column_type::timestamp_micros:
            if (t == et::INT64) {
                out = v.get_int64().value_unsafe();
                return {};
            }
            if (t != et::STRING) return mismatch(i, json_type_name(t));
            return timestamp_from_text(i, v.get_string().value_unsafe(), out);
        }
        return mismatch(i, json_type_name(t));
    }

    append_result timestamp_from_text(std::size_t i, std::string_view text, cell& out) const {
        const column& c = (*schema_)[i];
        const auto unit = c.type == column_type::timestamp_millis ? time_unit::millis : time_unit::micros;
        const auto value = parse_rfc3339(text, unit);
        if (!value)
            return append_result::refuse(record_error_kind::type_mismatch, c.name,
                                         "not an RFC 3339 date-time with an offset (or it has more fractional "
                                         "digits than the column's unit holds)");
        out = *value;
        return {};
    }

    append_result normalise(std::size_t i, cell& value) {
        const column& c = (*schema_)[i];
        if (std::holds_alternative<std::monostate>(value)) return {};
        const bool is_int = std::holds_alternative<std::int64_t>(value);
        const bool is_text = std::holds_alternative<std::string_view>(value);
        switch (c.type) {
        case column_type::int64:
            return is_int ? append_result{} : mismatch(i, "this cell");
        case column_type::float64:
            if (is_int) value = static_cast<double>(std::get<std::int64_t>(value));
            return std::holds_alternative<double>(value) ? append_result{} : mismatch(i, "this cell");
        case column_type::boolean:
            return std::holds_alternative<bool>(value) ? append_result{} : mismatch(i, "this cell");
        case column_type::string:
            if (!is_text) return mismatch(i, "this cell");
            if (!valid_utf8(std::get<std::string_view>(value)))
                return append_result::refuse(record_error_kind::invalid_utf8, c.name, "the string is not valid UTF-8");
            return {};
        case column_type::json: {
            if (!is_text) return mismatch(i, "this cell");
            simdjson::dom::element parsed;
            append_result r = reader_.parse(std::get<std::string_view>(value), parsed);
            if (!r) return append_result::refuse(r.error().kind, c.name, r.error().message);
            json_text_[i].clear();
            append_json(json_text_[i], parsed);
            value = std::string_view(json_text_[i]);
            return {};
        }
        case column_type::timestamp_millis:
        case column_type::timestamp_micros:
            if (is_int) return {};
            if (!is_text) return mismatch(i, "this cell");
            return timestamp_from_text(i, std::get<std::string_view>(value), value);
        }
        return mismatch(i, "this cell");
    }

    append_result check_required(const std::vector<cell>& row) const {
        for (std::size_t i = 0; i < row.size(); ++i)
            if (!(*schema_)[i].nullable && std::holds_alternative<std::monostate>(row[i]))
                return append_result::refuse(record_error_kind::missing_field, (*schema_)[i].name,
                                             "the column is required (not nullable) and the record has no value for it");
        return {};
    }

    const record_schema* schema_;
    field_walker walker_;
    std::vector<std::string> json_text_;
    json_reader reader_;
};

} // namespace detail
} // namespace sluice::formats
