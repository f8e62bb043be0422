// The SQS JSON protocol: limits, message validation (UTF-8, SQS's character set, sizes at the
// boundary, attributes, ids, FIFO rules), the SendMessageBatch encoder (round trips through simdjson,
// escaping of every control character at every alignment, base64) and the response parser.

#include <doctest/doctest.h>

#if SLUICE_HAS_SIMDJSON

#include <sluice/aws/sqs_protocol.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_sqs_protocol {

using sluice::outcome_kind;
using sluice::aws::sqs_attribute;
using sluice::aws::sqs_batch_response_parser;
using sluice::aws::sqs_limits;
using sluice::aws::sqs_message;
using sluice::aws::sqs_problem;
using sluice::aws::sqs_queue_options;
using sluice::aws::validate_sqs_message;
using sluice::aws::validate_sqs_text;

namespace {

const sqs_queue_options fifo{.fifo = true, .content_based_deduplication = false};
const sqs_queue_options fifo_cbd{.fifo = true, .content_based_deduplication = true};

sqs_message msg(std::string body) {
    sqs_message m;
    m.body = std::move(body);
    return m;
}

sqs_problem problem_of(const sqs_message& m, const sqs_queue_options& q = {}, const sqs_limits& l = {}) {
    return validate_sqs_message(m, q, l).problem;
}

/// UTF-8 of code point cp (any value up to 0x10FFFF, surrogates included, for building bad input).
std::string utf8(std::uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
        s += static_cast<char>(cp);
    } else if (cp < 0x800) {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        s += static_cast<char>(0xE0 | (cp >> 12));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        s += static_cast<char>(0xF0 | (cp >> 18));
        s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
}

std::string encode(std::string_view url, const std::vector<std::string_view>& ids, const std::vector<sqs_message>& messages) {
    std::string out;
    sluice::aws::append_send_message_batch(out, url, ids, messages);
    return out;
}

/// The string value of `key` in object `o`, or "<missing>".
std::string get_string(simdjson::dom::object o, std::string_view key) {
    std::string_view v;
    if (o[key].get_string().get(v) != simdjson::SUCCESS) return "<missing>";
    return std::string(v);
}

/// Decodes standard base64 (with padding), for checking what the encoder wrote.
std::string base64_decode(std::string_view in) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        if (c == '=') break;
        acc = (acc << 6) | static_cast<std::uint32_t>(value(c));
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    return out;
}

std::string all_bytes() {
    std::string s;
    for (int c = 0; c < 256; ++c) s += static_cast<char>(c);
    return s;
}

} // namespace

