#pragma once

// service_client: one AWS API call the way the AWS SDKs make it. Credentials from a provider (cached
// by the caller: see caching_credentials_provider), SigV4 by sluice, the request sent on the sluice
// HTTP client, the error read from either protocol, and the standard retry mode: exponential backoff
// with full jitter, a maximum of attempts, a retry quota shared by every call to the service, and the
// signing clock corrected when the service says the request time is skewed.
//
//     aws::service_client sqs(http, credentials, {.service = "sqs", .region = "eu-west-1",
//                                                 .endpoint = "https://sqs.eu-west-1.amazonaws.com"});
//     auto out = co_await sqs.call_json("AmazonSQS.SendMessageBatch", body);
//     if (!out.ok()) log(out.failure.message);   // safe to log: no credentials, no signature
//
// A call that keeps failing ends with call_failure: what the service said (service_error) or why no
// answer came (a transport error code), how it classifies (retry_kind) and why retrying stopped.
//
// REST services (S3) use call(): a method, a path below the endpoint's, query parameters and headers,
// signed the same way (with the service's sigv4_options: S3 wants single-encoded paths and
// x-amz-content-sha256), their XML errors read by the same parser.

#if !SLUICE_HAS_CURL || !SLUICE_HAS_OPENSSL || !SLUICE_HAS_SIMDJSON
#error "sluice/aws/service_client.hpp needs libcurl, OpenSSL and simdjson (SLUICE_HAS_CURL, SLUICE_HAS_OPENSSL, SLUICE_HAS_SIMDJSON)"
#endif

#include <sluice/aws/config.hpp>
#include <sluice/aws/credentials_provider.hpp>
#include <sluice/aws/error.hpp>
#include <sluice/aws/retry.hpp>
#include <sluice/aws/sigv4.hpp>
#include <sluice/delivery/sink.hpp>
#include <sluice/http/client.hpp>
#include <sluice/metrics/log.hpp>
#include <sluice/text/ascii.hpp>
#include <sluice/text/url.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace sluice::aws {

/// Where requests go: the URL as given and what SigV4 needs of it.
struct endpoint_url {
    std::string url;  ///< "https://sqs.eu-west-1.amazonaws.com" or "http://127.0.0.1:9324/base"
    std::string host; ///< the Host header curl sends: host, with the port unless it is the scheme's default
    std::string path; ///< "/" or the base path, as encoded on the wire

    /// Parses scheme://host[:port][/path] (http or https, no user info; a query or fragment is
    /// dropped); throws std::invalid_argument for anything else, naming the URL without its secrets.
    static endpoint_url parse(std::string_view url) {
        const auto u = sluice::text::parse_url(url);
        const std::string shown = sluice::text::display_url(url);
        if (!u || u->scheme.empty())
            throw std::invalid_argument("sluice: endpoint '" + shown + "' has no scheme (http:// or https://)");
        const std::string scheme = sluice::text::to_lower(u->scheme);
        if (scheme != "http" && scheme != "https")
            throw std::invalid_argument("sluice: endpoint scheme must be http or https");
        if (u->has_userinfo || !u->host_is_valid())
            throw std::invalid_argument("sluice: endpoint '" + shown + "' needs a host (and no user info)");
        const auto port = u->port_number();
        if (u->has_port && !port) throw std::invalid_argument("sluice: endpoint '" + shown + "' has an invalid port");
        endpoint_url e;
        e.host = u->ipv6 ? "[" + sluice::text::to_lower(u->host) + "]" : sluice::text::to_lower(u->host);
        if (port && *port != sluice::text::default_port(scheme)) e.host += ":" + std::to_string(*port);
        for (char c : u->path)
            if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
                throw std::invalid_argument("sluice: endpoint '" + shown + "' has blanks or control bytes in its path");
        e.path = u->path.empty() ? std::string("/") : std::string(u->path);
        e.url = scheme + "://" + e.host + e.path;
        return e;
    }
};

/// What a service_client talks to and how.
struct service_client_options {
    /// The signing name: "sqs", "kinesis", "firehose", "monitoring"...
    std::string service;
    /// The region requests are signed for ("eu-west-1").
    std::string region;
    /// scheme://host[:port][/path]: resolve it with aws_config::endpoint() to honour AWS_ENDPOINT_URL.
    std::string endpoint;
    /// Attempts and backoff (AWS_MAX_ATTEMPTS is honoured by default).
    retry_config retry = retry_config::from_environment();
    /// Shared by clients that should share one retry quota (one per service and region, as SDKs do).
    std::shared_ptr<retry_quota> quota{};
    /// Per attempt; zero: the HTTP client's default.
    std::chrono::milliseconds attempt_timeout{0};
    /// Retries and final failures are logged here (warn), never with credentials or signatures.
    const logger* log = nullptr;
    /// For tests: the jitter source of the retry strategy.
    retry_strategy::random_source random{};
};

