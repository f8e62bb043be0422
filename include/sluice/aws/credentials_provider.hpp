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

#include <sluice/aws/credential_sources.hpp>
#include <sluice/aws/credentials_base.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::aws {

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
