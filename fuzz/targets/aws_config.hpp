#pragma once

// The shared config and credentials files (INI) and what resolves from them: profiles, region and the
// endpoint (environment, [services] sections, endpoint_url), parsed into an endpoint_url. What must
// hold: a parse error names the file and line and never quotes the line; a resolved region is a valid
// region name; a resolved endpoint either is refused with std::invalid_argument or parses into an
// http(s) URL with a valid host and no user info, and its error messages hold no control character.
//
// Input (fields separated by 0x1E): config text, credentials text, profile, AWS_REGION,
// AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, AWS_PROFILE.

#include "../fuzz.hpp"

#include <sluice/aws/config.hpp>
#include <sluice/aws/service_client.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice_fuzz {

namespace config_detail {

/// "config line 3: <one of the parser's fixed reasons>".
inline bool is_parse_error(const std::string& message) {
    static constexpr std::string_view reasons[] = {
        "a section line must end with ']'",  "a property outside any [section]", "an indented line that continues no property",
        "a sub-property without '='",        "expected 'name = value'",          "a property without a name"};
    std::string_view m = message;
    if (m.starts_with("config line ")) m.remove_prefix(12);
    else if (m.starts_with("credentials line ")) m.remove_prefix(17);
    else return false;
    std::size_t digits = 0;
    while (digits < m.size() && m[digits] >= '0' && m[digits] <= '9') ++digits;
    if (digits == 0 || m.substr(digits, 2) != ": ") return false;
    m.remove_prefix(digits + 2);
    for (auto r : reasons)
        if (m == r) return true;
    return false;
}

} // namespace config_detail

SLUICE_FUZZ_TARGET(aws_config) {
    const auto f = fields(data, 7);
    auto files = sluice::aws::shared_files::parse(f[0], f[1]);
    if (!files) {
        SLUICE_FUZZ_CHECK(config_detail::is_parse_error(files.get_error().message), show(files.get_error().message));
        return;
    }
    std::map<std::string, std::string, std::less<>> env;
    const char* names[] = {"AWS_REGION", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL", "AWS_PROFILE"};
    for (std::size_t i = 0; i < 4; ++i)
        if (!f[3 + i].empty()) env[names[i]] = std::string(f[3 + i]);
    for (const auto& name : files.value().profile_names()) (void)files.value().profile(name);
    const sluice::aws::aws_config config(std::move(files).value(), sluice::aws::fixed_environment(env), std::string(f[2]));
    const auto region = config.region();
    if (region) SLUICE_FUZZ_CHECK(sluice::aws::valid_region(region.value()), show(region.value()));
    const std::string region_name = region ? region.value() : std::string();
    const auto endpoint = config.endpoint("sqs", region_name);
    if (!endpoint) {
        SLUICE_FUZZ_CHECK(!has_control(endpoint.get_error().message), show(endpoint.get_error().message));
        return;
    }
    try {
        const auto e = sluice::aws::endpoint_url::parse(endpoint.value());
        SLUICE_FUZZ_CHECK(e.url.starts_with("http://") || e.url.starts_with("https://"), show(e.url));
        SLUICE_FUZZ_CHECK(e.host.find('@') == std::string::npos && !has_control(e.host), show(e.host));
        SLUICE_FUZZ_CHECK(!e.path.empty() && e.path.front() == '/' && !has_control(e.path), show(e.path));
    } catch (const std::invalid_argument& err) {
        // (That the URL shown holds no user info is the sanitizers target's business.)
        SLUICE_FUZZ_CHECK(!has_control(err.what()), show(err.what()));
    }
}

} // namespace sluice_fuzz
