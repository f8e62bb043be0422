// aws_config: the shared-file parser (the cross-SDK profile file rules), file locations, profile
// selection, region and endpoint precedence. The environment is always a fixed map: nothing here
// reads or changes the process's.

#include <doctest/doctest.h>

#include <sluice/aws/config.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <unistd.h>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_aws_config {

using namespace sluice;
using namespace sluice::aws;

namespace {

namespace fs = std::filesystem;

shared_files parse_ok(std::string_view config, std::string_view credentials = {}) {
    auto r = shared_files::parse(config, credentials);
    REQUIRE_MESSAGE(r.is_ok(), (r.is_error() ? r.get_error().what() : std::string()));
    return std::move(r).value();
}

std::string error_of(std::string_view config, std::string_view credentials = {}) {
    auto r = shared_files::parse(config, credentials, "/home/u/.aws/config", "/home/u/.aws/credentials");
    REQUIRE(r.is_error());
    return r.get_error().what();
}

aws_config make(std::string_view config_text, std::map<std::string, std::string, std::less<>> env = {},
                std::string profile = {}, std::string_view credentials_text = {}) {
    return aws_config(parse_ok(config_text, credentials_text), fixed_environment(std::move(env)), std::move(profile));
}

struct temp_dir {
    fs::path path;
    temp_dir() {
        char tmpl[] = "/tmp/sluice-awscfg-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    void write(const fs::path& relative, std::string_view text) const {
        fs::create_directories((path / relative).parent_path());
        std::ofstream(path / relative, std::ios::binary) << text;
    }
};

} // namespace

