#pragma once

// The SQS JSON protocol for SendMessageBatch, as current AWS SDKs speak it: what a message may hold
// (validation against SQS's documented limits, kept in one overridable table), the request body (a
// fast encoder), and the response (a simdjson parser giving one entry_result per batch entry).
//
//   POST / HTTP/1.1
//   Content-Type: application/x-amz-json-1.0
//   X-Amz-Target: AmazonSQS.SendMessageBatch
//   {"QueueUrl":"https://sqs.us-east-1.amazonaws.com/123456789012/q","Entries":[
//     {"Id":"0","MessageBody":"...","DelaySeconds":5,
//      "MessageAttributes":{"trace":{"DataType":"String","StringValue":"abc"},
//                           "blob":{"DataType":"Binary","BinaryValue":"AAEC"}},
//      "MessageGroupId":"g","MessageDeduplicationId":"d"}]}
//   ->
//   {"Successful":[{"Id":"0","MessageId":"...","MD5OfMessageBody":"..."}],
//    "Failed":[{"Id":"1","SenderFault":true,"Code":"InvalidParameterValue","Message":"..."}]}
//
// Validation happens once per message (validate_sqs_message) so that a message SQS would refuse is
// refused at once and never poisons a batch; encoding happens per attempt and is cheap: the encoder
// sizes its output exactly, grows the string once, and copies runs of bytes that need no escaping 16
// at a time.
//
// Reasons given by validation and by the response parser never quote a message body, an attribute
// value or an id the caller did not choose to show: they give positions and sizes.

#if !SLUICE_HAS_SIMDJSON
#error "sluice/aws/sqs_protocol.hpp needs simdjson (CMake: SLUICE_WITH_SIMDJSON, meson: -Dsimdjson=enabled; it defines SLUICE_HAS_SIMDJSON=1)"
#endif

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <simdjson.h>

#if SLUICE_HAS_OPENSSL
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#define SLUICE_SQS_MD5 1
#endif
#endif
#ifndef SLUICE_SQS_MD5
#define SLUICE_SQS_MD5 0
#endif

#include <sluice/aws/error.hpp>
#include <sluice/delivery/sink.hpp>

namespace sluice::aws {

inline constexpr std::string_view sqs_json_content_type = "application/x-amz-json-1.0";
inline constexpr std::string_view sqs_send_message_batch_target = "AmazonSQS.SendMessageBatch";

/// SQS's limits as AWS documents them (2026). One table, overridable, since AWS changes them: the
/// message size went from 256 KiB to 1 MiB in 2025.
struct sqs_limits {
    std::size_t max_batch_entries = 10;
    /// Body plus every attribute's name, data type and value.
    std::size_t max_message_bytes = 1'048'576;
    /// The sum of the sizes of a batch's messages.
    std::size_t max_batch_bytes = 1'048'576;
    std::size_t max_attributes = 10;
    /// Entry ids: 1 to 80 characters of A-Z a-z 0-9 - _.
    std::size_t max_entry_id_length = 80;
    std::size_t max_attribute_name_length = 256;
    std::size_t max_attribute_type_length = 256;
    int max_delay_seconds = 900;
    /// Group and deduplication ids: 1 to 128 characters of alphanumerics and punctuation.
    std::size_t max_group_id_length = 128;
    std::size_t max_deduplication_id_length = 128;

    /// For the delivery engine: entries, batch bytes and record bytes.
    [[nodiscard]] sink_limits to_sink_limits() const noexcept {
        return {max_batch_entries, max_batch_bytes, max_message_bytes};
    }
};

/// A message attribute. data_type is "String", "Number" or "Binary", optionally with a custom label
/// ("String.json", "Binary.gzip"); value holds the bytes (raw for Binary: the encoder base64s them).
struct sqs_attribute {
    std::string name;
    std::string data_type;
    std::string value;

