#pragma once

// The OpenSearch/Elasticsearch _bulk request body: per document an action line and the document line,
// each ending with '\n' (NDJSON, the last line included):
//
//   {"index":{"_index":"logs-checkout-2026.12.06","_id":"a1"}}
//   {"id":"a1","service":"checkout","@timestamp":"2026-12-06T09:00:00Z","msg":"paid"}
//
// The index comes from a template: "{field}" is the value of the record's top-level field (a string
// or an integer), %Y %m %d %H the UTC date of the record's timestamp field (an RFC 3339 / ISO-8601
// string, a "YYYY-MM-DD" date, or epoch milliseconds: Elasticsearch's default date format), or of
// now when no timestamp field is configured; "%%" is a '%'. The _id, when configured, is a top-level
// string or integer field, so a retried action overwrites (index) or conflicts (create) instead of
// duplicating. A record that is not a JSON object, lacks a field the template or the id needs, or
// makes an index name Elasticsearch refuses, is refused here, with the reason, before anything is sent.

#if !SLUICE_HAS_SIMDJSON
#error "sluice/sinks/detail/bulk_encoder.hpp needs simdjson (SLUICE_HAS_SIMDJSON)"
#endif

#include <simdjson.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <sluice/aws/dates.hpp>
#include <sluice/sinks/detail/index_template.hpp>
#include <sluice/text/json_escape.hpp>

namespace sluice::detail {

/// The UTC time an Elasticsearch date value names: an ISO-8601 / RFC 3339 string, a "YYYY-MM-DD"
/// date, or an integer of epoch milliseconds.
[[nodiscard]] inline std::optional<std::chrono::system_clock::time_point> bulk_timestamp(simdjson::dom::element v) {
    using namespace std::chrono;
    std::int64_t millis = 0;
    if (v.get_int64().get(millis) == simdjson::SUCCESS) {
        constexpr std::int64_t limit = 9'000'000'000'000; // about year 2255: system_clock holds it in ns
        if (millis < -limit || millis > limit) return std::nullopt;
        return system_clock::time_point(milliseconds(millis));
    }
    std::string_view s;
    if (v.get_string().get(s) != simdjson::SUCCESS) return std::nullopt;
    if (s.size() == 10 && s[4] == '-' && s[7] == '-') {
        std::string full(s);
        full += "T00:00:00Z";
        return aws_dates::parse_iso8601(full);
    }
    return aws_dates::parse_iso8601(s);
}

/// Encodes documents into a _bulk body (see the file comment). Not thread-safe: one per sink.
class bulk_encoder {
public:
    /// Throws std::invalid_argument for a template index_template refuses.
    explicit bulk_encoder(bulk_format format) : format_(std::move(format)), template_(format_.index) {}

    /// Appends `record`'s action and document lines to `body`. Returns empty when it did, else why
    /// the record is refused (and `body` is as it was). `now` dates records without a timestamp field.
    std::string append(std::string_view record, std::string& body, std::chrono::system_clock::time_point now) {
        simdjson::dom::object doc;
        if (parser_.parse(record.data(), record.size(), true).get_object().get(doc) != simdjson::SUCCESS)
            return "the record is not a JSON object";
        std::string why = resolve_index(doc, now);
        if (!why.empty()) return why;
        std::string_view id;
        if (!format_.id_field.empty()) {
            why = field_text(doc, format_.id_field, "the id field", id_scratch_);
            if (!why.empty()) return why;
            id = id_scratch_;
            if (id.empty() || id.size() > 512) return "the id field \"" + format_.id_field + "\" is empty or over 512 bytes";
        }
        append_action(body, id);
        append_document(body, record);
        return {};
    }

    /// The format it encodes.
    [[nodiscard]] const bulk_format& format() const noexcept { return format_; }

private:
    static void two_digits(std::string& out, unsigned v) {
        out += static_cast<char>('0' + v / 10 % 10);
        out += static_cast<char>('0' + v % 10);
    }

