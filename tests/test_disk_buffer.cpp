// disk_buffer, CRC32C and block compression: real files in temporary directories written through a real
// io_loop (the binary runs once per backend, so io_uring and epoll are both covered), damaged on purpose
// between runs, and read back. The full-disk cases use RLIMIT_FSIZE in a forked child and, when the
// kernel lets us mount one, a 1 MiB tmpfs.

#include <doctest/doctest.h>

#include <sluice/codec/compression.hpp>
#include <sluice/codec/crc32c.hpp>
#include <sluice/delivery/disk_buffer.hpp>
#include <sluice/io/loop.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_disk_buffer {

using namespace sluice;

namespace {

namespace fs = std::filesystem;

/// A fresh directory under /tmp, removed with its files at scope exit.
struct scratch_dir {
    fs::path path;
    scratch_dir() {
        char tmpl[] = "/tmp/sluice-disk-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
    ~scratch_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::vector<std::byte> to_bytes(std::string_view s) {
    const auto b = std::as_bytes(std::span<const char>(s.data(), s.size()));
    return {b.begin(), b.end()};
}

std::string to_string(const std::vector<std::byte>& b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// Record i: `size` bytes, recognisable and somewhat compressible (like log lines).
std::vector<std::byte> make_record(std::size_t i, std::size_t size) {
    std::string s = "{\"seq\":" + std::to_string(i) + ",\"msg\":\"event number " + std::to_string(i * 7919) + "\"}";
    while (s.size() < size) s += static_cast<char>('a' + (s.size() * 31 + i) % 26);
    s.resize(size);
    return to_bytes(s);
}

/// Record i of 700..999 pseudo-random bytes: incompressible, so a codec cannot stretch a size limit.
std::vector<std::byte> noisy_record(std::size_t i) {
    std::vector<std::byte> r(700 + i % 300);
    std::mt19937_64 g(i);
    for (auto& x : r) x = static_cast<std::byte>(g());
    return r;
}

/// Sizes cycling through empty, tiny, medium and a few KiB.
std::size_t size_of(std::size_t i) {
    static constexpr std::size_t sizes[] = {0, 1, 17, 100, 200, 333, 1024, 2048, 3000};
    return sizes[i % (sizeof sizes / sizeof sizes[0])];
}

std::vector<fs::path> segment_files(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".seg") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

disk_buffer_options small_options(const fs::path& dir, compression codec = compression::none) {
    disk_buffer_options o;
    o.directory = dir;
    o.codec = codec;
    o.segment_bytes = 16 * 1024;
    o.block_bytes = 1024;
    o.max_bytes = 64ull << 20;
    return o;
}

using buffer_ptr = std::unique_ptr<disk_buffer>;

task<std::vector<disk_record>> read_all(disk_buffer& b) {
    std::vector<disk_record> out;
    while (auto r = co_await b.read_next()) out.push_back(std::move(*r));
    co_return out;
}

/// Opens, runs `body`, closes: one loop per call, like a process run.
template <class Body>
void with_buffer(const disk_buffer_options& o, Body body) {
    io_loop loop;
    auto run = [&]() -> task<void> {
        auto b = co_await disk_buffer::open(loop, o);
        co_await body(*b);
        co_await b->close();
    };
    loop.run_until_complete(run());
}

/// Opens and reads every record, then closes without acknowledging anything.
std::vector<disk_record> reopen_and_read(const disk_buffer_options& o, recovery_report* report = nullptr) {
    std::vector<disk_record> out;
    io_loop loop;
    auto run = [&]() -> task<void> {
        auto b = co_await disk_buffer::open(loop, o);
        if (report) *report = b->recovery();
        out = co_await read_all(*b);
        co_await b->close();
    };
    loop.run_until_complete(run());
    return out;
}

void flip_byte(const fs::path& file, std::uint64_t offset) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f.good());
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x40);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(&c, 1);
}

/// Appends records 0..n-1 (sizes from size_of) with append_batch in batches of `batch`, then closes.
void write_records(const disk_buffer_options& o, std::size_t n, std::size_t batch = 7) {
    with_buffer(o, [&](disk_buffer& b) -> task<void> {
        std::size_t i = 0;
        while (i < n) {
            std::vector<std::vector<std::byte>> data;
            for (std::size_t k = 0; k < batch && i + k < n; ++k) data.push_back(make_record(i + k, size_of(i + k)));
            std::vector<std::span<const std::byte>> spans(data.begin(), data.end());
            const record_id first = co_await b.append_batch(spans);
            CHECK(first == i);
            i += data.size();
        }
    });
}

void check_records(const std::vector<disk_record>& got, const std::vector<std::size_t>& expected_ids) {
    REQUIRE(got.size() == expected_ids.size());
    for (std::size_t k = 0; k < got.size(); ++k) {
        CHECK(got[k].id == expected_ids[k]);
        CHECK(got[k].data == make_record(expected_ids[k], size_of(expected_ids[k])));
    }
}

std::vector<std::size_t> ids_from(std::size_t first, std::size_t end) {
    std::vector<std::size_t> v;
    for (std::size_t i = first; i < end; ++i) v.push_back(i);
    return v;
}

std::vector<compression> codecs() {
    std::vector<compression> c{compression::none};
    if (compression_available(compression::lz4)) c.push_back(compression::lz4);
    if (compression_available(compression::zstd)) c.push_back(compression::zstd);
    return c;
}

} // namespace

