#pragma once

// How http::client words a failed transfer: libcurl's result codes as transport_error kinds, and the
// request as it may appear in an error message (never its query, user info or fragment, which carry
// signatures and passwords).

#if !SLUICE_HAS_CURL
#error "sluice/http/detail/failure_text.hpp needs libcurl (SLUICE_HAS_CURL)"
#endif

#include <algorithm>
#include <string>
#include <string_view>

#include <curl/curl.h>

#include <sluice/http/error.hpp>
#include <sluice/text/ascii.hpp>
#include <sluice/text/url.hpp>

namespace sluice::http::detail {

/// The transport_error kind of a libcurl result.
[[nodiscard]] inline transport_error classify_curl(CURLcode code) noexcept {
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT: return transport_error::timed_out;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return transport_error::couldnt_resolve;
    case CURLE_COULDNT_CONNECT: return transport_error::couldnt_connect;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return transport_error::connection_reset;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS: return transport_error::tls_failure;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING: return transport_error::bad_response;
    case CURLE_ABORTED_BY_CALLBACK: return transport_error::cancelled;
    default: return transport_error::other;
    }
}

/// "METHOD scheme://host:port/path" with the user info, the query and the fragment left out:
/// presigned URLs carry signatures and credentials in the query, URLs may carry a password, and error
/// messages get logged. Built from parts that pass their checks only (sluice::text::display_url).
[[nodiscard]] inline std::string describe_request(std::string_view method, std::string_view url) {
    const bool token = !method.empty() && method.size() <= 32 &&
                       std::all_of(method.begin(), method.end(), [](char c) { return sluice::text::is_alnum(c) || c == '-' || c == '_'; });
    std::string out(token ? method : std::string_view("[invalid method]"));
    out += ' ';
    out += sluice::text::display_url(url);
    return out;
}

} // namespace sluice::http::detail
