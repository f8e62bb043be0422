// Credentials providers and the caching wrapper: each provider against loopback fixtures (STS, the
// container endpoint, IMDS), the chain's order and error reporting, refresh ahead of expiry with an
// injected clock, and the promise that no secret, session token or web identity token reaches an error
// message or a log line. The environment is always a map owned by the test.

#include <doctest/doctest.h>

#if SLUICE_HAS_CURL && SLUICE_HAS_SIMDJSON

#include "support/http_server.hpp"

#include <sluice/aws/config.hpp>
#include <sluice/aws/credentials_provider.hpp>
#include <sluice/core/event.hpp>
#include <sluice/http/client.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/log.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_aws_credentials {

using namespace sluice;
using namespace sluice::aws;
using namespace std::chrono_literals;
using sluice_test::http_exchange;
using sluice_test::http_reply;
using sluice_test::http_server;

namespace {

using sluice_test::unused_port;

namespace fs = std::filesystem;
namespace creds = sluice::detail::aws_creds;

// Distinctive values that must never show up in an error or a log line.
constexpr std::string_view secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRETKEY";
constexpr std::string_view session_token = "FwoGZXIvYXdzSESSIONTOKENvalue0123456789";
constexpr std::string_view web_token = "eyJhbGciWEBIDENTITYTOKENpayloadSignature";
constexpr std::string_view auth_token = "container-AUTHTOKEN-0123456789abcdef";

bool leaks(std::string_view text) {
    for (std::string_view s : {secret_key, session_token, web_token, auth_token})
        if (text.find(s) != std::string_view::npos) return true;
    return false;
}

using env_map = std::map<std::string, std::string, std::less<>>;

// An env_lookup over a map the test can change between loads.
env_lookup view_of(const env_map& vars) {
    return [&vars](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

struct temp_dir {
    fs::path path;
    temp_dir() {
        char tmpl[] = "/tmp/sluice-awscreds-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string write(const fs::path& relative, std::string_view text) const {
        fs::create_directories((path / relative).parent_path());
        std::ofstream(path / relative, std::ios::binary | std::ios::trunc) << text;
        return (path / relative).string();
    }
    [[nodiscard]] std::string str() const { return path.string(); }
};

// Runs `body(loop, client)` on a fresh loop, destroys the client there, then drains.
template <class Body>
void with_client(Body body) {
    io_loop loop;
    auto main = [&]() -> task<void> {
        http::client client(loop);
        co_await body(loop, client);
    };
    loop.run_until_complete(main());
    loop.drain();
}

template <class Body>
void on_loop(Body body) {
    io_loop loop;
    auto main = [&]() -> task<void> { co_await body(loop); };
    loop.run_until_complete(main());
    loop.drain();
}

std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += s[i] == '+' ? ' ' : s[i];
        }
    }
    return out;
}

std::map<std::string, std::string> form_fields(std::string_view body) {
    std::map<std::string, std::string> out;
    while (!body.empty()) {
        const std::size_t amp = body.find('&');
        const std::string_view pair = body.substr(0, amp);
        const std::size_t eq = pair.find('=');
        out[percent_decode(pair.substr(0, eq))] =
            eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
        body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    }
    return out;
}

std::string sts_success(std::string_view id, std::string_view expiration) {
    return "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
           "  <AssumeRoleWithWebIdentityResult>\n"
           "    <SubjectFromWebIdentityToken>system:serviceaccount:ns:sa</SubjectFromWebIdentityToken>\n"
           "    <Credentials>\n"
           "      <AccessKeyId>" +
           std::string(id) +
           "</AccessKeyId>\n"
           "      <SecretAccessKey>" +
           std::string(secret_key) +
           "</SecretAccessKey>\n"
           "      <SessionToken>" +
           std::string(session_token) +
           "</SessionToken>\n"
           "      <Expiration>" +
           std::string(expiration) +
           "</Expiration>\n"
           "    </Credentials>\n"
           "  </AssumeRoleWithWebIdentityResult>\n"
           "  "
           "<ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></"
           "ResponseMetadata>\n"
           "</AssumeRoleWithWebIdentityResponse>\n";
}

std::string json_credentials(std::string_view id, std::string_view expiration) {
    return "{\"Code\":\"Success\",\"LastUpdated\":\"2026-11-22T09:00:00Z\",\"Type\":\"AWS-HMAC\","
           "\"AccessKeyId\":\"" +
           std::string(id) + "\",\"SecretAccessKey\":\"" + std::string(secret_key) + "\",\"Token\":\"" +
           std::string(session_token) + "\",\"Expiration\":\"" + std::string(expiration) + "\"}";
}

std::chrono::system_clock::time_point utc(int y, unsigned mo, unsigned d, int h, int mi, int s) {
    using namespace std::chrono;
    return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

// Not a coroutine: the initializer_list must not live in a coroutine frame (GCC 12).
bool mentions_every_source(const std::string& what) {
    for (std::string_view source : {"environment:", "profile:", "web identity:", "container:", "imds:"})
        if (what.find(source) == std::string::npos) return false;
    return true;
}

bool is(const result<aws_credentials>& r, credentials_errc code) {
    return r.is_error() && r.get_error().code == make_error_code(code);
}

// A provider answering from a script, optionally held at a gate until the test opens it.
struct scripted_provider final : credentials_provider {
    std::vector<result<aws_credentials>> answers;
    std::size_t calls = 0;
    std::size_t waiting = 0;
    async_event* gate = nullptr;

    task<result<aws_credentials>> load() override {
        const std::size_t index = calls++;
        if (gate) {
            ++waiting;
            co_await gate->wait();
            --waiting;
        }
        REQUIRE(index < answers.size());
        co_return answers[index];
    }
    std::string_view name() const noexcept override { return "scripted"; }
};

aws_credentials make_credentials(std::string id, std::optional<std::chrono::system_clock::time_point> expiration) {
    aws_credentials c;
    c.access_key_id = std::move(id);
    c.secret_access_key = std::string(secret_key);
    c.session_token = std::string(session_token);
    c.expiration = expiration;
    return c;
}

result<aws_credentials> failed(std::string why) {
    error e;
    e.source = "scripted";
    e.message = std::move(why);
    e.code = make_error_code(credentials_errc::provider_failed);
    return result<aws_credentials>::failure(std::move(e));
}

// Collects log lines as the logger renders them.
struct log_capture {
    std::mutex mutex;
    std::vector<std::string> lines;
    logger make() {
        return logger(log_options{.level = log_level::debug}, [this](const log_record& r) {
            std::lock_guard lock(mutex);
            lines.push_back(format_log_line(r));
        });
    }
};

} // namespace