TEST_SUITE("disk_buffer") {

TEST_CASE("crc32c: known vectors (RFC 3720 B.4) and continuation") {
    CHECK(crc32c(std::string_view("123456789")) == 0xE3069283u);
    CHECK(crc32c(std::string_view()) == 0u);
    std::vector<std::byte> zeros(32, std::byte{0});
    std::vector<std::byte> ones(32, std::byte{0xFF});
    std::vector<std::byte> up(32), down(32);
    for (std::size_t i = 0; i < 32; ++i) {
        up[i] = static_cast<std::byte>(i);
        down[i] = static_cast<std::byte>(31 - i);
    }
    for (auto f : {&crc32c_software, &crc32c_hardware}) {
        CHECK(f(zeros, 0) == 0x8A9136AAu);
        CHECK(f(ones, 0) == 0x62A8AB43u);
        CHECK(f(up, 0) == 0x46DD794Eu);
        CHECK(f(down, 0) == 0x113FDB5Cu);
    }
    const std::string_view text = "The quick brown fox jumps over the lazy dog";
    CHECK(crc32c(text.substr(10), crc32c(text.substr(0, 10))) == crc32c(text));
    MESSAGE("crc32c hardware instruction: " << std::string(crc32c_hardware_available() ? "yes" : "no"));
}

TEST_CASE("crc32c: hardware and software agree on random data, lengths and alignments") {
    std::mt19937_64 rng(12345);
    std::vector<std::byte> data(3 * 8192 * 2 + 4096);
    for (auto& b : data) b = static_cast<std::byte>(rng());
    const std::size_t lengths[] = {
        0,   1,   7,   8,    9,    63,           64,       255,           256,
        767, 768, 769, 1000, 4096, 3 * 8192 - 1, 3 * 8192, 3 * 8192 + 13, 2 * 3 * 8192 + 100};
    for (std::size_t len : lengths) {
        for (std::size_t align = 0; align < 8; ++align) {
            if (align + len > data.size()) continue;
            const std::span<const std::byte> s(data.data() + align, len);
            CHECK(crc32c_hardware(s) == crc32c_software(s));
            CHECK(crc32c_hardware(s, 0xDEADBEEF) == crc32c_software(s, 0xDEADBEEF));
        }
    }
    for (int round = 0; round < 200; ++round) {
        const std::size_t off = rng() % 4096;
        const std::size_t len = rng() % (data.size() - off);
        const std::span<const std::byte> s(data.data() + off, len);
        const std::size_t cut = len == 0 ? 0 : rng() % len;
        CHECK(crc32c_hardware(s) == crc32c_software(s));
        CHECK(crc32c(s.subspan(cut), crc32c(s.first(cut))) == crc32c(s));
    }
}

TEST_CASE("block_codec: round trips, detects corruption, refuses what is not compiled in") {
    const auto text = make_record(42, 20000);
    for (compression c : codecs()) {
        CAPTURE(to_string(c));
        block_codec codec(c, 3);
        std::vector<std::byte> packed(codec.max_compressed_size(text.size()));
        const std::size_t n = codec.compress(text, packed);
        if (c != compression::none) CHECK(n < text.size() / 2);
        std::vector<std::byte> back(text.size());
        codec.decompress(std::span<const std::byte>(packed.data(), n), back);
        CHECK(back == text);
        if (c != compression::none) {
            std::vector<std::byte> wrong(text.size() + 1);
            CHECK_THROWS_AS(codec.decompress(std::span<const std::byte>(packed.data(), n), wrong), compression_error);
            std::vector<std::byte> garbage(n, std::byte{0x5A});
            CHECK_THROWS_AS(codec.decompress(garbage, back), compression_error);
        }
    }
    CHECK_THROWS_AS((void)block_codec(static_cast<compression>(9)), std::invalid_argument);
    if (!compression_available(compression::lz4))
        CHECK_THROWS_AS((void)block_codec(compression::lz4), std::invalid_argument);
    if (!compression_available(compression::zstd))
        CHECK_THROWS_AS((void)block_codec(compression::zstd), std::invalid_argument);
    if (compression_available(compression::zstd))
        CHECK_THROWS_AS((void)block_codec(compression::zstd, 1000), std::invalid_argument);
}

TEST_CASE("round trip with every codec: append, append_batch, read from memory and from files, reopen") {
    for (compression c : codecs()) {
        CAPTURE(to_string(c));
        scratch_dir dir;
        auto o = small_options(dir.path, c);
        const std::size_t n = 120;
        with_buffer(o, [&](disk_buffer& b) -> task<void> {
            for (std::size_t i = 0; i < n / 2; ++i) CHECK(co_await b.append(make_record(i, size_of(i))) == i);
            // Half of them are still in memory: read_next hands them out without a write.
            auto first = co_await read_all(b);
            check_records(first, ids_from(0, n / 2));
            std::vector<std::vector<std::byte>> data;
            for (std::size_t i = n / 2; i < n; ++i) data.push_back(make_record(i, size_of(i)));
            std::vector<std::span<const std::byte>> spans(data.begin(), data.end());
            CHECK(co_await b.append_batch(spans) == n / 2);
            auto second = co_await read_all(b);
            check_records(second, ids_from(n / 2, n));
            CHECK(!(co_await b.read_next()).has_value());
            const auto st = b.stats();
            CHECK(st.records_appended == n);
            CHECK(st.records_read == n);
            CHECK(st.records_pending == n);
            CHECK(st.bytes_buffered == 0);
            std::uint64_t raw = 0;
            for (std::size_t i = 0; i < n; ++i) raw += size_of(i);
            if (c == compression::none)
                CHECK(st.segments >= 2);
            else
                CHECK(st.bytes_on_disk < raw / 2);
        });
        recovery_report report;
        auto again = reopen_and_read(o, &report);
        check_records(again, ids_from(0, n));
        CHECK(report.records_recovered == n);
        CHECK(report.corrupt_records_skipped == 0);
        CHECK(report.torn_bytes_truncated == 0);
        CHECK(report.issues.empty());
    }
}

TEST_CASE("segments rotate, and are deleted once every record in them is acknowledged, in any order") {
    for (compression c : codecs()) {
        CAPTURE(to_string(c));
        scratch_dir dir;
        auto o = small_options(dir.path, c);
        o.segment_bytes = 4096;
        o.block_bytes = 512;
        const std::size_t n = 300;
        write_records(o, n);
        const auto files_before = segment_files(dir.path).size();
        CHECK(files_before >= 5);
        io_loop loop;
        auto run = [&]() -> task<void> {
            auto b = co_await disk_buffer::open(loop, o);
            auto all = co_await read_all(*b);
            check_records(all, ids_from(0, n));
            // Acknowledge in a scrambled order, all but every 50th record.
            std::vector<record_id> ids;
            for (const auto& r : all) ids.push_back(r.id);
            std::mt19937 rng(7);
            std::shuffle(ids.begin(), ids.end(), rng);
            for (record_id id : ids)
                if (id % 50 != 0) b->acknowledge(id);
            b->acknowledge(ids.front()); // twice: ignored
            const auto st = b->stats();
            CHECK(st.records_pending == n / 50);
            CHECK(st.segments <= n / 50);
            CHECK(segment_files(dir.path).size() == st.segments);
            CHECK_THROWS_AS(b->acknowledge(n + 5), std::out_of_range);
            for (record_id id = 0; id < n; id += 50) b->acknowledge(id);
            CHECK(b->stats().segments == 0);
            CHECK(b->stats().records_pending == 0);
            CHECK(segment_files(dir.path).empty());
            // Appending goes on in a new segment with new ids.
            CHECK(co_await b->append(std::string_view("after")) == n);
            co_await b->close();
        };
        loop.run_until_complete(run());
        auto rest = reopen_and_read(o);
        REQUIRE(rest.size() == 1);
        CHECK(rest[0].id == n);
        CHECK(to_string(rest[0].data) == "after");
    }
}

TEST_CASE("reopening replays exactly the unacknowledged records") {
    for (compression c : codecs()) {
        CAPTURE(to_string(c));
        scratch_dir dir;
        auto o = small_options(dir.path, c);
        o.segment_bytes = 8192;
        const std::size_t n = 200;
        write_records(o, n);
        std::vector<std::size_t> expected;
        with_buffer(o, [&](disk_buffer& b) -> task<void> {
            auto all = co_await read_all(b);
            REQUIRE(all.size() == n);
            for (const auto& r : all) {
                if (r.id % 3 == 0 || (r.id > 50 && r.id < 120))
                    b.acknowledge(r.id);
                else
                    expected.push_back(r.id);
            }
        });
        recovery_report report;
        auto got = reopen_and_read(o, &report);
        check_records(got, expected);
        CHECK(report.records_recovered == expected.size());
        CHECK(report.records_already_acked > 0);
        CHECK(report.issues.empty());
        // The same again: nothing was acknowledged in between.
        check_records(reopen_and_read(o), expected);
    }
}

TEST_CASE("acknowledgements since the last checkpoint are replayed after a crash (at-least-once)") {
    scratch_dir dir;
    auto o = small_options(dir.path);
    write_records(o, 20);
    {
        io_loop loop;
        auto run = [&]() -> task<void> {
            auto b = co_await disk_buffer::open(loop, o);
            auto all = co_await read_all(*b);
            for (record_id id = 0; id < 10; ++id) b->acknowledge(id);
            co_await b->flush(); // checkpoint: 0..9
            for (record_id id = 10; id < 15; ++id) b->acknowledge(id);
            // "Crash": destroyed without flush or close.
        };
        loop.run_until_complete(run());
    }
    check_records(reopen_and_read(o), ids_from(10, 20));
}

TEST_CASE("a torn tail is cut off at open and the rest is delivered") {
    for (compression c : codecs()) {
        CAPTURE(to_string(c));
        scratch_dir dir;
        auto o = small_options(dir.path, c);
        o.segment_bytes = 1 << 20;
        o.block_bytes = 256;
        write_records(o, 40, 1);
        auto files = segment_files(dir.path);
        REQUIRE(files.size() == 1);
        const auto size = fs::file_size(files[0]);
        fs::resize_file(files[0], size - 3); // the last frame loses its end
        std::vector<std::string> logged;
        o.on_corruption = [&](const std::string& line) { logged.push_back(line); };
        recovery_report report;
        auto got = reopen_and_read(o, &report);
        REQUIRE(!got.empty());
        CHECK(got.size() < 40);
        check_records(got, ids_from(0, got.size()));
        CHECK(report.torn_bytes_truncated > 0);
        CHECK(report.corrupt_records_skipped == 0);
        REQUIRE(report.issues.size() == 1);
        CHECK(report.issues[0].what == disk_buffer_issue::kind::torn);
        CHECK(report.issues[0].file == files[0]);
        CHECK(fs::file_size(files[0]) == size - 3 - report.torn_bytes_truncated);
        REQUIRE(logged.size() == 1);
        CHECK(logged[0].find(files[0].string()) != std::string::npos);
        // Cut once: the next open finds nothing wrong, and appends carry on after the survivors.
        recovery_report second;
        with_buffer(o, [&](disk_buffer& b) -> task<void> {
            second = b.recovery();
            CHECK(co_await b.append(std::string_view("new")) >= got.size());
        });
        CHECK(second.issues.empty());
        auto all = reopen_and_read(o);
        REQUIRE(all.size() == got.size() + 1);
        CHECK(to_string(all.back().data) == "new");
    }
}

TEST_CASE("a flipped byte: the damaged record is skipped, counted and reported with file and offset") {
    scratch_dir dir;
    auto o = small_options(dir.path);
    o.segment_bytes = 1 << 20;
    with_buffer(o, [&](disk_buffer& b) -> task<void> {
        for (std::size_t i = 0; i < 5; ++i) co_await b.append(make_record(i, 100));
    });
    const auto file = segment_files(dir.path).at(0);
    // Frames of 24 + 100 bytes after the 40-byte segment header: record 2 starts at 40 + 2 * 124.
    const std::uint64_t third = 40 + 2 * 124;

    SUBCASE("in the payload") {
        flip_byte(file, third + 24 + 50);
    }
    SUBCASE("in the header") {
        flip_byte(file, third + 5);
    }

    std::vector<std::string> logged;
    o.on_corruption = [&](const std::string& line) { logged.push_back(line); };
    recovery_report report;
    std::vector<disk_record> got;
    with_buffer(o, [&](disk_buffer& b) -> task<void> {
        report = b.recovery();
        got = co_await read_all(b);
        CHECK(b.stats().corrupt_records_skipped == 1);
        for (const auto& r : got) b.acknowledge(r.id);
        CHECK(b.stats().records_pending == 0);
    });
    REQUIRE(got.size() == 4);
    CHECK(got[0].id == 0);
    CHECK(got[1].id == 1);
    CHECK(got[2].id == 3);
    CHECK(got[3].id == 4);
    CHECK(got[2].data == make_record(3, 100));
    CHECK(report.corrupt_records_skipped == 1);
    CHECK(report.torn_bytes_truncated == 0);
    REQUIRE(report.issues.size() == 1);
    CHECK(report.issues[0].what == disk_buffer_issue::kind::corrupt);
    CHECK(report.issues[0].file == file);
    CHECK(report.issues[0].offset == third);
    CHECK(report.issues[0].records == 1);
    REQUIRE(logged.size() == 1); // reported once, at open (not again while reading)
    CHECK(logged[0].find(file.string() + " at offset " + std::to_string(third)) != std::string::npos);
    // Everything acknowledged: the segment is gone, the corrupt bytes with it.
    CHECK(segment_files(dir.path).empty());
}

TEST_CASE("a corrupt compressed block is skipped as a unit; the other blocks are delivered") {
    for (compression c : codecs()) {
        if (c == compression::none) continue;
        CAPTURE(to_string(c));
        scratch_dir dir;
        auto o = small_options(dir.path, c);
        o.segment_bytes = 1 << 20;
        o.block_bytes = 4 * (24 + 120);
        with_buffer(o, [&](disk_buffer& b) -> task<void> {
            // One block per append_batch of four 120-byte records (framed: 24 + 120 bytes each).
            for (std::size_t i = 0; i < 12; i += 4) {
                std::vector<std::vector<std::byte>> data;
                for (std::size_t k = 0; k < 4; ++k) data.push_back(make_record(i + k, 120));
                std::vector<std::span<const std::byte>> spans(data.begin(), data.end());
                co_await b.append_batch(spans);
            }
        });
        const auto file = segment_files(dir.path).at(0);
        // The second block: after the segment header and the first block (whose stored size is in its header).
        std::ifstream in(file, std::ios::binary);
        std::vector<char> head(40 + 8);
        in.read(head.data(), static_cast<std::streamsize>(head.size()));
        std::uint32_t stored = 0;
        std::memcpy(&stored, head.data() + 40 + 4, 4);
        const std::uint64_t second = 40 + 40 + stored;
        flip_byte(file, second + 40 + 3);
        recovery_report report;
        auto got = reopen_and_read(o, &report);
        std::vector<std::size_t> expected{0, 1, 2, 3, 8, 9, 10, 11};
        REQUIRE(got.size() == expected.size());
        for (std::size_t k = 0; k < got.size(); ++k) {
            CHECK(got[k].id == expected[k]);
            CHECK(got[k].data == make_record(expected[k], 120));
        }
        CHECK(report.corrupt_records_skipped == 4);
        REQUIRE(report.issues.size() == 1);
        CHECK(report.issues[0].offset == second);
        CHECK(report.issues[0].records == 4);
    }
}

TEST_CASE("garbage appended to a segment is cut off; every record is delivered") {
    for (compression c : codecs()) {
        CAPTURE(to_string(c));
        scratch_dir dir;
        auto o = small_options(dir.path, c);
        o.segment_bytes = 1 << 20;
        write_records(o, 30);
        const auto file = segment_files(dir.path).at(0);
        const auto size = fs::file_size(file);
        {
            std::ofstream out(file, std::ios::binary | std::ios::app);
            std::mt19937 rng(3);
            for (int i = 0; i < 777; ++i) out.put(static_cast<char>(rng()));
            out.write("\xA5\x5CR\x01", 4); // even a magic that leads nowhere
        }
        recovery_report report;
        check_records(reopen_and_read(o, &report), ids_from(0, 30));
        CHECK(report.torn_bytes_truncated == 781);
        CHECK(report.corrupt_records_skipped == 0);
        CHECK(fs::file_size(file) == size);
    }
}

TEST_CASE("a corrupt acknowledgement checkpoint is reported and ignored: everything is replayed") {
    scratch_dir dir;
    auto o = small_options(dir.path);
    write_records(o, 10);
    with_buffer(o, [&](disk_buffer& b) -> task<void> {
        auto all = co_await read_all(b);
        for (record_id id = 0; id < 5; ++id) b.acknowledge(id);
    });
    flip_byte(dir.path / "acks", 20);
    recovery_report report;
    check_records(reopen_and_read(o, &report), ids_from(0, 10));
    REQUIRE(report.issues.size() == 1);
    CHECK(report.issues[0].what == disk_buffer_issue::kind::bad_file);
    CHECK(report.issues[0].file == dir.path / "acks");
}

TEST_CASE("a file that is not a segment is renamed aside, not deleted") {
    scratch_dir dir;
    auto o = small_options(dir.path);
    write_records(o, 5);
    const auto stranger = dir.path / "00000000000000000099.seg";
    {
        std::ofstream out(stranger, std::ios::binary);
        out << std::string(500, 'x');
    }
    recovery_report report;
    check_records(reopen_and_read(o, &report), ids_from(0, 5));
    CHECK(fs::exists(dir.path / "00000000000000000099.seg.corrupt"));
    CHECK(!fs::exists(stranger));
    bool mentioned = false;
    for (const auto& i : report.issues) mentioned |= i.what == disk_buffer_issue::kind::bad_file;
    CHECK(mentioned);
}

TEST_CASE("a damaged segment header is reported; the records behind it are still delivered") {
    scratch_dir dir;
    auto o = small_options(dir.path);
    write_records(o, 12);
    const auto file = segment_files(dir.path).at(0);
    flip_byte(file, 3); // inside the magic
    recovery_report report;
    check_records(reopen_and_read(o, &report), ids_from(0, 12));
    REQUIRE(!report.issues.empty());
    CHECK(report.issues[0].file == file);
    CHECK(report.issues[0].reason.find("segment header") != std::string::npos);
    CHECK(report.corrupt_records_skipped == 0);
}

TEST_CASE("records repeated after the end of a segment (a failed write not rolled back) are cut, not delivered twice") {
    scratch_dir dir;
    auto o = small_options(dir.path);
    o.segment_bytes = 1 << 20;
    with_buffer(o, [&](disk_buffer& b) -> task<void> {
        for (std::size_t i = 0; i < 10; ++i) co_await b.append(make_record(i, 100));
    });
    const auto file = segment_files(dir.path).at(0);
    const auto size = fs::file_size(file);
    {
        // Frames of records 3 and 4 (24 + 100 bytes each after the 40-byte header) copied to the end.
        std::ifstream in(file, std::ios::binary);
        std::vector<char> frames(2 * 124);
        in.seekg(40 + 3 * 124);
        in.read(frames.data(), static_cast<std::streamsize>(frames.size()));
        std::ofstream out(file, std::ios::binary | std::ios::app);
        out.write(frames.data(), static_cast<std::streamsize>(frames.size()));
    }
    recovery_report report;
    auto got = reopen_and_read(o, &report);
    REQUIRE(got.size() == 10);
    for (std::size_t k = 0; k < got.size(); ++k) {
        CHECK(got[k].id == k);
        CHECK(got[k].data == make_record(k, 100));
    }
    REQUIRE(report.issues.size() == 1);
    CHECK(report.issues[0].what == disk_buffer_issue::kind::stale);
    CHECK(report.issues[0].offset == size);
    CHECK(fs::file_size(file) == size);
}

TEST_CASE("a segment of a newer format version stops open() with a clear error and changes nothing") {
    scratch_dir dir;
    auto o = small_options(dir.path);
    write_records(o, 5);
    const auto file = segment_files(dir.path).at(0);
    {
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        char head[40];
        f.read(head, 40);
        head[8] = 2; // version 2
        const std::uint32_t crc = crc32c(head, 36);
        std::memcpy(head + 36, &crc, 4); // little-endian hosts, as the format
        f.seekp(0);
        f.write(head, 40);
    }
    const auto size = fs::file_size(file);
    io_loop loop;
    auto run = [&]() -> task<void> { co_await disk_buffer::open(loop, o); };
    try {
        loop.run_until_complete(run());
        FAIL("opened a version 2 segment");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).find("version 2") != std::string::npos);
    }
    CHECK(fs::file_size(file) == size);
    CHECK(segment_files(dir.path).size() == 1);
}

