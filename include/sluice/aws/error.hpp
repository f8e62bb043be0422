#pragma once

// AWS service errors: what a service said when it refused a request, read from the response of
// either protocol, and how to treat it (retry_kind).
//
//   JSON protocol (awsJson1_0/1_1, restJson; SQS today):
//     HTTP/1.1 400
//     x-amzn-RequestId: 5f8b1d4e-...
//     x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender
//     {"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}
//   The code comes from the x-amzn-ErrorType header, else the body's "code", else its "__type"; the
//   namespace before '#' and anything after ':' are dropped. The x-amzn-query-error header, sent by
//   services that moved from the query protocol (SQS), gives the legacy code and the fault.
//
//   CBOR (Kinesis with application/x-amz-cbor-1.1): the same map as the JSON protocol's, in CBOR.
//
//   Query/XML protocol (SQS before 2023, STS, SNS, ...) and S3:
//     <ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameterValue</Code>
//       <Message>...</Message></Error><RequestId>...</RequestId></ErrorResponse>
//     <Error><Code>SlowDown</Code><Message>...</Message><RequestId>...</RequestId></Error>
//
// A body that is neither (an HTML page from a load balancer, garbage, nothing) still gives an error:
// code "HTTP 503", the status's reason phrase as message. Messages are cleaned before they are kept:
// control characters become spaces, a quoted request value ("Value '...' at 'messageBody'", as
// validation errors echo them) and a canonical request quoted by a signature mismatch (it can hold a
// session token) are cut out, secret query parameters are redacted, and the result is truncated
// (error_parse_options::max_message_bytes). So service_error::describe() is safe to log and to put in
// an entry_result.
//
// classify() follows the AWS SDKs' standard retry mode (botocore's retries/standard.py, the JS v3
// service-error-classification): throttling codes and HTTP 429 are `throttling`; 500/502/503/504 and
// the timeout / internal-error codes are `transient`; RequestTimeTooSkewed and friends are
// `clock_skew` (retry once the clock offset is corrected, see aws/retry.hpp); everything else
// (validation, access denied, missing queue) is `none`.

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include <sluice/aws/dates.hpp>
#include <sluice/aws/detail/error_readers.hpp>
#include <sluice/delivery/sink.hpp>
#include <sluice/http/error.hpp>
#include <sluice/metrics/log.hpp>
#include <sluice/text/ascii.hpp>
#include <sluice/text/cbor.hpp>
#include <sluice/text/utf8.hpp>

namespace sluice::aws {

/// How a failure should be treated by the standard retry mode.
enum class retry_kind {
    none,       ///< not retryable: the request is wrong (validation, access denied, missing queue)
    transient,  ///< 5xx, timeouts, resets: retry with backoff
    throttling, ///< the service asks us to slow down: retry with backoff, and lower the pace
    clock_skew, ///< the request time is too far from the service's: correct the clock, then retry
};

/// "none", "transient", "throttling" or "clock_skew".
[[nodiscard]] inline std::string_view to_string(retry_kind kind) noexcept {
    switch (kind) {
    case retry_kind::none: return "none";
    case retry_kind::transient: return "transient";
    case retry_kind::throttling: return "throttling";
    case retry_kind::clock_skew: return "clock_skew";
    }
    return "unknown";
}

/// What a service said when it refused a request. Safe to log: the message is cleaned (see above).
struct service_error {
    /// The response's HTTP status.
    int http_status = 0;
    /// The error code without its namespace: "QueueDoesNotExist", "ThrottlingException",
    /// "RequestThrottled"; "HTTP 503" when the response carried none.
    std::string code;
    /// The service's explanation, cleaned and truncated; may be empty.
    std::string message;
    /// x-amzn-RequestId / x-amz-request-id, else the body's RequestId; what AWS support asks for.
    std::string request_id;
    /// True when the service blames the request (4xx, "Sender"), false when it blames itself.
    bool sender_fault = false;
    /// The legacy query-protocol code from x-amzn-query-error ("AWS.SimpleQueueService.NonExistentQueue"),
    /// when the service sent one.
    std::string query_code;
    /// The response's Date header, when present and well formed: what a clock_skew tracker needs.
    std::optional<std::chrono::system_clock::time_point> server_time;

