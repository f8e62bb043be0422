#pragma once

// OpenSearch / Elasticsearch `_bulk` as a delivery-engine sink adapter. Records are JSON documents;
// each batch becomes one NDJSON request (sinks/detail/bulk_encoder.hpp) POSTed to <endpoint>/_bulk
// with Content-Type: application/x-ndjson, optionally gzip-compressed; the answer is read per item
// (sinks/detail/bulk_response.hpp):
//
//     http::client http(loop);
//     opensearch_options o;
//     o.endpoint = "https://search.example.com:9200";
//     o.format.index = "logs-{service}-%Y.%m.%d";
//     o.format.timestamp_field = "@timestamp";
//     o.format.id_field = "event_id";             // a retried action overwrites, never duplicates
//     o.username = "writer"; o.password = secret;   // or o.bearer_token
//     opensearch_sink sink(http, o);
//     delivery_pipeline<opensearch_sink> pipeline(loop, sink, opts);
//
// Per item: 2xx ok, 429 retried with backoff (throttled), any other status of 400 or more rejected
// with Elasticsearch's error type and reason (to the dead-letter output when there is one): what the
// official clients' bulk helpers do. Per request: no answer, 429 and 5xx are retried (honouring
// Retry-After), 401/403 rejected as "authentication failed", any other 4xx rejected; 413 splits the
// request in halves and sends each (down to one document, which is then rejected as too large). A
// batch whose body exceeds max_request_bytes is split the same way before it is sent. Records that
// are not JSON objects, or lack a field the index template or the id needs, are refused before
// sending. Credentials go into the Authorization header only: never into messages, logs or stats.
// TLS verification is the client's (on unless its options turn it off).

#if !SLUICE_HAS_CURL || !SLUICE_HAS_SIMDJSON
#error "sluice/sinks/opensearch.hpp needs libcurl and simdjson (SLUICE_HAS_CURL, SLUICE_HAS_SIMDJSON)"
#endif

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/codec/compression.hpp>
#include <sluice/codec/stream_compression.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/sink.hpp>
#include <sluice/http/client.hpp>
#include <sluice/sinks/detail/bulk_encoder.hpp>
#include <sluice/sinks/detail/bulk_response.hpp>
#include <sluice/sinks/detail/http_outcome.hpp>
#include <sluice/text/base64.hpp>
#include <sluice/text/url.hpp>

