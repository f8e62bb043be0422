// disk_buffer recovery from damaged files (issue 14, section 1): every case lays out the damage byte by
// byte (tests/support/disk_files.hpp) or damages files a stopped buffer wrote, reopens, and counts
// records by id.

#include <doctest/doctest.h>

#include <sluice/delivery/disk_buffer.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/metrics.hpp>

#include "support/disk_files.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_disk_recovery {

using namespace sluice;
using sluice_test::bytes;
using sluice_test::scratch_dir;

namespace {

namespace fs = std::filesystem;

std::string payload_of(record_id id) { return "record-" + std::to_string(id); }

disk_buffer_options options_for(const fs::path& dir) {
    disk_buffer_options o;
    o.directory = dir;
    o.segment_bytes = 1024; // about 25 records of payload_of() per segment
    o.block_bytes = 256;
    return o;
}

/// One run of a process: opens, runs `body`, closes.
template <class Body>
void session(const disk_buffer_options& o, Body body) {
    io_loop loop;
    auto run = [&]() -> task<void> {
        auto b = co_await disk_buffer::open(loop, o);
        co_await body(*b);
        co_await b->close();
    };
    loop.run_until_complete(run());
}

task<std::vector<disk_record>> read_all(disk_buffer& b) {
    std::vector<disk_record> out;
    while (auto r = co_await b.read_next()) out.push_back(std::move(*r));
    co_return out;
}

/// Appends records 0..n-1 (payload_of) in batches of 5.
void write_records(const disk_buffer_options& o, record_id n) {
    session(o, [&](disk_buffer& b) -> task<void> {
        for (record_id i = 0; i < n; i += 5) {
            std::vector<bytes> data;
            for (record_id k = i; k < std::min(n, i + 5); ++k) data.push_back(sluice_test::to_bytes(payload_of(k)));
            std::vector<std::span<const std::byte>> spans(data.begin(), data.end());
            CHECK(co_await b.append_batch(spans) == i);
        }
    });
}

struct reopened {
    recovery_report report;
    std::vector<record_id> ids;
    std::vector<std::string> lines; // what on_corruption got
};

/// Opens, reads everything (checking each payload), closes without acknowledging.
reopened reopen(disk_buffer_options o) {
    reopened out;
    o.on_corruption = [&](const std::string& line) { out.lines.push_back(line); };
    session(o, [&](disk_buffer& b) -> task<void> {
        out.report = b.recovery();
        const auto all = co_await read_all(b); // named: GCC 12 and temporaries in co_await
        for (const auto& r : all) {
            CHECK(std::string(reinterpret_cast<const char*>(r.data.data()), r.data.size()) == payload_of(r.id));
            out.ids.push_back(r.id);
        }
    });
    return out;
}

std::vector<record_id> range(record_id first, record_id end) {
    std::vector<record_id> v;
    for (record_id i = first; i < end; ++i) v.push_back(i);
    return v;
}

std::vector<fs::path> segments_in(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".seg") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

/// The first record id a segment file's header names.
record_id first_id_of(const fs::path& file) {
    const bytes b = sluice_test::read_file(file);
    return detail::disk::load64(b.data() + 24);
}

std::uint64_t issues_of(const recovery_report& r, disk_buffer_issue::kind kind) {
    return static_cast<std::uint64_t>(
        std::count_if(r.issues.begin(), r.issues.end(), [&](const disk_buffer_issue& i) { return i.what == kind; }));
}

std::uint64_t sum_of_records(const recovery_report& r) {
    std::uint64_t n = 0;
    for (const auto& i : r.issues) n += i.records;
    return n;
}

} // namespace

