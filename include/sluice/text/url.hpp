#pragma once

// URLs: the one parser (scheme, user info, host with IPv6 literals, port, path, query, fragment) and
// the one RFC 3986 percent-encoder. The parser takes URLs the way curl does: "scheme://authority/path"
// and, without a scheme, "authority/path" (curl then guesses http); it splits, it does not validate
// beyond what it is asked (host_is_valid, port_number), so callers decide how strict to be.
//
//     auto u = text::parse_url("https://user:pw@[::1]:8443/a/b?x=1#f");
//     // scheme "https", userinfo "user:pw", host "::1" (ipv6), port "8443", path "/a/b", query "x=1"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <sluice/text/ascii.hpp>

namespace sluice::text {

/// The parts of a URL, as views into the text parsed (nothing decoded).
struct url_parts {
    std::string_view scheme;   ///< "https"; empty when the URL has none
    std::string_view userinfo; ///< "user:password", before the last '@' of the authority; may be empty
    /// True when the URL had a '@' (userinfo may still be empty).
    bool has_userinfo = false;
    std::string_view host; ///< "example.com", "10.0.0.1", "::1" (an IPv6 literal, without its brackets)
    bool ipv6 = false;     ///< the host was a bracketed literal
    std::string_view port; ///< the text after the host's ':' (digits when valid); empty when absent
    /// True when the URL had a ':' after the host.
    bool has_port = false;
    std::string_view path;     ///< from the first '/' after the authority to '?' or '#'; may be empty
    std::string_view query;    ///< after '?', without it
    /// True when the URL had a '?'.
    bool has_query = false;
    std::string_view fragment; ///< after '#', without it
    /// True when the URL had a '#'.
    bool has_fragment = false;

    /// The port as a number (1..65535), when it is one.
    [[nodiscard]] std::optional<std::uint16_t> port_number() const noexcept {
        if (!has_port || port.empty() || port.size() > 5) return std::nullopt;
        std::uint32_t n = 0;
        for (char c : port) {
            if (!is_digit(c)) return std::nullopt;
            n = n * 10 + static_cast<std::uint32_t>(c - '0');
        }
        if (n == 0 || n > 65535) return std::nullopt;
        return static_cast<std::uint16_t>(n);
    }

    /// True when the host is a DNS name or IPv4 address (letters, digits, '-', '.', '_', '~', '%' for
    /// escapes) or an IPv6 literal (hex digits, ':', '.', and a zone after '%'): never user info, never
    /// anything that could carry a line break.
    [[nodiscard]] bool host_is_valid() const noexcept {
        if (host.empty()) return false;
        for (char c : host) {
            const bool ok = ipv6 ? (is_alnum(c) || c == ':' || c == '.' || c == '%' || c == '-' || c == '_')
                                 : (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '%');
            if (!ok) return false;
        }
        return true;
    }
};

/// A scheme: a letter, then letters, digits, '+', '-' or '.'.
[[nodiscard]] constexpr bool is_scheme(std::string_view s) noexcept {
    if (s.empty() || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
    for (char c : s)
        if (!is_alnum(c) && c != '+' && c != '-' && c != '.') return false;
    return true;
}

/// Splits `url` (see the file comment). Nothing for an empty URL or a bracketed host without ']'.
[[nodiscard]] inline std::optional<url_parts> parse_url(std::string_view url) noexcept {
    if (url.empty()) return std::nullopt;
    url_parts u;
    std::string_view rest = url;
    if (const std::size_t sep = rest.find("://"); sep != std::string_view::npos && is_scheme(rest.substr(0, sep))) {
        u.scheme = rest.substr(0, sep);
        rest.remove_prefix(sep + 3);
    }
    if (const std::size_t hash = rest.find('#'); hash != std::string_view::npos) {
        u.fragment = rest.substr(hash + 1);
        u.has_fragment = true;
        rest = rest.substr(0, hash);
    }
    if (const std::size_t q = rest.find('?'); q != std::string_view::npos) {
        u.query = rest.substr(q + 1);
        u.has_query = true;
        rest = rest.substr(0, q);
    }
    const std::size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) u.path = rest.substr(slash);
    // The last '@': a password may hold an unescaped '@', a host never does.
    if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
        u.userinfo = authority.substr(0, at);
        u.has_userinfo = true;
        authority.remove_prefix(at + 1);
    }
    if (!authority.empty() && authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        u.host = authority.substr(1, close - 1);
        u.ipv6 = true;
        authority.remove_prefix(close + 1);
        if (!authority.empty()) {
            if (authority.front() != ':') return std::nullopt;
            u.port = authority.substr(1);
            u.has_port = true;
        }
        return u;
    }
    if (const std::size_t colon = authority.find(':'); colon != std::string_view::npos) {
        u.port = authority.substr(colon + 1);
        u.has_port = true;
        authority = authority.substr(0, colon);
    }
    u.host = authority;
    return u;
}