TEST_CASE("max_bytes: disk_buffer_full, the buffer stays valid, and appends succeed once acks free space") {
    scratch_dir dir;
    auto o = small_options(dir.path);
    o.segment_bytes = 4096;
    o.max_bytes = 16 * 1024;
    io_loop loop;
    auto run = [&]() -> task<void> {
        auto b = co_await disk_buffer::open(loop, o);
        std::size_t appended = 0;
        bool full = false;
        for (std::size_t i = 0; i < 1000 && !full; ++i) {
            try {
                co_await b->append(make_record(i, 500));
                ++appended;
            } catch (const disk_buffer_full& e) {
                full = true;
                CHECK(std::string(e.what()).find("is full") != std::string::npos);
                CHECK(std::string(e.what()).find(dir.path.string()) != std::string::npos);
                CHECK(e.limit() == o.max_bytes);
            }
        }
        REQUIRE(full);
        CHECK(appended > 20);
        co_await b->flush();
        CHECK(b->stats().bytes_on_disk <= o.max_bytes);
        // Still full, still refusing, nothing lost.
        CHECK_THROWS_AS(co_await b->append(make_record(9999, 500)), disk_buffer_full);
        auto all = co_await read_all(*b);
        REQUIRE(all.size() == appended);
        for (std::size_t k = 0; k < all.size(); ++k) CHECK(all[k].data == make_record(k, 500));
        for (const auto& r : all) b->acknowledge(r.id);
        CHECK(b->stats().records_pending == 0);
        // (Not quite as many as before: the first run ended with records buffered, not yet in a segment.)
        const std::size_t again = appended - 3;
        for (std::size_t i = 0; i < again; ++i) co_await b->append(make_record(5000 + i, 500));
        co_await b->flush();
        CHECK(b->stats().bytes_on_disk <= o.max_bytes);
        auto next = co_await read_all(*b);
        CHECK(next.size() == again);
        co_await b->close();
    };
    loop.run_until_complete(run());
}

