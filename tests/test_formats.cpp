// The NDJSON and CSV object writers and what all writers share: exact output, per-record errors that
// leave the object untouched, streamed output, whole-object compression. Independent readers (DuckDB,
// hyparquet) check the same writers in test_formats_readers.cpp.

#include <doctest/doctest.h>

#if SLUICE_HAS_SIMDJSON

#include <sluice/formats/csv.hpp>
#include <sluice/formats/ndjson.hpp>
#include <sluice/formats/parquet/writer.hpp>

#include "support/decompress.hpp"
#include "support/format_records.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_formats {

using namespace sluice::formats;
using sluice::compression;

namespace {

/// The codecs this build can compress whole objects with.
std::vector<compression> stream_codecs() {
    std::vector<compression> out{compression::none};
    for (auto c : {compression::gzip, compression::zstd, compression::lz4})
        if (sluice::compression_available(c)) out.push_back(c);
    return out;
}

/// Records that every writer must refuse, with the kind it must give (none parse as a CSV/Parquet row
/// of sample_columns()).
std::vector<std::pair<std::string, record_error_kind>> bad_records() {
    return {{R"({"id":1,"s":"unterminated)", record_error_kind::invalid_json},
            {"not json at all", record_error_kind::invalid_json},
            {"{\"id\":2,\"s\":\"bad \xC3\x28 utf8\"}", record_error_kind::invalid_utf8},
            {"{\"id\":3} trailing", record_error_kind::invalid_json},
            {"", record_error_kind::invalid_json}};
}

ndjson_options ndjson_with(compression codec, bool background) {
    ndjson_options o{codec};
    o.background_compression = background;
    return o;
}

} // namespace

TEST_CASE("formats: a refused record leaves every writer's object exactly as it was") {
    const auto records = sluice_test::sample_records(300);
    const auto bad = bad_records();
    for (const compression codec : stream_codecs()) {
        CAPTURE(sluice::to_string(codec));
        ndjson_writer clean_ndjson({codec}), mixed_ndjson({codec});
        csv_options co;
        co.codec = codec;
        csv_writer clean_csv(co), mixed_csv(co);
        std::size_t refused = 0;
        for (std::size_t i = 0; i < records.size(); ++i) {
            const std::string json = records[i].json();
            REQUIRE(clean_ndjson.append(json));
            REQUIRE(clean_csv.append(json));
            REQUIRE(mixed_ndjson.append(json));
            REQUIRE(mixed_csv.append(json));
            const auto& [text, kind] = bad[i % bad.size()];
            const auto r1 = mixed_ndjson.append(text);
            const auto r2 = mixed_csv.append(text);
            REQUIRE_FALSE(r1.ok());
            REQUIRE_FALSE(r2.ok());
            CHECK(r1.error().kind == kind);
            CHECK(r2.error().kind == kind);
            ++refused;
        }
        CHECK(refused == records.size());
        CHECK(mixed_ndjson.record_count() == records.size());
        CHECK(mixed_csv.record_count() == records.size());
        CHECK(finish_object(mixed_ndjson) == finish_object(clean_ndjson));
        CHECK(finish_object(mixed_csv) == finish_object(clean_csv));
    }
}

TEST_CASE("formats: NDJSON passes valid records through, one line each, and re-serialises multi-line ones") {
    ndjson_writer w;
    REQUIRE(w.append(R"(  {"a": 1, "b": "x y"}  )"));
    REQUIRE(w.append("{\n  \"pretty\": [1,\n 2],\r\n  \"s\": \"line\\nbreak\"\n}\n"));
    REQUIRE(w.append("42"));
    REQUIRE(w.append(R"("just a string")"));
    const auto bad = w.append(R"({"a":)");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().kind == record_error_kind::invalid_json);
    CHECK(bad.error().what().find("not valid JSON") != std::string::npos);
    CHECK(w.record_count() == 4);
    CHECK(finish_object(w) == "{\"a\": 1, \"b\": \"x y\"}\n{\"pretty\":[1,2],\"s\":\"line\\nbreak\"}\n42\n\"just a string\"\n");
    CHECK(w.extension() == ".ndjson");
    CHECK(w.content_type() == "application/x-ndjson");
    CHECK(w.content_encoding().empty());
    CHECK_THROWS_AS((void)w.append("{}"), std::logic_error);
}

