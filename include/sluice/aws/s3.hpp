#pragma once

// s3_client: the S3 REST calls an object destination needs (PutObject, the multipart upload calls,
// ListParts, GetObject, ListObjectsV2), one bucket per client, on aws::service_client (credentials,
// SigV4 with S3's rules: single-encoded paths and x-amz-content-sha256, XML errors, clock skew,
// expired tokens).
//
// Every call is one attempt: the caller (the object engine's S3 destination) owns attempts and backoff.
// Bodies carry an x-amz-checksum-crc32c (base64 of the big-endian CRC32C; sizes are known, so no
// aws-chunked encoding) that S3 checks before it stores anything; multipart uploads are created with
// x-amz-checksum-algorithm CRC32C so that every part is checked and ListParts reports the checksums.
// S3's limits are data (s3_limits).
//
// Addressing: virtual-hosted (https://<bucket>.s3.<region>.amazonaws.com/<key>) by default; path-style
// (<endpoint>/<bucket>/<key>) for emulators, custom endpoints and bucket names with dots.

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/aws/service_client.hpp>
#include <sluice/codec/crc32c.hpp>
#include <sluice/text/base64.hpp>

namespace sluice::aws {

/// S3's limits (docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html), as data.
struct s3_limits {
    std::uint64_t min_part_bytes = std::uint64_t{5} << 20;  ///< every part but the last
    std::uint64_t max_part_bytes = std::uint64_t{5} << 30;  ///< any part
    std::uint32_t max_parts = 10'000;                       ///< per multipart upload
    std::uint64_t max_put_bytes = std::uint64_t{5} << 30;   ///< one PutObject
    /// 10,000 parts of 5 GiB: 48.8 TiB.
    std::uint64_t max_object_bytes = std::uint64_t{10'000} * (std::uint64_t{5} << 30);
};

/// What an S3 client talks to.
struct s3_client_options {
    /// The one bucket every call addresses (required).
    std::string bucket;
    /// The region requests are signed for (required).
    std::string region;
    /// The S3 endpoint without the bucket: "https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:4568".
    std::string endpoint;
    /// `<endpoint>/<bucket>/<key>` instead of `<bucket>.<endpoint host>/<key>`.
    bool path_style = false;
    /// Sign the body's SHA-256 (x-amz-content-sha256); false sends UNSIGNED-PAYLOAD (over HTTPS the
    /// CRC32C checksum and TLS protect the body, and hashing costs ~2-5 ms per 8 MiB part).
    bool sign_payload = true;
    /// Per attempt; zero: the HTTP client's default.
    std::chrono::milliseconds attempt_timeout{0};
    /// Notes refreshed credentials, never with credentials or signatures; null: nowhere. Failed calls
    /// are the caller's to log (it owns the attempts).
    const logger* log = nullptr;
};

/// The headers an object is stored with.
struct s3_object_headers {
    std::string_view content_type{};     ///< Content-Type; empty: none sent. Must outlive the call.
    std::string_view content_encoding{}; ///< Content-Encoding ("gzip"); empty: none sent.
};

/// One part of a multipart upload, as uploaded or as ListParts reports it.
struct s3_part {
    std::uint32_t number = 0; ///< its part number (from 1): parts are assembled in this order
    std::string etag{};       ///< as S3 gave it, quotes included: what CompleteMultipartUpload names
    std::uint64_t size = 0;   ///< its bytes
    /// The base64 CRC32C S3 stored with it ("" when it reported none).
    std::string checksum_crc32c{};
};

/// One object as ListObjectsV2 reports it.
struct s3_object_info {
    std::string key;        ///< the full key, XML entities decoded
    std::uint64_t size = 0; ///< its bytes
    /// As S3 gives it, quotes included; a multipart object's ends in "-<number of parts>".
    std::string etag;
};

/// A call's answer: the value, or why there is none.
template <class T>
struct s3_result {
    std::optional<T> value{}; ///< set when the call succeeded
    call_failure failure{};   ///< why it failed, when `value` is empty
    /// True when the call returned its value.
    [[nodiscard]] bool ok() const noexcept { return value.has_value(); }
    /// The failure as an outcome (retry, throttled or reject) for the caller's retry loop.
    [[nodiscard]] outcome to_outcome() const { return ok() ? outcome::ok() : failure.to_entry_result(); }
    /// True when S3 answered with this error code.
    [[nodiscard]] bool is(std::string_view code) const noexcept {
        return failure.service && failure.service->code == code;
    }
};

/// An empty value for calls that return nothing.
struct s3_done {};

/// The base64 of the big-endian CRC32C of `bytes`: the value of x-amz-checksum-crc32c.
[[nodiscard]] inline std::string s3_checksum_crc32c(std::string_view bytes) {
    const std::uint32_t c = crc32c(bytes);
    const char be[4] = {static_cast<char>(c >> 24), static_cast<char>(c >> 16), static_cast<char>(c >> 8), static_cast<char>(c)};
    std::string out;
    text::append_base64(out, std::string_view(be, 4));
    return out;
}

namespace detail::s3 {

/// The inside of the first <tag>...</tag> element at or after `from` (before `until`) and where it
/// ends, for elements that hold other elements (xml_element_text stops at the first "</").
struct xml_block {
    std::string_view inner;
    std::size_t end = 0; ///< just past "</tag>"
};
[[nodiscard]] inline std::optional<xml_block> find_block(std::string_view xml, std::string_view tag, std::size_t from,
                                                         std::size_t until = std::string_view::npos) {
    until = std::min(until, xml.size());
    const std::string open = "<" + std::string(tag);
    const std::string close = "</" + std::string(tag) + ">";
    for (std::size_t at = xml.find(open, from); at != std::string_view::npos && at < until; at = xml.find(open, at + 1)) {
        const std::size_t after = at + open.size();
        if (after >= xml.size()) return std::nullopt;
        const char c = xml[after];
        if (c != '>' && c != ' ' && c != '\t' && c != '\r' && c != '\n') continue;
        const std::size_t gt = xml.find('>', after);
        const std::size_t end = xml.find(close, after);
        if (gt == std::string_view::npos || end == std::string_view::npos || end > until || gt > end) return std::nullopt;
        return xml_block{xml.substr(gt + 1, end - gt - 1), end + close.size()};
    }
    return std::nullopt;
}

/// The decoded text of <tag> in `xml`, or "".
[[nodiscard]] inline std::string text_of(std::string_view xml, std::string_view tag) {
    const auto t = sluice::detail::aws_error::xml_element_text(xml, tag);
    return t ? sluice::detail::aws_error::xml_unescape(*t) : std::string{};
}

template <class Int>
[[nodiscard]] inline std::optional<Int> number_of(std::string_view xml, std::string_view tag) {
    const std::string t = text_of(xml, tag);
    Int v{};
    const auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || r.ec != std::errc{} || r.ptr != t.data() + t.size()) return std::nullopt;
    return v;
}

/// Escapes text for an XML element.
inline void append_xml_text(std::string& out, std::string_view text) {
    for (const char c : text) {
        if (c == '&') out += "&amp;";
        else if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else out += c;
    }
}

/// The parts of one ListParts page, whether more pages follow and the marker of the next one.
struct list_parts_page {
    std::vector<s3_part> parts;
    bool truncated = false;
    std::uint32_t next_marker = 0;
};

/// Parses a ListPartsResult body; nullopt when it is not one (or a part lacks its number or size).
[[nodiscard]] inline std::optional<list_parts_page> parse_list_parts(std::string_view xml) {
    const auto result = find_block(xml, "ListPartsResult", 0);
    if (!result) return std::nullopt;
    list_parts_page page;
    std::size_t at = 0;
    while (const auto part = find_block(result->inner, "Part", at)) {
        s3_part p;
        const auto number = number_of<std::uint32_t>(part->inner, "PartNumber");
        const auto size = number_of<std::uint64_t>(part->inner, "Size");
        if (!number || !size) return std::nullopt;
        p.number = *number;
        p.size = *size;
        p.etag = text_of(part->inner, "ETag");
        p.checksum_crc32c = text_of(part->inner, "ChecksumCRC32C");
        page.parts.push_back(std::move(p));
        at = part->end;
    }
    // IsTruncated and NextPartNumberMarker are children of ListPartsResult (no <Part> has them).
    page.truncated = text_of(result->inner, "IsTruncated") == "true";
    if (page.truncated) {
        const auto marker = number_of<std::uint32_t>(result->inner, "NextPartNumberMarker");
        if (!marker) return std::nullopt;
        page.next_marker = *marker;
    }
    return page;
}

/// The objects of one ListObjectsV2 page and the token of the next one ("" when it is the last).
struct list_objects_page {
    std::vector<s3_object_info> objects;
    std::string next_token;
};

/// Parses a ListBucketResult (ListObjectsV2) body; nullopt when it is not one.
[[nodiscard]] inline std::optional<list_objects_page> parse_list_objects(std::string_view xml) {
    const auto result = find_block(xml, "ListBucketResult", 0);
    if (!result) return std::nullopt;
    list_objects_page page;
    std::size_t at = 0;
    while (const auto entry = find_block(result->inner, "Contents", at)) {
        s3_object_info o;
        o.key = text_of(entry->inner, "Key");
        const auto size = number_of<std::uint64_t>(entry->inner, "Size");
        if (o.key.empty() || !size) return std::nullopt;
        o.size = *size;
        o.etag = text_of(entry->inner, "ETag");
        page.objects.push_back(std::move(o));
        at = entry->end;
    }
    if (text_of(result->inner, "IsTruncated") == "true") {
        page.next_token = text_of(result->inner, "NextContinuationToken");
        if (page.next_token.empty()) return std::nullopt;
    }
    return page;
}

} // namespace detail::s3

/// One bucket's S3 calls (see the top of this header). Loop thread only.
class s3_client {
public:
    /// Throws std::invalid_argument for a missing bucket, region or a malformed endpoint.
    s3_client(http::client& http, std::shared_ptr<credentials_provider> credentials, s3_client_options options)
        : options_(std::move(options)),
          client_(http, std::move(credentials), service_options(options_)) {}

