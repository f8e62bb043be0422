#pragma once

// Logging hook: a logger holds a minimum level and a callback (default: one line on stderr). Below the
// level a call costs one relaxed load and a compare; nothing is formatted and the callback is not run.
//
// What may reach a log is decided here, not by each caller: a field says what its value is
// (field::plain, field::payload, field::secret, field::credential_id) and the logger redacts by kind.
// Payload bodies appear only when log_options::log_payloads is set. Secrets (secret keys, signatures,
// session tokens, Authorization values) never appear, whatever the options; with log_secrets a
// credential id shows its first 4 characters ("AKIA", which tells a long-term key from a temporary
// "ASIA" one). As a second line of defence, plain fields whose key names a secret ("authorization",
// "password", "token", ...) are redacted too, and the values of X-Amz-Signature, X-Amz-Credential,
// X-Amz-Security-Token, Signature and Credential parameters are cut out of messages and plain values
// (a presigned URL or a SigV4 Authorization value quoted in an error message). Header values are
// redacted by construction: sanitize_header() builds what it returns from an allow-list (an
// Authorization value shows its scheme and, for SigV4, the SignedHeaders list, nothing else).

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <sluice/text/ascii.hpp>
#include <sluice/text/rfc3339.hpp>

namespace sluice {

/// How much a record matters, least first. As a logger's level: the least it passes on (off: none).
enum class log_level { trace, debug, info, warn, error, off };

/// "trace", "debug", "info", "warn", "error" or "off", as format_log_line spells it.
[[nodiscard]] inline std::string_view to_string(log_level level) noexcept {
    switch (level) {
    case log_level::trace: return "trace";
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
    case log_level::off: return "off";
    }
    return "unknown";
}

/// "trace", "debug", "info", "warn" (or "warning"), "error", "off", any case; nullopt otherwise.
[[nodiscard]] inline std::optional<log_level> parse_log_level(std::string_view text) noexcept {
    std::array<char, 8> lower{};
    if (text.size() > lower.size()) return std::nullopt;
    for (std::size_t i = 0; i < text.size(); ++i) lower[i] = sluice::text::lower(text[i]);
    const std::string_view t(lower.data(), text.size());
    if (t == "trace") return log_level::trace;
    if (t == "debug") return log_level::debug;
    if (t == "info") return log_level::info;
    if (t == "warn" || t == "warning") return log_level::warn;
    if (t == "error") return log_level::error;
    if (t == "off") return log_level::off;
    return std::nullopt;
}

/// What a field's value is, which decides how it is redacted.
enum class field_kind {
    plain,         ///< shown (unless its key names a secret)
    payload,       ///< an event or request body: shown only with log_payloads
    secret,        ///< a secret key, signature, token, Authorization value: never shown
    credential_id, ///< names a credential (an access key id): with log_secrets, its first 4 characters
};

/// The text that replaces what is not shown.
inline constexpr std::string_view redacted_text = "[redacted]";

/// How a logger filters and what it reveals.
struct log_options {
    /// Less severe records are dropped before any formatting.
    log_level level = log_level::info;
    /// Show payload fields (up to max_payload_bytes each). Off: "[redacted]".
    bool log_payloads = false;
    /// Show the first 4 characters of credential ids. Secret fields stay "[redacted]" regardless.
    bool log_secrets = false;
    /// Longer payloads are cut here, with "...(N bytes)" appended.
    std::size_t max_payload_bytes = 1024;
};

/// A key/value pair handed to a log call. It refers to the caller's strings (views): build it in the
/// call's argument list, never keep it. Numbers and bools are formatted only when the level is on.
struct field {
    /// What a field holds; numbers are formatted only when the record is logged.
    using value_type = std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool>;

    /// The field's name.
    std::string_view key;
    /// The field's value.
    value_type value;
    /// How it is redacted (plain, payload, secret, credential id).
    field_kind kind = field_kind::plain;