    /// "QueueDoesNotExist (HTTP 400, request id 5f8b...): The specified queue does not exist."
    [[nodiscard]] std::string describe() const {
        std::string out = code.empty() ? std::string("unknown error") : code;
        out += " (HTTP ";
        out += std::to_string(http_status);
        if (!request_id.empty()) {
            out += ", request id ";
            out += request_id;
        }
        out += ')';
        if (!message.empty()) {
            out += ": ";
            out += message;
        }
        return out;
    }
};

/// How error responses are read.
struct error_parse_options {
    /// Longer messages are cut (at a UTF-8 character boundary) and end with "...".
    std::size_t max_message_bytes = 512;
};

} // namespace sluice::aws

namespace sluice::detail::aws_error {

using aws::error_parse_options;
using aws::service_error;

// The text helpers, under the names this layer's users (sqs_protocol.hpp among them) know.
using sluice::text::icontains;
using sluice::text::iequals;
using sluice::text::istarts_with;
using sluice::text::lower;
using sluice::text::trim;

/// The longest error code kept; AWS's are far shorter.
inline constexpr std::size_t max_code_bytes = 128;

/// `code` made only of what an error code holds (letters, digits, '.', '-', '_'): any other byte
/// becomes '?', so a hostile or broken server cannot put a line break or an escape sequence into a log
/// through it; cut at max_code_bytes.
inline std::string clean_code_text(std::string_view code) {
    std::string out(code.substr(0, max_code_bytes));
    for (char& c : out)
        if (!sluice::text::is_alnum(c) && c != '.' && c != '-' && c != '_') c = '?';
    return out;
}

/// The error code without decorations ("aws.protocoltests.restjson#FooError:http://internal..." ->
/// "FooError"), cleaned by clean_code_text.
inline std::string sanitize_code(std::string_view code) {
    code = trim(code);
    if (const std::size_t colon = code.find(':'); colon != std::string_view::npos) code = code.substr(0, colon);
    if (const std::size_t hash = code.rfind('#'); hash != std::string_view::npos) code = code.substr(hash + 1);
    return clean_code_text(trim(code));
}

inline std::string_view reason_phrase(int status) noexcept {
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return {};
    }
}

/// Length of the longest prefix of `text` no longer than `max` that does not split a UTF-8 sequence.
inline std::size_t utf8_prefix(std::string_view text, std::size_t max) noexcept {
    if (text.size() <= max) return text.size();
    std::size_t n = max;
    // Step back over continuation bytes to the start of the character that straddles the cut.
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    return n;
}