TEST_SUITE("disk_buffer recovery") {

TEST_CASE("a valid frame with an implausible id is corruption: skipped and counted, the rest opens") {
    // Ids far from the segment's (2^40: a bitmap of 128 GiB), near 2^64 (wrapping), and a block that
    // claims 2^31 records in a few bytes: before, open() threw std::bad_alloc on every restart.
    for (const record_id bad : {record_id{1} << 40, ~record_id{0} - 3, record_id{1} << 62}) {
        CAPTURE(bad);
        scratch_dir dir;
        bytes seg = sluice_test::segment_header(1, 0);
        for (record_id id = 0; id < 5; ++id) sluice_test::append(seg, sluice_test::record_frame(id, payload_of(id)));
        sluice_test::append(seg, sluice_test::record_frame(bad, payload_of(bad)));
        for (record_id id = 5; id < 8; ++id) sluice_test::append(seg, sluice_test::record_frame(id, payload_of(id)));
        bytes block = sluice_test::stored_block(8, 1, sluice_test::record_frame(8, payload_of(8)));
        detail::disk::store32(block.data() + 16, 1u << 31); // count
        detail::disk::store32(block.data() + 36, crc32c(block.data(), 36));
        sluice_test::append(seg, block);
        sluice_test::append(seg, sluice_test::record_frame(8, payload_of(8)));
        sluice_test::write_file(sluice_test::segment_path(dir.path, 1), seg);

        const auto r = reopen(options_for(dir.path));
        CHECK(r.ids == range(0, 9));
        CHECK(r.report.records_recovered == 9);
        CHECK(issues_of(r.report, disk_buffer_issue::kind::corrupt) >= 1);
        CHECK(r.report.records_lost == 0); // the ids in between are all there
        CHECK(!r.lines.empty());
        // Appending goes on after the plausible ids, not after the implausible one.
        session(options_for(dir.path), [&](disk_buffer& b) -> task<void> {
            CHECK(b.next_id() == 9);
            co_return;
        });
    }
}

TEST_CASE("an implausible jump after corrupt bytes is not trusted; a plausible one counts the records lost") {
    scratch_dir dir;
    bytes seg = sluice_test::segment_header(1, 0);
    for (record_id id = 0; id < 3; ++id) sluice_test::append(seg, sluice_test::record_frame(id, payload_of(id)));
    // Records 3 and 4 damaged beyond recognition (their bytes zeroed): 2 lost.
    bytes damaged = sluice_test::record_frame(3, payload_of(3));
    sluice_test::append(damaged, sluice_test::record_frame(4, payload_of(4)));
    std::fill(damaged.begin(), damaged.end(), std::byte{0});
    sluice_test::append(seg, damaged);
    // A frame claiming id 10^6 right after them: more records than the zeroed bytes could hold.
    sluice_test::append(seg, sluice_test::record_frame(1'000'000, "forged"));
    for (record_id id = 5; id < 9; ++id) sluice_test::append(seg, sluice_test::record_frame(id, payload_of(id)));
    sluice_test::write_file(sluice_test::segment_path(dir.path, 1), seg);

    const auto r = reopen(options_for(dir.path));
    std::vector<record_id> expected = range(0, 3);
    for (record_id id = 5; id < 9; ++id) expected.push_back(id);
    CHECK(r.ids == expected);
    CHECK(r.report.records_lost == 2);
    CHECK(r.report.corrupt_records_skipped == 2);
}

TEST_CASE("records handed out are never marked done through another segment's ids") {
    // Both segment headers are damaged; segment 2 starts with a block of ids 5..14, overlapping
    // segment 1's 0..9, whose first record is corrupt. Before, reading that block (for 10..14) marked
    // records 5..9 of segment 1, handed out but not acknowledged, as done: never delivered again.
    scratch_dir dir;
    bytes seg1 = sluice_test::segment_header(1, 0);
    seg1[0] = std::byte{'X'};
    for (record_id id = 0; id < 10; ++id) sluice_test::append(seg1, sluice_test::record_frame(id, payload_of(id)));
    sluice_test::write_file(sluice_test::segment_path(dir.path, 1), seg1);
    bytes seg2 = sluice_test::segment_header(2, 15);
    seg2[0] = std::byte{'X'};
    bytes inner;
    for (record_id id = 5; id < 15; ++id) sluice_test::append(inner, sluice_test::record_frame(id, payload_of(id), id == 5));
    sluice_test::append(seg2, sluice_test::stored_block(5, 10, inner));
    for (record_id id = 15; id < 20; ++id) sluice_test::append(seg2, sluice_test::record_frame(id, payload_of(id)));
    sluice_test::write_file(sluice_test::segment_path(dir.path, 2), seg2);

    std::vector<record_id> expected = range(0, 10);
    for (record_id id = 15; id < 20; ++id) expected.push_back(id);
    const auto first = reopen(options_for(dir.path));
    CHECK(first.ids == expected);
    CHECK(first.report.records_lost == 5); // 10..14 were only in the overlapping block
    // Nothing was acknowledged: all of it comes back, every time, and nothing is counted twice.
    for (int i = 0; i < 2; ++i) {
        const auto again = reopen(options_for(dir.path));
        CHECK(again.ids == expected);
        CHECK(again.report.records_lost == 0);
    }
}

TEST_CASE("a frame skipped because a later segment holds its ids stays skipped once that segment is gone") {
    // Found by fuzz/targets/disk_recovery.hpp. Segment 1 (header: first id 1) starts with a valid frame
    // of id 5000, then holds records 1..5; segment 2 holds only a header naming 100. The first open
    // skips 5000 (segment 2's ids) and hands out 1..5; segment 2, empty, is deleted. Before, the second
    // open, with no segment 2 to bound it, took 5000 for segment 1's start and cut 1..5 off as stale.
    scratch_dir dir;
    bytes seg1 = sluice_test::segment_header(1, 1);
    sluice_test::append(seg1, sluice_test::record_frame(5000, payload_of(5000)));
    for (record_id id = 1; id < 6; ++id) sluice_test::append(seg1, sluice_test::record_frame(id, payload_of(id)));
    sluice_test::write_file(sluice_test::segment_path(dir.path, 1), seg1);
    sluice_test::write_file(sluice_test::segment_path(dir.path, 2), sluice_test::segment_header(2, 100));

    const auto first = reopen(options_for(dir.path));
    CHECK(first.ids == range(1, 6));
    CHECK(issues_of(first.report, disk_buffer_issue::kind::corrupt) >= 1);
    CHECK(segments_in(dir.path).size() == 1);
    // Nothing was acknowledged: all of it comes back, every time.
    for (int i = 0; i < 2; ++i) {
        const auto again = reopen(options_for(dir.path));
        CHECK(again.ids == range(1, 6));
        CHECK(issues_of(again.report, disk_buffer_issue::kind::stale) == 0);
    }
}

TEST_CASE("a later open takes a damaged segment's records from where the open that handed them out did") {
    // Found by fuzz/targets/disk_recovery.hpp (regressions stray-first-id-then-header-below-floor and
    // checkpoint-first-id-after-skipped-frames). Segment 2's header names 2, below segment 1's ids, so
    // the first open does not trust it; after 40 corrupt bytes comes record 1000, which that open takes
    // as the segment's first and hands out. Once segment 1 is acknowledged and gone, nothing is below
    // the header any more: trusted, it made record 1000 an implausible jump (998 ids after 40 bytes)
    // and the record never came back. The checkpoint now keeps where the first record is.
    scratch_dir dir;
    bytes seg1 = sluice_test::segment_header(1, 10);
    for (record_id id = 10; id < 15; ++id) sluice_test::append(seg1, sluice_test::record_frame(id, payload_of(id)));
    bytes seg2 = sluice_test::segment_header(2, 2);
    sluice_test::append(seg2, bytes(40, std::byte{0xab}));
    const std::uint64_t first_offset = seg2.size();
    for (record_id id = 1000; id < 1003; ++id) sluice_test::append(seg2, sluice_test::record_frame(id, payload_of(id)));
    sluice_test::write_file(sluice_test::segment_path(dir.path, 1), seg1);
    sluice_test::write_file(sluice_test::segment_path(dir.path, 2), seg2);

    std::vector<record_id> handed_out;
    session(options_for(dir.path), [&](disk_buffer& b) -> task<void> {
        const auto all = co_await read_all(b);
        for (const auto& r : all) {
            handed_out.push_back(r.id);
            if (r.id < 15) b.acknowledge(r.id);
        }
    });
    CHECK(handed_out == std::vector<record_id>{10, 11, 12, 13, 14, 1000, 1001, 1002});
    REQUIRE(segments_in(dir.path).size() == 1); // segment 1 is gone
    const auto ck = detail::disk::parse_checkpoint(sluice_test::read_file(dir.path / "acks"));
    REQUIRE(ck.has_value());
    REQUIRE(ck->entries.count(2) == 1);
    CHECK(ck->entries.at(2).first_id == 1000);
    CHECK(ck->entries.at(2).first_offset == first_offset);
    for (int i = 0; i < 2; ++i) {
        const auto again = reopen(options_for(dir.path));
        CHECK(again.ids == range(1000, 1003));
        CHECK(again.report.records_lost == 0);
    }
}

TEST_CASE("files that claim the last ids: their records are delivered, appends refused clearly, acks kept") {
    // Found by fuzz/targets/disk_recovery.hpp: a record at max_record_id - 1 made the buffer continue at
    // the limit, and the checkpoint naming that next id was refused as corrupt on the next open, so
    // every acknowledged record came back (regression record-below-the-id-limit-...).
    scratch_dir dir;
    const record_id top = detail::disk::max_record_id;
    bytes seg1 = sluice_test::segment_header(1, top - 2);
    for (record_id id = top - 2; id < top; ++id) sluice_test::append(seg1, sluice_test::record_frame(id, payload_of(id)));
    sluice_test::write_file(sluice_test::segment_path(dir.path, 1), seg1);
    bool refused = false;
    std::string why;
    session(options_for(dir.path), [&](disk_buffer& b) -> task<void> {
        const auto all = co_await read_all(b);
        CHECK(all.size() == 2);
        b.acknowledge(top - 2);
        try {
            co_await b.append(std::string("one more"));
        } catch (const std::length_error& e) {
            refused = true;
            why = e.what();
        }
    });
    CHECK(refused);
    CHECK(why.find("record ids exhausted") != std::string::npos);
    CHECK(why.find("nothing was appended") != std::string::npos);
    const auto again = reopen(options_for(dir.path));
    CHECK(again.ids == std::vector<record_id>{top - 1}); // the acknowledged one stays acknowledged
    CHECK(issues_of(again.report, disk_buffer_issue::kind::bad_file) == 0);
}

TEST_CASE("a checkpoint entry without the first record's offset (older sluice) reads as not known") {
    detail::disk::segment_table::map_type segments;
    detail::disk::segment s;
    s.seq = 4;
    s.first_id = 10;
    s.end_id = 10;
    s.grow(20);
    s.first_offset = 120;
    segments.emplace(4, s);
    detail::disk::byte_buffer buf;
    detail::disk::encode_checkpoint(buf, segments, 5, 20);
    const auto with = detail::disk::parse_checkpoint(buf.view());
    REQUIRE(with.has_value());
    CHECK(with->entries.at(4).first_offset == 120);
    // What older sluice wrote: flags without bit 1 and a zero in that place; the CRC fixed up.
    bytes old(buf.view().begin(), buf.view().end());
    std::byte* e = old.data() + detail::disk::ack_header_size;
    detail::disk::store32(e + 24, detail::disk::load32(e + 24) & ~detail::disk::ack_first_offset_flag);
    detail::disk::store32(e + 36, 0);
    detail::disk::store32(old.data() + old.size() - 4, crc32c(old.data(), old.size() - 4));
    const auto without = detail::disk::parse_checkpoint(old);
    REQUIRE(without.has_value());
    CHECK(without->entries.at(4).first_offset == 0);
    CHECK(without->entries.at(4).first_id == 10);
}

TEST_CASE("a corrupt record inside a block loses only that block's records, in its own segment") {
    scratch_dir dir;
    bytes seg = sluice_test::segment_header(1, 0);
    for (record_id id = 0; id < 3; ++id) sluice_test::append(seg, sluice_test::record_frame(id, payload_of(id)));
    bytes inner;
    for (record_id id = 3; id < 6; ++id)
        sluice_test::append(inner, sluice_test::record_frame(id, payload_of(id), id == 4)); // 4 is corrupt
    sluice_test::append(seg, sluice_test::stored_block(3, 3, inner));
    for (record_id id = 6; id < 8; ++id) sluice_test::append(seg, sluice_test::record_frame(id, payload_of(id)));
    sluice_test::write_file(sluice_test::segment_path(dir.path, 1), seg);

    disk_buffer_options o = options_for(dir.path);
    std::vector<record_id> got;
    disk_buffer_stats stats;
    session(o, [&](disk_buffer& b) -> task<void> {
        const auto all = co_await read_all(b);
        for (const auto& r : all) got.push_back(r.id);
        stats = b.stats();
    });
    CHECK(got == std::vector<record_id>{0, 1, 2, 3, 6, 7}); // 3 came out before the damage was seen
    CHECK(stats.records_lost == 2);
    CHECK(stats.records_pending == 6);
    // Handed out but not acknowledged: all six come back; the lost ones are not counted again.
    const auto again = reopen(o);
    CHECK(again.ids == std::vector<record_id>{0, 1, 2, 3, 6, 7});
}

TEST_CASE("a next segment whose header claims an id far beyond this one's end: reported, nothing allocated for it") {
    // Found by the disk_recovery fuzz target: the lost tail of a segment was added to its bitmap up to
    // the next segment's first id, however far (std::bad_alloc again).
    scratch_dir dir;
    bytes seg1 = sluice_test::segment_header(1, 0);
    for (record_id id = 0; id < 4; ++id) sluice_test::append(seg1, sluice_test::record_frame(id, payload_of(id)));
    sluice_test::write_file(sluice_test::segment_path(dir.path, 1), seg1);
    const record_id far = record_id{1} << 50;
    bytes seg2 = sluice_test::segment_header(2, far);
    sluice_test::append(seg2, sluice_test::record_frame(far, payload_of(far)));
    sluice_test::write_file(sluice_test::segment_path(dir.path, 2), seg2);
    const auto r = reopen(options_for(dir.path));
    CHECK(r.ids == std::vector<record_id>{0, 1, 2, 3, far});
    CHECK(r.report.records_lost == 0);
    CHECK(std::any_of(r.report.issues.begin(), r.report.issues.end(), [](const disk_buffer_issue& i) {
        return i.reason.find("cannot be counted") != std::string::npos;
    }));
}

TEST_CASE("a sealed middle segment cut short: the records lost are counted from the next segment's first id") {
    for (const bool mid_record : {true, false}) {
        CAPTURE(mid_record);
        scratch_dir dir;
        const auto o = options_for(dir.path);
        write_records(o, 100);
        const auto files = segments_in(dir.path);
        REQUIRE(files.size() >= 3);
        const record_id next_first = first_id_of(files[2]);
        // Segment 2 keeps its header and its first three records (each 24 + payload bytes).
        const record_id first = first_id_of(files[1]);
        std::uint64_t keep = detail::disk::segment_header_size;
        for (record_id id = first; id < first + 3; ++id) keep += detail::disk::record_header_size + payload_of(id).size();
        fs::resize_file(files[1], keep + (mid_record ? 7 : 0));

        const auto r = reopen(o);
        std::vector<record_id> expected = range(0, first + 3);
        for (record_id id = next_first; id < 100; ++id) expected.push_back(id);
        CHECK(r.ids == expected);
        const std::uint64_t lost = next_first - (first + 3);
        CHECK(r.report.records_lost == lost);
        CHECK(sum_of_records(r.report) == lost);
        CHECK(!r.lines.empty());
        // Counted once: the next open finds nothing new lost.
        const auto again = reopen(o);
        CHECK(again.ids == expected);
        CHECK(again.report.records_lost == 0);
    }
}

TEST_CASE("a deleted middle segment: its unacknowledged records are counted lost, acknowledged ones are not") {
    scratch_dir dir;
    const auto o = options_for(dir.path);
    write_records(o, 100);
    auto files = segments_in(dir.path);
    REQUIRE(files.size() >= 4);
    const record_id first2 = first_id_of(files[1]);
    const record_id first3 = first_id_of(files[2]);
    // Two of segment 2's records are acknowledged (and checkpointed) before it disappears.
    session(o, [&](disk_buffer& b) -> task<void> {
        const auto all = co_await read_all(b);
        b.acknowledge(first2);
        b.acknowledge(first2 + 1);
    });
    fs::remove(files[1]);

    const auto r = reopen(o);
    std::vector<record_id> expected = range(0, first2);
    for (record_id id = first3; id < 100; ++id) expected.push_back(id);
    CHECK(r.ids == expected);
    CHECK(r.report.segments_missing == 1);
    CHECK(issues_of(r.report, disk_buffer_issue::kind::missing) == 1);
    CHECK(r.report.records_lost == first3 - first2 - 2);
    CHECK(reopen(o).report.records_lost == 0); // counted once
}

TEST_CASE("segments deleted because every record was acknowledged are not reported missing") {
    scratch_dir dir;
    const auto o = options_for(dir.path);
    write_records(o, 100);
    const auto files = segments_in(dir.path);
    REQUIRE(files.size() >= 4);
    const record_id first2 = first_id_of(files[1]);
    const record_id first3 = first_id_of(files[2]);
    // Segment 2 (a middle one) is acknowledged completely: its file goes, the others stay.
    session(o, [&](disk_buffer& b) -> task<void> {
        const auto all = co_await read_all(b);
        for (record_id id = first2; id < first3; ++id) b.acknowledge(id);
        CHECK(!fs::exists(files[1]));
    });
    auto r = reopen(o);
    CHECK(r.report.segments_missing == 0);
    CHECK(r.report.records_lost == 0);
    CHECK(r.report.issues.empty());
    // And after a crash right after the acknowledgements (no close, no flush) too.
    {
        io_loop loop;
        auto run = [&]() -> task<void> {
            auto b = co_await disk_buffer::open(loop, o);
            const auto all = co_await read_all(*b);
            for (record_id id = first3; id < first_id_of(files[3]); ++id) b->acknowledge(id);
        };
        loop.run_until_complete(run());
    }
    r = reopen(o);
    CHECK(r.report.issues.empty());
    CHECK(r.report.records_lost == 0);
}

TEST_CASE("a deleted segment with nothing acknowledged and no checkpoint is found by its sequence number") {
    scratch_dir dir;
    const auto o = options_for(dir.path);
    write_records(o, 100);
    const auto files = segments_in(dir.path);
    REQUIRE(files.size() >= 4);
    const record_id lost = first_id_of(files[3]) - first_id_of(files[2]);
    fs::remove(dir.path / "acks");
    fs::remove(files[2]);
    const auto r = reopen(o);
    CHECK(r.report.segments_missing == 1);
    CHECK(r.report.records_lost == lost);
}

TEST_CASE("a file that is not ours is renamed aside untouched, whatever its size, never over another file") {
    scratch_dir dir;
    const auto o = options_for(dir.path);
    write_records(o, 10);
    const auto big = sluice_test::segment_path(dir.path, 7);
    const auto small = sluice_test::segment_path(dir.path, 8);
    const bytes big_content = sluice_test::to_bytes(std::string(500, 'x') + "\xA5\x5C" + "R" + "\x01" + "tail");
    const bytes small_content = sluice_test::to_bytes("hello");
    sluice_test::write_file(big, big_content);
    sluice_test::write_file(small, small_content);
    const bytes earlier = sluice_test::to_bytes("an earlier one");
    sluice_test::write_file(big.string() + ".corrupt", earlier);

    const auto r = reopen(o);
    CHECK(r.ids == range(0, 10));
    CHECK(issues_of(r.report, disk_buffer_issue::kind::bad_file) == 2);
    CHECK(!fs::exists(big));
    CHECK(!fs::exists(small));
    CHECK(sluice_test::read_file(big.string() + ".corrupt") == earlier);
    CHECK(sluice_test::read_file(big.string() + ".corrupt.1") == big_content);
    CHECK(sluice_test::read_file(small.string() + ".corrupt") == small_content);
    CHECK(r.report.torn_bytes_truncated == 0);
    CHECK(r.report.records_lost == 0);
}

TEST_CASE("an empty segment left by a crash between creating it and writing its header is harmless") {
    for (const std::size_t written : {std::size_t{0}, std::size_t{12}, std::size_t{39}}) {
        CAPTURE(written);
        scratch_dir dir;
        const auto o = options_for(dir.path);
        write_records(o, 10);
        const auto files = segments_in(dir.path);
        const std::uint64_t next_seq = detail::disk::parse_segment_name(files.back().filename().string()).value() + 1;
        bytes partial = sluice_test::segment_header(next_seq, 10);
        partial.resize(written);
        sluice_test::write_file(sluice_test::segment_path(dir.path, next_seq), partial);

        const auto r = reopen(o);
        CHECK(r.ids == range(0, 10));
        CHECK(r.report.issues.empty());
        CHECK(r.lines.empty()); // nothing reported at error level
        CHECK(r.report.empty_segments_removed == 1);
        CHECK(!fs::exists(sluice_test::segment_path(dir.path, next_seq)));
        // Appends go on normally, in that sequence number.
        write_records(o, 0);
        session(o, [&](disk_buffer& b) -> task<void> {
            CHECK(co_await b.append(std::string_view("record-10")) == 10);
        });
        CHECK(reopen(o).ids == range(0, 11));
    }
}

TEST_CASE("corruption is published: the report's records_lost and the metrics") {
    scratch_dir dir;
    auto o = options_for(dir.path);
    write_records(o, 100);
    auto files = segments_in(dir.path);
    REQUIRE(files.size() >= 4);
    const record_id lost = first_id_of(files[3]) - first_id_of(files[2]);
    fs::remove(files[2]);
    metrics_registry registry;
    o.metrics = &registry;
    o.metrics_name = "orders";
    const auto r = reopen(o);
    CHECK(r.report.records_lost == lost);
    const auto snap = registry.snapshot();
    const auto* corruption = snap.find("sluice_disk_buffer_corruption_total", {{"name", "orders"}});
    const auto* records = snap.find("sluice_disk_buffer_records_lost_total", {{"name", "orders"}});
    REQUIRE(corruption != nullptr);
    REQUIRE(records != nullptr);
    CHECK(corruption->value == static_cast<double>(r.report.issues.size()));
    CHECK(records->value == static_cast<double>(lost));
}

TEST_CASE("a version 1 checkpoint (older sluice) is still read") {
    scratch_dir dir;
    const auto o = options_for(dir.path);
    write_records(o, 10);
    // Version 1: records 0..4 of segment 1 acknowledged.
    bytes ck(detail::disk::ack_header_size + detail::disk::ack_entry_v1_size + 8);
    std::memcpy(ck.data(), detail::disk::ack_magic, 8);
    detail::disk::store32(ck.data() + 8, 1);
    detail::disk::store32(ck.data() + 12, 1);
    detail::disk::store64(ck.data() + 16, 2);
    detail::disk::store64(ck.data() + 24, 10);
    std::byte* e = ck.data() + detail::disk::ack_header_size;
    detail::disk::store64(e, 1);
    detail::disk::store64(e + 8, 0);
    detail::disk::store32(e + 16, 0);
    detail::disk::store32(e + 20, 1);
    detail::disk::store64(e + 24, 0x1f);
    bytes crc(4);
    detail::disk::store32(crc.data(), crc32c(ck));
    sluice_test::append(ck, crc);
    sluice_test::write_file(dir.path / "acks", ck);
    const auto r = reopen(o);
    CHECK(r.ids == range(5, 10));
    CHECK(r.report.records_already_acked == 5);
    CHECK(r.report.issues.empty());
}

} // TEST_SUITE

} // namespace test_disk_recovery