    [[nodiscard]] static sqs_attribute string(std::string name, std::string value) {
        return {std::move(name), "String", std::move(value)};
    }
    [[nodiscard]] static sqs_attribute number(std::string name, std::string value) {
        return {std::move(name), "Number", std::move(value)};
    }
    [[nodiscard]] static sqs_attribute binary(std::string name, std::string bytes) {
        return {std::move(name), "Binary", std::move(bytes)};
    }
    /// True for "Binary" and "Binary.<label>": the value goes out as BinaryValue.
    [[nodiscard]] bool is_binary() const noexcept {
        return std::string_view(data_type).starts_with("Binary") &&
               (data_type.size() == 6 || data_type[6] == '.');
    }
};

struct sqs_message {
    std::string body;
    std::vector<sqs_attribute> attributes{};
    /// Per-message delay (0-900 s); standard queues only.
    std::optional<int> delay_seconds{};
    /// Required on FIFO queues; on standard queues it enables fair queueing.
    std::string group_id{};
    /// FIFO only; required unless the queue has content-based deduplication.
    std::string deduplication_id{};
};

/// What validation needs to know about the queue.
struct sqs_queue_options {
    bool fifo = false;
    bool content_based_deduplication = false;
};

enum class sqs_problem {
    none,
    empty_body,
    invalid_utf8,
    invalid_character,
    message_too_large,
    too_many_attributes,
    invalid_attribute_name,
    duplicate_attribute_name,
    invalid_attribute_type,
    invalid_attribute_value,
    delay_out_of_range,
    delay_on_fifo,
    missing_group_id,
    invalid_group_id,
    missing_deduplication_id,
    invalid_deduplication_id,
    deduplication_id_on_standard,
    invalid_entry_id,
    duplicate_entry_id,
    empty_batch,
    too_many_entries,
    batch_too_large,
};

[[nodiscard]] inline std::string_view to_string(sqs_problem p) noexcept {
    switch (p) {
    case sqs_problem::none: return "none";
    case sqs_problem::empty_body: return "empty_body";
    case sqs_problem::invalid_utf8: return "invalid_utf8";
    case sqs_problem::invalid_character: return "invalid_character";
    case sqs_problem::message_too_large: return "message_too_large";
    case sqs_problem::too_many_attributes: return "too_many_attributes";
    case sqs_problem::invalid_attribute_name: return "invalid_attribute_name";
    case sqs_problem::duplicate_attribute_name: return "duplicate_attribute_name";
    case sqs_problem::invalid_attribute_type: return "invalid_attribute_type";
    case sqs_problem::invalid_attribute_value: return "invalid_attribute_value";
    case sqs_problem::delay_out_of_range: return "delay_out_of_range";
    case sqs_problem::delay_on_fifo: return "delay_on_fifo";
    case sqs_problem::missing_group_id: return "missing_group_id";
    case sqs_problem::invalid_group_id: return "invalid_group_id";
    case sqs_problem::missing_deduplication_id: return "missing_deduplication_id";
    case sqs_problem::invalid_deduplication_id: return "invalid_deduplication_id";
    case sqs_problem::deduplication_id_on_standard: return "deduplication_id_on_standard";
    case sqs_problem::invalid_entry_id: return "invalid_entry_id";
    case sqs_problem::duplicate_entry_id: return "duplicate_entry_id";
    case sqs_problem::empty_batch: return "empty_batch";
    case sqs_problem::too_many_entries: return "too_many_entries";
    case sqs_problem::batch_too_large: return "batch_too_large";
    }
    return "unknown";
}

/// The outcome of a validation: ok(), or the problem and a reason fit for logs and results.
struct sqs_validation {
    sqs_problem problem = sqs_problem::none;
    std::string reason{};

    [[nodiscard]] bool ok() const noexcept { return problem == sqs_problem::none; }
    [[nodiscard]] static sqs_validation valid() { return {}; }
    [[nodiscard]] static sqs_validation fail(sqs_problem p, std::string why) { return {p, std::move(why)}; }
};

/// What SQS counts against max_message_bytes: the body plus each attribute's name, data type and value.
[[nodiscard]] inline std::size_t sqs_message_size(const sqs_message& m) noexcept {
    std::size_t n = m.body.size();
    for (const auto& a : m.attributes) n += a.name.size() + a.data_type.size() + a.value.size();
    return n;
}

} // namespace sluice::aws

namespace sluice::detail::sqs {

// --- text checks ---------------------------------------------------------------------------------

enum class text_status { ok, invalid_utf8, invalid_character };

struct text_check {
    text_status status = text_status::ok;
    /// Byte offset of the offending sequence.
    std::size_t offset = 0;
    /// The code point, for invalid_character.
    std::uint32_t code_point = 0;
    /// Why the UTF-8 is invalid, for invalid_utf8.
    std::string_view detail{};
};

/// True when the 16 (or 8) bytes at p are all ASCII in 0x20..0x7F, which SQS accepts as they are.
inline bool plain_ascii_block(const char* p) noexcept {
#if defined(__SSE2__)
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // A byte < 0x20 or >= 0x80 (signed: negative, or below 0x20).
    const __m128i low = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
    return _mm_movemask_epi8(low) == 0;
#else
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    constexpr std::uint64_t ones = 0x0101010101010101ULL;
    constexpr std::uint64_t highs = 0x8080808080808080ULL;
    return ((w | ((w - ones * 0x20) & ~w)) & highs) == 0;
#endif
}

#if defined(__SSE2__)
inline constexpr std::size_t block_size = 16;
#else
inline constexpr std::size_t block_size = 8;
#endif

/// Checks that `text` is valid UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF) made
/// only of the characters SQS accepts: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
inline text_check check_text(std::string_view text) noexcept {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t i = 0;
    auto bad_utf8 = [&](std::string_view why) { return text_check{text_status::invalid_utf8, i, 0, why}; };
    auto cont = [&](std::size_t k) { return i + k < n && (s[i + k] & 0xC0) == 0x80; };
    while (i < n) {
        if (i + block_size <= n && plain_ascii_block(text.data() + i)) {
            i += block_size;
            continue;
        }
        const unsigned char c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != 0x09 && c != 0x0A && c != 0x0D) return {text_status::invalid_character, i, c, {}};
            ++i;
            continue;
        }
        std::uint32_t cp = 0;
        std::size_t len = 0;
        if (c < 0xC0) return bad_utf8("unexpected continuation byte");
        if (c < 0xC2) return bad_utf8("overlong encoding");
        if (c < 0xE0) {
            if (!cont(1)) return bad_utf8(i + 1 >= n ? "truncated sequence" : "missing continuation byte");
            cp = ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
            len = 2;
        } else if (c < 0xF0) {
            for (std::size_t k = 1; k < 3; ++k)
                if (!cont(k)) return bad_utf8(i + k >= n ? "truncated sequence" : "missing continuation byte");
            cp = ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
            if (cp < 0x800) return bad_utf8("overlong encoding");
            if (cp >= 0xD800 && cp <= 0xDFFF) return bad_utf8("surrogate code point");
            len = 3;
        } else if (c < 0xF5) {
            for (std::size_t k = 1; k < 4; ++k)
                if (!cont(k)) return bad_utf8(i + k >= n ? "truncated sequence" : "missing continuation byte");
            cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu);
            if (cp < 0x10000) return bad_utf8("overlong encoding");
            if (cp > 0x10FFFF) return bad_utf8("code point above U+10FFFF");
            len = 4;
        } else {
            return bad_utf8("invalid byte");
        }
        if (cp == 0xFFFE || cp == 0xFFFF) return {text_status::invalid_character, i, cp, {}};
        i += len;
    }
    return {};
}

