#pragma once

// sigv4_signer: AWS Signature Version 4 (AWS4-HMAC-SHA256), header signing and query-string presigning.
//
// sign() returns the headers to add (X-Amz-Security-Token, X-Amz-Date, x-amz-content-sha256,
// Authorization); presign() returns the query parameters to add (X-Amz-Algorithm ... X-Amz-Signature).
// Both also hand back the canonical request and the string to sign, which is what AWS's error
// responses quote when a signature does not match, and what the tests compare.
//
// Encoding rules (the part every signer gets wrong once):
//   - Query names and values are given decoded; the signer encodes them (RFC 3986 unreserved characters
//     A-Z a-z 0-9 - _ . ~ stay, every other byte becomes %XX in upper-case hex, a space is %20, never
//     '+'), and sorts them by encoded name, then encoded value.
//   - The path: sigv4_request::path_is_encoded says whether it is already percent-encoded as sent on the
//     wire. Services other than S3 encode the wire path once more for the canonical URI (so a space is
//     %20 on the wire and %2520 in the canonical URI) and normalise it (remove `.`/`..` segments and
//     empty segments); S3 uses the wire path as it is. With path_is_encoded = false the wire path is
//     uri_encode_path(path); with true, the path is used as given and must be what is sent (for S3, in
//     AWS's encoding: upper-case hex, unreserved characters not encoded).
//
// The signing key (four chained HMACs) is derived once per (date, region, service, secret) and cached in
// the signer, together with an HMAC context already keyed with it; a signature then costs the payload
// hash, the canonical-request hash and one HMAC, with no OpenSSL fetch and, once the signer's and the
// result's buffers have grown, no allocation by sluice.
//
// Thread-safety: a signer is not thread-safe (its caches and OpenSSL contexts are mutable); use one
// signer per thread (one per io_loop thread is the intended use). Distinct signers are independent.
//
// Secrets: exceptions name what is wrong, never a secret, a session token or a signature. A
// sigv4_result does hold the signature and the session token (in its fields, and in the canonical
// request when the token is signed): treat it as a credential and do not log it.
//
//   sluice::aws::sigv4_signer signer;   // one per thread
//   sluice::aws::sigv4_result signed_;  // reused from request to request
//   sluice::aws::header_list headers{{"Host", "sqs.us-east-1.amazonaws.com"},
//                                    {"Content-Type", "application/x-amz-json-1.0"},
//                                    {"X-Amz-Target", "AmazonSQS.SendMessageBatch"}};
//   signer.sign({.method = "POST", .path = "/", .headers = headers, .body = body, .region = "us-east-1",
//                .service = "sqs", .time = std::chrono::system_clock::now()},
//               credentials, signed_);
//   signed_.append_to(headers);         // X-Amz-Security-Token, X-Amz-Date, Authorization

#if !SLUICE_HAS_OPENSSL
#error "sluice/aws needs OpenSSL 3 (CMake: SLUICE_WITH_OPENSSL, meson: -Dopenssl=enabled; it defines SLUICE_HAS_OPENSSL=1)"
#endif

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sluice/aws/credentials.hpp>
#include <sluice/aws/detail/crypto.hpp>
#include <sluice/aws/detail/sigv4_canonical.hpp>
#include <sluice/text/ascii.hpp>
#include <sluice/text/url.hpp>

namespace sluice::aws {

/// One header or query parameter.
struct http_field {
    std::string name;  ///< as given; header names are lower-cased for signing only
    std::string value; ///< as given; a query value decoded (the signer encodes it)
};

/// Headers or query parameters in insertion order; a name may repeat (repeated headers are signed as one
/// comma-joined value, in this order). A contiguous range of http_field, so it converts to the
/// std::span<const http_field> that sigv4_request takes.
class field_list {
public:
    field_list() = default;
    /// The fields in the order given: `{{"Host", "..."}, {"Content-Type", "..."}}`.
    field_list(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
        fields_.reserve(fields.size());
        for (const auto& [name, value] : fields) add(name, value);
    }

