// The pieces of the Parquet writer against the specification's own examples (the Thrift compact
// protocol, the RLE / bit-packing hybrid) and the writer's guarantees (file layout, refused records,
// row groups streamed out, dictionary fallback). DuckDB and hyparquet read its files in
// test_formats_readers.cpp.

#include <doctest/doctest.h>

#if SLUICE_HAS_SIMDJSON

#include <sluice/formats/parquet/writer.hpp>

#include "support/format_records.hpp"

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_formats_parquet {

using namespace sluice::formats;
namespace pq = sluice::formats::parquet;

namespace {

std::string bytes(std::initializer_list<int> b) {
    std::string s;
    for (const int v : b) s.push_back(static_cast<char>(v));
    return s;
}

std::vector<sluice::compression> page_codecs() {
    std::vector<sluice::compression> out{sluice::compression::none};
    for (auto c : {sluice::compression::snappy, sluice::compression::gzip, sluice::compression::zstd, sluice::compression::lz4})
        if (sluice::compression_available(c)) out.push_back(c);
    return out;
}

std::uint32_t le32_at(const std::string& s, std::size_t at) {
    std::uint32_t v = 0;
    for (int b = 3; b >= 0; --b) v = v << 8 | static_cast<std::uint8_t>(s[at + static_cast<std::size_t>(b)]);
    return v;
}

} // namespace

TEST_CASE("parquet: Thrift compact protocol encoding (thrift-compact-protocol.md)") {
    std::string out;
    pq::thrift::compact_writer w(out);
    w.field_i32(1, 3);                  // delta 1, type i32 (5): 0x15; zigzag(3) = 6
    w.field_i64(3, -1);                 // delta 2, type i64 (6): 0x26; zigzag(-1) = 1
    w.field_binary(4, "ab");            // delta 1, binary (8): 0x18, length 2
    w.field_bool(5, true);              // delta 1, true (1): 0x11
    w.field_i32(100, 150);              // long form: type byte 0x05, zigzag(100) = 200 = 0xC8 0x01; zigzag(150) = 300 = 0xAC 0x02
    w.begin_struct(101);                // delta 1, struct (12): 0x1C
    w.field_i32(1, 0);                  // nested ids restart: 0x15 0x00
    w.end();                            // 0x00
    w.begin_list(102, pq::thrift::ctype::i32, 2); // 0x19, then size 2 << 4 | 5 = 0x25
    w.list_i32(1);
    w.list_i32(-2);
    w.begin_list(103, pq::thrift::ctype::binary, 20); // 0x19, then 0xF8 and varint 20
    for (int i = 0; i < 20; ++i) w.list_binary("");
    w.end();
    std::string expected = bytes({0x15, 0x06, 0x26, 0x01, 0x18, 0x02, 'a', 'b', 0x11, 0x05, 0xC8, 0x01, 0xAC, 0x02,
                                  0x1C, 0x15, 0x00, 0x00, 0x19, 0x25, 0x02, 0x03, 0x19, 0xF8, 0x14});
    expected.append(20, '\0');
    expected.push_back('\0');
    CHECK(out == expected);
}

TEST_CASE("parquet: RLE / bit-packing hybrid (Encodings.md)") {
    // The specification's example: 0..7 with bit width 3 pack into 10001000 11000110 11111010.
    const std::vector<std::uint32_t> counting = {0, 1, 2, 3, 4, 5, 6, 7};
    std::string out;
    pq::rle_hybrid(out, std::span<const std::uint32_t>(counting), 3);
    CHECK(out == bytes({0x03, 0x88, 0xC6, 0xFA})); // header: one group of 8, bit-packed (1 << 1 | 1)

    // A run of 10 equal values is an RLE run: header 10 << 1, the value in one byte.
    const std::vector<std::uint8_t> run(10, 1);
    out.clear();
    pq::rle_hybrid_with_length(out, std::span<const std::uint8_t>(run), 1);
    CHECK(out == bytes({0x02, 0x00, 0x00, 0x00, 0x14, 0x01}));

    // 3 values then a run: one bit-packed group of 8 (the run's first 5 inside it), then the rest of
    // the run as RLE; width 9 stores the RLE value in two bytes.
    std::vector<std::uint32_t> mixed = {300, 2, 5};
    mixed.insert(mixed.end(), 20, 7u);
    out.clear();
    pq::rle_hybrid(out, std::span<const std::uint32_t>(mixed), 9);
    REQUIRE(out.size() == 1 + 9 + 1 + 2);
    CHECK(static_cast<std::uint8_t>(out[0]) == 0x03);
    CHECK(out.substr(10) == bytes({15 << 1, 0x07, 0x00}));
    // Unpack the group and compare with the input.
    std::uint64_t acc = 0;
    int have = 0;
    std::size_t at = 1;
    for (std::size_t i = 0; i < 8; ++i) {
        while (have < 9) {
            acc |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(out[at++])) << have;
            have += 8;
        }
        CHECK((acc & 0x1FF) == mixed[i]);
        acc >>= 9;
        have -= 9;
    }
    // A trailing partial group is padded to a whole group.
    const std::vector<std::uint8_t> three = {1, 0, 1};
    out.clear();
    pq::rle_hybrid(out, std::span<const std::uint8_t>(three), 1);
    CHECK(out == bytes({0x03, 0x05}));
}

