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
// refused at once and never poisons a batch. Encoding is cheap: the encoder sizes its output exactly
// and grows the string once (text/json_writer.hpp, text/json_escape.hpp). A sink encodes each entry
// once, at submit (append_sqs_entry_fields), and splices the entries into every attempt's request
// (append_send_message_batch_encoded), which is little more than a copy. The response is mapped by
// entry id (aws/batch/response.hpp) with SQS's error codes (sqs_errors()).
//
// Reasons given by validation and by the response parser never quote a message body, an attribute
// value or an id the caller did not choose to show: they give positions and sizes.

#if !SLUICE_HAS_SIMDJSON
#error "sluice/aws/sqs_protocol.hpp needs simdjson (CMake: SLUICE_WITH_SIMDJSON, meson: -Dsimdjson=enabled; it defines SLUICE_HAS_SIMDJSON=1)"
#endif

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include <sluice/aws/batch/errors.hpp>
#include <sluice/aws/batch/limits.hpp>
#include <sluice/aws/batch/response.hpp>
#include <sluice/aws/error.hpp>
#include <sluice/delivery/sink.hpp>
#include <sluice/text/json_writer.hpp>
#include <sluice/text/utf8.hpp>

#if SLUICE_HAS_OPENSSL
#include <sluice/aws/detail/crypto.hpp>
#define SLUICE_SQS_MD5 1
#else
#define SLUICE_SQS_MD5 0
#endif

namespace sluice::aws {

/// The Content-Type of SQS's JSON requests.
inline constexpr std::string_view sqs_json_content_type = "application/x-amz-json-1.0";
/// The X-Amz-Target of SendMessageBatch.
inline constexpr std::string_view sqs_send_message_batch_target = "AmazonSQS.SendMessageBatch";

/// SQS's limits as AWS documents them (2026). One table, overridable, since AWS changes them: the
/// message size went from 256 KiB to 1 MiB in 2025.
struct sqs_limits {
    std::size_t max_batch_entries = 10; ///< entries per SendMessageBatch
    /// Body plus every attribute's name, data type and value.
    std::size_t max_message_bytes = 1'048'576;
    /// The sum of the sizes of a batch's messages.
    std::size_t max_batch_bytes = 1'048'576;
    std::size_t max_attributes = 10; ///< message attributes per message
    /// Entry ids: 1 to 80 characters of A-Z a-z 0-9 - _.
    std::size_t max_entry_id_length = 80;
    std::size_t max_attribute_name_length = 256; ///< characters of an attribute's name
    std::size_t max_attribute_type_length = 256; ///< characters of its data type, label included
    int max_delay_seconds = 900;                 ///< the longest DelaySeconds: 15 minutes
    /// Group and deduplication ids: 1 to 128 characters of alphanumerics and punctuation.
    std::size_t max_group_id_length = 128;
    std::size_t max_deduplication_id_length = 128; ///< the same characters as a group id

    /// For the delivery engine: entries, batch bytes and record bytes.
    [[nodiscard]] sink_limits to_sink_limits() const noexcept {
        return {max_batch_entries, max_batch_bytes, max_message_bytes};
    }

    /// The batch layer's view: entries, request and message bytes as SQS counts them (raw).
    [[nodiscard]] batch_limits to_batch_limits() const noexcept {
        return {max_batch_entries, max_batch_bytes, max_message_bytes, 0, size_basis::raw};
    }
};

/// A message attribute. data_type is "String", "Number" or "Binary", optionally with a custom label
/// ("String.json", "Binary.gzip"); value holds the bytes (raw for Binary: the encoder base64s them).
struct sqs_attribute {
    /// A-Z a-z 0-9 _ - . (no '.' first, last or twice in a row); AWS. and Amazon. are reserved.
    std::string name;
    std::string data_type; ///< "String", "Number" or "Binary", optionally with a ".label"
    std::string value;     ///< not empty; text (UTF-8 of SQS's characters) unless Binary

    /// A String attribute.
    [[nodiscard]] static sqs_attribute string(std::string name, std::string value) {
        return {std::move(name), "String", std::move(value)};
    }
    /// A Number attribute: `value` is its decimal text ("-1.5e3"; at most 38 significant digits).
    [[nodiscard]] static sqs_attribute number(std::string name, std::string value) {
        return {std::move(name), "Number", std::move(value)};
    }
    /// A Binary attribute: `bytes` raw, base64-encoded on the wire.
    [[nodiscard]] static sqs_attribute binary(std::string name, std::string bytes) {
        return {std::move(name), "Binary", std::move(bytes)};
    }
    /// True for "Binary" and "Binary.<label>": the value goes out as BinaryValue.
    [[nodiscard]] bool is_binary() const noexcept {
        return std::string_view(data_type).starts_with("Binary") &&
               (data_type.size() == 6 || data_type[6] == '.');
    }
};

/// One message: body, attributes and the FIFO fields.
struct sqs_message {
    /// Not empty; valid UTF-8 of the characters SQS allows (those of XML 1.0).
    std::string body;
    /// Up to max_attributes, each name once.
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
    bool fifo = false;                        ///< FIFO queue: group id required, no per-message delay
    bool content_based_deduplication = false; ///< FIFO: SQS hashes the body; no deduplication id needed
};

/// What validation found wrong, as a kind to branch on; sqs_validation::reason says where.
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

/// The enumerator's name: "message_too_large".
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
    sqs_problem problem = sqs_problem::none; ///< none when valid
    std::string reason{};                    ///< positions and sizes, never a body or an attribute value