inline void append_hex(std::string& out, std::uint32_t v, int min_digits) {
    char buf[8];
    const auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v, 16);
    (void)ec;
    for (int k = static_cast<int>(ptr - buf); k < min_digits; ++k) out += '0';
    for (const char* p = buf; p != ptr; ++p) out += static_cast<char>(*p >= 'a' ? *p - 32 : *p);
}

/// "message body: invalid UTF-8 at byte 17 (overlong encoding)", "... character U+0001 at byte 3 is
/// not allowed by SQS".
inline std::string describe(const text_check& c, std::string_view what) {
    std::string out(what);
    if (c.status == text_status::invalid_utf8) {
        out += ": invalid UTF-8 at byte ";
        out += std::to_string(c.offset);
        out += " (";
        out += c.detail;
        out += ')';
    } else {
        out += ": character U+";
        append_hex(out, c.code_point, 4);
        out += " at byte ";
        out += std::to_string(c.offset);
        out += " is not allowed by SQS (allowed: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF)";
    }
    return out;
}

inline bool is_id_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/// Alphanumerics and punctuation !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~: printable ASCII but the space.
inline bool is_group_id_char(char c) noexcept { return c > 0x20 && c < 0x7F; }

/// SQS's Number: optional sign, digits with an optional fraction, optional exponent; at most 38
/// significant digits.
inline bool is_sqs_number(std::string_view v) noexcept {
    std::size_t i = 0;
    if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
    std::size_t digits = 0, significant = 0;
    bool leading = true;
    auto take_digits = [&] {
        while (i < v.size() && v[i] >= '0' && v[i] <= '9') {
            if (v[i] != '0') leading = false;
            if (!leading) ++significant;
            ++digits;
            ++i;
        }
    };
    take_digits();
    if (i < v.size() && v[i] == '.') {
        ++i;
        take_digits();
    }
    if (digits == 0 || significant > 38) return false;
    if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
        ++i;
        if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
        const std::size_t start = i;
        while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
        if (i == start) return false;
    }
    return i == v.size();
}

inline std::string attribute_label(std::size_t index) {
    return "message attribute " + std::to_string(index);
}

inline aws::sqs_validation check_attribute(const aws::sqs_attribute& a, std::size_t index, const aws::sqs_limits& limits) {
    using aws::sqs_problem;
    using aws::sqs_validation;
    const std::string_view name = a.name;
    if (name.empty()) return sqs_validation::fail(sqs_problem::invalid_attribute_name, attribute_label(index) + ": the name is empty");
    if (name.size() > limits.max_attribute_name_length)
        return sqs_validation::fail(sqs_problem::invalid_attribute_name,
                                    attribute_label(index) + ": the name is " + std::to_string(name.size()) +
                                        " characters, the limit is " + std::to_string(limits.max_attribute_name_length));
    for (std::size_t k = 0; k < name.size(); ++k)
        if (!is_id_char(name[k]) && name[k] != '.')
            return sqs_validation::fail(sqs_problem::invalid_attribute_name,
                                        attribute_label(index) + ": the name has a character other than A-Z a-z 0-9 _ - . at position " +
                                            std::to_string(k));
    if (name.front() == '.' || name.back() == '.' || name.find("..") != std::string_view::npos)
        return sqs_validation::fail(sqs_problem::invalid_attribute_name,
                                    attribute_label(index) + " (" + a.name +
                                        "): a name may not start or end with '.' or hold '..'");
    if (aws_error::istarts_with(name, "AWS.") || aws_error::istarts_with(name, "Amazon."))
        return sqs_validation::fail(sqs_problem::invalid_attribute_name,
                                    attribute_label(index) + " (" + a.name + "): the prefixes AWS. and Amazon. are reserved");

    const std::string_view type = a.data_type;
    bool known = false;
    bool textual = true;
    for (std::string_view base : {std::string_view("String"), std::string_view("Number"), std::string_view("Binary")}) {
        if (type.starts_with(base) && (type.size() == base.size() || (type[base.size()] == '.' && type.size() > base.size() + 1))) {
            known = true;
            textual = base != "Binary";
        }
    }
    if (!known)
        return sqs_validation::fail(sqs_problem::invalid_attribute_type,
                                    attribute_label(index) + " (" + a.name +
                                        "): the data type must be String, Number or Binary, optionally followed by .label");
    if (type.size() > limits.max_attribute_type_length)
        return sqs_validation::fail(sqs_problem::invalid_attribute_type,
                                    attribute_label(index) + " (" + a.name + "): the data type is longer than " +
                                        std::to_string(limits.max_attribute_type_length) + " characters");
    if (const text_check c = check_text(type); c.status != text_status::ok)
        return sqs_validation::fail(sqs_problem::invalid_attribute_type, describe(c, attribute_label(index) + " data type"));
    if (a.value.empty())
        return sqs_validation::fail(sqs_problem::invalid_attribute_value,
                                    attribute_label(index) + " (" + a.name + "): the value is empty");
    if (textual) {
        if (const text_check c = check_text(a.value); c.status != text_status::ok)
            return sqs_validation::fail(sqs_problem::invalid_attribute_value,
                                        describe(c, attribute_label(index) + " (" + a.name + ") value"));
        if (type.starts_with("Number") && !is_sqs_number(a.value))
            return sqs_validation::fail(sqs_problem::invalid_attribute_value,
                                        attribute_label(index) + " (" + a.name +
                                            "): not a Number (digits, optional sign, fraction and exponent; at most 38 significant digits)");
    }
    return sqs_validation::valid();
}

