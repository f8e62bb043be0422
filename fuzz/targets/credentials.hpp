#pragma once

// Credential responses: the JSON of IMDS and container endpoints, the XML of STS
// AssumeRoleWithWebIdentity, their error descriptions, and the container endpoint URL from the
// environment. What must hold: parsed credentials have an access key id and a secret, an expiration
// that is a time (saturated, never wrapped), and to_string() never shows the secret or the token;
// error descriptions hold no control character and never the secret they were told to cut out; a
// container URL over plain http only goes to the hosts the SDKs allow.
//
// Input (fields separated by 0x1E): JSON body, STS body, status digits, a secret to cut out,
// AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI.

#include "../fuzz.hpp"

#include <sluice/aws/credentials.hpp>
#include <sluice/aws/credentials_provider.hpp>
#include <sluice/text/url.hpp>

#include <charconv>
#include <map>
#include <string>
#include <string_view>

namespace sluice_fuzz {

namespace credentials_detail {

inline void check_credentials(const sluice::result<sluice::aws::aws_credentials>& r) {
    if (!r) {
        SLUICE_FUZZ_CHECK(!has_control(r.get_error().message), show(r.get_error().message));
        return;
    }
    const auto& c = r.value();
    SLUICE_FUZZ_CHECK(!c.access_key_id.empty() && !c.secret_access_key.empty(), "credentials without key or secret");
    // What to_string shows must not depend on the secret or the token at all (a secret may well be a
    // substring of to_string's own labels, so looking for it in the text proves nothing).
    const std::string shown = sluice::aws::to_string(c);
    sluice::aws::aws_credentials other = c;
    for (char& ch : other.secret_access_key) ch = ch == 'q' ? 'z' : 'q';
    for (char& ch : other.session_token) ch = ch == 'q' ? 'z' : 'q';
    SLUICE_FUZZ_CHECK(sluice::aws::to_string(other) == shown, "to_string shows the secret or the token");
}

} // namespace credentials_detail

SLUICE_FUZZ_TARGET(credentials) {
    namespace creds = sluice::detail::aws_creds;
    const auto f = fields(data, 6);
    credentials_detail::check_credentials(creds::parse_json_credentials("container", std::string(f[0])));
    credentials_detail::check_credentials(creds::parse_sts_credentials("web identity", f[1]));

    sluice::http::response response;
    std::from_chars(f[2].data(), f[2].data() + f[2].size(), response.status);
    const std::string secret(f[3]);
    for (const std::string_view body : {f[0], f[1]}) {
        response.body = std::string(body);
        const std::string json = creds::describe_json_failure(response, secret);
        const std::string code = creds::xml_unescape(creds::xml_path(body, "Error", "Code").value_or(""));
        const std::string sts = creds::describe_sts_failure(response, code, secret);
        for (const std::string& d : {json, sts}) SLUICE_FUZZ_CHECK(!has_control(d), show(d));
        // What the descriptions do to a server's message: the secret cut out, then the text made safe.
        const std::string quoted = creds::quote_server_text(body, 200, {secret});
        if (secret.size() >= 4)
            SLUICE_FUZZ_CHECK(quoted.find(secret) == std::string::npos, "the secret survived: " + show(quoted));
    }

    std::map<std::string, std::string, std::less<>> env;
    if (!f[4].empty()) env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = std::string(f[4]);
    if (!f[5].empty()) env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = std::string(f[5]);
    const auto url = sluice::aws::container_credentials_provider::resolve_url(sluice::aws::fixed_environment(env));
    if (!url) {
        SLUICE_FUZZ_CHECK(!has_control(url.get_error().message), show(url.get_error().message));
        return;
    }
    if (sluice::text::trim(f[5]).empty()) { // the full URI was used
        const auto u = sluice::text::parse_url(url.value());
        SLUICE_FUZZ_CHECK(u && u->host_is_valid(), show(url.value()));
        if (sluice::text::iequals(u->scheme, "http"))
            SLUICE_FUZZ_CHECK(creds::container_host_allowed(sluice::text::to_lower(u->host)), show(url.value()));
    }
}

} // namespace sluice_fuzz
