#pragma once

// What an object destination reads back from its own files after a crash, which a crash, a full disk
// or a hand can damage: journal entries (objects/journal.hpp, the frames of the disk buffer that name
// each object and its records) and multipart upload state files (objects/upload_state.hpp). What must
// hold besides the sanitizers:
//   - a journal entry decodes to what was encoded; no strict prefix of an open or close entry decodes;
//     anything that decodes re-encodes to bytes that decode the same;
//   - an upload state file cut anywhere (a torn write) parses to nothing before its header line is
//     whole, and after it to exactly the whole part lines before the cut (last one per number wins),
//     counting a cut line and lines with part number 0 as skipped; arbitrary text parses or is refused.
//
// Input: u8 mode % 3. 0: the rest is a journal entry and a state file, raw. 1: generated journal
// entries: u64 object, partition, key (u16-length chunks), u64 time, record (the rest). 2: generated
// upload state: u64 sequence, u64 part bytes, bucket, key, upload id, u8 part count (% 6), per part
// u32 number (% 4), u64 size, checksum, etag; then u32 cut position.

#include "../fuzz.hpp"

#include <sluice/objects/journal.hpp>
#include <sluice/objects/upload_state.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice_fuzz {

namespace objects_state_detail {

using namespace sluice::objects;

inline std::string str(std::span<const std::uint8_t> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

inline bool same(const journal_entry& a, const journal_entry& b) {
    return a.kind == b.kind && a.object == b.object && a.partition == b.partition && a.key == b.key &&
           a.opened_at_ms == b.opened_at_ms && a.record == b.record;
}

inline std::string encode(const journal_entry& e) {
    std::string out;
    switch (e.kind) {
    case journal_entry_kind::open: encode_open(out, e.object, e.partition, e.key, e.opened_at_ms); break;
    case journal_entry_kind::record: encode_record(out, e.object, e.record); break;
    case journal_entry_kind::close: encode_close(out, e.object); break;
    }
    return out;
}

inline void raw(std::string_view in) {
    if (const auto e = decode_journal_entry(in)) {
        const std::string again = encode(*e);
        const auto back = decode_journal_entry(again);
        SLUICE_FUZZ_CHECK(back && same(*back, *e), "a decoded entry does not survive re-encoding");
    }
    (void)parse_upload_state(in);
}

inline void journal(reader& r) {
    journal_entry e;
    e.object = r.u64();
    const std::string partition = str(r.chunk()), key = str(r.chunk());
    e.opened_at_ms = static_cast<std::int64_t>(r.u64());
    const std::string record = str(r.rest());
    for (const auto kind : {journal_entry_kind::open, journal_entry_kind::record, journal_entry_kind::close}) {
        journal_entry want;
        want.kind = kind;
        want.object = e.object;
        if (kind == journal_entry_kind::open) {
            want.partition = partition;
            want.key = key;
            want.opened_at_ms = e.opened_at_ms;
        } else if (kind == journal_entry_kind::record) {
            want.record = record;
        }
        const std::string bytes = encode(want);
        const auto got = decode_journal_entry(bytes);
        SLUICE_FUZZ_CHECK(got && same(*got, want), "an entry does not decode to what was encoded");
        if (kind == journal_entry_kind::record) continue; // a record entry's record is the rest: any cut decodes
        for (std::size_t n = 0; n < bytes.size(); ++n)
            SLUICE_FUZZ_CHECK(!decode_journal_entry(std::string_view(bytes).substr(0, n)), "a cut entry decodes");
    }
}

/// A field as the state writer never writes it ambiguously: "-" stands for "none" in a part line.
inline std::string field(reader& r) {
    std::string s = str(r.chunk());
    return s == "-" ? std::string("--") : s;
}

inline void upload(reader& r) {
    upload_state s;
    s.sequence = r.u64();
    s.part_bytes = r.u64() | 1;
    s.bucket = "b" + str(r.chunk());
    s.key = "k" + str(r.chunk());
    s.upload_id = "u" + str(r.chunk());
    std::string text = encode_upload_header(s);
    const std::size_t header_bytes = text.size();
    struct line {
        std::size_t end;
        std::uint32_t number;
        recorded_part part;
    };
    std::vector<line> lines;
    for (unsigned i = r.u8() % 6; i > 0; --i) {
        const std::uint32_t number = r.u32() % 4;
        recorded_part p{r.u64(), field(r), field(r)};
        text += encode_upload_part(number, p);
        lines.push_back({text.size(), number, std::move(p)});
    }
    const std::size_t cut = r.u32() % (text.size() + 1);
    const auto parsed = parse_upload_state(std::string_view(text).substr(0, cut));
    if (cut < header_bytes) {
        SLUICE_FUZZ_CHECK(!parsed, "a state without its whole header line parsed");
        return;
    }
    SLUICE_FUZZ_CHECK(parsed.has_value(), "a state with its header refused");
    SLUICE_FUZZ_CHECK(parsed->sequence == s.sequence && parsed->part_bytes == s.part_bytes && parsed->bucket == s.bucket &&
                          parsed->key == s.key && parsed->upload_id == s.upload_id,
                      "the header read back differently");
    std::map<std::uint32_t, recorded_part> parts;
    std::size_t skipped = 0, previous_end = header_bytes;
    for (const auto& l : lines) {
        if (l.end > cut) {
            if (cut > previous_end) ++skipped; // the torn line
            break;
        }
        previous_end = l.end;
        if (l.number == 0) ++skipped;
        else parts[l.number] = l.part;
    }
    SLUICE_FUZZ_CHECK(parsed->skipped_lines == skipped, std::to_string(parsed->skipped_lines) + " lines skipped, not " +
                                                            std::to_string(skipped));
    SLUICE_FUZZ_CHECK(parsed->parts.size() == parts.size(), "parts lost or invented");
    for (const auto& [number, p] : parts) {
        const auto it = parsed->parts.find(number);
        SLUICE_FUZZ_CHECK(it != parsed->parts.end() && it->second.size == p.size && it->second.checksum == p.checksum &&
                              it->second.etag == p.etag,
                          "part " + std::to_string(number) + " read back differently");
    }
}

} // namespace objects_state_detail

SLUICE_FUZZ_TARGET(objects_state) {
    reader r(data);
    switch (r.u8() % 3) {
    case 0: objects_state_detail::raw(as_text(r.rest())); break;
    case 1: objects_state_detail::journal(r); break;
    default: objects_state_detail::upload(r); break;
    }
}

} // namespace sluice_fuzz