TEST_CASE("formats: compact JSON text of a value is written in place and reads back as the same value") {
    const char* docs[] = {
        R"({"a":[1,-2,3.5,1.0,-0.0,1e300,18446744073709551615,true,false,null],"b":{"c":{"d":[]},"e":{}}})",
        "{\"ctl\":\"\\u0001\\b\\f\\n\\r\\t\\\"\\\\/\",\"utf8\":\"h\u00e9llo \u2603 \U0001F600\",\"k\\\"ey\":\"v\"}",
        R"([[[[["deep"]]]],{"x":0.1}])",
        R"("top")",
        "12345678901234567",
    };
    simdjson::dom::parser parser, again;
    for (const char* doc : docs) {
        CAPTURE(doc);
        simdjson::dom::element root;
        REQUIRE(parser.parse(std::string(doc)).get(root) == simdjson::SUCCESS);
        std::string text;
        sluice::formats::detail::append_json(text, root);
        simdjson::dom::element back;
        REQUIRE(again.parse(text).get(back) == simdjson::SUCCESS);
        CHECK(simdjson::minify(back) == simdjson::minify(root));
    }
    // Doubles inside arrays and objects keep a fraction, so readers still see floating point.
    simdjson::dom::element root;
    REQUIRE(parser.parse(std::string(R"({"a":[1.0,2.5,-3.0e2]})")).get(root) == simdjson::SUCCESS);
    std::string text;
    sluice::formats::detail::append_json(text, root);
    CHECK(text == R"({"a":[1.0,2.5,-300.0]})");
}

TEST_CASE("formats: CSV quotes per RFC 4180, keeps null apart from the empty string, and ends every line alike") {
    csv_writer w;
    REQUIRE(w.append(R"({"a":"x,y","b":"say \"hi\"","c":"two\r\nlines","d":null,"e":"","f":1.5e300,"g":[1,{"k":"v"}],"h":true})"));
    REQUIRE(w.append(R"({"h":false,"a":"plain","b":-9223372036854775808})")); // fields in another order; c..g missing
    const auto unknown = w.append(R"({"a":"x","zzz":1})");
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().kind == record_error_kind::unknown_field);
    CHECK(unknown.error().field == "zzz");
    const auto twice = w.append(R"({"a":"x","a":"y"})");
    REQUIRE_FALSE(twice.ok());
    CHECK(twice.error().kind == record_error_kind::duplicate_field);
    const auto array = w.append("[1,2]");
    REQUIRE_FALSE(array.ok());
    CHECK(array.error().kind == record_error_kind::not_an_object);
    CHECK(w.columns() == std::vector<std::string>{"a", "b", "c", "d", "e", "f", "g", "h"});
    CHECK(finish_object(w) == "a,b,c,d,e,f,g,h\r\n"
                              "\"x,y\",\"say \"\"hi\"\"\",\"two\r\nlines\",,\"\",1.5e+300,\"[1,{\"\"k\"\":\"\"v\"\"}]\",true\r\n"
                              "plain,-9223372036854775808,,,,,,false\r\n");
    CHECK(w.content_type() == "text/csv; charset=utf-8; header=present");
}

TEST_CASE("formats: CSV with declared columns, LF lines, another delimiter, ignored unknown fields and typed rows") {
    csv_options o;
    o.columns = {"id", "name", "score"};
    o.delimiter = ';';
    o.line_terminator = "\n";
    o.unknown = unknown_fields::ignore;
    csv_writer w(o);
    REQUIRE(w.append(R"({"name":"a;b","id":7,"extra":"dropped on request"})"));
    const cell row[] = {std::int64_t{8}, std::string_view("c,d"), 0.25};
    REQUIRE(w.append_row(row));
    REQUIRE(w.append(R"({"id":18446744073709551615,"name":"","score":true})")); // above int64: uint64
    const cell bad_utf8[] = {std::int64_t{9}, std::string_view("\xFF"), std::monostate{}};
    const auto r = w.append_row(bad_utf8);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == record_error_kind::invalid_utf8);
    CHECK(r.error().field == "name");
    CHECK(finish_object(w) == "id;name;score\n7;\"a;b\";\n8;c,d;0.25\n18446744073709551615;\"\";true\n");
    csv_options quote_delimiter;
    quote_delimiter.delimiter = '"';
    CHECK_THROWS_AS((void)csv_writer(quote_delimiter), std::invalid_argument);
    csv_options cr_lines;
    cr_lines.line_terminator = "\r";
    CHECK_THROWS_AS((void)csv_writer(cr_lines), std::invalid_argument);
    csv_options empty_header;
    empty_header.columns = {"x"};
    csv_writer h(empty_header);
    CHECK(finish_object(h) == "x\r\n"); // no records: the header alone
}