    [[nodiscard]] bool ok() const noexcept { return problem == sqs_problem::none; } ///< nothing found wrong
    [[nodiscard]] static sqs_validation valid() { return {}; }                      ///< a passing result
    /// A failing result.
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

/// Valid UTF-8 made only of the characters SQS accepts (those of XML 1.0).
inline text::utf8_check check_text(std::string_view text) noexcept { return text::check_utf8(text, text::xml_character{}); }

/// "message body: invalid UTF-8 at byte 17 (overlong encoding)", "... character U+0001 at byte 3 is
/// not allowed by SQS (allowed: ...)".
inline std::string describe_text(const text::utf8_check& c, std::string_view what) {
    return text::describe(c, what, "by SQS (allowed: " + std::string(text::xml_character::description) + ")");
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
    if (const text::utf8_check c = check_text(type); !c.ok())
        return sqs_validation::fail(sqs_problem::invalid_attribute_type, describe_text(c, attribute_label(index) + " data type"));
    if (a.value.empty())
        return sqs_validation::fail(sqs_problem::invalid_attribute_value,
                                    attribute_label(index) + " (" + a.name + "): the value is empty");
    if (textual) {
        if (const text::utf8_check c = check_text(a.value); !c.ok())
            return sqs_validation::fail(sqs_problem::invalid_attribute_value,
                                        describe_text(c, attribute_label(index) + " (" + a.name + ") value"));
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

} // namespace sluice::detail::sqs

namespace sluice::aws {

/// Checks text the way SQS will (valid UTF-8 of allowed characters). `what` names it in the reason.
[[nodiscard]] inline sqs_validation validate_sqs_text(std::string_view text, std::string_view what = "message body") {
    const auto c = sluice::detail::sqs::check_text(text);
    if (c.ok()) return sqs_validation::valid();
    return sqs_validation::fail(c.status == text::utf8_status::invalid_utf8 ? sqs_problem::invalid_utf8
                                                                            : sqs_problem::invalid_character,
                                sluice::detail::sqs::describe_text(c, what));
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
    text::size_counter c;
    sluice::detail::sqs::emit_entry_fields(c, m);
    return c.n;
}

/// Appends one entry's fields without its Id and braces: `"MessageBody":"...","DelaySeconds":5,...`.
/// What a sink can store as its record (encoded once, at submit) and splice into every attempt's
/// request with append_send_message_batch_encoded.
inline void append_sqs_entry_fields(std::string& out, const sqs_message& m) {
    text::append_exact(out, [&](auto& e) { sluice::detail::sqs::emit_entry_fields(e, m); });
}

/// Appends a SendMessageBatch request body for `messages` with entry ids `ids` (same length).
inline void append_send_message_batch(std::string& out, std::string_view queue_url, std::span<const std::string_view> ids,
                                      std::span<const sqs_message> messages) {
    if (ids.size() != messages.size()) throw std::invalid_argument("sluice: SendMessageBatch needs one id per message");
    namespace d = sluice::detail::sqs;
    text::append_exact(out, [&](auto& e) {
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
    text::append_exact(out, [&](auto& e) {
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

/// SQS's per-entry error codes that its SenderFault flag does not settle.
[[nodiscard]] inline const error_table& sqs_errors() noexcept {
    static constexpr error_rule rules[] = {
        {"KmsThrottled", error_verdict::throttle},
        {"KMS.ThrottlingException", error_verdict::throttle},
        {"RequestThrottled", error_verdict::throttle},
    };
    static const error_table table{rules, error_verdict::retry};
    return table;
}

/// What SQS returned for an entry it accepted. Views into the parser: valid until its next parse.
struct sqs_sent_entry {
    std::string_view message_id{};  ///< the id SQS gave the message
    std::string_view md5_of_body{}; ///< hex MD5 of the body as SQS received it (parse() can check it)
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
        if (!bodies.empty() && bodies.size() != ids.size())
            throw std::invalid_argument("sluice: SendMessageBatch response check needs one body per entry");
        sent_.assign(ids.size(), sqs_sent_entry{});
        simdjson::dom::object root;
        if (!reader_.parse(body, root))
            return batch_result::failed(outcome::retry("unreadable SendMessageBatch response (not a JSON object)"));
        return reader_.by_id(root, ids, sqs_errors(), [&](std::size_t at, const simdjson::dom::object& o) {
            return accepted(at, o, bodies);
        });
    }

    /// After parse: what SQS returned for each entry (empty views for entries not accepted).
    [[nodiscard]] std::span<const sqs_sent_entry> sent() const noexcept { return sent_; }
    /// After parse: results naming an id that is not in the batch (ignored).
    [[nodiscard]] std::size_t unknown_entries() const noexcept { return reader_.unknown_entries(); }

private:
    std::optional<outcome> accepted(std::size_t at, const simdjson::dom::object& o, std::span<const std::string_view> bodies) {
        using reader = batch_response_reader;
        sqs_sent_entry& s = sent_[at];
        // Optional members: absent ones leave the view empty.
        reader::read(o["MessageId"].get_string(), s.message_id);
        reader::read(o["MD5OfMessageBody"].get_string(), s.md5_of_body);
        reader::read(o["SequenceNumber"].get_string(), s.sequence_number);
#if SLUICE_SQS_MD5
        if (!bodies.empty() && !md5_matches(bodies[at], s.md5_of_body))
            return outcome::retry("MD5OfMessageBody does not match the body sent");
#else
        (void)bodies;
#endif
        return std::nullopt;
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

    sluice::detail::md5_hasher md5_;
#endif
    batch_response_reader reader_;
    std::vector<sqs_sent_entry> sent_;
};

} // namespace sluice::aws