    /// What the client was made with.
    [[nodiscard]] const s3_client_options& options() const noexcept { return options_; }
    /// S3's documented limits, for the caller to size parts and objects by.
    [[nodiscard]] const s3_limits& limits() const noexcept { return limits_; }
    /// Abandons every call in flight and every later one (transport_error::cancelled): for a stop
    /// whose deadline passed.
    void cancel() noexcept { stop_.request_stop(); }
    /// Tripped by cancel(): the caller's waits between attempts end with it too.
    [[nodiscard]] std::stop_token stop_token() const noexcept { return stop_.get_token(); }
    /// "s3://bucket/key".
    [[nodiscard]] std::string location(std::string_view key) const { return "s3://" + options_.bucket + "/" + std::string(key); }

    /// PutObject: `body` as the whole object.
    task<s3_result<s3_done>> put_object(std::string_view key, std::string_view body, s3_object_headers h) {
        const std::string checksum = s3_checksum_crc32c(body);
        std::vector<http::header> headers = object_headers(h);
        headers.push_back({"x-amz-checksum-crc32c", checksum});
        const std::string path = key_path(key);
        rest_call c = call_for("S3.PutObject", "PUT", path, body);
        c.headers = headers;
        auto out = co_await client_.call(c, single());
        co_return finish<s3_done>(std::move(out), [](const http::response&) { return std::optional<s3_done>(s3_done{}); });
    }

