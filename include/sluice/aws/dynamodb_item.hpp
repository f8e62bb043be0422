#pragma once

// DynamoDB items: JSON documents turned into DynamoDB's AttributeValue JSON with boto3's rules, or
// items already in AttributeValue form checked, both with what the batch layer needs to know: the
// item's size as DynamoDB counts it and a canonical text of its primary key.
//
//   {"id":"a-1","n":12345678901234567890.5,"tags":["x",true,null],"m":{"k":1.50}}
//   -> {"id":{"S":"a-1"},"n":{"N":"12345678901234567890.5"},
//       "tags":{"L":[{"S":"x"},{"BOOL":true},{"NULL":true}]},"m":{"M":{"k":{"N":"1.50"}}}}
//
// boto3's rules (TypeSerializer): string -> S, number -> N, boolean -> BOOL, null -> NULL, array -> L,
// object -> M. Numbers keep their original decimal text, never through a double (simdjson On Demand
// hands over the raw token); DynamoDB's own limits are checked: at most 38 significant digits,
// magnitudes from 1e-130 to below 1e126. JSON has no sets and no binary: a top-level attribute is
// read as a string set, number set, binary (base64 text) or binary set only when a hint names it.
//
// Sizes follow DynamoDB's published rules, counted conservatively where they are approximate (one
// byte per list or map element, numbers as dynalite counts them), so an item refused here for size
// would be at DynamoDB's limit of 400 KB anyway. Error messages name attributes, never values.

#if !SLUICE_HAS_SIMDJSON
#error "sluice/aws/dynamodb_item.hpp needs simdjson (SLUICE_HAS_SIMDJSON)"
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include <sluice/text/base64.hpp>
#include <sluice/text/decimal.hpp>
#include <sluice/text/json_escape.hpp>

namespace sluice::aws {

/// How a top-level attribute of a JSON item is typed where JSON cannot say.
enum class attribute_hint : unsigned char {
    string_set, ///< an array of distinct strings -> SS
    number_set, ///< an array of distinct numbers -> NS
    binary,     ///< a base64 string -> B
    binary_set, ///< an array of distinct base64 strings -> BS
};

/// A hint for one top-level attribute.
struct attribute_type_hint {
    /// The attribute's name.
    std::string name;
    /// Its type.
    attribute_hint hint;
};

/// A key attribute's type, when the caller states it (DynamoDB refuses a request whose key has
/// another type than the table's schema, and refuses it whole).
enum class key_type : unsigned char { any, string, number, binary };

/// A table's primary key: the partition key, and the sort key when the table has one.
struct dynamodb_key_schema {
    /// The partition key attribute's name.
    std::string partition_key{};
    /// Its type, when known.
    key_type partition_type = key_type::any;
    /// The sort key attribute's name; empty when the table has none.
    std::string sort_key{};
    /// Its type, when known.
    key_type sort_type = key_type::any;
};

/// How items are read.
struct dynamodb_item_options {
    /// Types JSON cannot express (sets, binary), by top-level attribute.
    std::vector<attribute_type_hint> hints{};
    /// DynamoDB's item size limit (400 KB).
    std::size_t max_item_bytes = 400 * 1024;
};

/// An item (or a key) in AttributeValue JSON, with its size and its primary key's canonical text.
struct dynamodb_item {
    /// The item as a DynamoDB AttributeValue map, in JSON.
    std::string attribute_values{};
    /// Its size as DynamoDB counts it (names and values), against the 400 KB limit.
    std::size_t size = 0;
    /// One text per primary key value ("1.50" and "1.5" give the same): what duplicates are found by.
    std::string key{};
};

} // namespace sluice::aws

