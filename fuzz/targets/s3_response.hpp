#pragma once

// What the S3 client reads from S3's XML answers: ListParts pages (parts, IsTruncated,
// NextPartNumberMarker), the UploadId of CreateMultipartUpload and an <Error> inside a 200 answer to
// CompleteMultipartUpload. What must hold besides the sanitizers: a ListPartsResult written the way
// S3 writes it (any ETag and checksum text, escaped) parses back to exactly its parts, in order, with
// its truncation and marker; a page that says it is truncated always has its marker; anything else
// either parses or is refused (nullopt), and an error found in the body describes itself without a
// control character.
//
// Input: u8 mode. Even: generated page: u8 part count (% 8); per part: u32 number, u64 size, ETag and
// checksum (u16-length chunks; empty ones are left out), then u8 truncated flag and u32 marker. Odd:
// the rest of the input as the body.

#include "../fuzz.hpp"

#include <sluice/aws/s3.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace sluice_fuzz {

namespace s3_detail {

namespace s3 = sluice::aws::detail::s3;

inline std::string str(std::span<const std::uint8_t> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

inline void element(std::string& xml, std::string_view tag, std::string_view text) {
    xml += "<" + std::string(tag) + ">";
    s3::append_xml_text(xml, text);
    xml += "</" + std::string(tag) + ">";
}

inline void generated(reader& r) {
    std::vector<sluice::aws::s3_part> parts(r.u8() % 8);
    std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<ListPartsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket>"
                      "<Key>k</Key><UploadId>u</UploadId><PartNumberMarker>0</PartNumberMarker>";
    for (auto& p : parts) {
        p.number = r.u32();
        p.size = r.u64();
        p.etag = str(r.chunk());
        p.checksum_crc32c = str(r.chunk());
        xml += "<Part>";
        element(xml, "PartNumber", std::to_string(p.number));
        if (!p.etag.empty()) element(xml, "ETag", p.etag);
        element(xml, "Size", std::to_string(p.size));
        if (!p.checksum_crc32c.empty()) element(xml, "ChecksumCRC32C", p.checksum_crc32c);
        xml += "</Part>";
    }
    const bool truncated = r.u8() & 1;
    const std::uint32_t marker = r.u32();
    element(xml, "IsTruncated", truncated ? "true" : "false");
    if (truncated) element(xml, "NextPartNumberMarker", std::to_string(marker));
    xml += "<MaxParts>1000</MaxParts></ListPartsResult>";

    const auto page = s3::parse_list_parts(xml);
    SLUICE_FUZZ_CHECK(page.has_value(), "a generated page refused: " + show(xml));
    SLUICE_FUZZ_CHECK(page->parts.size() == parts.size(), "parts lost or invented: " + show(xml));
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto& a = parts[i];
        const auto& b = page->parts[i];
        SLUICE_FUZZ_CHECK(a.number == b.number && a.size == b.size, "part " + std::to_string(i) + " number or size");
        SLUICE_FUZZ_CHECK(a.etag == b.etag, show(a.etag) + " read as " + show(b.etag));
        SLUICE_FUZZ_CHECK(a.checksum_crc32c == b.checksum_crc32c,
                          show(a.checksum_crc32c) + " read as " + show(b.checksum_crc32c));
    }
    SLUICE_FUZZ_CHECK(page->truncated == truncated, "IsTruncated misread");
    if (truncated) SLUICE_FUZZ_CHECK(page->next_marker == marker, "NextPartNumberMarker misread");
}

inline void raw(std::string_view body) {
    if (const auto page = s3::parse_list_parts(body)) {
        if (!page->truncated) SLUICE_FUZZ_CHECK(page->next_marker == 0, "a marker on a last page");
    }
    (void)s3::text_of(body, "UploadId");
    if (s3::find_block(body, "Error", 0)) {
        const sluice::aws::service_error e = sluice::aws::parse_service_error(500, body);
        SLUICE_FUZZ_CHECK(!has_control(e.describe()), show(e.describe()));
    }
}

} // namespace s3_detail

SLUICE_FUZZ_TARGET(s3_response) {
    reader r(data);
    const std::uint8_t mode = r.u8();
    if (mode % 2 == 0) s3_detail::generated(r);
    else s3_detail::raw(as_text(r.rest()));
}

} // namespace sluice_fuzz