inline aws::sqs_validation check_fifo_id(std::string_view id, std::size_t max, aws::sqs_problem problem, std::string_view what) {
    if (id.size() > max)
        return aws::sqs_validation::fail(problem, std::string(what) + " is " + std::to_string(id.size()) +
                                                      " characters, the limit is " + std::to_string(max));
    for (std::size_t k = 0; k < id.size(); ++k)
        if (!is_group_id_char(id[k]))
            return aws::sqs_validation::fail(problem, std::string(what) +
                                                          " may hold only alphanumerics and punctuation; position " +
                                                          std::to_string(k) + " holds something else");
    return aws::sqs_validation::valid();
}

// --- JSON encoding -------------------------------------------------------------------------------

/// Per byte: 0 when copied as it is, else the character after the backslash ('u' for \u00XX).
inline constexpr std::array<char, 256> escape_table = [] {
    std::array<char, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[static_cast<std::size_t>(c)] = 'u';
    t['\b'] = 'b';
    t['\f'] = 'f';
    t['\n'] = 'n';
    t['\r'] = 'r';
    t['\t'] = 't';
    t['"'] = '"';
    t['\\'] = '\\';
    return t;
}();

/// Output bytes of one escaped byte.
inline constexpr std::size_t escape_width(unsigned char c) noexcept {
    const char e = escape_table[c];
    return e == 0 ? 1 : (e == 'u' ? 6 : 2);
}

#if defined(__SSE2__)
/// Bit k set when byte k of the 16 at p needs escaping ('"', '\\' or below 0x20).
inline unsigned special_mask(const char* p) noexcept {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
    const __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
    const __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F));
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)));
}
inline unsigned control_mask(const char* p) noexcept {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return static_cast<unsigned>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F))));
}
#else
/// True when one of the 8 bytes at p needs escaping (exact as a yes/no answer).
inline bool has_special8(const char* p) noexcept {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    constexpr std::uint64_t ones = 0x0101010101010101ULL;
    constexpr std::uint64_t highs = 0x8080808080808080ULL;
    auto has_zero = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
    const std::uint64_t below = (w - ones * 0x20) & ~w & highs;
    return (below | has_zero(w ^ (ones * '"')) | has_zero(w ^ (ones * '\\'))) != 0;
}
#endif

/// Exact size of `s` once escaped (without the quotes).
inline std::size_t escaped_size(std::string_view s) noexcept {
    std::size_t n = s.size();
    std::size_t i = 0;
#if defined(__SSE2__)
    for (; i + 16 <= s.size(); i += 16) {
        const unsigned m = special_mask(s.data() + i);
        if (m == 0) continue;
        n += static_cast<std::size_t>(std::popcount(m)); // one extra byte each: \" \\ \n ...
        for (unsigned c = control_mask(s.data() + i); c != 0; c &= c - 1)
            if (escape_table[static_cast<unsigned char>(s[i + static_cast<std::size_t>(std::countr_zero(c))])] == 'u') n += 4;
    }
#else
    for (; i + 8 <= s.size(); i += 8) {
        if (!has_special8(s.data() + i)) continue;
        for (std::size_t k = 0; k < 8; ++k) n += escape_width(static_cast<unsigned char>(s[i + k])) - 1;
    }
#endif
    for (; i < s.size(); ++i) n += escape_width(static_cast<unsigned char>(s[i])) - 1;
    return n;
}

inline char* write_escape(char* dst, unsigned char c) noexcept {
    constexpr char hex[] = "0123456789abcdef";
    const char e = escape_table[c];
    dst[0] = '\\';
    if (e != 'u') {
        dst[1] = e;
        return dst + 2;
    }
    dst[1] = 'u';
    dst[2] = '0';
    dst[3] = '0';
    dst[4] = hex[c >> 4];
    dst[5] = hex[c & 0x0F];
    return dst + 6;
}

/// Writes `s` escaped at dst and returns the end. May write up to 16 bytes past the end it returns
/// (write_slack; the caller leaves room): runs are copied 16 bytes at a time.
inline char* write_escaped(char* dst, std::string_view s) noexcept {
    const char* src = s.data();
    const std::size_t n = s.size();
    std::size_t i = 0;
#if defined(__SSE2__)
    // Whole blocks while a 16-byte load from anywhere in the block stays inside `s`.
    for (; i + 32 <= n; i += 16) {
        unsigned m = special_mask(src + i);
        if (m == 0) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
            dst += 16;
            continue;
        }
        std::size_t prev = 0;
        while (m != 0) {
            const auto b = static_cast<std::size_t>(std::countr_zero(m));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst),
                             _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + prev)));
            dst += b - prev;
            dst = write_escape(dst, static_cast<unsigned char>(src[i + b]));
            prev = b + 1;
            m &= m - 1;
        }
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + prev)));
        dst += 16 - prev;
    }
#else
    for (; i + 8 <= n; i += 8) {
        if (!has_special8(src + i)) {
            std::memcpy(dst, src + i, 8);
            dst += 8;
            continue;
        }
        for (std::size_t k = 0; k < 8; ++k) {
            const auto c = static_cast<unsigned char>(src[i + k]);
            if (escape_table[c] == 0) *dst++ = static_cast<char>(c);
            else dst = write_escape(dst, c);
        }
    }
#endif
    for (; i < n; ++i) {
        const auto c = static_cast<unsigned char>(src[i]);
        if (escape_table[c] == 0) *dst++ = static_cast<char>(c);
        else dst = write_escape(dst, c);
    }
    return dst;
}

