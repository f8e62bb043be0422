#pragma once

// What sluice's object writers parse from untrusted input: JSON records turned into NDJSON lines, CSV
// rows and Parquet rows (a declared schema with every column type, including RFC 3339 timestamps, and
// an inferred one), and RFC 3339 text on its own. What must hold besides the sanitizers:
//   - every writer answers each record with ok or a record_error that has a message;
//   - record_count() is the number of records accepted;
//   - a refused record leaves the object untouched: a second writer fed only the records the first
//     accepted finishes with byte-identical output;
//   - finishing always gives a complete object (Parquet: "PAR1" at both ends);
//   - the compact JSON text written for a value (nested values in CSV and Parquet) reads back as it;
//   - RFC 3339 text reads in milliseconds exactly when it reads in microseconds to a whole millisecond,
//     and then to the same instant.
//
// Input: records separated by '\n' (at most 64); the whole input is also tried as a timestamp.

#include "../fuzz.hpp"

#include <sluice/formats/csv.hpp>
#include <sluice/formats/ndjson.hpp>
#include <sluice/formats/parquet/writer.hpp>

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace sluice_fuzz {

namespace formats_detail {

using namespace sluice::formats;

inline parquet_options declared() {
    parquet_options o;
    o.columns = {{"i", column_type::int64, false}, {"d", column_type::float64}, {"b", column_type::boolean},
                 {"s", column_type::string},       {"j", column_type::json},    {"ms", column_type::timestamp_millis},
                 {"us", column_type::timestamp_micros}};
    o.codec = sluice::compression::none;
    o.row_group_rows = 3;
    o.limits.dictionary_bytes = 64; // reach the fallback to PLAIN often
    o.limits.page_bytes = 64;
    return o;
}

inline parquet_options inferred() {
    parquet_options o;
    o.codec = sluice::compression::none;
    o.infer_records = 2;
    o.unknown = unknown_fields::ignore;
    return o;
}

/// Feeds every record to `first`, and the accepted ones to `second`; both must end identical.
template <class Writer, class Options>
void check(const std::vector<std::string_view>& records, const Options& options) {
    Writer first(options), second(options);
    std::vector<std::string_view> accepted;
    for (const auto r : records) {
        const append_result res = first.append(r);
        if (res) accepted.push_back(r);
        else SLUICE_FUZZ_CHECK(!res.error().message.empty(), "a refusal without a message");
    }
    SLUICE_FUZZ_CHECK(first.record_count() == accepted.size(), "record_count() is not the records accepted");
    for (const auto r : accepted) SLUICE_FUZZ_CHECK(second.append(r).ok(), "an accepted record refused the second time");
    const std::string a = finish_object(first), b = finish_object(second);
    SLUICE_FUZZ_CHECK(a == b, "a refused record changed the object");
    if constexpr (std::is_same_v<Writer, parquet_writer>)
        SLUICE_FUZZ_CHECK(a.size() >= 12 && a.compare(0, 4, "PAR1") == 0 && a.compare(a.size() - 4, 4, "PAR1") == 0,
                          "an incomplete Parquet file");
}

/// The compact JSON text the writers make of a value (detail::append_json) reads back as the same
/// value: simdjson's own serializer gives the same text for both.
inline void json_text(simdjson::dom::parser& parser, simdjson::dom::parser& again, std::string_view record) {
    simdjson::dom::element root;
    if (parser.parse(record.data(), record.size()).get(root) != simdjson::SUCCESS) return;
    std::string text;
    sluice::formats::detail::append_json(text, root);
    simdjson::dom::element back;
    SLUICE_FUZZ_CHECK(again.parse(text).get(back) == simdjson::SUCCESS, "append_json wrote text that is not JSON");
    if (root.type() != simdjson::dom::element_type::DOUBLE) // a whole double at the top reads back as an integer
        SLUICE_FUZZ_CHECK(simdjson::minify(back) == simdjson::minify(root), "append_json changed a value");
}

inline void timestamps(std::string_view text) {
    const auto millis = parse_rfc3339(text, time_unit::millis);
    const auto micros = parse_rfc3339(text, time_unit::micros);
    if (millis) SLUICE_FUZZ_CHECK(micros && *micros == *millis * 1000, show(text));
    if (micros && *micros % 1000 == 0) SLUICE_FUZZ_CHECK(millis.has_value(), show(text));
}

} // namespace formats_detail

SLUICE_FUZZ_TARGET(formats) {
    using namespace formats_detail;
    const std::string_view input = as_text(data);
    timestamps(input);
    std::vector<std::string_view> records;
    for (std::size_t at = 0; at <= input.size() && records.size() < 64;) {
        const std::size_t nl = input.find('\n', at);
        const std::size_t end = nl == std::string_view::npos ? input.size() : nl;
        records.push_back(input.substr(at, end - at));
        at = end + 1;
    }
    simdjson::dom::parser parser, again;
    for (const auto r : records) json_text(parser, again, r);
    check<ndjson_writer>(records, ndjson_options{});
    check<csv_writer>(records, csv_options{});
    check<parquet_writer>(records, declared());
    check<parquet_writer>(records, inferred());
}

} // namespace sluice_fuzz
