#pragma once

// The readers under aws/error.hpp's error-body parsing: a small JSON member walker (error bodies are
// flat objects; it never builds a document and stops safely at any depth) and XML element text with
// entity unescaping (query protocol and S3 errors, also read by the credential sources and S3).

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace sluice::detail::aws_error {

/// Appends code point `cp` as UTF-8 (cp already known to be a valid scalar value).
inline void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

/// A lenient reader of the top-level members of a JSON object: error bodies are small and only a few
/// string members matter, so this skips everything else without building a document. Any syntax error
/// stops it (what was read so far is kept).
class json_reader {
public:
    explicit json_reader(std::string_view text) noexcept : s_(text) {}

    /// Calls on_member(name, value) for every top-level member whose value is a string. False on
    /// malformed input (members seen before the error have been reported).
    template <class F>
    bool for_each_string_member(F&& on_member) {
        skip_ws();
        if (!consume('{')) return false;
        skip_ws();
        if (consume('}')) return true;
        std::string name, value;
        for (;;) {
            skip_ws();
            if (!read_string(&name)) return false;
            skip_ws();
            if (!consume(':')) return false;
            skip_ws();
            if (peek() == '"') {
                if (!read_string(&value)) return false;
                on_member(std::string_view(name), std::string_view(value));
            } else if (!skip_value(0)) {
                return false;
            }
            skip_ws();
            if (consume(',')) continue;
            return consume('}');
        }
    }

private:
    static constexpr int max_depth = 64;

    char peek() const noexcept { return i_ < s_.size() ? s_[i_] : '\0'; }
    bool consume(char c) noexcept {
        if (i_ < s_.size() && s_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }
    void skip_ws() noexcept {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
    }

    bool read_hex4(std::uint32_t& v) noexcept {
        if (s_.size() - i_ < 4) return false;
        v = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = s_[i_++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
            else return false;
        }
        return true;
    }

    /// Reads a string at the cursor, decoded into *out (or only skipped when out is null).
    bool read_string(std::string* out) {
        if (!consume('"')) return false;
        if (out) out->clear();
        for (;;) {
            const std::size_t run = i_;
            while (i_ < s_.size() && s_[i_] != '"' && s_[i_] != '\\') ++i_;
            if (out) out->append(s_.data() + run, i_ - run);
            if (i_ >= s_.size()) return false;
            if (s_[i_++] == '"') return true;
            if (i_ >= s_.size()) return false;
            const char e = s_[i_++];
            char decoded = 0;
            switch (e) {
            case '"': decoded = '"'; break;
            case '\\': decoded = '\\'; break;
            case '/': decoded = '/'; break;
            case 'b': decoded = '\b'; break;
            case 'f': decoded = '\f'; break;
            case 'n': decoded = '\n'; break;
            case 'r': decoded = '\r'; break;
            case 't': decoded = '\t'; break;
            case 'u': {
                std::uint32_t cp = 0;
                if (!read_hex4(cp)) return false;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    std::uint32_t low = 0;
                    if (!(consume('\\') && consume('u') && read_hex4(low)) || low < 0xDC00 || low > 0xDFFF) return false;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return false;
                }
                if (out) append_utf8(*out, cp);
                continue;
            }
            default: return false;
            }
            if (out) *out += decoded;
        }
    }

    bool skip_value(int depth) {
        if (depth > max_depth) return false;
        skip_ws();
        const char c = peek();
        if (c == '"') return read_string(nullptr);
        if (c == '{' || c == '[') {
            const char close = c == '{' ? '}' : ']';
            ++i_;
            skip_ws();
            if (consume(close)) return true;
            for (;;) {
                if (c == '{') {
                    skip_ws();
                    if (!read_string(nullptr)) return false;
                    skip_ws();
                    if (!consume(':')) return false;
                }
                if (!skip_value(depth + 1)) return false;
                skip_ws();
                if (consume(',')) continue;
                return consume(close);
            }
        }
        // A number, true, false or null: the run of characters that may belong to one.
        const std::size_t start = i_;
        while (i_ < s_.size()) {
            const char d = s_[i_];
            if ((d >= '0' && d <= '9') || (d >= 'a' && d <= 'z') || d == '-' || d == '+' || d == '.' || d == 'E') ++i_;
            else break;
        }
        return i_ > start;
    }

    std::string_view s_;
    std::size_t i_ = 0;
};

/// Decodes the XML character and entity references of element text (&lt; &gt; &amp; &quot; &apos;
/// &#N; &#xN;); an unknown or malformed reference is kept as it is.
inline std::string xml_unescape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t amp = text.find('&', i);
        if (amp == std::string_view::npos) {
            out.append(text.substr(i));
            break;
        }
        out.append(text.substr(i, amp - i));
        const std::size_t semi = text.find(';', amp);
        if (semi == std::string_view::npos || semi - amp > 10) {
            out += '&';
            i = amp + 1;
            continue;
        }
        const std::string_view ref = text.substr(amp + 1, semi - amp - 1);
        bool known = true;
        if (ref == "lt") out += '<';
        else if (ref == "gt") out += '>';
        else if (ref == "amp") out += '&';
        else if (ref == "quot") out += '"';
        else if (ref == "apos") out += '\'';
        else if (ref.size() > 1 && ref[0] == '#') {
            std::uint32_t cp = 0;
            const bool hex = ref[1] == 'x' || ref[1] == 'X';
            const std::string_view digits = ref.substr(hex ? 2 : 1);
            const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
            if (ec == std::errc{} && ptr == digits.data() + digits.size() && !digits.empty() && cp > 0 && cp <= 0x10FFFF &&
                !(cp >= 0xD800 && cp <= 0xDFFF))
                append_utf8(out, cp);
            else
                known = false;
        } else {
            known = false;
        }
        if (known) {
            i = semi + 1;
        } else {
            out += '&';
            i = amp + 1;
        }
    }
    return out;
}

/// The raw text of the first element named `tag` in `xml` at or after `from` (and before `until`):
/// `<tag>text</tag>` or `<tag attr="...">text</tag>`; empty for `<tag/>`; nullopt when absent.
inline std::optional<std::string_view> xml_element_text(std::string_view xml, std::string_view tag, std::size_t from = 0,
                                                        std::size_t until = std::string_view::npos) {
    if (until > xml.size()) until = xml.size();
    for (std::size_t at = xml.find('<', from); at != std::string_view::npos && at < until; at = xml.find('<', at + 1)) {
        std::size_t p = at + 1;
        if (xml.compare(p, tag.size(), tag) != 0) continue;
        p += tag.size();
        if (p >= xml.size()) return std::nullopt;
        const char after = xml[p];
        if (after != '>' && after != ' ' && after != '/' && after != '\t' && after != '\r' && after != '\n') continue;
        const std::size_t gt = xml.find('>', p);
        if (gt == std::string_view::npos) return std::nullopt;
        if (xml[gt - 1] == '/') return std::string_view{};
        const std::size_t text_start = gt + 1;
        const std::size_t close = xml.find("</", text_start);
        if (close == std::string_view::npos) return std::nullopt;
        std::string_view text = xml.substr(text_start, close - text_start);
        // <![CDATA[...]]> is taken as it is (rare in AWS errors).
        if (text.starts_with("<![CDATA[")) {
            const std::size_t end = xml.find("]]>", text_start);
            if (end == std::string_view::npos) return std::nullopt;
            text = xml.substr(text_start + 9, end - text_start - 9);
        }
        return text;
    }
    return std::nullopt;
}

} // namespace sluice::detail::aws_error