inline constexpr std::size_t base64_size(std::size_t n) noexcept { return (n + 2) / 3 * 4; }

inline char* write_base64(char* dst, std::string_view bytes) noexcept {
    constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::size_t n = bytes.size();
    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        const std::uint32_t v = (std::uint32_t{s[i]} << 16) | (std::uint32_t{s[i + 1]} << 8) | s[i + 2];
        dst[0] = alphabet[v >> 18];
        dst[1] = alphabet[(v >> 12) & 63];
        dst[2] = alphabet[(v >> 6) & 63];
        dst[3] = alphabet[v & 63];
        dst += 4;
    }
    if (const std::size_t rest = n - i; rest != 0) {
        const std::uint32_t v = (std::uint32_t{s[i]} << 16) | (rest == 2 ? std::uint32_t{s[i + 1]} << 8 : 0u);
        dst[0] = alphabet[v >> 18];
        dst[1] = alphabet[(v >> 12) & 63];
        dst[2] = rest == 2 ? alphabet[(v >> 6) & 63] : '=';
        dst[3] = '=';
        dst += 4;
    }
    return dst;
}

/// Two emitters walk the same encoding code: one counts the bytes, one writes them. So the size the
/// string grows to is exactly what is written.
struct size_counter {
    std::size_t n = 0;
    void raw(std::string_view s) noexcept { n += s.size(); }
    void escaped(std::string_view s) noexcept { n += escaped_size(s); }
    void base64(std::string_view s) noexcept { n += base64_size(s.size()); }
    void integer(int v) noexcept {
        char buf[16];
        n += static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf);
    }
};

struct pointer_writer {
    char* p;
    void raw(std::string_view s) noexcept {
        std::memcpy(p, s.data(), s.size());
        p += s.size();
    }
    void escaped(std::string_view s) noexcept { p = write_escaped(p, s); }
    void base64(std::string_view s) noexcept { p = write_base64(p, s); }
    void integer(int v) noexcept { p = std::to_chars(p, p + 16, v).ptr; }
};

/// Bytes write_escaped may touch past its end.
inline constexpr std::size_t write_slack = 16;

template <class E>
void emit_entry_fields(E& e, const aws::sqs_message& m) {
    e.raw("\"MessageBody\":\"");
    e.escaped(m.body);
    e.raw("\"");
    if (m.delay_seconds) {
        e.raw(",\"DelaySeconds\":");
        e.integer(*m.delay_seconds);
    }
    if (!m.attributes.empty()) {
        e.raw(",\"MessageAttributes\":{");
        bool first = true;
        for (const auto& a : m.attributes) {
            e.raw(first ? "\"" : ",\"");
            first = false;
            e.escaped(a.name);
            e.raw("\":{\"DataType\":\"");
            e.escaped(a.data_type);
            if (a.is_binary()) {
                e.raw("\",\"BinaryValue\":\"");
                e.base64(a.value);
            } else {
                e.raw("\",\"StringValue\":\"");
                e.escaped(a.value);
            }
            e.raw("\"}");
        }
        e.raw("}");
    }
    if (!m.group_id.empty()) {
        e.raw(",\"MessageGroupId\":\"");
        e.escaped(m.group_id);
        e.raw("\"");
    }
    if (!m.deduplication_id.empty()) {
        e.raw(",\"MessageDeduplicationId\":\"");
        e.escaped(m.deduplication_id);
        e.raw("\"");
    }
}

template <class E>
void emit_batch_head(E& e, std::string_view queue_url) {
    e.raw("{\"QueueUrl\":\"");
    e.escaped(queue_url);
    e.raw("\",\"Entries\":[");
}

template <class E>
void emit_entry_head(E& e, std::string_view id, bool first) {
    e.raw(first ? "{\"Id\":\"" : ",{\"Id\":\"");
    e.escaped(id);
    e.raw("\",");
}

/// Runs `emit(emitter)` twice: to size, then to write into `out` grown once.
template <class F>
void append_exact(std::string& out, F&& emit) {
    size_counter counter;
    emit(counter);
    const std::size_t start = out.size();
    out.resize(start + counter.n + write_slack);
    pointer_writer writer{out.data() + start};
    emit(writer);
    out.resize(start + counter.n);
}

#if SLUICE_SQS_MD5
/// MD5 on a reused OpenSSL context, fetched on first use. Unavailable (FIPS providers) means no check.
class md5_hasher {
public:
    md5_hasher() = default;
    md5_hasher(const md5_hasher&) = delete;
    md5_hasher& operator=(const md5_hasher&) = delete;
    ~md5_hasher() {
        EVP_MD_CTX_free(ctx_);
        EVP_MD_free(md_);
    }

    /// Lower-case hex MD5 of `data` into out[32]; false when MD5 is unavailable.
    bool hex_digest(std::string_view data, char* out) noexcept {
        if (!ready()) return false;
        unsigned char digest[16];
        unsigned int size = 0;
        if (EVP_DigestInit_ex2(ctx_, md_, nullptr) != 1 || EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1 ||
            EVP_DigestFinal_ex(ctx_, digest, &size) != 1 || size != 16)
            return false;
        constexpr char hex[] = "0123456789abcdef";
        for (int k = 0; k < 16; ++k) {
            out[2 * k] = hex[digest[k] >> 4];
            out[2 * k + 1] = hex[digest[k] & 0x0F];
        }
        return true;
    }

private:
    bool ready() noexcept {
        if (md_ && ctx_) return true;
        if (tried_) return false;
        tried_ = true;
        md_ = EVP_MD_fetch(nullptr, "MD5", nullptr);
        ctx_ = EVP_MD_CTX_new();
        return md_ && ctx_;
    }