namespace sluice::detail::dynamodb {

/// Nested attributes DynamoDB accepts (lists and maps inside the item).
inline constexpr int max_depth = 32;

/// DynamoDB's number limits: at most 38 significant digits, 1e-130 <= |n| < 1e126.
inline std::string check_number(const text::decimal_shape& d) {
    if (d.significant_digits > 38)
        return "a number with " + std::to_string(d.significant_digits) + " significant digits; DynamoDB keeps at most 38";
    if (!d.is_zero() && (d.exponent > 126 || d.exponent < -129))
        return "a number outside DynamoDB's range (1e-130 to 9.99...e125 in magnitude)";
    return {};
}

/// A number's size as dynalite counts it (at least DynamoDB's "1 byte per two digits, plus 1").
inline std::size_t number_size(const text::decimal_shape& d) noexcept {
    if (d.is_zero()) return 1;
    const std::size_t n = d.significant_digits;
    const std::int64_t e = d.exponent - 1; // the first digit's power of ten
    return 1 + (n + 1) / 2 + ((n % 2 != 0 || e % 2 != 0) ? 0 : 1) + (d.negative ? 1 : 0);
}

inline void append_key_part(std::string& key, char type, std::string_view value) {
    if (!key.empty()) key += '|';
    key += type;
    key += std::to_string(value.size());
    key += ':';
    key += value;
}

/// Where an error is: "a.b[3]", built on the way out of the recursion.
inline std::string path_of(std::string_view name, const std::string& inner) {
    std::string p(name);
    if (!inner.empty() && inner.front() != '[') p += '.';
    p += inner;
    return p;
}

} // namespace sluice::detail::dynamodb

namespace sluice::aws {

/// Reads items; keeps simdjson's buffers between items. Not thread-safe.
class dynamodb_item_reader {
public:
    /// Turns the JSON object `json` into AttributeValue JSON (boto3's rules). With `key_only`, the
    /// object must hold exactly the key attributes (a DeleteRequest's Key). Returns why not, or "".
    [[nodiscard]] std::string from_json(std::string_view json, const dynamodb_key_schema& schema, bool key_only,
                                        const dynamodb_item_options& options, dynamodb_item& out) {
        return read(json, schema, key_only, options, false, out);
    }

    /// Checks an item already in AttributeValue JSON ({"id":{"S":"a"},...}) and writes it compactly.
    [[nodiscard]] std::string from_attribute_values(std::string_view json, const dynamodb_key_schema& schema, bool key_only,
                                                    const dynamodb_item_options& options, dynamodb_item& out) {
        return read(json, schema, key_only, options, true, out);
    }

private:
    using value = simdjson::ondemand::value;
    using json_type = simdjson::ondemand::json_type;

    struct run_state {
        const dynamodb_key_schema* schema;
        const dynamodb_item_options* options;
        bool typed; // the input is AttributeValue JSON
        std::string* out;
        std::string error{};
        std::string where{}; // the path of the error, innermost last
        /// The last string, number token or base64 text read (what a key attribute's value is).
        std::string_view last_scalar{};
    };

    std::string read(std::string_view json, const dynamodb_key_schema& schema, bool key_only,
                     const dynamodb_item_options& options, bool typed, dynamodb_item& out) {
        out.attribute_values.clear(); // keeps its capacity for the next item
        out.size = 0;
        out.key.clear();
        names_.clear();
        padded_.assign(json.data(), json.size());
        padded_.append(simdjson::SIMDJSON_PADDING, '\0');
        simdjson::ondemand::document doc;
        if (parser_.iterate(padded_.data(), json.size(), padded_.size()).get(doc) != simdjson::SUCCESS)
            return "item is not valid JSON (or not valid UTF-8)";
        simdjson::ondemand::object root;
        if (doc.get_object().get(root) != simdjson::SUCCESS) return "item is not a JSON object (or not valid JSON)";
        if (out.attribute_values.capacity() < json.size() * 2 + 16) out.attribute_values.reserve(json.size() * 2 + 16);
        run_state st{&schema, &options, typed, &out.attribute_values};
        for (auto& part : key_parts_) part.clear();
        std::size_t attributes = 0;
        if (!top_level(root, st, key_parts_, attributes, out.size)) {
            return st.where.empty() ? st.error : "attribute '" + st.where + "': " + st.error;
        }
        const char* rest = nullptr;
        if (doc.current_location().get(rest) == simdjson::SUCCESS) return "item is not valid JSON (content after the object)";
        if (key_parts_[0].empty()) return "item has no partition key attribute '" + schema.partition_key + "'";
        if (!schema.sort_key.empty() && key_parts_[1].empty()) return "item has no sort key attribute '" + schema.sort_key + "'";
        const std::size_t key_count = schema.sort_key.empty() ? 1 : 2;
        if (key_only && attributes != key_count) return "a key holds only the table's key attributes";
        if (out.size > options.max_item_bytes)
            return "item is " + std::to_string(out.size) + " bytes as DynamoDB counts them; its limit is " +
                   std::to_string(options.max_item_bytes);
        out.key = key_parts_[0];
        if (key_count == 2) {
            out.key += '|';
            out.key += key_parts_[1];
        }
        return {};
    }