TEST_CASE("an oversize record is refused with a clear error and nothing is written") {
    scratch_dir dir;
    auto o = small_options(dir.path);
    o.segment_bytes = 4096;
    io_loop loop;
    auto run = [&]() -> task<void> {
        auto b = co_await disk_buffer::open(loop, o);
        const std::vector<std::byte> big(b->max_record_bytes() + 1);
        try {
            co_await b->append(big);
            FAIL("an oversize record was taken");
        } catch (const std::invalid_argument& e) {
            CHECK(std::string(e.what()).find("larger than") != std::string::npos);
        }
        const std::vector<std::byte> small(10);
        const std::span<const std::byte> batch[] = {small, big};
        CHECK_THROWS_AS(co_await b->append_batch(batch), std::invalid_argument);
        co_await b->flush();
        CHECK(b->stats().records_appended == 0);
        CHECK(b->stats().bytes_on_disk == 0);
        CHECK(segment_files(dir.path).empty());
        // The largest one that fits is fine.
        const std::vector<std::byte> fits(b->max_record_bytes(), std::byte{7});
        CHECK(co_await b->append(fits) == 0);
        co_await b->flush();
        auto all = co_await read_all(*b);
        REQUIRE(all.size() == 1);
        CHECK(all[0].data == fits);
        co_await b->close();
    };
    loop.run_until_complete(run());
}