    EVP_MD* md_ = nullptr;
    EVP_MD_CTX* ctx_ = nullptr;
    bool tried_ = false;
};
#endif

} // namespace sluice::detail::sqs

namespace sluice::aws {

/// Checks text the way SQS will (valid UTF-8 of allowed characters). `what` names it in the reason.
[[nodiscard]] inline sqs_validation validate_sqs_text(std::string_view text, std::string_view what = "message body") {
    const auto c = sluice::detail::sqs::check_text(text);
    if (c.status == sluice::detail::sqs::text_status::ok) return sqs_validation::valid();
    return sqs_validation::fail(c.status == sluice::detail::sqs::text_status::invalid_utf8 ? sqs_problem::invalid_utf8
                                                                                          : sqs_problem::invalid_character,
                                sluice::detail::sqs::describe(c, what));
}

/// An entry id: 1 to max_entry_id_length characters of A-Z a-z 0-9 - _.
[[nodiscard]] inline sqs_validation validate_sqs_entry_id(std::string_view id, const sqs_limits& limits = {}) {
    if (id.empty()) return sqs_validation::fail(sqs_problem::invalid_entry_id, "entry id is empty");
    if (id.size() > limits.max_entry_id_length)
        return sqs_validation::fail(sqs_problem::invalid_entry_id, "entry id is " + std::to_string(id.size()) +
                                                                       " characters, the limit is " +
                                                                       std::to_string(limits.max_entry_id_length));
    for (std::size_t k = 0; k < id.size(); ++k)
        if (!sluice::detail::sqs::is_id_char(id[k]))
            return sqs_validation::fail(sqs_problem::invalid_entry_id,
                                        "entry id may hold only A-Z a-z 0-9 - _; position " + std::to_string(k) +
                                            " holds something else");
    return sqs_validation::valid();
}

/// Everything SQS would check about one message, so that a message it would refuse is refused before
/// it is batched. Cheap checks first; the body is scanned last.
[[nodiscard]] inline sqs_validation validate_sqs_message(const sqs_message& m, const sqs_queue_options& queue = {},
                                                         const sqs_limits& limits = {}) {
    namespace d = sluice::detail::sqs;
    if (m.body.empty()) return sqs_validation::fail(sqs_problem::empty_body, "message body is empty");
    const std::size_t size = sqs_message_size(m);
    if (size > limits.max_message_bytes)
        return sqs_validation::fail(sqs_problem::message_too_large,
                                    "message is " + std::to_string(size) + " bytes (body " + std::to_string(m.body.size()) +
                                        ", attributes " + std::to_string(size - m.body.size()) + "), the limit is " +
                                        std::to_string(limits.max_message_bytes));
    if (m.attributes.size() > limits.max_attributes)
        return sqs_validation::fail(sqs_problem::too_many_attributes,
                                    "message has " + std::to_string(m.attributes.size()) + " attributes, the limit is " +
                                        std::to_string(limits.max_attributes));
    for (std::size_t i = 0; i < m.attributes.size(); ++i) {
        if (auto v = d::check_attribute(m.attributes[i], i, limits); !v.ok()) return v;
        for (std::size_t j = 0; j < i; ++j)
            if (m.attributes[j].name == m.attributes[i].name)
                return sqs_validation::fail(sqs_problem::duplicate_attribute_name,
                                            d::attribute_label(i) + " (" + m.attributes[i].name +
                                                "): the name is already used by attribute " + std::to_string(j));
    }
    if (m.delay_seconds) {
        if (queue.fifo)
            return sqs_validation::fail(sqs_problem::delay_on_fifo,
                                        "FIFO queues take no per-message DelaySeconds; set the delay on the queue");
        if (*m.delay_seconds < 0 || *m.delay_seconds > limits.max_delay_seconds)
            return sqs_validation::fail(sqs_problem::delay_out_of_range,
                                        "DelaySeconds " + std::to_string(*m.delay_seconds) + " is outside 0-" +
                                            std::to_string(limits.max_delay_seconds));
    }
    if (m.group_id.empty()) {
        if (queue.fifo)
            return sqs_validation::fail(sqs_problem::missing_group_id, "FIFO queues need a MessageGroupId");
    } else if (auto v = d::check_fifo_id(m.group_id, limits.max_group_id_length, sqs_problem::invalid_group_id,
                                         "MessageGroupId");
               !v.ok()) {
        return v;
    }
    if (m.deduplication_id.empty()) {
        if (queue.fifo && !queue.content_based_deduplication)
            return sqs_validation::fail(sqs_problem::missing_deduplication_id,
                                        "FIFO queues without content-based deduplication need a MessageDeduplicationId");
    } else {
        if (!queue.fifo)
            return sqs_validation::fail(sqs_problem::deduplication_id_on_standard,
                                        "MessageDeduplicationId applies to FIFO queues only");
        if (auto v = d::check_fifo_id(m.deduplication_id, limits.max_deduplication_id_length,
                                      sqs_problem::invalid_deduplication_id, "MessageDeduplicationId");
            !v.ok())
            return v;
    }
    return validate_sqs_text(m.body, "message body");
}

/// What SQS checks about a batch as a whole: 1 to max_batch_entries entries, valid and distinct ids,
/// total size within max_batch_bytes. The messages themselves are assumed validated already.
[[nodiscard]] inline sqs_validation validate_sqs_batch(std::span<const std::string_view> ids,
                                                       std::span<const sqs_message> messages, const sqs_limits& limits = {}) {
    if (ids.size() != messages.size())
        return sqs_validation::fail(sqs_problem::invalid_entry_id, "the batch has " + std::to_string(messages.size()) +
                                                                       " messages but " + std::to_string(ids.size()) + " ids");
    if (ids.empty()) return sqs_validation::fail(sqs_problem::empty_batch, "the batch is empty");
    if (ids.size() > limits.max_batch_entries)
        return sqs_validation::fail(sqs_problem::too_many_entries, "the batch has " + std::to_string(ids.size()) +
                                                                       " entries, the limit is " +
                                                                       std::to_string(limits.max_batch_entries));
    std::size_t total = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (auto v = validate_sqs_entry_id(ids[i], limits); !v.ok()) {
            v.reason = "entry " + std::to_string(i) + ": " + v.reason;
            return v;
        }
        for (std::size_t j = 0; j < i; ++j)
            if (ids[j] == ids[i])
                return sqs_validation::fail(sqs_problem::duplicate_entry_id, "entries " + std::to_string(j) + " and " +
                                                                                 std::to_string(i) + " have the same id");
        total += sqs_message_size(messages[i]);
    }
    if (total > limits.max_batch_bytes)
        return sqs_validation::fail(sqs_problem::batch_too_large, "the batch's messages total " + std::to_string(total) +
                                                                      " bytes, the limit is " +
                                                                      std::to_string(limits.max_batch_bytes));
    return sqs_validation::valid();
}