TEST_SUITE("aws credentials") {

// ---- pure parts --------------------------------------------------------------------------------

TEST_CASE("ISO-8601 times: Z, fractional seconds, offsets; malformed ones refused") {
    CHECK(creds::parse_iso8601("2026-11-22T10:00:00Z") == utc(2026, 11, 22, 10, 0, 0));
    CHECK(creds::parse_iso8601("2026-11-22T10:00:00.250Z") == utc(2026, 11, 22, 10, 0, 0) + 250ms);
    CHECK(creds::parse_iso8601("2026-11-22T10:00:00.123456789Z") ==
          utc(2026, 11, 22, 10, 0, 0) +
              std::chrono::duration_cast<std::chrono::system_clock::duration>(123456789ns));
    CHECK(creds::parse_iso8601("2026-11-22T12:30:00+02:30") == utc(2026, 11, 22, 10, 0, 0));
    CHECK(creds::parse_iso8601("2026-11-22T05:00:00-0500") == utc(2026, 11, 22, 10, 0, 0));
    CHECK(creds::parse_iso8601(" 2026-02-28t23:59:59z ") == utc(2026, 2, 28, 23, 59, 59));
    CHECK_FALSE(creds::parse_iso8601("2026-11-22T10:00:00"));  // no zone
    CHECK_FALSE(creds::parse_iso8601("2026-02-30T10:00:00Z")); // no such day
    CHECK_FALSE(creds::parse_iso8601("2026-11-22 10:00Z"));
    CHECK_FALSE(creds::parse_iso8601("2026-11-22T10:00:00.Z"));
    CHECK_FALSE(creds::parse_iso8601("2026-11-22T10:00:00Zjunk"));
    CHECK_FALSE(creds::parse_iso8601(""));
}

TEST_CASE("XML extraction, entities, form encoding, URL hosts") {
    const std::string doc = "<R xmlns=\"x\"><Result><Credentials><AccessKeyIdX>no</AccessKeyIdX>"
                            "<AccessKeyId>AKID</AccessKeyId><Secret>a&amp;b&lt;&#65;&#x42;&#233;</Secret>"
                            "<Empty/></Credentials></Result></R>";
    CHECK(creds::xml_path(doc, "Result", "Credentials", "AccessKeyId") == "AKID");
    CHECK(creds::xml_unescape(*creds::xml_path(doc, "Credentials", "Secret")) == "a&b<AB\xc3\xa9");
    CHECK(creds::xml_path(doc, "Credentials", "Empty") == "");
    CHECK_FALSE(creds::xml_path(doc, "Result", "Missing"));
    CHECK_FALSE(creds::xml_path(doc, "Missing", "AccessKeyId"));

    CHECK(sluice::text::uri_encode("arn:aws:iam::1:role/x y+z~") == "arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx%20y%2Bz~");

    CHECK(sluice::text::parse_url("http://user:pw@127.0.0.1:8080/x?y")->host == "127.0.0.1");
    CHECK(sluice::text::parse_url("HTTP://[FD00:EC2::23]:80/")->host == "FD00:EC2::23");
    CHECK(sluice::text::parse_url("https://Example.COM")->scheme == "https");
    CHECK(sluice::text::parse_url("not a url")->scheme.empty());
    for (std::string_view ok :
         {"127.0.0.1", "127.1.2.3", "localhost", "::1", "169.254.170.2", "169.254.170.23", "fd00:ec2::23"})
        CHECK_MESSAGE(creds::container_host_allowed(ok), ok);
    for (std::string_view no :
         {"128.0.0.1", "127.0.0.1.evil.com", "127.0.0", "169.254.169.254", "example.com", "127.0.0.256"})
        CHECK_FALSE_MESSAGE(creds::container_host_allowed(no), no);
}

TEST_CASE("static and environment providers") {
    on_loop([&](io_loop&) -> task<void> {
        static_credentials_provider fixed(make_credentials("AKIDSTATIC", std::nullopt));
        auto got = co_await fixed.load();
        CHECK(got.value().access_key_id == "AKIDSTATIC");
        static_credentials_provider empty(aws_credentials{});
        CHECK(is(co_await empty.load(), credentials_errc::not_configured));

        env_map vars;
        environment_credentials_provider env(view_of(vars));
        auto none = co_await env.load();
        CHECK(is(none, credentials_errc::not_configured));
        CHECK(none.get_error().what().find("AWS_ACCESS_KEY_ID") != std::string::npos);

        vars["AWS_SECRET_ACCESS_KEY"] = std::string(secret_key);
        auto half = co_await env.load();
        CHECK(is(half, credentials_errc::not_configured));
        CHECK_FALSE(leaks(half.get_error().what()));

        vars["AWS_ACCESS_KEY_ID"] = "AKIDENV";
        auto plain = co_await env.load();
        CHECK(plain.value().access_key_id == "AKIDENV");
        CHECK(plain.value().secret_access_key == secret_key);
        CHECK_FALSE(plain.value().has_session_token());
        CHECK_FALSE(plain.value().expiration);

        vars["AWS_SESSION_TOKEN"] = std::string(session_token);
        vars["AWS_CREDENTIAL_EXPIRATION"] = "2026-11-22T10:00:00Z";
        auto temporary = co_await env.load();
        CHECK(temporary.value().session_token == session_token);
        CHECK(temporary.value().expiration == utc(2026, 11, 22, 10, 0, 0));

        vars["AWS_CREDENTIAL_EXPIRATION"] = "tomorrow";
        auto bad = co_await env.load();
        CHECK(is(bad, credentials_errc::invalid_configuration));
        CHECK_FALSE(leaks(bad.get_error().what()));
    });
}

TEST_CASE("profile provider: credentials file over config, the profile's own keys, clear errors") {
    temp_dir dir;
    dir.write(".aws/config",
              "[default]\nregion = eu-west-1\n"
              "[profile both]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = config-secret\n"
              "[profile config-only]\naws_access_key_id = AKIDCONFIGONLY\naws_secret_access_key = s\n"
              "[profile half]\naws_access_key_id = AKIDHALF\n"
              "[profile assume]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = default\n"
              "[profile process]\ncredential_process = /bin/true\n");
    dir.write(".aws/credentials",
              std::string("[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = ") +
                  std::string(secret_key) + "\naws_session_token = " + std::string(session_token) +
                  "\n"
                  "[both]\naws_access_key_id = AKIDCREDENTIALS\naws_secret_access_key = creds-secret\n");
    env_map vars{{"HOME", dir.str()}};

    on_loop([&](io_loop&) -> task<void> {
        profile_credentials_provider by_default({.profile = {}, .env = view_of(vars)});
        auto d = co_await by_default.load();
        CHECK(d.value().access_key_id == "AKIDDEFAULT");
        CHECK(d.value().session_token == session_token);

        profile_credentials_provider both({.profile = "both", .env = view_of(vars)});
        auto b = co_await both.load();
        CHECK(b.value().access_key_id == "AKIDCREDENTIALS");
        CHECK(b.value().secret_access_key == "creds-secret");

        profile_credentials_provider config_only({.profile = "config-only", .env = view_of(vars)});
        CHECK((co_await config_only.load()).value().access_key_id == "AKIDCONFIGONLY");

        profile_credentials_provider half({.profile = "half", .env = view_of(vars)});
        auto h = co_await half.load();
        CHECK(is(h, credentials_errc::invalid_configuration));
        CHECK(h.get_error().what().find("aws_secret_access_key") != std::string::npos);

        profile_credentials_provider assume({.profile = "assume", .env = view_of(vars)});
        auto a = co_await assume.load();
        CHECK(is(a, credentials_errc::invalid_configuration));
        CHECK(a.get_error().what().find("not support") != std::string::npos);

        profile_credentials_provider process({.profile = "process", .env = view_of(vars)});
        CHECK(is(co_await process.load(), credentials_errc::invalid_configuration));

        // A profile asked for by name that does not exist is an error; a missing default is "not
        // configured".
        vars["AWS_PROFILE"] = "missing";
        profile_credentials_provider missing({.profile = {}, .env = view_of(vars)});
        auto m = co_await missing.load();
        CHECK(is(m, credentials_errc::invalid_configuration));
        CHECK(m.get_error().what().find("'missing'") != std::string::npos);
        vars.erase("AWS_PROFILE");

        vars["HOME"] = dir.str() + "/empty";
        profile_credentials_provider nothing({.profile = {}, .env = view_of(vars)});
        CHECK(is(co_await nothing.load(), credentials_errc::not_configured));
        vars["HOME"] = dir.str();

        // The files are read at each load: an edit is picked up.
        dir.write(".aws/credentials",
                  "[default]\naws_access_key_id = AKIDROTATED\naws_secret_access_key = rotated\n");
        CHECK((co_await by_default.load()).value().access_key_id == "AKIDROTATED");

        dir.write(".aws/credentials",
                  std::string("[default]\naws_secret_access_key ") + std::string(secret_key) + "\n");
        auto broken = co_await by_default.load();
        CHECK(is(broken, credentials_errc::invalid_configuration));
        CHECK(broken.get_error().what().find("line 2") != std::string::npos);
        CHECK_FALSE(leaks(broken.get_error().what()));
        CHECK_FALSE(leaks(h.get_error().what()));
        CHECK_FALSE(leaks(a.get_error().what()));
        CHECK_FALSE(leaks(m.get_error().what()));
    });
}

// ---- web identity ------------------------------------------------------------------------------

TEST_CASE("web identity: an unsigned AssumeRoleWithWebIdentity POST to the STS fixture, token file "
          "re-read each time") {
    std::atomic<int> answered{0};
    http_server sts([&](const http_exchange&) {
        http_reply r;
        r.status = 200;
        r.headers.emplace_back("Content-Type", "text/xml");
        r.body = sts_success("ASIAWEBIDENTITY" + std::to_string(++answered), "2026-11-22T10:00:00Z");
        return r;
    });
    temp_dir dir;
    const std::string token_file = dir.write("token", std::string(web_token) + "-1\n");
    env_map vars{{"HOME", dir.str()},
                 {"AWS_REGION", "eu-west-1"},
                 {"AWS_ENDPOINT_URL_STS", sts.url()},
                 {"AWS_WEB_IDENTITY_TOKEN_FILE", token_file},
                 {"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/my role"},
                 {"AWS_ROLE_SESSION_NAME", "my-session"}};

    with_client([&](io_loop&, http::client& client) -> task<void> {
        web_identity_credentials_provider provider(client, {.profile = {}, .env = view_of(vars)});
        auto first = co_await provider.load();
        REQUIRE(first.is_ok());
        CHECK(first.value().access_key_id == "ASIAWEBIDENTITY1");
        CHECK(first.value().secret_access_key == secret_key);
        CHECK(first.value().session_token == session_token);
        CHECK(first.value().expiration == utc(2026, 11, 22, 10, 0, 0));

        dir.write("token", std::string(web_token) + "-2");
        auto second = co_await provider.load();
        CHECK(second.value().access_key_id == "ASIAWEBIDENTITY2");
    });

    const auto requests = sts.requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].method == "POST");
    CHECK(requests[0].target == "/");
    CHECK(requests[0].header("content-type").value_or("").find("application/x-www-form-urlencoded") == 0);
    CHECK_FALSE(requests[0].header("authorization")); // unsigned
    auto fields = form_fields(requests[0].body);
    CHECK(fields["Action"] == "AssumeRoleWithWebIdentity");
    CHECK(fields["Version"] == "2011-06-15");
    CHECK(fields["RoleArn"] == "arn:aws:iam::123456789012:role/my role");
    CHECK(fields["RoleSessionName"] == "my-session");
    CHECK(fields["WebIdentityToken"] == std::string(web_token) + "-1");
    CHECK(form_fields(requests[1].body)["WebIdentityToken"] == std::string(web_token) + "-2");
    CHECK(requests[0].target.find("WebIdentityToken") == std::string::npos); // in the body, not the URL
}

