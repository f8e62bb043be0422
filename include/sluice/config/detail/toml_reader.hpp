#pragma once

// The pieces toml_config.hpp reads a file with: where errors go (reader_context), `${NAME}`
// interpolation, and table_reader, which reads one TOML table's keys with their types and reports
// every key nobody asked for (with the closest known spelling).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include <sluice/aws/config.hpp>
#include <sluice/config/config_error.hpp>
#include <sluice/config/pipeline_config.hpp>
#include <sluice/config/units.hpp>

namespace sluice::config::detail {

/// Levenshtein distance of two short names (keys), for "did you mean".
[[nodiscard]] inline std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

/// The candidate closest to `name` when it is close enough to be a misspelling ("" otherwise).
[[nodiscard]] inline std::string_view closest(std::string_view name, std::span<const std::string_view> candidates) {
    std::string_view best;
    std::size_t best_distance = std::max<std::size_t>(2, name.size() / 3) + 1;
    for (auto c : candidates) {
        const std::size_t d = edit_distance(name, c);
        if (d < best_distance) {
            best = c;
            best_distance = d;
        }
    }
    return best;
}

/// The TOML type name of a node, as an error message says it.
[[nodiscard]] inline std::string_view type_of(const toml::node& n) noexcept {
    switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
    }
}

/// Where errors of one file go, and the environment `${NAME}` reads.
class reader_context {
public:
    /// Errors are reported against `file` and appended to `errors`.
    reader_context(std::string file, std::vector<config_error>& errors, const aws::env_lookup& env)
        : file_(std::move(file)), errors_(errors), env_(env) {}

    /// Reports `message` at `where` (a zero position, as implicit tables have, reads as 1:1).
    void error(const toml::source_position& where, std::string message) {
        errors_.push_back({file_, std::max<std::uint32_t>(where.line, 1), std::max<std::uint32_t>(where.column, 1),
                           std::move(message)});
    }
    /// Reports `message` at the start of `node`.
    void error(const toml::node& node, std::string message) { error(node.source().begin, std::move(message)); }

    /// `text` with every `${NAME}` replaced by the variable's value and `$$` by `$`; nullopt (errors
    /// reported at `where`) when a variable is unset or a reference is malformed.
    [[nodiscard]] std::optional<config_string> interpolate(std::string_view text, const toml::node& where) {
        config_string out;
        bool ok = true;
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (text[i] != '$' || i + 1 == text.size() || (text[i + 1] != '{' && text[i + 1] != '$')) {
                out.value += text[i];
                continue;
            }
            if (text[i + 1] == '$') {
                out.value += '$';
                ++i;
                continue;
            }
            const std::size_t close = text.find('}', i + 2);
            if (close == std::string_view::npos) {
                error(where, "unterminated '${' in a string (write '$$' for a literal '$')");
                return std::nullopt;
            }
            const std::string_view name = text.substr(i + 2, close - i - 2);
            if (!valid_variable(name)) {
                error(where, "'${" + std::string(name) + "}' is not an environment variable reference "
                             "(expected ${NAME}, NAME of letters, digits and '_', not starting with a digit)");
                ok = false;
            } else if (auto value = env_(name)) {
                out.value += *value;
                out.secret = true;
            } else {
                error(where, "environment variable '" + std::string(name) + "' is not set");
                ok = false;
            }
            i = close;
        }
        if (!ok) return std::nullopt;
        return out;
    }

private:
    static bool valid_variable(std::string_view name) noexcept {
        if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
        return std::all_of(name.begin(), name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        });
    }

    std::string file_;
    std::vector<config_error>& errors_;
    const aws::env_lookup& env_;
};

/// Reports `name` (read from `node`) unless it is one of `names`.
inline bool check_reference(std::string_view name, std::span<const std::string_view> names, std::string_view kind,
                            const toml::node& node, std::string_view what, reader_context& ctx) {
    if (std::find(names.begin(), names.end(), name) != names.end()) return true;
    std::string message = std::string(what) + " names " + std::string(kind) + " '" + std::string(name) +
                          "', which is not defined";
    const std::string_view guess = closest(name, names);
    if (!guess.empty()) message += "; did you mean '" + std::string(guess) + "'?";
    ctx.error(node, std::move(message));
    return false;
}

/// One name and the value it stands for (enumerations in the file).
template <class E>
struct choice {
    std::string_view name; ///< as written in the file
    E value;               ///< what it means
};