    /// Appends copies of both; returns *this to chain.
    field_list& add(std::string_view name, std::string_view value) {
        fields_.push_back(http_field{std::string(name), std::string(value)});
        return *this;
    }
    void reserve(std::size_t count) { fields_.reserve(count); } ///< room for `count` fields
    void clear() noexcept { fields_.clear(); }                  ///< drops every field, keeps the room

    [[nodiscard]] std::size_t size() const noexcept { return fields_.size(); } ///< fields, repeats counted
    [[nodiscard]] bool empty() const noexcept { return fields_.empty(); }      ///< true without fields
    [[nodiscard]] const http_field* data() const noexcept { return fields_.data(); }  ///< the first field
    [[nodiscard]] const http_field* begin() const noexcept { return fields_.data(); } ///< the first field
    /// Past the last field.
    [[nodiscard]] const http_field* end() const noexcept { return fields_.data() + fields_.size(); }
    /// The i-th field added, unchecked.
    [[nodiscard]] const http_field& operator[](std::size_t i) const noexcept { return fields_[i]; }

    /// The value of the first field named `name`, ignoring ASCII case (as header names compare), or null.
    [[nodiscard]] const std::string* find(std::string_view name) const noexcept {
        for (const http_field& field : fields_)
            if (sluice::text::iequals(field.name, name)) return &field.value;
        return nullptr;
    }

private:
    std::vector<http_field> fields_;
};

using header_list = field_list; ///< a request's headers
using query_list = field_list;  ///< a request's query parameters, decoded

/// The payload hash for a body that is not signed (S3 over HTTPS, presigned URLs).
inline constexpr std::string_view unsigned_payload = "UNSIGNED-PAYLOAD";
/// Hex SHA-256 of the empty string: the payload hash of a request without a body.
inline constexpr std::string_view empty_payload_sha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A service's canonicalisation rules (SigV4 differs for S3: sigv4_s3_options).
struct sigv4_options {
    /// Remove `.`, `..` and empty segments from the path (every service but S3).
    bool normalize_path = true;
    /// Encode the wire path once more for the canonical URI (every service but S3).
    bool double_encode_path = true;
    /// Add and sign `x-amz-content-sha256: <payload hash>` (S3 requires it). Header signing only.
    bool add_content_sha256 = false;
    /// Send the session token without signing it (added after signing; a few services want that).
    bool omit_session_token = false;
};

/// The options S3 wants: no path normalisation, single encoding, x-amz-content-sha256.
inline constexpr sigv4_options sigv4_s3_options{
    .normalize_path = false, .double_encode_path = false, .add_content_sha256 = true, .omit_session_token = false};

/// What to sign. Views only: everything must outlive the sign()/presign() call, nothing longer.
struct sigv4_request {
    std::string_view method = "GET"; ///< an HTTP token: "GET", "POST", "PUT"...
    /// The path without the query; see path_is_encoded and the encoding rules at the top of this file.
    std::string_view path = "/";
    bool path_is_encoded = false; ///< true: `path` is already its wire form, percent-encoded
    /// Query parameters, decoded, in any order (they are sorted for signing).
    std::span<const http_field> query{};
    /// The headers that will be sent, Host included (required). Connection, Expect, Transfer-Encoding,
    /// Upgrade, User-Agent and X-Amzn-Trace-Id are sent but not signed (proxies and the HTTP stack may
    /// change them). Authorization, X-Amz-Date and X-Amz-Security-Token must not be present (the signer
    /// adds them), nor x-amz-content-sha256 when options.add_content_sha256 is set.
    std::span<const http_field> headers{};
    /// The body; hashed unless payload_hash is set.
    std::string_view body{};
    /// When not empty, used as the payload hash instead of hashing body: a precomputed lower-case hex
    /// SHA-256, unsigned_payload, or a streaming marker such as "STREAMING-UNSIGNED-PAYLOAD-TRAILER".
    std::string_view payload_hash{};
    std::string_view region; ///< signed for, in the credential scope: "eu-west-1"
    /// The signing name of the service: "sqs", "s3", "logs", "firehose", ...
    std::string_view service;
    /// Signing time (X-Amz-Date); AWS rejects it when it is more than 5 minutes off.
    std::chrono::system_clock::time_point time{};
    sigv4_options options{}; ///< the service's canonicalisation rules (sigv4_s3_options for S3)
};

/// What sign() or presign() produced. Reuse one across calls to reuse its buffers.
class sigv4_result {
public:
    /// sign(): the headers to add, in this order: X-Amz-Security-Token (with a session token),
    /// X-Amz-Date, x-amz-content-sha256 (with add_content_sha256), Authorization.
    /// presign(): the query parameters to add, values decoded (encode them, e.g. with append_query()),
    /// in this order: X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders,
    /// X-Amz-Expires, X-Amz-Security-Token (with a session token), X-Amz-Signature.
    [[nodiscard]] std::span<const http_field> fields() const noexcept { return {fields_.data(), count_}; }
    /// The value of the field named `name` (ASCII case ignored), or null.
    [[nodiscard]] const std::string* find(std::string_view name) const noexcept {
        for (const http_field& field : fields())
            if (sluice::text::iequals(field.name, name)) return &field.value;
        return nullptr;
    }
    /// Appends fields() to `list` (e.g. the request's headers after sign()).
    void append_to(field_list& list) const {
        for (const http_field& field : fields()) list.add(field.name, field.value);
    }

