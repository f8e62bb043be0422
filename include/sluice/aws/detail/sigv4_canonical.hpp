#pragma once

// The text rules of SigV4's canonical request (aws/sigv4.hpp): header values trimmed and folded, the
// headers and query parameters a signer leaves out, the ISO 8601 basic date, the normalised URI path,
// and the signer's views into its buffers.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::detail::sigv4 {

/// `s` for an error message: bytes that are not printable ASCII as '?', at most 64 of them.
[[nodiscard]] inline std::string printable(std::string_view s) {
    std::string out(s.substr(0, 64));
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
    if (s.size() > 64) out += "...";
    return out;
}

inline constexpr bool is_header_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/// Index of the first byte <= 0x20 (blanks and control characters) in `text` at or after `from`, or
/// text.size(). Eight bytes at a time: header values are mostly long runs without any (session tokens).
inline std::size_t find_blank_or_control(std::string_view text, std::size_t from) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101ULL;
    constexpr std::uint64_t highs = 0x8080808080808080ULL;
    std::size_t i = from;
    for (; i + 8 <= text.size(); i += 8) {
        std::uint64_t word;
        std::memcpy(&word, text.data() + i, 8);
        // Non-zero iff some byte is < 0x21 (exact for "some", the byte is then found one by one).
        if (((word - ones * 0x21) & ~word & highs) != 0) break;
    }
    for (; i < text.size(); ++i)
        if (static_cast<unsigned char>(text[i]) <= 0x20) return i;
    return text.size();
}

/// Appends a header value the SigV4 way: trimmed, every run of whitespace (folded lines included)
/// collapsed to one space.
inline void append_canonical_header_value(std::string& out, std::string_view value) {
    std::size_t begin = 0;
    std::size_t end = value.size();
    while (begin < end && is_header_space(value[begin])) ++begin;
    while (end > begin && is_header_space(value[end - 1])) --end;
    value = value.substr(0, end);
    std::size_t i = begin;
    while (i < end) {
        const std::size_t stop = find_blank_or_control(value, i);
        out.append(value.data() + i, stop - i);
        if (stop == end) break;
        if (is_header_space(value[stop])) {
            out += ' '; // the value is trimmed, so something that is not a space follows
            i = stop + 1;
            while (is_header_space(value[i])) ++i;
        } else {
            out += value[stop]; // another control character: kept as it is
            i = stop + 1;
        }
    }
}

/// Headers that are sent but never signed: hop-by-hop or rewritten by proxies and HTTP stacks.
inline bool is_unsigned_header(std::string_view lower_name) noexcept {
    return lower_name == "connection" || lower_name == "expect" || lower_name == "transfer-encoding" ||
           lower_name == "upgrade" || lower_name == "user-agent" || lower_name == "x-amzn-trace-id";
}

/// Query parameters that presign() adds, so a request must not bring its own.
inline bool is_presign_parameter(std::string_view name) noexcept {
    return name == "X-Amz-Algorithm" || name == "X-Amz-Credential" || name == "X-Amz-Date" ||
           name == "X-Amz-Expires" || name == "X-Amz-SignedHeaders" || name == "X-Amz-Security-Token" ||
           name == "X-Amz-Signature";
}

/// "YYYYMMDDTHHMMSSZ" (ISO 8601 basic, UTC) into out[0..16).
inline void format_amz_date(std::chrono::system_clock::time_point time, char* out) {
    using namespace std::chrono;
    const auto secs = floor<seconds>(time);
    const auto day = floor<days>(secs);
    const year_month_day ymd{day};
    const int year = static_cast<int>(ymd.year());
    if (year < 0 || year > 9999) throw std::invalid_argument("sigv4: the signing time is out of range");
    const hh_mm_ss hms{secs - day};
    const auto put = [](char* at, unsigned value, int digits) {
        for (int i = digits - 1; i >= 0; --i, value /= 10) at[i] = static_cast<char>('0' + value % 10);
    };
    put(out, static_cast<unsigned>(year), 4);
    put(out + 4, static_cast<unsigned>(ymd.month()), 2);
    put(out + 6, static_cast<unsigned>(ymd.day()), 2);
    out[8] = 'T';
    put(out + 9, static_cast<unsigned>(hms.hours().count()), 2);
    put(out + 11, static_cast<unsigned>(hms.minutes().count()), 2);
    put(out + 13, static_cast<unsigned>(hms.seconds().count()), 2);
    out[15] = 'Z';
}

/// Removes empty, `.` and `..` segments (`..` above the root stays at the root); a trailing '/' stays.
/// Writes the result, which always starts with '/', to `out`.
inline void normalize_uri_path(std::string_view path, std::vector<std::string_view>& segments, std::string& out) {
    segments.clear();
    std::size_t i = 0;
    while (i < path.size()) {
        std::size_t slash = path.find('/', i);
        if (slash == std::string_view::npos) slash = path.size();
        const std::string_view segment = path.substr(i, slash - i);
        if (segment == "..") {
            if (!segments.empty()) segments.pop_back();
        } else if (!segment.empty() && segment != ".") {
            segments.push_back(segment);
        }
        i = slash + 1;
    }
    out.clear();
    for (const std::string_view segment : segments) {
        out += '/';
        out += segment;
    }
    if (out.empty() || path.back() == '/') out += '/';
}

struct sigv4_header_ref {
    std::string_view name; // lower-case
    std::string_view value;
    std::size_t order;     // position in the request, so repeated headers keep their order
};

struct sigv4_query_ref {
    std::uint32_t name_at, name_size, value_at, value_size; // into the signer's encoded-query buffer
};

} // namespace sluice::detail::sigv4
