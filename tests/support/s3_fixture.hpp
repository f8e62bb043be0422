#pragma once

// A loopback S3 for tests, written from the S3 API reference (docs.aws.amazon.com/AmazonS3/latest/API):
// PutObject, GetObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
// AbortMultipartUpload and ListParts (with pagination), path-style addressing, XML answers and errors
// as S3 gives them. s3rver, the real emulator the integration tests use, has neither ListParts nor
// AbortMultipartUpload: resume and abort are tested here.
//
// It checks what S3 checks: x-amz-content-sha256 against the body (or UNSIGNED-PAYLOAD), a SigV4
// Authorization header, x-amz-checksum-crc32c against the body (BadDigest), part numbers 1..10,000,
// parts of at least min_part_bytes but the last (EntityTooSmall), parts named in ascending order with
// their ETags (InvalidPartOrder, InvalidPart), unknown uploads (NoSuchUpload). Faults can be injected
// per operation. Every object and upload lives in memory; bodies are not kept in the request log.

#include "http_server.hpp"

#include <sluice/aws/detail/crypto.hpp>
#include <sluice/aws/s3.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice_test {

class s3_fixture {
public:
    struct stored_object {
        std::string body;
        std::string content_type;
        std::string content_encoding;
    };
    struct stored_part {
        std::string body;
        std::string etag;
        std::string checksum;
    };
    struct upload {
        std::string key;
        std::string content_type;
        std::string content_encoding;
        bool crc32c = false;
        std::map<std::uint32_t, stored_part> parts;
    };

    explicit s3_fixture(std::string bucket = "sluice-test")
        : bucket_(std::move(bucket)), server_([this](const http_exchange& e) { return handle(e); }) {
        server_.keep_bodies(false);
    }

    [[nodiscard]] std::string endpoint() const { return server_.url(); }
    [[nodiscard]] const std::string& bucket() const noexcept { return bucket_; }
    http_server& server() noexcept { return server_; }

    /// ListParts answers at most this many parts per page.
    void set_list_page(std::size_t n) {
        std::lock_guard lock(mutex_);
        list_page_ = n;
    }
    /// S3's 5 MiB by default.
    void set_min_part_bytes(std::uint64_t n) {
        std::lock_guard lock(mutex_);
        min_part_ = n;
    }
    /// The next `times` requests of `operation` ("PutObject", "UploadPart", ...) answer `status` with
    /// the error `code` instead of doing anything.
    void fail(const std::string& operation, int status, const std::string& code, int times = 1) {
        std::lock_guard lock(mutex_);
        faults_[operation] = fault{status, code, times, false};
    }
    /// The next `times` requests of `operation` answer 200 with an <Error> body (as S3 may do for
    /// CompleteMultipartUpload), doing nothing.
    void fail_in_body(const std::string& operation, const std::string& code, int times = 1) {
        std::lock_guard lock(mutex_);
        faults_[operation] = fault{200, code, times, true};
    }
    /// Stores an upload as if a previous run had started it (for abort tests).
    std::string start_upload(const std::string& key) {
        std::lock_guard lock(mutex_);
        const std::string id = "upload-" + std::to_string(++next_upload_);
        uploads_[id] = upload{key, {}, {}, true, {}};
        return id;
    }

    [[nodiscard]] std::optional<stored_object> object(const std::string& key) const {
        std::lock_guard lock(mutex_);
        const auto it = objects_.find(key);
        if (it == objects_.end()) return std::nullopt;
        return it->second;
    }
    [[nodiscard]] std::vector<std::string> keys() const {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& [k, o] : objects_) out.push_back(k);
        return out;
    }
    [[nodiscard]] std::size_t uploads_in_progress() const {
        std::lock_guard lock(mutex_);
        return uploads_.size();
    }
    /// Requests per operation, faults included.
    [[nodiscard]] std::size_t count(const std::string& operation) const {
        std::lock_guard lock(mutex_);
        const auto it = counts_.find(operation);
        return it == counts_.end() ? 0 : it->second;
    }
    /// The part numbers UploadPart stored (in arrival order), for every upload.
    [[nodiscard]] std::vector<std::uint32_t> uploaded_parts() const {
        std::lock_guard lock(mutex_);
        return uploaded_;
    }