    std::string canonical_request; ///< what AWS quotes when a signature does not match; may hold the token
    std::string string_to_sign;    ///< the algorithm, X-Amz-Date, scope and the above's hex SHA-256, a line each
    /// Lower-case header names, sorted, ';'-joined: "host;x-amz-date".
    std::string signed_headers;
    /// Lower-case hex HMAC-SHA256 (64 characters).
    std::string signature;

private:
    friend class sigv4_signer;
    std::string& add_field(std::string_view name) {
        http_field& field = fields_[count_++];
        field.name.assign(name);
        field.value.clear();
        return field.value;
    }

    std::array<http_field, 7> fields_{};
    std::size_t count_ = 0;
};

/// AWS URI encoding of a query name or value, or a path segment: unreserved characters stay, every
/// other byte (including '/') becomes %XX with upper-case hex.
[[nodiscard]] inline std::string uri_encode(std::string_view in) { return sluice::text::uri_encode(in); }

/// The same, but '/' stays: the wire form of a decoded path.
[[nodiscard]] inline std::string uri_encode_path(std::string_view path) { return sluice::text::uri_encode(path, true); }

/// Appends `params` to `target` as an encoded query: '?' first if `target` has none yet, '&' otherwise.
inline void append_query(std::string& target, std::span<const http_field> params) {
    bool first = target.find('?') == std::string::npos;
    for (const http_field& param : params) {
        target += first ? '?' : '&';
        first = false;
        sluice::text::append_uri_encoded(target, param.name, false);
        target += '=';
        sluice::text::append_uri_encoded(target, param.value, false);
    }
}

} // namespace sluice::aws

namespace sluice::detail::sigv4 {

/// True when `s` holds NUL, or a line break not followed by a blank (what continues a folded header
/// line, which canonicalisation collapses): a value that would end its header line on the wire.
[[nodiscard]] constexpr bool breaks_line(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\0') return true;
        if (s[i] != '\r' && s[i] != '\n') continue;
        std::size_t next = i + 1;
        while (next < s.size() && (s[next] == '\r' || s[next] == '\n')) ++next;
        if (next == s.size() || (s[next] != ' ' && s[next] != '\t')) return true;
        i = next;
    }
    return false;
}

/// A region or service name: letters, digits, '.', '-', '_' (they go into the credential scope,
/// which '/' separates, and into the Authorization header).
[[nodiscard]] constexpr bool is_scope_part(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s)
        if (!sluice::text::is_alnum(c) && c != '.' && c != '-' && c != '_') return false;
    return true;
}

