#pragma once

// Exact-size JSON building: an encoder is written once as a template over an emitter and run twice,
// first with size_counter (how many bytes), then with pointer_writer into a string grown once. So the
// size reserved is exactly what is written, with no reallocation and no per-field bounds checks.
//
//   text::append_exact(body, [&](auto& e) { e.raw("{\"Data\":\""); e.base64(data); e.raw("\"}"); });

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include <sluice/text/base64.hpp>
#include <sluice/text/json_escape.hpp>

namespace sluice::text {

/// Two emitters walk the same encoding code: one counts the bytes, one writes them. So the size the
/// string grows to is exactly what is written. raw() copies, escaped() writes a JSON string's inside,
/// base64() encodes bytes, integer() writes a decimal number, number() a finite double in the
/// shortest text that reads back as the same double ("0.1", "1e+300").
struct size_counter {
    /// Bytes counted so far.
    std::size_t n = 0;
    /// Counts `s` as is.
    void raw(std::string_view s) noexcept { n += s.size(); }
    /// Counts `s` escaped as a JSON string's inside.
    void escaped(std::string_view s) noexcept { n += json_escaped_size(s); }
    /// Counts `s` base64-encoded.
    void base64(std::string_view s) noexcept { n += base64_size(s.size()); }
    /// Counts a decimal integer.
    template <class I>
        requires std::is_integral_v<I>
    void integer(I v) noexcept {
        char buf[24];
        n += static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf);
    }
    /// Counts a finite double in its shortest round-trip text.
    void number(double v) noexcept {
        char buf[32];
        n += static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf);
    }
};

/// The writing emitter: into a buffer with room for what size_counter counted plus json_write_slack.
struct pointer_writer {
    /// Where the next byte goes (room reserved by a size_counter pass).
    char* p;
    /// Copies `s`.
    void raw(std::string_view s) noexcept {
        std::memcpy(p, s.data(), s.size());
        p += s.size();
    }
    /// Writes `s` escaped as a JSON string's inside.
    void escaped(std::string_view s) noexcept { p = write_json_escaped(p, s); }
    /// Writes `s` base64-encoded.
    void base64(std::string_view s) noexcept { p = write_base64(p, s); }
    /// Writes a decimal integer.
    template <class I>
        requires std::is_integral_v<I>
    void integer(I v) noexcept {
        p = std::to_chars(p, p + 24, v).ptr;
    }
    /// Writes a finite double in its shortest round-trip text.
    void number(double v) noexcept { p = std::to_chars(p, p + 32, v).ptr; }
};


/// Runs `emit(emitter)` twice: to size, then to write into `out` grown once.
template <class F>
void append_exact(std::string& out, F&& emit) {
    size_counter counter;
    emit(counter);
    const std::size_t start = out.size();
    out.resize(start + counter.n + json_write_slack);
    pointer_writer writer{out.data() + start};
    emit(writer);
    out.resize(start + counter.n);
}

} // namespace sluice::text
