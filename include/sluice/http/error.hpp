#pragma once

// Transport failures of the HTTP client, as std::error_code values of the "sluice.http" category.
// An HTTP status (4xx, 5xx) is not a transport failure: it comes back as a response. These codes say
// why no response came, so retry policies can tell a reset connection (retry) from a certificate
// that does not verify (do not).

#include <string>
#include <system_error>

namespace sluice::http {

/// Why a request got no response (the codes of transport_category).
enum class transport_error {
    timed_out = 1,      ///< connect or total timeout
    couldnt_resolve,    ///< DNS lookup failed
    couldnt_connect,    ///< connection refused or unreachable
    connection_reset,   ///< send/receive failed, the peer closed early or sent nothing
    tls_failure,        ///< handshake failed or the peer's certificate did not verify
    bad_response,       ///< the peer did not speak HTTP properly
    cancelled,          ///< the caller's stop_token fired or the client shut down
    too_large,          ///< the response body exceeded client_options::max_response_bytes
    other,              ///< any other libcurl failure (message has the detail)
};

namespace detail {
class transport_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "sluice.http"; }
    std::string message(int value) const override {
        switch (static_cast<transport_error>(value)) {
        case transport_error::timed_out: return "timed out";
        case transport_error::couldnt_resolve: return "could not resolve host";
        case transport_error::couldnt_connect: return "could not connect";
        case transport_error::connection_reset: return "connection reset or closed early";
        case transport_error::tls_failure: return "TLS failure";
        case transport_error::bad_response: return "malformed HTTP response";
        case transport_error::cancelled: return "cancelled";
        case transport_error::too_large: return "response too large";
        case transport_error::other: return "transport failure";
        }
        return "unknown transport error";
    }
};
} // namespace detail

/// The "sluice.http" error category.
[[nodiscard]] inline const std::error_category& transport_category() noexcept {
    static const detail::transport_category_impl category;
    return category;
}

/// `e` as a std::error_code (what lets a transport_error convert to one).
[[nodiscard]] inline std::error_code make_error_code(transport_error e) noexcept {
    return {static_cast<int>(e), transport_category()};
}

/// True for failures worth retrying on a fresh connection: timeouts, resets, refused connections,
/// DNS hiccups and garbled responses. TLS failures (a certificate that does not verify stays that
/// way), cancellation and oversize responses are not.
[[nodiscard]] inline bool is_retryable(std::error_code code) noexcept {
    if (code.category() != transport_category()) return false;
    switch (static_cast<transport_error>(code.value())) {
    case transport_error::timed_out:
    case transport_error::couldnt_resolve:
    case transport_error::couldnt_connect:
    case transport_error::connection_reset:
    case transport_error::bad_response:
    case transport_error::other: return true;
    default: return false;
    }
}

/// True for failures that come before a request's first byte leaves: the host did not resolve, the
/// connection was refused, or the TLS handshake failed. The server cannot have seen the request, so a
/// record it carried was not sent (a retry cannot deliver it twice).
[[nodiscard]] inline bool failed_before_sending(std::error_code code) noexcept {
    if (code.category() != transport_category()) return false;
    switch (static_cast<transport_error>(code.value())) {
    case transport_error::couldnt_resolve:
    case transport_error::couldnt_connect:
    case transport_error::tls_failure: return true;
    default: return false;
    }
}

} // namespace sluice::http

template <>
struct std::is_error_code_enum<sluice::http::transport_error> : std::true_type {};