TEST_CASE("sqs protocol: limits as AWS documents them, overridable, as sink limits") {
    const sqs_limits l;
    CHECK(l.max_batch_entries == 10);
    CHECK(l.max_message_bytes == 1'048'576);
    CHECK(l.max_batch_bytes == 1'048'576);
    CHECK(l.max_attributes == 10);
    CHECK(l.max_entry_id_length == 80);
    CHECK(l.max_delay_seconds == 900);
    CHECK(l.max_group_id_length == 128);
    CHECK(l.max_deduplication_id_length == 128);
    const sluice::sink_limits s = l.to_sink_limits();
    CHECK(s.max_batch_entries == 10);
    CHECK(s.max_batch_bytes == 1'048'576);
    CHECK(s.max_record_bytes == 1'048'576);
    sqs_limits old = l;
    old.max_message_bytes = 262'144; // the limit before 2025
    CHECK(problem_of(msg(std::string(262'145, 'x')), {}, old) == sqs_problem::message_too_large);
    CHECK(problem_of(msg(std::string(262'145, 'x'))) == sqs_problem::none);
    CHECK(sluice::aws::sqs_json_content_type == "application/x-amz-json-1.0");
    CHECK(sluice::aws::sqs_send_message_batch_target == "AmazonSQS.SendMessageBatch");
}

TEST_CASE("sqs protocol: message size as SQS counts it, at the limit and one byte over") {
    sqs_message m = msg("hello");
    m.attributes.push_back(sqs_attribute::string("trace", "abc"));       // 5 + 6 + 3
    m.attributes.push_back(sqs_attribute::binary("blob", std::string("\x00\x01", 2))); // 4 + 6 + 2 (raw, not base64)
    m.attributes.push_back({"n", "Number.int", "42"});                   // 1 + 10 + 2
    CHECK(sluice::aws::sqs_message_size(m) == 5 + 14 + 12 + 13);

    const std::size_t limit = 1'048'576;
    sqs_message exact = msg(std::string(limit, 'a'));
    CHECK(problem_of(exact) == sqs_problem::none);
    sqs_message over = msg(std::string(limit + 1, 'a'));
    const auto v = validate_sqs_message(over);
    CHECK(v.problem == sqs_problem::message_too_large);
    CHECK(v.reason == "message is 1048577 bytes (body 1048577, attributes 0), the limit is 1048576");
    // Attributes count towards the limit.
    sqs_message with_attr = msg(std::string(limit - 13, 'a'));
    with_attr.attributes.push_back(sqs_attribute::string("k", "123456")); // 1 + 6 + 6 = 13
    CHECK(problem_of(with_attr) == sqs_problem::none);
    with_attr.attributes[0].value += '7';
    CHECK(problem_of(with_attr) == sqs_problem::message_too_large);
}

TEST_CASE("sqs protocol: the characters SQS allows") {
    CHECK(problem_of(msg("plain text")) == sqs_problem::none);
    CHECK(problem_of(msg("tab\there\nnew line\r\nCRLF")) == sqs_problem::none);
    CHECK(problem_of(msg("\x7f")) == sqs_problem::none);
    // The edges of every allowed range, in every UTF-8 width.
    for (std::uint32_t cp : {0x20u, 0x7Eu, 0x80u, 0x7FFu, 0x800u, 0xD7FFu, 0xE000u, 0xFFFDu, 0x10000u, 0x10FFFFu}) {
        CAPTURE(cp);
        CHECK(problem_of(msg("x" + utf8(cp) + "y")) == sqs_problem::none);
    }
    // Control characters other than tab, LF and CR; U+FFFE and U+FFFF.
    for (std::uint32_t cp = 0; cp < 0x20; ++cp) {
        if (cp == 0x09 || cp == 0x0A || cp == 0x0D) continue;
        CAPTURE(cp);
        CHECK(problem_of(msg("ab" + utf8(cp))) == sqs_problem::invalid_character);
    }
    CHECK(problem_of(msg(utf8(0xFFFE))) == sqs_problem::invalid_character);
    CHECK(problem_of(msg(utf8(0xFFFF))) == sqs_problem::invalid_character);
    const auto v = validate_sqs_text(std::string("0123456789") + '\x01');
    CHECK(v.problem == sqs_problem::invalid_character);
    CHECK(v.reason == "message body: character U+0001 at byte 10 is not allowed by SQS (allowed: #x9 | #xA | #xD | "
                      "#x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF)");
    CHECK(validate_sqs_text(utf8(0xFFFE), "x").reason.starts_with("x: character U+FFFE at byte 0"));
}

TEST_CASE("sqs protocol: invalid UTF-8 is refused with its byte offset") {
    struct bad {
        std::string bytes;
        const char* why;
    };
    const bad cases[] = {
        {"\xC0\xAF", "overlong encoding"},             // '/' in two bytes
        {"\xC1\xBF", "overlong encoding"},
        {"\xE0\x80\xAF", "overlong encoding"},         // three bytes
        {"\xE0\x9F\xBF", "overlong encoding"},         // U+07FF in three bytes
        {"\xF0\x80\x80\xAF", "overlong encoding"},     // four bytes
        {"\xF0\x8F\xBF\xBF", "overlong encoding"},     // U+FFFF in four bytes
        {"\xED\xA0\x80", "surrogate code point"},      // U+D800
        {"\xED\xBF\xBF", "surrogate code point"},      // U+DFFF
        {"\xED\xA0\xBD\xED\xB8\x80", "surrogate code point"}, // CESU-8 pair
        {"\xF4\x90\x80\x80", "code point above U+10FFFF"},
        {"\xF5\x80\x80\x80", "invalid byte"},
        {"\xFF", "invalid byte"},
        {"\x80", "unexpected continuation byte"},
        {"\xBF", "unexpected continuation byte"},
        {"\xC3", "truncated sequence"},
        {"\xE2\x82", "truncated sequence"},
        {"\xF0\x9F\x98", "truncated sequence"},
        {"\xC3\x28", "missing continuation byte"},
        {"\xE2\x28\xA1", "missing continuation byte"},
        {"\xF0\x9F\x28\x80", "missing continuation byte"},
    };
    for (const auto& c : cases) {
        // At several offsets, so that both the block fast path and the tail see it.
        for (std::size_t prefix : {0u, 1u, 7u, 15u, 16u, 17u, 31u, 40u}) {
            // Something after the sequence, unless it is one cut short by the end of the text.
            const bool truncated = std::string_view(c.why) == "truncated sequence";
            const std::string text = std::string(prefix, 'a') + c.bytes + std::string(truncated ? 0 : prefix % 3, 'z');
            const auto v = validate_sqs_text(text);
            CAPTURE(prefix);
            CAPTURE(std::string(c.why));
            CHECK(v.problem == sqs_problem::invalid_utf8);
            CHECK(v.reason == "message body: invalid UTF-8 at byte " + std::to_string(prefix) + " (" + c.why + ")");
        }
    }
    // Valid multi-byte characters before the bad byte do not shift the offset.
    const std::string text = "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80" + std::string(20, 'a') + "\xFF";
    CHECK(validate_sqs_text(text).reason == "message body: invalid UTF-8 at byte 29 (invalid byte)");
}

TEST_CASE("sqs protocol: message body rules") {
    CHECK(problem_of(msg("")) == sqs_problem::empty_body);
    CHECK(validate_sqs_message(msg("")).reason == "message body is empty");
    CHECK(problem_of(msg(" ")) == sqs_problem::none);
    // Long valid bodies of mixed text pass the block fast path and the slow path alike.
    std::string mixed;
    for (int i = 0; i < 1000; ++i) mixed += "json {\"k\":\"v\"} caf\xC3\xA9 \xE2\x82\xAC\t\n";
    CHECK(problem_of(msg(mixed)) == sqs_problem::none);
}

TEST_CASE("sqs protocol: message attributes") {
    auto with = [](sqs_attribute a) {
        sqs_message m = msg("b");
        m.attributes.push_back(std::move(a));
        return m;
    };
    CHECK(problem_of(with(sqs_attribute::string("trace-id_1.a", "x"))) == sqs_problem::none);
    CHECK(problem_of(with(sqs_attribute::number("n", "-12.5e3"))) == sqs_problem::none);
    CHECK(problem_of(with(sqs_attribute::binary("b", std::string("\x00\xff\x01", 3)))) == sqs_problem::none);
    CHECK(problem_of(with({"c", "String.json", "{}"})) == sqs_problem::none);
    CHECK(problem_of(with({"c", "Binary.gzip", std::string("\x1f\x8b", 2)})) == sqs_problem::none);
    CHECK(problem_of(with({"c", "Number.float", "1.5"})) == sqs_problem::none);

    // Names
    CHECK(problem_of(with(sqs_attribute::string("", "x"))) == sqs_problem::invalid_attribute_name);
    CHECK(problem_of(with(sqs_attribute::string("has space", "x"))) == sqs_problem::invalid_attribute_name);
    CHECK(problem_of(with(sqs_attribute::string("caf\xC3\xA9", "x"))) == sqs_problem::invalid_attribute_name);
    CHECK(problem_of(with(sqs_attribute::string(".lead", "x"))) == sqs_problem::invalid_attribute_name);
    CHECK(problem_of(with(sqs_attribute::string("trail.", "x"))) == sqs_problem::invalid_attribute_name);
    CHECK(problem_of(with(sqs_attribute::string("a..b", "x"))) == sqs_problem::invalid_attribute_name);
    CHECK(problem_of(with(sqs_attribute::string("AWS.TraceHeader", "x"))) == sqs_problem::invalid_attribute_name);
    CHECK(problem_of(with(sqs_attribute::string("aws.x", "x"))) == sqs_problem::invalid_attribute_name);
    CHECK(problem_of(with(sqs_attribute::string("amazon.x", "x"))) == sqs_problem::invalid_attribute_name);
    CHECK(problem_of(with(sqs_attribute::string("AWSish", "x"))) == sqs_problem::none);
    CHECK(problem_of(with(sqs_attribute::string(std::string(256, 'n'), "x"))) == sqs_problem::none);
    CHECK(problem_of(with(sqs_attribute::string(std::string(257, 'n'), "x"))) == sqs_problem::invalid_attribute_name);
    // Types
    CHECK(problem_of(with({"c", "string", "x"})) == sqs_problem::invalid_attribute_type);
    CHECK(problem_of(with({"c", "Strings", "x"})) == sqs_problem::invalid_attribute_type);
    CHECK(problem_of(with({"c", "String.", "x"})) == sqs_problem::invalid_attribute_type);
    CHECK(problem_of(with({"c", "", "x"})) == sqs_problem::invalid_attribute_type);
    CHECK(problem_of(with({"c", "String." + std::string(249, 'l'), "x"})) == sqs_problem::none); // 256
    CHECK(problem_of(with({"c", "String." + std::string(250, 'l'), "x"})) == sqs_problem::invalid_attribute_type);
    // Values
    CHECK(problem_of(with(sqs_attribute::string("c", ""))) == sqs_problem::invalid_attribute_value);
    CHECK(problem_of(with(sqs_attribute::binary("c", ""))) == sqs_problem::invalid_attribute_value);
    CHECK(problem_of(with(sqs_attribute::string("c", "bad\x01"))) == sqs_problem::invalid_attribute_value);
    CHECK(problem_of(with(sqs_attribute::string("c", "\xC0\xAF"))) == sqs_problem::invalid_attribute_value);
    for (const char* ok : {"0", "-1", "+1", "1.", ".5", "1e10", "1E-10", "00012", "12345678901234567890123456789012345678"}) {
        CAPTURE(ok);
        CHECK(problem_of(with(sqs_attribute::number("n", ok))) == sqs_problem::none);
    }
    for (const char* bad : {"abc", "1.2.3", "--1", "1e", ".", "+", "1 ", "0x10", "123456789012345678901234567890123456789"}) {
        CAPTURE(bad);
        CHECK(problem_of(with(sqs_attribute::number("n", bad))) == sqs_problem::invalid_attribute_value);
    }
    // Count and duplicates
    sqs_message ten = msg("b");
    for (int i = 0; i < 10; ++i) ten.attributes.push_back(sqs_attribute::string("a" + std::to_string(i), "v"));
    CHECK(problem_of(ten) == sqs_problem::none);
    ten.attributes.push_back(sqs_attribute::string("a10", "v"));
    CHECK(problem_of(ten) == sqs_problem::too_many_attributes);
    sqs_message dup = msg("b");
    dup.attributes.push_back(sqs_attribute::string("same", "1"));
    dup.attributes.push_back(sqs_attribute::number("same", "2"));
    const auto v = validate_sqs_message(dup);
    CHECK(v.problem == sqs_problem::duplicate_attribute_name);
    CHECK(v.reason == "message attribute 1 (same): the name is already used by attribute 0");
    // Reasons never quote the value.
    CHECK(validate_sqs_message(with(sqs_attribute::string("c", "top secret\x01"))).reason.find("secret") ==
          std::string::npos);
}

TEST_CASE("sqs protocol: delay seconds") {
    sqs_message m = msg("b");
    for (int ok : {0, 1, 900}) {
        m.delay_seconds = ok;
        CHECK(problem_of(m) == sqs_problem::none);
    }
    for (int bad : {-1, 901, 100000}) {
        m.delay_seconds = bad;
        CHECK(problem_of(m) == sqs_problem::delay_out_of_range);
    }
    m.delay_seconds = 5;
    m.group_id = "g";
    m.deduplication_id = "d";
    CHECK(problem_of(m, fifo) == sqs_problem::delay_on_fifo);
    m.delay_seconds = 0;
    CHECK(problem_of(m, fifo) == sqs_problem::delay_on_fifo);
    m.delay_seconds.reset();
    CHECK(problem_of(m, fifo) == sqs_problem::none);
}

TEST_CASE("sqs protocol: FIFO rules") {
    sqs_message m = msg("b");
    CHECK(problem_of(m, fifo) == sqs_problem::missing_group_id);
    m.group_id = "orders-42";
    CHECK(problem_of(m, fifo) == sqs_problem::missing_deduplication_id);
    CHECK(problem_of(m, fifo_cbd) == sqs_problem::none);
    m.deduplication_id = "dedup-1";
    CHECK(problem_of(m, fifo) == sqs_problem::none);
    CHECK(problem_of(m, fifo_cbd) == sqs_problem::none); // an explicit id overrides content-based deduplication

    // Group ids on standard queues enable fair queues; deduplication ids are FIFO only.
    sqs_message fair = msg("b");
    fair.group_id = "tenant-7";
    CHECK(problem_of(fair) == sqs_problem::none);
    fair.deduplication_id = "d";
    CHECK(problem_of(fair) == sqs_problem::deduplication_id_on_standard);

    // Alphanumerics and punctuation, up to 128 characters.
    const std::string punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    m.group_id = "Az09" + punctuation;
    m.deduplication_id = punctuation;
    CHECK(problem_of(m, fifo) == sqs_problem::none);
    m.group_id = std::string(128, 'g');
    m.deduplication_id = std::string(128, 'd');
    CHECK(problem_of(m, fifo) == sqs_problem::none);
    m.group_id = std::string(129, 'g');
    CHECK(problem_of(m, fifo) == sqs_problem::invalid_group_id);
    m.group_id = "g";
    m.deduplication_id = std::string(129, 'd');
    CHECK(problem_of(m, fifo) == sqs_problem::invalid_deduplication_id);
    for (const char* bad : {"with space", "tab\t", "caf\xC3\xA9", "\x7f"}) {
        m.group_id = bad;
        m.deduplication_id = "d";
        CHECK(problem_of(m, fifo) == sqs_problem::invalid_group_id);
        m.group_id = "g";
        m.deduplication_id = bad;
        CHECK(problem_of(m, fifo) == sqs_problem::invalid_deduplication_id);
    }
    m.group_id = "user-secret 1";
    const auto v = validate_sqs_message(m, fifo);
    CHECK(v.reason == "MessageGroupId may hold only alphanumerics and punctuation; position 11 holds something else");
}

TEST_CASE("sqs protocol: entry ids and batches") {
    using sluice::aws::validate_sqs_batch;
    using sluice::aws::validate_sqs_entry_id;
    CHECK(validate_sqs_entry_id("0").ok());
    CHECK(validate_sqs_entry_id("msg_1-A").ok());
    CHECK(validate_sqs_entry_id(std::string(80, 'i')).ok());
    CHECK(validate_sqs_entry_id(std::string(81, 'i')).problem == sqs_problem::invalid_entry_id);
    CHECK(validate_sqs_entry_id("").problem == sqs_problem::invalid_entry_id);
    for (const char* bad : {"a.b", "a b", "a/b", "caf\xC3\xA9", "a:b"}) {
        CAPTURE(bad);
        CHECK(validate_sqs_entry_id(bad).problem == sqs_problem::invalid_entry_id);
    }

    std::vector<sqs_message> messages(10, msg("x"));
    std::vector<std::string_view> ids{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    CHECK(validate_sqs_batch(ids, messages).ok());
    CHECK(validate_sqs_batch({}, {}).problem == sqs_problem::empty_batch);
    std::vector<sqs_message> eleven(11, msg("x"));
    std::vector<std::string_view> ids11 = ids;
    ids11.push_back("10");
    CHECK(validate_sqs_batch(ids11, eleven).problem == sqs_problem::too_many_entries);
    ids[7] = "3";
    const auto dup = validate_sqs_batch(ids, messages);
    CHECK(dup.problem == sqs_problem::duplicate_entry_id);
    CHECK(dup.reason == "entries 3 and 7 have the same id");
    ids[7] = "bad id";
    CHECK(validate_sqs_batch(ids, messages).reason.starts_with("entry 7: entry id may hold only"));
    ids[7] = "7";
    CHECK(validate_sqs_batch(std::span(ids).first(9), messages).problem == sqs_problem::invalid_entry_id);

    // The batch's payload: exactly 1 MiB passes, one byte more does not.
    std::vector<sqs_message> big{msg(std::string(524'288, 'a')), msg(std::string(524'288, 'b'))};
    std::vector<std::string_view> two{"a", "b"};
    CHECK(validate_sqs_batch(two, big).ok());
    big[1].attributes.push_back(sqs_attribute::string("k", "")); // 1 + 6 bytes
    CHECK(validate_sqs_batch(two, big).problem == sqs_problem::batch_too_large);
}

TEST_CASE("sqs protocol: the encoder round-trips through simdjson") {
    sqs_message a = msg("{\"order\":\"ord-1\",\"note\":\"tab\\t \\\\ slash\"}");
    a.delay_seconds = 45;
    a.attributes.push_back(sqs_attribute::string("trace", "Root=1-abc;Parent=\"x\""));
    a.attributes.push_back(sqs_attribute::number("amount", "-45.99"));
    a.attributes.push_back(sqs_attribute::binary("blob", all_bytes()));
    a.attributes.push_back({"custom", "String.json", "{\"k\":1}"});
    a.attributes.push_back({"gz", "Binary.gzip", std::string("\x1f\x8b\x08", 3)});
    sqs_message b = msg("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 line\nnext\r\n\x7f");
    b.group_id = "grp!\"#";
    b.deduplication_id = "dd\\{}";
    sqs_message c = msg(std::string(5000, 'z') + "\"" + std::string(17, 'q'));
    std::string controls;
    for (int ch = 0; ch < 0x20; ++ch) controls += static_cast<char>(ch);
    sqs_message d = msg(controls + "\"\\/" + controls);
    const std::vector<sqs_message> messages{a, b, c, d};
    const std::vector<std::string_view> ids{"m-0", "m_1", "2", "three"};
    const std::string url = "https://sqs.us-east-1.amazonaws.com/123456789012/sluice-\"events\"";

    std::string out = "prefix:"; // appends, keeping what is there
    sluice::aws::append_send_message_batch(out, url, ids, messages);
    REQUIRE(out.starts_with("prefix:"));
    const std::string_view json = std::string_view(out).substr(7);

    simdjson::dom::parser parser;
    simdjson::dom::object root;
    REQUIRE(parser.parse(json.data(), json.size()).get_object().get(root) == simdjson::SUCCESS);
    CHECK(get_string(root, "QueueUrl") == url);
    simdjson::dom::array entries;
    REQUIRE(root["Entries"].get_array().get(entries) == simdjson::SUCCESS);
    REQUIRE(entries.size() == 4);
    std::size_t i = 0;
    for (simdjson::dom::element e : entries) {
        simdjson::dom::object o;
        REQUIRE(e.get_object().get(o) == simdjson::SUCCESS);
        const sqs_message& m = messages[i];
        CAPTURE(i);
        CHECK(get_string(o, "Id") == ids[i]);
        CHECK(get_string(o, "MessageBody") == m.body);
        std::int64_t delay = -1;
        if (m.delay_seconds) {
            REQUIRE(o["DelaySeconds"].get_int64().get(delay) == simdjson::SUCCESS);
            CHECK(delay == *m.delay_seconds);
        } else {
            CHECK(o["DelaySeconds"].error() == simdjson::NO_SUCH_FIELD);
        }
        if (m.group_id.empty()) CHECK(o["MessageGroupId"].error() == simdjson::NO_SUCH_FIELD);
        else CHECK(get_string(o, "MessageGroupId") == m.group_id);
        if (m.deduplication_id.empty()) CHECK(o["MessageDeduplicationId"].error() == simdjson::NO_SUCH_FIELD);
        else CHECK(get_string(o, "MessageDeduplicationId") == m.deduplication_id);
        simdjson::dom::object attrs;
        if (m.attributes.empty()) {
            CHECK(o["MessageAttributes"].error() == simdjson::NO_SUCH_FIELD);
        } else {
            REQUIRE(o["MessageAttributes"].get_object().get(attrs) == simdjson::SUCCESS);
            CHECK(attrs.size() == m.attributes.size());
            for (const auto& at : m.attributes) {
                CAPTURE(at.name);
                simdjson::dom::object v;
                REQUIRE(attrs[at.name].get_object().get(v) == simdjson::SUCCESS);
                CHECK(get_string(v, "DataType") == at.data_type);
                if (at.is_binary()) {
                    CHECK(v["StringValue"].error() == simdjson::NO_SUCH_FIELD);
                    CHECK(base64_decode(get_string(v, "BinaryValue")) == at.value);
                } else {
                    CHECK(v["BinaryValue"].error() == simdjson::NO_SUCH_FIELD);
                    CHECK(get_string(v, "StringValue") == at.value);
                }
            }
        }
        ++i;
    }
    // Non-ASCII goes out as UTF-8, not \u escapes; '/' and DEL are not escaped.
    CHECK(out.find("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") != std::string::npos);
    CHECK(out.find("\\u00") != std::string::npos);
    CHECK(out.find("https://sqs.us-east-1.amazonaws.com/") != std::string::npos);
    CHECK(out.find('\x7f') != std::string::npos);
}

TEST_CASE("sqs protocol: every control character, quote and backslash, at every alignment") {
    // The exact escape of each byte that needs one.
    const std::array<const char*, 32> expected = {
        "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
        "\\b",     "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",     "\\u000e", "\\u000f",
        "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
        "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f"};
    for (int ch = 0; ch < 0x20; ++ch) {
        std::string fields;
        sluice::aws::append_sqs_entry_fields(fields, msg(std::string(1, static_cast<char>(ch))));
        CHECK(fields == std::string("\"MessageBody\":\"") + expected[static_cast<std::size_t>(ch)] + "\"");
    }
    std::string fields;
    sluice::aws::append_sqs_entry_fields(fields, msg("\"\\"));
    CHECK(fields == "\"MessageBody\":\"\\\"\\\\\"");

    // Each special byte at each position of bodies of 0..80 bytes (across the 16-byte blocks and the
    // tail), and runs of specials: what simdjson reads back is the body.
    simdjson::dom::parser parser;
    std::string specials;
    for (int ch = 0; ch < 0x20; ++ch) specials += static_cast<char>(ch);
    specials += "\"\\";
    for (std::size_t len = 0; len <= 80; ++len) {
        for (char special : specials) {
            for (std::size_t pos = 0; pos < len; pos += (len > 40 ? 3 : 1)) {
                std::string body(len, 'a');
                body[pos] = special;
                std::string out;
                sluice::aws::append_send_message_batch(out, "u", std::vector<std::string_view>{"i"},
                                                       std::vector<sqs_message>{msg(body)});
                simdjson::dom::element root;
                REQUIRE(parser.parse(out).get(root) == simdjson::SUCCESS);
                std::string_view back;
                REQUIRE(root["Entries"].at(0)["MessageBody"].get_string().get(back) == simdjson::SUCCESS);
                if (back != body) {
                    CAPTURE(len);
                    CAPTURE(pos);
                    CAPTURE(static_cast<int>(special));
                    CHECK(back == body);
                }
            }
        }
        std::string dense;
        for (std::size_t k = 0; k < len; ++k) dense += specials[k % specials.size()];
        std::string out;
        sluice::aws::append_send_message_batch(out, "u", std::vector<std::string_view>{"i"},
                                               std::vector<sqs_message>{msg(dense)});
        simdjson::dom::element root;
        REQUIRE(parser.parse(out).get(root) == simdjson::SUCCESS);
        std::string_view back;
        REQUIRE(root["Entries"].at(0)["MessageBody"].get_string().get(back) == simdjson::SUCCESS);
        CHECK(back == dense);
    }
}

TEST_CASE("sqs protocol: base64 of binary attributes (RFC 4648 vectors)") {
    const std::pair<const char*, const char*> vectors[] = {{"f", "Zg=="},     {"fo", "Zm8="},         {"foo", "Zm9v"},
                                                           {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (const auto& [raw, b64] : vectors) {
        sqs_message m = msg("b");
        m.attributes.push_back(sqs_attribute::binary("x", raw));
        std::string fields;
        sluice::aws::append_sqs_entry_fields(fields, m);
        CHECK(fields == std::string(R"("MessageBody":"b","MessageAttributes":{"x":{"DataType":"Binary","BinaryValue":")") +
                            b64 + "\"}}");
    }
}

TEST_CASE("sqs protocol: entries encoded once splice into any batch") {
    sqs_message a = msg("first \"one\"");
    a.attributes.push_back(sqs_attribute::string("k", "v"));
    a.delay_seconds = 3;
    sqs_message b = msg("second");
    b.group_id = "g";
    std::string fa, fb;
    sluice::aws::append_sqs_entry_fields(fa, a);
    sluice::aws::append_sqs_entry_fields(fb, b);
    CHECK(fa.size() == sluice::aws::sqs_entry_fields_size(a));
    CHECK(fa == R"("MessageBody":"first \"one\"","DelaySeconds":3,"MessageAttributes":{"k":{"DataType":"String","StringValue":"v"}})");
    const std::vector<std::string_view> ids{"0", "1"};
    std::string spliced;
    sluice::aws::append_send_message_batch_encoded(spliced, "https://q", ids, std::vector<std::string_view>{fa, fb});
    CHECK(spliced == encode("https://q", ids, {a, b}));
    CHECK(spliced == R"({"QueueUrl":"https://q","Entries":[{"Id":"0",)" + fa + R"(},{"Id":"1",)" + fb + "}]}");
    CHECK_THROWS_AS(sluice::aws::append_send_message_batch_encoded(spliced, "u", ids, std::vector<std::string_view>{fa}),
                    std::invalid_argument);
    CHECK_THROWS_AS(encode("u", ids, {a}), std::invalid_argument);
}

TEST_CASE("sqs protocol: the encoder grows its string once, to the exact size") {
    std::vector<sqs_message> messages;
    std::vector<std::string> id_storage;
    for (int i = 0; i < 10; ++i) {
        sqs_message m = msg(std::string(2048, 'x') + "\"quoted\"\n");
        m.attributes.push_back(sqs_attribute::string("i", std::to_string(i)));
        messages.push_back(std::move(m));
        id_storage.push_back(std::to_string(i));
    }
    const std::vector<std::string_view> ids(id_storage.begin(), id_storage.end());
    std::string out;
    sluice::aws::append_send_message_batch(out, "https://sqs.eu-west-1.amazonaws.com/1/q", ids, messages);
    const std::size_t size = out.size();
    // Encoding again into a string with room for it (and the 16 bytes of slack) does not reallocate.
    std::string again;
    again.reserve(size + 16);
    const char* before = again.data();
    sluice::aws::append_send_message_batch(again, "https://sqs.eu-west-1.amazonaws.com/1/q", ids, messages);
    CHECK(again.data() == before);
    CHECK(again == out);
    CHECK(out.back() == '}');
}

TEST_CASE("sqs protocol: a response where every entry succeeded") {
    sqs_batch_response_parser parser;
    const std::vector<std::string_view> ids{"0", "1", "2"};
    const std::string body =
        R"({"Successful":[{"Id":"0","MessageId":"5fea7756-0ea4-451a-a703-a558b933e274","MD5OfMessageBody":"fafb00f5732ab283681e124bf8747ed1"},)"
        R"({"Id":"1","MessageId":"c8ad4b0d-3e1c-4a2e-a3b7-2f9d4c1e8a11","MD5OfMessageBody":"x","MD5OfMessageAttributes":"y"},)"
        R"({"Id":"2","MessageId":"m3","MD5OfMessageBody":"z","SequenceNumber":"18849496460467696128"}],"Failed":[]})";
    const sluice::batch_result r = parser.parse(body, ids);
    CHECK_FALSE(r.request);
    CHECK(r.entries.empty()); // all ok, no per-entry list
    REQUIRE(parser.sent().size() == 3);
    CHECK(parser.sent()[0].message_id == "5fea7756-0ea4-451a-a703-a558b933e274");
    CHECK(parser.sent()[0].md5_of_body == "fafb00f5732ab283681e124bf8747ed1");
    CHECK(parser.sent()[2].sequence_number == "18849496460467696128");
    CHECK(parser.unknown_entries() == 0);
    // No "Failed" member at all is the same.
    CHECK(parser.parse(std::string_view(R"({"Successful":[{"Id":"1"},{"Id":"0"},{"Id":"2"}]})"), ids).entries.empty());
}

TEST_CASE("sqs protocol: partial failures, by sender fault and code") {
    sqs_batch_response_parser parser;
    const std::vector<std::string_view> ids{"a", "b", "c", "d", "e", "f", "g"};
    const std::string body = R"({
      "Successful": [{"Id": "a", "MessageId": "m-a", "MD5OfMessageBody": "0"}],
      "Failed": [
        {"Id": "b", "SenderFault": true, "Code": "InvalidParameterValue", "Message": "Value 'the body' at 'b' failed"},
        {"Id": "c", "SenderFault": false, "Code": "InternalError", "Message": "We encountered an internal error."},
        {"Id": "d", "SenderFault": true, "Code": "RequestThrottled", "Message": "slow down"},
        {"Id": "e", "SenderFault": false, "Code": "ServiceUnavailable"},
        {"Id": "zzz", "SenderFault": true, "Code": "X"},
        {"Id": "a", "SenderFault": true, "Code": "Duplicate"},
        {"SenderFault": true, "Code": "NoId"},
        {"Id": "f", "Code": "KmsThrottled", "Message": "kms"}
      ]})";
    const sluice::batch_result r = parser.parse(body, ids);
    CHECK_FALSE(r.request);
    REQUIRE(r.entries.size() == 7);
    CHECK(r.entries[0].kind == outcome_kind::ok);
    CHECK(r.entries[1].kind == outcome_kind::reject);
    CHECK(r.entries[1].message == "InvalidParameterValue: Value '[redacted]' at 'b' failed");
    CHECK(r.entries[2].retryable());
    CHECK_FALSE(r.entries[2].throttled());
    CHECK(r.entries[2].message == "InternalError: We encountered an internal error.");
    CHECK(r.entries[3].retryable()); // throttling is never the sender's final fault
    CHECK(r.entries[3].throttled());
    CHECK(r.entries[4].retryable());
    CHECK(r.entries[4].message == "ServiceUnavailable");
    CHECK(r.entries[5].retryable());
    CHECK(r.entries[5].throttled());
    CHECK(r.entries[6].retryable());
    CHECK(r.entries[6].message == "no result for entry");
    CHECK(parser.unknown_entries() == 3); // "zzz", the second "a", the one without an id
    CHECK(parser.sent()[0].message_id == "m-a");
    CHECK(parser.sent()[1].message_id.empty());
}

TEST_CASE("sqs protocol: unreadable responses fail the whole request as retryable") {
    sqs_batch_response_parser parser;
    const std::vector<std::string_view> ids{"0"};
    for (std::string_view body : {std::string_view(""), std::string_view("<html>502</html>"), std::string_view("[1,2]"),
                                  std::string_view("{\"Successful\":[{\"Id\":\"0\""), std::string_view("null")}) {
        CAPTURE(body);
        const auto r = parser.parse(body, ids);
        REQUIRE(r.request);
        CHECK(r.request->retryable());
        CHECK(r.request->message == "unreadable SendMessageBatch response (not a JSON object)");
    }
    // An object with neither list: every entry has no result.
    const auto r = parser.parse(std::string_view("{}"), ids);
    REQUIRE(r.entries.size() == 1);
    CHECK(r.entries[0].message == "no result for entry");
    // Wrong member types are ignored like absent ones.
    CHECK(parser.parse(std::string_view(R"({"Successful":{"Id":"0"},"Failed":"x"})"), ids).entries.size() == 1);
}

#if SLUICE_HAS_OPENSSL
TEST_CASE("sqs protocol: MD5OfMessageBody is checked when bodies are given") {
    sqs_batch_response_parser parser;
    const std::vector<std::string_view> ids{"0", "1", "2"};
    const std::vector<std::string_view> bodies{"The quick brown fox jumps over the lazy dog", "", "hello"};
    const std::string body =
        R"({"Successful":[{"Id":"0","MessageId":"a","MD5OfMessageBody":"9e107d9d372bb6826bd81d3542a419d6"},)"
        R"({"Id":"1","MessageId":"b","MD5OfMessageBody":"D41D8CD98F00B204E9800998ECF8427E"},)"
        R"({"Id":"2","MessageId":"c","MD5OfMessageBody":"00000000000000000000000000000000"}]})";
    const auto r = parser.parse(body, ids, bodies);
    REQUIRE(r.entries.size() == 3);
    CHECK(r.entries[0].kind == outcome_kind::ok);
    CHECK(r.entries[1].kind == outcome_kind::ok); // hex compared without regard to case
    CHECK(r.entries[2].retryable());
    CHECK(r.entries[2].message == "MD5OfMessageBody does not match the body sent");
    // Without bodies there is no check.
    CHECK(parser.parse(body, ids).entries.empty());
    CHECK_THROWS_AS((void)parser.parse(body, ids, std::vector<std::string_view>{"one"}), std::invalid_argument);
}
#endif

TEST_CASE("sqs protocol: the parser is reused, in place when the string has padding") {
    sqs_batch_response_parser parser;
    std::vector<std::string_view> ids{"0", "1"};
    std::string body = R"({"Successful":[{"Id":"0","MessageId":"x"},{"Id":"1","MessageId":"y"}]})";
    body.reserve(body.size() + 64);
    for (int round = 0; round < 3; ++round) {
        CHECK(parser.parse(body, ids).entries.empty());
        CHECK(parser.sent()[1].message_id == "y");
    }
    const std::string failed = R"({"Failed":[{"Id":"1","SenderFault":true,"Code":"InvalidMessageContents"}],"Successful":[{"Id":"0"}]})";
    const auto r = parser.parse(failed, ids);
    REQUIRE(r.entries.size() == 2);
    CHECK(r.entries[1].kind == outcome_kind::reject);
    CHECK(parser.parse(body, ids).entries.empty()); // earlier state does not leak into the next parse
    ids.push_back("2");
    CHECK(parser.parse(body, ids).entries.size() == 3);
}

} // namespace test_sqs_protocol

#endif // SLUICE_HAS_SIMDJSON
