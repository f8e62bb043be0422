#pragma once

// json_serde: Pulsar message payloads as JSON documents, validated and minified by simdjson (see
// serdes.hpp for what a serde is). A header of its own so that the other serdes and run_source() do not
// pull simdjson into every file that consumes a topic. Needs SLUICE_HAS_SIMDJSON.

#include <cstddef>
#include <string>
#include <string_view>

#include <simdjson.h>

#include <sluice/core/result.hpp>
#include <sluice/pulsar/serdes.hpp>

namespace sluice::pulsar {

/// A JSON document, held as validated, minified text (parse it with simdjson to read fields).
struct json_value {
    /// The minified JSON text.
    std::string text;
    /// Equal when the texts are.
    bool operator==(const json_value&) const = default;
};

/// JSON: deserialize validates and minifies; serialize writes compact text, or pretty text
/// (two-space indentation) when `pretty`.
class json_serde {
public:
    /// What messages decode to.
    using value_type = json_value;
    /// Serializes compactly, or indented when `pretty`.
    explicit json_serde(bool pretty = false) : pretty_(pretty) {}
    /// Copies get their own parser (a parser holds buffers for one document at a time).
    json_serde(const json_serde& o) : pretty_(o.pretty_) {}
    /// Takes `o`'s setting, keeps its own parser.
    json_serde& operator=(const json_serde& o) {
        pretty_ = o.pretty_;
        return *this;
    }

    /// The document minified, or an Error saying why it is not JSON.
    [[nodiscard]] result<json_value> deserialize(std::string_view b) const {
        simdjson::dom::element doc;
        const auto err = parser_.parse(b.data(), b.size()).get(doc);
        if (err != simdjson::SUCCESS) {
            error e;
            e.source = "json_serde";
            e.message = std::string("invalid JSON: ") + simdjson::error_message(err);
            return result<json_value>::failure(std::move(e));
        }
        return result<json_value>::ok(json_value{simdjson::minify(doc)});
    }

    /// The document's text, indented when the serde is `pretty`.
    [[nodiscard]] std::string serialize(const json_value& v) const {
        if (!pretty_) return v.text;
        simdjson::dom::element doc;
        if (parser_.parse(v.text).get(doc) != simdjson::SUCCESS) return v.text;
        std::string out;
        pretty(out, doc, 0);
        return out;
    }

private:
    static void pretty(std::string& out, simdjson::dom::element e, int depth) {
        const auto indent = [&out](int d) { out.append(static_cast<std::size_t>(d) * 2, ' '); };
        if (e.is_array()) {
            simdjson::dom::array a = e.get_array();
            if (a.size() == 0) return void(out += "[]");
            out += "[\n";
            bool first = true;
            for (auto x : a) {
                if (!first) out += ",\n";
                first = false;
                indent(depth + 1);
                pretty(out, x, depth + 1);
            }
            out += '\n';
            indent(depth);
            out += ']';
        } else if (e.is_object()) {
            simdjson::dom::object o = e.get_object();
            if (o.size() == 0) return void(out += "{}");
            out += "{\n";
            bool first = true;
            for (auto [k, x] : o) {
                if (!first) out += ",\n";
                first = false;
                indent(depth + 1);
                quote(out, k);
                out += ": ";
                pretty(out, x, depth + 1);
            }
            out += '\n';
            indent(depth);
            out += '}';
        } else {
            out += simdjson::minify(e);
        }
    }

    /// Appends `s` as a JSON string (keys arrive unescaped from the parser).
    static void quote(std::string& out, std::string_view s) {
        static constexpr char hex[] = "0123456789abcdef";
        out += '"';
        for (char c : s) {
            const auto u = static_cast<unsigned char>(c);
            if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
            } else if (u < 0x20) {
                out += "\\u00";
                out += hex[u >> 4];
                out += hex[u & 15];
            } else {
                out += c;
            }
        }
        out += '"';
    }

    bool pretty_;
    mutable simdjson::dom::parser parser_{};
};

} // namespace sluice::pulsar
