#pragma once

// What one AWS batch API is to the shared batch layer: a small class of traits. The layer (sink,
// dispatcher, delivery engine) does everything else: batching by count, weight, age and batch key,
// buffers, signing, attempts and backoff, per-entry retries, de-duplication, outcomes.
//
// A service says:
//   - its wire protocol, signing name and operation (X-Amz-Target),
//   - its limits (a batch_limits table, overridable) and its per-entry error codes (an error_table),
//   - prepare(record): fill what the service needs and the caller left out (a FIFO deduplication id,
//     a random partition key) and validate; a non-empty reason refuses the record before it is sent,
//   - encode_entry(record, out): append the entry's JSON once; the entry_meta says what it weighs
//     and which batch key and order key it has,
//   - encode_request(batch, body): the request around pre-encoded entries (little more than a copy)
//     and any per-request state the response needs (request_state),
//   - read_response(body, batch, state): one outcome per entry, with the mappings of response.hpp.
//   - optionally frame_request(batch, frame, state) -> bool: the request as a request_frame around the
//     entries (true), sent without copying them into a body; encode_request is then frame + join,
//   - optionally decode_entry(entry) -> record_type: the record an entry holds. With it the dispatcher
//     keeps only the entry of a submitted record (in the engine) and rebuilds the record for flush()'s
//     list when it fails, instead of keeping the original beside the entry (Kinesis).
//
// aws/sqs.hpp and aws/kinesis.hpp are examples; each is a few hundred lines of service rules.

#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/aws/batch/errors.hpp>
#include <sluice/aws/batch/limits.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/pipeline.hpp>
#include <sluice/delivery/sink.hpp>

namespace sluice::aws {

/// The protocols of AWS batch APIs sluice speaks.
enum class wire_protocol {
    json_1_0, ///< awsJson1_0: SQS, DynamoDB, CloudWatch (PutMetricData with x-amzn-query-mode)
    json_1_1, ///< awsJson1_1: Kinesis, Firehose, CloudWatch Logs
    cbor_1_1, ///< awsJson1_1's shapes in CBOR: Kinesis as AWS's Java SDK speaks it (blobs as raw bytes)
};

/// The Content-Type of a protocol's requests.
[[nodiscard]] constexpr std::string_view content_type(wire_protocol p) noexcept {
    switch (p) {
    case wire_protocol::json_1_0: return "application/x-amz-json-1.0";
    case wire_protocol::json_1_1: return "application/x-amz-json-1.1";
    case wire_protocol::cbor_1_1: return "application/x-amz-cbor-1.1";
    }
    return "application/x-amz-json-1.1";
}

/// What the batch layer learns about one encoded entry.
struct entry_meta {
    /// The record's size as the service counts it against its limits (before entry_overhead).
    std::size_t counted = 0;
    /// Records with different batch keys never share a request (a table, a log stream and day): the
    /// engine keeps an open batch per key and hands the key to the sink (sink_batch::key).
    std::string batch_key{};
    /// Records with the same order key are never in flight together, so never share a request nor
    /// overtake each other, when the service's adjust() sets delivery_options::order_by_key (a
    /// Kinesis partition key with order_by_partition_key, a DynamoDB table and primary key).
    std::string order_key{};
    /// With duplicate_policy::replace_older: records with the same dedup key write the same thing (a
    /// table, an item's primary key), so only the newest of those waiting needs to be sent.
    std::string dedup_key{};
};

/// How the dispatcher treats a record identical to one still pending.
enum class duplicate_policy {
    keep,          ///< send both (the service has no notion of duplicates)
    drop_newer,    ///< drop the newer one with a warning; its outcome is the pending one's (SQS)
    replace_older, ///< per entry_meta::dedup_key, one record in the engine at a time; a newer one waits
                   ///< and replaces, with a warning, an older one that is waiting too (whose outcome is
                   ///< then the newer one's). Two writes of one key never share a request and never
                   ///< overtake each other, and the last write wins (DynamoDB)
};

/// A request that is a head, the batch's entries joined by a separator (',' in JSON, nothing in
/// CBOR) and a tail, as most batch APIs' are ({"StreamName":"s","Records":[ entry,entry ]}). A
/// service that describes its requests so (frame_request) has them sent without the entries being
/// copied into one body: the HTTP client reads them where the engine holds them.
struct request_frame {
    /// Everything before the first entry.
    std::string head;
    /// Everything after the last entry.
    std::string_view tail;
    /// Between two entries.
    std::string_view separator = ",";

