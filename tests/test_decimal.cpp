// text/decimal.hpp: decimal numbers as text, never through a double: both grammars, significant
// digits, exponents beyond a double's, one canonical text per value, generated round trips.

#include <doctest/doctest.h>

#include <sluice/text/decimal.hpp>

#include <cstdint>
#include <string>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_decimal {

using sluice::text::decimal_grammar;
using sluice::text::parse_decimal;

TEST_SUITE("text") {

TEST_CASE("decimal: JSON's grammar, and DynamoDB's more lenient one") {
    for (const char* good : {"0", "-0", "1", "-1", "0.5", "10", "1.50", "1e5", "1E+5", "-2.5e-10", "12345678901234567890123456789012345678901"})
        CHECK_MESSAGE(parse_decimal(good).has_value(), good);
    for (const char* bad : {"", "-", "+1", "01", "1.", ".5", "1e", "1e+", "0x10", "1 ", " 1", "NaN", "Infinity", "1..2", "--1", "1e5.5"})
        CHECK_MESSAGE(!parse_decimal(bad).has_value(), bad);
    for (const char* lenient : {"+1", "01", "1.", ".5", "000120.0500", "+.5e3"})
        CHECK_MESSAGE(parse_decimal(lenient, decimal_grammar::lenient).has_value(), lenient);
    for (const char* bad : {"", "+", ".", "e5", "1e", "1 ", "abc"})
        CHECK_MESSAGE(!parse_decimal(bad, decimal_grammar::lenient).has_value(), bad);
}

TEST_CASE("decimal: significant digits and exponent, without a double in between") {
    auto d = *parse_decimal("12345678901234567890123456789012345678.9", decimal_grammar::json);
    CHECK(d.digits == "123456789012345678901234567890123456789");
    CHECK(d.significant_digits() == 39);
    CHECK(d.exponent == 38);
    CHECK_FALSE(d.negative);
    auto small = *parse_decimal("-0.000120e-130");
    CHECK(small.digits == "12");
    CHECK(small.exponent == -133);
    CHECK(small.negative);
    CHECK(parse_decimal("0.000e999")->is_zero());
    CHECK_FALSE(parse_decimal("-0")->negative);
    CHECK(parse_decimal("1000")->significant_digits() == 1);
    CHECK(parse_decimal("1e99999999999999999999")->exponent == 2147483647); // saturates
    CHECK(parse_decimal("1e-99999999999999999999")->exponent == -2147483647);
}

TEST_CASE("decimal: one canonical text per value") {
    const char* same[] = {"1.5", "1.50", "15e-1", "0.15E1", "150e-2"};
    for (const char* s : same) CHECK_MESSAGE(parse_decimal(s)->canonical() == "0.15e1", s);
    CHECK(parse_decimal("+001.50", decimal_grammar::lenient)->canonical() == "0.15e1");
    CHECK(parse_decimal("-0.0")->canonical() == "0");
    CHECK(parse_decimal("-7")->canonical() == "-0.7e1");
    CHECK(*parse_decimal("2") != *parse_decimal("20"));
    // Generated: integers and their scaled spellings agree.
    std::uint64_t state = 42;
    for (int i = 0; i < 2000; ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        const std::uint64_t v = state >> 20;
        const std::string plain = std::to_string(v);
        const std::string scaled = plain + "00e-2";
        const std::string fraction = plain + ".000";
        REQUIRE(parse_decimal(plain)->canonical() == parse_decimal(scaled)->canonical());
        REQUIRE(parse_decimal(plain)->canonical() == parse_decimal(fraction)->canonical());
    }
}

} // TEST_SUITE

} // namespace test_decimal