namespace sluice {

/// Where documents go and how (see the file comment).
struct opensearch_options {
    /// "https://host:9200", optionally with a path prefix ("https://host/search"); _bulk is appended.
    std::string endpoint{};
    /// Index template, action, _id and timestamp fields.
    bulk_format format{};
    /// Basic authentication (with password); secret: only ever in the Authorization header.
    std::string username{};
    /// Basic authentication's password; secret.
    std::string password{};
    /// Bearer authentication instead of basic; secret.
    std::string bearer_token{};
    /// gzip request bodies (Content-Encoding: gzip); needs zlib (SLUICE_HAS_ZLIB).
    bool gzip = false;
    /// Actions per request (Elasticsearch's guidance: a few thousand at most; measure).
    std::size_t max_actions = 1000;
    /// Bytes per request body before compression (http.max_content_length is 100 MB by default;
    /// 5 MiB keeps requests quick to retry).
    std::size_t max_request_bytes = 5u << 20;
    /// A larger document is refused before it is sent.
    std::size_t max_record_bytes = 1u << 20;
    /// Per-request limit (zero: the client's).
    std::chrono::milliseconds timeout{0};
};

/// What the sink did (no secrets, no documents).
struct opensearch_stats {
    std::uint64_t requests = 0;       ///< _bulk requests sent
    std::uint64_t splits = 0;         ///< requests split in halves (after 413, or over max_request_bytes)
    std::uint64_t items_ok = 0;       ///< actions acknowledged
    std::uint64_t items_retried = 0;  ///< actions answered retry/throttled (per item or whole request)
    std::uint64_t items_rejected = 0; ///< actions rejected by the server, or refused before sending
};

/// The _bulk sink adapter (see the file comment). Loop thread only.
class opensearch_sink {
public:
    /// Sends through `client`, which outlives the sink. Throws std::invalid_argument for an
    /// endpoint that is not http(s)://host[:port][/path], a bad index template, both basic and
    /// bearer credentials, or gzip without zlib.
    opensearch_sink(http::client& client, opensearch_options options)
        : client_(&client), options_(std::move(options)), encoder_(options_.format) {
        const auto url = text::parse_url(options_.endpoint);
        if (!url || (!text::iequals(url->scheme, "http") && !text::iequals(url->scheme, "https")) || !url->host_is_valid() ||
            url->has_query || url->has_fragment || url->has_userinfo)
            throw std::invalid_argument("sluice: the OpenSearch endpoint must be http(s)://host[:port][/path] "
                                        "(credentials go in username/password or bearer_token)");
        if (!options_.bearer_token.empty() && (!options_.username.empty() || !options_.password.empty()))
            throw std::invalid_argument("sluice: OpenSearch takes basic (username/password) or bearer credentials, not both");
        if (options_.gzip) require_compression(compression::gzip);
        if (options_.max_actions == 0 || options_.max_request_bytes == 0 || options_.max_record_bytes == 0)
            throw std::invalid_argument("sluice: OpenSearch limits must be positive");
        url_ = options_.endpoint;
        while (!url_.empty() && url_.back() == '/') url_.pop_back();
        url_ += "/_bulk";
        headers_.push_back({"Content-Type", "application/x-ndjson"});
        if (options_.gzip) headers_.push_back({"Content-Encoding", "gzip"});
        if (!options_.bearer_token.empty()) {
            headers_.push_back({"Authorization", "Bearer " + options_.bearer_token});
        } else if (!options_.username.empty()) {
            std::string auth = "Basic ";
            text::append_base64(auth, options_.username + ":" + options_.password);
            headers_.push_back({"Authorization", std::move(auth)});
        }
    }

    /// Actions per request, request bytes (documents only; action lines are checked when encoding)
    /// and the largest document.
    [[nodiscard]] sink_limits limits() const noexcept {
        return {options_.max_actions, options_.max_request_bytes, options_.max_record_bytes};
    }

    /// One _bulk request for `batch` (more when it must be split); an outcome per record.
    [[nodiscard]] task<batch_result> send(sink_batch batch) {
        attempt a;
        a.cancel = batch.cancel;
        a.results.assign(batch.records.size(), outcome::ok());
        a.offsets.push_back(0);
        const auto now = std::chrono::system_clock::now();
        for (std::size_t i = 0; i < batch.records.size(); ++i) {
            std::string why = encoder_.append(batch.records[i], a.body, now);
            if (!why.empty()) {
                a.results[i] = outcome::make(outcome_kind::invalid, std::move(why));
                ++stats_.items_rejected;
                continue;
            }
            a.sent.push_back(i);
            a.offsets.push_back(a.body.size());
        }
        co_await send_range(a, 0, a.sent.size());
        batch_result out;
        for (const auto& r : a.results)
            if (!r.is_ok()) {
                out.entries = std::move(a.results);
                break;
            }
        co_return out;
    }

    /// Counters (loop thread).
    [[nodiscard]] const opensearch_stats& stats() const noexcept { return stats_; }
    /// The options it was made with (holds the credentials: do not log it).
    [[nodiscard]] const opensearch_options& options() const noexcept { return options_; }
    /// The _bulk URL requests go to.
    [[nodiscard]] const std::string& url() const noexcept { return url_; }

private:
    struct attempt {
        std::string body;                 // every encoded action, back to back
        std::vector<std::size_t> offsets; // offsets[k]..offsets[k+1]: the lines of sent[k]
        std::vector<std::size_t> sent;    // batch index of each encoded action
        std::vector<outcome> results;     // per batch record
        std::stop_token cancel;
    };

    void settle_range(attempt& a, std::size_t from, std::size_t to, const outcome& o) {
        for (std::size_t k = from; k < to; ++k) a.results[a.sent[k]] = o;
        count(o, to - from);
    }