/// Refuses what would make the canonical request or the headers sent ambiguous: every part that goes
/// into a canonical line or the Authorization header as it is must be free of separators and line
/// breaks. The messages never quote a secret.
inline void check_request(const aws::sigv4_request& request, const aws::aws_credentials& credentials) {
    using sluice::text::is_token;
    if (credentials.access_key_id.empty()) throw std::invalid_argument("sigv4: the credentials have no access key id");
    if (credentials.secret_access_key.empty())
        throw std::invalid_argument("sigv4: the credentials have no secret access key");
    if (!is_token(credentials.access_key_id))
        throw std::invalid_argument("sigv4: the access key id holds blanks, separators or control characters");
    for (char c : credentials.session_token)
        if (c == '\r' || c == '\n' || c == '\0')
            throw std::invalid_argument("sigv4: the session token holds a line break or NUL");
    if (request.method.empty()) throw std::invalid_argument("sigv4: the request has no method");
    if (!is_token(request.method))
        throw std::invalid_argument("sigv4: method '" + printable(request.method) + "' is not an HTTP token");
    if (request.region.empty()) throw std::invalid_argument("sigv4: no region to sign for");
    if (!is_scope_part(request.region))
        throw std::invalid_argument("sigv4: region '" + printable(request.region) + "' is not a region name");
    if (request.service.empty()) throw std::invalid_argument("sigv4: no service to sign for");
    if (!is_scope_part(request.service))
        throw std::invalid_argument("sigv4: service '" + printable(request.service) + "' is not a service name");
    // Canonical lines end with '\n': what goes into one as it is must hold no control character.
    if (request.path_is_encoded && !sluice::text::has_no_control(request.path))
        throw std::invalid_argument("sigv4: the encoded path holds control characters");
    if (!sluice::text::has_no_control(request.payload_hash))
        throw std::invalid_argument("sigv4: the payload hash holds control characters");
    for (const aws::http_field& header : request.headers) {
        if (header.name.empty()) throw std::invalid_argument("sigv4: a header has an empty name");
        // SigV4 joins names with ';' and ends them with ':', and a control character could end a
        // canonical line: a name that is not an HTTP token would make the canonical request ambiguous.
        if (!is_token(header.name))
            throw std::invalid_argument("sigv4: header name '" + printable(header.name) +
                                        "' is not an HTTP field name (a token: no ';', ':', blanks or control "
                                        "characters), so its canonical form would be ambiguous");
        if (breaks_line(header.value))
            throw std::invalid_argument("sigv4: the value of header '" + printable(header.name) +
                                        "' holds a line break (not a folded line) or NUL");
    }
}

} // namespace sluice::detail::sigv4

namespace sluice::aws {

/// Signs requests (see the top of this file). One per thread: it caches signing keys and OpenSSL state.
class sigv4_signer {
public:
    /// Signing keys kept at once (least recently used evicted): enough for a few services and regions
    /// across a date change.
    static constexpr std::size_t key_cache_capacity = 8;
    /// Longest validity of a presigned request (7 days).
    static constexpr std::chrono::seconds max_presign_expiry{604800};

    /// Fetches SHA-256 and HMAC from OpenSSL (once, for the signer's life). Throws std::runtime_error
    /// if OpenSSL cannot provide them.
    sigv4_signer() = default;
    sigv4_signer(const sigv4_signer&) = delete;
    sigv4_signer& operator=(const sigv4_signer&) = delete;
    sigv4_signer(sigv4_signer&&) noexcept = default;            ///< takes the key cache along
    sigv4_signer& operator=(sigv4_signer&&) noexcept = default; ///< takes the key cache along
    ~sigv4_signer() { clear_key_cache(); }