/// Message text fit for logs and results (see the file comment). Never longer than max_bytes + 3.
inline std::string clean_message(std::string_view raw, std::size_t max_bytes) {
    std::string_view note;
    // A signature mismatch may quote the canonical request, whose headers can carry a session token:
    // keep the explanation before it only.
    constexpr std::string_view canonical_markers[] = {"The Canonical String for this request should have been",
                                                      "The canonical string for this request should have been",
                                                      "Canonical String for this request", "<CanonicalRequest>"};
    for (auto marker : canonical_markers) {
        if (const std::size_t at = raw.find(marker); at != std::string_view::npos) {
            raw = raw.substr(0, at);
            note = "[canonical request redacted]";
            break;
        }
    }
    std::string body;
    body.reserve(std::min<std::size_t>(raw.size() + note.size() + 1, max_bytes + 4096));
    // Control characters (a forged log line) become spaces; runs of blanks collapse.
    bool blank = false;
    for (char c : raw) {
        const bool is_blank = static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == ' ';
        if (is_blank) {
            blank = true;
            continue;
        }
        if (blank && !body.empty()) body += ' ';
        blank = false;
        body += c;
        if (body.size() > max_bytes + 4096) break; // enough to decide; the rest is cut anyway
    }
    if (!note.empty()) {
        if (!body.empty()) body += ' ';
        body += note;
    }
    // Validation errors quote the offending value ("Value 'the body' at 'messageBody' failed to
    // satisfy constraint"): it may be a payload, so it goes.
    std::string cleaned;
    cleaned.reserve(body.size());
    std::string_view rest = body;
    for (;;) {
        std::size_t at = std::string_view::npos;
        std::size_t quote_len = 0;
        for (std::string_view m : {std::string_view("Value '"), std::string_view("value '"), std::string_view("Value \""),
                                   std::string_view("value \"")}) {
            const std::size_t p = rest.find(m);
            if (p < at) {
                at = p;
                quote_len = m.size();
            }
        }
        if (at == std::string_view::npos) {
            cleaned.append(rest);
            break;
        }
        const char q = rest[at + quote_len - 1];
        cleaned.append(rest.substr(0, at + quote_len));
        cleaned += "[redacted]";
        // The value ends at the quote that is followed by " at ", " for " or the end of a sentence.
        std::size_t end = std::string_view::npos;
        for (std::string_view tail : {std::string_view(" at '"), std::string_view(" at \""), std::string_view(" for "),
                                      std::string_view(" is "), std::string_view(" failed")}) {
            std::string needle(1, q);
            needle += tail;
            const std::size_t p = rest.find(needle, at + quote_len);
            if (p < end) end = p;
        }
        if (end == std::string_view::npos) {
            cleaned += q;
            break; // the rest would be the value: dropped
        }
        rest = rest.substr(end);
    }
    if (auto redacted = sluice::detail::redact_query_params(cleaned)) cleaned = std::move(*redacted);
    // A token quoted as a header line.
    if (const std::size_t at = sluice::detail::ifind(cleaned, "x-amz-security-token:"); at != std::string::npos) {
        cleaned.resize(at + 21);
        cleaned += "[redacted]";
    }
    const std::size_t keep = utf8_prefix(cleaned, max_bytes);
    if (keep < cleaned.size()) {
        cleaned.resize(keep);
        while (!cleaned.empty() && cleaned.back() == ' ') cleaned.pop_back();
        cleaned += "...";
    }
    return cleaned;
}

/// A header source the parser reads: (context, lower-case name) -> value or nullopt.
struct header_source {
    const void* context;
    std::optional<std::string_view> (*lookup)(const void*, std::string_view);
    std::optional<std::string_view> operator()(std::string_view lower_name) const { return lookup(context, lower_name); }
};

// The members of the JSON protocol's error map, whatever carries them (JSON or CBOR): the code from
// "code" / "Code", else "__type"; the first message.
struct error_members {
    std::string code_member, type_member;

    void take(std::string_view name, std::string_view value, std::string& raw_message) {
        if (name == "__type") type_member = value;
        else if (name == "code" || name == "Code") code_member = value;
        else if ((name == "message" || name == "Message" || name == "errorMessage") && raw_message.empty()) raw_message = value;
    }

    void set_code(service_error& e, bool& have_code) const {
        if (have_code) return;
        std::string code = sanitize_code(!code_member.empty() ? code_member : type_member);
        if (!code.empty()) {
            e.code = code;
            have_code = true;
        }
    }
};

inline void parse_json_body(std::string_view body, service_error& e, std::string& raw_message, bool& have_code) {
    error_members members;
    json_reader reader(body);
    reader.for_each_string_member([&](std::string_view name, std::string_view value) { members.take(name, value, raw_message); });
    members.set_code(e, have_code);
}

// The same map in CBOR: text members only, the rest skipped; text that is not UTF-8 is left out. Stops
// quietly at anything malformed (the status still gives an error).
inline void parse_cbor_body(std::string_view body, service_error& e, std::string& raw_message, bool& have_code) {
    using sluice::text::cbor::major;
    sluice::text::cbor::reader in(body, 8);
    sluice::text::cbor::item map;
    error_members members;
    std::string key_scratch, value_scratch;
    if (!in.next(map) || map.type != major::map) return;
    (void)in.for_each(map, [&] {
        std::string_view name, value;
        sluice::text::cbor::item v;
        if (!in.read_text(name, key_scratch) || !in.next(v)) return false;
        if (v.type != major::text) return in.skip_rest(v);
        if (!in.string_of(v, major::text, value, value_scratch)) return false;
        if (sluice::text::check_utf8(value).ok()) members.take(name, value, raw_message);
        return true;
    });
    members.set_code(e, have_code);
}