    /// A field shown as is.
    static field plain(std::string_view key, std::string_view value) noexcept { return {key, value, field_kind::plain}; }
    /// A number or bool shown as is.
    template <class T>
        requires std::is_arithmetic_v<T>
    static field plain(std::string_view key, T value) noexcept {
        if constexpr (std::is_same_v<T, bool>) return {key, value_type(value), field_kind::plain};
        else if constexpr (std::is_floating_point_v<T>) return {key, value_type(static_cast<double>(value)), field_kind::plain};
        else if constexpr (std::is_signed_v<T>) return {key, value_type(static_cast<std::int64_t>(value)), field_kind::plain};
        else return {key, value_type(static_cast<std::uint64_t>(value)), field_kind::plain};
    }
    /// Record content: redacted unless log_options::log_payloads.
    static field payload(std::string_view key, std::string_view value) noexcept { return {key, value, field_kind::payload}; }
    /// Always redacted (keys, signatures, tokens).
    static field secret(std::string_view key, std::string_view value) noexcept { return {key, value, field_kind::secret}; }
    /// An access key id: its first 4 characters with log_options::log_secrets, else redacted.
    static field credential_id(std::string_view key, std::string_view value) noexcept {
        return {key, value, field_kind::credential_id};
    }
};

/// A field as the callback sees it: the text already redacted.
struct log_field {
    /// The field's name.
    std::string_view key;
    /// The value, already redacted.
    std::string_view value;
};

/// One log event. Views are valid during the callback only: copy what you keep.
struct log_record {
    /// The record's level.
    log_level level = log_level::info;
    /// What logged it ("delivery", "sqs", ...).
    std::string_view component;
    /// What happened.
    std::string_view message;
    /// Its fields, redacted.
    std::span<const log_field> fields;
    /// When it was logged.
    std::chrono::system_clock::time_point time;
};

/// Where a logger's records go: called on the logging thread, once per record the level lets through;
/// an exception it throws is dropped (logging never throws).
using log_callback = std::function<void(const log_record&)>;

namespace detail {

using sluice::text::ifind;
using sluice::text::iequals;

// Parameters that carry credentials or signatures: those of presigned URLs, and the parts of a SigV4
// Authorization value ("Credential=...", "Signature=...") should one be quoted in a message.
inline constexpr std::string_view secret_params[] = {"x-amz-signature=", "x-amz-credential=", "x-amz-security-token=",
                                                     "signature=", "credential="};

[[nodiscard]] inline bool word_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/// `text` with the values of secret parameters replaced by "[redacted]", wherever they occur (a URL, a
/// request line, a header, a message quoting any of them); nullopt when there is nothing to replace.
[[nodiscard]] inline std::optional<std::string> redact_query_params(std::string_view text) {
    std::string out;
    bool changed = false;
    std::size_t copied = 0;
    for (std::size_t i = 0; i < text.size();) {
        std::size_t hit = std::string_view::npos;
        std::size_t len = 0;
        for (auto param : secret_params) {
            std::size_t at = ifind(text, param, i);
            // Only a whole parameter name ("x-amz-signature=" is not also a "signature=").
            while (at != std::string_view::npos && at > 0 && word_char(text[at - 1])) at = ifind(text, param, at + 1);
            if (at < hit) {
                hit = at;
                len = param.size();
            }
        }
        if (hit == std::string_view::npos) break;
        const std::size_t value_start = hit + len;
        std::size_t value_end = text.find_first_of("&#,; \t\r\n\"'<>", value_start);
        if (value_end == std::string_view::npos) value_end = text.size();
        out.append(text.substr(copied, value_start - copied));
        out += redacted_text;
        copied = i = value_end;
        changed = true;
    }
    if (!changed) return std::nullopt;
    out.append(text.substr(copied));
    return out;
}

// Substrings of field keys that name a secret (lower case).
inline constexpr std::string_view secret_key_words[] = {"authorization", "password", "passwd", "secret", "signature",
                                                       "token", "credential", "cookie", "api_key", "api-key", "apikey"};

} // namespace detail

/// True when a field key names a secret ("Authorization", "secret_access_key", "X-Amz-Security-Token",
/// "password", ...): such plain fields are redacted as if marked secret.
[[nodiscard]] inline bool is_secret_key(std::string_view key) noexcept {
    for (auto word : detail::secret_key_words)
        if (detail::ifind(key, word) != std::string_view::npos) return true;
    return false;
}

/// True for headers whose values carry credentials: Authorization, Proxy-Authorization,
/// X-Amz-Security-Token, Cookie, Set-Cookie, and any header whose name names a secret (is_secret_key:
/// "X-Api-Key", "X-Auth-Token", ...).
[[nodiscard]] inline bool is_secret_header(std::string_view name) noexcept {
    constexpr std::string_view names[] = {"authorization", "proxy-authorization", "x-amz-security-token", "cookie",
                                          "set-cookie"};
    for (auto n : names)
        if (detail::iequals(name, n)) return true;
    return is_secret_key(name);
}

/// `url` with the values of X-Amz-Signature, X-Amz-Credential and X-Amz-Security-Token (and of bare
/// Signature= and Credential=) replaced by "[redacted]"; the rest, parameter names included, is kept
/// for debugging. Matching ignores case; "My-X-Amz-Signature=" is another parameter and is kept.
[[nodiscard]] inline std::string sanitize_url(std::string_view url) {
    auto redacted = detail::redact_query_params(url);
    return redacted ? std::move(*redacted) : std::string(url);
}

namespace detail {

using sluice::text::is_token;

/// A SigV4 SignedHeaders list: lower-case header names joined by ';'.
[[nodiscard]] constexpr bool is_signed_headers_list(std::string_view s) noexcept {
    if (s.empty() || s.size() > 2048) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || sluice::text::is_digit(c) || c == '-' || c == '_' || c == '.' || c == ';')) return false;
    return true;
}