/// Why a call did not succeed, after its retries.
struct call_failure {
    /// What the service said, when it answered with an error.
    std::optional<service_error> service{};
    /// Why no answer came (a sluice::http::transport_error), or a credentials error code.
    std::error_code code{};
    /// How the last failure classified.
    retry_kind kind = retry_kind::none;
    /// Why it was not retried further.
    retry_verdict verdict = retry_verdict::not_retryable;
    /// Attempts made.
    unsigned attempts = 0;
    /// "AmazonSQS.SendMessageBatch: ThrottlingException (HTTP 400, request id ...): Rate exceeded;
    /// 3 attempts (attempts exhausted)": safe to log.
    std::string message{};
    /// True when the credentials could not be had (nothing was sent).
    bool credentials = false;
    /// True when no request of the call left this process: no credentials, or every attempt failed
    /// before its first byte (http::failed_before_sending). The service cannot have seen the records.
    bool never_left = false;

    /// What the delivery engine should do with the batch: retry what can be retried later, reject
    /// what is the request's fault. A call that ran out of attempts or quota is still retryable by
    /// the engine (the records are not at fault), after its own backoff.
    [[nodiscard]] entry_result to_entry_result() const {
        entry_result r;
        if (credentials)
            // Credentials not set up, or set up wrongly, come back the same on every attempt (retrying
            // them only repeats the lookups): the records fail at once with the reason. A source that was
            // asked and failed (an endpoint down, a refresh refused) may answer next time.
            r = code == make_error_code(credentials_errc::provider_failed) ? entry_result::retry(message)
                                                                           : entry_result::reject(message);
        else if (kind != retry_kind::none)
            r = entry_result::retry(message, kind == retry_kind::throttling);
        else if (!service && code == http::transport_error::cancelled)
            r = entry_result::retry(message);
        else
            r = entry_result::reject(message);
        r.code = code;
        if (service) r.from_service(service->code, service->request_id);
        r.never_left = never_left;
        return r;
    }
};

/// How one call is made.
struct call_options {
    /// The request's Content-Type (the JSON protocol's version).
    std::string_view content_type = "application/x-amz-json-1.0";
    /// One attempt only: the caller (the delivery engine) owns attempts and backoff. A clock-skew
    /// correction and an expired-token refresh still re-sign and resend once: no retry by the caller
    /// could fix those faster.
    bool single_attempt = false;
    /// Abandons the call (transport_error::cancelled) when stopped.
    std::stop_token stop{};
    /// Signed and sent with the call (e.g. x-amzn-query-mode for CloudWatch).
    std::span<const http::header> extra_headers{};
};

/// How a call ended: the answer, or why there is none.
struct call_outcome {
    /// The service's answer when it was a success (2xx).
    std::optional<http::response> response{};
    /// Why it failed (when `response` is empty).
    call_failure failure{};
    /// True when the service answered with a success.
    [[nodiscard]] bool ok() const noexcept { return response.has_value(); }
};

/// One call of a REST API (S3 and the other REST-XML and REST-JSON services). Views only: everything
/// must stay valid until the call completes.
struct rest_call {
    /// Names the operation in errors and logs: "S3.UploadPart".
    std::string_view operation{};
    /// The HTTP method.
    std::string_view method = "GET";
    /// The path after the endpoint's own, as sent on the wire (URI-encoded, '/' kept): "/key%20a".
    std::string_view path{};
    /// Query parameters, decoded; the call encodes and signs them.
    std::span<const http_field> query{};
    /// Headers sent and signed with the call (Content-Type, x-amz-checksum-crc32c, ...). Not Host,
    /// Authorization, X-Amz-Date or the session token: the call adds those.
    std::span<const http::header> headers{};
    /// Sent without a copy.
    std::string_view body{};
    /// Instead of `body` when not empty: the body in pieces, hashed and sent in order without being
    /// joined (see http::request::body_parts).
    std::span<const std::string_view> body_parts{};
    /// The body's SHA-256 in lower-case hex when the caller has it, or unsigned_payload; empty: the
    /// call hashes the body.
    std::string_view payload_hash{};
    /// How the request is signed: sigv4_s3_options for S3.
    sigv4_options signing{};
};