TEST_SUITE("aws config") {

TEST_CASE("profiles: [default] and [profile name] in config, [name] in credentials; the wrong forms are ignored") {
    auto files = parse_ok("[default]\nregion = eu-west-1\n"
                          "[profile dev]\nregion = us-east-2\n"
                          "[stray]\nregion = nope\n",
                          "[default]\naws_access_key_id = AKIDDEFAULT\n"
                          "[dev]\naws_access_key_id = AKIDDEV\n"
                          "[profile wrong]\naws_access_key_id = AKIDWRONG\n");
    CHECK(files.get("default", "region") == "eu-west-1");
    CHECK(files.get("dev", "region") == "us-east-2");
    CHECK(files.get("default", "aws_access_key_id") == "AKIDDEFAULT");
    CHECK(files.get("dev", "aws_access_key_id") == "AKIDDEV");
    CHECK_FALSE(files.has_profile("stray")); // config sections need the `profile` prefix
    CHECK_FALSE(files.has_profile("wrong")); // credentials sections must not have it
    CHECK_FALSE(files.has_profile("profile wrong"));
    CHECK(files.profile_names() == std::vector<std::string>{"default", "dev"});
}

TEST_CASE("comments, whitespace, CRLF, and property names matched ignoring case") {
    auto files = parse_ok("# a comment\n"
                          "; another\n"
                          "   # an indented comment\n"
                          "\n"
                          "[ profile   spaced ]   # comment after a section\n"
                          "Region=ap-south-1\r\n"
                          "output = json ; a comment after whitespace\r\n"
                          "key = value#not-a-comment\n"
                          "empty =\n"
                          "[profile x];comment right after the bracket\n"
                          "a = b\n");
    CHECK(files.get("spaced", "region") == "ap-south-1");
    CHECK(files.get("spaced", "REGION") == "ap-south-1");
    CHECK(files.get("spaced", "output") == "json");
    CHECK(files.get("spaced", "key") == "value#not-a-comment");
    CHECK(files.get("spaced", "empty") == "");
    CHECK(files.get("x", "a") == "b");
}

TEST_CASE("sub-sections and continuation lines do not disturb the properties around them") {
    auto files = parse_ok("[default]\n"
                          "region = us-west-2\n"
                          "s3 =\n"
                          "  max_concurrent_requests = 20\n"
                          "  addressing_style = path  # comment\n"
                          "\n"
                          "  signature_version = s3v4\n"
                          "output = text\n"
                          "long = first\n"
                          "   second\n");
    CHECK(files.get("default", "region") == "us-west-2");
    CHECK(files.get("default", "output") == "text");
    CHECK(files.get("default", "long") == "first\nsecond");
    const auto s3 = files.get("default", "s3");
    REQUIRE(s3);
    CHECK(s3->find("addressing_style = path") != std::string::npos);
    CHECK(s3->find("comment") == std::string::npos);
    CHECK_FALSE(files.get("default", "max_concurrent_requests"));
}

TEST_CASE("[profile default] replaces [default], in either order; same-named sections merge") {
    auto a = parse_ok("[default]\nregion = from-bare\nonly_bare = 1\n[profile default]\nregion = from-prefixed\n");
    CHECK(a.get("default", "region") == "from-prefixed");
    CHECK_FALSE(a.get("default", "only_bare"));
    auto b = parse_ok("[profile default]\nregion = from-prefixed\n[default]\nregion = from-bare\n");
    CHECK(b.get("default", "region") == "from-prefixed");
    auto c = parse_ok("[profile p]\na = 1\nb = 1\n[profile p]\nb = 2\n");
    CHECK(c.get("p", "a") == "1");
    CHECK(c.get("p", "b") == "2");
    auto d = parse_ok("[default]\n");
    CHECK(d.has_profile("default"));
}

TEST_CASE("the credentials file wins over config for the same profile") {
    auto files = parse_ok("[profile p]\naws_access_key_id = FROMCONFIG\nregion = eu-central-1\n",
                          "[p]\naws_access_key_id = FROMCREDENTIALS\n");
    CHECK(files.get("p", "aws_access_key_id") == "FROMCREDENTIALS");
    CHECK(files.get(shared_files::kind::config, "p", "aws_access_key_id") == "FROMCONFIG");
    CHECK(files.get("p", "region") == "eu-central-1");
    const auto merged = files.profile("p");
    CHECK(merged.at("aws_access_key_id") == "FROMCREDENTIALS");
    CHECK(merged.at("region") == "eu-central-1");
}

TEST_CASE("malformed files fail with the file and line, never the line's text") {
    const std::string outside = error_of("aws_secret_access_key = SECRETVALUE\n");
    CHECK(outside.find("/home/u/.aws/config line 1") != std::string::npos);
    CHECK(outside.find("SECRETVALUE") == std::string::npos);

    const std::string unclosed = error_of("[default]\nregion = x\n[profile broken\n");
    CHECK(unclosed.find("line 3") != std::string::npos);

    const std::string no_equals = error_of({}, "[default]\naws_secret_access_key SECRETVALUE\n");
    CHECK(no_equals.find("/home/u/.aws/credentials line 2") != std::string::npos);
    CHECK(no_equals.find("SECRETVALUE") == std::string::npos);

    const std::string no_name = error_of("[default]\n = value\n");
    CHECK(no_name.find("line 2") != std::string::npos);

    const std::string dangling = error_of("[default]\n  indented = before any property\n");
    CHECK(dangling.find("line 2") != std::string::npos);
}

TEST_CASE("file locations: AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE, else ~/.aws under $HOME") {
    auto defaults = shared_file_paths::from(fixed_environment({{"HOME", "/home/u"}}));
    CHECK(defaults.config == "/home/u/.aws/config");
    CHECK(defaults.credentials == "/home/u/.aws/credentials");
    auto overridden = shared_file_paths::from(fixed_environment({{"HOME", "/home/u"},
                                                                 {"AWS_CONFIG_FILE", "~/elsewhere/cfg"},
                                                                 {"AWS_SHARED_CREDENTIALS_FILE", "/etc/creds"}}));
    CHECK(overridden.config == "/home/u/elsewhere/cfg");
    CHECK(overridden.credentials == "/etc/creds");
    auto nohome = shared_file_paths::from(fixed_environment({}));
    CHECK(nohome.config.empty());
    CHECK(nohome.credentials.empty());
}

TEST_CASE("load reads the files the environment names; missing files are empty") {
    temp_dir dir;
    dir.write("home/.aws/config", "[profile work]\nregion = eu-north-1\n");
    dir.write("home/.aws/credentials", "[work]\naws_access_key_id = AKIDWORK\n");
    dir.write("custom/creds", "[work]\naws_access_key_id = AKIDCUSTOM\n");

    auto home =
        aws_config::load({.profile = "work", .env = fixed_environment({{"HOME", (dir.path / "home").string()}})});
    REQUIRE(home.is_ok());
    CHECK(home.value().profile_name() == "work");
    CHECK(home.value().region().value() == "eu-north-1");
    CHECK(home.value().files().get("work", "aws_access_key_id") == "AKIDWORK");
    CHECK(home.value().paths().config == (dir.path / "home/.aws/config").string());

    auto custom = aws_config::load(
        {.profile = {},
         .env = fixed_environment({{"HOME", (dir.path / "home").string()},
                                   {"AWS_PROFILE", "work"},
                                   {"AWS_SHARED_CREDENTIALS_FILE", (dir.path / "custom/creds").string()}})});
    REQUIRE(custom.is_ok());
    CHECK(custom.value().profile_name() == "work");
    CHECK(custom.value().profile_named());
    CHECK(custom.value().files().get("work", "aws_access_key_id") == "AKIDCUSTOM");

    auto nothing =
        aws_config::load({.profile = {}, .env = fixed_environment({{"HOME", (dir.path / "nowhere").string()}})});
    REQUIRE(nothing.is_ok());
    CHECK_FALSE(nothing.value().has_profile());
    CHECK(nothing.value().profile_name() == "default");
    CHECK_FALSE(nothing.value().profile_named());

    dir.write("bad/config", "[default\n");
    auto bad = aws_config::load(
        {.profile = {}, .env = fixed_environment({{"AWS_CONFIG_FILE", (dir.path / "bad/config").string()}})});
    REQUIRE(bad.is_error());
    CHECK(bad.get_error().what().find("line 1") != std::string::npos);
}

TEST_CASE("profile selection: explicit > AWS_PROFILE > default") {
    const std::string text =
        "[default]\nregion = r-default\n[profile a]\nregion = r-a\n[profile b]\nregion = r-b\n";
    CHECK(make(text, {{"AWS_PROFILE", "a"}}, "b").profile_name() == "b");
    CHECK(make(text, {{"AWS_PROFILE", "a"}}).profile_name() == "a");
    CHECK(make(text, {{"AWS_PROFILE", "  "}}).profile_name() == "default");
    CHECK(make(text).profile_name() == "default");
}

TEST_CASE("region: explicit > AWS_REGION > AWS_DEFAULT_REGION > profile, and a clear error without one") {
    const std::string text = "[default]\nregion = eu-west-3\n[profile none]\noutput = json\n";
    CHECK(make(text, {{"AWS_REGION", "us-east-1"}, {"AWS_DEFAULT_REGION", "us-east-2"}})
              .region("ap-northeast-1")
              .value() == "ap-northeast-1");
    CHECK(make(text, {{"AWS_REGION", "us-east-1"}, {"AWS_DEFAULT_REGION", "us-east-2"}}).region().value() ==
          "us-east-1");
    CHECK(make(text, {{"AWS_REGION", ""}, {"AWS_DEFAULT_REGION", "us-east-2"}}).region().value() == "us-east-2");
    CHECK(make(text).region().value() == "eu-west-3");

    auto missing = make(text, {}, "none").region();
    REQUIRE(missing.is_error());
    CHECK(missing.get_error().what().find("AWS_REGION") != std::string::npos);
    CHECK(missing.get_error().what().find("'none'") != std::string::npos);

    auto bad = make(text, {{"AWS_REGION", "us-east-1.evil.com/"}}).region();
    REQUIRE(bad.is_error());
    CHECK(bad.get_error().what().find("AWS_REGION") != std::string::npos);
}

TEST_CASE(
    "endpoint: override > AWS_ENDPOINT_URL_<SERVICE> > AWS_ENDPOINT_URL > [services] > endpoint_url > default") {
    const std::string text = "[default]\n"
                             "endpoint_url = http://profile-global:1\n"
                             "services = local\n"
                             "[profile plain]\n"
                             "endpoint_url = http://plain-global:1\n"
                             "[services local]\n"
                             "sqs =\n"
                             "  endpoint_url = http://services-sqs:1\n"
                             "elastic_beanstalk =\n"
                             "  endpoint_url = http://services-eb:1\n";
    const std::map<std::string, std::string, std::less<>> both = {{"AWS_ENDPOINT_URL_SQS", "http://env-sqs:1"},
                                                                  {"AWS_ENDPOINT_URL", "http://env-global:1"}};
    CHECK(make(text, both).endpoint("sqs", "us-east-1", "http://explicit:1").value() == "http://explicit:1");
    CHECK(make(text, both).endpoint("sqs", "us-east-1").value() == "http://env-sqs:1");
    CHECK(make(text, both).endpoint("sts", "us-east-1").value() == "http://env-global:1");
    CHECK(make(text).endpoint("sqs", "us-east-1").value() == "http://services-sqs:1");
    CHECK(make(text).endpoint("Elastic Beanstalk", "us-east-1").value() == "http://services-eb:1");
    CHECK(make(text).endpoint("sts", "us-east-1").value() == "http://profile-global:1");
    CHECK(make(text, {}, "plain").endpoint("sqs", "us-east-1").value() == "http://plain-global:1");
    CHECK(make("").endpoint("sqs", "eu-west-1").value() == "https://sqs.eu-west-1.amazonaws.com");
    CHECK(make("", {{"AWS_ENDPOINT_URL_ELASTIC_BEANSTALK", "http://env-eb:1"}})
              .endpoint("Elastic Beanstalk", "us-east-1")
              .value() == "http://env-eb:1");
}

TEST_CASE("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS and ignore_configured_endpoint_urls skip all but the override") {
    const std::string text =
        "[default]\nendpoint_url = http://profile:1\n"
        "[profile ignoring]\nendpoint_url = http://profile:1\nignore_configured_endpoint_urls = true\n";
    auto env_ignores =
        make(text, {{"AWS_ENDPOINT_URL_SQS", "http://env:1"}, {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE"}});
    CHECK(env_ignores.ignore_configured_endpoints());
    CHECK(env_ignores.endpoint("sqs", "us-east-1").value() == "https://sqs.us-east-1.amazonaws.com");
    CHECK(env_ignores.endpoint("sqs", "us-east-1", "http://explicit:1").value() == "http://explicit:1");

    CHECK(make(text, {}, "ignoring").endpoint("sqs", "us-west-1").value() == "https://sqs.us-west-1.amazonaws.com");
    // The variable, when set, decides over the profile setting.
    CHECK(make(text, {{"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false"}}, "ignoring")
              .endpoint("sqs", "us-west-1")
              .value() == "http://profile:1");
    CHECK(make(text).endpoint("sqs", "us-west-1").value() == "http://profile:1");
}

TEST_CASE("default endpoints follow the region's partition; no region, no default") {
    CHECK(default_endpoint("sqs", "us-east-1") == "https://sqs.us-east-1.amazonaws.com");
    CHECK(default_endpoint("sts", "cn-north-1") == "https://sts.cn-north-1.amazonaws.com.cn");
    CHECK(default_endpoint("sqs", "us-iso-east-1") == "https://sqs.us-iso-east-1.c2s.ic.gov");
    CHECK(default_endpoint("sqs", "us-isob-east-1") == "https://sqs.us-isob-east-1.sc2s.sgov.gov");
    CHECK(default_endpoint("SQS", "eu-west-1") == "https://sqs.eu-west-1.amazonaws.com");
    CHECK(endpoint_env_name("sqs") == "AWS_ENDPOINT_URL_SQS");
    CHECK(endpoint_env_name("Elastic Beanstalk") == "AWS_ENDPOINT_URL_ELASTIC_BEANSTALK");
    CHECK(endpoint_config_key("Elastic Beanstalk") == "elastic_beanstalk");

    auto none = make("").endpoint("sqs", "");
    REQUIRE(none.is_error());
    CHECK(none.get_error().what().find("no region") != std::string::npos);
    CHECK(make("").endpoint("sqs", "bad/region").is_error());
}

} // TEST_SUITE

} // namespace test_aws_config

