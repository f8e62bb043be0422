#pragma once

// AWS error responses: headers and body (JSON, query/XML or anything) into service_error, both header
// forms, and HTTP dates. What must hold: the code, query code, request id and message hold no control
// character (describe() is safe to log), stay within their limits, and the two header forms agree.
//
// Input (fields separated by 0x1E): status digits, then header lines "name: value" separated by '\n',
// then the body.

#include "../fuzz.hpp"

#include <sluice/aws/error.hpp>

#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice_fuzz {

SLUICE_FUZZ_TARGET(aws_error) {
    const auto f = fields(data, 3);
    int status = 0;
    std::from_chars(f[0].data(), f[0].data() + f[0].size(), status);
    std::vector<std::pair<std::string, std::string>> headers;
    for (std::string_view lines = f[1]; !lines.empty();) {
        const std::size_t nl = lines.find('\n');
        const std::string_view line = lines.substr(0, nl);
        lines = nl == std::string_view::npos ? std::string_view{} : lines.substr(nl + 1);
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view value = line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    const std::string_view body = f[2];
    const sluice::aws::service_error e = sluice::aws::parse_service_error(status, headers, body);
    auto lookup = [&](std::string_view lower_name) -> std::optional<std::string_view> {
        for (const auto& [n, v] : headers)
            if (sluice::text::iequals(n, lower_name)) return std::string_view(v);
        return std::nullopt;
    };
    const sluice::aws::service_error e2 = sluice::aws::parse_service_error(status, lookup, body);
    SLUICE_FUZZ_CHECK(e.code == e2.code && e.message == e2.message && e.request_id == e2.request_id &&
                          e.query_code == e2.query_code && e.sender_fault == e2.sender_fault &&
                          e.server_time == e2.server_time,
                      "the two header forms disagree");
    for (std::string_view s : {std::string_view(e.code), std::string_view(e.query_code),
                               std::string_view(e.request_id), std::string_view(e.message)})
        SLUICE_FUZZ_CHECK(!has_control(s), show(s));
    const std::string described = e.describe();
    SLUICE_FUZZ_CHECK(!has_control(described), show(described));
    SLUICE_FUZZ_CHECK(!e.code.empty() && e.code.size() <= 128, show(e.code));
    SLUICE_FUZZ_CHECK(e.query_code.size() <= 128 && e.request_id.size() <= 128, "an id is too long");
    SLUICE_FUZZ_CHECK(e.message.size() <= sluice::aws::error_parse_options{}.max_message_bytes + 3, "message too long");
    const sluice::entry_result r = sluice::aws::to_entry_result(e);
    SLUICE_FUZZ_CHECK(!has_control(r.message), show(r.message));
    for (const auto& [name, value] : headers) {
        const auto t = sluice::aws::parse_http_date(value);
        (void)t; // under UBSan: no overflow whatever the date
    }
}

} // namespace sluice_fuzz
