#pragma once

// aws_credentials: the value a credentials provider hands to the SigV4 signer. It is deliberately not
// printable: there is no operator<< (a deleted one makes `stream << credentials` a compile error), and
// to_string() gives a redacted description, so a secret cannot reach a log by accident.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <sluice/text/rfc3339.hpp>

namespace sluice::aws {

/// A set of AWS credentials (sluice never logs them).
struct aws_credentials {
    /// The access key id ("AKIA..." long-term, "ASIA..." temporary).
    std::string access_key_id;
    /// The secret key that signs requests.
    std::string secret_access_key;
    /// STS session token of temporary credentials; empty for long-term credentials.
    std::string session_token;
    /// When temporary credentials stop working; empty when they do not expire.
    std::optional<std::chrono::system_clock::time_point> expiration;

    /// True when there is nothing to sign with (no access key id or no secret).
    [[nodiscard]] bool empty() const noexcept { return access_key_id.empty() || secret_access_key.empty(); }
    /// True for temporary credentials (requests then carry X-Amz-Security-Token).
    [[nodiscard]] bool has_session_token() const noexcept { return !session_token.empty(); }
    /// True when the credentials expire before `now + margin` (a provider refreshes a little early).
    [[nodiscard]] bool expired(std::chrono::system_clock::time_point now,
                               std::chrono::seconds margin = std::chrono::seconds{0}) const noexcept {
        return expiration && *expiration <= now + margin;
    }
};

/// `stream << credentials` does not compile: use to_string(), which redacts.
template <class Stream>
Stream& operator<<(Stream&, const aws_credentials&) = delete;

/// A description safe to log: the access key id masked but for its last 4 characters (as the AWS CLI
/// shows it), whether there is a secret and a session token (never their values), and the expiration,
/// e.g. `aws_credentials{access_key_id=****************MPLE, secret_access_key=<redacted>,
/// session_token=<none>, expiration=2026-01-01T00:00:00Z}`. Ids shorter than 12 characters are masked
/// entirely.
[[nodiscard]] inline std::string to_string(const aws_credentials& credentials) {
    std::string out = "aws_credentials{access_key_id=";
    const std::string_view id = credentials.access_key_id;
    if (id.empty()) {
        out += "<none>";
    } else {
        // Showing 4 characters of a short id would show most of it.
        const std::size_t shown = id.size() >= 12 ? 4 : 0;
        out.append(id.size() - shown, '*');
        out += id.substr(id.size() - shown);
    }
    out += ", secret_access_key=";
    out += credentials.secret_access_key.empty() ? "<none>" : "<redacted>";
    out += ", session_token=";
    out += credentials.session_token.empty() ? "<none>" : "<redacted>";
    out += ", expiration=";
    if (!credentials.expiration) {
        out += "never";
    } else {
        char text[32];
        out += sluice::text::format_rfc3339_utc(*credentials.expiration, text,
                                                sluice::text::rfc3339_precision::seconds);
    }
    out += '}';
    return out;
}

} // namespace sluice::aws