/// Calls one AWS service in one region: signs (SigV4), sends, retries in the standard mode, corrects
/// clock skew and refreshes expired credentials; errors come back parsed and safe to log.
class service_client {
public:
    /// Sends through `http` (which outlives it). Throws std::invalid_argument without credentials,
    /// service or region, or for a bad endpoint.
    service_client(http::client& http, std::shared_ptr<credentials_provider> credentials, service_client_options options)
        : http_(&http),
          credentials_(std::move(credentials)),
          options_(std::move(options)),
          endpoint_(endpoint_url::parse(options_.endpoint)),
          strategy_(options_.retry, options_.random,
                    options_.quota ? options_.quota : make_retry_quota(options_.retry)) {
        if (!credentials_) throw std::invalid_argument("sluice: service_client needs a credentials provider");
        if (options_.service.empty() || options_.region.empty())
            throw std::invalid_argument("sluice: service_client needs a service and a region");
    }

    service_client(const service_client&) = delete;
    service_client& operator=(const service_client&) = delete;

    /// The options it was made with.
    [[nodiscard]] const service_client_options& options() const noexcept { return options_; }
    /// The endpoint, parsed.
    [[nodiscard]] const endpoint_url& endpoint() const noexcept { return endpoint_; }
    /// The clock offset its signatures use.
    [[nodiscard]] const clock_skew& skew() const noexcept { return skew_; }
    /// The HTTP client it sends through.
    [[nodiscard]] http::client& http() const noexcept { return *http_; }
    /// The retry quota of this client's calls (shared with options().quota when one was given); the
    /// batch dispatchers use it as their engine's retry budget, so retries of both draw from one bucket.
    [[nodiscard]] const std::shared_ptr<retry_quota>& quota() const noexcept { return strategy_.shared_quota(); }

    /// One call of a JSON-protocol API (awsJson1_0 / 1_1): POST `body` with X-Amz-Target `target`.
    /// `body` must stay valid until the call completes (it is sent without copying).
    [[nodiscard]] task<call_outcome> call_json(std::string_view target, std::string_view body,
                                               std::string_view content_type = "application/x-amz-json-1.0") {
        call_options o;
        o.content_type = content_type;
        return call_json(target, body, o);
    }

    /// The same with call options (single attempt, cancellation, extra headers).
    [[nodiscard]] task<call_outcome> call_json(std::string_view target, std::string_view body, call_options opts) {
        return json_call(target, body, {}, std::move(opts));
    }

    /// The same with the body in pieces, sent in order without being joined (a batch request around
    /// entries the delivery engine holds). `body_parts` and its pieces must stay valid until it completes.
    [[nodiscard]] task<call_outcome> call_json(std::string_view target, std::span<const std::string_view> body_parts,
                                               call_options opts) {
        return json_call(target, {}, body_parts, std::move(opts));
    }

    /// One call of a REST API (see rest_call); the same credentials, signing, error parsing and retries
    /// as call_json. A 2xx status is a success whatever the body says (S3's CompleteMultipartUpload can
    /// answer 200 with an `<Error>` body: its caller checks).
    [[nodiscard]] task<call_outcome> call(rest_call c, call_options opts) {
        return call_rest(c, std::move(opts));
    }

private:
    task<call_outcome> json_call(std::string_view target, std::string_view body, std::span<const std::string_view> parts,
                                 call_options opts) {
        std::vector<http::header> headers;
        headers.reserve(2 + opts.extra_headers.size());
        headers.push_back(http::header{"Content-Type", std::string(opts.content_type)});
        headers.push_back(http::header{"X-Amz-Target", std::string(target)});
        for (const http::header& h : opts.extra_headers) headers.push_back(h);
        rest_call c;
        c.operation = target;
        c.method = "POST";
        c.headers = headers;
        c.body = body;
        c.body_parts = parts;
        co_return co_await call_rest(c, std::move(opts));
    }