TEST_CASE("web identity: STS errors are reported without the token; 5xx and IDPCommunicationError are "
          "retried") {
    std::atomic<int> calls{0};
    http_server sts([&](const http_exchange&) {
        const int call = ++calls;
        http_reply r;
        r.headers.emplace_back("Content-Type", "text/xml");
        if (call == 1) {
            r.status = 503;
            r.body = "<ErrorResponse><Error><Code>ServiceUnavailable</Code></Error></ErrorResponse>";
        } else if (call == 2) {
            r.status = 400;
            r.body = "<ErrorResponse><Error><Code>IDPCommunicationError</Code><Message>try "
                     "again</Message></Error></ErrorResponse>";
        } else {
            // STS quoting the token back would be a leak; the provider cuts it out.
            r.status = 400;
            r.body = "<ErrorResponse "
                     "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
                     "<Code>InvalidIdentityToken</Code><Message>Token " +
                     std::string(web_token) +
                     " has expired &amp; is "
                     "invalid</Message></Error><RequestId>r-1</RequestId></ErrorResponse>";
        }
        return r;
    });
    temp_dir dir;
    env_map vars{{"HOME", dir.str()},
                 {"AWS_REGION", "us-east-1"},
                 {"AWS_ENDPOINT_URL", sts.url()},
                 {"AWS_WEB_IDENTITY_TOKEN_FILE", dir.write("token", web_token)},
                 {"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r"}};

    with_client([&](io_loop&, http::client& client) -> task<void> {
        web_identity_credentials_provider provider(client, {.profile = {}, .env = view_of(vars)});
        auto got = co_await provider.load();
        REQUIRE(got.is_error());
        const std::string what = got.get_error().what();
        CHECK(is(got, credentials_errc::provider_failed));
        CHECK(what.find("InvalidIdentityToken") != std::string::npos);
        CHECK(what.find("has expired & is invalid") != std::string::npos);
        CHECK(what.find("HTTP 400") != std::string::npos);
        CHECK_FALSE(leaks(what));
    });
    CHECK(calls == 3);
    CHECK(sts.requests().at(0).header("x-amz-security-token") == std::nullopt);
}

