#pragma once

// A generic HTTP sink: each batch is sent to a URL as one request, framed as NDJSON (each record a
// line ending with '\n'), a JSON array ("[r1,r2]"), or one record per request (the engine then
// batches one record at a time and runs max_in_flight requests at once), optionally compressed
// with gzip or zstd (Content-Encoding), through the library's libcurl client.
//
//     http_sink_options o;
//     o.url = "https://collector.example.com/ingest/{key}";   // {key}: the batch key, URL-encoded
//     o.headers.push_back({"Authorization", "Bearer " + token});   // values never logged
//     o.framing = http_framing::ndjson;
//     o.compression = compression::zstd;
//     http_sink sink(http, o);
//
// Answers: 2xx delivers the whole batch; 429 (throttled) and 408 / 5xx and no answer at all are
// retried with the engine's backoff, never before the server's Retry-After (seconds or an HTTP date:
// outcome::retry_after, the engine waits, the sink never sleeps); 401/403 and other 4xx reject the
// batch. Records a framing cannot carry are refused before sending: NDJSON takes records without a
// line break (a trailing one is dropped), a JSON array takes valid JSON texts. TLS verification is the
// client's (on unless its options turn it off).

#if !SLUICE_HAS_CURL || !SLUICE_HAS_SIMDJSON
#error "sluice/sinks/http_sink.hpp needs libcurl and simdjson (SLUICE_HAS_CURL, SLUICE_HAS_SIMDJSON)"
#endif

#include <simdjson.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/codec/compression.hpp>
#include <sluice/codec/stream_compression.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/sink.hpp>
#include <sluice/http/client.hpp>
#include <sluice/sinks/detail/http_outcome.hpp>
#include <sluice/text/ascii.hpp>
#include <sluice/text/url.hpp>

namespace sluice {

/// How a batch's records make a request body.
enum class http_framing : unsigned char {
    ndjson,     ///< one record per line, each ending with '\n' (application/x-ndjson)
    json_array, ///< "[r1,r2,...]" (application/json)
    single,     ///< one record per request, as it is (application/json unless told otherwise)
};

/// "ndjson", "json_array" or "single".
[[nodiscard]] constexpr std::string_view to_string(http_framing f) noexcept {
    switch (f) {
    case http_framing::ndjson: return "ndjson";
    case http_framing::json_array: return "json_array";
    case http_framing::single: return "single";
    }
    return "unknown";
}

/// Where and how the generic HTTP sink sends (see the file comment).
struct http_sink_options {
    /// http(s)://...; "{key}" is replaced by the batch key, percent-encoded.
    std::string url{};
    /// POST or PUT.
    std::string method = "POST";
    /// Sent with every request; values may be secrets (never logged). Content-Type, when given,
    /// replaces the framing's; Content-Length, Content-Encoding and Host are the sink's.
    std::vector<http::header> headers{};
    /// Body framing.
    http_framing framing = http_framing::ndjson;
    /// none, gzip or zstd (Content-Encoding).
    compression body_compression = compression::none;
    /// Records per request (single framing: always 1).
    std::size_t max_records = 500;
    /// Bytes per request body before compression (records counted as the engine weighs them).
    std::size_t max_request_bytes = 5u << 20;
    /// A larger record is refused before it is sent.
    std::size_t max_record_bytes = 1u << 20;
    /// Per-request limit (zero: the client's).
    std::chrono::milliseconds timeout{0};
};

/// What the sink did (no secrets, no records).
struct http_sink_stats {
    std::uint64_t requests = 0;         ///< requests sent
    std::uint64_t records_ok = 0;       ///< records delivered
    std::uint64_t records_retried = 0;  ///< records answered retry/throttled
    std::uint64_t records_rejected = 0; ///< records rejected (by the server, or refused before sending)
    std::uint64_t retry_after_hints = 0; ///< answers with a Retry-After the engine was given
};

/// The generic HTTP sink adapter. Loop thread only.
class http_sink {
public:
    /// Sends through `client`, which outlives the sink. Throws std::invalid_argument for a URL that
    /// is not http(s), a method other than POST/PUT, a header with a line break, or a compression
    /// other than none/gzip/zstd (or not compiled in).
    http_sink(http::client& client, http_sink_options options) : client_(&client), options_(std::move(options)) {
        const auto url = text::parse_url(options_.url);
        if (!url || (!text::iequals(url->scheme, "http") && !text::iequals(url->scheme, "https")) || !url->host_is_valid())
            throw std::invalid_argument("sluice: the HTTP sink's url must be http(s)://host[:port][/path]");
        if (options_.method != "POST" && options_.method != "PUT")
            throw std::invalid_argument("sluice: the HTTP sink sends with POST or PUT");
        const compression c = options_.body_compression;
        if (c != compression::none && c != compression::gzip && c != compression::zstd)
            throw std::invalid_argument("sluice: the HTTP sink compresses with gzip or zstd");
        if (c != compression::none) require_compression(c);
        if (options_.max_records == 0 || options_.max_request_bytes == 0 || options_.max_record_bytes == 0)
            throw std::invalid_argument("sluice: the HTTP sink's limits must be positive");
        bool has_type = false;
        for (const auto& h : options_.headers) {
            if (h.name.empty() || h.name.find_first_of(":\r\n \t") != std::string::npos ||
                h.value.find_first_of("\r\n") != std::string::npos)
                throw std::invalid_argument("sluice: an HTTP sink header has an invalid name or a line break");
            if (text::iequals(h.name, "content-length") || text::iequals(h.name, "content-encoding") ||
                text::iequals(h.name, "host"))
                throw std::invalid_argument("sluice: Content-Length, Content-Encoding and Host are the HTTP sink's own");
            if (text::iequals(h.name, "content-type")) has_type = true;
        }
        headers_ = options_.headers;
        if (!has_type)
            headers_.push_back({"Content-Type", options_.framing == http_framing::ndjson ? "application/x-ndjson" : "application/json"});
        if (c != compression::none) headers_.push_back({"Content-Encoding", std::string(content_encoding(c))});
        templated_ = options_.url.find("{key}") != std::string::npos;
    }

