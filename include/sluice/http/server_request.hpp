#pragma once

// server_request: one HTTP/1.1 request as the server's handlers see it, filled by request_parser and
// the router. Owned by the connection; valid until the handler's response has been written.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/http/header.hpp>

namespace sluice::http {

/// Decodes %XX escapes (and '+' as a space when `plus_is_space`, for query strings); nullopt when an
/// escape is malformed ("%4", "%zz").
[[nodiscard]] inline std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space = false) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '%') {
            const int hi = i + 1 < s.size() ? hex(s[i + 1]) : -1;
            const int lo = i + 2 < s.size() ? hex(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

/// One request. Header names are lower-cased; path and query are as sent (still percent-encoded).
struct server_request {
    /// Extra bytes the parser keeps allocated after the body, so JSON parsers that read ahead in
    /// blocks (simdjson needs 64) can parse it in place.
    static constexpr std::size_t body_padding = 64;

    /// "GET", "POST"... as sent (methods are case-sensitive).
    std::string method;
    /// The request-target as sent: "/a/b?x=1", "*", "http://host/a", "host:443" (CONNECT).
    std::string target;
    /// The path of the target ("/a/b"), still percent-encoded; "*" for OPTIONS *; empty for CONNECT.
    std::string path;
    /// What follows '?' in the target (without it), still encoded; empty when there is none.
    std::string query;
    /// The Y of HTTP/1.Y: 0 or 1 (a higher minor version is served as 1.1).
    int version_minor = 1;
    /// In arrival order, names lower-cased, values without surrounding spaces.
    std::vector<http::header> headers;
    /// Trailer fields of a chunked body, kept apart from the headers.
    std::vector<http::header> trailers;
    /// The whole body, de-chunked.
    std::string body;
    /// The Content-Length the client sent, if any.
    std::optional<std::uint64_t> content_length;
    /// The body came with Transfer-Encoding: chunked.
    bool chunked = false;
    /// The client asked for "Expect: 100-continue" (HTTP/1.1 only; the server answers it).
    bool expect_continue = false;
    /// The connection stays open after this exchange (HTTP/1.1 unless "Connection: close"; HTTP/1.0
    /// only with "Connection: keep-alive").
    bool keep_alive = true;
    /// Path parameters the router matched ("{name}" segments), percent-decoded.
    std::vector<std::pair<std::string, std::string>> params;
    /// The client's address ("127.0.0.1:54321").
    std::string remote_address;
    /// Fires when the server stops without waiting any longer, or when a streaming client goes away.
    std::stop_token stop;

    /// The first header called `lower_case_name`.
    [[nodiscard]] std::optional<std::string_view> header(std::string_view lower_case_name) const {
        for (const auto& h : headers)
            if (h.name == lower_case_name) return std::string_view(h.value);
        return std::nullopt;
    }

    /// The path parameter `name` ("" when the route has none of that name).
    [[nodiscard]] std::string_view param(std::string_view name) const {
        for (const auto& [n, v] : params)
            if (n == name) return v;
        return {};
    }

    /// The first query parameter `name`, decoded ('+' is a space); nullopt when absent or malformed.
    [[nodiscard]] std::optional<std::string> query_param(std::string_view name) const {
        std::string_view rest = query;
        while (!rest.empty()) {
            const std::size_t amp = rest.find('&');
            const std::string_view pair = rest.substr(0, amp);
            rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
            const std::size_t eq = pair.find('=');
            auto key = percent_decode(pair.substr(0, eq), true);
            if (!key || *key != name) continue;
            return percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
        }
        return std::nullopt;
    }

    /// Empties the request for the next one on the connection, keeping allocated capacity.
    void clear() noexcept {
        method.clear();
        target.clear();
        path.clear();
        query.clear();
        version_minor = 1;
        headers.clear();
        trailers.clear();
        body.clear();
        content_length.reset();
        chunked = false;
        expect_continue = false;
        keep_alive = true;
        params.clear();
    }
};

} // namespace sluice::http