private:
    struct fault {
        int status = 0;
        std::string code;
        int times = 0;
        bool in_body = false;
    };
    struct request {
        std::string bucket;
        std::string key;
        std::map<std::string, std::string> query;
    };

    static http_reply error(int status, const std::string& code, const std::string& message) {
        http_reply r;
        r.status = status;
        r.headers.emplace_back("Content-Type", "application/xml");
        r.headers.emplace_back("x-amz-request-id", "fixture-request");
        r.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code + "</Code><Message>" + message +
                 "</Message><RequestId>fixture-request</RequestId></Error>";
        return r;
    }
    static http_reply xml(const std::string& body) {
        http_reply r;
        r.headers.emplace_back("Content-Type", "application/xml");
        r.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + body;
        return r;
    }

    static std::string decode(std::string_view s) {
        std::string out;
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] == '%' && i + 2 < s.size()) {
                out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
                i += 2;
            } else {
                out.push_back(s[i]);
            }
        }
        return out;
    }

    static request parse_target(const std::string& target) {
        request r;
        const auto q = target.find('?');
        const std::string path = decode(std::string_view(target).substr(0, q));
        const auto slash = path.find('/', 1);
        r.bucket = path.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
        if (slash != std::string::npos) r.key = path.substr(slash + 1);
        if (q == std::string::npos) return r;
        std::string_view rest = std::string_view(target).substr(q + 1);
        while (!rest.empty()) {
            const auto amp = rest.find('&');
            const std::string_view pair = rest.substr(0, amp);
            const auto eq = pair.find('=');
            r.query[decode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1));
            if (amp == std::string_view::npos) break;
            rest.remove_prefix(amp + 1);
        }
        return r;
    }

    static std::string operation_of(const http_exchange& e, const request& r) {
        const bool upload = r.query.count("uploadId") != 0;
        if (e.method == "PUT") return upload ? "UploadPart" : "PutObject";
        if (e.method == "POST") return r.query.count("uploads") ? "CreateMultipartUpload" : "CompleteMultipartUpload";
        if (e.method == "DELETE") return upload ? "AbortMultipartUpload" : "DeleteObject";
        if (e.method == "GET") return upload ? "ListParts" : "GetObject";
        return e.method;
    }

    static std::string md5(std::string_view data) {
        sluice::detail::md5_hasher h;
        char hex[32];
        if (!h.hex_digest(data, hex)) return "no-md5";
        return std::string(hex, 32);
    }

    std::optional<http_reply> check_request(const http_exchange& e) const {
        const auto auth = e.header("authorization");
        if (!auth || auth->rfind("AWS4-HMAC-SHA256 Credential=", 0) != 0 || !e.header("x-amz-date"))
            return error(403, "AccessDenied", "Missing or malformed SigV4 authorization");
        const auto sha = e.header("x-amz-content-sha256");
        if (!sha) return error(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256");
        if (*sha != "UNSIGNED-PAYLOAD") {
            sluice::detail::sha256_hasher h;
            std::string hex;
            sluice::detail::append_hex_lower(hex, h.digest(e.body));
            if (hex != *sha)
                return error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.");
        }
        if (const auto crc = e.header("x-amz-checksum-crc32c"); crc && *crc != sluice::aws::s3_checksum_crc32c(e.body))
            return error(400, "BadDigest", "The CRC32C you specified did not match the calculated checksum.");
        return std::nullopt;
    }

    http_reply handle(const http_exchange& e) {
        std::lock_guard lock(mutex_);
        const request r = parse_target(e.target);
        const std::string op = operation_of(e, r);
        ++counts_[op];
        if (auto it = faults_.find(op); it != faults_.end() && it->second.times > 0) {
            --it->second.times;
            http_reply injected = error(it->second.status, it->second.code, "injected by the test");
            if (it->second.in_body) injected.status = 200;
            return injected;
        }
        if (auto bad = check_request(e)) return *bad;
        if (r.bucket != bucket_) return error(404, "NoSuchBucket", "The specified bucket does not exist");
        if (r.key.empty()) return error(400, "InvalidRequest", "No key");
        if (op == "PutObject") return put_object(e, r);
        if (op == "GetObject") return get_object(r);
        if (op == "CreateMultipartUpload") return create_upload(e, r);
        if (op == "UploadPart") return upload_part(e, r);
        if (op == "CompleteMultipartUpload") return complete_upload(e, r);
        if (op == "AbortMultipartUpload") return abort_upload(r);
        if (op == "ListParts") return list_parts(r);
        return error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
    }

    http_reply put_object(const http_exchange& e, const request& r) {
        stored_object o{e.body, std::string(e.header("content-type").value_or("")),
                        std::string(e.header("content-encoding").value_or(""))};
        objects_[r.key] = std::move(o);
        http_reply reply;
        reply.headers.emplace_back("ETag", "\"" + md5(e.body) + "\"");
        return reply;
    }

    http_reply get_object(const request& r) const {
        const auto it = objects_.find(r.key);
        if (it == objects_.end()) return error(404, "NoSuchKey", "The specified key does not exist.");
        http_reply reply;
        reply.headers.emplace_back("Content-Type", it->second.content_type.empty() ? "binary/octet-stream" : it->second.content_type);
        if (!it->second.content_encoding.empty()) reply.headers.emplace_back("Content-Encoding", it->second.content_encoding);
        reply.body = it->second.body;
        return reply;
    }

    http_reply create_upload(const http_exchange& e, const request& r) {
        const std::string id = "upload-" + std::to_string(++next_upload_);
        upload u{r.key, std::string(e.header("content-type").value_or("")), std::string(e.header("content-encoding").value_or("")),
                 e.header("x-amz-checksum-algorithm").value_or("") == "CRC32C", {}};
        uploads_[id] = std::move(u);
        return xml("<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>" + bucket_ +
                   "</Bucket><Key>" + r.key + "</Key><UploadId>" + id + "</UploadId></InitiateMultipartUploadResult>");
    }

    http_reply upload_part(const http_exchange& e, const request& r) {
        const auto it = uploads_.find(r.query.at("uploadId"));
        if (it == uploads_.end() || it->second.key != r.key) return error(404, "NoSuchUpload", "The specified upload does not exist.");
        const int number = std::atoi(r.query.count("partNumber") ? r.query.at("partNumber").c_str() : "0");
        if (number < 1 || number > 10'000) return error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive");
        stored_part p{e.body, "\"" + md5(e.body) + "\"", sluice::aws::s3_checksum_crc32c(e.body)};
        http_reply reply;
        reply.headers.emplace_back("ETag", p.etag);
        if (it->second.crc32c) reply.headers.emplace_back("x-amz-checksum-crc32c", p.checksum);
        it->second.parts[static_cast<std::uint32_t>(number)] = std::move(p);
        uploaded_.push_back(static_cast<std::uint32_t>(number));
        return reply;
    }

    http_reply complete_upload(const http_exchange& e, const request& r) {
        const auto it = uploads_.find(r.query.at("uploadId"));
        if (it == uploads_.end() || it->second.key != r.key) return error(404, "NoSuchUpload", "The specified upload does not exist.");
        upload& u = it->second;
        std::vector<std::pair<std::uint32_t, std::string>> named; // number, etag
        for (std::size_t at = 0;;) {
            const auto part = sluice::aws::detail::s3::find_block(e.body, "Part", at);
            if (!part) break;
            const auto number = sluice::aws::detail::s3::number_of<std::uint32_t>(part->inner, "PartNumber");
            if (!number) return error(400, "MalformedXML", "The XML you provided was not well-formed");
            named.emplace_back(*number, sluice::aws::detail::s3::text_of(part->inner, "ETag"));
            const std::string checksum = sluice::aws::detail::s3::text_of(part->inner, "ChecksumCRC32C");
            if (u.parts.count(*number) && !checksum.empty() && checksum != u.parts[*number].checksum)
                return error(400, "InvalidPart", "A part's checksum does not match");
            at = part->end;
        }
        if (named.empty()) return error(400, "MalformedXML", "The XML you provided was not well-formed");
        std::string body;
        for (std::size_t i = 0; i < named.size(); ++i) {
            if (i > 0 && named[i].first <= named[i - 1].first)
                return error(400, "InvalidPartOrder", "The list of parts was not in ascending order.");
            const auto p = u.parts.find(named[i].first);
            if (p == u.parts.end() || p->second.etag != named[i].second)
                return error(400, "InvalidPart", "One or more of the specified parts could not be found.");
            if (i + 1 < named.size() && p->second.body.size() < min_part_)
                return error(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.");
            body += p->second.body;
        }
        objects_[u.key] = stored_object{std::move(body), u.content_type, u.content_encoding};
        uploads_.erase(it);
        return xml("<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>" + bucket_ +
                   "</Bucket><Key>" + r.key + "</Key><ETag>\"" + md5(objects_[r.key].body) + "-" +
                   std::to_string(named.size()) + "\"</ETag></CompleteMultipartUploadResult>");
    }

    http_reply abort_upload(const request& r) {
        const auto it = uploads_.find(r.query.at("uploadId"));
        if (it == uploads_.end() || it->second.key != r.key) return error(404, "NoSuchUpload", "The specified upload does not exist.");
        uploads_.erase(it);
        http_reply reply;
        reply.status = 204;
        return reply;
    }

    http_reply list_parts(const request& r) const {
        const auto it = uploads_.find(r.query.at("uploadId"));
        if (it == uploads_.end() || it->second.key != r.key) return error(404, "NoSuchUpload", "The specified upload does not exist.");
        const std::uint32_t marker = r.query.count("part-number-marker")
                                         ? static_cast<std::uint32_t>(std::stoul(r.query.at("part-number-marker"))) : 0;
        std::string parts;
        std::size_t n = 0;
        std::uint32_t last = marker;
        bool truncated = false;
        for (auto p = it->second.parts.upper_bound(marker); p != it->second.parts.end(); ++p) {
            if (n == list_page_) {
                truncated = true;
                break;
            }
            parts += "<Part><PartNumber>" + std::to_string(p->first) + "</PartNumber><LastModified>2026-01-01T00:00:00.000Z"
                     "</LastModified><ETag>&quot;" + p->second.etag.substr(1, p->second.etag.size() - 2) + "&quot;</ETag><Size>" +
                     std::to_string(p->second.body.size()) + "</Size>" +
                     (it->second.crc32c ? "<ChecksumCRC32C>" + p->second.checksum + "</ChecksumCRC32C>" : std::string()) + "</Part>";
            last = p->first;
            ++n;
        }
        return xml("<ListPartsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>" + bucket_ + "</Bucket><Key>" + r.key +
                   "</Key><UploadId>" + r.query.at("uploadId") + "</UploadId><PartNumberMarker>" + std::to_string(marker) +
                   "</PartNumberMarker><NextPartNumberMarker>" + std::to_string(last) + "</NextPartNumberMarker><MaxParts>" +
                   std::to_string(list_page_) + "</MaxParts><IsTruncated>" + (truncated ? "true" : "false") + "</IsTruncated>" +
                   parts + "</ListPartsResult>");
    }

    std::string bucket_;
    mutable std::mutex mutex_;
    std::map<std::string, stored_object> objects_;
    std::map<std::string, upload> uploads_;
    std::map<std::string, fault> faults_;
    std::map<std::string, std::size_t> counts_;
    std::vector<std::uint32_t> uploaded_;
    std::size_t next_upload_ = 0;
    std::size_t list_page_ = 1000;
    std::uint64_t min_part_ = std::uint64_t{5} << 20;
    http_server server_; // last: destroyed (joined) first, while the rest is still there
};

} // namespace sluice_test