/// An Authorization value as it may be shown: the scheme when it is a token, and for SigV4 the names
/// of its parameters with only SignedHeaders' value (useful when a signature does not match).
[[nodiscard]] inline std::string sanitize_authorization(std::string_view value) {
    value = sluice::text::trim(value);
    const std::size_t space = value.find_first_of(" \t");
    if (space == std::string_view::npos) return std::string(redacted_text); // no scheme: all of it is secret
    const std::string_view scheme = value.substr(0, space);
    if (!is_token(scheme, 32)) return std::string(redacted_text);
    std::string out(scheme);
    out += ' ';
    if (!sluice::text::istarts_with(scheme, "AWS4-")) {
        out += redacted_text; // Basic, Bearer, Digest...: credentials whatever their shape
        return out;
    }
    std::string_view rest = value.substr(space + 1);
    bool first = true;
    while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string_view part = sluice::text::trim(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        if (part.empty()) continue;
        if (!first) out += ", ";
        first = false;
        const std::size_t eq = part.find('=');
        const std::string_view name = part.substr(0, eq);
        const std::string_view v = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
        if (sluice::text::iequals(name, "SignedHeaders") && is_signed_headers_list(v)) {
            out += "SignedHeaders=";
            out += v;
        } else if (sluice::text::iequals(name, "Credential") || sluice::text::iequals(name, "Signature") ||
                   sluice::text::iequals(name, "SignedHeaders")) {
            out += name;
            out += '=';
            out += redacted_text;
        } else {
            out += redacted_text;
        }
    }
    return out;
}

} // namespace detail

/// The value of header `name` as it may be logged. Authorization and Proxy-Authorization keep their
/// scheme and, for SigV4, the SignedHeaders list; Credential, Signature and every other part become
/// "[redacted]":
///   "AWS4-HMAC-SHA256 Credential=[redacted], SignedHeaders=host;x-amz-date, Signature=[redacted]",
///   "Basic [redacted]", "Bearer [redacted]".
/// Other secret headers (is_secret_header) become "[redacted]"; the rest goes through sanitize_url.
[[nodiscard]] inline std::string sanitize_header(std::string_view name, std::string_view value) {
    if (detail::iequals(name, "authorization") || detail::iequals(name, "proxy-authorization"))
        return detail::sanitize_authorization(value);
    if (is_secret_header(name)) return std::string(redacted_text);
    return sanitize_url(value);
}

