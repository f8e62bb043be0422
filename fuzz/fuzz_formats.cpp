// libFuzzer harness for what sluice's object writers parse from untrusted input: JSON records turned
// into NDJSON lines, CSV rows and Parquet rows (declared schema with every column type, including
// RFC 3339 timestamps, and an inferred one), and RFC 3339 text on its own.
//
// The input is split at '\n' into records. Oracles besides the sanitizers:
//   - every writer answers each record with ok or a record_error that has a message;
//   - record_count() is the number of records accepted;
//   - a refused record leaves the object untouched: a second writer fed only the records the first
//     accepted finishes with byte-identical output;
//   - finishing always gives a complete object (Parquet: "PAR1" at both ends).
//
// Build and run (clang 14, libFuzzer; from the repository root):
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize=function \
//     -DSLUICE_HAS_SIMDJSON=1 -DSLUICE_HAS_ZSTD=1 -DSLUICE_HAS_LZ4=1 -DSLUICE_HAS_ZLIB=1 -DSLUICE_HAS_SNAPPY=1 \
//     -Iinclude fuzz/fuzz_formats.cpp -o /tmp/fuzz_formats -lsimdjson -lzstd -llz4 -lz -lsnappy
//   mkdir -p /tmp/fuzz_formats_corpus && /tmp/fuzz_formats -max_total_time=60 /tmp/fuzz_formats_corpus
// A file argument instead of a directory replays one input (e.g. a crash).

#include <sluice/formats/csv.hpp>
#include <sluice/formats/ndjson.hpp>
#include <sluice/formats/parquet/writer.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace sluice::formats;

void require(bool ok) {
    if (!ok) std::abort();
}

parquet_options declared() {
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

parquet_options inferred() {
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
        else require(!res.error().message.empty());
    }
    require(first.record_count() == accepted.size());
    for (const auto r : accepted) require(second.append(r).ok());
    const std::string a = finish_object(first), b = finish_object(second);
    require(a == b);
    if constexpr (std::is_same_v<Writer, parquet_writer>)
        require(a.size() >= 12 && a.compare(0, 4, "PAR1") == 0 && a.compare(a.size() - 4, 4, "PAR1") == 0);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    (void)parse_rfc3339(input, time_unit::millis);
    (void)parse_rfc3339(input, time_unit::micros);
    std::vector<std::string_view> records;
    for (std::size_t at = 0; at <= input.size() && records.size() < 64;) {
        const std::size_t nl = input.find('\n', at);
        const std::size_t end = nl == std::string_view::npos ? input.size() : nl;
        records.push_back(input.substr(at, end - at));
        at = end + 1;
    }
    check<ndjson_writer>(records, ndjson_options{});
    check<csv_writer>(records, csv_options{});
    check<parquet_writer>(records, declared());
    check<parquet_writer>(records, inferred());
    return 0;
}