    task<call_outcome> call_rest(rest_call c, call_options opts) {
        call_outcome out;
        retry_token token = strategy_.begin();
        bool refreshed_credentials = false;
        bool corrected_skew = false;
        bool left = false; // a request of this call left this process
        const std::string url = request_url(c);
        for (;;) {
            auto credentials = co_await credentials_->load();
            if (credentials.is_error()) {
                out.failure.credentials = true;
                out.failure.never_left = !left;
                out.failure.code = credentials.get_error().code;
                out.failure.attempts = token.attempts - 1;
                out.failure.message = std::string(c.operation) + ": no credentials: " + credentials.get_error().what();
                co_return out;
            }

            http::request request;
            request.method = std::string(c.method);
            request.url = url;
            request.body = c.body;
            request.body_parts = c.body_parts;
            request.timeout = options_.attempt_timeout;
            request.stop = opts.stop;
            sign(request, credentials.value(), c);

            const auto sent_at = std::chrono::system_clock::now();
            auto response = co_await http_->request(request);
            retry_decision decision;
            left = left || response.is_ok() || !http::failed_before_sending(response.get_error().code);
            out.failure.never_left = !left;
            if (response.is_error()) {
                const error& e = response.get_error();
                out.failure.service.reset();
                out.failure.code = e.code;
                out.failure.message = e.message;
                decision = opts.single_attempt ? single(classify(e.code)) : strategy_.on_failure(token, e.code);
            } else if (response.value().status >= 200 && response.value().status < 300) {
                // A single attempt's caller owns retries and refunds the quota itself (the engine).
                if (!opts.single_attempt) strategy_.on_success(token);
                out.response = std::move(response).value();
                co_return out;
            } else {
                const http::response& r = response.value();
                service_error se = parse_service_error(static_cast<int>(r.status), r.headers, r.body);
                const bool skew_changed = skew_.update(se, sent_at);
                if (!refreshed_credentials && is_expired_token_code(se.code)) {
                    // Temporary credentials expired before their stated time (or were revoked): drop
                    // the cached ones and try once more with fresh ones, outside the retry budget.
                    if (auto* cache = dynamic_cast<caching_credentials_provider*>(credentials_.get())) {
                        refreshed_credentials = true;
                        cache->invalidate();
                        if (options_.log)
                            options_.log->info("aws", "credentials expired; loading fresh ones",
                                               {field::plain("service", options_.service)});
                        continue;
                    }
                }
                if (opts.single_attempt && !corrected_skew && skew_changed && classify(se) == retry_kind::clock_skew) {
                    // The clock offset was just corrected: re-signing with it is the fix, at once.
                    corrected_skew = true;
                    continue;
                }
                out.failure.code = {};
                out.failure.message = se.describe();
                out.failure.service = std::move(se);
                decision = opts.single_attempt ? single(classify(*out.failure.service))
                                               : strategy_.on_failure(token, *out.failure.service);
            }
            out.failure.kind = decision.kind;
            out.failure.verdict = decision.verdict;
            if (!decision.should_retry()) {
                finish_failure(out.failure, c.operation, token.attempts, decision.verdict, opts.single_attempt);
                co_return out;
            }
            if (options_.log)
                options_.log->debug("aws", "retrying call",
                                    {field::plain("service", options_.service), field::plain("reason", out.failure.message),
                                     field::plain("delay_ms", static_cast<std::uint64_t>(decision.delay.count()))});
            if (decision.delay.count() > 0) co_await http_->loop().sleep_for(decision.delay);
        }
    }

    /// Codes by which services say the session token expired or must be refreshed.
    [[nodiscard]] static bool is_expired_token_code(std::string_view code) noexcept {
        return code == "ExpiredToken" || code == "ExpiredTokenException" || code == "TokenRefreshRequired";
    }

private:
    /// A single attempt's verdict: the caller retries what is retryable.
    static retry_decision single(retry_kind kind) noexcept {
        retry_decision d;
        d.kind = kind;
        d.verdict = kind == retry_kind::none ? retry_verdict::not_retryable : retry_verdict::attempts_exhausted;
        return d;
    }

    /// Names the call and its attempts in the failure's message; logs it unless the caller retries.
    void finish_failure(call_failure& f, std::string_view target, unsigned attempts, retry_verdict verdict,
                        bool single_attempt) const {
        f.attempts = attempts;
        if (single_attempt) {
            f.message = std::string(target) + ": " + f.message;
            return; // the engine logs what finally fails, once per record
        }
        f.message = std::string(target) + ": " + f.message + "; " + std::to_string(attempts) + " attempt(s) (" +
                    std::string(to_string(verdict)) + ")";
        if (options_.log)
            options_.log->warn("aws", "call failed",
                               {field::plain("service", options_.service), field::plain("reason", f.message)});
    }