    void count(const outcome& o, std::size_t n) {
        if (o.is_ok())
            stats_.items_ok += n;
        else if (o.retryable())
            stats_.items_retried += n;
        else
            stats_.items_rejected += n;
    }

    // Sends actions [from, to) of `a` (split in halves while too large), settling their results.
    task<void> send_range(attempt& a, std::size_t from, std::size_t to) {
        if (from == to) co_return;
        const std::size_t bytes = a.offsets[to] - a.offsets[from];
        const bool over = to - from > options_.max_actions || bytes > options_.max_request_bytes;
        if (over && to - from > 1) {
            ++stats_.splits;
            const std::size_t mid = from + (to - from) / 2;
            co_await send_range(a, from, mid);
            co_await send_range(a, mid, to);
            co_return;
        }
        if (over) {
            const outcome too_large = outcome::make(
                outcome_kind::invalid, "the action and document are " + std::to_string(bytes) +
                                           " bytes, over max_request_bytes (" + std::to_string(options_.max_request_bytes) + ")");
            settle_range(a, from, to, too_large);
            co_return;
        }
        const std::string_view lines(a.body.data() + a.offsets[from], bytes);
        result<http::response> res = co_await post(lines, a.cancel);
        if (res.is_error()) {
            settle_range(a, from, to, detail::transport_outcome(res.get_error().code, res.get_error().message));
            co_return;
        }
        const http::response& r = res.value();
        if (r.status == 413 && to - from > 1) {
            ++stats_.splits;
            const std::size_t mid = from + (to - from) / 2;
            co_await send_range(a, from, mid);
            co_await send_range(a, mid, to);
            co_return;
        }
        if (r.status == 413) {
            settle_range(a, from, to, outcome::reject("the document is too large for the server (HTTP 413, alone in its request)"));
            co_return;
        }
        if (r.status < 200 || r.status > 299) {
            settle_range(a, from, to, whole_request_failure(r));
            co_return;
        }
        batch_result items = reader_.read(r.body, to - from);
        if (items.request) {
            settle_range(a, from, to, *items.request);
        } else if (items.entries.empty()) {
            settle_range(a, from, to, outcome::ok());
        } else {
            for (std::size_t k = from; k < to; ++k) {
                count(items.entries[k - from], 1);
                a.results[a.sent[k]] = std::move(items.entries[k - from]);
            }
        }
    }

    task<result<http::response>> post(std::string_view lines, std::stop_token cancel) {
        ++stats_.requests;
        std::string compressed;
        if (options_.gzip) {
            stream_compressor gz(compression::gzip);
            compressed.reserve(lines.size() / 4 + 64);
            gz.finish(lines, compressed); // one call: the compressor knows the whole size
        }
        http::request req;
        req.method = "POST";
        req.url = url_;
        req.headers = headers_;
        req.body = options_.gzip ? std::string_view(compressed) : lines;
        req.timeout = options_.timeout;
        req.stop = std::move(cancel);
        co_return co_await client_->request(req);
    }

    // A non-2xx answer: Elasticsearch's {"error":{"type","reason"},"status"} adds its type and reason.
    outcome whole_request_failure(const http::response& r) {
        std::string detail_text, code;
        simdjson::dom::object root;
        simdjson::dom::element error;
        if (error_parser_.parse(r.body.data(), r.body.size(), true).get_object().get(root) == simdjson::SUCCESS &&
            root["error"].get(error) == simdjson::SUCCESS) {
            std::string_view plain;
            if (error.get_string().get(plain) == simdjson::SUCCESS)
                detail_text = detail::safe_reason(plain);
            else
                detail_text = detail::bulk_error_text(error, code);
        }
        outcome o = detail::status_outcome(r, r.status == 401 || r.status == 403 ? std::string_view{} : detail_text);
        o.service_code = std::move(code);
        return o;
    }

    http::client* client_;
    opensearch_options options_;
    detail::bulk_encoder encoder_;
    detail::bulk_response_reader reader_;
    simdjson::dom::parser error_parser_;
    std::string url_;
    std::vector<http::header> headers_;
    opensearch_stats stats_;
};

static_assert(sink_adapter<opensearch_sink>);

} // namespace sluice
