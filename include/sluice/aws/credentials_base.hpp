#pragma once

// The parts every AWS credentials source shares: the error codes of a failed load (credentials_errc),
// the credentials_provider interface, and the small parsers the sources use (XML and JSON credential
// answers, token files, retries of metadata endpoints). aws/credentials_provider.hpp has the overview.

#if !SLUICE_HAS_CURL
#error "sluice/aws/credentials_base.hpp needs libcurl (SLUICE_HAS_CURL): install libcurl4-openssl-dev"
#endif
#if !SLUICE_HAS_SIMDJSON
#error "sluice/aws/credentials_base.hpp needs simdjson (SLUICE_HAS_SIMDJSON): install libsimdjson-dev"
#endif

#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sluice/aws/config.hpp>
#include <sluice/aws/credentials.hpp>
#include <sluice/aws/error.hpp>
#include <sluice/core/event.hpp>
#include <sluice/core/result.hpp>
#include <sluice/core/task.hpp>
#include <sluice/http/client.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/log.hpp>
#include <sluice/text/ascii.hpp>
#include <sluice/text/url.hpp>

namespace sluice::aws {

// ---- error codes ------------------------------------------------------------------------------

/// Why a credentials provider gave no credentials (the codes of credentials_category).
enum class credentials_errc {
    not_configured = 1,    ///< the source is not set up here: try the next one
    invalid_configuration, ///< the source is set up, but wrongly (a missing part, a bad value)
    provider_failed,       ///< the source is set up and was asked, but did not give credentials
};

} // namespace sluice::aws

namespace sluice::detail::aws_creds {
class category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "sluice.aws.credentials"; }
    std::string message(int value) const override {
        switch (static_cast<aws::credentials_errc>(value)) {
        case aws::credentials_errc::not_configured: return "credentials source not configured";
        case aws::credentials_errc::invalid_configuration: return "invalid credentials configuration";
        case aws::credentials_errc::provider_failed: return "credentials provider failed";
        }
        return "unknown credentials error";
    }
};
} // namespace sluice::detail::aws_creds

namespace sluice::aws {

/// The "sluice.aws.credentials" error category.
[[nodiscard]] inline const std::error_category& credentials_category() noexcept {
    static const detail::aws_creds::category_impl category;
    return category;
}

/// `e` as a std::error_code (what lets a credentials_errc convert to one).
[[nodiscard]] inline std::error_code make_error_code(credentials_errc e) noexcept {
    return {static_cast<int>(e), credentials_category()};
}

} // namespace sluice::aws

template <>
struct std::is_error_code_enum<sluice::aws::credentials_errc> : std::true_type {};