TEST_CASE("bad options and a directory in use are clear errors") {
    scratch_dir dir;
    io_loop loop;
    auto bad = [&](disk_buffer_options o) {
        auto run = [&]() -> task<void> { co_await disk_buffer::open(loop, o); };
        CHECK_THROWS_AS(loop.run_until_complete(run()), std::invalid_argument);
    };
    auto o = small_options(dir.path);
    o.segment_bytes = 10;
    bad(o);
    o = small_options(dir.path);
    o.block_bytes = 0;
    bad(o);
    o = small_options(fs::path());
    bad(o);
    o = small_options(dir.path);
    auto run = [&]() -> task<void> {
        auto first = co_await disk_buffer::open(loop, o);
        try {
            auto second = co_await disk_buffer::open(loop, o);
            FAIL("opened twice");
        } catch (const std::runtime_error& e) {
            CHECK(std::string(e.what()).find("in use") != std::string::npos);
        }
        co_await first->close();
        auto third = co_await disk_buffer::open(loop, o); // released by the first one
        co_await third->close();
    };
    loop.run_until_complete(run());
}

TEST_CASE("a reader keeping up with the writer gets every record once, in order") {
    for (compression c : codecs()) {
        CAPTURE(to_string(c));
        scratch_dir dir;
        auto o = small_options(dir.path, c);
        o.segment_bytes = 4096;
        o.block_bytes = 700;
        o.fsync = fsync_policy::os;
        io_loop loop;
        const std::size_t n = 400;
        auto run = [&]() -> task<void> {
            auto b = co_await disk_buffer::open(loop, o);
            std::vector<record_id> seen;
            bool writer_done = false;
            auto writer = [&]() -> task<void> {
                for (std::size_t i = 0; i < n; ++i) {
                    co_await b->append(make_record(i, size_of(i) % 600));
                    if (i % 13 == 0) co_await loop.schedule();
                    if (i % 50 == 0) co_await b->flush();
                }
                co_await b->flush();
                writer_done = true;
            };
            auto reader = [&]() -> task<void> {
                for (;;) {
                    auto r = co_await b->read_next();
                    if (!r) {
                        if (writer_done) break;
                        co_await loop.schedule();
                        continue;
                    }
                    CHECK(r->data == make_record(r->id, size_of(r->id) % 600));
                    seen.push_back(r->id);
                    b->acknowledge(r->id);
                }
            };
            loop.spawn(writer());
            co_await reader();
            const auto expected = ids_from(0, n);
            CHECK(seen == std::vector<record_id>(expected.begin(), expected.end()));
            CHECK(b->stats().records_pending == 0);
            co_await b->close();
        };
        loop.run_until_complete(run());
        loop.drain();
        CHECK(segment_files(dir.path).empty());
        CHECK(reopen_and_read(o).empty());
    }
}