TEST_CASE("parquet: file layout, magic, footer length, row groups handed out as they close") {
    const auto records = sluice_test::sample_records(1000);
    for (const auto codec : page_codecs()) {
        CAPTURE(sluice::to_string(codec));
        parquet_options o;
        o.columns = sluice_test::sample_columns();
        o.codec = codec;
        o.row_group_rows = 300;
        parquet_writer w(o);
        std::string file = w.take_output();
        CHECK(file == "PAR1");
        std::size_t groups_seen_early = 0;
        for (const auto& r : records) {
            REQUIRE(w.append(r.json()));
            if (w.pending_output_bytes() > 0) {
                file += w.take_output();
                ++groups_seen_early;
            }
        }
        CHECK(groups_seen_early == 3); // rows 300, 600, 900: before finish()
        CHECK(w.row_group_count() == 3);
        file += finish_object(w);
        CHECK(w.row_group_count() == 4);
        CHECK(w.output_bytes() == file.size());
        REQUIRE(file.size() > 12);
        CHECK(file.substr(file.size() - 4) == "PAR1");
        const std::uint32_t footer = le32_at(file, file.size() - 8);
        CHECK(footer > 0);
        CHECK(footer < file.size() - 12);
        CHECK(w.record_count() == records.size());
        CHECK(w.raw_bytes() > 0);
    }
}

TEST_CASE("parquet: a refused record leaves the file exactly as it was") {
    const auto records = sluice_test::sample_records(500);
    parquet_options o;
    o.columns = sluice_test::sample_columns();
    o.codec = sluice::compression::none;
    o.row_group_rows = 128;
    parquet_writer clean(o), mixed(o);
    const std::pair<std::string, record_error_kind> bad[] = {
        {R"({"id":1,"big":"12"})", record_error_kind::type_mismatch},
        {R"({"id":1,"big":1.5})", record_error_kind::type_mismatch},
        {R"({"id":1,"big":9223372036854775808})", record_error_kind::out_of_range},
        {R"({"s":"no id"})", record_error_kind::missing_field},
        {R"({"id":null})", record_error_kind::missing_field},
        {R"({"id":1,"b":"true"})", record_error_kind::type_mismatch},
        {R"({"id":1,"ts":"yesterday"})", record_error_kind::type_mismatch},
        {R"({"id":1,"ts":1.5})", record_error_kind::type_mismatch},
        {R"({"id":1,"s":5})", record_error_kind::type_mismatch},
        {R"({"id":1,"other":5})", record_error_kind::unknown_field},
        {R"({"id":1,"id":2})", record_error_kind::duplicate_field},
        {"[1]", record_error_kind::not_an_object},
        {R"({"id":1,"s":"x)", record_error_kind::invalid_json},
        {"{\"id\":1,\"s\":\"\xE2\x82\"}", record_error_kind::invalid_utf8},
    };
    for (std::size_t i = 0; i < records.size(); ++i) {
        REQUIRE(clean.append(records[i].json()));
        REQUIRE(mixed.append(records[i].json()));
        const std::string& text = bad[i % std::size(bad)].first;
        const record_error_kind kind = bad[i % std::size(bad)].second;
        CAPTURE(text);
        const auto r = mixed.append(text);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == kind);
        CHECK_FALSE(r.error().message.empty());
    }
    CHECK(mixed.record_count() == records.size());
    CHECK(finish_object(mixed) == finish_object(clean));
}

TEST_CASE("parquet: typed rows give the same file as the JSON records") {
    parquet_options o;
    o.columns = {{"id", column_type::int64, false}, {"x", column_type::float64}, {"s", column_type::string},
                 {"j", column_type::json}, {"t", column_type::timestamp_micros}};
    o.codec = sluice::compression::none;
    parquet_writer json(o), typed(o);
    REQUIRE(json.append(R"({"id":1,"x":2,"s":"é","j":{"a":[1, 2]},"t":"2024-01-02T03:04:05.123456Z"})"));
    REQUIRE(json.append(R"({"id":2,"x":null})"));
    const cell row1[] = {std::int64_t{1}, std::int64_t{2}, std::string_view("é"), std::string_view(R"({"a": [1,2]})"),
                         std::string_view("2024-01-02T03:04:05.123456Z")};
    const cell row2[] = {std::int64_t{2}, std::monostate{}, std::monostate{}, std::monostate{}, std::monostate{}};
    REQUIRE(typed.append_row(row1));
    REQUIRE(typed.append_row(row2));
    const cell no_id[] = {std::monostate{}, 1.0, std::monostate{}, std::monostate{}, std::monostate{}};
    CHECK(typed.append_row(no_id).error().kind == record_error_kind::missing_field);
    const cell bad_json[] = {std::int64_t{3}, 1.0, std::monostate{}, std::string_view("{nope"), std::monostate{}};
    CHECK(typed.append_row(bad_json).error().kind == record_error_kind::invalid_json);
    const cell short_row[] = {std::int64_t{3}};
    CHECK(typed.append_row(short_row).error().kind == record_error_kind::type_mismatch);
    CHECK(finish_object(typed) == finish_object(json));
}

