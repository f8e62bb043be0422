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
// refused at once and never poisons a batch. Encoding is cheap: the encoder sizes its output exactly,
// grows the string once, copies blocks that need no escaping as they are and expands the others with
// shuffles (SSSE3 or AVX2, chosen at run time; SSE2 and portable code elsewhere). A sink can encode
// each entry once, at submit (append_sqs_entry_fields), and splice the entries into every attempt's
// request (append_send_message_batch_encoded), which is little more than a copy.
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
#if defined(__SSE2__) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// SSSE3 and AVX2 code paths are compiled with target attributes and chosen at run time, so that a
// build for the x86-64 baseline still uses them where the CPU has them.
#define SLUICE_SQS_X86_DISPATCH 1
#include <immintrin.h>
#else
#define SLUICE_SQS_X86_DISPATCH 0
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

/// plain_ascii_block for the 64 bytes at p, with one test instead of four.
inline bool plain_ascii_chunk(const char* p) noexcept {
    const __m128i limit = _mm_set1_epi8(0x20);
    __m128i low = _mm_cmplt_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), limit);
    low = _mm_or_si128(low, _mm_cmplt_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)), limit));
    low = _mm_or_si128(low, _mm_cmplt_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32)), limit));
    low = _mm_or_si128(low, _mm_cmplt_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 48)), limit));
    return _mm_movemask_epi8(low) == 0;
}
#else
inline constexpr std::size_t block_size = 8;

inline bool plain_ascii_chunk(const char* p) noexcept {
    for (int k = 0; k < 8; ++k)
        if (!plain_ascii_block(p + 8 * k)) return false;
    return true;
}
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
        // Plain ASCII, most text: 64 bytes, then 16, at a time.
        if (i + 64 <= n && plain_ascii_chunk(text.data() + i)) {
            i += 64;
            continue;
        }
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
/// Bit k set when byte k of the 16 at p needs escaping ('"', '\\' or below 0x20); `control` gets the
/// bits of the bytes below 0x20 alone.
inline unsigned special_mask(const char* p, unsigned& control) noexcept {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
    const __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
    const __m128i below = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F));
    control = static_cast<unsigned>(_mm_movemask_epi8(below));
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), below)));
}

/// The same for the 64 bytes at p.
inline std::uint64_t special_mask64(const char* p, std::uint64_t& control) noexcept {
    std::uint64_t special = 0;
    control = 0;
    for (int k = 0; k < 4; ++k) {
        unsigned c = 0;
        special |= std::uint64_t{special_mask(p + 16 * k, c)} << (16 * k);
        control |= std::uint64_t{c} << (16 * k);
    }
    return special;
}

inline void copy16(char* dst, const char* src) noexcept {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
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

/// Exact size of `s` once escaped (without the quotes), with SSE2 (or 8 bytes at a time without).
inline std::size_t escaped_size_portable(std::string_view s) noexcept {
    std::size_t n = s.size();
    std::size_t i = 0;
#if defined(__SSE2__)
    // Byte-wide counters of the bytes to escape (one extra output byte each) and of the control
    // characters among them, summed before they can wrap: no branch per block.
    const std::size_t vector_end = s.size() / 16 * 16;
    std::size_t controls = 0;
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i c1f = _mm_set1_epi8(0x1F);
    const __m128i zero = _mm_setzero_si128();
    auto sum = [&zero](__m128i counters) {
        const __m128i s2 = _mm_sad_epu8(counters, zero);
        return static_cast<std::size_t>(_mm_cvtsi128_si64(s2) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(s2, s2)));
    };
    while (i < vector_end) {
        __m128i specials = zero;
        __m128i below = zero;
        const std::size_t stop = std::min(vector_end, i + 255 * 16);
        for (; i < stop; i += 16) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
            const __m128i b = _mm_cmpeq_epi8(_mm_max_epu8(v, c1f), c1f);
            specials = _mm_sub_epi8(specials, _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)), b));
            below = _mm_sub_epi8(below, b);
        }
        n += sum(specials);
        controls += sum(below);
    }
    // Rare: control characters written \u00XX take four bytes more than the one counted.
    if (controls != 0)
        for (std::size_t k = 0; k < vector_end; ++k)
            if (escape_table[static_cast<unsigned char>(s[k])] == 'u') n += 4;
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

