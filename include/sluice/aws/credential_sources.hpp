#pragma once

// The AWS credentials sources: static, environment, web identity (STS AssumeRoleWithWebIdentity),
// profile (the shared config and credentials files), container (ECS/EKS) and instance metadata
// (IMDSv2). How each is set up and fails: aws/credentials_provider.hpp.

#if !SLUICE_HAS_CURL
#error "sluice/aws/credential_sources.hpp needs libcurl (SLUICE_HAS_CURL): install libcurl4-openssl-dev"
#endif
#if !SLUICE_HAS_SIMDJSON
#error "sluice/aws/credential_sources.hpp needs simdjson (SLUICE_HAS_SIMDJSON): install libsimdjson-dev"
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

#include <sluice/aws/credentials_base.hpp>

namespace sluice::aws {

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

} // namespace sluice::aws