TEST_CASE("RLIMIT_FSIZE: EFBIG is a clear error, the write is rolled back, the buffer stays valid") {
    for (const bool batched : {true, false}) {
        for (compression c : codecs()) {
            CAPTURE(to_string(c));
            CAPTURE(batched);
            scratch_dir dir;
            auto o = small_options(dir.path, c);
            o.segment_bytes = 1 << 20;
            o.block_bytes = 4096;
            int pipe_fds[2];
            REQUIRE(::pipe(pipe_fds) == 0);
            const pid_t pid = ::fork();
            REQUIRE(pid >= 0);
            if (pid == 0) {
                // The child: appends until the file size limit stops it. Exit code 0 when everything
                // behaved; the counts of appended and of durably written records go to the parent.
                ::close(pipe_fds[0]);
                ::signal(SIGXFSZ, SIG_IGN);
                rlimit limit{64 * 1024, 64 * 1024};
                ::setrlimit(RLIMIT_FSIZE, &limit);
                int status = 10;
                std::uint64_t counts[2] = {0, 0}; // appended, durable (written by a call that returned)
                try {
                    io_loop loop;
                    auto run = [&]() -> task<void> {
                        auto b = co_await disk_buffer::open(loop, o);
                        for (std::size_t i = 0; i < 1000; i += 10) {
                            std::vector<std::vector<std::byte>> data;
                            for (std::size_t k = 0; k < 10; ++k) data.push_back(noisy_record(i + k));
                            std::vector<std::span<const std::byte>> spans(data.begin(), data.end());
                            try {
                                if (batched) {
                                    co_await b->append_batch(spans);
                                    counts[0] += 10;
                                } else {
                                    for (const auto& one : spans) {
                                        co_await b->append(one);
                                        ++counts[0];
                                    }
                                    co_await b->flush();
                                }
                                counts[1] = counts[0];
                            } catch (const std::system_error& e) {
                                const std::string what = e.what();
                                status = e.code().value() != EFBIG                           ? 11
                                         : what.find(dir.path.string()) == std::string::npos ? 12
                                         : b->stats().write_errors < 1                       ? 13
                                                                                             : 0;
                                break;
                            }
                        }
                        // A second try fails the same way and changes nothing.
                        if (status == 0) {
                            std::vector<std::byte> one(2000);
                            std::mt19937 rng(5); // incompressible
                            for (auto& x : one) x = static_cast<std::byte>(rng());
                            const std::span<const std::byte> batch[] = {one, one, one, one};
                            try {
                                co_await b->append_batch(batch);
                                status = 14;
                            } catch (const std::system_error&) {
                            }
                        }
                        try {
                            co_await b->close(); // fails when records are still buffered: they have no room
                        } catch (const std::system_error& e) {
                            if (batched || e.code().value() != EFBIG) status = 17;
                        }
                    };
                    loop.run_until_complete(run());
                } catch (...) {
                    status = 15;
                }
                if (::write(pipe_fds[1], counts, sizeof counts) != static_cast<ssize_t>(sizeof counts)) status = 16;
                ::_exit(status);
            }
            ::close(pipe_fds[1]);
            std::uint64_t counts[2] = {0, 0};
            CHECK(::read(pipe_fds[0], counts, sizeof counts) == static_cast<ssize_t>(sizeof counts));
            ::close(pipe_fds[0]);
            int status = 0;
            REQUIRE(::waitpid(pid, &status, 0) == pid);
            REQUIRE(WIFEXITED(status));
            CHECK(WEXITSTATUS(status) == 0);
            CHECK(counts[1] > 0);
            recovery_report report;
            auto got = reopen_and_read(o, &report);
            CHECK(report.issues.empty());
            CHECK(report.torn_bytes_truncated == 0);
            // Everything written by a call that returned is there, intact; nothing beyond what was appended.
            CHECK(got.size() >= counts[1]);
            CHECK(got.size() <= counts[0]);
            if (batched) CHECK(got.size() == counts[0]);
            for (std::size_t k = 0; k < got.size(); ++k) {
                CHECK(got[k].id == k);
                CHECK(got[k].data == noisy_record(k));
            }
        }
    }
}