namespace detail {

/// "METHOD target HTTP/x" or "HTTP/x code reason": the first line of a request or a response.
[[nodiscard]] inline bool is_start_line(std::string_view line) noexcept {
    auto version = [](std::string_view v) {
        if (!text::istarts_with(v, "HTTP/") || v.size() == 5) return false;
        for (char c : v.substr(5))
            if (!text::is_digit(c) && c != '.') return false;
        return true;
    };
    const std::size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return false;
    const std::string_view first = line.substr(0, sp1), rest = line.substr(sp1 + 1);
    if (version(first)) // a status line: the reason phrase is printable text
        return rest.size() >= 3 && text::is_digit(rest[0]) && text::is_digit(rest[1]) && text::is_digit(rest[2]) &&
               text::has_no_control(rest);
    const std::size_t sp2 = rest.find(' ');
    if (!is_token(first) || sp2 == std::string_view::npos || !version(rest.substr(sp2 + 1))) return false;
    const std::string_view target = rest.substr(0, sp2);
    for (char c : target)
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
    return !target.empty();
}

} // namespace detail

/// A raw header block ("POST /?X-Amz-Signature=... HTTP/1.1\r\nAuthorization: ...\r\n...", as curl's
/// debug callback shows it) with every line sanitized, by what the line is: a request or status line
/// goes through sanitize_url; a header line (its name an RFC 9110 token) through sanitize_header, and
/// so do the folded lines that continue it; an empty line stays. Any other line (a header value that
/// held a line break, garbage) cannot be told apart from a secret: it becomes "[redacted]", and so do
/// the folded lines after it. Line endings are kept.
[[nodiscard]] inline std::string sanitize_headers(std::string_view block) {
    std::string out;
    out.reserve(block.size());
    bool continues_secret = false; // the last line was secret: folded lines after it are too
    bool in_header = false;        // the last line was a header (or a fold of one): a fold may follow
    // In a block whose lines end in CRLF, any other line ending (a bare LF, or CR CR LF: a bare CR
    // before the CRLF) is a line break inside a value: after a secret header, what follows it up to the
    // next regular CRLF is still the secret, whatever it looks like.
    const bool crlf_block = block.find("\r\n") != std::string_view::npos;
    bool secret_open = false;
    while (!block.empty()) {
        const std::size_t nl = block.find('\n');
        const std::string_view line = block.substr(0, nl == std::string_view::npos ? block.size() : nl + 1);
        block.remove_prefix(line.size());
        std::size_t body_len = line.size();
        while (body_len > 0 && (line[body_len - 1] == '\n' || line[body_len - 1] == '\r')) --body_len;
        const std::string_view body = line.substr(0, body_len);
        const std::string_view ending = line.substr(body_len);
        const bool break_in_value = crlf_block && !ending.empty() && ending != "\r\n";
        if (secret_open) {
            if (!body.empty()) out += redacted_text;
            out += ending;
            secret_open = break_in_value;
            continue;
        }
        const std::size_t colon = body.find(':');
        const std::string_view name = body.substr(0, colon);
        if (body.empty()) {
            continues_secret = in_header = false;
        } else if (body.front() == ' ' || body.front() == '\t') {
            // A fold continues the header above it; with no header above (after a blank or a start
            // line) it is no fold but unknown text, shown only as redacted.
            const std::size_t lead = body.find_first_not_of(" \t");
            out += body.substr(0, lead == std::string_view::npos ? body.size() : lead);
            if (continues_secret || !in_header) out += redacted_text;
            else if (lead != std::string_view::npos) out += sanitize_url(body.substr(lead));
        } else if (colon != std::string_view::npos && detail::is_token(name, 256)) {
            const std::string_view value = body.substr(colon + 1);
            const std::size_t lead = std::min(value.find_first_not_of(" \t"), value.size());
            out += name;
            out += ':';
            out += value.substr(0, lead);
            out += sanitize_header(name, value.substr(lead));
            continues_secret = is_secret_header(name);
            in_header = true;
        } else if (detail::is_start_line(body)) {
            out += sanitize_url(body);
            continues_secret = in_header = false;
        } else {
            out += redacted_text;
            continues_secret = true;
        }
        out += ending;
        secret_open = continues_secret && break_in_value;
    }
    return out;
}