    /// The body's pieces in order: head, entry, ",", entry, ..., tail (views into this frame and
    /// into `entries`).
    void pieces(std::span<const std::string_view> entries, std::vector<std::string_view>& out) const {
        out.clear();
        out.reserve(2 * entries.size() + 2);
        out.emplace_back(head);
        for (std::size_t i = 0; i < entries.size(); ++i) {
            if (i != 0 && !separator.empty()) out.push_back(separator);
            out.push_back(entries[i]);
        }
        out.push_back(tail);
    }

    /// The same bytes as one body (appended to `body`).
    void join(std::span<const std::string_view> entries, std::string& body) const {
        std::size_t size = head.size() + tail.size() + entries.size() * separator.size();
        for (std::string_view e : entries) size += e.size();
        body.reserve(body.size() + size);
        body += head;
        for (std::size_t i = 0; i < entries.size(); ++i) {
            if (i != 0) body += separator;
            body += entries[i];
        }
        body += tail;
    }
};

/// encode_request() of a service whose requests are frames: frame_request(), then request_frame::join.
template <class Service>
[[nodiscard]] typename Service::request_state encode_framed(const Service& s, sink_batch batch, std::string& body) {
    typename Service::request_state state{};
    request_frame frame;
    s.frame_request(batch, frame, state);
    frame.join(batch.records, body);
    return state;
}

/// A batch API's traits (see the file comment).
template <class S>
concept batch_service = requires(S& s, const S& cs, typename S::record_type& record,
                                 const typename S::record_type& crecord, std::string& out, sink_batch batch,
                                 typename S::request_state& state, std::string_view body) {
    typename S::record_type;
    typename S::request_state;
    { S::protocol } -> std::convertible_to<wire_protocol>;
    { S::target } -> std::convertible_to<std::string_view>;
    { cs.name() } -> std::convertible_to<std::string_view>;
    { cs.limits() } -> std::convertible_to<batch_limits>;
    { cs.errors() } -> std::convertible_to<const error_table&>;
    { cs.max_encoded_record() } -> std::convertible_to<std::size_t>;
    { s.prepare(record) } -> std::convertible_to<std::string>;
    { cs.encode_entry(crecord, out) } -> std::same_as<entry_meta>;
    { cs.encode_request(batch, out) } -> std::same_as<typename S::request_state>;
    { s.read_response(body, batch, state) } -> std::same_as<batch_result>;
    { cs.default_delivery() } -> std::same_as<delivery_options>;
    { cs.duplicates() } -> std::convertible_to<duplicate_policy>;
};

/// A record that was not sent, or not accepted, and why (what flush() returns).
template <class Record>
struct batch_unprocessed {
    /// The record as it was submitted; for a service that rebuilds records from their entries
    /// (decode_entry), the record as it was sent, with the defaults prepare() filled in.
    Record record;
    /// Why, in words (never the record's content).
    std::string reason;
    /// False when it was refused before sending (invalid: too large, bad characters...).
    bool sent = false;
    /// Requests that carried it.
    unsigned attempts = 0;
    /// The whole outcome: kind, the service's error code and request id, dead-lettered.
    outcome details{};
};

/// How a record sent with send() fared when it was taken.
struct batch_receipt {
    /// Requests that carried it.
    unsigned attempts = 0;
    /// True when a pending identical record absorbed this one (duplicate_policy::drop_newer).
    bool duplicate = false;
    /// True when a newer record with the same dedup key replaced this one before it was sent
    /// (duplicate_policy::replace_older): the service never saw it; the newer one's outcome is its.
    bool superseded = false;
};

} // namespace sluice::aws
