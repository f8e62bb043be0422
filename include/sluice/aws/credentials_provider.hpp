#pragma once

// Credentials providers: where the SigV4 signer's aws_credentials come from, in the AWS SDKs' order.
//
//   sluice::http::client http(loop);
//   auto chain = sluice::aws::default_credentials_chain(http);            // env, profile, web identity,
//                                                                        // container, IMDS
//   sluice::aws::caching_credentials_provider credentials(loop, chain);  // refreshes ahead of expiry
//   auto c = co_await credentials.get();                                 // result<aws_credentials>
//
// Every provider's load() gives a result<aws_credentials>. An Error's code is a credentials_errc:
// not_configured when the source is simply not set up (a chain moves on to the next source), otherwise
// why a configured source failed (a chain stops there, as the SDKs do, rather than quietly using some
// other identity). Errors never carry a secret key, a session token or a web identity token: they name
// variables, files and hosts.
//
// The sources:
//   - static: credentials given in code.
//   - environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN and
//     AWS_CREDENTIAL_EXPIRATION (ISO-8601).
//   - profile: the selected profile (config_options / AWS_PROFILE / "default") of the shared files:
//     aws_access_key_id, aws_secret_access_key, aws_session_token, taken from the credentials file when it
//     has them for the profile, else from config; or role_arn + web_identity_token_file (+
//     role_session_name), which is web identity. Assume-role chains (source_profile, credential_source),
//     credential_process and SSO are not supported: such a profile fails with a clear error.
//   - web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME), exchanged with
//     STS AssumeRoleWithWebIdentity (an unsigned query-protocol POST to the "sts" endpoint resolved as in
//     config.hpp, so AWS_ENDPOINT_URL_STS redirects it). The token file is read again on every load:
//     Kubernetes rotates it.
//   - container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on http://169.254.170.2), else
//     AWS_CONTAINER_CREDENTIALS_FULL_URI, which over plain http must name a loopback address, the ECS
//     address 169.254.170.2 or the EKS Pod Identity addresses 169.254.170.23 / [fd00:ec2::23] (no DNS
//     lookup is made: other host names need https). The Authorization header comes from the file in
//     AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read on every load), else AWS_CONTAINER_AUTHORIZATION_TOKEN.
//   - IMDS (EC2 instance metadata, v2 only): PUT /latest/api/token, then the role name and the role's
//     credentials with the token. AWS_EC2_METADATA_DISABLED=true skips it; the endpoint is
//     AWS_EC2_METADATA_SERVICE_ENDPOINT (or the profile's ec2_metadata_service_endpoint), else
//     http://169.254.169.254 (http://[fd00:ec2::254] in IPv6 endpoint mode); each request times out
//     after AWS_METADATA_SERVICE_TIMEOUT seconds (default 1) and is made
//     AWS_METADATA_SERVICE_NUM_ATTEMPTS times at most (default 1), the SDKs' documented defaults.
//
// caching_credentials_provider keeps what its provider returned and refreshes temporary credentials
// ahead of expiry in the background: callers keep getting the still-valid ones and only wait when there
// are none or they have expired, and then all waiting callers share one refresh.

#if !SLUICE_HAS_CURL
#error "sluice/aws/credentials_provider.hpp needs libcurl (SLUICE_HAS_CURL): install libcurl4-openssl-dev"
#endif
#if !SLUICE_HAS_SIMDJSON
#error "sluice/aws/credentials_provider.hpp needs simdjson (SLUICE_HAS_SIMDJSON): install libsimdjson-dev"
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

// ---- static ------------------------------------------------------------------------------------

/// Credentials given in code.
class static_credentials_provider final : public credentials_provider {
public:
    /// Always gives `credentials`.
    explicit static_credentials_provider(aws_credentials credentials) : credentials_(std::move(credentials)) {}

    [[nodiscard]] task<result<aws_credentials>> load() override {
        if (credentials_.empty())
            co_return detail::aws_creds::fail(name(), credentials_errc::not_configured,
                                              "no access key id or secret given");
        co_return result<aws_credentials>::ok(credentials_);
    }
    [[nodiscard]] std::string_view name() const noexcept override { return "static"; }

private:
    aws_credentials credentials_;
};

// ---- environment ---------------------------------------------------------------------------------

/// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_CREDENTIAL_EXPIRATION.
class environment_credentials_provider final : public credentials_provider {
public:
    /// Reads the variables through `env` (the process environment by default).
    explicit environment_credentials_provider(env_lookup env = {})
        : env_(env ? std::move(env) : process_environment()) {}

    [[nodiscard]] task<result<aws_credentials>> load() override { co_return read(); }
    [[nodiscard]] std::string_view name() const noexcept override { return "environment"; }

