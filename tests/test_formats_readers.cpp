// NDJSON, CSV and Parquet objects written by sluice and read back by readers that share no code with
// it: DuckDB and hyparquet (tests/readers/read.mjs, installed by scripts/format-readers.sh from the
// pinned tests/readers/package-lock.json; ctest's fixture sluice_format_readers_install does it and
// points SLUICE_FORMAT_READERS_DIR here). Every value of every row is compared with what the records
// held, by id.

#include <doctest/doctest.h>

#if SLUICE_HAS_SIMDJSON

#include <sluice/formats/csv.hpp>
#include <sluice/formats/ndjson.hpp>
#include <sluice/formats/parquet/writer.hpp>
#include <sluice/sinks/ndjson_file.hpp>

#include "support/decompress.hpp"
#include "support/format_records.hpp"
#include "support/readers.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_formats_readers {

namespace fs = std::filesystem;
using namespace sluice::formats;
using sluice::compression;
using sluice_test::sample_record;
using sluice_test::json_quoted;
using sluice_test::reader_plan;
using sluice_test::write_file;

namespace {

/// A directory of its own for one test case, removed at the end.
struct scratch_dir {
    fs::path path;
    scratch_dir() {
        static int counter = 0;
        path = fs::temp_directory_path() /
               ("sluice-formats-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~scratch_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
};

// --- comparing one value ---------------------------------------------------------------------------

bool is_null(simdjson::dom::element e) { return e.type() == simdjson::dom::element_type::NULL_VALUE; }

void check_int(simdjson::dom::element e, const std::optional<std::int64_t>& want) {
    if (!want) {
        CHECK(is_null(e));
        return;
    }
    REQUIRE_FALSE(is_null(e));
    std::int64_t got = 0;
    if (e.is_string()) got = std::stoll(std::string(e.get_string().value()));
    else got = e.get_int64().value();
    CHECK(got == *want);
}

void check_double(simdjson::dom::element e, const std::optional<double>& want) {
    if (!want) {
        CHECK(is_null(e));
        return;
    }
    REQUIRE_FALSE(is_null(e));
    double got = 0;
    if (e.is_string()) got = std::strtod(std::string(e.get_string().value()).c_str(), nullptr);
    else if (e.is_int64()) got = static_cast<double>(e.get_int64().value());
    else got = e.get_double().value();
    CHECK(got == *want);
}

void check_text(simdjson::dom::element e, const std::optional<std::string>& want) {
    if (!want) {
        CHECK(is_null(e));
        return;
    }
    REQUIRE(e.is_string());
    CHECK(std::string(e.get_string().value()) == *want);
}

void check_bool(simdjson::dom::element e, const std::optional<bool>& want) {
    if (!want) {
        CHECK(is_null(e));
        return;
    }
    REQUIRE(e.is_bool());
    CHECK(e.get_bool().value() == *want);
}

/// A JSON value, given as its JSON text (DuckDB) or as the value (hyparquet parses JSON columns).
void check_json(simdjson::dom::element e, const std::optional<std::string>& want) {
    if (!want) {
        CHECK(is_null(e));
        return;
    }
    REQUIRE_FALSE(is_null(e));
    simdjson::dom::parser p1, p2;
    std::string got = e.is_string() ? simdjson::minify(p1.parse(std::string(e.get_string().value())).value())
                                    : simdjson::minify(e);
    CHECK(got == simdjson::minify(p2.parse(*want).value()));
}

/// The text a CSV or NDJSON reader gives for ts when asked for VARCHAR: the string, or the integer.
std::optional<std::string> ts_as_text(const sample_record& r) {
    if (!r.ts_ms) return std::nullopt;
    std::string t = r.ts_text;
    if (!t.empty() && t.front() == '"') t = t.substr(1, t.size() - 2);
    return t;
}

/// Rows (id, s, big, d, b, n, ts) against `records` in order; `ts_ms` says whether ts comes as
/// milliseconds (Parquet) or as the text the record held (CSV, NDJSON).
void check_rows(simdjson::dom::array rows, const std::vector<sample_record>& records, bool ts_ms) {
    REQUIRE(rows.size() == records.size());
    std::size_t i = 0;
    for (simdjson::dom::element row : rows) {
        const sample_record& r = records[i++];
        CAPTURE(r.id);
        simdjson::dom::array cells = row.get_array().value();
        REQUIRE(cells.size() == 7);
        check_int(cells.at(0).value(), r.id);
        check_text(cells.at(1).value(), r.s);
        check_int(cells.at(2).value(), r.big);
        check_double(cells.at(3).value(), r.d);
        check_bool(cells.at(4).value(), r.b);
        check_json(cells.at(5).value(), r.nested);
        if (ts_ms) check_int(cells.at(6).value(), r.ts_ms);
        else check_text(cells.at(6).value(), ts_as_text(r));
    }
}

std::vector<compression> available(std::initializer_list<compression> codecs) {
    std::vector<compression> out;
    for (auto c : codecs)
        if (sluice::compression_available(c)) out.push_back(c);
    return out;
}

template <class Writer>
std::string write_records(Writer& w, const std::vector<sample_record>& records) {
    for (const auto& r : records) REQUIRE(w.append(r.json()));
    return finish_object(w);
}

parquet_options sample_parquet(compression codec) {
    parquet_options o;
    o.columns = sluice_test::sample_columns();
    o.codec = codec;
    o.row_group_rows = 150;
    return o;
}

const char* parquet_codec_name(compression c) {
    switch (c) {
    case compression::none: return "UNCOMPRESSED";
    case compression::snappy: return "SNAPPY";
    case compression::gzip: return "GZIP";
    case compression::zstd: return "ZSTD";
    case compression::lz4: return "LZ4_RAW";
    }
    return "?";
}

const std::string parquet_select = "select id, s, big, d, b, n::VARCHAR, epoch_ms(ts) from read_parquet('";
const std::string csv_columns =
    "columns={'id':'BIGINT','s':'VARCHAR','big':'BIGINT','d':'DOUBLE','b':'BOOLEAN','n':'VARCHAR','ts':'VARCHAR'}";
const std::string json_columns =
    "columns={'id':'BIGINT','s':'VARCHAR','big':'BIGINT','d':'DOUBLE','b':'BOOLEAN','n':'JSON','ts':'VARCHAR'}";

} // namespace

TEST_SUITE("integration-formats") {

TEST_CASE("NDJSON and CSV objects, each compression, read back by DuckDB") {
    scratch_dir dir;
    const auto records = sluice_test::sample_records(400);
    reader_plan plan;
    std::string plain_ndjson, plain_csv;
    for (const compression codec : available({compression::none, compression::gzip, compression::zstd, compression::lz4})) {
        const std::string tag(sluice::to_string(codec));
        ndjson_writer nw({codec});
        csv_options co;
        co.codec = codec;
        csv_writer cw(co);
        const std::string ndjson = write_records(nw, records), csv = write_records(cw, records);
        if (codec == compression::none) {
            plain_ndjson = ndjson;
            plain_csv = csv;
        }
        // DuckDB reads gzip and zstd objects itself; lz4 frames go through liblz4's own decoder first.
        const bool duckdb_reads = codec != compression::lz4;
        const fs::path nf = dir.path / ("records-" + tag + (duckdb_reads ? nw.extension() : std::string(".ndjson")));
        const fs::path cf = dir.path / ("records-" + tag + (duckdb_reads ? cw.extension() : std::string(".csv")));
        write_file(nf, duckdb_reads ? ndjson : sluice_test::decompress_object(codec, ndjson));
        write_file(cf, duckdb_reads ? csv : sluice_test::decompress_object(codec, csv));
        CHECK(sluice_test::decompress_object(codec, ndjson) == plain_ndjson);
        CHECK(sluice_test::decompress_object(codec, csv) == plain_csv);
        plan.duckdb("ndjson-" + tag, "select id, s, big, d, b, n, ts from read_json('" + nf.string() +
                                         "', format='newline_delimited', " + json_columns + ") order by id");
        plan.duckdb("csv-" + tag, "select * from read_csv('" + cf.string() + "', header=true, auto_detect=false, "
                                      "delim=',', quote='\"', escape='\"', new_line='\\r\\n', allow_quoted_nulls=false, " +
                                      csv_columns + ") order by id");
        plan.duckdb("csv-header-" + tag, "select column_name from (describe select * from read_csv('" + cf.string() +
                                             "', header=true)) order by all");
    }
    plan.run(dir.path);
    for (const compression codec : available({compression::none, compression::gzip, compression::zstd, compression::lz4})) {
        const std::string tag(sluice::to_string(codec));
        CAPTURE(tag);
        check_rows(plan.rows("ndjson-" + tag), records, false);
        check_rows(plan.rows("csv-" + tag), records, false);
        CHECK(plan.rows("csv-header-" + tag).size() == 7);
    }
}

TEST_CASE("Parquet, each codec: values, types, schema, metadata and statistics by DuckDB; rows by hyparquet") {
    scratch_dir dir;
    const auto records = sluice_test::sample_records(400);
    const auto codecs = available({compression::none, compression::snappy, compression::gzip, compression::zstd, compression::lz4});
    reader_plan plan;
    for (const compression codec : codecs) {
        const std::string tag(sluice::to_string(codec));
        parquet_writer w(sample_parquet(codec));
        const fs::path f = dir.path / ("records-" + tag + ".parquet");
        write_file(f, write_records(w, records));
        CHECK(w.row_group_count() == 3);
        plan.duckdb("rows-" + tag, parquet_select + f.string() + "') order by id");
        plan.duckdb("types-" + tag, "select column_type from (describe select * from read_parquet('" + f.string() + "'))");
        plan.duckdb("meta-" + tag, "select row_group_id, path_in_schema, compression, encodings, stats_min_value, "
                                   "stats_max_value, stats_null_count, num_values from parquet_metadata('" +
                                       f.string() + "') order by row_group_id, column_id");
        plan.duckdb("schema-" + tag, "select name, type, repetition_type, converted_type from parquet_schema('" +
                                         f.string() + "') order by column_id");
        plan.hyparquet("hyparquet-" + tag, f);
    }
    plan.run(dir.path);
    for (const compression codec : codecs) {
        const std::string tag(sluice::to_string(codec));
        CAPTURE(tag);
        check_rows(plan.rows("rows-" + tag), records, true);
        check_rows(plan.rows("hyparquet-" + tag), records, true);
        std::vector<std::string> types;
        for (auto row : plan.rows("types-" + tag)) types.emplace_back(row.at(0).get_string().value());
        CHECK(types == std::vector<std::string>{"BIGINT", "VARCHAR", "BIGINT", "DOUBLE", "BOOLEAN", "JSON",
                                                "TIMESTAMP WITH TIME ZONE"});
        std::vector<std::string> schema;
        for (auto row : plan.rows("schema-" + tag)) {
            std::string line;
            for (auto v : row.get_array()) line += (v.is_null() ? std::string("-") : std::string(v.get_string().value())) + " ";
            schema.push_back(line);
        }
        CHECK(schema == std::vector<std::string>{"schema - - - ", "id INT64 REQUIRED - ", "s BYTE_ARRAY OPTIONAL UTF8 ",
                                                 "big INT64 OPTIONAL - ", "d DOUBLE OPTIONAL - ", "b BOOLEAN OPTIONAL - ",
                                                 "n BYTE_ARRAY OPTIONAL JSON ", "ts INT64 OPTIONAL TIMESTAMP_MILLIS "});
        // Statistics of every row group against the records it holds.
        std::size_t checked = 0;
        for (auto row : plan.rows("meta-" + tag)) {
            auto cells = row.get_array().value();
            const auto group = static_cast<std::size_t>(std::stoll(std::string(cells.at(0).get_string().value())));
            const std::string column(cells.at(1).get_string().value());
            CAPTURE(group);
            CAPTURE(column);
            CHECK(std::string(cells.at(2).get_string().value()) == parquet_codec_name(codec));
            const std::string encodings(cells.at(3).get_string().value());
            CHECK(encodings.find(column == "b" ? "PLAIN" : "RLE_DICTIONARY") != std::string::npos);
            const std::vector<sample_record> held(records.begin() + static_cast<std::ptrdiff_t>(group * 150),
                                                  records.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>((group + 1) * 150, records.size())));
            CHECK(std::stoll(std::string(cells.at(7).get_string().value())) == static_cast<std::int64_t>(held.size()));
            std::int64_t nulls = 0;
            if (column == "big" || column == "id") {
                std::optional<std::int64_t> lo, hi;
                for (const auto& r : held) {
                    const auto v = column == "id" ? std::optional<std::int64_t>(r.id) : r.big;
                    if (!v) ++nulls;
                    else {
                        lo = lo ? std::min(*lo, *v) : *v;
                        hi = hi ? std::max(*hi, *v) : *v;
                    }
                }
                CHECK(std::stoll(std::string(cells.at(4).get_string().value())) == *lo);
                CHECK(std::stoll(std::string(cells.at(5).get_string().value())) == *hi);
            } else if (column == "d") {
                std::optional<double> lo, hi;
                for (const auto& r : held) {
                    if (!r.d) ++nulls;
                    else {
                        lo = lo ? std::min(*lo, *r.d) : *r.d;
                        hi = hi ? std::max(*hi, *r.d) : *r.d;
                    }
                }
                check_double(cells.at(4).value(), lo);
                check_double(cells.at(5).value(), hi);
            } else if (column == "s") {
                std::optional<std::string> lo, hi;
                for (const auto& r : held) {
                    if (!r.s) ++nulls;
                    else {
                        lo = lo ? std::min(*lo, *r.s) : *r.s;
                        hi = hi ? std::max(*hi, *r.s) : *r.s;
                    }
                }
                check_text(cells.at(4).value(), lo);
                check_text(cells.at(5).value(), hi);
            } else {
                for (const auto& r : held) {
                    const bool null = column == "b" ? !r.b : column == "n" ? !r.nested : !r.ts_ms;
                    nulls += null ? 1 : 0;
                }
            }
            CHECK(std::stoll(std::string(cells.at(6).get_string().value())) == nulls);
            ++checked;
        }
        CHECK(checked == 3 * 7);
        const auto h = plan.answer("hyparquet-" + tag);
        for (auto c : h["codecs"].get_array()) CHECK(std::string(c.get_string().value()) == parquet_codec_name(codec));
    }
}

TEST_CASE("Parquet: dictionary fallback to PLAIN and several row groups, seen by hyparquet and DuckDB") {
    scratch_dir dir;
    parquet_options o;
    o.columns = {{"id", column_type::int64, false}, {"unique", column_type::string}, {"few", column_type::string}};
    o.codec = compression::none;
    o.row_group_rows = 400;
    o.limits.dictionary_bytes = 2048;
    o.limits.page_bytes = 4096;
    parquet_writer w(o);
    static const char* const few[] = {"red", "green", "blue"};
    for (int i = 0; i < 1000; ++i) {
        const std::string json = "{\"id\":" + std::to_string(i) + ",\"unique\":\"value-" + std::to_string(i * 7919) +
                                 "-ü\",\"few\":\"" + few[i % 3] + "\"}";
        REQUIRE(w.append(json));
    }
    const fs::path f = dir.path / "fallback.parquet";
    write_file(f, finish_object(w));
    reader_plan plan;
    plan.duckdb("rows", "select id, \"unique\", few from read_parquet('" + f.string() + "') order by id");
    plan.duckdb("groups", "select count(distinct row_group_id) from parquet_metadata('" + f.string() + "')");
    plan.hyparquet("hyparquet", f);
    plan.run(dir.path);
    std::int64_t expect = 0;
    for (auto row : plan.rows("rows")) {
        auto cells = row.get_array().value();
        check_int(cells.at(0).value(), expect);
        check_text(cells.at(1).value(), "value-" + std::to_string(expect * 7919) + "-ü");
        check_text(cells.at(2).value(), std::string(few[expect % 3]));
        ++expect;
    }
    CHECK(expect == 1000);
    CHECK(plan.rows("groups").at(0).at(0).get_string().value() == "3");
    CHECK(plan.rows("hyparquet").size() == 1000);
    // encoding_stats per row group and column: [page_type, encoding, count] as hyparquet decoded them.
    std::size_t groups = 0;
    for (auto group : plan.answer("hyparquet")["encoding_stats"].get_array()) {
        ++groups;
        auto columns = group.get_array().value();
        REQUIRE(columns.size() == 3);
        const auto pages = [](simdjson::dom::element column, std::string_view encoding) {
            std::int64_t n = 0;
            for (auto e : column.get_array()) {
                const std::string_view page = e["page_type"].get_string().value();
                if (page == "DATA_PAGE" && e["encoding"].get_string().value() == encoding) n += e["count"].get_int64().value();
            }
            return n;
        };
        CHECK(pages(columns.at(1).value(), "RLE_DICTIONARY") >= 1); // until the dictionary overflowed
        CHECK(pages(columns.at(1).value(), "PLAIN") >= 1);          // after
        CHECK(pages(columns.at(2).value(), "RLE_DICTIONARY") >= 1);
        CHECK(pages(columns.at(2).value(), "PLAIN") == 0);
    }
    CHECK(groups == 3);
}

TEST_CASE("Hive partition folders a=<n>/zone=<s>/ read with hive_partitioning=true") {
    scratch_dir dir;
    const auto records = sluice_test::sample_records(300);
    std::map<std::pair<int, std::string>, std::vector<sample_record>> partitions;
    for (const auto& r : records) partitions[{static_cast<int>(r.id % 3), r.id % 2 == 0 ? "x" : "y"}].push_back(r);
    for (const auto& [key, rows] : partitions) {
        parquet_writer w(sample_parquet(default_parquet_codec()));
        write_file(dir.path / ("a=" + std::to_string(key.first)) / ("zone=" + key.second) / "part-0.parquet",
                   write_records(w, rows));
    }
    reader_plan plan;
    plan.duckdb("partitions", "select a, zone, count(*), sum(id) from read_parquet('" + dir.path.string() +
                                  "/*/*/*.parquet', hive_partitioning=true) group by a, zone order by a, zone");
    plan.duckdb("rows", "select id, s, big, d, b, n::VARCHAR, epoch_ms(ts) from read_parquet('" + dir.path.string() +
                            "/*/*/*.parquet', hive_partitioning=true) order by id");
    plan.run(dir.path);
    auto it = partitions.begin();
    for (auto row : plan.rows("partitions")) {
        REQUIRE(it != partitions.end());
        auto cells = row.get_array().value();
        CHECK(std::stoll(std::string(cells.at(0).get_string().value())) == it->first.first);
        CHECK(std::string(cells.at(1).get_string().value()) == it->first.second);
        std::int64_t sum = 0;
        for (const auto& r : it->second) sum += r.id;
        check_int(cells.at(2).value(), static_cast<std::int64_t>(it->second.size()));
        check_double(cells.at(3).value(), static_cast<double>(sum));
        ++it;
    }
    CHECK(it == partitions.end());
    check_rows(plan.rows("rows"), records, true);
}

TEST_CASE("bad records are refused one by one; every good record is in each object") {
    scratch_dir dir;
    const auto records = sluice_test::sample_records(120);
    const std::string bad[] = {R"({"id":1,"s":"cut)", "garbage", "{\"id\":5,\"s\":\"\xC0\xAF\"}", R"({"id":"seven"})",
                               R"({"id":8,"big":"8"})", R"({"id":9,"d":"nine"})"};
    ndjson_writer nw;
    csv_writer cw;
    parquet_writer pw(sample_parquet(compression::none));
    parquet_options inferred;
    inferred.infer_records = 50;
    parquet_writer iw(inferred);
    std::size_t refused[4] = {}, fed_to_inferred = 0;
    for (std::size_t i = 0; i < records.size(); ++i) {
        const std::string json = records[i].json();
        REQUIRE(nw.append(json));
        REQUIRE(cw.append(json));
        REQUIRE(pw.append(json));
        REQUIRE(iw.append(json));
        const std::string& b = bad[i % std::size(bad)];
        refused[0] += nw.append(b).ok() ? 0 : 1;
        refused[1] += cw.append(b).ok() ? 0 : 1;
        refused[2] += pw.append(b).ok() ? 0 : 1;
        if (!iw.schema().empty()) { // while it infers, a well-formed record would widen the types instead
            refused[3] += iw.append(b).ok() ? 0 : 1;
            ++fed_to_inferred;
        }
    }
    // NDJSON takes any JSON value and CSV has no types: they refuse what is not JSON (3 of the 6 kinds);
    // Parquet also refuses the type contradictions (all 6).
    CHECK(refused[0] == records.size() / 2);
    CHECK(refused[1] == records.size() / 2);
    CHECK(refused[2] == records.size());
    CHECK(fed_to_inferred > 0);
    CHECK(refused[3] == fed_to_inferred);
    write_file(dir.path / "ok.ndjson", finish_object(nw));
    write_file(dir.path / "ok.csv", finish_object(cw));
    write_file(dir.path / "ok.parquet", finish_object(pw));
    write_file(dir.path / "inferred.parquet", finish_object(iw));
    reader_plan plan;
    plan.duckdb("ndjson", "select count(*) from read_json('" + (dir.path / "ok.ndjson").string() +
                              "', format='newline_delimited', columns={'id':'VARCHAR'})");
    plan.duckdb("csv", "select count(*) from read_csv('" + (dir.path / "ok.csv").string() +
                           "', header=true, all_varchar=true, allow_quoted_nulls=false)");
    plan.duckdb("parquet", parquet_select + (dir.path / "ok.parquet").string() + "') order by id");
    plan.duckdb("inferred", "select count(*) from read_parquet('" + (dir.path / "inferred.parquet").string() + "')");
    plan.duckdb("inferred-types", "select column_name, column_type from (describe select * from read_parquet('" +
                                      (dir.path / "inferred.parquet").string() + "'))");
    plan.run(dir.path);
    // Every good record, and for NDJSON and CSV the well-formed "bad" ones they have no reason to refuse.
    check_int(plan.rows("ndjson").at(0).at(0).value(), static_cast<std::int64_t>(2 * records.size() - refused[0]));
    check_int(plan.rows("csv").at(0).at(0).value(), static_cast<std::int64_t>(2 * records.size() - refused[1]));
    std::vector<std::string> types;
    for (auto row : plan.rows("inferred-types"))
        types.push_back(std::string(row.at(0).get_string().value()) + ":" + std::string(row.at(1).get_string().value()));
    // Within the first 50 records "ts" held integers and RFC 3339 strings: a json column.
    CHECK(types == std::vector<std::string>{"id:BIGINT", "s:VARCHAR", "big:BIGINT", "d:DOUBLE", "b:BOOLEAN", "n:JSON",
                                            "ts:JSON"});
    check_int(plan.rows("inferred").at(0).at(0).value(), static_cast<std::int64_t>(records.size()));
    check_rows(plan.rows("parquet"), records, true);
}

} // TEST_SUITE

} // namespace test_formats_readers

#endif // SLUICE_HAS_SIMDJSON
