#pragma once

// key_template: the name of an object (an S3 key, a path below a local directory) from a template.
//
//   "logs/{partitions}%Y/%m/%d/{name}-%H%M%S-{seq}-{uuid}{ext}"
//   -> "logs/region=eu/kind=click/2024/05/06/orders-070809-0000000042-3f2a...c1.parquet"
//
// Placeholders:
//   {partitions}  the Hive-style folders of the object's partition, "col=value/" per column (values
//                 escaped, see partitioner.hpp); empty without partition columns
//   {name}        the engine's (firehose sink's) name
//   {seq}         the object's sequence number, 10 digits, zero-padded (unique per engine, also
//                 across restarts)
//   {uuid}        a random 128-bit id, 32 lower-case hex digits
//   {ext}         the extension of the format and its compression (".ndjson.gz", ".parquet")
//   {{ and }}     a literal brace
// Everything else is literal text, where strftime conversions (%Y, %m, %d, %H, %M, %S, %j, %%...)
// are replaced by the time in UTC: the object's opening time, or the record's time when the engine
// takes times from records (then records are grouped by the rendered time as well: each object holds
// records of one hour, day... whatever the template resolves).
//
// A template is checked once: no absolute path, no empty, "." or ".." segment in its literal parts,
// no unknown placeholder, and {uuid} or {seq} somewhere, so two objects never get the same name.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::objects {

/// What a key is rendered from.
struct key_values {
    std::string_view partitions{}; ///< "col=value/..." (already escaped)
    /// The `{name}` field (the engine's name).
    std::string_view name{};
    /// The `{seq}` field: the object's sequence number.
    std::uint64_t sequence = 0;
    /// The `{uuid}` field.
    std::string_view uuid{};
    /// The `{ext}` field (".ndjson.gz", ".parquet"...).
    std::string_view extension{};
    std::int64_t time_ms = 0; ///< Unix milliseconds, UTC
};

/// A parsed key template (see the top of this header).
class key_template {
public:
    /// Throws std::invalid_argument naming what is wrong with the template.
    explicit key_template(std::string text) : text_(std::move(text)) {
        parse();
        check();
    }

    /// The template as written.
    [[nodiscard]] const std::string& text() const noexcept { return text_; }
    /// True when the template has strftime conversions.
    [[nodiscard]] bool uses_time() const noexcept { return uses_time_; }

    /// The key for `v`.
    [[nodiscard]] std::string render(const key_values& v) const {
        std::string out;
        for (const auto& s : segments_) {
            switch (s.kind) {
            case segment_kind::literal: append_time_text(out, s.text, v.time_ms); break;
            case segment_kind::partitions: out.append(v.partitions); break;
            case segment_kind::name: out.append(v.name); break;
            case segment_kind::sequence: {
                char buf[24];
                const int n = std::snprintf(buf, sizeof buf, "%010llu", static_cast<unsigned long long>(v.sequence));
                out.append(buf, static_cast<std::size_t>(n));
                break;
            }
            case segment_kind::uuid: out.append(v.uuid); break;
            case segment_kind::extension: out.append(v.extension); break;
            }
        }
        return out;
    }

    /// Appends the template's time conversions rendered for `time_ms` (what groups records by their
    /// own time): the strftime text of every literal segment, separated by the byte 0x1f.
    void append_time_key(std::string& out, std::int64_t time_ms) const {
        for (const auto& s : segments_)
            if (s.kind == segment_kind::literal && s.has_conversion) {
                append_time_text(out, s.text, time_ms);
                out.push_back('\x1f');
            }
    }

private:
    enum class segment_kind : std::uint8_t { literal, partitions, name, sequence, uuid, extension };
    struct segment {
        segment_kind kind;
        std::string text{};
        bool has_conversion = false;
    };

    [[noreturn]] void fail(const std::string& why) const {
        throw std::invalid_argument("sluice::objects::key_template \"" + text_ + "\": " + why);
    }

    void parse() {
        std::string literal;
        const auto flush_literal = [&] {
            if (literal.empty()) return;
            segments_.push_back({segment_kind::literal, literal, literal.find('%') != std::string::npos});
            literal.clear();
        };
        for (std::size_t i = 0; i < text_.size(); ++i) {
            const char c = text_[i];
            if ((c == '{' || c == '}') && i + 1 < text_.size() && text_[i + 1] == c) {
                literal.push_back(c);
                ++i;
                continue;
            }
            if (c == '}') fail("a '}' without its '{' (write }} for a literal brace)");
            if (c != '{') {
                literal.push_back(c);
                continue;
            }
            const std::size_t close = text_.find('}', i);
            if (close == std::string::npos) fail("a '{' without its '}'");
            const std::string_view name = std::string_view(text_).substr(i + 1, close - i - 1);
            segment_kind kind;
            if (name == "partitions") kind = segment_kind::partitions;
            else if (name == "name") kind = segment_kind::name;
            else if (name == "seq") kind = segment_kind::sequence;
            else if (name == "uuid") kind = segment_kind::uuid;
            else if (name == "ext") kind = segment_kind::extension;
            else fail("unknown placeholder {" + std::string(name) + "} (partitions, name, seq, uuid, ext)");
            flush_literal();
            segments_.push_back({kind});
            i = close;
        }
        flush_literal();
        for (const auto& s : segments_) uses_time_ = uses_time_ || s.has_conversion;
    }

    void check() const {
        bool unique = false;
        for (const auto& s : segments_) unique = unique || s.kind == segment_kind::uuid || s.kind == segment_kind::sequence;
        if (!unique) fail("needs {uuid} or {seq}, or two objects could get the same name");
        if (segments_.empty() || segments_.back().kind == segment_kind::partitions)
            fail("ends with a folder; it must end with the object's file name");
        // The literal text between placeholders must not make ".", ".." or empty path segments, nor start
        // at the root. Placeholders stand for non-empty text with no '/' ({partitions} brings whole
        // "col=value/" segments), so a sample rendering shows what the literal parts do.
        key_values sample{"p=v/", "n", 1, "u", ".e", 0};
        const std::string key = render(sample);
        if (key.empty() || key.front() == '/') fail("the key must be relative (no leading '/')");
        std::size_t start = 0;
        for (;;) {
            const std::size_t slash = key.find('/', start);
            const std::string_view seg = std::string_view(key).substr(start, slash == std::string::npos ? std::string::npos : slash - start);
            if (seg.empty() || seg == "." || seg == "..")
                fail("a path segment is empty, \".\" or \"..\"");
            if (slash == std::string::npos) break;
            start = slash + 1;
        }
    }

    /// strftime of `pattern` at `time_ms` (UTC), or the pattern as it is when it has no '%'.
    static void append_time_text(std::string& out, const std::string& pattern, std::int64_t time_ms) {
        if (pattern.find('%') == std::string::npos) {
            out.append(pattern);
            return;
        }
        std::time_t seconds = static_cast<std::time_t>(time_ms >= 0 ? time_ms / 1000 : (time_ms - 999) / 1000);
        std::tm tm{};
        ::gmtime_r(&seconds, &tm);
        char buf[512];
        const std::size_t n = std::strftime(buf, sizeof buf, pattern.c_str(), &tm);
        if (n == 0 && !pattern.empty()) throw std::invalid_argument("sluice::objects::key_template: a literal part is too long");
        out.append(buf, n);
    }

    std::string text_;
    std::vector<segment> segments_;
    bool uses_time_ = false;
};

} // namespace sluice::objects