    bool top_level(simdjson::ondemand::object& root, run_state& st, std::string (&key_parts)[2],
                   std::size_t& attributes, std::size_t& size) {
        std::string& out = *st.out;
        out += '{';
        const std::size_t names_mark = names_.size();
        for (auto field : root) {
            std::string_view name;
            value v;
            if (field.unescaped_key().get(name) != simdjson::SUCCESS || field.value().get(v) != simdjson::SUCCESS)
                return fail(st, "item is not valid JSON");
            if (name.empty()) return fail(st, "an attribute name is empty");
            names_.push_back(name);
            if (attributes++ != 0) out += ',';
            out += '"';
            text::append_json_escaped(out, name);
            out += std::string_view("\":");
            const int key_index = name == st.schema->partition_key ? 0 : (!st.schema->sort_key.empty() && name == st.schema->sort_key) ? 1 : -1;
            const std::size_t value_start = out.size();
            std::size_t vsize = 0;
            if (!attribute(v, st, hint_for(*st.options, name), 1, vsize)) return in(st, name);
            size += name.size() + vsize;
            if (key_index >= 0 && !key_part(st, std::string_view(out).substr(value_start), key_index, key_parts))
                return in(st, name);
        }
        out += '}';
        return unique(st, names_mark, "attribute");
    }

    // One attribute value, at `depth`: AttributeValue JSON in, or plain JSON with an optional hint.
    bool attribute(value v, run_state& st, std::optional<attribute_hint> hint, int depth, std::size_t& size) {
        if (depth > sluice::detail::dynamodb::max_depth) return fail(st, "nested deeper than DynamoDB's 32 levels");
        if (st.typed) return typed_value(v, st, depth, size);
        if (hint) return hinted(v, st, *hint, size);
        json_type t;
        if (v.type().get(t) != simdjson::SUCCESS) return fail(st, "not valid JSON");
        std::string& out = *st.out;
        switch (t) {
        case json_type::object: {
            simdjson::ondemand::object o;
            if (v.get_object().get(o) != simdjson::SUCCESS) return fail(st, "not valid JSON");
            out += std::string_view("{\"M\":");
            if (!map(o, st, depth, size)) return false;
            out += '}';
            return true;
        }
        case json_type::array: {
            simdjson::ondemand::array a;
            if (v.get_array().get(a) != simdjson::SUCCESS) return fail(st, "not valid JSON");
            out += std::string_view("{\"L\":");
            if (!list(a, st, depth, size)) return false;
            out += '}';
            return true;
        }
        case json_type::number: return number(v.raw_json_token(), st, text::decimal_grammar::json, "{\"N\":\"", size);
        case json_type::string: return string(v, st, "{\"S\":\"", size);
        case json_type::boolean: {
            bool b = false;
            if (v.get_bool().get(b) != simdjson::SUCCESS) return fail(st, "not valid JSON");
            out += b ? std::string_view("{\"BOOL\":true}") : std::string_view("{\"BOOL\":false}");
            size += 1;
            return true;
        }
        case json_type::null: return null_value(v, st, size);
        }
        return fail(st, "not valid JSON");
    }