    /// Header signing: `out` gets the headers to add (see sigv4_result::fields()). Throws
    /// std::invalid_argument for a request or credentials it cannot sign (the message never contains a
    /// secret), std::runtime_error if OpenSSL fails; `out` is then unspecified.
    void sign(const sigv4_request& request, const aws_credentials& credentials, sigv4_result& out) {
        run(request, credentials, false, std::chrono::seconds{0}, out);
    }
    /// The same into a new result (reusing one saves its allocations).
    [[nodiscard]] sigv4_result sign(const sigv4_request& request, const aws_credentials& credentials) {
        sigv4_result out;
        sign(request, credentials, out);
        return out;
    }

    /// Query-string presigning, valid for `expires` (1 s to 7 days): `out` gets the query parameters to
    /// add. options.add_content_sha256 does not apply (a presigned request carries no signer headers).
    void presign(const sigv4_request& request, const aws_credentials& credentials, std::chrono::seconds expires,
                 sigv4_result& out) {
        if (expires < std::chrono::seconds{1} || expires > max_presign_expiry)
            throw std::invalid_argument("sigv4: presigned requests expire after 1 to 604800 seconds");
        run(request, credentials, true, expires, out);
    }
    /// The same into a new result.
    [[nodiscard]] sigv4_result presign(const sigv4_request& request, const aws_credentials& credentials,
                                       std::chrono::seconds expires) {
        sigv4_result out;
        presign(request, credentials, expires, out);
        return out;
    }

    /// How many signing keys this signer has derived (cache misses): for tests and metrics.
    [[nodiscard]] std::uint64_t key_derivations() const noexcept { return derivations_; }
    /// Forgets the cached signing keys (and the copies of the secrets they were derived from).
    void clear_key_cache() noexcept {
        for (key_entry& entry : keys_) detail::openssl_cleanse(entry.secret);
        keys_.clear();
    }

private:
    struct key_entry {
        std::array<char, 8> date{};
        std::string region;
        std::string service;
        std::string secret; // to notice a rotated secret; cleansed when dropped
        detail::hmac_sha256 mac; // keyed with the signing key
        std::uint64_t last_used = 0;
    };

    void run(const sigv4_request& request, const aws_credentials& credentials, bool presign,
             std::chrono::seconds expires, sigv4_result& out);
    void append_canonical_uri(std::string& out, const sigv4_request& request);
    void add_query_param(std::string_view encoded_name, std::string_view value, bool encode_value);
    detail::hmac_sha256& signing_key(std::string_view date, std::string_view region, std::string_view service,
                                     std::string_view secret);

    detail::sha256_hasher sha256_;
    detail::hmac_sha256 derive_mac_; // for key derivation; template of the cached keys' contexts
    std::vector<key_entry> keys_;
    std::uint64_t use_clock_ = 0;
    std::uint64_t derivations_ = 0;