inline char* write_escaped_bytes(char* dst, const char* src, std::size_t n) noexcept {
    for (std::size_t k = 0; k < n; ++k) {
        const auto c = static_cast<unsigned char>(src[k]);
        if (escape_table[c] == 0) *dst++ = static_cast<char>(c);
        else dst = write_escape(dst, c);
    }
    return dst;
}

#if SLUICE_SQS_X86_DISPATCH
/// For an 8-bit mask k of the bytes to escape among 8: the pshufb indices that spread the 8 bytes
/// over 8 + popcount(k) positions leaving a gap before each escaped one (0x80 gives a zero there),
/// and the backslashes that fill the gaps.
struct expansion_tables {
    alignas(16) unsigned char shuffle[256][16];
    alignas(16) unsigned char backslash[256][16];
    /// 8 + popcount(k): a table, as popcnt is not in the x86-64 baseline.
    unsigned char width[256];
};

inline constexpr expansion_tables make_expansion_tables() {
    expansion_tables t{};
    for (unsigned k = 0; k < 256; ++k) {
        unsigned o = 0;
        for (unsigned j = 0; j < 8; ++j) {
            if ((k >> j) & 1u) {
                t.shuffle[k][o] = 0x80;
                t.backslash[k][o] = '\\';
                ++o;
            }
            t.shuffle[k][o] = static_cast<unsigned char>(j);
            ++o;
        }
        t.width[k] = static_cast<unsigned char>(o);
        for (; o < 16; ++o) t.shuffle[k][o] = 0x80;
    }
    return t;
}

inline constexpr expansion_tables expansion = make_expansion_tables();

/// Expands one 16-byte block with only '"' and '\\' to escape (mask m, not zero) at dst.
__attribute__((target("ssse3"))) inline char* expand_block_ssse3(char* dst, __m128i v, unsigned m) noexcept {
    const unsigned lo = m & 0xFFu;
    const unsigned hi = m >> 8;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst),
                     _mm_or_si128(_mm_shuffle_epi8(v, _mm_load_si128(reinterpret_cast<const __m128i*>(expansion.shuffle[lo]))),
                                  _mm_load_si128(reinterpret_cast<const __m128i*>(expansion.backslash[lo]))));
    dst += expansion.width[lo];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst),
                     _mm_or_si128(_mm_shuffle_epi8(_mm_srli_si128(v, 8),
                                                   _mm_load_si128(reinterpret_cast<const __m128i*>(expansion.shuffle[hi]))),
                                  _mm_load_si128(reinterpret_cast<const __m128i*>(expansion.backslash[hi]))));
    return dst + expansion.width[hi];
}

/// The SSSE3 escaper: every 16-byte block with only '"' and '\\' to escape is expanded with two
/// shuffles, whatever their number (JSON bodies have one in ten). Returns where it stopped (a
/// multiple of 16); the caller finishes the tail. Called only when the CPU has SSSE3.
__attribute__((target("ssse3"))) inline char* write_escaped_ssse3(char* dst, const char* src, std::size_t n,
                                                                 std::size_t& done) noexcept {
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        unsigned control = 0;
        const unsigned m = special_mask(src + i, control);
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
        if (m == 0) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), v);
            dst += 16;
            continue;
        }
        if (control != 0) {
            dst = write_escaped_bytes(dst, src + i, 16);
            continue;
        }
        dst = expand_block_ssse3(dst, v, m);
    }
    done = i;
    return dst;
}