    bool map(simdjson::ondemand::object& o, run_state& st, int depth, std::size_t& size) {
        std::string& out = *st.out;
        const std::size_t names_mark = names_.size();
        out += '{';
        size += 3;
        bool first = true;
        for (auto field : o) {
            std::string_view name;
            value v;
            if (field.unescaped_key().get(name) != simdjson::SUCCESS || field.value().get(v) != simdjson::SUCCESS)
                return fail(st, "not valid JSON");
            names_.push_back(name);
            if (!first) out += ',';
            first = false;
            out += '"';
            text::append_json_escaped(out, name);
            out += std::string_view("\":");
            std::size_t vsize = 0;
            if (!attribute(v, st, std::nullopt, depth + 1, vsize)) return in(st, name);
            size += 1 + name.size() + vsize;
        }
        out += '}';
        return unique(st, names_mark, "map key");
    }

    bool list(simdjson::ondemand::array& a, run_state& st, int depth, std::size_t& size) {
        std::string& out = *st.out;
        out += '[';
        size += 3;
        std::size_t i = 0;
        for (auto element : a) {
            value v;
            if (element.get(v) != simdjson::SUCCESS) return fail(st, "not valid JSON");
            if (i != 0) out += ',';
            std::size_t vsize = 0;
            if (!attribute(v, st, std::nullopt, depth + 1, vsize)) return in(st, "[" + std::to_string(i) + "]");
            size += 1 + vsize;
            ++i;
        }
        out += ']';
        return true;
    }

    // {"S":..} {"N":..} {"B":..} {"SS":[..]} {"NS":[..]} {"BS":[..]} {"M":{..}} {"L":[..]} {"NULL":true} {"BOOL":b}
    bool typed_value(value v, run_state& st, int depth, std::size_t& size) {
        simdjson::ondemand::object o;
        if (v.get_object().get(o) != simdjson::SUCCESS) return fail(st, "an AttributeValue is an object such as {\"S\":\"text\"}");
        std::size_t members = 0;
        for (auto field : o) {
            std::string_view type;
            value inner;
            if (field.unescaped_key().get(type) != simdjson::SUCCESS || field.value().get(inner) != simdjson::SUCCESS)
                return fail(st, "not valid JSON");
            if (members++ != 0) return fail(st, "an AttributeValue has exactly one type member");
            if (!typed_member(type, inner, st, depth, size)) return false;
        }
        if (members == 0) return fail(st, "an AttributeValue has exactly one type member");
        return true;
    }

    bool typed_member(std::string_view type, value inner, run_state& st, int depth, std::size_t& size) {
        std::string& out = *st.out;
        if (type == "S") return string(inner, st, "{\"S\":\"", size);
        if (type == "N") return number_string(inner, st, size);
        if (type == "B") return binary(inner, st, "{\"B\":\"", size);
        if (type == "SS") return set(inner, st, attribute_hint::string_set, size);
        if (type == "NS") return set(inner, st, attribute_hint::number_set, size);
        if (type == "BS") return set(inner, st, attribute_hint::binary_set, size);
        if (type == "NULL") return null_true(inner, st, size);
        if (type == "BOOL") {
            bool b = false;
            if (inner.get_bool().get(b) != simdjson::SUCCESS) return fail(st, "BOOL takes true or false");
            out += b ? std::string_view("{\"BOOL\":true}") : std::string_view("{\"BOOL\":false}");
            size += 1;
            return true;
        }
        if (type == "M" || type == "L") {
            simdjson::ondemand::object o;
            simdjson::ondemand::array a;
            const bool is_map = type == "M";
            if (is_map ? inner.get_object().get(o) != simdjson::SUCCESS : inner.get_array().get(a) != simdjson::SUCCESS)
                return fail(st, is_map ? "M takes an object" : "L takes an array");
            out += is_map ? std::string_view("{\"M\":") : std::string_view("{\"L\":");
            if (!(is_map ? map(o, st, depth, size) : list(a, st, depth, size))) return false;
            out += '}';
            return true;
        }
        return fail(st, "unknown AttributeValue type '" + std::string(type.substr(0, 16)) + "'");
    }

    bool hinted(value v, run_state& st, attribute_hint hint, std::size_t& size) {
        if (hint == attribute_hint::binary) return binary(v, st, "{\"B\":\"", size);
        return set(v, st, hint, size);
    }

