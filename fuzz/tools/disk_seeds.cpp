// Writes the seed corpus of the disk_recovery fuzz target and the reproducers of the recovery defects of
// issue 14: real buffers written by disk_buffer (every codec, several segments, a checkpoint with
// acknowledgements), and hand-made damage, packed in the target's input format (see
// fuzz/targets/disk_recovery.hpp). Run from the repository root after changing the format:
//   g++ -std=c++20 -Iinclude -DSLUICE_HAS_LZ4=1 -DSLUICE_HAS_ZSTD=1 fuzz/tools/disk_seeds.cpp -luring -llz4 -lzstd
//   ./a.out fuzz/corpus/disk_recovery fuzz/regressions/disk_recovery

#include <sluice/delivery/disk_buffer.hpp>

#include "../../tests/support/disk_files.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace sluice;
using sluice_test::bytes;

namespace {

void put8(bytes& out, unsigned v) { out.push_back(static_cast<std::byte>(v)); }
void put16(bytes& out, unsigned v) {
    put8(out, v & 0xff);
    put8(out, (v >> 8) & 0xff);
}
void chunk(bytes& out, const bytes& b) {
    put16(out, static_cast<unsigned>(b.size()));
    sluice_test::append(out, b);
}

/// Packs the files of `dir` (segments with their header dropped: the target writes a valid one).
bytes pack(const fs::path& dir, unsigned codec, unsigned pattern, unsigned appends) {
    std::vector<fs::path> segments;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".seg") segments.push_back(e.path());
    std::sort(segments.begin(), segments.end());
    bytes out;
    put8(out, codec);
    put8(out, static_cast<unsigned>(segments.size() - 1));
    std::uint64_t prev = 0;
    for (const auto& s : segments) {
        const std::uint64_t seq = detail::disk::parse_segment_name(s.filename().string()).value();
        const bytes file = sluice_test::read_file(s);
        put8(out, 1 | static_cast<unsigned>((seq - prev - 1) & 3) << 1);
        prev = seq;
        put16(out, static_cast<unsigned>(detail::disk::load64(file.data() + 24)));
        chunk(out, bytes(file.begin() + 40, file.end()));
    }
    if (fs::exists(dir / "acks")) {
        put8(out, 1);
        chunk(out, sluice_test::read_file(dir / "acks"));
    } else {
        put8(out, 0);
    }
    put8(out, pattern);
    put8(out, appends);
    return out;
}

void write(const fs::path& path, const bytes& b) {
    fs::create_directories(path.parent_path());
    sluice_test::write_file(path, b);
}

/// A buffer of `n` records (every codec), some acknowledged, closed; packed.
bytes real_buffer(compression codec, unsigned n, unsigned ack_every) {
    sluice_test::scratch_dir dir;
    disk_buffer_options o;
    o.directory = dir.path;
    o.codec = codec;
    o.segment_bytes = 700;
    o.block_bytes = 150;
    io_loop loop;
    auto run = [&]() -> task<void> {
        auto b = co_await disk_buffer::open(loop, o);
        for (unsigned i = 0; i < n; ++i) {
            const std::string payload = "event " + std::to_string(i) + std::string(i % 40, 'x');
            co_await b->append(payload);
        }
        co_await b->flush();
        if (ack_every != 0)
            for (unsigned i = 0; i < n; i += ack_every) b->acknowledge(i);
        co_await b->close();
    };
    loop.run_until_complete(run());
    return pack(dir.path, static_cast<unsigned>(codec), 5, 3);
}

bytes one_segment(const bytes& frames, unsigned first = 0) {
    bytes out;
    put8(out, 0);
    put8(out, 0);
    put8(out, 1);
    put16(out, first);
    chunk(out, frames);
    put8(out, 0);
    put8(out, 1);
    put8(out, 2);
    return out;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    const fs::path corpus = argv[1], regressions = argv[2];
    for (compression c : {compression::none, compression::lz4, compression::zstd}) {
        const auto name = std::string(to_string(c));
        write(corpus / ("buffer-" + name), real_buffer(c, 40, 3));
        write(corpus / ("buffer-" + name + "-small"), real_buffer(c, 6, 0));
    }

    // Issue 14 section 1, as the fuzzer's input: a frame whose id lies far from its segment's.
    bytes frames;
    for (record_id id = 0; id < 3; ++id) sluice_test::append(frames, sluice_test::record_frame(id, "r"));
    sluice_test::append(frames, sluice_test::record_frame(record_id{1} << 40, "far"));
    sluice_test::append(frames, sluice_test::record_frame(3, "r"));
    write(regressions / "implausible-id-bad-alloc", one_segment(frames));

    // A block of ids overlapping the previous segment's, whose first record is corrupt (both headers
    // damaged: the target writes none when bit 0 of the segment byte is clear).
    bytes two;
    put8(two, 0);
    put8(two, 1);
    bytes seg1, inner;
    for (record_id id = 0; id < 6; ++id) sluice_test::append(seg1, sluice_test::record_frame(id, "s1"));
    for (record_id id = 3; id < 9; ++id) sluice_test::append(inner, sluice_test::record_frame(id, "s2"));
    inner[20] ^= std::byte{1}; // record 3's header CRC (the target fixes CRCs: break its magic instead)
    inner[0] = std::byte{0};
    bytes seg2 = sluice_test::stored_block(3, 6, inner);
    for (record_id id = 9; id < 12; ++id) sluice_test::append(seg2, sluice_test::record_frame(id, "s2"));
    bytes no_header(40, std::byte{'x'});
    put8(two, 0);
    put16(two, 0);
    bytes c1 = no_header;
    sluice_test::append(c1, seg1);
    chunk(two, c1);
    put8(two, 0);
    put16(two, 0);
    bytes c2 = no_header;
    sluice_test::append(c2, seg2);
    chunk(two, c2);
    put8(two, 0);
    put8(two, 0);
    put8(two, 0);
    write(regressions / "overlapping-block-marks-other-segment", two);

    // A block claiming 2^31 records in a few bytes.
    bytes huge = sluice_test::stored_block(0, 1, sluice_test::record_frame(0, "r"));
    detail::disk::store32(huge.data() + 16, 1u << 31);
    write(regressions / "block-count-implausible", one_segment(huge));
    return 0;
}
