#pragma once

// disk_buffer recovery from arbitrary segment and checkpoint bytes. The input lays out up to four
// segment files and a checkpoint; the CRCs of every frame header, frame body, segment header and the
// checkpoint are fixed up (unless the first byte says not to), so the fuzzer gets past them and tests
// what comes after. Then, as two runs of a process would:
//   1. open (recovery), read everything, acknowledge some records, append a few, close;
//   2. open again and read everything.
// What must hold: open() works (a newer format version is the one documented refusal; appends are
// refused only when the files claim ids within a few of max_record_id); within a run
// records come out once and in increasing id order; the report's records_lost is the sum of its
// issues; and run 2 returns exactly the records run 1 handed out or appended and did not acknowledge,
// with the same bytes.
//
// Input: u8 flags (codec = flags % 3; bit 7: leave CRCs as they are), u8 segment count (1 + n % 4),
// then per segment: u8 (bit 0: write a valid header; bits 1-2: sequence gap), u16 first id, u16
// length, that many bytes of frames; then u8 checkpoint kind (0: none, else a u16-length-prefixed
// checkpoint), u8 acknowledgement pattern, u8 records to append.

#include "../fuzz.hpp"

#include <sluice/codec/crc32c.hpp>
#include <sluice/delivery/disk/checkpoint.hpp>
#include <sluice/delivery/disk/segment_format.hpp>
#include <sluice/delivery/disk_buffer.hpp>
#include <sluice/io/loop.hpp>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace sluice_fuzz {