// --- encoding --------------------------------------------------------------------------------------

/// Exact size of one entry's fields as append_sqs_entry_fields writes them.
[[nodiscard]] inline std::size_t sqs_entry_fields_size(const sqs_message& m) noexcept {
    sluice::detail::sqs::size_counter c;
    sluice::detail::sqs::emit_entry_fields(c, m);
    return c.n;
}

/// Appends one entry's fields without its Id and braces: `"MessageBody":"...","DelaySeconds":5,...`.
/// What a sink can store as its record (encoded once, at submit) and splice into every attempt's
/// request with append_send_message_batch_encoded.
inline void append_sqs_entry_fields(std::string& out, const sqs_message& m) {
    sluice::detail::sqs::append_exact(out, [&](auto& e) { sluice::detail::sqs::emit_entry_fields(e, m); });
}

/// Appends a SendMessageBatch request body for `messages` with entry ids `ids` (same length).
inline void append_send_message_batch(std::string& out, std::string_view queue_url, std::span<const std::string_view> ids,
                                      std::span<const sqs_message> messages) {
    if (ids.size() != messages.size()) throw std::invalid_argument("sluice: SendMessageBatch needs one id per message");
    namespace d = sluice::detail::sqs;
    d::append_exact(out, [&](auto& e) {
        d::emit_batch_head(e, queue_url);
        for (std::size_t i = 0; i < ids.size(); ++i) {
            d::emit_entry_head(e, ids[i], i == 0);
            d::emit_entry_fields(e, messages[i]);
            e.raw("}");
        }
        e.raw("]}");
    });
}

/// The same from entries already encoded by append_sqs_entry_fields: the bodies are copied, not
/// escaped again.
inline void append_send_message_batch_encoded(std::string& out, std::string_view queue_url,
                                              std::span<const std::string_view> ids,
                                              std::span<const std::string_view> entry_fields) {
    if (ids.size() != entry_fields.size())
        throw std::invalid_argument("sluice: SendMessageBatch needs one id per entry");
    namespace d = sluice::detail::sqs;
    d::append_exact(out, [&](auto& e) {
        d::emit_batch_head(e, queue_url);
        for (std::size_t i = 0; i < ids.size(); ++i) {
            d::emit_entry_head(e, ids[i], i == 0);
            e.raw(entry_fields[i]);
            e.raw("}");
        }
        e.raw("]}");
    });
}

// --- the response ----------------------------------------------------------------------------------

/// What SQS returned for an entry it accepted. Views into the parser: valid until its next parse.
struct sqs_sent_entry {
    std::string_view message_id{};
    std::string_view md5_of_body{};
    /// FIFO queues only.
    std::string_view sequence_number{};
};

/// Reads SendMessageBatch responses (HTTP 200; other statuses are service errors: parse_service_error).
/// Keeps the simdjson parser and its buffers between calls: once warm, a response whose entries all
/// succeeded is read without allocating. Not thread-safe; one per sink.
class sqs_batch_response_parser {
public:
    /// Per batch entry (in the order of `ids`): ok, retry or reject. Every entry accepted gives
    /// batch_result::all_ok() (no per-entry list). A Failed entry is rejected when SenderFault is true,
    /// unless its code says throttling or a transient failure; otherwise retried (throttled for
    /// throttling codes). An entry in neither list is retried ("no result for entry"). A body that is
    /// not a JSON object fails the whole request as retryable.
    ///
    /// With `bodies` (the entries' message bodies, same order), each MD5OfMessageBody is checked and a
    /// mismatch is retried. That costs an MD5 of every body (about 2 us per 2 KiB body here), so it is
    /// opt-in, and needs OpenSSL 3 (without it `bodies` is ignored).
    [[nodiscard]] batch_result parse(std::string_view body, std::span<const std::string_view> ids,
                                     std::span<const std::string_view> bodies = {}) {
        return parse_impl(parser_.parse(body.data(), body.size(), true), ids, bodies);
    }

    /// The same, reading in place when `body` has SIMDJSON_PADDING (64) spare bytes of capacity (a
    /// template so that a string literal still picks the string_view overload).
    template <class String>
        requires std::same_as<String, std::string>
    [[nodiscard]] batch_result parse(const String& body, std::span<const std::string_view> ids,
                                     std::span<const std::string_view> bodies = {}) {
        return parse_impl(parser_.parse(body), ids, bodies);
    }