TEST_CASE("ENOSPC on a small tmpfs: clear error, nothing corrupt, appends work again once acks free space") {
    scratch_dir dir;
    const fs::path mnt = dir.path / "mnt";
    fs::create_directory(mnt);
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) {
        MESSAGE("skipped: cannot mount a tmpfs here (" << std::strerror(errno) << ")");
        return;
    }
    struct unmount {
        fs::path p;
        ~unmount() { ::umount2(p.c_str(), MNT_DETACH); }
    } unmount_at_exit{mnt};
    for (const bool batched : {true, false}) {
        for (compression c : codecs()) {
            CAPTURE(to_string(c));
            CAPTURE(batched);
            auto o = small_options(mnt / to_string(c), c);
            o.segment_bytes = 128 * 1024;
            o.block_bytes = 8 * 1024;
            o.max_bytes = 64ull << 20; // far above what the file system holds
            std::uint64_t appended = 0;
            io_loop loop;
            auto run = [&]() -> task<void> {
                auto b = co_await disk_buffer::open(loop, o);
                auto record = [&](std::size_t i) {
                    std::vector<std::byte> r(1500);
                    std::mt19937_64 g(i); // incompressible, so the codecs cannot stretch the space
                    for (auto& x : r) x = static_cast<std::byte>(g());
                    return r;
                };
                bool failed = false;
                for (std::size_t i = 0; i < 10000 && !failed; i += 8) {
                    std::vector<std::vector<std::byte>> data;
                    for (std::size_t k = 0; k < 8; ++k) data.push_back(record(i + k));
                    std::vector<std::span<const std::byte>> spans(data.begin(), data.end());
                    try {
                        if (batched) {
                            co_await b->append_batch(spans);
                            appended += 8;
                        } else {
                            // Blocks are written in the background; the error comes from the append that
                            // next needs a write. Every append that returned has its record kept.
                            for (const auto& one : spans) {
                                co_await b->append(one);
                                ++appended;
                            }
                        }
                    } catch (const std::system_error& e) {
                        failed = true;
                        CHECK(e.code().value() == ENOSPC);
                        CHECK(std::string(e.what()).find(mnt.string()) != std::string::npos);
                    }
                }
                REQUIRE(failed);
                CHECK(appended > 100);
                CHECK(b->stats().write_errors >= 1);
                // Every record appended before the error reads back intact (some from memory).
                auto all = co_await read_all(*b);
                REQUIRE(all.size() == appended);
                for (std::size_t k = 0; k < all.size(); ++k) {
                    CHECK(all[k].id == k);
                    CHECK(all[k].data == record(k));
                }
                // Acknowledging frees segments; then appends go through again.
                for (const auto& r : all) b->acknowledge(r.id);
                std::vector<std::vector<std::byte>> data;
                for (std::size_t k = 0; k < 8; ++k) data.push_back(record(100000 + k));
                std::vector<std::span<const std::byte>> spans(data.begin(), data.end());
                const record_id first = co_await b->append_batch(spans);
                CHECK(first == appended);
                co_await b->close();
            };
            loop.run_until_complete(run());
            recovery_report report;
            auto rest = reopen_and_read(o, &report);
            CHECK(report.issues.empty());
            REQUIRE(rest.size() == 8);
            CHECK(rest[0].id == appended);
            std::error_code ec;
            fs::remove_all(o.directory, ec);
        }
    }
}