namespace disk_detail {

namespace fs = std::filesystem;
namespace d = sluice::detail::disk;
using bytes = std::vector<std::byte>;

inline bytes to_bytes(std::span<const std::uint8_t> in) {
    bytes out(in.size());
    if (!in.empty()) std::memcpy(out.data(), in.data(), in.size());
    return out;
}

inline bytes to_bytes(std::string_view in) {
    bytes out(in.size());
    if (!in.empty()) std::memcpy(out.data(), in.data(), in.size());
    return out;
}

/// Recomputes the CRCs of every frame whose magic appears in `b`: records first (block bodies hold
/// records), then blocks.
inline void fix_frame_crcs(bytes& b) {
    for (const std::byte tag : {d::record_tag, d::block_tag}) {
        for (std::size_t i = 0; i + 4 <= b.size(); ++i) {
            if (b[i] != d::magic0 || b[i + 1] != d::magic1 || b[i + 2] != tag || b[i + 3] != d::magic3) continue;
            const bool block = tag == d::block_tag;
            const std::size_t hs = block ? d::block_header_size : d::record_header_size;
            if (i + hs > b.size()) continue;
            const std::uint64_t stored = d::load32(b.data() + i + 4);
            if (i + hs + stored <= b.size())
                d::store32(b.data() + i + (block ? 28 : 16), sluice::crc32c(b.data() + i + hs, static_cast<std::size_t>(stored)));
            d::store32(b.data() + i + hs - 4, sluice::crc32c(b.data() + i, hs - 4));
        }
    }
}

/// A fresh directory for this process, emptied for every input.
inline const fs::path& work_dir() {
    static const fs::path dir = [] {
        fs::path p = fs::temp_directory_path() / ("sluice-fuzz-disk-" + std::to_string(::getpid()));
        fs::create_directories(p);
        return p;
    }();
    return dir;
}

inline void write_file(const fs::path& path, const bytes& b) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

/// Lays the input out as files in `dir`; returns the acknowledgement pattern and the append count.
inline std::pair<unsigned, unsigned> lay_out(reader& r, const fs::path& dir, sluice::compression& codec) {
    const std::uint8_t flags = r.u8();
    const bool fix = (flags & 0x80) == 0;
    codec = static_cast<sluice::compression>(flags % 3);
    if (!sluice::compression_available(codec)) codec = sluice::compression::none;
    const unsigned segments = 1 + r.u8() % 4;
    std::uint64_t seq = 0;
    for (unsigned i = 0; i < segments; ++i) {
        const std::uint8_t how = r.u8();
        seq += 1 + ((how >> 1) & 3);
        const std::uint16_t first = r.u16();
        bytes seg = to_bytes(r.chunk());
        if (fix) fix_frame_crcs(seg);
        if (how & 1) {
            bytes head(d::segment_header_size);
            d::write_segment_header(head.data(), seq, first);
            seg.insert(seg.begin(), head.begin(), head.end());
        }
        write_file(dir / d::segment_name(seq), seg);
    }
    if (r.u8() != 0) {
        bytes ck = to_bytes(r.chunk());
        if (fix && ck.size() >= 4) d::store32(ck.data() + ck.size() - 4, sluice::crc32c(ck.data(), ck.size() - 4));
        write_file(dir / "acks", ck);
    }
    const unsigned pattern = r.u8();
    const unsigned appends = r.u8() % 8;
    return {pattern, appends};
}

inline std::string appended_payload(sluice::record_id id) { return "appended-" + std::to_string(id); }

inline bool acknowledged(sluice::record_id id, unsigned pattern) { return ((id * 7 + pattern) % 3) == 0; }

using record_map = std::map<sluice::record_id, bytes>;

inline void check_report(const sluice::recovery_report& report) {
    std::uint64_t sum = 0;
    for (const auto& issue : report.issues) sum += issue.records;
    SLUICE_FUZZ_CHECK(sum == report.records_lost, "records_lost is not the sum of the issues' records");
}

/// Reads every record; checks they come in increasing id order, each once.
inline sluice::task<record_map> read_all(sluice::disk_buffer& b) {
    record_map out;
    std::optional<sluice::record_id> last;
    while (auto rec = co_await b.read_next()) {
        SLUICE_FUZZ_CHECK(!last || rec->id > *last, "records out of order or twice: " + std::to_string(rec->id));
        last = rec->id;
        out.emplace(rec->id, std::move(rec->data));
    }
    co_return out;
}

/// Run 1: what must come back in run 2.
inline sluice::task<record_map> first_run(sluice::disk_buffer& b, unsigned pattern, unsigned appends) {
    check_report(b.recovery());
    record_map read = co_await read_all(b);
    SLUICE_FUZZ_CHECK(read.size() <= b.recovery().records_recovered, "more records read than recovered");
    record_map expected;
    for (auto& [id, data] : read) {
        if (acknowledged(id, pattern)) b.acknowledge(id);
        else expected.emplace(id, std::move(data));
    }
    for (unsigned i = 0; i < appends; ++i) {
        const std::string payload = appended_payload(b.next_id());
        // Files that claim ids within a few of the limit (valid CRCs and all) leave no ids to append:
        // the one documented refusal of append, and only that close to the limit.
        if (b.next_id() + 1 > d::max_record_id) {
            bool refused = false;
            try {
                co_await b.append(payload);
            } catch (const std::length_error&) {
                refused = true;
            }
            SLUICE_FUZZ_CHECK(refused, "an id past max_record_id was handed out");
            break;
        }
        const sluice::record_id id = co_await b.append(payload);
        SLUICE_FUZZ_CHECK(read.empty() || id > read.rbegin()->first, "an appended id is not new");
        if (!acknowledged(id, pattern + 1)) expected.emplace(id, to_bytes(std::string_view(payload)));
        else b.acknowledge(id);
    }
    co_return expected;
}

inline void run(input data) {
    const fs::path& dir = work_dir();
    for (const auto& entry : fs::directory_iterator(dir)) fs::remove_all(entry.path());
    reader r(data);
    sluice::disk_buffer_options o;
    o.directory = dir;
    const auto layout = lay_out(r, dir, o.codec);
    const unsigned pattern = layout.first, appends = layout.second; // (lambdas cannot capture bindings)
    o.segment_bytes = 2048;
    o.block_bytes = 256;
    o.fsync = sluice::fsync_policy::os;
    sluice::io_loop loop(sluice::loop_options{.backend = sluice::io_backend::epoll});
    record_map expected;
    bool opened = true;
    auto first = [&]() -> sluice::task<void> {
        std::unique_ptr<sluice::disk_buffer> b;
        try {
            b = co_await sluice::disk_buffer::open(loop, o);
        } catch (const std::runtime_error& e) {
            // The one documented refusal of what a directory holds: a segment of a newer format.
            SLUICE_FUZZ_CHECK(std::string(e.what()).find("format version") != std::string::npos, e.what());
            opened = false;
            co_return;
        }
        expected = co_await first_run(*b, pattern, appends);
        co_await b->close();
    };
    loop.run_until_complete(first());
    if (!opened) return;
    auto second = [&]() -> sluice::task<void> {
        auto b = co_await sluice::disk_buffer::open(loop, o);
        check_report(b->recovery());
        const record_map got = co_await read_all(*b);
        for (const auto& [id, bytes_] : expected) {
            auto it = got.find(id);
            SLUICE_FUZZ_CHECK(it != got.end(), "record " + std::to_string(id) + " not acknowledged and not back");
            SLUICE_FUZZ_CHECK(it->second == bytes_, "record " + std::to_string(id) + " came back different");
        }
        for (const auto& [id, bytes_] : got)
            SLUICE_FUZZ_CHECK(expected.count(id) != 0, "record " + std::to_string(id) + " came back unexpectedly");
        co_await b->close();
    };
    loop.run_until_complete(second());
}

} // namespace disk_detail

SLUICE_FUZZ_TARGET(disk_recovery) { disk_detail::run(data); }

} // namespace sluice_fuzz