/// Appends host, port and path of `u` as display_url shows them.
inline void append_display_parts(std::string& out, const url_parts& u) {
    if (!u.host_is_valid()) out += "[invalid host]";
    else if (u.ipv6) out.append("[").append(u.host).append("]");
    else out += u.host;
    if (u.has_port) {
        out += ':';
        if (u.port_number()) out += u.port;
        else out += "[invalid port]";
    }
    constexpr char hex[] = "0123456789ABCDEF";
    for (char c : u.path) {
        const auto b = static_cast<unsigned char>(c);
        if (b > 0x20 && b < 0x7f) {
            out += c;
        } else {
            const char escape[3] = {'%', hex[b >> 4], hex[b & 0x0f]};
            out.append(escape, 3);
        }
    }
}

/// `url` as it may be shown in a log or an error: scheme, host, port and path only, built from the
/// parts that pass their checks. User info, query and fragment (credentials, presigned signatures)
/// never appear; an invalid host or port shows as "[invalid host]" / "[invalid port]", and bytes of
/// the path that are not printable ASCII are %XX-escaped, so nothing can break the line. An '@' in the
/// path may end user info whose password held an unescaped '/' (curl cannot use such a URL, but it
/// ends up in error messages): everything before the last one shows as "[redacted]@".
[[nodiscard]] inline std::string display_url(std::string_view url) {
    const auto u = parse_url(url);
    if (!u) return "[invalid URL]";
    std::string out;
    if (!u->scheme.empty()) {
        out += u->scheme;
        out += "://";
    }
    if (const std::size_t at = u->path.rfind('@'); at != std::string_view::npos) {
        out += "[redacted]@";
        const auto rest = parse_url(u->path.substr(at + 1));
        if (rest) append_display_parts(out, *rest);
        else out += "[invalid host]";
        return out;
    }
    append_display_parts(out, *u);
    return out;
}

/// The default port of http and https (ignoring case); 0 for other schemes.
[[nodiscard]] constexpr std::uint16_t default_port(std::string_view scheme) noexcept {
    if (iequals(scheme, "http")) return 80;
    if (iequals(scheme, "https")) return 443;
    return 0;
}

/// RFC 3986 unreserved: letters, digits, '-', '.', '_', '~'.
[[nodiscard]] constexpr bool is_unreserved(unsigned char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '~';
}

/// Appends `in` percent-encoded per RFC 3986 (unreserved bytes kept, every other byte %XX upper-case
/// hex), keeping '/' when `keep_slash` (a path). Runs of unreserved bytes are copied in one go.
inline void append_uri_encoded(std::string& out, std::string_view in, bool keep_slash = false) {
    constexpr char hex[] = "0123456789ABCDEF";
    std::size_t run = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        const auto c = static_cast<unsigned char>(in[i]);
        if (is_unreserved(c) || (keep_slash && c == '/')) continue;
        out.append(in.data() + run, i - run);
        const char escape[3] = {'%', hex[c >> 4], hex[c & 0x0f]};
        out.append(escape, 3);
        run = i + 1;
    }
    out.append(in.data() + run, in.size() - run);
}

/// `in` percent-encoded per RFC 3986 ('/' encoded too unless `keep_slash`).
[[nodiscard]] inline std::string uri_encode(std::string_view in, bool keep_slash = false) {
    std::string out;
    out.reserve(in.size() + in.size() / 2);
    append_uri_encoded(out, in, keep_slash);
    return out;
}

} // namespace sluice::text