TEST_CASE("web identity: not configured, half configured, unreadable token file") {
    temp_dir dir;
    env_map vars{{"HOME", dir.str()}};
    with_client([&](io_loop&, http::client& client) -> task<void> {
        web_identity_credentials_provider provider(client, {.profile = {}, .env = view_of(vars)});
        CHECK(is(co_await provider.load(), credentials_errc::not_configured));
        vars["AWS_ROLE_ARN"] = "arn:aws:iam::1:role/r";
        auto half = co_await provider.load();
        CHECK(is(half, credentials_errc::invalid_configuration));
        CHECK(half.get_error().what().find("AWS_WEB_IDENTITY_TOKEN_FILE") != std::string::npos);
        vars["AWS_WEB_IDENTITY_TOKEN_FILE"] = dir.str() + "/no-such-token";
        auto unreadable = co_await provider.load();
        CHECK(is(unreadable, credentials_errc::provider_failed));
        CHECK(unreadable.get_error().what().find("no-such-token") != std::string::npos);
    });
}

TEST_CASE("a profile with role_arn and web_identity_token_file is web identity") {
    http_server sts([&](const http_exchange&) {
        http_reply r;
        r.body = sts_success("ASIAFROMPROFILE", "2026-11-22T10:00:00.000Z");
        return r;
    });
    temp_dir dir;
    const std::string token_file = dir.write("token", web_token);
    dir.write(".aws/config", "[profile k8s]\nregion = eu-central-1\nrole_arn = arn:aws:iam::1:role/pod\n"
                             "web_identity_token_file = " +
                                 token_file + "\nrole_session_name = from-profile\n");
    env_map vars{{"HOME", dir.str()}, {"AWS_PROFILE", "k8s"}, {"AWS_ENDPOINT_URL_STS", sts.url()}};
    with_client([&](io_loop&, http::client& client) -> task<void> {
        profile_credentials_provider provider({.profile = {}, .env = view_of(vars)}, &client);
        auto got = co_await provider.load();
        REQUIRE(got.is_ok());
        CHECK(got.value().access_key_id == "ASIAFROMPROFILE");

        profile_credentials_provider without_client({.profile = {}, .env = view_of(vars)});
        CHECK(is(co_await without_client.load(), credentials_errc::invalid_configuration));
    });
    REQUIRE(sts.request_count() == 1);
    auto fields = form_fields(sts.requests()[0].body);
    CHECK(fields["RoleArn"] == "arn:aws:iam::1:role/pod");
    CHECK(fields["RoleSessionName"] == "from-profile");
    CHECK(fields["WebIdentityToken"] == web_token);
}

// ---- container ---------------------------------------------------------------------------------