    /// The same, synchronously: the environment needs no waiting.
    [[nodiscard]] result<aws_credentials> read() const {
        auto get = [&](std::string_view var) -> std::optional<std::string> {
            auto v = env_(var);
            if (!v || sluice::text::trim(*v).empty()) return std::nullopt;
            return std::string(sluice::text::trim(*v));
        };
        auto id = get("AWS_ACCESS_KEY_ID");
        auto secret = get("AWS_SECRET_ACCESS_KEY");
        if (!id && !secret)
            return detail::aws_creds::fail(name(), credentials_errc::not_configured, "AWS_ACCESS_KEY_ID is not set");
        // The SDKs treat half a pair as not configured too, so a chain moves on; the message stays
        // in the chain's error if nothing else works.
        if (!id)
            return detail::aws_creds::fail(name(), credentials_errc::not_configured,
                                           "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
        if (!secret)
            return detail::aws_creds::fail(name(), credentials_errc::not_configured,
                                           "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
        aws_credentials c;
        c.access_key_id = std::move(*id);
        c.secret_access_key = std::move(*secret);
        if (auto token = get("AWS_SESSION_TOKEN")) c.session_token = std::move(*token);
        if (auto expiration = get("AWS_CREDENTIAL_EXPIRATION")) {
            auto at = detail::aws_creds::parse_iso8601(*expiration);
            if (!at)
                return detail::aws_creds::fail(name(), credentials_errc::invalid_configuration,
                                               "AWS_CREDENTIAL_EXPIRATION is not an ISO-8601 time");
            c.expiration = *at;
        }
        return result<aws_credentials>::ok(std::move(c));
    }

private:
    env_lookup env_;
};

// ---- web identity ------------------------------------------------------------------------------

/// What an AssumeRoleWithWebIdentity call needs.
struct web_identity_settings {
    /// The role to assume.
    std::string role_arn;
    /// The file holding the web identity token (read at each load: it is rotated).
    std::string token_file;
    /// Empty: "sluice-<milliseconds since the epoch>".
    std::string session_name;
};

/// STS AssumeRoleWithWebIdentity with a token read from a file.
class web_identity_credentials_provider final : public credentials_provider {
public:
    /// Settings from AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN and AWS_ROLE_SESSION_NAME, read at each load.
    explicit web_identity_credentials_provider(http::client& client, config_options options = {})
        : client_(client), options_(std::move(options)) {}
    /// Fixed settings (a profile's role_arn / web_identity_token_file); `options` still give the region
    /// and the STS endpoint.
    web_identity_credentials_provider(http::client& client, web_identity_settings settings, config_options options = {})
        : client_(client), options_(std::move(options)), settings_(std::move(settings)) {}

    [[nodiscard]] std::string_view name() const noexcept override { return "web identity"; }

    [[nodiscard]] task<result<aws_credentials>> load() override {
        // The variables first: without them this source is simply not configured, whatever the files say.
        const env_lookup env = options_.env ? options_.env : process_environment();
        auto var = [&](std::string_view name) -> std::optional<std::string> {
            auto v = env(name);
            if (!v || sluice::text::trim(*v).empty()) return std::nullopt;
            return std::string(sluice::text::trim(*v));
        };
        web_identity_settings settings;
        if (settings_) {
            settings = *settings_;
        } else {
            auto file = var("AWS_WEB_IDENTITY_TOKEN_FILE");
            auto role = var("AWS_ROLE_ARN");
            if (!file && !role)
                co_return detail::aws_creds::fail(name(), credentials_errc::not_configured,
                                                  "AWS_WEB_IDENTITY_TOKEN_FILE is not set");
            if (!file || !role) {
                std::string why = file ? "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not"
                                       : "AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not";
                co_return detail::aws_creds::fail(name(), credentials_errc::invalid_configuration, std::move(why));
            }
            settings.token_file = std::move(*file);
            settings.role_arn = std::move(*role);
            if (auto session = var("AWS_ROLE_SESSION_NAME")) settings.session_name = std::move(*session);
        }

        // The files only add the region and endpoint settings: a malformed one leaves the environment's.
        auto loaded = aws_config::load(options_);
        std::optional<aws_config> fallback;
        if (!loaded) fallback.emplace(shared_files{}, env, options_.profile);
        const aws_config& config = loaded ? loaded.value() : *fallback;

        if (settings.session_name.empty()) {
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
            settings.session_name = "sluice-" + std::to_string(ms);
        }

        std::string why;
        auto token = detail::aws_creds::read_token_file(settings.token_file, why);
        if (!token)
            co_return detail::aws_creds::fail(name(), credentials_errc::provider_failed, "web identity token: " + why);

        // STS is regional; without a region the global endpoint still answers (in the aws partition).
        http::request request;
        request.url = sts_url(config);

        const std::string body = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" +
                                 sluice::text::uri_encode(settings.role_arn) +
                                 "&RoleSessionName=" + sluice::text::uri_encode(settings.session_name) +
                                 "&WebIdentityToken=" + sluice::text::uri_encode(*token);
        request.method = "POST";
        request.headers.push_back({"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"});
        request.headers.push_back({"Accept", "text/xml"});
        request.body = body;
        request.timeout = std::chrono::seconds(10);
        request.connect_timeout = std::chrono::seconds(3);

        for (int attempt = 1;; ++attempt) {
            auto answer = co_await client_.request(request);
            if (answer.is_error()) {
                if (attempt < max_attempts && http::is_retryable(answer.get_error().code)) {
                    co_await client_.loop().sleep_for(retry_pause * attempt);
                    continue;
                }
                co_return detail::aws_creds::fail(name(), credentials_errc::provider_failed,
                                                  "STS AssumeRoleWithWebIdentity: " + answer.get_error().message);
            }
            const http::response& response = answer.value();
            if (response.status == 200) co_return detail::aws_creds::parse_sts_credentials(name(), response.body);
            const std::string code = detail::aws_creds::xml_unescape(
                detail::aws_creds::xml_path(response.body, "Error", "Code").value_or(""));
            // IDPCommunicationError: the identity provider did not answer STS in time; worth another try.
            const bool transient = response.status >= 500 || response.status == 429 ||
                                   code == "IDPCommunicationError" || code == "Throttling";
            if (attempt < max_attempts && transient) {
                co_await client_.loop().sleep_for(retry_pause * attempt);
                continue;
            }
            co_return detail::aws_creds::fail(name(), credentials_errc::provider_failed,
                                              detail::aws_creds::describe_sts_failure(response, code, *token));
        }
    }

private:
    static constexpr int max_attempts = 3;
    static constexpr std::chrono::milliseconds retry_pause{200};

    // The regional STS endpoint (or an override); without a region, the global one, which still answers
    // in the aws partition.
    static std::string sts_url(const aws_config& config) {
        auto region = config.region();
        std::string_view region_name;
        if (region) region_name = region.value();
        auto endpoint = config.endpoint("sts", region_name);
        std::string url = endpoint ? std::move(endpoint).value() : std::string("https://sts.amazonaws.com");
        const auto parts = sluice::text::parse_url(url);
        if (parts && parts->path.empty() && !parts->has_query && !parts->has_fragment) url += '/';
        return url;
    }

    http::client& client_;
    config_options options_;
    std::optional<web_identity_settings> settings_;
};

// ---- profile -----------------------------------------------------------------------------------

/// The selected profile of the shared files (read again at each load). A profile with role_arn and
/// web_identity_token_file needs `client` for STS.
class profile_credentials_provider final : public credentials_provider {
public:
    /// The profile `options` select; `client` (outliving it) is needed for web identity profiles only.
    explicit profile_credentials_provider(config_options options = {}, http::client* client = nullptr)
        : options_(std::move(options)), client_(client) {}

    [[nodiscard]] std::string_view name() const noexcept override { return "profile"; }

    [[nodiscard]] task<result<aws_credentials>> load() override {
        auto loaded = aws_config::load(options_);
        if (!loaded)
            co_return detail::aws_creds::fail(name(), credentials_errc::invalid_configuration,
                                              loaded.get_error().what());
        const aws_config& config = loaded.value();
        const shared_files& files = config.files();
        const std::string& profile = config.profile_name();
        const std::string where = "profile '" + profile + "'";

        if (!config.has_profile()) {
            const std::string message = where + " is not in " +
                                        describe(config.paths().credentials, "the credentials file") + " or " +
                                        describe(config.paths().config, "the config file");
            // A profile asked for by name that does not exist is a mistake; a missing default is not.
            co_return detail::aws_creds::fail(name(),
                                              config.profile_named() ? credentials_errc::invalid_configuration
                                                                     : credentials_errc::not_configured,
                                              message);
        }

        // The credentials file's keys when it has them for this profile, else the config file's.
        const auto which = files.get(shared_files::kind::credentials, profile, "aws_access_key_id")
                               ? shared_files::kind::credentials
                               : shared_files::kind::config;
        auto value = [&](std::string_view key) -> std::optional<std::string> {
            auto v = files.get(which, profile, key);
            if (!v || sluice::text::trim(*v).empty()) return std::nullopt;
            return std::string(sluice::text::trim(*v));
        };
        if (auto id = value("aws_access_key_id")) {
            auto secret = value("aws_secret_access_key");
            if (!secret)
                co_return detail::aws_creds::fail(name(), credentials_errc::invalid_configuration,
                                                  where + " has aws_access_key_id but no aws_secret_access_key");
            aws_credentials c;
            c.access_key_id = std::move(*id);
            c.secret_access_key = std::move(*secret);
            if (auto token = value("aws_session_token")) c.session_token = std::move(*token);
            co_return result<aws_credentials>::ok(std::move(c));
        }

        auto role_arn = config.profile_value("role_arn");
        auto token_file = config.profile_value("web_identity_token_file");
        if (role_arn && token_file) {
            if (!client_)
                co_return detail::aws_creds::fail(name(), credentials_errc::invalid_configuration,
                                                  where + " uses web identity, which needs an HTTP client");
            web_identity_settings settings{std::move(*role_arn), std::move(*token_file),
                                           config.profile_value("role_session_name").value_or("")};
            web_identity_credentials_provider sts(*client_, std::move(settings), options_);
            auto got = co_await sts.load();
            if (got.is_error()) {
                error e = got.get_error();
                e.source = std::string(name());
                e.message = where + " (web identity): " + e.message;
                co_return result<aws_credentials>::failure(std::move(e));
            }
            co_return got;
        }
        if (role_arn)
            co_return detail::aws_creds::fail(
                name(), credentials_errc::invalid_configuration,
                where + " assumes a role (role_arn with source_profile or credential_source), "
                        "which sluice does not support: use web identity, environment or "
                        "static credentials");
        if (config.profile_value("credential_process"))
            co_return detail::aws_creds::fail(name(), credentials_errc::invalid_configuration,
                                              where + " uses credential_process, which sluice does not support");
        if (config.profile_value("sso_session") || config.profile_value("sso_start_url"))
            co_return detail::aws_creds::fail(name(), credentials_errc::invalid_configuration,
                                              where + " uses SSO, which sluice does not support");
        co_return detail::aws_creds::fail(name(), credentials_errc::not_configured, where + " has no credentials");
    }

private:
    static std::string describe(const std::string& path, const char* fallback) {
        return path.empty() ? fallback : path;
    }

    config_options options_;
    http::client* client_;
};

// ---- container ---------------------------------------------------------------------------------

/// ECS task roles and EKS Pod Identity: credentials from a local HTTP endpoint.
class container_credentials_provider final : public credentials_provider {
public:
    /// Asks through `client` (outliving it) the endpoint the environment names.
    explicit container_credentials_provider(http::client& client, env_lookup env = {})
        : client_(client), env_(env ? std::move(env) : process_environment()) {}

    [[nodiscard]] std::string_view name() const noexcept override { return "container"; }

    /// The URL the environment points at: http://169.254.170.2 + AWS_CONTAINER_CREDENTIALS_RELATIVE_URI,
    /// else AWS_CONTAINER_CREDENTIALS_FULL_URI when its host is allowed (see the top of this file).
    [[nodiscard]] static result<std::string> resolve_url(const env_lookup& env) {
        auto fail = [](credentials_errc code, std::string why) {
            auto r = detail::aws_creds::fail("container", code, std::move(why));
            return result<std::string>::failure(r.get_error());
        };
        if (auto relative = get(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
            std::string url = "http://169.254.170.2";
            if (relative->front() != '/') url += '/';
            url += *relative;
            return result<std::string>::ok(std::move(url));
        }
        auto full = get(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
        if (!full)
            return fail(credentials_errc::not_configured, "neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI "
                                                          "nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set");
        const auto parts = sluice::text::parse_url(*full);
        const std::string scheme = parts ? sluice::text::to_lower(parts->scheme) : std::string();
        if (!parts || (scheme != "http" && scheme != "https") || !parts->host_is_valid())
            return fail(credentials_errc::invalid_configuration,
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI is not an http(s) URL");
        const std::string host = sluice::text::to_lower(parts->host);
        if (scheme == "http" && !detail::aws_creds::container_host_allowed(host))
            return fail(credentials_errc::invalid_configuration,
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI host '" + host +
                            "' is not allowed over http: use a loopback address, 169.254.170.2, 169.254.170.23 or "
                            "fd00:ec2::23, or https");
        return result<std::string>::ok(std::move(*full));
    }

    [[nodiscard]] task<result<aws_credentials>> load() override {
        auto resolved = resolve_url(env_);
        if (resolved.is_error()) co_return result<aws_credentials>::failure(resolved.get_error());
        std::string url = std::move(resolved).value();

        std::optional<std::string> token;
        if (auto file = get(env_, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
            std::string why;
            token = detail::aws_creds::read_token_file(*file, why);
            if (!token)
                co_return detail::aws_creds::fail(name(), credentials_errc::invalid_configuration,
                                                  "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: " + why);
        } else {
            token = get(env_, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
        }
        if (token && token->find_first_of("\r\n") != std::string::npos)
            co_return detail::aws_creds::fail(name(), credentials_errc::invalid_configuration,
                                              "the container authorization token contains a line break");

        http::request request;
        request.url = std::move(url);
        request.headers.push_back({"Accept", "application/json"});
        if (token) request.headers.push_back({"Authorization", *token});
        request.timeout = std::chrono::seconds(5);
        request.connect_timeout = std::chrono::seconds(2);
        auto answer =
            co_await detail::aws_creds::request_with_retries(client_, request, 3, std::chrono::milliseconds(100));
        if (answer.is_error())
            co_return detail::aws_creds::fail(name(), credentials_errc::provider_failed, answer.get_error().message);
        const http::response& response = answer.value();
        if (response.status != 200) {
            std::string why = "the container endpoint answered ";
            why += detail::aws_creds::describe_json_failure(response, token.value_or(std::string()));
            co_return detail::aws_creds::fail(name(), credentials_errc::provider_failed, std::move(why));
        }
        co_return detail::aws_creds::parse_json_credentials(name(), response.body);
    }

private:
    static std::optional<std::string> get(const env_lookup& env, std::string_view var) {
        auto v = env(var);
        if (!v || sluice::text::trim(*v).empty()) return std::nullopt;
        return std::string(sluice::text::trim(*v));
    }

    http::client& client_;
    env_lookup env_;
};

// ---- IMDS --------------------------------------------------------------------------------------

/// EC2 instance metadata (IMDSv2). Keeps the session token (6 hours) between loads.
class imds_credentials_provider final : public credentials_provider {
public:
    /// Asks the instance metadata service through `client`, which outlives it.
    explicit imds_credentials_provider(http::client& client, config_options options = {})
        : client_(client), options_(std::move(options)) {}

    [[nodiscard]] std::string_view name() const noexcept override { return "imds"; }

    [[nodiscard]] task<result<aws_credentials>> load() override {
        // A malformed config file should not stop IMDS: then the environment alone counts.
        auto loaded = aws_config::load(options_);
        std::optional<aws_config> fallback;
        if (!loaded) fallback.emplace(shared_files{}, options_.env, options_.profile);
        const aws_config& config = loaded ? loaded.value() : *fallback;
        auto setting = [&](std::string_view var, std::string_view key) {
            auto v = config.env(var);
            return v ? v : config.profile_value(key);
        };
        if (auto disabled = config.env("AWS_EC2_METADATA_DISABLED");
            disabled && detail::aws_cfg::parse_bool(*disabled) == true)
            co_return detail::aws_creds::fail(name(), credentials_errc::not_configured,
                                              "disabled by AWS_EC2_METADATA_DISABLED");

        std::string endpoint;
        if (auto e = setting("AWS_EC2_METADATA_SERVICE_ENDPOINT", "ec2_metadata_service_endpoint")) {
            endpoint = std::move(*e);
        } else {
            auto mode = setting("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "ec2_metadata_service_endpoint_mode");
            endpoint =
                mode && sluice::text::iequals(*mode, "IPv6") ? "http://[fd00:ec2::254]" : "http://169.254.169.254";
        }
        while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();

        auto positive = [&](std::string_view var, std::string_view key, int fallback) {
            auto v = setting(var, key);
            int n = 0;
            if (!v) return fallback;
            auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
            return ec == std::errc{} && p == v->data() + v->size() && n >= 1 ? n : fallback;
        };
        const auto timeout =
            std::chrono::seconds(positive("AWS_METADATA_SERVICE_TIMEOUT", "metadata_service_timeout", 1));
        const int attempts = positive("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "metadata_service_num_attempts", 1);

        // A token the instance rejected (401) is fetched again once.
        for (int round = 0;; ++round) {
            if (!token_ || std::chrono::steady_clock::now() >= token_expiry_) {
                http::request put;
                put.method = "PUT";
                put.url = endpoint + "/latest/api/token";
                put.headers.push_back({"x-aws-ec2-metadata-token-ttl-seconds", std::to_string(token_ttl.count())});
                put.timeout = timeout;
                put.connect_timeout = timeout;
                const auto asked = std::chrono::steady_clock::now();
                auto answer = co_await detail::aws_creds::request_with_retries(client_, put, attempts, retry_pause);
                if (answer.is_error())
                    co_return detail::aws_creds::fail(name(), credentials_errc::not_configured,
                                                      "no instance metadata service at " + endpoint +
                                                          " (not on EC2?): " + answer.get_error().code.message());
                if (answer.value().status != 200) {
                    std::string why = "the instance metadata service refused a session token: HTTP " +
                                      std::to_string(answer.value().status);
                    if (answer.value().status == 403) why += " (IMDS disabled, or the hop limit is too low)";
                    co_return detail::aws_creds::fail(name(), credentials_errc::provider_failed, std::move(why));
                }
                token_ = std::string(sluice::text::trim(answer.value().body));
                // Renewed a minute early: a token must not expire between the two GETs.
                token_expiry_ = asked + token_ttl - std::chrono::seconds(60);
            }
            const std::string token = *token_;

            http::request get;
            get.url = endpoint + "/latest/meta-data/iam/security-credentials/";
            get.headers.push_back({"x-aws-ec2-metadata-token", token});
            get.timeout = timeout;
            get.connect_timeout = timeout;
            auto role_answer = co_await detail::aws_creds::request_with_retries(client_, get, attempts, retry_pause);
            if (role_answer.is_error())
                co_return detail::aws_creds::fail(name(), credentials_errc::provider_failed,
                                                  role_answer.get_error().message);
            if (role_answer.value().status == 401 && round == 0) {
                token_.reset();
                continue;
            }
            if (role_answer.value().status == 404)
                co_return detail::aws_creds::fail(name(), credentials_errc::not_configured,
                                                  "no IAM role is attached to this instance");
            if (role_answer.value().status != 200)
                co_return detail::aws_creds::fail(name(), credentials_errc::provider_failed,
                                                  "the instance metadata service answered HTTP " +
                                                      std::to_string(role_answer.value().status) +
                                                      " for the role name");
            std::string_view role = sluice::text::trim(role_answer.value().body);
            role = sluice::text::trim(role.substr(0, role.find('\n')));
            if (role.empty() || role.find_first_of("/?#% ") != std::string_view::npos)
                co_return detail::aws_creds::fail(name(), credentials_errc::provider_failed,
                                                  "the instance metadata service gave no usable role name");

            get.url += role;
            auto creds_answer = co_await detail::aws_creds::request_with_retries(client_, get, attempts, retry_pause);
            if (creds_answer.is_error())
                co_return detail::aws_creds::fail(name(), credentials_errc::provider_failed,
                                                  creds_answer.get_error().message);
            if (creds_answer.value().status == 401 && round == 0) {
                token_.reset();
                continue;
            }
            if (creds_answer.value().status != 200)
                co_return detail::aws_creds::fail(name(), credentials_errc::provider_failed,
                                                  "the instance metadata service answered HTTP " +
                                                      std::to_string(creds_answer.value().status) + " for role '" +
                                                      std::string(role) + "'");
            // IMDS reports failures inside a 200: {"Code": "...", ...}; "Success" is the good one.
            simdjson::dom::parser parser;
            simdjson::dom::element doc;
            const std::string& body = creds_answer.value().body;
            if (parser.parse(body.data(), body.size()).get(doc) == simdjson::SUCCESS) {
                if (auto code = detail::aws_creds::json_string(doc, "Code"); code && *code != "Success")
                    co_return detail::aws_creds::fail(name(), credentials_errc::provider_failed,
                                                      "the instance metadata service reported " +
                                                          detail::aws_creds::quote_server_text(*code, 64) +
                                                          " for role '" + std::string(role) + "'");
            }
            co_return detail::aws_creds::parse_json_credentials(name(), body);
        }
    }

private:
    static constexpr std::chrono::seconds token_ttl{21600};
    static constexpr std::chrono::milliseconds retry_pause{100};

    http::client& client_;
    config_options options_;
    std::optional<std::string> token_;
    std::chrono::steady_clock::time_point token_expiry_{};
};

// ---- chain -------------------------------------------------------------------------------------

/// Tries providers in order. A provider that is not configured passes to the next; one that fails
/// otherwise ends the search with its error. Remembers the provider that worked and asks it first
/// next time (falling back to the whole chain if it has become unconfigured).
class credentials_provider_chain final : public credentials_provider {
public:
    /// Tries `providers` in this order.
    explicit credentials_provider_chain(std::vector<std::shared_ptr<credentials_provider>> providers)
        : providers_(std::move(providers)) {}

    [[nodiscard]] std::string_view name() const noexcept override { return "chain"; }

    [[nodiscard]] task<result<aws_credentials>> load() override {
        std::vector<std::string> tried;
        const std::size_t remembered = last_.load(std::memory_order_relaxed);
        if (remembered < providers_.size()) {
            auto got = co_await providers_[remembered]->load();
            if (got.is_ok()) co_return got;
            if (!detail::aws_creds::is_not_configured(got.get_error())) co_return stop(got.get_error(), tried);
            tried.push_back(got.get_error().what());
        }
        for (std::size_t i = 0; i < providers_.size(); ++i) {
            if (i == remembered) continue;
            auto got = co_await providers_[i]->load();
            if (got.is_ok()) {
                last_.store(i, std::memory_order_relaxed);
                co_return got;
            }
            if (!detail::aws_creds::is_not_configured(got.get_error())) co_return stop(got.get_error(), tried);
            tried.push_back(got.get_error().what());
        }
        std::string message = "no AWS credentials found; tried ";
        append(message, tried);
        co_return detail::aws_creds::fail("credentials", credentials_errc::not_configured, std::move(message));
    }

    /// The name of the provider that gave the last credentials; empty before any did.
    [[nodiscard]] std::string_view last_provider() const noexcept {
        const std::size_t i = last_.load(std::memory_order_relaxed);
        return i < providers_.size() ? providers_[i]->name() : std::string_view{};
    }

    /// The providers, in order.
    [[nodiscard]] const std::vector<std::shared_ptr<credentials_provider>>& providers() const noexcept {
        return providers_;
    }

private:
    static void append(std::string& out, const std::vector<std::string>& tried) {
        for (std::size_t i = 0; i < tried.size(); ++i) {
            if (i) out += "; ";
            out += tried[i];
        }
        if (tried.empty()) out += "nothing (the chain is empty)";
    }

    static result<aws_credentials> stop(const error& cause, const std::vector<std::string>& tried) {
        error e = cause;
        e.message = cause.what();
        e.source = "credentials";
        if (!tried.empty()) {
            e.message += " (not configured before it: ";
            append(e.message, tried);
            e.message += ')';
        }
        return result<aws_credentials>::failure(std::move(e));
    }

    std::vector<std::shared_ptr<credentials_provider>> providers_;
    std::atomic<std::size_t> last_{static_cast<std::size_t>(-1)};
};

/// What default_credentials_chain builds.
struct default_chain_options {
    /// Put first in the chain when set.
    std::optional<aws_credentials> explicit_credentials;
    /// Profile and environment for every provider.
    config_options config;
};

/// The AWS SDKs' default chain: [explicit], environment, profile, web identity, container, IMDS. The
/// HTTP providers use `client`, which must outlive the chain.
[[nodiscard]] inline std::shared_ptr<credentials_provider_chain>
default_credentials_chain(http::client& client, default_chain_options options = {}) {
    std::vector<std::shared_ptr<credentials_provider>> providers;
    if (options.explicit_credentials)
        providers.push_back(std::make_shared<static_credentials_provider>(std::move(*options.explicit_credentials)));
    providers.push_back(std::make_shared<environment_credentials_provider>(options.config.env));
    providers.push_back(std::make_shared<profile_credentials_provider>(options.config, &client));
    providers.push_back(std::make_shared<web_identity_credentials_provider>(client, options.config));
    providers.push_back(std::make_shared<container_credentials_provider>(client, options.config.env));
    providers.push_back(std::make_shared<imds_credentials_provider>(client, options.config));
    return std::make_shared<credentials_provider_chain>(std::move(providers));
}

// ---- caching -----------------------------------------------------------------------------------

/// When cached credentials are refreshed (see caching_credentials_provider).
struct caching_options {
    /// Temporary credentials with less than this left are refreshed in the background.
    std::chrono::seconds refresh_ahead{std::chrono::minutes(5)};
    /// Credentials with less than this left count as expired: callers wait for fresh ones (a request
    /// signed now must still be valid when it arrives).
    std::chrono::seconds expiry_margin{10};
    /// After a background refresh (failed, or giving credentials that are again due), the next one
    /// waits this long.
    std::chrono::seconds retry_interval{15};
    /// The clock expirations are compared with; default system_clock::now.
    std::function<std::chrono::system_clock::time_point()> clock{};
    /// Where failed refreshes are reported (redacted); null: nowhere.
    const logger* log = nullptr;
};

/// Keeps the credentials its provider returned; see the top of this file. Thread-safe. A refresh still
/// running when this is destroyed finishes on its own (it shares ownership of the inner provider), so
/// what the inner provider borrows (the http::client) must outlive it: drain the loop before
/// destroying those.
class caching_credentials_provider final : public credentials_provider {
public:
    /// Background refreshes run on `loop`.
    caching_credentials_provider(io_loop& loop, std::shared_ptr<credentials_provider> inner,
                                 caching_options options = {})
        : state_(std::make_shared<state>(loop, std::move(inner), std::move(options))) {}

    caching_credentials_provider(const caching_credentials_provider&) = delete;
    caching_credentials_provider& operator=(const caching_credentials_provider&) = delete;

    [[nodiscard]] std::string_view name() const noexcept override { return state_->inner->name(); }
    [[nodiscard]] task<result<aws_credentials>> load() override { return get(); }

    /// Credentials that are valid now: the cached ones (starting a background refresh when they are
    /// due), or, when there are none or they expired, fresh ones (one load shared by every caller).
    [[nodiscard]] task<result<aws_credentials>> get() {
        std::shared_ptr<state> s = state_;
        std::shared_ptr<refresh> op;
        std::optional<aws_credentials> current;
        bool began = false; // this call started `op`, and spawns it
        bool background = false;
        {
            std::lock_guard lock(s->mutex);
            const auto now = s->now();
            if (s->credentials && !s->credentials->expired(now, s->options.expiry_margin)) {
                current = s->credentials;
                if (s->credentials->expired(now, s->options.refresh_ahead) && !s->running &&
                    now >= s->next_background) {
                    op = s->begin();
                    began = background = true;
                }
            } else if (s->running) {
                op = s->running; // join the refresh under way, background or not
            } else {
                op = s->begin();
                began = true;
            }
        }
        if (began) s->loop.spawn(run(s, op, background));
        if (current) co_return result<aws_credentials>::ok(std::move(*current));

        co_await op->done.wait();
        if (op->outcome.is_ok()) co_return op->outcome;
        // A failed refresh: still-valid credentials (from an earlier one) beat the error.
        {
            std::lock_guard lock(s->mutex);
            if (s->credentials && !s->credentials->expired(s->now(), s->options.expiry_margin))
                current = s->credentials;
        }
        if (current) co_return result<aws_credentials>::ok(std::move(*current));
        co_return op->outcome;
    }

    /// Drops the cached credentials (say, after a service answered ExpiredToken): the next get() loads.
    void invalidate() {
        std::lock_guard lock(state_->mutex);
        state_->credentials.reset();
    }

    /// The cached credentials, whether or not still valid; nullopt before the first load.
    [[nodiscard]] std::optional<aws_credentials> cached() const {
        std::lock_guard lock(state_->mutex);
        return state_->credentials;
    }

    /// How many loads of the inner provider have started (tests, metrics).
    [[nodiscard]] std::size_t refresh_count() const noexcept {
        return state_->refreshes.load(std::memory_order_relaxed);
    }

private:
    struct refresh {
        async_event done;
        result<aws_credentials> outcome;
    };

    struct state {
        state(io_loop& l, std::shared_ptr<credentials_provider> p, caching_options o)
            : loop(l), inner(std::move(p)), options(std::move(o)) {}

        std::chrono::system_clock::time_point now() const {
            return options.clock ? options.clock() : std::chrono::system_clock::now();
        }

        // Under the mutex.
        std::shared_ptr<refresh> begin() {
            running = std::make_shared<refresh>();
            refreshes.fetch_add(1, std::memory_order_relaxed);
            return running;
        }

        io_loop& loop;
        std::shared_ptr<credentials_provider> inner;
        caching_options options;
        mutable std::mutex mutex;
        std::optional<aws_credentials> credentials;
        std::shared_ptr<refresh> running;
        std::chrono::system_clock::time_point next_background{};
        std::atomic<std::size_t> refreshes{0};
    };

    // Holds the state (and the provider) alive: a refresh may outlive the caching provider.
    static task<void> run(std::shared_ptr<state> s, std::shared_ptr<refresh> op, bool background) {
        result<aws_credentials> got;
        try {
            got = co_await s->inner->load();
        } catch (...) {
            got = result<aws_credentials>::failure(error::from_current_exception(std::string(s->inner->name())));
        }
        if (got.is_ok() && (!got.has_value() || got.value().empty()))
            got =
                detail::aws_creds::fail(s->inner->name(), credentials_errc::provider_failed, "gave empty credentials");
        bool kept_old = false;
        {
            std::lock_guard lock(s->mutex);
            const auto now = s->now();
            if (got.is_ok()) {
                s->credentials = got.value();
            } else {
                kept_old = s->credentials && !s->credentials->expired(now, s->options.expiry_margin);
            }
            s->next_background = now + s->options.retry_interval;
            s->running.reset();
            op->outcome = got;
        }
        if (got.is_error()) report(*s, got.get_error(), background, kept_old);
        op->done.set();
    }

    // Not a coroutine: the log call's field list must not live in a coroutine frame (GCC 12).
    static void report(const state& s, const error& e, bool background, bool kept_old) {
        if (!s.options.log) return;
        const std::string reason = e.what();
        const std::string_view what =
            background ? (kept_old ? "background credentials refresh failed; keeping the current credentials"
                                   : "background credentials refresh failed")
                       : "loading credentials failed";
        s.options.log->warn("aws credentials", what,
                            {field::plain("provider", s.inner->name()), field::plain("reason", reason),
                             field::plain("retry_in_s", static_cast<std::int64_t>(s.options.retry_interval.count()))});
    }

    std::shared_ptr<state> state_;
};

} // namespace sluice::aws
