#pragma once

// The index name template of the _bulk sink ("logs-{service}-%Y.%m.%d": "{field}" is a top-level field
// of the record, %Y %m %d %H the UTC date, "%%" a '%') and Elasticsearch's rules for index names. Apart
// from the encoder (bulk_encoder.hpp, which needs simdjson) so that configuration readers can check a
// template where it is written, without simdjson.

#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

/// The bulk action of each document: `index` creates or replaces, `create` fails (409) when a
/// document with that _id exists (data streams need it).
enum class bulk_action : unsigned char { index, create };

/// "index" or "create".
[[nodiscard]] constexpr std::string_view to_string(bulk_action a) noexcept {
    return a == bulk_action::create ? "create" : "index";
}

/// How records become bulk actions (see sinks/detail/bulk_encoder.hpp).
struct bulk_format {
    /// The index name template: "{field}", %Y %m %d %H (UTC), "%%".
    std::string index = "logs";
    /// index or create.
    bulk_action action = bulk_action::index;
    /// A top-level field whose value is the document's _id; empty: Elasticsearch picks one.
    std::string id_field{};
    /// A top-level field with the document's time, for the date in the index; empty: now.
    std::string timestamp_field{};
};

} // namespace sluice

namespace sluice::detail {

/// False for a byte no index name may hold: upper case, \ / * ? " < > | space , # : and controls.
[[nodiscard]] inline bool index_char_ok(char c) noexcept {
    if (c >= 'A' && c <= 'Z') return false;
    return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f && std::strchr("\\/*?\"<>| ,#:", c) == nullptr;
}

/// Why Elasticsearch would refuse `name` as an index name; empty when it takes it.
[[nodiscard]] inline std::string index_name_problem(std::string_view name) {
    if (name.empty()) return "the index name is empty";
    if (name.size() > 255) return "the index name is " + std::to_string(name.size()) + " bytes (255 at most)";
    if (name == "." || name == "..") return "the index name is \".\" or \"..\"";
    if (name.front() == '-' || name.front() == '_' || name.front() == '+')
        return "the index name starts with '-', '_' or '+'";
    for (char c : name)
        if (!index_char_ok(c))
            return "the index name has upper-case letters or a character Elasticsearch refuses (\\ / * ? \" < > | space , # : "
                   "or a control character)";
    return {};
}

/// A parsed index template.
class index_template {
public:
    /// What a part of the template stands for.
    enum class part_kind : unsigned char { literal, field, year, month, day, hour };
    /// One part of the template.
    struct part {
        /// What it stands for.
        part_kind kind;
        std::string text; ///< the literal, or the field name
    };

    /// Throws std::invalid_argument for an empty template, an unclosed or empty "{}", a '%'
    /// conversion other than %Y %m %d %H %%, or literal text no index name may hold.
    explicit index_template(std::string_view t) {
        if (t.empty()) throw std::invalid_argument("sluice: the index template is empty");
        std::string literal;
        for (std::size_t i = 0; i < t.size(); ++i) {
            const char c = t[i];
            if (c == '{') {
                const auto end = t.find('}', i + 1);
                if (end == std::string_view::npos || end == i + 1)
                    throw std::invalid_argument("sluice: index template \"" + std::string(t) +
                                                "\": '{' must enclose a field name and be closed by '}'");
                flush(literal);
                parts_.push_back({part_kind::field, std::string(t.substr(i + 1, end - i - 1))});
                i = end;
            } else if (c == '%') {
                const char k = i + 1 < t.size() ? t[i + 1] : '\0';
                ++i;
                if (k == '%') {
                    literal += '%';
                    continue;
                }
                const part_kind kind = k == 'Y' ? part_kind::year : k == 'm' ? part_kind::month
                                     : k == 'd' ? part_kind::day  : k == 'H' ? part_kind::hour
                                                                             : part_kind::literal;
                if (kind == part_kind::literal)
                    throw std::invalid_argument("sluice: index template \"" + std::string(t) +
                                                "\": only %Y %m %d %H and %% are known");
                flush(literal);
                parts_.push_back({kind, {}});
                uses_date_ = true;
            } else {
                literal += c;
            }
        }
        flush(literal);
        for (const auto& p : parts_)
            if (p.kind == part_kind::literal)
                for (char c : p.text)
                    if (!index_char_ok(c))
                        throw std::invalid_argument("sluice: index template \"" + std::string(t) +
                                                    "\": index names are lower case, without \\ / * ? \" < > | space , # :");
    }

    /// The parts, in order.
    [[nodiscard]] const std::vector<part>& parts() const noexcept { return parts_; }
    /// True when a %-conversion needs the record's date.
    [[nodiscard]] bool uses_date() const noexcept { return uses_date_; }

private:
    void flush(std::string& literal) {
        if (!literal.empty()) parts_.push_back({part_kind::literal, std::move(literal)});
        literal.clear();
    }

    std::vector<part> parts_;
    bool uses_date_ = false;
};

} // namespace sluice::detail