    /// The endpoint's scheme://host and path, then the call's path and its encoded query.
    [[nodiscard]] std::string request_url(const rest_call& c) const {
        std::string url = endpoint_.url;
        if (!c.path.empty()) {
            if (url.back() == '/' && c.path.front() == '/') url.pop_back();
            url += c.path;
        }
        append_query(url, c.query);
        return url;
    }

    /// The path as signed: the endpoint's path joined with the call's (both as sent on the wire).
    [[nodiscard]] std::string wire_path(const rest_call& c) const {
        std::string path = endpoint_.path;
        if (!c.path.empty()) {
            if (path.back() == '/' && c.path.front() == '/') path.pop_back();
            path += c.path;
        }
        return path;
    }

    // The SHA-256 (hex) of a body in pieces, hashed piece by piece (valid until the next call).
    std::string_view hash_parts(std::span<const std::string_view> parts) {
        parts_hasher_.init();
        for (std::string_view p : parts) parts_hasher_.update(p);
        const detail::sha256_digest digest = parts_hasher_.final();
        detail::hex_encode_lower(digest.data(), digest.size(), parts_hash_);
        return std::string_view(parts_hash_, sizeof parts_hash_);
    }

    void sign(http::request& request, const aws_credentials& credentials, const rest_call& c) {
        fields_.clear();
        fields_.add("Host", endpoint_.host);
        for (const http::header& h : c.headers) fields_.add(h.name, h.value);
        path_ = wire_path(c);
        sigv4_request s;
        s.method = c.method;
        s.path = path_;
        s.path_is_encoded = true;
        s.query = c.query;
        s.headers = std::span<const http_field>(fields_.data(), fields_.size());
        s.body = c.body;
        s.payload_hash = c.payload_hash;
        if (!c.body_parts.empty() && c.payload_hash.empty()) s.payload_hash = hash_parts(c.body_parts);
        s.region = options_.region;
        s.service = options_.service;
        s.time = skew_.now();
        s.options = c.signing;
        signer_.sign(s, credentials, signed_);
        request.headers.reserve(c.headers.size() + signed_.fields().size());
        for (const http::header& h : c.headers) request.headers.push_back(h);
        for (const http_field& f : signed_.fields()) request.headers.push_back(http::header{f.name, f.value});
    }

    http::client* http_;
    std::shared_ptr<credentials_provider> credentials_;
    service_client_options options_;
    endpoint_url endpoint_;
    retry_strategy strategy_;
    clock_skew skew_{};
    // Reused between calls: signing is synchronous, so no call sees another's state.
    sigv4_signer signer_{};
    detail::sha256_hasher parts_hasher_{};
    char parts_hash_[2 * detail::sha256_size]{};
    sigv4_result signed_{};
    field_list fields_{};
    std::string path_{};
};

/// What a service client needs, resolved the standard way (see configure_service).
struct service_setup {
    /// Region, endpoint and retries from the environment and the shared files.
    service_client_options options;
    /// The default chain (environment, profile, web identity, container, IMDS), cached and refreshed
    /// ahead of expiry in the background.
    std::shared_ptr<credentials_provider> credentials;
};

/// Resolves region (explicit, AWS_REGION, AWS_DEFAULT_REGION, profile), endpoint (explicit,
/// AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, profile, default) and credentials as the AWS SDKs
/// do. `service` is the service id / signing name ("sqs"). `http` must outlive the credentials.
[[nodiscard]] inline result<service_setup> configure_service(io_loop& loop, http::client& http, std::string service,
                                                             std::string_view explicit_region = {},
                                                             std::string_view explicit_endpoint = {},
                                                             config_options config = {}) {
    auto loaded = aws_config::load(config);
    if (loaded.is_error()) return result<service_setup>::failure(loaded.get_error());
    const aws_config& cfg = loaded.value();
    auto region = cfg.region(explicit_region);
    if (region.is_error()) return result<service_setup>::failure(region.get_error());
    auto endpoint = cfg.endpoint(service, region.value(), explicit_endpoint);
    if (endpoint.is_error()) return result<service_setup>::failure(endpoint.get_error());
    service_setup setup;
    setup.options.service = std::move(service);
    setup.options.region = region.value();
    setup.options.endpoint = endpoint.value();
    default_chain_options chain;
    chain.config = std::move(config);
    setup.credentials = std::make_shared<caching_credentials_provider>(loop, default_credentials_chain(http, std::move(chain)));
    return result<service_setup>::ok(std::move(setup));
}

} // namespace sluice::aws