TEST_CASE("formats: take_output hands the object out as it is built; the pieces make the same object") {
    const auto records = sluice_test::sample_records(20000);
    for (const compression codec : stream_codecs()) {
        CAPTURE(sluice::to_string(codec));
        ndjson_writer streamed({codec}), whole({codec});
        std::string pieces;
        std::size_t takes_with_bytes = 0;
        for (const auto& r : records) {
            REQUIRE(streamed.append(r.json()));
            REQUIRE(whole.append(r.json()));
            if (streamed.pending_output_bytes() >= (codec == compression::none ? 64 * 1024 : 1)) {
                const auto before = streamed.output_bytes();
                pieces += streamed.take_output();
                CHECK(streamed.pending_output_bytes() == 0);
                CHECK(streamed.output_bytes() == before);
                ++takes_with_bytes;
            }
        }
        CHECK(takes_with_bytes >= 2); // the object came out in several pieces, not at the end
        pieces += finish_object(streamed);
        const std::string object = finish_object(whole);
        CHECK(pieces == object);
        CHECK(streamed.output_bytes() == object.size());
        std::string text;
        for (const auto& r : records) text += r.json() + "\n";
        CHECK(streamed.raw_bytes() == text.size());
        CHECK(sluice_test::decompress_object(codec, object) == text);
        if (codec != compression::none) CHECK(object.size() < text.size() / 2);
    }
}

TEST_CASE("formats: output buffers handed back are filled by the next objects, which come out the same") {
    auto& pool = detail::output_buffer_pool::instance();
    while (pool.take(0)) {} // other tests may have left buffers
    const auto records = sluice_test::sample_records(6000);
    // The memory of every piece handed back that the pool keeps (large enough).
    const auto write = [&](bool recycle, std::vector<const char*>* kept) {
        csv_writer w;
        std::string object;
        const auto hand_over = [&](std::string out) {
            object += out;
            if (kept && out.capacity() >= detail::output_buffer_pool::min_capacity) kept->push_back(out.data());
            if (recycle) recycle_output(std::move(out));
        };
        for (const auto& r : records) {
            REQUIRE(w.append(r.json()));
            if (w.pending_output_bytes() >= 100 * 1024) hand_over(w.take_output());
        }
        hand_over(finish_object(w));
        return object;
    };
    const std::string plain = write(false, nullptr);
    std::vector<const char*> first, second;
    CHECK(write(true, &first) == plain);
    REQUIRE(first.size() >= 3);
    CHECK(write(true, &second) == plain);
    REQUIRE(second.size() >= 3);
    // The pool held on to the first object's buffers (malloc could not hand them out meanwhile), so a
    // piece of the second object in one of them was written into recycled memory: all of them are.
    for (const char* p : second) CHECK(std::find(first.begin(), first.end(), p) != first.end());

    // Bounded: small buffers are not kept, and at most max_buffers are.
    while (pool.take(0)) {}
    recycle_output(std::string(1000, 'x'));
    CHECK_FALSE(pool.take(0));
    for (std::size_t i = 0; i < detail::output_buffer_pool::max_buffers + 3; ++i)
        recycle_output(std::string(detail::output_buffer_pool::min_capacity, 'x'));
    std::size_t kept = 0;
    while (pool.take(0)) ++kept;
    CHECK(kept == detail::output_buffer_pool::max_buffers);
}