/// The text a logger shows for `value` of `kind` under `options` (see field_kind).
[[nodiscard]] inline std::string redact(std::string_view value, field_kind kind, const log_options& options = {}) {
    switch (kind) {
    case field_kind::plain: return sanitize_url(value);
    case field_kind::payload: {
        if (!options.log_payloads) return std::string(redacted_text);
        if (value.size() <= options.max_payload_bytes) return std::string(value);
        std::string out(value.substr(0, options.max_payload_bytes));
        out += "...(";
        out += std::to_string(value.size());
        out += " bytes)";
        return out;
    }
    case field_kind::credential_id:
        // A short id is hidden entirely: 4 of 6 characters would be most of it.
        if (options.log_secrets && value.size() >= 12) return std::string(value.substr(0, 4)) + std::string(redacted_text);
        return std::string(redacted_text);
    case field_kind::secret: break;
    }
    return std::string(redacted_text);
}

/// One line for a record: `2025-01-02T03:04:05.678Z warn sink: message key=value key2="a b"` (no
/// newline). Values with spaces, quotes, '=' or control characters are quoted and escaped, so a value
/// cannot forge a second line.
[[nodiscard]] inline std::string format_log_line(const log_record& record) {
    std::string out;
    char stamp[32];
    out += sluice::text::format_rfc3339_utc(record.time, stamp);
    out += ' ';
    out += to_string(record.level);
    out += ' ';
    if (!record.component.empty()) {
        out += record.component;
        out += ": ";
    }
    auto append_escaped = [&out](std::string_view text) {
        for (char c : text) {
            if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
            } else if (c == '\n') {
                out += "\\n";
            } else if (c == '\r') {
                out += "\\r";
            } else if (c == '\t') {
                out += "\\t";
            } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                char hex[8];
                std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(static_cast<unsigned char>(c)));
                out += hex;
            } else {
                out += c;
            }
        }
    };
    append_escaped(record.message);
    for (const auto& f : record.fields) {
        out += ' ';
        append_escaped(f.key);
        out += '=';
        const bool quote = f.value.empty() || std::any_of(f.value.begin(), f.value.end(), [](char c) {
                               return c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20 ||
                                      c == 0x7f;
                           });
        if (quote) out += '"';
        append_escaped(f.value);
        if (quote) out += '"';
    }
    return out;
}

/// The default callback: format_log_line plus a newline on stderr, in one write so that lines from
/// several threads do not interleave.
inline void write_log_line_to_stderr(const log_record& record) {
    std::string line = format_log_line(record);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
}

/// Holds a minimum level and a callback. The callback may be called from several threads at once (the
/// default one is safe for that). A callback that throws is ignored: logging never fails the caller.
class logger {
public:
    /// Level info, lines to stderr.
    logger() : logger(log_options{}) {}
    /// Logs through `callback`, or one line per record to stderr when none is given.
    explicit logger(log_options options, log_callback callback = {})
        : options_(options), level_(options.level), callback_(callback ? std::move(callback) : log_callback(write_log_line_to_stderr)) {}

    /// Copies options, level and callback (the level is atomic, hence by hand).
    logger(const logger& other) : options_(other.options_), level_(other.level()), callback_(other.callback_) {}
    /// Copies options, level and callback.
    logger& operator=(const logger& other) {
        if (this != &other) {
            options_ = other.options_;
            level_.store(other.level(), std::memory_order_relaxed);
            callback_ = other.callback_;
        }
        return *this;
    }

    /// A logger that drops everything (level off).
    [[nodiscard]] static logger disabled() { return logger(log_options{.level = log_level::off}); }