    /// After parse: what SQS returned for each entry (empty views for entries not accepted).
    [[nodiscard]] std::span<const sqs_sent_entry> sent() const noexcept { return sent_; }
    /// After parse: results naming an id that is not in the batch (ignored).
    [[nodiscard]] std::size_t unknown_entries() const noexcept { return unknown_; }

private:
    enum : unsigned char { no_result = 0, accepted = 1, failed = 2 };

    std::size_t find(std::span<const std::string_view> ids, std::string_view id, std::size_t guess) const noexcept {
        // Results usually come in request order: try the expected position first.
        if (guess < ids.size() && ids[guess] == id) return guess;
        for (std::size_t i = 0; i < ids.size(); ++i)
            if (ids[i] == id) return i;
        return ids.size();
    }

    /// simdjson's get() must not be ignored (GCC will not take a (void) cast): this says so once.
    template <class T>
    static bool read(simdjson::simdjson_result<T>&& r, T& out) noexcept {
        return std::move(r).get(out) == simdjson::SUCCESS;
    }

    static entry_result failed_entry(std::string_view code, std::string_view message, bool sender_fault) {
        std::string why(code.empty() ? std::string_view("unknown error") : code.substr(0, 128));
        const std::string clean = sluice::detail::aws_error::clean_message(message, 512);
        if (!clean.empty()) {
            why += ": ";
            why += clean;
        }
        if (is_throttling_code(code)) return entry_result::retry(std::move(why), true);
        if (is_transient_code(code) || !sender_fault) return entry_result::retry(std::move(why));
        return entry_result::reject(std::move(why));
    }

    batch_result parse_impl(simdjson::simdjson_result<simdjson::dom::element> parsed,
                            std::span<const std::string_view> ids, std::span<const std::string_view> bodies) {
        if (!bodies.empty() && bodies.size() != ids.size())
            throw std::invalid_argument("sluice: SendMessageBatch response check needs one body per entry");
        const std::size_t n = ids.size();
        sent_.assign(n, sqs_sent_entry{});
        state_.assign(n, no_result);
        unknown_ = 0;

        simdjson::dom::object root;
        if (parsed.get_object().get(root) != simdjson::SUCCESS)
            return batch_result::failed(entry_result::retry("unreadable SendMessageBatch response (not a JSON object)"));

        batch_result result;
        auto ensure_entries = [&] {
            if (result.entries.empty()) result.entries.assign(n, entry_result::ok());
        };

        simdjson::dom::array successful;
        if (root["Successful"].get_array().get(successful) == simdjson::SUCCESS) {
            std::size_t guess = 0;
            for (simdjson::dom::element item : successful) {
                simdjson::dom::object o;
                std::string_view id;
                if (item.get_object().get(o) != simdjson::SUCCESS || o["Id"].get_string().get(id) != simdjson::SUCCESS) {
                    ++unknown_;
                    continue;
                }
                const std::size_t at = find(ids, id, guess);
                guess = at + 1;
                if (at == n || state_[at] != no_result) {
                    ++unknown_;
                    continue;
                }
                state_[at] = accepted;
                sqs_sent_entry& s = sent_[at];
                // Optional members: absent ones leave the view empty.
                read(o["MessageId"].get_string(), s.message_id);
                read(o["MD5OfMessageBody"].get_string(), s.md5_of_body);
                read(o["SequenceNumber"].get_string(), s.sequence_number);
#if SLUICE_SQS_MD5
                if (!bodies.empty() && !md5_matches(bodies[at], s.md5_of_body)) {
                    ensure_entries();
                    result.entries[at] = entry_result::retry("MD5OfMessageBody does not match the body sent");
                }
#endif
            }
        }

        simdjson::dom::array failed_list;
        if (root["Failed"].get_array().get(failed_list) == simdjson::SUCCESS) {
            std::size_t guess = 0;
            for (simdjson::dom::element item : failed_list) {
                simdjson::dom::object o;
                std::string_view id;
                if (item.get_object().get(o) != simdjson::SUCCESS || o["Id"].get_string().get(id) != simdjson::SUCCESS) {
                    ++unknown_;
                    continue;
                }
                const std::size_t at = find(ids, id, guess);
                guess = at + 1;
                if (at == n || state_[at] != no_result) {
                    ++unknown_;
                    continue;
                }
                state_[at] = failed;
                std::string_view code, message;
                bool sender_fault = false;
                read(o["Code"].get_string(), code);
                read(o["Message"].get_string(), message);
                read(o["SenderFault"].get_bool(), sender_fault);
                ensure_entries();
                result.entries[at] = failed_entry(code, message, sender_fault);
            }
        }

        for (std::size_t i = 0; i < n; ++i) {
            if (state_[i] != no_result) continue;
            ensure_entries();
            result.entries[i] = entry_result::retry("no result for entry");
        }
        return result;
    }

#if SLUICE_SQS_MD5
    bool md5_matches(std::string_view body, std::string_view expected) noexcept {
        char hex[32];
        if (!md5_.hex_digest(body, hex)) return true; // MD5 unavailable (FIPS): nothing to check against
        if (expected.size() != 32) return false;
        for (std::size_t k = 0; k < 32; ++k)
            if (sluice::detail::aws_error::lower(expected[k]) != hex[k]) return false;
        return true;
    }

    sluice::detail::sqs::md5_hasher md5_;
#endif
    simdjson::dom::parser parser_;
    std::vector<sqs_sent_entry> sent_;
    std::vector<unsigned char> state_;
    std::size_t unknown_ = 0;
};

} // namespace sluice::aws
