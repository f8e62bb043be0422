// The object engine on a local directory: journal entries, key templates and partitions, close rules,
// refused records, flush and stop, the memory budget, and a restart that rebuilds what a stop left.
// The crash tests (SIGKILL) are in test_objects_crash.cpp; S3 in test_objects_s3.cpp.

#include <doctest/doctest.h>

#if SLUICE_HAS_SIMDJSON

#include <sluice/objects/engine.hpp>
#include <sluice/objects/journal.hpp>
#include <sluice/objects/key_template.hpp>
#include <sluice/objects/local_directory.hpp>
#include <sluice/objects/partitioner.hpp>

#include "support/objects.hpp"

#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_objects {

using namespace sluice;
using namespace sluice::objects;
using namespace std::chrono_literals;
using sluice_test::scratch;
namespace fs = std::filesystem;

namespace {

simdjson::dom::element parse(simdjson::dom::parser& p, const std::string& json) {
    simdjson::dom::element e;
    REQUIRE(p.parse(json).get(e) == simdjson::SUCCESS);
    return e;
}

} // namespace

TEST_SUITE("objects") {

TEST_CASE("journal entries round-trip and damaged ones are refused") {
    std::string open, record, close;
    encode_open(open, 42, "region=eu/", "a/b.ndjson", 1'700'000'000'123);
    encode_record(record, 300, R"({"x":1})");
    encode_close(close, 7);
    const auto o = decode_journal_entry(open);
    REQUIRE(o);
    CHECK(o->kind == journal_entry_kind::open);
    CHECK(o->object == 42);
    CHECK(o->partition == "region=eu/");
    CHECK(o->key == "a/b.ndjson");
    CHECK(o->opened_at_ms == 1'700'000'000'123);
    const auto r = decode_journal_entry(record);
    REQUIRE(r);
    CHECK(r->kind == journal_entry_kind::record);
    CHECK(r->object == 300);
    CHECK(r->record == R"({"x":1})");
    const auto c = decode_journal_entry(close);
    REQUIRE(c);
    CHECK(c->kind == journal_entry_kind::close);
    CHECK(c->object == 7);
    // Every proper prefix of an open entry is refused, as is a wrong version or kind.
    for (std::size_t n = 0; n < open.size(); ++n) CHECK_FALSE(decode_journal_entry(std::string_view(open).substr(0, n)));
    std::string bad = open;
    bad[0] = 2;
    CHECK_FALSE(decode_journal_entry(bad));
    bad = open;
    bad[1] = 'X';
    CHECK_FALSE(decode_journal_entry(bad));
    CHECK_FALSE(decode_journal_entry(close + "x"));
}

TEST_CASE("key templates: placeholders, strftime in UTC, and the checks") {
    key_template t("logs/{partitions}%Y/%m/%d/{name}-%H%M%S-{seq}-{uuid}{ext}");
    key_values v{"region=eu/", "orders", 42, "abc", ".parquet", 1'715'000'000'123}; // 2024-05-06T12:53:20Z
    CHECK(t.render(v) == "logs/region=eu/2024/05/06/orders-125320-0000000042-abc.parquet");
    CHECK(t.uses_time());
    std::string time_key;
    t.append_time_key(time_key, 1'715'000'000'123);
    CHECK(time_key == "2024/05/06/\x1f-125320-\x1f"); // the literal parts with conversions, rendered
    CHECK(key_template("{{x}}/{seq}").render(v) == "{x}/0000000042");
    CHECK_THROWS_AS(key_template("{partitions}{name}"), std::invalid_argument);      // no {seq} or {uuid}
    CHECK_THROWS_AS(key_template("/abs/{uuid}"), std::invalid_argument);             // absolute
    CHECK_THROWS_AS(key_template("a/../{uuid}"), std::invalid_argument);             // ".."
    CHECK_THROWS_AS(key_template("a//{uuid}"), std::invalid_argument);               // empty segment
    CHECK_THROWS_AS(key_template("{uuid}/{partitions}"), std::invalid_argument);     // ends with a folder
    CHECK_THROWS_AS(key_template("{nope}-{uuid}"), std::invalid_argument);           // unknown placeholder
    CHECK_THROWS_AS(key_template("{uuid"), std::invalid_argument);
}

TEST_CASE("partitions: Hive folders, escaping, defaults, refusals, and the projection") {
    key_template keys("{partitions}{uuid}");
    layout_options layout;
    layout.partition_by = {"region", "n", "flag"};
    partitioner p(layout, keys);
    simdjson::dom::parser json;
    placement out;
    REQUIRE(p.place(parse(json, R"({"region":"eu/west","n":7,"flag":true,"x":1})"), out));
    CHECK(out.folders == "region=eu%2Fwest/n=7/flag=true/");
    CHECK(out.projected == R"({"x":1})");
    REQUIRE(p.place(parse(json, R"({"region":"..","n":null,"x":"a\"b"})"), out));
    CHECK(out.folders == "region=../n=__HIVE_DEFAULT_PARTITION__/flag=__HIVE_DEFAULT_PARTITION__/");
    CHECK(out.projected == R"({"x":"a\"b"})");
    REQUIRE(p.place(parse(json, R"({"region":"a=b:c%d","n":1.5,"flag":false})"), out));
    CHECK(out.folders == "region=a%3Db%3Ac%25d/n=1.5/flag=false/");
    CHECK(out.projected == "{}");
    const auto nested = p.place(parse(json, R"({"region":{"a":1}})"), out);
    REQUIRE_FALSE(nested);
    CHECK(nested.error().field == "region");
    CHECK_FALSE(p.place(parse(json, "[1,2]"), out));

    layout.partition_policy = partition_values::reject;
    layout.keep_partition_columns = true;
    partitioner strict(layout, keys);
    for (const char* bad : {R"({"region":"a/b"})", R"({"region":".."})", R"({"region":"x..y"})", R"({"region":"a\\b"})",
                            R"({"region":"a\nb"})"}) {
        const auto r = strict.place(parse(json, bad), out);
        REQUIRE_FALSE(r);
        CHECK(r.error().field == "region");
        CHECK(r.error().what().find("folders") != std::string::npos);
        CHECK(r.error().what().find("a/b") == std::string::npos); // never the value
    }
    REQUIRE(strict.place(parse(json, R"({"region":"eu","n":1})"), out));
    CHECK(out.projected.empty()); // kept as it came
}

TEST_CASE("record times group records and render the key's time parts") {
    key_template keys("%Y/%m/%d/%H/{uuid}");
    layout_options layout;
    layout.time = time_source::record;
    layout.time_field = "at";
    partitioner p(layout, keys);
    simdjson::dom::parser json;
    placement a, b, c;
    REQUIRE(p.place(parse(json, R"({"at":"2024-05-06T07:08:09.123Z"})"), a));
    REQUIRE(p.place(parse(json, R"({"at":"2024-05-06T07:59:59+00:00"})"), b));
    REQUIRE(p.place(parse(json, R"({"at":1715000000000})"), c)); // 2024-05-06T12:53:20Z
    CHECK(a.time_ms == 1'714'979'289'123);
    CHECK(a.partition_key == b.partition_key); // the same hour
    CHECK(a.partition_key != c.partition_key);
    CHECK(keys.render({"", "", 0, "u", "", c.time_ms}) == "2024/05/06/12/u");
    CHECK_FALSE(p.place(parse(json, R"({"at":"yesterday"})"), a));
    CHECK_FALSE(p.place(parse(json, R"({"other":1})"), a));
}

namespace {

/// A local directory engine and its loop, for one test case.
struct local_rig {
    io_loop loop;
    local_directory dest;
    object_engine engine;
    local_rig(const scratch& dir, object_engine_options o, local_directory_options lo = {})
        : dest(loop, with_root(dir, std::move(lo))), engine(loop, dest, std::move(o)) {}
    static local_directory_options with_root(const scratch& dir, local_directory_options lo) {
        lo.root = dir / "out";
        lo.name = "t";
        return lo;
    }
    template <class F>
    void run(F body) {
        loop.run_until_complete(body());
    }
};

/// Delivers every record concurrently and collects the receipts or errors, by record index.
struct deliveries {
    std::vector<std::optional<object_receipt>> receipts;
    std::vector<std::string> errors;
    std::vector<outcome_kind> error_kinds;
    async_scope scope;

    void start(object_engine& engine, const std::vector<std::string>& records) {
        receipts.assign(records.size(), std::nullopt);
        errors.assign(records.size(), {});
        error_kinds.assign(records.size(), outcome_kind::ok);
        for (std::size_t i = 0; i < records.size(); ++i) scope.spawn(one(engine, records[i], i));
    }
    task<void> one(object_engine& engine, std::string record, std::size_t i) {
        try {
            receipts[i] = co_await engine.deliver(std::move(record));
        } catch (const delivery_error& e) {
            errors[i] = e.what();
            error_kinds[i] = e.kind();
        }
    }
};

} // namespace

TEST_CASE("records become objects: each record once and in order, receipts name their file") {
    scratch dir;
    auto o = sluice_test::local_engine_options(dir.path);
    o.close.max_records = 30;
    local_rig rig(dir, o);
    std::vector<std::string> records;
    for (int i = 0; i < 100; ++i) records.push_back(sluice_test::id_record(i));
    deliveries d;
    rig.run([&]() -> task<void> {
        co_await rig.engine.start();
        d.start(rig.engine, records);
        co_await rig.engine.flush();
        co_await d.scope.join();
        const auto stats = rig.engine.stats();
        CHECK(stats.received == 100);
        CHECK(stats.accepted == 100);
        CHECK(stats.written == 100);
        CHECK(stats.objects_written == 4);
        CHECK(stats.buffered() == 0);
        co_await rig.engine.stop();
    });
    const auto files = sluice_test::files_below(dir / "out");
    REQUIRE(files.size() == 4);
    std::vector<int> ids;
    std::map<std::string, std::size_t> per_file;
    for (const auto& [name, text] : files) {
        CHECK(name.find("t-") == 0);
        CHECK(name.size() > 7);
        CHECK(name.substr(name.size() - 7) == ".ndjson");
        for (const auto& line : sluice_test::lines_of(text)) {
            ids.push_back(sluice_test::id_of(line));
            CHECK(line == sluice_test::id_record(ids.back()));
        }
        per_file[name] = sluice_test::lines_of(text).size();
    }
    std::sort(ids.begin(), ids.end());
    for (int i = 0; i < 100; ++i) CHECK(ids[static_cast<std::size_t>(i)] == i);
    std::multiset<std::size_t> sizes;
    for (const auto& [n, c] : per_file) sizes.insert(c);
    CHECK(sizes == std::multiset<std::size_t>{10, 30, 30, 30});
    for (std::size_t i = 0; i < records.size(); ++i) {
        REQUIRE(d.receipts[i]);
        CHECK(d.receipts[i]->kind == outcome_kind::ok);
        const auto rel = fs::relative(d.receipts[i]->location, dir / "out").string();
        REQUIRE(files.count(rel) == 1);
        CHECK(files.at(rel).find(records[i] + "\n") != std::string::npos);
    }
    CHECK_FALSE(fs::exists(dir / "state" / "journal" / "00000000000000000000.seg")); // all acknowledged
}

TEST_CASE("refused records get a clear error and nothing else is lost") {
    scratch dir;
    auto o = sluice_test::local_engine_options(dir.path);
    formats::csv_options csv;
    csv.columns = {"id", "region", "text"};
    o.format = csv;
    o.layout.partition_by = {"region"};
    o.layout.partition_policy = partition_values::reject;
    o.layout.keep_partition_columns = true;
    local_rig rig(dir, o);
    std::vector<std::string> records = {
        sluice_test::id_record(0),
        "{\"id\":1,\"region\":\"eu\",\"text\":",          // not JSON
        sluice_test::id_record(2),
        "{\"id\":3,\"region\":\"eu\",\"colour\":\"red\"}", // not a column
        sluice_test::id_record(4, "../etc"),                     // a partition value that could make folders
        sluice_test::id_record(5, "a/b"),
        sluice_test::id_record(6, "us"),
        "[1,2,3]",                                              // not an object
    };
    deliveries d;
    rig.run([&]() -> task<void> {
        co_await rig.engine.start();
        d.start(rig.engine, records);
        co_await rig.engine.flush();
        co_await d.scope.join();
        CHECK(rig.engine.stats().refused == 5);
        CHECK(rig.engine.stats().written == 3);
        co_await rig.engine.stop();
    });
    for (const std::size_t ok : {0u, 2u, 6u}) CHECK(d.receipts[ok]);
    for (const std::size_t bad : {1u, 3u, 4u, 5u, 7u}) {
        CAPTURE(bad);
        CHECK_FALSE(d.receipts[bad]);
        CHECK(d.error_kinds[bad] == outcome_kind::invalid);
    }
    CHECK(d.errors[1].find("not valid JSON") != std::string::npos);
    CHECK(d.errors[3] == "field 'colour': not a column of this object");
    CHECK(d.errors[4].find("field 'region'") == 0);
    CHECK(d.errors[4].find("../etc") == std::string::npos);
    CHECK(d.errors[5].find("field 'region'") == 0);
    CHECK(d.errors[7].find("JSON objects") != std::string::npos);
    const auto files = sluice_test::files_below(dir / "out");
    REQUIRE(files.size() == 2);
    std::string eu, us;
    for (const auto& [name, text] : files) (name.find("region=eu/") == 0 ? eu : us) = text;
    CHECK(eu == "id,region,text\r\n0,eu,record 0\r\n2,eu,record 2\r\n");
    CHECK(us == "id,region,text\r\n6,us,record 6\r\n");
}

TEST_CASE("partitions: one object per partition value, Hive folders, partition columns left out") {
    scratch dir;
    auto o = sluice_test::local_engine_options(dir.path);
    o.layout.partition_by = {"region"};
    o.layout.key_template = "data/{partitions}{seq}{ext}";
    local_rig rig(dir, o);
    rig.run([&]() -> task<void> {
        co_await rig.engine.start();
        for (int i = 0; i < 30; ++i) {
            const char* regions[] = {"eu", "us", "a/b"};
            co_await rig.engine.submit(sluice_test::id_record(i, regions[i % 3]));
        }
        co_await rig.engine.flush();
        co_await rig.engine.stop();
    });
    const auto files = sluice_test::files_below(dir / "out");
    REQUIRE(files.size() == 3);
    std::set<std::string> folders;
    for (const auto& [name, text] : files) {
        folders.insert(name.substr(0, name.rfind('/')));
        const auto lines = sluice_test::lines_of(text);
        CHECK(lines.size() == 10);
        for (const auto& line : lines) CHECK(line.find("region") == std::string::npos);
    }
    CHECK(folders == std::set<std::string>{"data/region=a%2Fb", "data/region=eu", "data/region=us"});
}

TEST_CASE("an object closes when it is old enough, without a flush") {
    scratch dir;
    auto o = sluice_test::local_engine_options(dir.path);
    o.close.max_age = 50ms;
    local_rig rig(dir, o);
    rig.run([&]() -> task<void> {
        co_await rig.engine.start();
        auto receipt = co_await rig.engine.deliver(sluice_test::id_record(1)); // returns when written
        CHECK(receipt.kind == outcome_kind::ok);
        CHECK(rig.engine.stats().objects_written == 1);
        co_await rig.engine.stop();
    });
    CHECK(sluice_test::files_below(dir / "out").size() == 1);
}

TEST_CASE("the memory budget closes the largest objects early and bounds what is held") {
    scratch dir;
    auto o = sluice_test::local_engine_options(dir.path);
    o.layout.partition_by = {"region"};
    o.memory_budget = 256u << 10; // 200 open objects with a compressor and its staging hold more
    o.batch_records = 16;         // what one batch opens comes on top of the budget until it is evicted
    formats::ndjson_options nd;
    nd.codec = compression::zstd; // every open object holds a compressor
    o.format = nd;
    local_rig rig(dir, o);
    std::uint64_t peak = 0;
    rig.run([&]() -> task<void> {
        co_await rig.engine.start();
        for (int i = 0; i < 4000; ++i) co_await rig.engine.submit(sluice_test::id_record(i, "p" + std::to_string(i % 200)));
        co_await rig.engine.flush();
        CHECK(rig.engine.stats().written == 4000);
        CHECK(rig.engine.stats().evictions > 0);
        peak = rig.engine.stats().memory_peak;
        co_await rig.engine.stop();
    });
    MESSAGE("peak memory " << peak << " of a budget of " << o.memory_budget);
    CHECK(peak <= o.memory_budget + (256u << 10)); // after eviction: what completing objects still hold
    std::size_t lines = 0;
    for (const auto& [name, text] : sluice_test::files_below(dir / "out")) {
        (void)text;
        CHECK(name.find(".ndjson.zst") != std::string::npos);
        ++lines;
    }
    CHECK(lines > 200); // more objects than partitions: some closed early
}

TEST_CASE("the memory budget closes the largest open object, or the oldest, and leaves the others open") {
    // "small" opens first and stays small; "big" grows by 8 KiB records past the budget.
    const auto small_record = [](int id) { return "{\"id\":" + std::to_string(id) + ",\"region\":\"small\"}"; };
    const auto big_record = [](int id) {
        return "{\"id\":" + std::to_string(id) + ",\"region\":\"big\",\"pad\":\"" + std::string(8192, 'x') + "\"}";
    };
    for (const evict_policy policy : {evict_policy::largest, evict_policy::oldest}) {
        CAPTURE(static_cast<int>(policy));
        scratch dir;
        auto o = sluice_test::local_engine_options(dir.path);
        o.layout.partition_by = {"region"};
        o.layout.key_template = "{partitions}{seq}{ext}";
        o.memory_budget = 64u << 10;
        o.write_threshold = std::size_t{1} << 30; // output stays in the writers: memory grows with records
        o.batch_records = 1;
        o.evict = policy;
        local_rig rig(dir, o);
        std::uint64_t evictions = 0;
        rig.run([&]() -> task<void> {
            co_await rig.engine.start();
            co_await rig.engine.submit(small_record(0));
            for (int i = 1; i <= 30; ++i) {
                co_await rig.engine.submit(big_record(1000 + i));
                co_await rig.engine.submit(small_record(i));
            }
            co_await rig.engine.flush();
            CHECK(rig.engine.stats().written == 61);
            evictions = rig.engine.stats().evictions;
            co_await rig.engine.stop();
        });
        std::size_t small_objects = 0, big_objects = 0, records = 0;
        std::set<int> ids;
        for (const auto& [name, text] : sluice_test::files_below(dir / "out")) {
            (name.rfind("region=small/", 0) == 0 ? small_objects : big_objects) += 1;
            for (const auto& line : sluice_test::lines_of(text)) {
                ids.insert(sluice_test::id_of(line));
                ++records;
            }
        }
        CHECK(records == 61);
        CHECK(ids.size() == 61);
        CHECK(evictions > 0);
        CHECK(big_objects >= 3); // 240 KiB of big records under a 64 KiB budget
        if (policy == evict_policy::largest) CHECK(small_objects == 1); // never the largest: closed by flush alone
        else CHECK(small_objects > 1);                                  // the oldest: closed first, again and again
    }
}

TEST_CASE("an object that cannot be written keeps its records in the journal; the next start writes them") {
    scratch dir;
    auto o = sluice_test::local_engine_options(dir.path);
    o.layout.partition_by = {"region"};
    o.layout.key_template = "{partitions}{seq}{ext}";
    local_directory_options lo;
    lo.retry = {.max_attempts = 2, .initial_backoff = 1ms, .max_backoff = 2ms, .max_elapsed = 1000ms};
    fs::create_directories(dir / "out");
    sluice_test::slurp(dir / "out"); // nothing
    { std::ofstream blocker(dir / "out" / "region=eu"); blocker << "a file where a folder should be"; }
    {
        local_rig rig(dir, o, lo);
        deliveries d;
        std::vector<std::string> records = {sluice_test::id_record(1), sluice_test::id_record(2), sluice_test::id_record(3, "us")};
        rig.run([&]() -> task<void> {
            co_await rig.engine.start();
            d.start(rig.engine, records);
            co_await rig.engine.flush();
            co_await d.scope.join();
            const auto report = co_await rig.engine.stop();
            CHECK(report.records_left == 2);
        });
        CHECK(d.error_kinds[0] == outcome_kind::retry);
        CHECK(d.errors[0].find("region=eu") != std::string::npos);
        CHECK(d.receipts[2]);
    }
    fs::remove(dir / "out" / "region=eu");
    {
        local_rig rig(dir, o, lo);
        rig.run([&]() -> task<void> {
            co_await rig.engine.start();
            CHECK(rig.engine.stats().replayed_records == 2);
            co_await rig.engine.flush();
            CHECK(rig.engine.stats().written == 2);
            co_await rig.engine.stop();
        });
    }
    const auto files = sluice_test::files_below(dir / "out");
    REQUIRE(files.size() == 2);
    for (const auto& [name, text] : files)
        if (name.find("region=eu/") == 0) CHECK(text == "{\"id\":1,\"text\":\"record 1\"}\n{\"id\":2,\"text\":\"record 2\"}\n");
}

} // TEST_SUITE("objects")

} // namespace test_objects

#endif // SLUICE_HAS_SIMDJSON