namespace sluice::detail::aws_creds {

// ---- small parsers shared by the providers --------------------------------------------------

/// ISO-8601 times (credential expirations): the one parser, in aws/dates.hpp.
using sluice::detail::aws_dates::parse_iso8601;

/// The content of the first element `<name ...>...</name>` in `xml` (not unescaped); nullopt if absent.
/// Enough for the small fixed documents STS and IMDS send: no CDATA, no comments containing tags.
[[nodiscard]] inline std::optional<std::string_view> xml_element(std::string_view xml, std::string_view name) noexcept {
    std::size_t from = 0;
    while (true) {
        const std::size_t open = xml.find('<', from);
        if (open == std::string_view::npos) return std::nullopt;
        from = open + 1;
        if (xml.compare(open + 1, name.size(), name) != 0) continue;
        const std::size_t after = open + 1 + name.size();
        if (after >= xml.size()) return std::nullopt;
        const char c = xml[after];
        if (c != '>' && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '/') continue;
        const std::size_t gt = xml.find('>', after);
        if (gt == std::string_view::npos) return std::nullopt;
        if (xml[gt - 1] == '/') return std::string_view{}; // <name/>
        const std::string closing = "</" + std::string(name);
        std::size_t close = xml.find(closing, gt + 1);
        while (close != std::string_view::npos) {
            const std::size_t end = close + closing.size();
            if (end < xml.size() && (xml[end] == '>' || xml[end] == ' ')) return xml.substr(gt + 1, close - gt - 1);
            close = xml.find(closing, end);
        }
        return std::nullopt;
    }
}

/// Follows a path of nested elements: xml_path(doc, {"A", "B"}) is B inside A.
template <class... Names>
[[nodiscard]] std::optional<std::string_view> xml_path(std::string_view xml, Names... names) noexcept {
    std::optional<std::string_view> at = xml;
    ((at = at ? xml_element(*at, std::string_view(names)) : std::nullopt), ...);
    return at;
}

/// XML text with its entity and character references decoded: the one decoder of AWS XML.
using sluice::detail::aws_error::xml_unescape;

/// `text` with every occurrence of each secret (of 4 bytes or more) replaced by "[redacted]": for error
/// text quoted from a server, which might echo what it was sent.
[[nodiscard]] inline std::string scrub(std::string text, std::initializer_list<std::string_view> secrets) {
    for (std::string_view secret : secrets) {
        if (secret.size() < 4) continue; // too short to search for without mangling ordinary words
        std::size_t at = 0;
        while ((at = text.find(secret, at)) != std::string::npos) {
            text.replace(at, secret.size(), redacted_text);
            at += redacted_text.size();
        }
    }
    return text;
}

/// Server text fit for an error message: control characters as spaces, `secrets` cut out (scrub), at
/// most `limit` bytes. The secrets are searched in the text as it will be shown, after the control
/// characters became spaces; should a secret still appear (made of the replacement and its
/// neighbours, or cut with "..."), the whole text is withheld.
[[nodiscard]] inline std::string quote_server_text(std::string_view text, std::size_t limit = 200,
                                                   std::initializer_list<std::string_view> secrets = {}) {
    std::string out(sluice::text::trim(text));
    for (char& c : out)
        if (sluice::text::is_control(c)) c = ' ';
    out = scrub(std::move(out), secrets);
    if (out.size() > limit) {
        out.resize(limit);
        out += "...";
    }
    for (std::string_view secret : secrets)
        if (secret.size() >= 4 && out.find(secret) != std::string::npos) return std::string(redacted_text);
    return out;
}

/// True for the hosts the SDKs let the container provider reach over plain http.
[[nodiscard]] inline bool container_host_allowed(std::string_view host) noexcept {
    if (host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1" || host == "169.254.170.2" ||
        host == "169.254.170.23" || host == "fd00:ec2::23")
        return true;
    // 127.0.0.0/8: four dotted decimal octets, the first 127.
    if (host.rfind("127.", 0) != 0) return false;
    int parts = 0;
    std::size_t pos = 0;
    while (pos <= host.size()) {
        const std::size_t dot = std::min(host.find('.', pos), host.size());
        const std::string_view part = host.substr(pos, dot - pos);
        unsigned value = 0;
        auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
        if (part.empty() || ec != std::errc{} || p != part.data() + part.size() || value > 255) return false;
        ++parts;
        pos = dot + 1;
    }
    return parts == 4;
}

/// A JSON object's string member; nullopt when absent or not a string.
[[nodiscard]] inline std::optional<std::string> json_string(simdjson::dom::element object, const char* key) {
    std::string_view value;
    if (object[key].get(value) != simdjson::SUCCESS) return std::nullopt;
    return std::string(value);
}

inline result<aws::aws_credentials> fail(std::string_view source, aws::credentials_errc code, std::string message) {
    error e;
    e.source = std::string(source);
    e.code = aws::make_error_code(code);
    e.message = std::move(message);
    return result<aws::aws_credentials>::failure(std::move(e));
}

inline bool is_not_configured(const error& e) noexcept {
    return e.code == aws::make_error_code(aws::credentials_errc::not_configured);
}

/// Reads a small file (a token) and trims surrounding whitespace; the error says why, not what.
inline std::optional<std::string> read_token_file(const std::string& path, std::string& why) {
    int err = 0;
    auto content = detail::aws_cfg::read_file(path, err);
    if (!content) {
        why = "cannot read " + path + ": " + std::error_code(err, std::system_category()).message();
        return std::nullopt;
    }
    std::string token(sluice::text::trim(*content));
    if (token.empty()) {
        why = path + " is empty";
        return std::nullopt;
    }
    return token;
}

/// A transient answer worth asking again: a retryable transport failure, 5xx or 429.
inline bool worth_retrying(const result<http::response>& r) {
    if (r.is_error()) return http::is_retryable(r.get_error().code);
    return r.value().status >= 500 || r.value().status == 429;
}

/// Sends `request` up to `attempts` times while the answer is transient, pausing `pause` between.
inline task<result<http::response>> request_with_retries(http::client& client, const http::request& request,
                                                         int attempts, std::chrono::milliseconds pause) {
    for (int attempt = 1;; ++attempt) {
        auto r = co_await client.request(request);
        if (attempt >= attempts || !worth_retrying(r)) co_return r;
        co_await client.loop().sleep_for(pause * attempt);
    }
}

/// "HTTP 403" plus `code: message` when the body is a JSON object carrying them (container endpoints do).
inline std::string describe_json_failure(const http::response& r, std::string_view secret) {
    std::string out = "HTTP " + std::to_string(r.status);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(r.body.data(), r.body.size()).get(doc) == simdjson::SUCCESS) {
        auto code = json_string(doc, "code");
        if (!code) code = json_string(doc, "Code");
        auto message = json_string(doc, "message");
        if (!message) message = json_string(doc, "Message");
        if (code) out += " " + quote_server_text(*code, 64);
        if (message) out += ": " + quote_server_text(*message, 200, {secret});
    }
    return out;
}

