#pragma once

// SerDes: how message payloads become values and back. A serde has a value_type, a
// `result<value_type> deserialize(std::string_view) const` that reports bad input as an Error (never
// an exception that would stop a source), and a `std::string serialize(const value_type&) const`.
// Errors say what is wrong and where (a byte offset), never the payload itself; the raw message
// travels next to the Error in a record (pulsar/source.hpp).
//
//   bytes_serde   the payload as it is
//   utf8_serde    text; invalid UTF-8 (overlong forms, surrogates, beyond U+10FFFF, truncation) is an Error
//   json_serde    JSON validated and minified by simdjson; serialized compact or pretty (SLUICE_HAS_SIMDJSON)

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <sluice/core/result.hpp>

#if defined(SLUICE_HAS_SIMDJSON) && SLUICE_HAS_SIMDJSON
#include <simdjson.h>
#endif

namespace sluice::pulsar {

/// What a serde provides.
template <class S>
concept serde = requires(const S& s, std::string_view bytes, const typename S::value_type& v) {
    typename S::value_type;
    { s.deserialize(bytes) } -> std::same_as<result<typename S::value_type>>;
    { s.serialize(v) } -> std::convertible_to<std::string>;
};

namespace detail {
inline result<std::string> serde_failure(std::string_view source, std::string message) {
    error e;
    e.source = std::string(source);
    e.message = std::move(message);
    return result<std::string>::failure(std::move(e));
}

/// The offset of the first byte that breaks UTF-8, or npos.
[[nodiscard]] inline std::size_t invalid_utf8_at(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<std::uint8_t>(s[i]);
        if (b < 0x80) {
            ++i;
            continue;
        }
        std::size_t n = 0;
        std::uint32_t cp = 0, min = 0;
        if ((b & 0xe0) == 0xc0) { n = 1; cp = b & 0x1fu; min = 0x80; }
        else if ((b & 0xf0) == 0xe0) { n = 2; cp = b & 0x0fu; min = 0x800; }
        else if ((b & 0xf8) == 0xf0) { n = 3; cp = b & 0x07u; min = 0x10000; }
        else return i;
        if (s.size() - i <= n) return i;
        for (std::size_t k = 1; k <= n; ++k) {
            const auto c = static_cast<std::uint8_t>(s[i + k]);
            if ((c & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (c & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += n + 1;
    }
    return std::string_view::npos;
}
} // namespace detail

/// The payload as it is.
struct bytes_serde {
    /// What messages decode to.
    using value_type = std::string;
    /// The payload's bytes (never fails).
    [[nodiscard]] result<std::string> deserialize(std::string_view b) const { return result<std::string>::ok(std::string(b)); }
    /// The bytes as they are.
    [[nodiscard]] std::string serialize(const std::string& v) const { return v; }
};

/// UTF-8 text, validated.
struct utf8_serde {
    /// What messages decode to.
    using value_type = std::string;
    /// The text, or an Error naming the first invalid byte.
    [[nodiscard]] result<std::string> deserialize(std::string_view b) const {
        const auto at = detail::invalid_utf8_at(b);
        if (at != std::string_view::npos)
            return detail::serde_failure("utf8_serde", "invalid UTF-8 at byte " + std::to_string(at) + " of " + std::to_string(b.size()));
        return result<std::string>::ok(std::string(b));
    }
    /// The bytes as they are.
    [[nodiscard]] std::string serialize(const std::string& v) const { return v; }
};

#if defined(SLUICE_HAS_SIMDJSON) && SLUICE_HAS_SIMDJSON

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

#endif

} // namespace sluice::pulsar