/// The AVX2 escaper: 32-byte blocks, those without anything to escape stored as they are, the others
/// expanded 16 bytes at a time as in the SSSE3 escaper.
__attribute__((target("avx2"))) inline char* write_escaped_avx2(char* dst, const char* src, std::size_t n,
                                                               std::size_t& done) noexcept {
    const __m256i quote = _mm256_set1_epi8('"');
    const __m256i backslash = _mm256_set1_epi8('\\');
    const __m256i c1f = _mm256_set1_epi8(0x1F);
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
        const __m256i below = _mm256_cmpeq_epi8(_mm256_max_epu8(v, c1f), c1f);
        const auto m = static_cast<std::uint32_t>(_mm256_movemask_epi8(
            _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, backslash)), below)));
        if (m == 0) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), v);
            dst += 32;
            continue;
        }
        if (_mm256_movemask_epi8(below) != 0) {
            dst = write_escaped_bytes(dst, src + i, 32);
            continue;
        }
        const unsigned m0 = m & 0xFFFFu;
        const unsigned m1 = m >> 16;
        const __m128i v0 = _mm256_castsi256_si128(v);
        const __m128i v1 = _mm256_extracti128_si256(v, 1);
        if (m0 == 0) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), v0);
            dst += 16;
        } else {
            dst = expand_block_ssse3(dst, v0, m0);
        }
        if (m1 == 0) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), v1);
            dst += 16;
        } else {
            dst = expand_block_ssse3(dst, v1, m1);
        }
    }
    done = i;
    return dst;
}

/// escaped_size with AVX2: 32 bytes per step.
__attribute__((target("avx2"))) inline std::size_t escaped_size_avx2(std::string_view s) noexcept {
    std::size_t n = s.size();
    const std::size_t vector_end = s.size() / 32 * 32;
    std::size_t i = 0;
    std::size_t controls = 0;
    const __m256i quote = _mm256_set1_epi8('"');
    const __m256i backslash = _mm256_set1_epi8('\\');
    const __m256i c1f = _mm256_set1_epi8(0x1F);
    const __m256i zero = _mm256_setzero_si256();
    while (i < vector_end) {
        __m256i specials = zero;
        __m256i below = zero;
        const std::size_t stop = std::min(vector_end, i + 255 * 32);
        for (; i < stop; i += 32) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.data() + i));
            const __m256i b = _mm256_cmpeq_epi8(_mm256_max_epu8(v, c1f), c1f);
            specials = _mm256_sub_epi8(
                specials, _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, backslash)), b));
            below = _mm256_sub_epi8(below, b);
        }
        const __m256i s4 = _mm256_sad_epu8(specials, zero);
        n += static_cast<std::size_t>(_mm256_extract_epi64(s4, 0) + _mm256_extract_epi64(s4, 1) +
                                      _mm256_extract_epi64(s4, 2) + _mm256_extract_epi64(s4, 3));
        const __m256i c4 = _mm256_sad_epu8(below, zero);
        controls += static_cast<std::size_t>(_mm256_extract_epi64(c4, 0) + _mm256_extract_epi64(c4, 1) +
                                             _mm256_extract_epi64(c4, 2) + _mm256_extract_epi64(c4, 3));
    }
    if (controls != 0)
        for (std::size_t k = 0; k < vector_end; ++k)
            if (escape_table[static_cast<unsigned char>(s[k])] == 'u') n += 4;
    for (; i < s.size(); ++i) n += escape_width(static_cast<unsigned char>(s[i])) - 1;
    return n;
}

enum class simd_level { sse2, ssse3, avx2 };

/// What this CPU offers, detected once.
inline simd_level cpu_simd_level() noexcept {
    static const simd_level level = [] {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2")) return simd_level::avx2;
        if (__builtin_cpu_supports("ssse3")) return simd_level::ssse3;
        return simd_level::sse2;
    }();
    return level;
}
#endif