    // SS / NS / BS: a non-empty array of distinct members (numbers compared by value, binary by bytes).
    bool set(value v, run_state& st, attribute_hint kind, std::size_t& size) {
        simdjson::ondemand::array a;
        if (v.get_array().get(a) != simdjson::SUCCESS) return fail(st, "a set is an array");
        std::string& out = *st.out;
        out += kind == attribute_hint::string_set ? "{\"SS\":[" : kind == attribute_hint::number_set ? "{\"NS\":[" : "{\"BS\":[";
        std::vector<std::string> seen;
        std::size_t i = 0;
        for (auto element : a) {
            value m;
            if (element.get(m) != simdjson::SUCCESS) return fail(st, "not valid JSON");
            if (i != 0) out += ',';
            const std::size_t start = out.size();
            bool ok = false;
            if (kind == attribute_hint::string_set) {
                ok = string(m, st, "\"", size, false);
            } else if (kind == attribute_hint::binary_set) {
                ok = binary(m, st, "\"", size, false);
            } else {
                json_type t = json_type::null;
                ok = m.type().get(t) == simdjson::SUCCESS &&
                     (t == json_type::number ? number(m.raw_json_token(), st, text::decimal_grammar::json, "\"", size, false)
                                             : number_string(m, st, size, false));
            }
            if (!ok) return in(st, "[" + std::to_string(i) + "]");
            seen.push_back(member_identity(kind, std::string_view(out).substr(start)));
            ++i;
        }
        if (i == 0) return fail(st, "a set cannot be empty");
        std::sort(seen.begin(), seen.end());
        if (std::adjacent_find(seen.begin(), seen.end()) != seen.end()) return fail(st, "a set holds the same member twice");
        out += std::string_view("]}");
        return true;
    }

    bool string(value v, run_state& st, std::string_view open, std::size_t& size, bool close = true) {
        std::string_view s;
        if (v.get_string().get(s) != simdjson::SUCCESS) return fail(st, st.typed ? "S takes a string" : "not valid JSON");
        std::string& out = *st.out;
        st.last_scalar = s;
        out += open;
        text::append_json_escaped(out, s);
        out += close ? std::string_view("\"}") : std::string_view("\"");
        size += s.size();
        return true;
    }

    bool binary(value v, run_state& st, std::string_view open, std::size_t& size, bool close = true) {
        std::string_view s;
        if (v.get_string().get(s) != simdjson::SUCCESS) return fail(st, "binary is a base64 string");
        const auto bytes = text::decode_base64(s);
        if (!bytes) return fail(st, "binary is not valid base64");
        std::string& out = *st.out;
        st.last_scalar = s;
        out += open;
        out += s; // base64 needs no escaping
        out += close ? std::string_view("\"}") : std::string_view("\"");
        size += bytes->size();
        return true;
    }

    // A number from its text: JSON's grammar for raw JSON numbers, DynamoDB's for N strings.
    bool number(std::string_view token, run_state& st, text::decimal_grammar grammar, std::string_view open,
                std::size_t& size, bool close = true) {
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t' || token.back() == '\n' || token.back() == '\r'))
            token.remove_suffix(1);
        const auto d = text::inspect_decimal(token, grammar);
        if (!d) return fail(st, "not a valid number");
        if (std::string why = sluice::detail::dynamodb::check_number(*d); !why.empty()) return fail(st, std::move(why));
        std::string& out = *st.out;
        st.last_scalar = token;
        out += open;
        out += token;
        out += close ? std::string_view("\"}") : std::string_view("\"");
        size += sluice::detail::dynamodb::number_size(*d);
        return true;
    }

    bool number_string(value v, run_state& st, std::size_t& size, bool close = true) {
        std::string_view s;
        if (v.get_string().get(s) != simdjson::SUCCESS) return fail(st, "N takes a number as a string");
        return number(s, st, text::decimal_grammar::lenient, close ? "{\"N\":\"" : "\"", size, close);
    }