/// Reads the keys of one table; finish() reports the keys nobody asked for.
class table_reader {
public:
    /// Reads `table`, called `what` in messages ("sink 'orders'").
    table_reader(const toml::table& table, std::string what, reader_context& ctx)
        : table_(table), what_(std::move(what)), ctx_(ctx) {}

    /// The table being read.
    [[nodiscard]] const toml::table& table() const noexcept { return table_; }
    /// What messages call it.
    [[nodiscard]] const std::string& what() const noexcept { return what_; }
    /// The context errors go to.
    [[nodiscard]] reader_context& context() noexcept { return ctx_; }

    /// The node at `key` (and `key` becomes known), or null.
    [[nodiscard]] const toml::node* take(std::string_view key) {
        known_.push_back(key);
        return table_.get(key);
    }

    /// Reports that `key` is required (at the table).
    void missing(std::string_view key, std::string_view expected) {
        ctx_.error(table_.source().begin, what_ + " needs '" + std::string(key) + "' (" + std::string(expected) + ")");
    }

    /// Reports that `node` (at `key`) is not what was expected.
    void wrong(const toml::node& node, std::string_view key, std::string_view expected) {
        ctx_.error(node, "'" + std::string(key) + "' of " + what_ + " must be " + std::string(expected) + ", not " +
                             std::string(type_of(node)));
    }

    /// A string value, `${NAME}` interpolated.
    [[nodiscard]] std::optional<config_string> string(std::string_view key) {
        const toml::node* n = take(key);
        if (!n) return std::nullopt;
        if (!n->is_string()) {
            wrong(*n, key, "a string");
            return std::nullopt;
        }
        return ctx_.interpolate(n->as_string()->get(), *n);
    }

    /// A required string value; empty when missing or wrong (reported).
    [[nodiscard]] config_string required_string(std::string_view key, std::string_view expected) {
        if (!table_.contains(key)) {
            known_.push_back(key);
            missing(key, expected);
            return {};
        }
        auto s = string(key);
        if (s && s->empty()) ctx_.error(*table_.get(key), "'" + std::string(key) + "' of " + what_ + " must not be empty");
        return s ? std::move(*s) : config_string{};
    }

    /// A string taken literally (a name, a reference to another entry).
    [[nodiscard]] std::optional<std::string> name(std::string_view key) {
        const toml::node* n = take(key);
        if (!n) return std::nullopt;
        if (!n->is_string()) {
            wrong(*n, key, "a string");
            return std::nullopt;
        }
        return std::string(n->as_string()->get());
    }

    /// A boolean.
    [[nodiscard]] std::optional<bool> boolean(std::string_view key) {
        const toml::node* n = take(key);
        if (!n) return std::nullopt;
        if (!n->is_boolean()) {
            wrong(*n, key, "true or false");
            return std::nullopt;
        }
        return n->as_boolean()->get();
    }