TEST_CASE("parquet: the dictionary falls back to PLAIN when it outgrows its limit") {
    pq::column_limits limits;
    limits.dictionary_bytes = 4096;
    limits.page_bytes = 2048;
    sluice::block_codec none(sluice::compression::none);
    pq::column_writer c(column{"s", column_type::string, true}, limits, pq::codec::uncompressed, none);
    std::vector<std::string> values;
    for (int i = 0; i < 2000; ++i) values.push_back("value-" + std::to_string(i * 7919));
    for (const auto& v : values) c.add(cell{std::string_view(v)});
    c.add(cell{});
    std::string chunk;
    const pq::column_meta m = c.flush(chunk, 4);
    CHECK(m.num_values == 2001);
    CHECK(m.stats.null_count == 1);
    REQUIRE(m.dictionary_page_offset.has_value());
    CHECK(*m.dictionary_page_offset == 4);
    CHECK(m.data_page_offset > 4);
    CHECK(m.total_compressed_size == static_cast<std::int64_t>(chunk.size()));
    int dictionary_pages = 0, rle_dictionary_pages = 0, plain_pages = 0;
    for (const auto& e : m.encoding_stats) {
        if (e.type == pq::page_type::dictionary_page) dictionary_pages += e.count;
        else if (e.used == pq::encoding::rle_dictionary) rle_dictionary_pages += e.count;
        else if (e.used == pq::encoding::plain) plain_pages += e.count;
    }
    CHECK(dictionary_pages == 1);
    CHECK(rle_dictionary_pages >= 1);
    CHECK(plain_pages >= 2);
    // The next chunk starts with a fresh dictionary.
    for (int i = 0; i < 10; ++i) c.add(cell{std::string_view("same")});
    chunk.clear();
    const pq::column_meta next = c.flush(chunk, 0);
    REQUIRE(next.encoding_stats.size() == 2);
    CHECK(next.encoding_stats[1].used == pq::encoding::rle_dictionary);
    REQUIRE(next.stats.min_value.has_value());
    CHECK(*next.stats.min_value == "same");
}

} // namespace test_formats_parquet

#endif // SLUICE_HAS_SIMDJSON

namespace test_formats_parquet {

TEST_CASE("block_codec: gzip members and snappy blocks round trip and refuse corruption") {
    std::string text;
    for (int i = 0; i < 2000; ++i) text += "record " + std::to_string(i % 37) + ", ";
    for (const auto c : {sluice::compression::gzip, sluice::compression::snappy}) {
        if (!sluice::compression_available(c)) {
            CHECK_THROWS_AS((void)sluice::block_codec(c), std::invalid_argument);
            continue;
        }
        CAPTURE(sluice::to_string(c));
        sluice::block_codec codec(c);
        const auto in = std::as_bytes(std::span<const char>(text.data(), text.size()));
        std::vector<std::byte> packed(codec.max_compressed_size(text.size()));
        for (int round = 0; round < 2; ++round) { // the second round reuses the codec's streams
            const std::size_t n = codec.compress(in, packed);
            CHECK(n < text.size() / 4);
            if (c == sluice::compression::gzip) {
                CHECK(packed[0] == std::byte{0x1f}); // RFC 1952 member header
                CHECK(packed[1] == std::byte{0x8b});
            }
            std::vector<std::byte> back(text.size());
            codec.decompress(std::span<const std::byte>(packed.data(), n), back);
            CHECK(std::memcmp(back.data(), text.data(), text.size()) == 0);
            std::vector<std::byte> corrupt(packed.begin(), packed.begin() + static_cast<std::ptrdiff_t>(n));
            corrupt[n / 2] ^= std::byte{0x5a};
            corrupt.resize(n - 3);
            CHECK_THROWS_AS(codec.decompress(corrupt, back), sluice::compression_error);
        }
    }
    CHECK_THROWS_AS((void)sluice::block_codec(sluice::compression::gzip, 10), std::invalid_argument);
}

} // namespace test_formats_parquet
