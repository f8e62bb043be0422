#pragma once

// The JSON side of the object writers: parsing a record with simdjson (which validates the whole
// document, UTF-8 included, before the writer looks at it), the record_error for what simdjson
// refuses, and compact JSON text of values (numbers in their shortest round-trip form).

#if !defined(SLUICE_HAS_SIMDJSON) || !SLUICE_HAS_SIMDJSON
#error "sluice/formats needs simdjson (SLUICE_HAS_SIMDJSON): install libsimdjson-dev"
#endif

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include <simdjson.h>

#include <sluice/formats/object_format.hpp>
#include <sluice/text/json_escape.hpp>

namespace sluice::formats::detail {

/// The record_error for a document simdjson refused. simdjson's messages never quote the input.
[[nodiscard]] inline record_error json_error(simdjson::error_code code) {
    switch (code) {
    case simdjson::UTF8_ERROR:
        return {record_error_kind::invalid_utf8, {}, "the record is not valid UTF-8"};
    case simdjson::NUMBER_OUT_OF_RANGE:
        return {record_error_kind::out_of_range, {}, "the record holds a number that does not fit in 64 bits"};
    case simdjson::CAPACITY:
        return {record_error_kind::invalid_json, {}, "the record is larger than the JSON parser takes (4 GiB)"};
    default:
        return {record_error_kind::invalid_json, {}, std::string("not valid JSON: ") + simdjson::error_message(code)};
    }
}

/// Parses records one at a time; keeps simdjson's buffers between records (one per writer).
class json_reader {
public:
    /// Parses `text` into `root` (valid until the next parse), or says why it is not JSON.
    [[nodiscard]] append_result parse(std::string_view text, simdjson::dom::element& root) {
        const simdjson::error_code code = parser_.parse(text.data(), text.size()).get(root);
        if (code != simdjson::SUCCESS) return json_error(code);
        return {};
    }

private:
    simdjson::dom::parser parser_;
};

/// "a string", "an object", ... for messages.
[[nodiscard]] inline std::string_view json_type_name(simdjson::dom::element_type t) noexcept {
    switch (t) {
    case simdjson::dom::element_type::ARRAY: return "an array";
    case simdjson::dom::element_type::OBJECT: return "an object";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64: return "an integer";
    case simdjson::dom::element_type::DOUBLE: return "a non-integer number";
    case simdjson::dom::element_type::STRING: return "a string";
    case simdjson::dom::element_type::BOOL: return "a boolean";
    case simdjson::dom::element_type::NULL_VALUE: return "null";
    }
    return "a value";
}

/// Appends the decimal text of an integer.
template <class Int>
void append_integer(std::string& out, Int v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

/// Appends the shortest text that reads back as exactly `v` (e.g. 0.1, 1e+300, -2.5e-10).
inline void append_double(std::string& out, double v) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

inline void append_json(std::string& out, simdjson::dom::element e); // defined below; nested values recurse

/// A double inside an array or object: as append_double, with ".0" when that reads as an integer
/// ("1" -> "1.0"), so that readers of the JSON text still see a floating-point number (as simdjson's
/// own serializer writes it).
inline void append_nested_double(std::string& out, double v) {
    const std::size_t start = out.size();
    append_double(out, v);
    if (out.find_first_of(".e", start) == std::string::npos) out.append(".0");
}

/// An element inside an array or object.
inline void append_nested_json(std::string& out, simdjson::dom::element e) {
    if (e.type() == simdjson::dom::element_type::DOUBLE)
        append_nested_double(out, e.get_double().value_unsafe());
    else
        append_json(out, e);
}

/// Appends compact JSON text of `e` (no whitespace outside strings), written in place: no string is
/// built per value (simdjson::minify returns one). A double at the top is written as append_double
/// does (1.0 -> "1"), one inside an array or object as append_nested_double (1.0 -> "1.0").
inline void append_json(std::string& out, simdjson::dom::element e) {
    switch (e.type()) {
    case simdjson::dom::element_type::INT64: append_integer(out, e.get_int64().value_unsafe()); return;
    case simdjson::dom::element_type::UINT64: append_integer(out, e.get_uint64().value_unsafe()); return;
    case simdjson::dom::element_type::DOUBLE: append_double(out, e.get_double().value_unsafe()); return;
    case simdjson::dom::element_type::BOOL: out.append(e.get_bool().value_unsafe() ? "true" : "false"); return;
    case simdjson::dom::element_type::NULL_VALUE: out.append("null"); return;
    case simdjson::dom::element_type::STRING:
        sluice::text::append_json_string(out, e.get_string().value_unsafe());
        return;
    case simdjson::dom::element_type::ARRAY: {
        out.push_back('[');
        bool first = true;
        // Named: value_unsafe() refers into the simdjson_result, which a range-for would not keep.
        const simdjson::dom::array items = e.get_array().value_unsafe();
        for (const simdjson::dom::element item : items) {
            if (!first) out.push_back(',');
            first = false;
            append_nested_json(out, item);
        }
        out.push_back(']');
        return;
    }
    case simdjson::dom::element_type::OBJECT: {
        out.push_back('{');
        bool first = true;
        const simdjson::dom::object fields = e.get_object().value_unsafe();
        for (const auto field : fields) {
            if (!first) out.push_back(',');
            first = false;
            sluice::text::append_json_string(out, field.key);
            out.push_back(':');
            append_nested_json(out, field.value);
        }
        out.push_back('}');
        return;
    }
    }
}

/// True when `text` is valid UTF-8 (for typed rows, which do not pass through the JSON parser).
[[nodiscard]] inline bool valid_utf8(std::string_view text) noexcept {
    return simdjson::validate_utf8(text.data(), text.size());
}

} // namespace sluice::formats::detail
