#pragma once

// Feeds libcurl a request body held in several pieces (http::request::body_parts) through
// CURLOPT_READFUNCTION, so that a batch request's entries are sent from where the delivery engine
// holds them instead of being copied into one body first: a Kinesis request of 500 small records
// is ~160 KiB that no longer exists twice, and one of 500 records of 20 KiB is 10 MiB. Seekable
// (CURLOPT_SEEKFUNCTION): libcurl rewinds a body it has to send again on a new connection.

#if !SLUICE_HAS_CURL
#error "sluice/http/detail/body_parts.hpp needs libcurl (SLUICE_HAS_CURL)"
#endif

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <span>
#include <string_view>

#include <curl/curl.h>

namespace sluice::http::detail {

/// Where libcurl is in a body of pieces.
struct body_reader {
    std::span<const std::string_view> parts{};
    std::size_t part = 0;   ///< the piece being read
    std::size_t offset = 0; ///< bytes of it already read

    /// The body's size.
    [[nodiscard]] static std::size_t total(std::span<const std::string_view> parts) noexcept {
        std::size_t n = 0;
        for (std::string_view p : parts) n += p.size();
        return n;
    }

    /// Starts over on `p`.
    void reset(std::span<const std::string_view> p) noexcept {
        parts = p;
        part = 0;
        offset = 0;
    }

    /// CURLOPT_READFUNCTION: the next bytes, up to size * count.
    static std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* userp) noexcept {
        auto* r = static_cast<body_reader*>(userp);
        std::size_t room = size * count;
        std::size_t n = 0;
        while (room > 0 && r->part < r->parts.size()) {
            const std::string_view p = r->parts[r->part];
            const std::size_t take = std::min(room, p.size() - r->offset);
            if (take != 0) std::memcpy(buffer + n, p.data() + r->offset, take);
            n += take;
            room -= take;
            r->offset += take;
            if (r->offset == p.size()) {
                ++r->part;
                r->offset = 0;
            }
        }
        return n;
    }

    /// CURLOPT_SEEKFUNCTION: to a position from the start (libcurl only rewinds).
    static int on_seek(void* userp, curl_off_t to, int origin) noexcept {
        auto* r = static_cast<body_reader*>(userp);
        if (origin != SEEK_SET || to < 0) return CURL_SEEKFUNC_CANTSEEK;
        auto left = static_cast<std::size_t>(to);
        r->part = 0;
        r->offset = 0;
        while (r->part < r->parts.size() && left >= r->parts[r->part].size()) {
            left -= r->parts[r->part].size();
            ++r->part;
        }
        if (r->part == r->parts.size() && left != 0) return CURL_SEEKFUNC_FAIL; // past the end
        r->offset = left;
        return CURL_SEEKFUNC_OK;
    }
};

} // namespace sluice::http::detail