TEST_CASE("fsync policies: every_batch syncs each write, interval at most once per interval, os never") {
    for (auto policy : {fsync_policy::every_batch, fsync_policy::interval, fsync_policy::os}) {
        scratch_dir dir;
        auto o = small_options(dir.path);
        o.fsync = policy;
        o.fsync_interval = std::chrono::hours(1);
        io_loop loop;
        auto run = [&]() -> task<void> {
            auto b = co_await disk_buffer::open(loop, o);
            for (int i = 0; i < 5; ++i) {
                const auto r = make_record(static_cast<std::size_t>(i), 50);
                const std::span<const std::byte> batch[] = {r};
                co_await b->append_batch(batch);
            }
            co_await b->flush();
            const auto syncs = b->stats().fsyncs;
            if (policy == fsync_policy::every_batch) CHECK(syncs >= 5);
            if (policy == fsync_policy::interval) CHECK(syncs == 0); // the hour has not passed
            if (policy == fsync_policy::os) CHECK(syncs == 0);
            co_await b->sync(); // explicit: always
            CHECK(b->stats().fsyncs == syncs + (policy == fsync_policy::every_batch ? 0 : 1));
            co_await b->close();
        };
        loop.run_until_complete(run());
    }
}

} // TEST_SUITE

} // namespace test_disk_buffer