    // The value of a top-level string or integer field, as text, into `out`.
    static std::string field_text(simdjson::dom::object& doc, const std::string& name, std::string_view role,
                                  std::string& out) {
        simdjson::dom::element v;
        if (doc.at_key(name).get(v) != simdjson::SUCCESS)
            return "the record has no top-level field \"" + name + "\" (" + std::string(role) + ")";
        std::string_view s;
        std::int64_t i = 0;
        std::uint64_t u = 0;
        char buf[24];
        if (v.get_string().get(s) == simdjson::SUCCESS) {
            out.assign(s);
        } else if (v.get_int64().get(i) == simdjson::SUCCESS) {
            out.assign(buf, std::to_chars(buf, buf + sizeof buf, i).ptr);
        } else if (v.get_uint64().get(u) == simdjson::SUCCESS) {
            out.assign(buf, std::to_chars(buf, buf + sizeof buf, u).ptr);
        } else {
            return "the field \"" + name + "\" (" + std::string(role) + ") is not a string or an integer";
        }
        return {};
    }

    std::string resolve_index(simdjson::dom::object& doc, std::chrono::system_clock::time_point now) {
        using namespace std::chrono;
        year_month_day ymd{};
        unsigned hour = 0;
        if (template_.uses_date()) {
            auto when = now;
            if (!format_.timestamp_field.empty()) {
                simdjson::dom::element v;
                if (doc.at_key(format_.timestamp_field).get(v) != simdjson::SUCCESS)
                    return "the record has no top-level field \"" + format_.timestamp_field + "\" (the timestamp)";
                auto t = bulk_timestamp(v);
                if (!t) return "the timestamp field \"" + format_.timestamp_field + "\" is not an ISO-8601 date or epoch milliseconds";
                when = *t;
            }
            const auto day = floor<days>(when);
            ymd = year_month_day(day);
            hour = static_cast<unsigned>(floor<hours>(when - day).count());
            const int y = static_cast<int>(ymd.year());
            if (y < 0 || y > 9999) return "the timestamp's year is outside 0..9999";
        }
        index_.clear();
        for (const auto& p : template_.parts()) {
            switch (p.kind) {
            case index_template::part_kind::literal: index_ += p.text; break;
            case index_template::part_kind::field: {
                std::string why = field_text(doc, p.text, "in the index template", value_scratch_);
                if (!why.empty()) return why;
                index_ += value_scratch_;
                break;
            }
            case index_template::part_kind::year: {
                const unsigned y = static_cast<unsigned>(static_cast<int>(ymd.year()));
                two_digits(index_, y / 100);
                two_digits(index_, y % 100);
                break;
            }
            case index_template::part_kind::month: two_digits(index_, static_cast<unsigned>(ymd.month())); break;
            case index_template::part_kind::day: two_digits(index_, static_cast<unsigned>(ymd.day())); break;
            case index_template::part_kind::hour: two_digits(index_, hour); break;
            }
        }
        std::string problem = index_name_problem(index_);
        if (!problem.empty()) return problem;
        return {};
    }

    void append_action(std::string& body, std::string_view id) {
        body += "{\"";
        body += to_string(format_.action);
        body += "\":{\"_index\":\"";
        body += index_; // checked: nothing in it needs escaping
        if (!id.empty()) {
            body += "\",\"_id\":\"";
            text::append_json_escaped(body, id);
        }
        body += "\"}}\n";
    }

    // The document on one line: a line break in a valid JSON text is whitespace between tokens (never
    // inside a string), so it becomes a space.
    static void append_document(std::string& body, std::string_view record) {
        const std::size_t start = body.size();
        body += record;
        if (std::memchr(record.data(), '\n', record.size()) != nullptr)
            for (std::size_t i = start; i < body.size(); ++i)
                if (body[i] == '\n') body[i] = ' ';
        body += '\n';
    }

    bulk_format format_;
    index_template template_;
    simdjson::dom::parser parser_;
    std::string index_, id_scratch_, value_scratch_;
};

} // namespace sluice::detail