TEST_CASE("container: URL from RELATIVE_URI or an allowed FULL_URI") {
    auto url = [](env_map vars) {
        return container_credentials_provider::resolve_url(fixed_environment(std::move(vars)));
    };
    CHECK(url({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc"}}).value() ==
          "http://169.254.170.2/v2/credentials/abc");
    CHECK(url({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/x"},
               {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/"}})
              .value() == "http://169.254.170.2/v2/x");
    CHECK(url({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials"}}).value() ==
          "http://169.254.170.23/v1/credentials");
    CHECK(url({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://[fd00:ec2::23]/v1/credentials"}}).is_ok());
    CHECK(url({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "https://creds.example.com/x"}}).is_ok());
    auto refused = url({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://creds.example.com/x"}});
    REQUIRE(refused.is_error());
    CHECK(refused.get_error().code == make_error_code(credentials_errc::invalid_configuration));
    CHECK(refused.get_error().what().find("creds.example.com") != std::string::npos);
    CHECK(url({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "ftp://127.0.0.1/x"}}).is_error());
    CHECK(url({}).get_error().code == make_error_code(credentials_errc::not_configured));
}

TEST_CASE("container: credentials from FULL_URI with the Authorization token from the variable or the file") {
    http_server endpoint([&](const http_exchange& ex) {
        if (ex.header("authorization") == std::nullopt)
            return http_reply::json(401, "{\"code\":\"NoAuth\",\"message\":\"missing\"}");
        return http_reply::json(200, json_credentials("ASIACONTAINER", "2026-11-22T10:00:00Z"));
    });
    temp_dir dir;
    env_map vars{{"AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.url() + "/v1/credentials"},
                 {"AWS_CONTAINER_AUTHORIZATION_TOKEN", std::string(auth_token) + "-env"}};
    with_client([&](io_loop&, http::client& client) -> task<void> {
        container_credentials_provider provider(client, view_of(vars));
        auto got = co_await provider.load();
        REQUIRE(got.is_ok());
        CHECK(got.value().access_key_id == "ASIACONTAINER");
        CHECK(got.value().secret_access_key == secret_key);
        CHECK(got.value().session_token == session_token);
        CHECK(got.value().expiration == utc(2026, 11, 22, 10, 0, 0));

        // The file wins over the variable, and is read again at each load (EKS rotates it).
        vars["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = dir.write("token", std::string(auth_token) + "-file1\n");
        CHECK((co_await provider.load()).is_ok());
        dir.write("token", std::string(auth_token) + "-file2");
        CHECK((co_await provider.load()).is_ok());

        vars.erase("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
        vars.erase("AWS_CONTAINER_AUTHORIZATION_TOKEN");
        auto refused = co_await provider.load();
        REQUIRE(refused.is_error());
        CHECK(is(refused, credentials_errc::provider_failed));
        CHECK(refused.get_error().what().find("HTTP 401 NoAuth: missing") != std::string::npos);

        vars["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "bad\r\nX-Injected: 1";
        CHECK(is(co_await provider.load(), credentials_errc::invalid_configuration));
    });
    const auto requests = endpoint.requests();
    REQUIRE(requests.size() == 4);
    CHECK(requests[0].method == "GET");
    CHECK(requests[0].target == "/v1/credentials");
    CHECK(requests[0].header("authorization") == std::string(auth_token) + "-env");
    CHECK(requests[1].header("authorization") == std::string(auth_token) + "-file1");
    CHECK(requests[2].header("authorization") == std::string(auth_token) + "-file2");
    CHECK_FALSE(requests[3].header("authorization"));
}

TEST_CASE("container: failures name the status, never the token the server echoed") {
    http_server endpoint([&](const http_exchange&) {
        return http_reply::json(403, "{\"code\":\"AccessDenied\",\"message\":\"token " + std::string(auth_token) +
                                         " refused\"}");
    });
    env_map vars{{"AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.url() + "/creds"},
                 {"AWS_CONTAINER_AUTHORIZATION_TOKEN", std::string(auth_token)}};
    with_client([&](io_loop&, http::client& client) -> task<void> {
        container_credentials_provider provider(client, view_of(vars));
        auto got = co_await provider.load();
        REQUIRE(got.is_error());
        CHECK(got.get_error().what().find("HTTP 403 AccessDenied") != std::string::npos);
        CHECK_FALSE(leaks(got.get_error().what()));
    });
}

// ---- IMDS ----------------------------------------------------------------------------------------

namespace {

// An IMDSv2 fixture: a token from PUT, then the role name and the role's credentials with the token.
struct imds_fixture {
    std::mutex mutex;
    int tokens_issued = 0;
    bool reject_first_token = false; // answer 401 to the first GET, as for an expired token
    bool role_attached = true;
    std::string code = "Success";
    http_server server{[this](const http_exchange& ex) { return handle(ex); }};

    // The handler runs on the server's threads: the test changes the fixture through these.
    template <class F>
    void configure(F change) {
        std::lock_guard lock(mutex);
        change();
    }
    int tokens() {
        std::lock_guard lock(mutex);
        return tokens_issued;
    }

    http_reply handle(const http_exchange& ex) {
        std::lock_guard lock(mutex);
        if (ex.method == "PUT" && ex.target == "/latest/api/token") {
            if (!ex.header("x-aws-ec2-metadata-token-ttl-seconds")) return http_reply::text(400, "");
            ++tokens_issued;
            return http_reply::text(200, "imds-token-" + std::to_string(tokens_issued));
        }
        const auto token = ex.header("x-aws-ec2-metadata-token");
        if (!token || token->rfind("imds-token-", 0) != 0) return http_reply::text(401, "");
        if (reject_first_token && *token == "imds-token-1") return http_reply::text(401, "");
        if (ex.method != "GET") return http_reply::text(405, "");
        if (ex.target == "/latest/meta-data/iam/security-credentials/")
            return role_attached ? http_reply::text(200, "my-role") : http_reply::text(404, "");
        if (ex.target == "/latest/meta-data/iam/security-credentials/my-role") {
            if (code != "Success") return http_reply::json(200, "{\"Code\":\"" + code + "\",\"Message\":\"no\"}");
            return http_reply::json(200, json_credentials("ASIAIMDS", "2026-11-22T10:00:00Z"));
        }
        return http_reply::text(404, "");
    }
};

} // namespace

TEST_CASE("IMDS: token PUT first, then role and credentials with the token header; the token is reused") {
    imds_fixture imds;
    env_map vars{{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.server.url() + "/"}};
    with_client([&](io_loop&, http::client& client) -> task<void> {
        imds_credentials_provider provider(client, {.profile = {}, .env = view_of(vars)});
        auto got = co_await provider.load();
        REQUIRE(got.is_ok());
        CHECK(got.value().access_key_id == "ASIAIMDS");
        CHECK(got.value().secret_access_key == secret_key);
        CHECK(got.value().session_token == session_token);
        CHECK(got.value().expiration == utc(2026, 11, 22, 10, 0, 0));
        CHECK((co_await provider.load()).is_ok());
    });
    const auto requests = imds.server.requests();
    REQUIRE(requests.size() == 5);
    CHECK(requests[0].method == "PUT");
    CHECK(requests[0].target == "/latest/api/token");
    CHECK(requests[0].header("x-aws-ec2-metadata-token-ttl-seconds") == "21600");
    CHECK(requests[1].method == "GET");
    CHECK(requests[1].target == "/latest/meta-data/iam/security-credentials/");
    CHECK(requests[1].header("x-aws-ec2-metadata-token") == "imds-token-1");
    CHECK(requests[2].target == "/latest/meta-data/iam/security-credentials/my-role");
    CHECK(requests[2].header("x-aws-ec2-metadata-token") == "imds-token-1");
    // The second load reuses the session token: no second PUT.
    CHECK(requests[3].method == "GET");
    CHECK(requests[4].header("x-aws-ec2-metadata-token") == "imds-token-1");
    CHECK(imds.tokens() == 1);
}

TEST_CASE("IMDS: a rejected token is fetched again once; no role and failure codes are reported") {
    imds_fixture imds;
    imds.configure([&] { imds.reject_first_token = true; });
    env_map vars{{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.server.url()}};
    with_client([&](io_loop&, http::client& client) -> task<void> {
        imds_credentials_provider provider(client, {.profile = {}, .env = view_of(vars)});
        CHECK((co_await provider.load()).is_ok());
        CHECK(imds.tokens() == 2);

        imds.configure([&] { imds.role_attached = false; });
        CHECK(is(co_await provider.load(), credentials_errc::not_configured));
        imds.configure([&] {
            imds.role_attached = true;
            imds.code = "AssumeRoleUnauthorizedAccess";
        });
        auto failed_code = co_await provider.load();
        CHECK(is(failed_code, credentials_errc::provider_failed));
        CHECK(failed_code.get_error().what().find("AssumeRoleUnauthorizedAccess") != std::string::npos);
    });
}

TEST_CASE("IMDS: AWS_EC2_METADATA_DISABLED skips it; an unreachable service is 'not configured'") {
    imds_fixture imds;
    env_map vars{{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.server.url()}, {"AWS_EC2_METADATA_DISABLED", "TRUE"}};
    with_client([&](io_loop&, http::client& client) -> task<void> {
        imds_credentials_provider provider(client, {.profile = {}, .env = view_of(vars)});
        auto disabled = co_await provider.load();
        CHECK(is(disabled, credentials_errc::not_configured));
        CHECK(disabled.get_error().what().find("AWS_EC2_METADATA_DISABLED") != std::string::npos);

        vars.erase("AWS_EC2_METADATA_DISABLED");
        vars["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:" + std::to_string(unused_port());
        const auto start = std::chrono::steady_clock::now();
        auto unreachable = co_await provider.load();
        CHECK(is(unreachable, credentials_errc::not_configured));
        CHECK(std::chrono::steady_clock::now() - start < 3s);
    });
    CHECK(imds.server.request_count() == 0);
}

TEST_CASE("IMDS: each request times out after AWS_METADATA_SERVICE_TIMEOUT") {
    http_server hung([](const http_exchange&) {
        http_reply r;
        r.action = http_reply::fault::hang;
        return r;
    });
    env_map vars{{"AWS_EC2_METADATA_SERVICE_ENDPOINT", hung.url()}, {"AWS_METADATA_SERVICE_TIMEOUT", "1"}};
    with_client([&](io_loop&, http::client& client) -> task<void> {
        imds_credentials_provider provider(client, {.profile = {}, .env = view_of(vars)});
        const auto start = std::chrono::steady_clock::now();
        auto got = co_await provider.load();
        const auto took = std::chrono::steady_clock::now() - start;
        CHECK(got.is_error());
        CHECK(took >= 900ms);
        CHECK(took < 3s);
    });
    hung.stop();
    CHECK(hung.request_count() == 1);
}

// ---- chain -------------------------------------------------------------------------------------

TEST_CASE("chain: environment before profile before web identity before container before IMDS") {
    imds_fixture imds;
    http_server container([](const http_exchange&) {
        return http_reply::json(200, json_credentials("ASIACONTAINER", "2026-11-22T10:00:00Z"));
    });
    http_server sts([](const http_exchange&) {
        http_reply r;
        r.body = sts_success("ASIASTS", "2026-11-22T10:00:00Z");
        return r;
    });
    temp_dir dir;
    dir.write(".aws/credentials", "[default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s\n");
    env_map vars{{"HOME", dir.str()},
                 {"AWS_REGION", "us-east-1"},
                 {"AWS_ACCESS_KEY_ID", "AKIDENV"},
                 {"AWS_SECRET_ACCESS_KEY", "s"},
                 {"AWS_ENDPOINT_URL_STS", sts.url()},
                 {"AWS_WEB_IDENTITY_TOKEN_FILE", dir.write("token", web_token)},
                 {"AWS_ROLE_ARN", "arn:aws:iam::1:role/r"},
                 {"AWS_CONTAINER_CREDENTIALS_FULL_URI", container.url() + "/creds"},
                 {"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.server.url()}};

    with_client([&](io_loop&, http::client& client) -> task<void> {
        auto chain = default_credentials_chain(
            client, {.explicit_credentials = {}, .config = {.profile = {}, .env = view_of(vars)}});
        auto next = [&]() -> task<std::string> {
            auto got = co_await chain->load();
            if (got.is_error()) FAIL(got.get_error().what());
            co_return got.value().access_key_id;
        };
        CHECK(co_await next() == "AKIDENV");
        CHECK(chain->last_provider() == "environment");
        vars.erase("AWS_ACCESS_KEY_ID");
        CHECK(co_await next() == "AKIDPROFILE");
        CHECK(chain->last_provider() == "profile");
        vars["HOME"] = dir.str() + "/elsewhere";
        CHECK(co_await next() == "ASIASTS");
        CHECK(chain->last_provider() == "web identity");
        vars.erase("AWS_WEB_IDENTITY_TOKEN_FILE");
        vars.erase("AWS_ROLE_ARN");
        CHECK(co_await next() == "ASIACONTAINER");
        CHECK(chain->last_provider() == "container");
        vars.erase("AWS_CONTAINER_CREDENTIALS_FULL_URI");
        CHECK(co_await next() == "ASIAIMDS");
        CHECK(chain->last_provider() == "imds");

        // Explicit credentials come first of all.
        auto explicit_chain = default_credentials_chain(
            client, {.explicit_credentials = make_credentials("AKIDEXPLICIT", std::nullopt),
                     .config = {.profile = {}, .env = view_of(vars)}});
        CHECK((co_await explicit_chain->load()).value().access_key_id == "AKIDEXPLICIT");
    });
}

TEST_CASE("chain: the provider that worked is asked first next time") {
    auto first = std::make_shared<scripted_provider>();
    auto second = std::make_shared<scripted_provider>();
    const auto not_here = creds::fail("scripted", credentials_errc::not_configured, "not here");
    first->answers = {not_here, not_here};
    second->answers = {result<aws_credentials>::ok(make_credentials("AKIDSECOND", std::nullopt)),
                       result<aws_credentials>::ok(make_credentials("AKIDSECOND2", std::nullopt))};
    credentials_provider_chain chain({first, second});
    on_loop([&](io_loop&) -> task<void> {
        CHECK((co_await chain.load()).value().access_key_id == "AKIDSECOND");
        CHECK((co_await chain.load()).value().access_key_id == "AKIDSECOND2");
    });
    CHECK(first->calls == 1);
    CHECK(second->calls == 2);
}

TEST_CASE("chain: nothing configured lists every source tried; a misconfigured one stops the search") {
    imds_fixture imds;
    temp_dir dir;
    env_map vars{{"HOME", dir.str()},
                 {"AWS_SECRET_ACCESS_KEY", std::string(secret_key)},
                 {"AWS_SESSION_TOKEN", std::string(session_token)},
                 {"AWS_EC2_METADATA_DISABLED", "true"},
                 {"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.server.url()}};
    with_client([&](io_loop&, http::client& client) -> task<void> {
        auto chain = default_credentials_chain(
            client, {.explicit_credentials = {}, .config = {.profile = {}, .env = view_of(vars)}});
        auto none = co_await chain->load();
        REQUIRE(none.is_error());
        const std::string what = none.get_error().what();
        CHECK(is(none, credentials_errc::not_configured));
        CHECK(mentions_every_source(what));
        CHECK(what.find("AWS_ACCESS_KEY_ID is not") != std::string::npos);
        CHECK_FALSE(leaks(what));
        CHECK(chain->last_provider().empty());

        vars["AWS_PROFILE"] = "typo";
        vars.erase("AWS_EC2_METADATA_DISABLED");
        auto stopped = co_await chain->load();
        REQUIRE(stopped.is_error());
        CHECK(is(stopped, credentials_errc::invalid_configuration));
        CHECK(stopped.get_error().what().find("'typo'") != std::string::npos);
        CHECK(stopped.get_error().what().find("environment") != std::string::npos);
        CHECK_FALSE(leaks(stopped.get_error().what()));
    });
    CHECK(imds.server.request_count() == 0); // the search stopped before IMDS
}

// ---- caching -----------------------------------------------------------------------------------

TEST_CASE("caching: loads once, then serves the cache; credentials without expiry are never refreshed") {
    auto provider = std::make_shared<scripted_provider>();
    provider->answers = {result<aws_credentials>::ok(make_credentials("AKIDSTATIC", std::nullopt))};
    auto now = utc(2026, 11, 22, 9, 0, 0);
    on_loop([&](io_loop& loop) -> task<void> {
        caching_credentials_provider cached(loop, provider, {.clock = [&] { return now; }});
        CHECK_FALSE(cached.cached());
        for (int i = 0; i < 3; ++i) CHECK((co_await cached.get()).value().access_key_id == "AKIDSTATIC");
        now += std::chrono::hours(24 * 365);
        CHECK((co_await cached.get()).value().access_key_id == "AKIDSTATIC");
        CHECK(cached.refresh_count() == 1);
        CHECK(cached.cached()->access_key_id == "AKIDSTATIC");
    });
    CHECK(provider->calls == 1);
}

TEST_CASE("caching: expired credentials are refreshed before they are handed out") {
    auto provider = std::make_shared<scripted_provider>();
    const auto t0 = utc(2026, 11, 22, 9, 0, 0);
    provider->answers = {result<aws_credentials>::ok(make_credentials("ASIAFIRST", t0 + 1h)),
                         result<aws_credentials>::ok(make_credentials("ASIASECOND", t0 + 2h))};
    auto now = t0;
    on_loop([&](io_loop& loop) -> task<void> {
        caching_credentials_provider cached(loop, provider, {.clock = [&] { return now; }});
        CHECK((co_await cached.get()).value().access_key_id == "ASIAFIRST");
        now = t0 + 1h + 1s;
        CHECK((co_await cached.get()).value().access_key_id == "ASIASECOND");
        // Inside the expiry margin counts as expired too.
        CHECK(cached.refresh_count() == 2);
    });
    CHECK(provider->calls == 2);
}

TEST_CASE("caching: a refresh ahead of expiry runs in the background while callers get the current "
          "credentials") {
    auto provider = std::make_shared<scripted_provider>();
    const auto t0 = utc(2026, 11, 22, 9, 0, 0);
    provider->answers = {result<aws_credentials>::ok(make_credentials("ASIAFIRST", t0 + 1h)),
                         result<aws_credentials>::ok(make_credentials("ASIASECOND", t0 + 2h))};
    async_event gate;
    auto now = t0;
    on_loop([&](io_loop& loop) -> task<void> {
        caching_credentials_provider cached(loop, provider, {.clock = [&] { return now; }});
        CHECK((co_await cached.get()).value().access_key_id == "ASIAFIRST");

        provider->gate = &gate; // the refresh will hang until the gate opens
        now = t0 + 1h - 4min;   // inside refresh_ahead (5 min), well outside the expiry margin
        int returned = 0;
        auto caller = [&]() -> task<void> {
            auto got = co_await cached.get();
            CHECK(got.value().access_key_id == "ASIAFIRST");
            ++returned;
        };
        for (int i = 0; i < 3; ++i) loop.spawn(caller());
        co_await loop.sleep_for(20ms);
        CHECK(returned == 3);          // nobody waited for the refresh
        CHECK(provider->waiting == 1); // exactly one refresh is under way
        CHECK(cached.refresh_count() == 2);

        gate.set();
        for (int i = 0; i < 100 && cached.cached()->access_key_id != "ASIASECOND"; ++i)
            co_await loop.sleep_for(1ms);
        CHECK((co_await cached.get()).value().access_key_id == "ASIASECOND");
    });
    CHECK(provider->calls == 2);
}

TEST_CASE("caching: concurrent callers with nothing cached share one load") {
    auto provider = std::make_shared<scripted_provider>();
    const auto t0 = utc(2026, 11, 22, 9, 0, 0);
    provider->answers = {result<aws_credentials>::ok(make_credentials("ASIASHARED", t0 + 1h))};
    async_event gate;
    provider->gate = &gate;
    on_loop([&](io_loop& loop) -> task<void> {
        caching_credentials_provider cached(loop, provider, {.clock = [&] { return t0; }});
        std::vector<std::string> got;
        auto caller = [&]() -> task<void> {
            auto r = co_await cached.get();
            got.push_back(r.value().access_key_id);
        };
        for (int i = 0; i < 5; ++i) loop.spawn(caller());
        co_await loop.sleep_for(20ms);
        CHECK(got.empty()); // nothing to hand out yet: they all wait
        CHECK(provider->calls == 1);
        gate.set();
        for (int i = 0; i < 100 && got.size() < 5; ++i) co_await loop.sleep_for(1ms);
        CHECK(got == std::vector<std::string>(5, "ASIASHARED"));
    });
    CHECK(provider->calls == 1);
}

TEST_CASE("caching: a failed background refresh keeps the old credentials, logs without secrets, retries "
          "later") {
    auto provider = std::make_shared<scripted_provider>();
    const auto t0 = utc(2026, 11, 22, 9, 0, 0);
    provider->answers = {result<aws_credentials>::ok(make_credentials("ASIAFIRST", t0 + 1h)),
                         failed("STS unreachable"),
                         result<aws_credentials>::ok(make_credentials("ASIASECOND", t0 + 2h))};
    log_capture capture;
    const logger log = capture.make();
    auto now = t0;
    on_loop([&](io_loop& loop) -> task<void> {
        caching_credentials_provider cached(loop, provider,
                                            {.retry_interval = 15s, .clock = [&] { return now; }, .log = &log});
        CHECK((co_await cached.get()).value().access_key_id == "ASIAFIRST");

        now = t0 + 1h - 4min;
        CHECK((co_await cached.get()).value().access_key_id == "ASIAFIRST"); // starts the refresh, which fails
        co_await loop.sleep_for(5ms);
        CHECK(provider->calls == 2);
        CHECK((co_await cached.get()).value().access_key_id == "ASIAFIRST"); // kept, and no retry yet
        CHECK(provider->calls == 2);

        now += 16s;                                                          // past retry_interval
        CHECK((co_await cached.get()).value().access_key_id == "ASIAFIRST"); // starts the retry
        for (int i = 0; i < 100 && cached.cached()->access_key_id != "ASIASECOND"; ++i)
            co_await loop.sleep_for(1ms);
        CHECK((co_await cached.get()).value().access_key_id == "ASIASECOND");
    });
    CHECK(provider->calls == 3);
    std::lock_guard lock(capture.mutex);
    REQUIRE(capture.lines.size() == 1);
    CHECK(capture.lines[0].find("warn") != std::string::npos);
    CHECK(capture.lines[0].find("keeping the current credentials") != std::string::npos);
    CHECK(capture.lines[0].find("STS unreachable") != std::string::npos);
    CHECK_FALSE(leaks(capture.lines[0]));
}

TEST_CASE("caching: a failed load with nothing valid cached is an error, and the next get tries again") {
    auto provider = std::make_shared<scripted_provider>();
    const auto t0 = utc(2026, 11, 22, 9, 0, 0);
    provider->answers = {failed("down"), result<aws_credentials>::ok(make_credentials("ASIALATER", t0 + 1h)),
                         result<aws_credentials>::ok(make_credentials("ASIAAFTERINVALIDATE", t0 + 1h)),
                         result<aws_credentials>::ok(aws_credentials{})};
    on_loop([&](io_loop& loop) -> task<void> {
        caching_credentials_provider cached(loop, provider, {.clock = [&] { return t0; }});
        auto first = co_await cached.get();
        REQUIRE(first.is_error());
        CHECK(first.get_error().what().find("down") != std::string::npos);
        CHECK((co_await cached.get()).value().access_key_id == "ASIALATER");
        cached.invalidate();
        CHECK((co_await cached.get()).value().access_key_id == "ASIAAFTERINVALIDATE");
        cached.invalidate();
        auto empty = co_await cached.get(); // a provider handing back nothing is a failure
        CHECK(is(empty, credentials_errc::provider_failed));
    });
    CHECK(provider->calls == 4);
}

TEST_CASE("caching over the real chain: IMDS credentials cached until they are due") {
    imds_fixture imds;
    env_map vars{{"HOME", "/nonexistent"}, {"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.server.url()}};
    auto now = utc(2026, 11, 22, 9, 0, 0);
    with_client([&](io_loop& loop, http::client& client) -> task<void> {
        auto chain = default_credentials_chain(
            client, {.explicit_credentials = {}, .config = {.profile = {}, .env = view_of(vars)}});
        caching_credentials_provider cached(loop, chain, {.clock = [&] { return now; }});
        for (int i = 0; i < 5; ++i) CHECK((co_await cached.get()).value().access_key_id == "ASIAIMDS");
        CHECK(cached.refresh_count() == 1);
        CHECK(cached.name() == "chain");
    });
    CHECK(imds.server.request_count() == 3); // PUT, role, credentials: once
}

} // TEST_SUITE

} // namespace test_aws_credentials

#endif
