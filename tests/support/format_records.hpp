#pragma once

// Records for the format tests: every value kind the writers must carry exactly (quotes, commas, CR/LF,
// non-ASCII, empty strings, nulls and missing fields, integers at the ends of int64, negative numbers,
// doubles in exponent form, nested values, timestamps as integers and as RFC 3339 text), generated
// deterministically from an id so a test can say what every row must hold.

#include <sluice/formats/schema.hpp>
#include <sluice/sinks/ndjson_file.hpp>

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sluice_test {

struct sample_record {
    std::int64_t id = 0;
    std::optional<std::string> s;
    std::optional<std::int64_t> big;
    std::optional<double> d;
    std::optional<bool> b;
    std::optional<std::string> nested; ///< compact JSON text of an object or array
    std::optional<std::int64_t> ts_ms;
    std::string ts_text;                ///< how the record spells ts_ms (an integer or RFC 3339)

    /// The record as a JSON object; a field without a value is null for odd ids and missing for even.
    [[nodiscard]] std::string json() const {
        std::string out = "{\"id\":" + std::to_string(id);
        const auto field = [&](const char* name, const std::optional<std::string>& text) {
            if (!text && id % 2 == 0) return;
            out += ",\"";
            out += name;
            out += "\":";
            out += text ? *text : "null";
        };
        std::optional<std::string> quoted;
        if (s) {
            quoted.emplace();
            sluice::ndjson_append_string(*quoted, *s);
        }
        field("s", quoted);
        field("big", big ? std::optional<std::string>(std::to_string(*big)) : std::nullopt);
        field("d", d ? std::optional<std::string>(double_text(*d)) : std::nullopt);
        field("b", b ? std::optional<std::string>(*b ? "true" : "false") : std::nullopt);
        field("n", nested);
        field("ts", ts_ms ? std::optional<std::string>(ts_text) : std::nullopt);
        out += "}";
        return out;
    }

    static std::string double_text(double v) {
        char buf[32];
        const auto r = std::to_chars(buf, buf + sizeof buf, v);
        return std::string(buf, r.ptr);
    }
};

/// The columns of sample_record for CSV and Parquet ("id" is required).
inline std::vector<sluice::formats::column> sample_columns() {
    using sluice::formats::column_type;
    return {{"id", column_type::int64, false},  {"s", column_type::string},  {"big", column_type::int64},
            {"d", column_type::float64},        {"b", column_type::boolean}, {"n", column_type::json},
            {"ts", column_type::timestamp_millis}};
}

/// `count` records with ids first_id, first_id + 1, ...; every value is a function of the id.
inline std::vector<sample_record> sample_records(std::size_t count, std::int64_t first_id = 1) {
    static const char* const strings[] = {
        "plain",        "comma, inside",       "quote \" inside", "line\nfeed",        "crlf\r\nend",
        "",             "日本語 é ünïcödé",    "emoji \xF0\x9F\x99\x82", "  padded  ",  "tab\tand\\backslash",
        "\"\"",         "a,\"b\",\r\nc",       "null",           "NULL",              "-"};
    static const std::int64_t bigs[] = {std::numeric_limits<std::int64_t>::max(),
                                        std::numeric_limits<std::int64_t>::min(),
                                        std::numeric_limits<std::int64_t>::max() - 1,
                                        -9007199254740993,
                                        0,
                                        -1,
                                        42};
    static const double doubles[] = {0.1, -2.5e-10, 1e300, -1.7976931348623157e308, 5e-324, 123456.789, 3.0, -7.25};
    static const char* const nests[] = {R"({"k":[1,2,{"x":"y"}]})", "[]", R"({"q":"a\"b","u":"é"})", "[1.5,null,true]"};
    // RFC 3339 spellings and their milliseconds since the epoch (checked against Python's datetime).
    static const std::pair<const char*, std::int64_t> stamps[] = {
        {"\"2024-01-02T03:04:05.123Z\"", 1704164645123},   {"\"1969-12-31T23:59:59.999Z\"", -1},
        {"\"2000-02-29T12:00:00+05:30\"", 951805800000},   {"\"1970-01-01T00:00:00Z\"", 0},
        {"\"9999-12-31T23:59:59.999-01:00\"", 253402304399999}, {"\"2024-07-15 10:20:30.5+00:00\"", 1721038830500}};

    std::vector<sample_record> out;
    out.reserve(count);
    for (std::size_t k = 0; k < count; ++k) {
        sample_record r;
        r.id = first_id + static_cast<std::int64_t>(k);
        const auto i = static_cast<std::size_t>(r.id);
        if (i % 11 != 3) r.s = std::string(strings[i % std::size(strings)]) + (i % 5 == 0 ? "" : std::to_string(i % 13));
        if (i % 13 != 4) r.big = bigs[i % std::size(bigs)];
        if (i % 9 != 5) r.d = doubles[i % std::size(doubles)] * (i % 4 == 1 ? -1.0 : 1.0);
        if (i % 6 != 2) r.b = i % 3 == 0;
        if (i % 4 != 0) r.nested = nests[i % std::size(nests)];
        if (i % 8 != 6) {
            if (i % 3 == 0) {
                const auto& st = stamps[i % std::size(stamps)];
                r.ts_text = st.first;
                r.ts_ms = st.second;
            } else {
                r.ts_ms = 1700000000000 + static_cast<std::int64_t>(i) * 1001;
                r.ts_text = std::to_string(*r.ts_ms);
            }
        }
        out.push_back(std::move(r));
    }
    return out;
}

} // namespace sluice_test