    /// CreateMultipartUpload with CRC32C checksums: the upload id.
    task<s3_result<std::string>> create_multipart_upload(std::string_view key, s3_object_headers h) {
        std::vector<http::header> headers = object_headers(h);
        headers.push_back({"x-amz-checksum-algorithm", "CRC32C"});
        const std::string path = key_path(key);
        const http_field query[] = {{"uploads", ""}};
        rest_call c = call_for("S3.CreateMultipartUpload", "POST", path, {});
        c.headers = headers;
        c.query = query;
        auto out = co_await client_.call(c, single());
        co_return finish<std::string>(std::move(out), [](const http::response& r) -> std::optional<std::string> {
            std::string id = detail::s3::text_of(r.body, "UploadId");
            if (id.empty()) return std::nullopt;
            return id;
        });
    }

    /// UploadPart: the part as uploaded (its number, ETag, size and checksum).
    task<s3_result<s3_part>> upload_part(std::string_view key, std::string_view upload_id, std::uint32_t number,
                                         std::string_view body) {
        const std::string checksum = s3_checksum_crc32c(body);
        const std::string number_text = std::to_string(number);
        const std::string upload(upload_id);
        std::vector<http::header> headers;
        headers.push_back({"x-amz-checksum-crc32c", checksum});
        const std::string path = key_path(key);
        const http_field query[] = {{"partNumber", number_text}, {"uploadId", upload}};
        rest_call c = call_for("S3.UploadPart", "PUT", path, body);
        c.headers = headers;
        c.query = query;
        auto out = co_await client_.call(c, single());
        const std::uint64_t size = body.size();
        co_return finish<s3_part>(std::move(out), [&](const http::response& r) -> std::optional<s3_part> {
            const auto etag = r.header("etag");
            if (!etag || etag->empty()) return std::nullopt;
            return s3_part{number, std::string(*etag), size, checksum};
        });
    }