/// {AccessKeyId, SecretAccessKey, Token, Expiration} as the container endpoints and IMDS send them.
inline result<aws::aws_credentials> parse_json_credentials(std::string_view source, const std::string& body) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS || !doc.is_object())
        return fail(source, aws::credentials_errc::provider_failed, "the response is not a JSON object");
    aws::aws_credentials c;
    auto id = json_string(doc, "AccessKeyId");
    auto secret = json_string(doc, "SecretAccessKey");
    if (!id || id->empty() || !secret || secret->empty())
        return fail(source, aws::credentials_errc::provider_failed,
                    "the response has no AccessKeyId or SecretAccessKey");
    c.access_key_id = std::move(*id);
    c.secret_access_key = std::move(*secret);
    if (auto token = json_string(doc, "Token")) c.session_token = std::move(*token);
    if (auto expiration = json_string(doc, "Expiration"); expiration && !expiration->empty()) {
        auto at = parse_iso8601(*expiration);
        if (!at)
            return fail(source, aws::credentials_errc::provider_failed,
                        "the response's Expiration is not an ISO-8601 time");
        c.expiration = *at;
    }
    return result<aws::aws_credentials>::ok(std::move(c));
}

/// The credentials of an AssumeRoleWithWebIdentity response (XML).
inline result<aws::aws_credentials> parse_sts_credentials(std::string_view source, std::string_view body) {
    auto credentials = xml_path(body, "AssumeRoleWithWebIdentityResult", "Credentials");
    if (!credentials) return fail(source, aws::credentials_errc::provider_failed, "STS response has no Credentials");
    auto field = [&](std::string_view tag) { return xml_unescape(xml_element(*credentials, tag).value_or("")); };
    aws::aws_credentials c;
    c.access_key_id = field("AccessKeyId");
    c.secret_access_key = field("SecretAccessKey");
    c.session_token = field("SessionToken");
    if (c.empty())
        return fail(source, aws::credentials_errc::provider_failed, "STS response has no AccessKeyId or SecretAccessKey");
    if (const std::string expiration = field("Expiration"); !expiration.empty()) {
        auto at = parse_iso8601(expiration);
        if (!at)
            return fail(source, aws::credentials_errc::provider_failed,
                        "STS response's Expiration is not an ISO-8601 time");
        c.expiration = *at;
    }
    return result<aws::aws_credentials>::ok(std::move(c));
}

/// "STS AssumeRoleWithWebIdentity failed: HTTP 400 InvalidIdentityToken: <message>", the token cut out
/// of the message should STS ever quote it.
inline std::string describe_sts_failure(const http::response& response, const std::string& code, std::string_view token) {
    std::string message = "STS AssumeRoleWithWebIdentity failed: HTTP " + std::to_string(response.status);
    if (!code.empty()) message += " " + quote_server_text(code, 64);
    if (auto text = xml_path(response.body, "Error", "Message")) {
        message += ": ";
        message += quote_server_text(xml_unescape(*text), 200, {token});
    }
    return message;
}

} // namespace sluice::detail::aws_creds

namespace sluice::aws {

// ---- the provider interface ----------------------------------------------------------------------

/// A source of AWS credentials (environment, profile, container, IMDS, code...).
class credentials_provider {
public:
    virtual ~credentials_provider() = default;
    /// Loads credentials from this source (see the error codes above).
    [[nodiscard]] virtual task<result<aws_credentials>> load() = 0;
    /// A short name for messages: "environment", "profile", "imds"...
    [[nodiscard]] virtual std::string_view name() const noexcept = 0;
};

} // namespace sluice::aws