    /// An integer within [min, max].
    [[nodiscard]] std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max) {
        const toml::node* n = take(key);
        if (!n) return std::nullopt;
        if (!n->is_integer()) {
            wrong(*n, key, "an integer");
            return std::nullopt;
        }
        const std::int64_t v = n->as_integer()->get();
        if (v < min || v > max) {
            ctx_.error(*n, "'" + std::string(key) + "' of " + what_ + " must be between " + std::to_string(min) +
                               " and " + std::to_string(max) + ", not " + std::to_string(v));
            return std::nullopt;
        }
        return v;
    }

    /// A count (an integer from `min` up).
    [[nodiscard]] std::optional<std::size_t> count(std::string_view key, std::int64_t min = 0) {
        const auto v = integer(key, min, std::numeric_limits<std::int64_t>::max());
        if (!v) return std::nullopt;
        return static_cast<std::size_t>(*v);
    }

    /// A non-negative number (integer or float).
    [[nodiscard]] std::optional<double> number(std::string_view key) {
        const toml::node* n = take(key);
        if (!n) return std::nullopt;
        if (!n->is_number()) {
            wrong(*n, key, "a number");
            return std::nullopt;
        }
        const double v = n->is_integer() ? static_cast<double>(n->as_integer()->get()) : n->as_floating_point()->get();
        if (!(v >= 0) || v > 1e15) {
            ctx_.error(*n, "'" + std::string(key) + "' of " + what_ + " must be a number from 0 to 1e15");
            return std::nullopt;
        }
        return v;
    }

    /// A duration string ("200ms", "5s", "1m").
    [[nodiscard]] std::optional<std::chrono::milliseconds> duration(std::string_view key) {
        const toml::node* n = take(key);
        if (!n) return std::nullopt;
        std::optional<std::chrono::milliseconds> d;
        if (n->is_string()) d = parse_duration(n->as_string()->get());
        if (!d) bad_value(*n, key, duration_syntax);
        return d;
    }

    /// A size: an integer (bytes) or a string with a unit ("64MiB").
    [[nodiscard]] std::optional<std::uint64_t> size(std::string_view key) {
        const toml::node* n = take(key);
        if (!n) return std::nullopt;
        std::optional<std::uint64_t> s;
        if (n->is_string()) s = parse_size(n->as_string()->get());
        else if (n->is_integer() && n->as_integer()->get() >= 0) s = static_cast<std::uint64_t>(n->as_integer()->get());
        if (!s) bad_value(*n, key, size_syntax);
        return s;
    }

    /// One of `choices`, by name.
    template <class E>
    [[nodiscard]] std::optional<E> one_of(std::string_view key, std::span<const choice<E>> choices) {
        const toml::node* n = take(key);
        if (!n) return std::nullopt;
        if (n->is_string()) {
            const std::string_view text = n->as_string()->get();
            for (const auto& c : choices)
                if (c.name == text) return c.value;
        }
        std::string expected = "one of";
        std::vector<std::string_view> spelled;
        for (std::size_t i = 0; i < choices.size(); ++i) {
            expected += (i == 0 ? " \"" : ", \"") + std::string(choices[i].name) + '"';
            spelled.push_back(choices[i].name);
        }
        const std::string_view guess = n->is_string() ? closest(n->as_string()->get(), spelled) : std::string_view{};
        bad_value(*n, key, expected, guess);
        return std::nullopt;
    }

    /// An array of non-empty strings taken literally (names, fields); nullopt when absent or wrong.
    [[nodiscard]] std::optional<std::vector<std::string>> names(std::string_view key) {
        const toml::node* n = take(key);
        if (!n) return std::nullopt;
        const toml::array* a = n->as_array();
        if (!a) {
            wrong(*n, key, "an array of strings");
            return std::nullopt;
        }
        std::vector<std::string> out;
        bool ok = true;
        for (const toml::node& item : *a) {
            if (!item.is_string() || item.as_string()->get().empty()) {
                ctx_.error(item, "'" + std::string(key) + "' of " + what_ + " must hold non-empty strings, not " +
                                     std::string(type_of(item)));
                ok = false;
                continue;
            }
            out.emplace_back(item.as_string()->get());
        }
        if (!ok) return std::nullopt;
        return out;
    }

    /// The sub-table at `key`, or null (reported when `key` holds something else).
    [[nodiscard]] const toml::table* subtable(std::string_view key) {
        const toml::node* n = take(key);
        if (!n) return nullptr;
        if (!n->is_table()) wrong(*n, key, "a table");
        return n->as_table();
    }

    /// Reports every key not asked for, with the closest known spelling when there is one.
    void finish() {
        for (auto&& [key, node] : table_) {
            if (std::find(known_.begin(), known_.end(), key.str()) != known_.end()) continue;
            std::string message = "unknown key '" + std::string(key.str()) + "' in " + what_;
            const std::string_view guess = closest(key.str(), known_);
            if (!guess.empty()) message += "; did you mean '" + std::string(guess) + "'?";
            ctx_.error(key.source().begin, std::move(message));
            (void)node;
        }
    }

private:
    // Quotes what was written when it is a string: such values are never interpolated, so the text
    // is the file's own (and cut short, in case something long was pasted in the wrong place).
    void bad_value(const toml::node& n, std::string_view key, std::string_view expected, std::string_view guess = {}) {
        std::string message = "'" + std::string(key) + "' of " + what_ + " must be " + std::string(expected);
        if (n.is_string()) {
            const std::string_view text = n.as_string()->get();
            message += ", not \"" + std::string(text.substr(0, 40)) + (text.size() > 40 ? "...\"" : "\"");
        } else {
            message += ", not " + std::string(type_of(n));
        }
        if (!guess.empty()) message += "; did you mean \"" + std::string(guess) + "\"?";
        ctx_.error(n, std::move(message));
    }

    const toml::table& table_;
    std::string what_;
    reader_context& ctx_;
    std::vector<std::string_view> known_;
};

} // namespace sluice::config::detail