    /// CompleteMultipartUpload of `parts` (in part-number order).
    task<s3_result<s3_done>> complete_multipart_upload(std::string_view key, std::string_view upload_id,
                                                       const std::vector<s3_part>& parts) {
        std::string body = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
        for (const s3_part& p : parts) {
            body += "<Part>";
            if (!p.checksum_crc32c.empty()) {
                body += "<ChecksumCRC32C>";
                detail::s3::append_xml_text(body, p.checksum_crc32c);
                body += "</ChecksumCRC32C>";
            }
            body += "<ETag>";
            detail::s3::append_xml_text(body, p.etag);
            body += "</ETag><PartNumber>" + std::to_string(p.number) + "</PartNumber></Part>";
        }
        body += "</CompleteMultipartUpload>";
        const std::string upload(upload_id);
        std::vector<http::header> headers;
        headers.push_back({"Content-Type", "application/xml"});
        const std::string path = key_path(key);
        const http_field query[] = {{"uploadId", upload}};
        rest_call c = call_for("S3.CompleteMultipartUpload", "POST", path, body);
        c.headers = headers;
        c.query = query;
        auto out = co_await client_.call(c, single());
        if (out.ok() && detail::s3::find_block(out.response->body, "Error", 0)) {
            // S3 may answer 200 and report the failure in the body.
            co_return error_in_body<s3_done>(*out.response, "S3.CompleteMultipartUpload");
        }
        co_return finish<s3_done>(std::move(out), [](const http::response&) { return std::optional<s3_done>(s3_done{}); });
    }

    /// AbortMultipartUpload. NoSuchUpload (completed or aborted already) is a failure the caller may
    /// take as done.
    task<s3_result<s3_done>> abort_multipart_upload(std::string_view key, std::string_view upload_id) {
        const std::string upload(upload_id);
        const std::string path = key_path(key);
        const http_field query[] = {{"uploadId", upload}};
        rest_call c = call_for("S3.AbortMultipartUpload", "DELETE", path, {});
        c.query = query;
        auto out = co_await client_.call(c, single());
        co_return finish<s3_done>(std::move(out), [](const http::response&) { return std::optional<s3_done>(s3_done{}); });
    }

    /// ListParts, every page: the parts S3 has of the upload, by number.
    task<s3_result<std::vector<s3_part>>> list_parts(std::string_view key, std::string_view upload_id) {
        s3_result<std::vector<s3_part>> all;
        all.value.emplace();
        const std::string upload(upload_id);
        const std::string path = key_path(key);
        std::uint32_t marker = 0;
        for (;;) {
            const std::string marker_text = std::to_string(marker);
            const http_field first_page[] = {{"uploadId", upload}};
            const http_field next_page[] = {{"part-number-marker", marker_text}, {"uploadId", upload}};
            rest_call c = call_for("S3.ListParts", "GET", path, {});
            if (marker == 0) c.query = first_page;
            else c.query = next_page;
            auto out = co_await client_.call(c, single());
            if (!out.ok()) {
                all.value.reset();
                all.failure = std::move(out.failure);
                co_return all;
            }
            auto page = detail::s3::parse_list_parts(out.response->body);
            if (!page || (page->truncated && page->next_marker <= marker)) {
                all.value.reset();
                all.failure = malformed("S3.ListParts", *out.response);
                co_return all;
            }
            for (auto& p : page->parts) all.value->push_back(std::move(p));
            if (!page->truncated) break;
            marker = page->next_marker;
        }
        std::sort(all.value->begin(), all.value->end(), [](const s3_part& a, const s3_part& b) { return a.number < b.number; });
        co_return all;
    }

    /// GetObject: the object's bytes (up to the HTTP client's max_response_bytes).
    task<s3_result<std::string>> get_object(std::string_view key) {
        const std::string path = key_path(key);
        rest_call c = call_for("S3.GetObject", "GET", path, {});
        auto out = co_await client_.call(c, single());
        co_return finish<std::string>(std::move(out), [](const http::response& r) { return std::optional<std::string>(r.body); });
    }

