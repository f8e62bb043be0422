#pragma once

// How the HTTP sinks (OpenSearch _bulk, the generic HTTP sink) classify a whole request: a transport
// failure, or a status that is not 2xx. One place, so both answer alike:
//   - no answer (timeout, reset, refused, DNS): retry; TLS failures and oversize answers: reject
//     (http::is_retryable, as everywhere in the library);
//   - 429: throttled, 408 / 5xx: retry, both with the server's Retry-After as the engine's hint;
//   - 401 / 403: reject, "authentication failed" (never the credentials);
//   - any other 4xx (and 1xx/3xx that reach here): reject with the status and its reason phrase.
// A reason read from a server's body passes through safe_reason: printable, one line, short.

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <system_error>

#include <sluice/core/outcome.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/error.hpp>
#include <sluice/http/retry_after.hpp>
#include <sluice/http/server_response.hpp>
#include <sluice/text/ascii.hpp>

namespace sluice::detail {

/// `raw` as it may appear in an outcome: control characters as spaces (no forged log lines), cut at
/// `max_bytes` on a UTF-8 boundary, and without what Elasticsearch quotes of a document ("Preview of
/// field's value: ..."): record bodies never reach logs. The preview is looked for after the control
/// characters became spaces, in any case, so no byte in between hides it.
[[nodiscard]] inline std::string safe_reason(std::string_view raw, std::size_t max_bytes = 300) {
    std::string out;
    const std::size_t look = std::min(raw.size(), max_bytes + 64);
    out.reserve(look);
    for (std::size_t i = 0; i < look; ++i) {
        const auto u = static_cast<unsigned char>(raw[i]);
        out += (u < 0x20 || u == 0x7f) ? ' ' : raw[i];
    }
    if (const auto at = text::ifind(out, "preview of field"); at != std::string::npos) out.resize(at);
    if (out.size() > max_bytes) {
        out.resize(max_bytes);
        while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
        if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
        out += "...";
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

/// An error type as it may appear in an outcome's service_code: [A-Za-z0-9._-], 128 bytes at most.
[[nodiscard]] inline std::string safe_code(std::string_view code) {
    std::string out;
    for (char c : code) {
        if (out.size() == 128) break;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
            out += c;
    }
    return out;
}

/// The outcome of a request that got no answer; `what` is the client's message (method and URL
/// without user info or query: nothing secret).
[[nodiscard]] inline outcome transport_outcome(std::error_code code, std::string_view what) {
    std::string why = "no response: ";
    why += what;
    outcome o = (http::is_retryable(code) || code == http::transport_error::cancelled) ? outcome::retry(std::move(why))
                                                                                    : outcome::reject(std::move(why));
    o.code = code;
    o.never_left = http::failed_before_sending(code);
    return o;
}

/// The outcome of a whole request answered with `status` (not 2xx). `detail` (already safe) is
/// added to the message when not empty.
[[nodiscard]] inline outcome status_outcome(const http::response& r, std::string_view detail = {}) {
    const long status = r.status;
    std::string why = "HTTP " + std::to_string(status) + " " + std::string(http::reason_phrase(static_cast<int>(status)));
    if (status == 401 || status == 403) why = "authentication failed (" + why + "): check the credentials";
    if (!detail.empty()) {
        why += ": ";
        why += detail;
    }
    outcome o;
    if (status == 429)
        o = outcome::throttle(std::move(why));
    else if (status == 408 || (status >= 500 && status <= 599))
        o = outcome::retry(std::move(why));
    else
        o = outcome::reject(std::move(why));
    if (o.retryable())
        if (auto hint = r.header("retry-after"))
            if (auto wait = http::parse_retry_after(*hint)) o.retry_after = *wait;
    for (std::string_view id_header : {"x-request-id", "x-opaque-id"})
        if (auto id = r.header(id_header)) {
            o.request_id = safe_code(*id);
            break;
        }
    return o;
}

} // namespace sluice::detail