    /// True when a record at `level` would be logged: check it before building costly fields.
    [[nodiscard]] bool enabled(log_level level) const noexcept {
        return level != log_level::off && level >= level_.load(std::memory_order_relaxed);
    }
    /// The current level (set_level changes it at run time, from any thread).
    [[nodiscard]] log_level level() const noexcept { return level_.load(std::memory_order_relaxed); }
    /// Safe while other threads log.
    void set_level(log_level level) noexcept { level_.store(level, std::memory_order_relaxed); }
    /// The options given at construction (the level in them may be stale: see level()).
    [[nodiscard]] const log_options& options() const noexcept { return options_; }

    /// Logs one record with its fields, redacted by kind.
    void log(log_level level, std::string_view component, std::string_view message,
             std::initializer_list<field> fields = {}) const noexcept {
        if (!enabled(level)) return;
        emit(level, component, message, fields);
    }

    /// `make_message()` (returning something convertible to std::string_view or std::string) runs only
    /// when `level` is enabled: for messages that cost something to build.
    template <class F>
        requires std::invocable<F&>
    void log(log_level level, std::string_view component, F&& make_message, std::initializer_list<field> fields = {}) const noexcept {
        if (!enabled(level)) return;
        try {
            const auto& message = make_message();
            emit(level, component, std::string_view(message), fields);
        } catch (...) {
        }
    }

    /// Logs at trace level (`message`: a string, or a callable making it only when enabled).
    template <class M>
    void trace(std::string_view component, M&& message, std::initializer_list<field> fields = {}) const noexcept {
        log(log_level::trace, component, std::forward<M>(message), fields);
    }
    /// Logs at debug level.
    template <class M>
    void debug(std::string_view component, M&& message, std::initializer_list<field> fields = {}) const noexcept {
        log(log_level::debug, component, std::forward<M>(message), fields);
    }
    /// Logs at info level.
    template <class M>
    void info(std::string_view component, M&& message, std::initializer_list<field> fields = {}) const noexcept {
        log(log_level::info, component, std::forward<M>(message), fields);
    }
    /// Logs at warn level.
    template <class M>
    void warn(std::string_view component, M&& message, std::initializer_list<field> fields = {}) const noexcept {
        log(log_level::warn, component, std::forward<M>(message), fields);
    }
    /// Logs at error level.
    template <class M>
    void error(std::string_view component, M&& message, std::initializer_list<field> fields = {}) const noexcept {
        log(log_level::error, component, std::forward<M>(message), fields);
    }

private:
    /// The enabled path: redact every field into text, then hand the record to the callback.
    void emit(log_level level, std::string_view component, std::string_view message,
              std::initializer_list<field> fields) const noexcept {
        try {
            std::vector<std::string> texts;
            texts.reserve(fields.size());
            for (const auto& f : fields) texts.push_back(render(f));
            std::vector<log_field> views;
            views.reserve(fields.size());
            std::size_t i = 0;
            for (const auto& f : fields) views.push_back({f.key, texts[i++]});
            auto clean_message = detail::redact_query_params(message);
            log_record record{level, component, clean_message ? std::string_view(*clean_message) : message, views,
                              std::chrono::system_clock::now()};
            callback_(record);
        } catch (...) {
        }
    }

    [[nodiscard]] std::string render(const field& f) const {
        if (const auto* text = std::get_if<std::string_view>(&f.value)) {
            const field_kind kind = (f.kind == field_kind::plain && is_secret_key(f.key)) ? field_kind::secret : f.kind;
            return redact(*text, kind, options_);
        }
        // A number or bool: only plain ones are shown (a number marked secret stays secret).
        if (f.kind != field_kind::plain || is_secret_key(f.key)) return std::string(redacted_text);
        if (const auto* b = std::get_if<bool>(&f.value)) return *b ? "true" : "false";
        char text[32];
        std::to_chars_result r{};
        if (const auto* i = std::get_if<std::int64_t>(&f.value)) r = std::to_chars(text, text + sizeof text, *i);
        else if (const auto* u = std::get_if<std::uint64_t>(&f.value)) r = std::to_chars(text, text + sizeof text, *u);
        else r = std::to_chars(text, text + sizeof text, std::get<double>(f.value));
        return std::string(text, r.ptr);
    }

    log_options options_;
    std::atomic<log_level> level_;
    log_callback callback_;
};

} // namespace sluice