    /// ListObjectsV2, every page: the objects whose keys start with `prefix`, in key order.
    task<s3_result<std::vector<s3_object_info>>> list_objects(std::string_view prefix) {
        s3_result<std::vector<s3_object_info>> all;
        all.value.emplace();
        const std::string wanted(prefix);
        std::string token;
        for (;;) {
            const http_field first_page[] = {{"list-type", "2"}, {"prefix", wanted}};
            const http_field next_page[] = {{"continuation-token", token}, {"list-type", "2"}, {"prefix", wanted}};
            rest_call c = call_for("S3.ListObjectsV2", "GET", {}, {});
            if (token.empty()) c.query = first_page;
            else c.query = next_page;
            auto out = co_await client_.call(c, single());
            if (!out.ok()) {
                all.value.reset();
                all.failure = std::move(out.failure);
                co_return all;
            }
            auto page = detail::s3::parse_list_objects(out.response->body);
            if (!page || (!page->next_token.empty() && page->next_token == token)) {
                all.value.reset();
                all.failure = malformed("S3.ListObjectsV2", *out.response);
                co_return all;
            }
            for (auto& o : page->objects) all.value->push_back(std::move(o));
            if (page->next_token.empty()) break;
            token = std::move(page->next_token);
        }
        co_return all;
    }

private:
    static service_client_options service_options(const s3_client_options& o) {
        if (o.bucket.empty()) throw std::invalid_argument("sluice::aws::s3_client: no bucket");
        service_client_options s;
        s.service = "s3";
        s.region = o.region;
        s.attempt_timeout = o.attempt_timeout;
        s.log = o.log;
        const endpoint_url base = endpoint_url::parse(o.endpoint);
        const std::string scheme = o.endpoint.substr(0, o.endpoint.find("://"));
        std::string path = base.path;
        if (path.back() != '/') path += '/';
        if (o.path_style) s.endpoint = scheme + "://" + base.host + path + o.bucket;
        else s.endpoint = scheme + "://" + o.bucket + "." + base.host + (path == "/" ? "" : path.substr(0, path.size() - 1));
        return s;
    }

    /// "/<key>" as S3 wants it on the wire: every byte but unreserved ones and '/' percent-encoded.
    [[nodiscard]] static std::string key_path(std::string_view key) { return "/" + uri_encode_path(key); }

    [[nodiscard]] rest_call call_for(std::string_view operation, std::string_view method, std::string_view path,
                                     std::string_view body) const {
        rest_call c;
        c.operation = operation;
        c.method = method;
        c.path = path;
        c.body = body;
        c.signing = sigv4_s3_options;
        if (!options_.sign_payload) c.payload_hash = unsigned_payload;
        return c;
    }

    static std::vector<http::header> object_headers(const s3_object_headers& h) {
        std::vector<http::header> headers;
        if (!h.content_type.empty()) headers.push_back({"Content-Type", std::string(h.content_type)});
        if (!h.content_encoding.empty()) headers.push_back({"Content-Encoding", std::string(h.content_encoding)});
        return headers;
    }

    [[nodiscard]] call_options single() const {
        call_options o;
        o.single_attempt = true;
        o.stop = stop_.get_token();
        return o;
    }

    template <class T, class Read>
    static s3_result<T> finish(call_outcome&& out, Read&& read) {
        s3_result<T> r;
        if (!out.ok()) {
            r.failure = std::move(out.failure);
            return r;
        }
        r.value = read(*out.response);
        if (!r.value) r.failure = malformed("S3", *out.response);
        return r;
    }

    /// An answer S3 should not give (no ETag, no UploadId, unreadable XML): retried, as S3 answers
    /// so only when something went wrong on its side.
    static call_failure malformed(std::string_view operation, const http::response& r) {
        call_failure f;
        f.kind = retry_kind::transient;
        f.verdict = retry_verdict::attempts_exhausted;
        f.attempts = 1;
        f.message = std::string(operation) + ": the answer (HTTP " + std::to_string(r.status) +
                    ") lacks what the call returns";
        return f;
    }

    template <class T>
    static s3_result<T> error_in_body(const http::response& r, std::string_view operation) {
        s3_result<T> out;
        service_error se = parse_service_error(500, r.headers, r.body);
        out.failure.kind = classify(se);
        if (out.failure.kind == retry_kind::none && se.code == "InternalError") out.failure.kind = retry_kind::transient;
        out.failure.verdict = out.failure.kind == retry_kind::none ? retry_verdict::not_retryable : retry_verdict::attempts_exhausted;
        out.failure.attempts = 1;
        out.failure.message = std::string(operation) + ": " + se.describe();
        out.failure.service = std::move(se);
        return out;
    }

    s3_client_options options_;
    service_client client_;
    s3_limits limits_{};
    std::stop_source stop_{};
};

} // namespace sluice::aws