TEST_SUITE("background compression") {

TEST_CASE("formats: objects compressed on the pool are byte for byte the inline ones, many at once") {
    const auto records = sluice_test::sample_records(6000);
    for (const compression codec : stream_codecs()) {
        if (codec == compression::none) continue;
        CAPTURE(sluice::to_string(codec));
        // Eight objects fed round-robin, so the pool has several streams queued at once.
        std::vector<ndjson_writer> background, inline_;
        std::vector<std::string> pieces(8), texts(8);
        for (int i = 0; i < 8; ++i) {
            background.emplace_back(ndjson_with(codec, true));
            inline_.emplace_back(ndjson_with(codec, false));
        }
        for (std::size_t n = 0; n < records.size(); ++n) {
            const std::size_t i = n % 8;
            const std::string json = records[n].json();
            REQUIRE(background[i].append(json));
            REQUIRE(inline_[i].append(json));
            texts[i] += json + "\n";
            if (n % 97 == 0) pieces[i] += background[i].take_output();
        }
        for (std::size_t i = 0; i < 8; ++i) {
            pieces[i] += finish_object(background[i]);
            const std::string expected = finish_object(inline_[i]);
            CHECK(pieces[i] == expected);
            CHECK(background[i].output_bytes() == expected.size());
            CHECK(sluice_test::decompress_object(codec, pieces[i]) == texts[i]);
        }
    }
}

TEST_CASE("formats: a background-compressed writer can be moved, or dropped with chunks still queued") {
    if (!sluice::compression_available(compression::zstd)) return;
    const auto records = sluice_test::sample_records(3000);
    std::string text;
    ndjson_writer first(ndjson_with(compression::zstd, true));
    for (std::size_t n = 0; n < records.size() / 2; ++n) {
        REQUIRE(first.append(records[n].json()));
        text += records[n].json() + "\n";
    }
    ndjson_writer moved(std::move(first)); // the stream and its queued chunks go along
    ndjson_writer assigned(ndjson_with(compression::zstd, true));
    REQUIRE(assigned.append(records[0].json()));
    assigned = std::move(moved); // the object it held is abandoned
    for (std::size_t n = records.size() / 2; n < records.size(); ++n) {
        REQUIRE(assigned.append(records[n].json()));
        text += records[n].json() + "\n";
    }
    CHECK(sluice_test::decompress_object(compression::zstd, finish_object(assigned)) == text);
    CHECK(assigned.buffered_bytes() > 0);

    for (int round = 0; round < 20; ++round) { // dropped while the pool may still be compressing
        ndjson_writer dropped(ndjson_with(compression::zstd, true));
        for (const auto& r : records) REQUIRE(dropped.append(r.json()));
    }
    ndjson_writer after(ndjson_with(compression::zstd, true)); // the pool still serves new objects
    REQUIRE(after.append(records[1].json()));
    CHECK(sluice_test::decompress_object(compression::zstd, finish_object(after)) == records[1].json() + "\n");
}

TEST_CASE("formats: begin_finish ends the object on the pool and sets an event; finish() then has nothing to wait for") {
    const auto records = sluice_test::sample_records(1500);
    for (const compression codec : stream_codecs()) {
        CAPTURE(sluice::to_string(codec));
        csv_options o;
        o.codec = codec;
        csv_writer background(o);
        o.background_compression = false;
        csv_writer inline_(o);
        for (const auto& r : records) {
            REQUIRE(background.append(r.json()));
            REQUIRE(inline_.append(r.json()));
        }
        sluice::async_event* ended = background.begin_finish();
        if (codec == compression::none) {
            CHECK(ended == nullptr); // nothing runs on the pool
        } else {
            REQUIRE(ended != nullptr);
            for (int i = 0; i < 2000 && !ended->is_set(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
            CHECK(ended->is_set());
            CHECK_THROWS_AS((void)background.append(records[0].json()), std::logic_error);
        }
        CHECK(inline_.begin_finish() == nullptr);
        CHECK(finish_object(background) == finish_object(inline_));
    }
}

} // TEST_SUITE("background compression")

// Outside the suite ThreadSanitizer runs: it stops a child of a multi-threaded fork that starts threads.
TEST_CASE("formats: a fork()ed child compresses in the background with a pool of its own") {
    if (!sluice::compression_available(compression::zstd)) return;
    const auto records = sluice_test::sample_records(2000);
    const auto compress_all = [&] {
        ndjson_writer w(ndjson_with(compression::zstd, true));
        std::string text;
        for (const auto& r : records) {
            if (!w.append(r.json())) return false;
            text += r.json() + "\n";
        }
        return sluice_test::decompress_object(compression::zstd, finish_object(w)) == text;
    };
    REQUIRE(compress_all()); // the parent's pool is running
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) ::_exit(compress_all() ? 0 : 1); // hangs if it waited on the parent's threads
    int status = 0;
    for (int i = 0; i < 200 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) ::usleep(50'000);
    if (::waitpid(pid, &status, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        FAIL("the child hung");
    }
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(compress_all()); // and the parent's still serves
}

TEST_CASE("formats: extensions and content encodings follow the codec") {
    if (sluice::compression_available(compression::gzip)) {
        ndjson_writer n({compression::gzip});
        CHECK(n.extension() == ".ndjson.gz");
        CHECK(n.content_encoding() == "gzip");
    }
    if (sluice::compression_available(compression::zstd)) {
        csv_options o;
        o.codec = compression::zstd;
        csv_writer c(o);
        CHECK(c.extension() == ".csv.zst");
        CHECK(c.content_encoding() == "zstd");
    }
    if (sluice::compression_available(compression::lz4)) {
        ndjson_writer n({compression::lz4});
        CHECK(n.extension() == ".ndjson.lz4");
        CHECK(n.content_encoding() == "lz4");
    }
    CHECK_THROWS_AS(ndjson_writer({compression::snappy}), std::invalid_argument); // no stream format
    CHECK_THROWS_AS(ndjson_writer({static_cast<compression>(77)}), std::invalid_argument);
}

TEST_CASE("formats: RFC 3339 timestamps") {
    struct sample {
        const char* text;
        std::int64_t millis;
    };
    // Milliseconds checked against Python's datetime.fromisoformat.
    for (const sample s : {sample{"2024-01-02T03:04:05.123Z", 1704164645123}, sample{"1969-12-31T23:59:59.999Z", -1},
                           sample{"2000-02-29T12:00:00+05:30", 951805800000}, sample{"1970-01-01t00:00:00z", 0},
                           sample{"2024-07-15 10:20:30.5+00:00", 1721038830500},
                           sample{"9999-12-31T23:59:59.999-01:00", 253402304399999},
                           sample{"2024-01-02T03:04:05.123000000Z", 1704164645123}}) {
        CAPTURE(s.text);
        CHECK(parse_rfc3339(s.text, time_unit::millis) == s.millis);
    }
    CHECK(parse_rfc3339("2024-01-02T03:04:05.123456Z", time_unit::micros) == 1704164645123456);
    for (const char* bad : {"2024-01-02T03:04:05.1234Z", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
                            "2024-01-01T24:00:00Z", "2024-01-01T00:00:60Z", "2024-01-01T00:00:00", "2024-01-01",
                            "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00+0100", "x024-01-01T00:00:00Z",
                            "2024-01-01T00:00:00Z ", ""}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_rfc3339(bad, time_unit::millis).has_value());
    }
}

TEST_CASE("formats: schema inference widens to the narrowest type that holds every value") {
    parquet_options o;
    o.infer_records = 4;
    parquet_writer w(o);
    REQUIRE(w.append(R"({"i":1,"n":1,"b":true,"s":"x","mix":1,"nest":{"a":1},"nul":null})"));
    REQUIRE(w.append(R"({"i":-5,"n":2.5,"b":false,"s":"y","mix":"one","nest":[1]})"));
    REQUIRE(w.append(R"({"i":7,"n":18446744073709551615,"late":1})"));
    CHECK(w.schema().empty()); // still looking
    const auto dup = w.append(R"({"i":1,"i":2})");
    REQUIRE_FALSE(dup.ok());
    CHECK(dup.error().kind == record_error_kind::duplicate_field);
    REQUIRE(w.append(R"({"i":8})"));
    REQUIRE(w.schema().size() == 8);
    const auto type_of = [&](std::string_view name) { return w.schema()[*w.schema().find(name)].type; };
    CHECK(type_of("i") == column_type::int64);
    CHECK(type_of("n") == column_type::float64);
    CHECK(type_of("b") == column_type::boolean);
    CHECK(type_of("s") == column_type::string);
    CHECK(type_of("mix") == column_type::json);
    CHECK(type_of("nest") == column_type::json);
    CHECK(type_of("nul") == column_type::string);
    CHECK(type_of("late") == column_type::int64);
    CHECK(w.record_count() == 4);
    // Now the schema holds: a later record that contradicts it is refused.
    const auto r = w.append(R"({"i":"text"})");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == record_error_kind::type_mismatch);
    CHECK(r.error().field == "i");
    const auto u = w.append(R"({"i":1,"new_field":2})");
    REQUIRE_FALSE(u.ok());
    CHECK(u.error().kind == record_error_kind::unknown_field);
}

} // namespace test_formats

#endif // SLUICE_HAS_SIMDJSON
