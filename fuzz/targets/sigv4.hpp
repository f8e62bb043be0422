#pragma once

// SigV4 canonicalisation and signing of arbitrary requests: method, path (encoded or not), query,
// headers (names and values of any bytes), body or payload hash, region, service, time, options and
// session token. What must hold: a signer that kept its keys from earlier inputs (the cache, LRU
// eviction included) and a fresh one give byte-identical results or the same std::invalid_argument,
// and signing twice gives the same; a signature is 64 lower-case hex digits; SignedHeaders lists
// lower-case tokens, sorted, without repeats, host (and x-amz-date, header signing) among them; no error message holds a
// control character or the secret key.
//
// Input: u8 flags (1 presign, 2 path encoded, 4 S3 options, 8 session token, 16 payload hash given, 32
// omit session token, 64 no Host header), u16 expiry, u32 time (seconds after 2000), then u16-length
// chunks: method, path, region, service, body or payload hash; u8 query count (% 5) and u8 header count
// (% 6) with a name and value chunk each.

#include "../fuzz.hpp"

#include <sluice/aws/credentials.hpp>
#include <sluice/aws/sigv4.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice_fuzz {

namespace sigv4_detail {

inline std::string str(std::span<const std::uint8_t> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

struct outcome {
    std::vector<sluice::aws::http_field> fields;
    std::optional<std::string> error;
    bool operator==(const outcome& o) const {
        if (error != o.error || fields.size() != o.fields.size()) return false;
        for (std::size_t i = 0; i < fields.size(); ++i)
            if (fields[i].name != o.fields[i].name || fields[i].value != o.fields[i].value) return false;
        return true;
    }
};

inline outcome sign(sluice::aws::sigv4_signer& signer, const sluice::aws::sigv4_request& r,
                    const sluice::aws::aws_credentials& c, bool presign, std::chrono::seconds expires) {
    outcome o;
    try {
        const auto result = presign ? signer.presign(r, c, expires) : signer.sign(r, c);
        o.fields.assign(result.fields().begin(), result.fields().end());
    } catch (const std::invalid_argument& e) {
        o.error = e.what();
    }
    return o;
}

inline void check_signed_headers(std::string_view list, bool presigned) {
    std::string_view previous;
    bool host = false, date = false;
    while (!list.empty()) {
        const std::size_t semi = list.find(';');
        const std::string_view name = list.substr(0, semi);
        list = semi == std::string_view::npos ? std::string_view{} : list.substr(semi + 1);
        SLUICE_FUZZ_CHECK(sluice::text::is_token(name), show(name));
        SLUICE_FUZZ_CHECK(sluice::text::to_lower(name) == name, show(name));
        SLUICE_FUZZ_CHECK(previous.empty() || previous < name, "SignedHeaders not sorted or repeated");
        previous = name;
        host = host || name == "host";
        date = date || name == "x-amz-date";
    }
    SLUICE_FUZZ_CHECK(host && (date || presigned), "host or x-amz-date not signed");
}

inline void check_signature(std::string_view hex) {
    SLUICE_FUZZ_CHECK(hex.size() == 64, show(hex));
    for (char c : hex) SLUICE_FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'), show(hex));
}

inline void check(const outcome& o, bool presign, const sluice::aws::aws_credentials& c, bool secret_in_request) {
    if (o.error) {
        SLUICE_FUZZ_CHECK(!has_control(*o.error), show(*o.error));
        // (An error may quote what the caller gave, a method or a header name: when the fuzzer put the
        // secret there, that is not the signer showing it.)
        if (!secret_in_request)
            SLUICE_FUZZ_CHECK(o.error->find(c.secret_access_key) == std::string::npos, "the secret in an error: " + show(*o.error));
        return;
    }
    for (const auto& f : o.fields) {
        if (presign && f.name == "X-Amz-SignedHeaders") check_signed_headers(f.value, true);
        if (presign && f.name == "X-Amz-Signature") check_signature(f.value);
        if (presign || f.name != "Authorization") continue;
        const std::string_view v = f.value;
        const std::size_t sh = v.find(", SignedHeaders="), sig = v.find(", Signature=");
        SLUICE_FUZZ_CHECK(v.starts_with("AWS4-HMAC-SHA256 Credential=") && sh != std::string_view::npos &&
                              sig != std::string_view::npos && sh < sig,
                          show(v));
        check_signed_headers(v.substr(sh + 16, sig - sh - 16), false);
        check_signature(v.substr(sig + 12));
    }
}

} // namespace sigv4_detail

SLUICE_FUZZ_TARGET(sigv4) {
    using namespace sigv4_detail;
    reader r(data);
    const std::uint8_t flags = r.u8();
    const bool presign = flags & 1;
    const auto expires = std::chrono::seconds(r.u16() * 16);
    sluice::aws::sigv4_request req;
    req.time = std::chrono::system_clock::time_point{} + std::chrono::seconds(946684800LL + r.u32());
    const std::string method = str(r.chunk()), path = str(r.chunk()), region = str(r.chunk()),
                      service = str(r.chunk()), body = str(r.chunk());
    req.method = method;
    req.path = path;
    req.path_is_encoded = flags & 2;
    req.region = region;
    req.service = service;
    if (flags & 16) req.payload_hash = body;
    else req.body = body;
    if (flags & 4) req.options = sluice::aws::sigv4_s3_options;
    req.options.omit_session_token = flags & 32;
    std::vector<sluice::aws::http_field> query, headers;
    for (unsigned i = r.u8() % 5; i > 0; --i) query.push_back({str(r.chunk()), str(r.chunk())});
    if ((flags & 64) == 0) headers.push_back({"Host", "example.amazonaws.com"});
    for (unsigned i = r.u8() % 6; i > 0; --i) headers.push_back({str(r.chunk()), str(r.chunk())});
    req.query = query;
    req.headers = headers;
    sluice::aws::aws_credentials c{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                   (flags & 8) ? "IQoJb3JpZ2luX2VjEXAMPLETOKEN" : "", std::nullopt};

    static sluice::aws::sigv4_signer cached; // keeps its keys from input to input
    sluice::aws::sigv4_signer fresh;
    const outcome a = sign(fresh, req, c, presign, expires);
    const outcome b = sign(cached, req, c, presign, expires);
    const outcome again = sign(cached, req, c, presign, expires);
    SLUICE_FUZZ_CHECK(a == b, "a cached signer and a fresh one disagree");
    SLUICE_FUZZ_CHECK(b == again, "signing twice gives different results");
    const bool secret_in_request = as_text(data).find(c.secret_access_key) != std::string_view::npos;
    check(a, presign, c, secret_in_request);
}

} // namespace sluice_fuzz