    // Scratch buffers, reused by every call so that a steady state allocates nothing.
    std::string names_;   // lower-cased header names
    std::vector<detail::sigv4::sigv4_header_ref> headers_;
    std::string encoded_; // encoded query names and values
    std::vector<detail::sigv4::sigv4_query_ref> query_;
    std::string scope_;   // date/region/service/aws4_request
    std::string path_;    // normalised path
    std::string wire_path_;
    std::vector<std::string_view> segments_;
};

inline void sigv4_signer::run(const sigv4_request& request, const aws_credentials& credentials, bool presign,
                              std::chrono::seconds expires, sigv4_result& out) {
    out.count_ = 0; // a failed call leaves no fields behind
    detail::sigv4::check_request(request, credentials);

    char amz_date_text[16];
    detail::sigv4::format_amz_date(request.time, amz_date_text);
    const std::string_view amz_date(amz_date_text, sizeof amz_date_text);
    const std::string_view date = amz_date.substr(0, 8);

    char body_hash[2 * detail::sha256_size];
    std::string_view payload_hash = request.payload_hash;
    if (payload_hash.empty()) {
        if (request.body.empty()) {
            payload_hash = empty_payload_sha256;
        } else {
            const detail::sha256_digest digest = sha256_.digest(request.body);
            detail::hex_encode_lower(digest.data(), digest.size(), body_hash);
            payload_hash = std::string_view(body_hash, sizeof body_hash);
        }
    }

    const std::string_view token = credentials.session_token;
    const bool sign_token = !token.empty() && !request.options.omit_session_token;
    const bool add_content_sha256 = !presign && request.options.add_content_sha256;

    // --- headers: lower-cased names (reserved up front, so views into names_ stay valid), sorted by name,
    // repeats in request order.
    std::size_t names_size = 0;
    for (const http_field& header : request.headers) names_size += header.name.size();
    names_.clear();
    names_.reserve(names_size);
    headers_.clear();
    bool has_host = false;
    for (std::size_t i = 0; i < request.headers.size(); ++i) {
        const http_field& header = request.headers[i];
        const std::size_t at = names_.size();
        names_.resize(at + header.name.size());
        std::transform(header.name.begin(), header.name.end(), names_.begin() + static_cast<std::ptrdiff_t>(at),
                       sluice::text::lower);
        const std::string_view name(names_.data() + at, header.name.size());
        if (name == "authorization" || name == "x-amz-date" || name == "x-amz-security-token" ||
            (add_content_sha256 && name == "x-amz-content-sha256"))
            throw std::invalid_argument("sigv4: the request already has a " + header.name +
                                        " header; the signer adds it");
        if (detail::sigv4::is_unsigned_header(name)) continue;
        has_host = has_host || name == "host";
        headers_.push_back({name, header.value, i});
    }
    if (!has_host) throw std::invalid_argument("sigv4: the request has no Host header");
    if (!presign) {
        const std::size_t n = request.headers.size();
        headers_.push_back({"x-amz-date", amz_date, n});
        if (add_content_sha256) headers_.push_back({"x-amz-content-sha256", payload_hash, n + 1});
        if (sign_token) headers_.push_back({"x-amz-security-token", token, n + 2});
    }
    std::sort(headers_.begin(), headers_.end(), [](const auto& a, const auto& b) {
        const int order = a.name.compare(b.name);
        return order != 0 ? order < 0 : a.order < b.order;
    });

    std::string& signed_headers = out.signed_headers;
    signed_headers.clear();
    for (std::size_t i = 0; i < headers_.size(); ++i) {
        if (i != 0 && headers_[i].name == headers_[i - 1].name) continue;
        if (!signed_headers.empty()) signed_headers += ';';
        signed_headers += headers_[i].name;
    }

    scope_.clear();
    scope_ += date;
    scope_ += '/';
    scope_ += request.region;
    scope_ += '/';
    scope_ += request.service;
    scope_ += "/aws4_request";

    // --- query: encoded, then sorted by encoded name and value.
    encoded_.clear();
    query_.clear();
    for (const http_field& param : request.query) {
        if (presign && detail::sigv4::is_presign_parameter(param.name))
            throw std::invalid_argument("sigv4: the query already has " + param.name + "; presign() adds it");
        const std::size_t name_at = encoded_.size();
        sluice::text::append_uri_encoded(encoded_, param.name, false);
        const std::size_t value_at = encoded_.size();
        sluice::text::append_uri_encoded(encoded_, param.value, false);
        query_.push_back({static_cast<std::uint32_t>(name_at), static_cast<std::uint32_t>(value_at - name_at),
                          static_cast<std::uint32_t>(value_at),
                          static_cast<std::uint32_t>(encoded_.size() - value_at)});
    }
    char expires_text[24];
    std::string_view expires_value;
    if (presign) {
        const auto [end, error] =
            std::to_chars(expires_text, expires_text + sizeof expires_text, expires.count());
        if (error != std::errc{}) throw std::invalid_argument("sigv4: bad expiry");
        expires_value = std::string_view(expires_text, static_cast<std::size_t>(end - expires_text));

        add_query_param("X-Amz-Algorithm", "AWS4-HMAC-SHA256", false);
        const std::size_t name_at = encoded_.size();
        encoded_ += "X-Amz-Credential";
        const std::size_t value_at = encoded_.size();
        sluice::text::append_uri_encoded(encoded_, credentials.access_key_id, false);
        encoded_ += "%2F";
        sluice::text::append_uri_encoded(encoded_, scope_, false);
        query_.push_back({static_cast<std::uint32_t>(name_at), static_cast<std::uint32_t>(value_at - name_at),
                          static_cast<std::uint32_t>(value_at),
                          static_cast<std::uint32_t>(encoded_.size() - value_at)});
        add_query_param("X-Amz-Date", amz_date, false);
        add_query_param("X-Amz-Expires", expires_value, false);
        if (sign_token) add_query_param("X-Amz-Security-Token", token, true);
        add_query_param("X-Amz-SignedHeaders", signed_headers, true);
    }
    const auto view = [this](std::uint32_t at, std::uint32_t size) {
        return std::string_view(encoded_.data() + at, size);
    };
    std::sort(query_.begin(), query_.end(), [&view](const auto& a, const auto& b) {
        const int order = view(a.name_at, a.name_size).compare(view(b.name_at, b.name_size));
        return order != 0 ? order < 0 : view(a.value_at, a.value_size) < view(b.value_at, b.value_size);
    });

    // --- the canonical request.
    std::string& canonical = out.canonical_request;
    canonical.clear();
    canonical += request.method;
    canonical += '\n';
    append_canonical_uri(canonical, request);
    canonical += '\n';
    for (std::size_t i = 0; i < query_.size(); ++i) {
        if (i != 0) canonical += '&';
        canonical += view(query_[i].name_at, query_[i].name_size);
        canonical += '=';
        canonical += view(query_[i].value_at, query_[i].value_size);
    }
    canonical += '\n';
    for (std::size_t i = 0; i < headers_.size();) {
        const std::string_view name = headers_[i].name;
        canonical += name;
        canonical += ':';
        detail::sigv4::append_canonical_header_value(canonical, headers_[i].value);
        for (++i; i < headers_.size() && headers_[i].name == name; ++i) {
            canonical += ',';
            detail::sigv4::append_canonical_header_value(canonical, headers_[i].value);
        }
        canonical += '\n';
    }
    canonical += '\n';
    canonical += signed_headers;
    canonical += '\n';
    canonical += payload_hash;

    // --- the string to sign and the signature.
    std::string& to_sign = out.string_to_sign;
    to_sign.clear();
    to_sign += "AWS4-HMAC-SHA256\n";
    to_sign += amz_date;
    to_sign += '\n';
    to_sign += scope_;
    to_sign += '\n';
    detail::append_hex_lower(to_sign, sha256_.digest(canonical));

    const detail::sha256_digest signature = signing_key(date, request.region, request.service,
                                                        credentials.secret_access_key)
                                                .mac(to_sign);
    out.signature.clear();
    detail::append_hex_lower(out.signature, signature);

    // --- what to add to the request.
    if (!presign) {
        if (!token.empty()) out.add_field("X-Amz-Security-Token") += token;
        out.add_field("X-Amz-Date") += amz_date;
        if (add_content_sha256) out.add_field("x-amz-content-sha256") += payload_hash;
        std::string& authorization = out.add_field("Authorization");
        authorization += "AWS4-HMAC-SHA256 Credential=";
        authorization += credentials.access_key_id;
        authorization += '/';
        authorization += scope_;
        authorization += ", SignedHeaders=";
        authorization += signed_headers;
        authorization += ", Signature=";
        authorization += out.signature;
    } else {
        out.add_field("X-Amz-Algorithm") += "AWS4-HMAC-SHA256";
        std::string& credential = out.add_field("X-Amz-Credential");
        credential += credentials.access_key_id;
        credential += '/';
        credential += scope_;
        out.add_field("X-Amz-Date") += amz_date;
        out.add_field("X-Amz-SignedHeaders") += signed_headers;
        out.add_field("X-Amz-Expires") += expires_value;
        if (!token.empty()) out.add_field("X-Amz-Security-Token") += token;
        out.add_field("X-Amz-Signature") += out.signature;
    }
}

inline void sigv4_signer::add_query_param(std::string_view name, std::string_view value, bool encode_value) {
    const std::size_t name_at = encoded_.size();
    encoded_ += name; // the signer's own names need no encoding
    const std::size_t value_at = encoded_.size();
    if (encode_value)
        sluice::text::append_uri_encoded(encoded_, value, false);
    else
        encoded_ += value;
    query_.push_back({static_cast<std::uint32_t>(name_at), static_cast<std::uint32_t>(value_at - name_at),
                      static_cast<std::uint32_t>(value_at), static_cast<std::uint32_t>(encoded_.size() - value_at)});
}

inline void sigv4_signer::append_canonical_uri(std::string& out, const sigv4_request& request) {
    std::string_view path = request.path;
    if (request.options.normalize_path) {
        detail::sigv4::normalize_uri_path(path, segments_, path_);
        path = path_;
    } else if (path.empty()) {
        path = "/";
    }
    if (!request.path_is_encoded && request.options.double_encode_path) {
        // The wire path is the path encoded once; the canonical URI encodes the wire path again.
        wire_path_.clear();
        sluice::text::append_uri_encoded(wire_path_, path, true);
        sluice::text::append_uri_encoded(out, wire_path_, true);
    } else if (!request.path_is_encoded || request.options.double_encode_path) {
        sluice::text::append_uri_encoded(out, path, true);
    } else {
        out += path;
    }
}

inline detail::hmac_sha256& sigv4_signer::signing_key(std::string_view date, std::string_view region,
                                                      std::string_view service, std::string_view secret) {
    ++use_clock_;
    for (key_entry& entry : keys_) {
        if (std::string_view(entry.date.data(), entry.date.size()) == date && entry.region == region &&
            entry.service == service && entry.secret == secret) {
            entry.last_used = use_clock_;
            return entry.mac;
        }
    }

    // kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")
    std::string first_key;
    first_key.reserve(4 + secret.size());
    first_key += "AWS4";
    first_key += secret;
    detail::sha256_digest key{};
    try {
        key = derive_mac_.mac(first_key.data(), first_key.size(), date);
        detail::openssl_cleanse(first_key);
        key = derive_mac_.mac(key.data(), key.size(), region);
        key = derive_mac_.mac(key.data(), key.size(), service);
        key = derive_mac_.mac(key.data(), key.size(), "aws4_request");
    } catch (...) {
        detail::openssl_cleanse(first_key);
        detail::openssl_cleanse(key.data(), key.size());
        throw;
    }

    key_entry* slot = nullptr;
    if (keys_.size() < key_cache_capacity) {
        if (keys_.capacity() < key_cache_capacity) keys_.reserve(key_cache_capacity);
        try {
            keys_.push_back(key_entry{{}, {}, {}, {}, derive_mac_, 0});
        } catch (...) {
            detail::openssl_cleanse(key.data(), key.size());
            throw;
        }
        slot = &keys_.back();
    } else {
        slot = &*std::min_element(keys_.begin(), keys_.end(),
                                  [](const key_entry& a, const key_entry& b) { return a.last_used < b.last_used; });
        detail::openssl_cleanse(slot->secret);
    }
    // Unusable until fully set: a failure below must not leave an old identity with a new key.
    slot->region.clear();
    slot->service.clear();
    slot->secret.clear();
    try {
        slot->mac.set_key(key);
        detail::openssl_cleanse(key.data(), key.size());
        slot->date = {};
        std::copy(date.begin(), date.end(), slot->date.begin());
        slot->region.assign(region);
        slot->service.assign(service);
        slot->secret.assign(secret);
    } catch (...) {
        detail::openssl_cleanse(key.data(), key.size());
        slot->region.clear();
        throw;
    }
    slot->last_used = use_clock_;
    ++derivations_;
    return slot->mac;
}

} // namespace sluice::aws
