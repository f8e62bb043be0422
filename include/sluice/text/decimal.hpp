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
    bool negative = false;
    std::string digits{};
    /// Saturates at +-(2^31 - 1): such numbers are out of every range anyway.
    std::int64_t exponent = 0;

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

} // namespace sluice::text

namespace sluice::detail::decimal_text {
inline bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr std::int64_t exponent_limit = 2147483647;
} // namespace sluice::detail::decimal_text

namespace sluice::text {

/// Parses `text` as a decimal number; nullopt when it is not one in the grammar.
[[nodiscard]] inline std::optional<decimal> parse_decimal(std::string_view text, decimal_grammar grammar = decimal_grammar::json) {
    using sluice::detail::decimal_text::is_digit;
    std::size_t i = 0;
    const std::size_t n = text.size();
    decimal d;
    if (i < n && (text[i] == '-' || (grammar == decimal_grammar::lenient && text[i] == '+'))) d.negative = text[i++] == '-';
    const std::size_t int_start = i;
    while (i < n && is_digit(text[i])) ++i;
    const std::size_t int_end = i;
    std::size_t frac_start = i, frac_end = i;
    if (i < n && text[i] == '.') {
        frac_start = ++i;
        while (i < n && is_digit(text[i])) ++i;
        frac_end = i;
    }
    const std::size_t int_digits = int_end - int_start, frac_digits = frac_end - frac_start;
    if (int_digits + frac_digits == 0) return std::nullopt;
    if (grammar == decimal_grammar::json) {
        if (int_digits == 0) return std::nullopt;                            // ".5"
        if (int_digits > 1 && text[int_start] == '0') return std::nullopt;    // "01"
        if (int_end < n && text[int_end] == '.' && frac_digits == 0) return std::nullopt; // "1."
    }
    std::int64_t exp10 = 0;
    if (i < n && (text[i] == 'e' || text[i] == 'E')) {
        ++i;
        bool exp_negative = false;
        if (i < n && (text[i] == '+' || text[i] == '-')) exp_negative = text[i++] == '-';
        if (i == n || !is_digit(text[i])) return std::nullopt;
        for (; i < n && is_digit(text[i]); ++i)
            if (exp10 < sluice::detail::decimal_text::exponent_limit) exp10 = exp10 * 10 + (text[i] - '0');
        if (exp_negative) exp10 = -exp10;
    }
    if (i != n) return std::nullopt;

    // All digits in a row, then strip: value = 0.DIGITS * 10^(int_digits + exp10) before stripping.
    std::string all;
    all.reserve(int_digits + frac_digits);
    all.append(text.substr(int_start, int_digits));
    all.append(text.substr(frac_start, frac_digits));
    std::size_t lead = 0;
    while (lead < all.size() && all[lead] == '0') ++lead;
    if (lead == all.size()) {
        d.negative = false;
        return d; // zero, whatever its exponent
    }
    std::size_t last = all.size();
    while (all[last - 1] == '0') --last;
    d.digits = all.substr(lead, last - lead);
    std::int64_t e = static_cast<std::int64_t>(int_digits) - static_cast<std::int64_t>(lead) + exp10;
    const std::int64_t limit = sluice::detail::decimal_text::exponent_limit;
    d.exponent = e > limit ? limit : e < -limit ? -limit : e;
    return d;
}

} // namespace sluice::text