// A CBOR map's first byte (major type 5): 0xa0-0xbb, or 0xbf for one of indefinite length.
[[nodiscard]] inline bool starts_cbor_map(std::string_view body) noexcept {
    if (body.empty()) return false;
    const auto b = static_cast<unsigned char>(body.front());
    return (b >= 0xa0 && b <= 0xbb) || b == 0xbf;
}

inline void parse_xml_body(std::string_view body, service_error& e, std::string& raw_message, bool& have_code,
                           bool& have_fault) {
    // The <Error> element (inside <ErrorResponse> for the query protocol, the root for S3).
    std::size_t from = 0;
    std::size_t until = body.size();
    for (std::size_t at = body.find("<Error"); at != std::string_view::npos; at = body.find("<Error", at + 1)) {
        const char after = at + 6 < body.size() ? body[at + 6] : '\0';
        if (after == '>' || after == ' ') {
            from = at;
            const std::size_t close = body.find("</Error>", at);
            if (close != std::string_view::npos) until = close;
            break;
        }
    }
    if (!have_code)
        if (auto code = xml_element_text(body, "Code", from, until)) {
            const std::string decoded = xml_unescape(*code);
            std::string clean = sanitize_code(decoded);
            if (!clean.empty()) {
                e.code = clean;
                have_code = true;
            }
        }
    if (auto message = xml_element_text(body, "Message", from, until)) raw_message = xml_unescape(*message);
    if (!have_fault)
        if (auto type = xml_element_text(body, "Type", from, until)) {
            const std::string_view t = trim(*type);
            if (t == "Sender" || t == "Receiver") {
                e.sender_fault = t == "Sender";
                have_fault = true;
            }
        }
    // <RequestId> (query protocol, S3), <RequestID> (EC2).
    for (std::string_view tag : {std::string_view("RequestId"), std::string_view("RequestID")})
        if (e.request_id.empty())
            if (auto id = xml_element_text(body, tag)) e.request_id = xml_unescape(trim(*id));
}

inline service_error parse(int status, header_source headers, std::string_view body, const error_parse_options& options) {
    service_error e;
    e.http_status = status;
    bool have_code = false;
    bool have_fault = false;
    std::string raw_message;

    for (std::string_view name : {std::string_view("x-amzn-requestid"), std::string_view("x-amz-request-id"),
                                  std::string_view("x-amzn-request-id")}) {
        if (auto v = headers(name); v && !trim(*v).empty()) {
            e.request_id = trim(*v);
            break;
        }
    }
    if (auto v = headers("x-amzn-query-error"); v && !trim(*v).empty()) {
        // "AWS.SimpleQueueService.NonExistentQueue;Sender"
        const std::string_view text = trim(*v);
        const std::size_t semi = text.find(';');
        e.query_code = clean_code_text(trim(text.substr(0, semi)));
        if (semi != std::string_view::npos) {
            const std::string_view fault = trim(text.substr(semi + 1));
            if (fault == "Sender" || fault == "Receiver") {
                e.sender_fault = fault == "Sender";
                have_fault = true;
            }
        }
    }
    if (auto v = headers("x-amzn-errortype")) {
        std::string code = sanitize_code(*v);
        if (!code.empty()) {
            e.code = code;
            have_code = true;
        }
    }
    if (auto v = headers("date")) e.server_time = aws::parse_http_date(*v);

    const std::string_view text = trim(body);
    if (!text.empty() && text.front() == '{') parse_json_body(text, e, raw_message, have_code);
    else if (!text.empty() && text.front() == '<') parse_xml_body(text, e, raw_message, have_code, have_fault);
    else if (starts_cbor_map(body)) parse_cbor_body(body, e, raw_message, have_code);

    if (!have_code) {
        e.code = "HTTP ";
        e.code += std::to_string(status);
        if (raw_message.empty()) {
            raw_message = reason_phrase(status);
            if (!text.empty()) {
                raw_message += raw_message.empty() ? "" : " ";
                raw_message += "(unrecognised error body, ";
                raw_message += std::to_string(body.size());
                raw_message += " bytes)";
            }
        }
    }
    if (!have_fault) e.sender_fault = status >= 400 && status < 500;
    // Request ids are short tokens; anything else is not kept verbatim.
    if (e.request_id.size() > 128) e.request_id.resize(128);
    for (char& c : e.request_id)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    if (e.code.size() > 128) e.code.resize(128);
    e.message = clean_message(raw_message, options.max_message_bytes);
    return e;
}