    /// Records and bytes per request (one record per request with single framing).
    [[nodiscard]] sink_limits limits() const noexcept {
        const std::size_t records = options_.framing == http_framing::single ? 1 : options_.max_records;
        return {records, options_.max_request_bytes, options_.max_record_bytes};
    }

    /// One request for `batch`; the same outcome for every record the request carried.
    [[nodiscard]] task<batch_result> send(sink_batch batch) {
        std::vector<outcome> refused;
        std::string body;
        const std::size_t carried = frame(batch.records, body, refused);
        if (carried == 0) co_return settle(std::move(refused), outcome::ok(), 0);
        std::string compressed;
        if (options_.body_compression != compression::none) {
            stream_compressor z(options_.body_compression);
            compressed.reserve(body.size() / 4 + 64);
            z.finish(body, compressed); // one call: the compressor knows the whole size
        }
        http::request req;
        req.method = options_.method;
        req.url = url_for(batch.key);
        req.headers = headers_;
        req.body = options_.body_compression == compression::none ? std::string_view(body) : std::string_view(compressed);
        req.timeout = options_.timeout;
        req.stop = batch.cancel;
        ++stats_.requests;
        result<http::response> res = co_await client_->request(req);
        outcome o;
        if (res.is_error()) {
            o = detail::transport_outcome(res.get_error().code, res.get_error().message);
        } else if (res.value().status < 200 || res.value().status > 299) {
            o = detail::status_outcome(res.value());
            if (o.retry_after.count() > 0) ++stats_.retry_after_hints;
        }
        co_return settle(std::move(refused), o, carried);
    }

    /// Counters (loop thread).
    [[nodiscard]] const http_sink_stats& stats() const noexcept { return stats_; }
    /// The options it was made with (may hold secrets in headers: do not log it).
    [[nodiscard]] const http_sink_options& options() const noexcept { return options_; }

private:
    // The body of the records the framing can carry; `refused` gets an outcome per record (ok for
    // those carried, invalid for the others) when any is refused. Returns how many are carried.
    std::size_t frame(std::span<const std::string_view> records, std::string& body, std::vector<outcome>& refused) {
        std::size_t size = 2;
        for (auto r : records) size += r.size() + 1;
        body.reserve(size);
        if (options_.framing == http_framing::json_array) body += '[';
        std::size_t carried = 0;
        for (std::size_t i = 0; i < records.size(); ++i) {
            std::string_view r = records[i];
            std::string why = check(r);
            if (!why.empty()) {
                if (refused.empty()) refused.assign(records.size(), outcome::ok());
                refused[i] = outcome::make(outcome_kind::invalid, std::move(why));
                continue;
            }
            if (options_.framing == http_framing::json_array && carried != 0) body += ',';
            body += r;
            if (options_.framing == http_framing::ndjson) body += '\n';
            ++carried;
        }
        if (options_.framing == http_framing::json_array) body += ']';
        return carried;
    }

    // Why the framing cannot carry `r` (empty when it can); NDJSON drops one trailing newline.
    std::string check(std::string_view& r) {
        switch (options_.framing) {
        case http_framing::ndjson:
            if (!r.empty() && r.back() == '\n') r.remove_suffix(1);
            if (!r.empty() && r.back() == '\r') r.remove_suffix(1);
            if (r.empty()) return "the record is empty (an NDJSON line needs content)";
            if (std::memchr(r.data(), '\n', r.size()) != nullptr) return "the record has a line break inside (NDJSON framing)";
            return {};
        case http_framing::json_array: {
            simdjson::dom::element e;
            if (parser_.parse(r.data(), r.size(), true).get(e) != simdjson::SUCCESS)
                return "the record is not valid JSON (JSON array framing)";
            return {};
        }
        case http_framing::single: return {};
        }
        return {};
    }

    std::string url_for(std::string_view key) const {
        if (!templated_) return options_.url;
        std::string url;
        std::string_view rest = options_.url;
        for (auto at = rest.find("{key}"); at != std::string_view::npos; at = rest.find("{key}")) {
            url += rest.substr(0, at);
            text::append_uri_encoded(url, key);
            rest.remove_prefix(at + 5);
        }
        url += rest;
        return url;
    }

    // The request's outcome `o` for the `carried` records it carried; refused ones keep theirs.
    batch_result settle(std::vector<outcome> refused, const outcome& o, std::size_t carried) {
        batch_result out;
        if (refused.empty()) {
            count(o, carried);
            if (!o.is_ok()) out.request = o;
            return out;
        }
        for (auto& r : refused) {
            if (r.is_ok()) r = o;
            count(r, 1);
        }
        out.entries = std::move(refused);
        return out;
    }

    void count(const outcome& o, std::size_t n) {
        if (o.is_ok())
            stats_.records_ok += n;
        else if (o.retryable())
            stats_.records_retried += n;
        else
            stats_.records_rejected += n;
    }

    http::client* client_;
    http_sink_options options_;
    std::vector<http::header> headers_;
    simdjson::dom::parser parser_;
    http_sink_stats stats_;
    bool templated_ = false;
};

static_assert(sink_adapter<http_sink>);

} // namespace sluice
