#pragma once

// Decimal numbers as text, never through a double: a number a user wrote ("12345678901234567890.50",
// "-1.5e-130") is checked, taken apart into sign, significant digits and exponent, and compared or
// written back exactly. What DynamoDB numbers need (38 significant digits, exponents far beyond a
// double's), and what any JSON number with more precision than 53 bits needs.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::text {

/// A decimal number: (-1)^negative * 0.d1d2d3... * 10^exponent, with no leading or trailing zero
/// digits. Zero has no digits (and is never negative).
struct decimal {
    /// A minus sign was present (and the value is not zero).
    bool negative = false;
    /// Significant digits without leading or trailing zeros; empty for zero.
    std::string digits{};
    /// Saturates at +-(2^31 - 1): such numbers are out of every range anyway.
    std::int64_t exponent = 0;

    /// True for zero, whatever its sign or exponent was.
    [[nodiscard]] bool is_zero() const noexcept { return digits.empty(); }
    /// Significant digits: "120.0500" has 5 ("12005"), "0.001" has 1, zero has 0.
    [[nodiscard]] std::size_t significant_digits() const noexcept { return digits.size(); }

    /// One text per value ("1.50", "15e-1" and "0.150E1" give the same): "0", or [-]0.DIGITSeEXP.
    [[nodiscard]] std::string canonical() const {
        if (is_zero()) return "0";
        std::string s = negative ? "-0." : "0.";
        s += digits;
        s += 'e';
        s += std::to_string(exponent);
        return s;
    }

    friend bool operator==(const decimal&, const decimal&) = default;
};

/// Which texts parse_decimal takes.
enum class decimal_grammar {
    json,   ///< -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    lenient ///< [+-]?[0-9]*(\.[0-9]*)?([eE][+-]?[0-9]+)? with at least one digit (what DynamoDB reads)
};

/// A decimal number's sign, significant digits and exponent (as in decimal), read without allocating.
struct decimal_shape {
    /// A minus sign was present.
    bool negative = false;
    std::size_t significant_digits = 0; ///< 0: zero
    /// Power of ten of the last significant digit.
    std::int64_t exponent = 0;
    /// True for zero.
    [[nodiscard]] bool is_zero() const noexcept { return significant_digits == 0; }
};

} // namespace sluice::text

namespace sluice::detail::decimal_text {

inline bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr std::int64_t exponent_limit = 2147483647;

/// Where the parts of a number are: its integer and fraction digits, and the exponent's value.
struct scanned {
    bool negative = false;
    std::string_view int_digits, frac_digits;
    std::int64_t exp10 = 0;
    /// Leading and trailing zero digits over int_digits + frac_digits.
    std::size_t lead = 0, trail = 0;

    [[nodiscard]] std::size_t total() const noexcept { return int_digits.size() + frac_digits.size(); }
    [[nodiscard]] char digit(std::size_t k) const noexcept {
        return k < int_digits.size() ? int_digits[k] : frac_digits[k - int_digits.size()];
    }
};

inline std::optional<scanned> scan(std::string_view text, text::decimal_grammar grammar) {
    std::size_t i = 0;
    const std::size_t n = text.size();
    scanned s;
    if (i < n && (text[i] == '-' || (grammar == text::decimal_grammar::lenient && text[i] == '+'))) s.negative = text[i++] == '-';
    const std::size_t int_start = i;
    while (i < n && is_digit(text[i])) ++i;
    s.int_digits = text.substr(int_start, i - int_start);
    const bool point = i < n && text[i] == '.';
    if (point) {
        const std::size_t frac_start = ++i;
        while (i < n && is_digit(text[i])) ++i;
        s.frac_digits = text.substr(frac_start, i - frac_start);
    }
    if (s.total() == 0) return std::nullopt;
    if (grammar == text::decimal_grammar::json &&
        (s.int_digits.empty() || (s.int_digits.size() > 1 && s.int_digits[0] == '0') || (point && s.frac_digits.empty())))
        return std::nullopt; // ".5", "01", "1."
    if (i < n && (text[i] == 'e' || text[i] == 'E')) {
        ++i;
        bool exp_negative = false;
        if (i < n && (text[i] == '+' || text[i] == '-')) exp_negative = text[i++] == '-';
        if (i == n || !is_digit(text[i])) return std::nullopt;
        for (; i < n && is_digit(text[i]); ++i)
            if (s.exp10 < exponent_limit) s.exp10 = s.exp10 * 10 + (text[i] - '0');
        if (exp_negative) s.exp10 = -s.exp10;
    }
    if (i != n) return std::nullopt;
    while (s.lead < s.total() && s.digit(s.lead) == '0') ++s.lead;
    while (s.trail < s.total() - s.lead && s.digit(s.total() - 1 - s.trail) == '0') ++s.trail;
    return s;
}

/// value = 0.DIGITS * 10^(int digits - leading zeros + exponent), saturated.
inline std::int64_t exponent_of(const scanned& s) noexcept {
    const std::int64_t e = static_cast<std::int64_t>(s.int_digits.size()) - static_cast<std::int64_t>(s.lead) + s.exp10;
    return e > exponent_limit ? exponent_limit : e < -exponent_limit ? -exponent_limit : e;
}

} // namespace sluice::detail::decimal_text

namespace sluice::text {

/// The shape of `text` as a decimal number (no allocation); nullopt when it is not one in the grammar.
[[nodiscard]] inline std::optional<decimal_shape> inspect_decimal(std::string_view text, decimal_grammar grammar = decimal_grammar::json) {
    const auto s = sluice::detail::decimal_text::scan(text, grammar);
    if (!s) return std::nullopt;
    decimal_shape d;
    d.significant_digits = s->total() - s->lead - s->trail;
    if (d.significant_digits == 0) return d; // zero, whatever its sign and exponent
    d.negative = s->negative;
    d.exponent = sluice::detail::decimal_text::exponent_of(*s);
    return d;
}

/// Parses `text` as a decimal number; nullopt when it is not one in the grammar.
[[nodiscard]] inline std::optional<decimal> parse_decimal(std::string_view text, decimal_grammar grammar = decimal_grammar::json) {
    const auto s = sluice::detail::decimal_text::scan(text, grammar);
    if (!s) return std::nullopt;
    decimal d;
    const std::size_t significant = s->total() - s->lead - s->trail;
    if (significant == 0) return d;
    d.negative = s->negative;
    d.digits.reserve(significant);
    for (std::size_t k = s->lead; k < s->lead + significant; ++k) d.digits += s->digit(k);
    d.exponent = sluice::detail::decimal_text::exponent_of(*s);
    return d;
}

} // namespace sluice::text