template <class T>
concept named_value_pair = requires(const T& h) {
    { h.name } -> std::convertible_to<std::string_view>;
    { h.value } -> std::convertible_to<std::string_view>;
};

template <class T>
concept first_second_pair = requires(const T& h) {
    { h.first } -> std::convertible_to<std::string_view>;
    { h.second } -> std::convertible_to<std::string_view>;
};

template <class T>
std::pair<std::string_view, std::string_view> name_and_value(const T& h) {
    if constexpr (named_value_pair<T>) return {std::string_view(h.name), std::string_view(h.value)};
    else return {std::string_view(h.first), std::string_view(h.second)};
}

// Phrases of AWS signature errors caused by a wrong clock: "Signature expired: 20260101T000000Z is now
// earlier than ...", "Signature not yet current: ... is still later than ...", "Request has expired",
// "The difference between the request time and the current time is too large".
inline bool message_says_skew(std::string_view message) noexcept {
    return icontains(message, "signature expired") || icontains(message, "not yet current") ||
           icontains(message, "request has expired") || icontains(message, "skew") ||
           icontains(message, "request time") || icontains(message, "in the future");
}

} // namespace sluice::detail::aws_error

namespace sluice::aws {

/// Parses a service error from a response. `headers` is either a range of {name, value} (a struct with
/// .name/.value, or a pair; names are matched ignoring case) or a callable taking a lower-case header
/// name and returning std::optional<std::string_view> (or something convertible to it).
template <class Headers>
[[nodiscard]] service_error parse_service_error(int http_status, const Headers& headers, std::string_view body,
                                                const error_parse_options& options = {}) {
    using sluice::detail::aws_error::header_source;
    if constexpr (std::is_invocable_v<const Headers&, std::string_view>) {
        using result_type = std::invoke_result_t<const Headers&, std::string_view>;
        static_assert(std::is_convertible_v<result_type, std::optional<std::string_view>>,
                      "a header lookup must return something convertible to std::optional<std::string_view>");
        const header_source source{&headers, [](const void* ctx, std::string_view name) -> std::optional<std::string_view> {
                                       return std::optional<std::string_view>((*static_cast<const Headers*>(ctx))(name));
                                   }};
        return sluice::detail::aws_error::parse(http_status, source, body, options);
    } else {
        static_assert(std::ranges::input_range<const Headers>,
                      "headers must be a range of {name, value} or a lookup callable");
        const header_source source{&headers, [](const void* ctx, std::string_view name) -> std::optional<std::string_view> {
                                       for (const auto& h : *static_cast<const Headers*>(ctx)) {
                                           const auto [n, v] = sluice::detail::aws_error::name_and_value(h);
                                           if (sluice::detail::aws_error::iequals(n, name)) return v;
                                       }
                                       return std::nullopt;
                                   }};
        return sluice::detail::aws_error::parse(http_status, source, body, options);
    }
}

/// The same without headers.
[[nodiscard]] inline service_error parse_service_error(int http_status, std::string_view body,
                                                       const error_parse_options& options = {}) {
    return parse_service_error(http_status, [](std::string_view) { return std::optional<std::string_view>{}; }, body,
                               options);
}

// --- classification --------------------------------------------------------------------------------

/// Throttling codes of the AWS SDKs' standard retry mode (botocore's _THROTTLED_ERROR_CODES), plus
/// SQS's KMS throttling ("KmsThrottled", legacy "KMS.ThrottlingException"). SQS's own throttling code,
/// "RequestThrottled" (HTTP 403), is in the standard list.
[[nodiscard]] inline bool is_throttling_code(std::string_view code) noexcept {
    constexpr std::string_view codes[] = {"Throttling",
                                          "ThrottlingException",
                                          "ThrottledException",
                                          "RequestThrottledException",
                                          "TooManyRequestsException",
                                          "ProvisionedThroughputExceededException",
                                          "TransactionInProgressException",
                                          "RequestLimitExceeded",
                                          "BandwidthLimitExceeded",
                                          "LimitExceededException",
                                          "RequestThrottled",
                                          "SlowDown",
                                          "PriorRequestNotComplete",
                                          "EC2ThrottledException",
                                          "KmsThrottled",
                                          "KMS.ThrottlingException"};
    for (auto c : codes)
        if (code == c) return true;
    return false;
}

/// Transient codes: the standard mode's (RequestTimeout, RequestTimeoutException) and the internal
/// errors services report with a 5xx (InternalError, InternalFailure, ServiceUnavailable).
[[nodiscard]] inline bool is_transient_code(std::string_view code) noexcept {
    constexpr std::string_view codes[] = {"RequestTimeout", "RequestTimeoutException", "InternalError",
                                          "InternalFailure", "InternalServerError", "ServiceUnavailable"};
    for (auto c : codes)
        if (code == c) return true;
    return false;
}

/// 500, 502, 503, 504: retried whatever the code says.
[[nodiscard]] inline bool is_transient_status(int status) noexcept {
    return status == 500 || status == 502 || status == 503 || status == 504;
}

/// Codes that always mean the request time was too far from the service's clock.
[[nodiscard]] inline bool is_clock_skew_code(std::string_view code) noexcept {
    return code == "RequestTimeTooSkewed" || code == "RequestExpired" || code == "RequestInTheFuture";
}

/// Codes that mean clock skew only when the message says so (otherwise the signature is wrong).
[[nodiscard]] inline bool is_possible_clock_skew_code(std::string_view code) noexcept {
    return code == "InvalidSignatureException" || code == "SignatureDoesNotMatch" || code == "AuthFailure";
}

/// How the retry mode treats `e`: throttling (or 429), else clock skew, else transient, else none.
[[nodiscard]] inline retry_kind classify(const service_error& e) noexcept {
    for (std::string_view code : {std::string_view(e.code), std::string_view(e.query_code)}) {
        if (code.empty()) continue;
        if (is_throttling_code(code)) return retry_kind::throttling;
    }
    if (e.http_status == 429) return retry_kind::throttling;
    for (std::string_view code : {std::string_view(e.code), std::string_view(e.query_code)}) {
        if (code.empty()) continue;
        if (is_clock_skew_code(code)) return retry_kind::clock_skew;
        if (is_possible_clock_skew_code(code) && sluice::detail::aws_error::message_says_skew(e.message)) return retry_kind::clock_skew;
    }
    for (std::string_view code : {std::string_view(e.code), std::string_view(e.query_code)})
        if (!code.empty() && is_transient_code(code)) return retry_kind::transient;
    if (is_transient_status(e.http_status)) return retry_kind::transient;
    return retry_kind::none;
}

/// A transport failure (no response): `transient` when sluice::http::is_retryable says so.
[[nodiscard]] inline retry_kind classify(std::error_code transport) noexcept {
    return http::is_retryable(transport) ? retry_kind::transient : retry_kind::none;
}

/// What the delivery engine should do with a request the service refused: retry (throttled for
/// throttling) or reject.
[[nodiscard]] inline entry_result to_entry_result(const service_error& e) {
    const retry_kind kind = classify(e);
    entry_result r = kind == retry_kind::none ? entry_result::reject(e.describe())
                                              : entry_result::retry(e.describe(), kind == retry_kind::throttling);
    r.from_service(e.code, e.request_id);
    return r;
}

/// The same for a transport failure. Cancellation is retried (the record is not at fault and must not
/// be dead-lettered); other non-retryable failures (TLS, oversize response) are rejected.
[[nodiscard]] inline entry_result to_entry_result(std::error_code transport) {
    entry_result r = (http::is_retryable(transport) || transport == http::transport_error::cancelled)
                         ? entry_result::retry("transport: " + transport.message())
                         : entry_result::reject("transport: " + transport.message());
    r.code = transport;
    return r;
}

} // namespace sluice::aws