    bool null_value(value v, run_state& st, std::size_t& size) {
        bool is_null = false;
        if (v.is_null().get(is_null) != simdjson::SUCCESS || !is_null) return fail(st, "not valid JSON");
        *st.out += std::string_view("{\"NULL\":true}");
        size += 1;
        return true;
    }

    bool null_true(value v, run_state& st, std::size_t& size) {
        bool b = false;
        if (v.get_bool().get(b) != simdjson::SUCCESS || !b) return fail(st, "NULL takes true");
        *st.out += std::string_view("{\"NULL\":true}");
        size += 1;
        return true;
    }

    // The canonical text of a key attribute's AttributeValue just written (`written`; its value is
    // st.last_scalar).
    bool key_part(run_state& st, std::string_view written, int index, std::string (&parts)[2]) {
        const key_type want = index == 0 ? st.schema->partition_type : st.schema->sort_type;
        const std::size_t limit = index == 0 ? 2048 : 1024;
        std::string& part = parts[static_cast<std::size_t>(index)];
        const char found = written.starts_with("{\"S\":\"") ? 'S' : written.starts_with("{\"N\":\"") ? 'N' : written.starts_with("{\"B\":\"") ? 'B' : '?';
        const char wanted = want == key_type::string ? 'S' : want == key_type::number ? 'N' : want == key_type::binary ? 'B' : found;
        if (found != '?' && found != wanted)
            return fail(st, std::string("the key attribute is ") + found + "; the table's key type is " + wanted);
        if (found == 'S') {
            if (st.last_scalar.empty() || st.last_scalar.size() > limit)
                return fail(st, "a string key is 1 to " + std::to_string(limit) + " bytes");
            sluice::detail::dynamodb::append_key_part(part, 'S', st.last_scalar);
        } else if (found == 'N') {
            sluice::detail::dynamodb::append_key_part(part, 'N', text::parse_decimal(st.last_scalar, text::decimal_grammar::lenient)->canonical());
        } else if (found == 'B') {
            const auto bytes = text::decode_base64(st.last_scalar);
            if (!bytes || bytes->empty() || bytes->size() > limit) return fail(st, "a binary key is 1 to " + std::to_string(limit) + " bytes");
            sluice::detail::dynamodb::append_key_part(part, 'B', *bytes);
        } else {
            return fail(st, "a key attribute is a string, a number or binary");
        }
        return true;
    }

    // Set members are compared by what they mean: numbers by value, binary by bytes.
    static std::string member_identity(attribute_hint kind, std::string_view written) {
        const std::string_view inner = written.substr(1, written.size() - 2);
        if (kind == attribute_hint::number_set) return text::parse_decimal(inner, text::decimal_grammar::lenient)->canonical();
        if (kind == attribute_hint::binary_set) return text::decode_base64(inner).value_or(std::string(inner));
        return std::string(inner);
    }

    // Names of one object (those pushed since `mark`) must differ: DynamoDB would take only one of
    // them, or refuse the request. One stack of names serves every nesting level.
    bool unique(run_state& st, std::size_t mark, std::string_view what) {
        const auto begin = names_.begin() + static_cast<std::ptrdiff_t>(mark);
        std::sort(begin, names_.end());
        const auto twice = std::adjacent_find(begin, names_.end());
        if (twice != names_.end()) return fail(st, std::string(what) + " '" + std::string(*twice) + "' appears twice");
        names_.resize(mark);
        return true;
    }

    static std::optional<attribute_hint> hint_for(const dynamodb_item_options& o, std::string_view name) {
        for (const auto& h : o.hints)
            if (h.name == name) return h.hint;
        return std::nullopt;
    }

    static bool fail(run_state& st, std::string why) {
        if (st.error.empty()) st.error = std::move(why);
        return false;
    }

    static bool in(run_state& st, std::string_view name) {
        st.where = sluice::detail::dynamodb::path_of(name, st.where);
        return false;
    }

    simdjson::ondemand::parser parser_;
    std::string padded_;
    std::vector<std::string_view> names_; // the names of the objects being read, innermost last
    std::string key_parts_[2];            // the partition and sort key's canonical text
};

} // namespace sluice::aws