#if defined(__SSE2__)
/// The SSE2 escaper, for CPUs without SSSE3: 64-byte chunks while a 16-byte load from anywhere in the
/// chunk stays inside the input. A '"' or '\\' is escaped by a backslash before it: the run before
/// it is copied, then '\\', and the character itself starts the next run. Control characters (rare,
/// and SQS refuses most) take the byte loop. Returns where it stopped; the caller finishes the tail.
inline char* write_escaped_sse2(char* dst, const char* src, std::size_t n, std::size_t& done) noexcept {
    std::size_t i = 0;
    for (; i + 80 <= n; i += 64) {
        const char* chunk = src + i;
        std::uint64_t control = 0;
        std::uint64_t m = special_mask64(chunk, control);
        if (m == 0) {
            copy16(dst, chunk);
            copy16(dst + 16, chunk + 16);
            copy16(dst + 32, chunk + 32);
            copy16(dst + 48, chunk + 48);
            dst += 64;
            continue;
        }
        if (control != 0) {
            dst = write_escaped_bytes(dst, chunk, 64);
            continue;
        }
        std::size_t prev = 0;
        do {
            const auto b = static_cast<std::size_t>(std::countr_zero(m));
            const std::size_t run = b - prev;
            copy16(dst, chunk + prev);
            for (std::size_t k = 16; k < run; k += 16) copy16(dst + k, chunk + prev + k);
            dst += run;
            *dst++ = '\\';
            prev = b;
            m &= m - 1;
        } while (m != 0);
        const std::size_t rest = 64 - prev;
        for (std::size_t k = 0; k < rest; k += 16) copy16(dst + k, chunk + prev + k);
        dst += rest;
    }
    // The tail, 16 bytes at a time while a load from the block stays inside `s`.
    for (; i + 32 <= n; i += 16) {
        unsigned control = 0;
        unsigned m = special_mask(src + i, control);
        if (m == 0) {
            copy16(dst, src + i);
            dst += 16;
            continue;
        }
        if (control != 0) {
            dst = write_escaped_bytes(dst, src + i, 16);
            continue;
        }
        std::size_t prev = 0;
        do {
            const auto b = static_cast<std::size_t>(std::countr_zero(m));
            copy16(dst, src + i + prev);
            dst += b - prev;
            *dst++ = '\\';
            prev = b;
            m &= m - 1;
        } while (m != 0);
        copy16(dst, src + i + prev);
        dst += 16 - prev;
    }
    done = i;
    return dst;
}
#endif

/// Writes `s` escaped at dst and returns the end. May write up to 16 bytes past the end it returns
/// (write_slack; the caller leaves room): blocks are stored 16 bytes at a time.
inline char* write_escaped(char* dst, std::string_view s) noexcept {
    const char* src = s.data();
    const std::size_t n = s.size();
    std::size_t i = 0;
#if SLUICE_SQS_X86_DISPATCH
    switch (cpu_simd_level()) {
    case simd_level::avx2: dst = write_escaped_avx2(dst, src, n, i); break;
    case simd_level::ssse3: dst = write_escaped_ssse3(dst, src, n, i); break;
    case simd_level::sse2: dst = write_escaped_sse2(dst, src, n, i); break;
    }
#elif defined(__SSE2__)
    dst = write_escaped_sse2(dst, src, n, i);
#else
    for (; i + 8 <= n; i += 8) {
        if (!has_special8(src + i)) {
            std::memcpy(dst, src + i, 8);
            dst += 8;
            continue;
        }
        dst = write_escaped_bytes(dst, src + i, 8);
    }
#endif
    return write_escaped_bytes(dst, src + i, n - i);
}

/// Exact size of `s` once escaped (without the quotes).
inline std::size_t escaped_size(std::string_view s) noexcept {
#if SLUICE_SQS_X86_DISPATCH
    if (cpu_simd_level() == simd_level::avx2) return escaped_size_avx2(s);
#endif
    return escaped_size_portable(s);
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
    /// mismatch is retried. That costs an MD5 of every body (MD5 runs at about 600 MB/s: 3.5 us per
    /// 2 KiB body, twenty times the parse), so it is opt-in, and needs OpenSSL 3 (without it `bodies`
    /// is ignored).
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
        // The code as the service sent it may hold anything: cleaned like every other error code.
        const std::string clean_code = sluice::detail::aws_error::sanitize_code(code);
        std::string why = clean_code.empty() ? std::string("unknown error") : clean_code;
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
