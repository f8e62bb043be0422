#pragma once

// Kinesis Data Streams PutRecords on the shared AWS batch layer: kinesis_service is Kinesis's traits,
// kinesis_dispatcher the batch dispatcher for it.
//
//   POST / HTTP/1.1
//   Content-Type: application/x-amz-json-1.1
//   X-Amz-Target: Kinesis_20131202.PutRecords
//   {"StreamName":"events","Records":[{"Data":"eyJhIjoxfQ==","PartitionKey":"user-42"},...]}
//   ->
//   {"FailedRecordCount":1,"Records":[{"SequenceNumber":"4959...","ShardId":"shardId-000000000001"},
//     {"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard..."}]}
//
// With kinesis_options::protocol = wire_protocol::cbor_1_1 the same request and response travel as
// CBOR (Content-Type application/x-amz-cbor-1.1, as AWS's Java SDK sends them): Data is a byte
// string, not base64, so a request of 200-byte records is about a quarter smaller to hash, copy and
// send, and nothing is base64-encoded. The Records array is of indefinite length (0x9f .. 0xff), as
// the Java SDK's Jackson writes it, so a request is still a frame around entries encoded once.
//
// Limits (AWS, 2026; one table, overridable): 500 records and 10 MiB per request including partition
// keys; a record's data plus its partition key at most the stream's MaxRecordSizeInKiB (1 MiB by
// default, up to 10 MiB: set max_record_bytes); partition keys of 1 to 256 Unicode characters;
// ExplicitHashKey a decimal integer below 2^128. Sizes count the data before base64.
//
// Per-record failures come back by position: ProvisionedThroughputExceededException (and KMS
// throttling) is throttling, InternalFailure transient; both are retried entry by entry with backoff,
// so a throttled shard's records back off on their own while the rest of the batch is delivered. With
// order_by_partition_key, records of one partition key never overtake each other across retries.

#if !SLUICE_HAS_CURL || !SLUICE_HAS_OPENSSL || !SLUICE_HAS_SIMDJSON
#error "sluice/aws/kinesis.hpp needs libcurl, OpenSSL and simdjson (SLUICE_HAS_CURL, SLUICE_HAS_OPENSSL, SLUICE_HAS_SIMDJSON)"
#endif

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <sluice/aws/batch/dispatcher.hpp>
#include <sluice/aws/batch/response.hpp>
#include <sluice/aws/batch/service.hpp>
#include <sluice/text/base64.hpp>
#include <sluice/text/cbor.hpp>
#include <sluice/text/json_writer.hpp>
#include <sluice/text/utf8.hpp>

namespace sluice::aws {

/// One Kinesis record.
struct kinesis_record {
    /// The data blob, raw bytes (base64 on the wire; its size counts before encoding).
    std::string data;
    /// 1 to 256 Unicode characters; empty: from kinesis_options::partition_key, else random.
    std::string partition_key{};
    /// Optional: the shard's hash key, a decimal integer in [0, 2^128), overriding the key's hash.
    std::string explicit_hash_key{};
};

/// Kinesis's limits as AWS documents them (2026): data + partition key per record counted raw.
[[nodiscard]] constexpr batch_limits kinesis_default_limits() noexcept {
    return {500, 10u << 20, 1u << 20, 0, size_basis::base64};
}

/// Where records go and how they are keyed.
struct kinesis_options {
    /// The stream, by name or ARN (at least one; both are sent when both are given).
    std::string stream_name{};
    /// The stream's ARN.
    std::string stream_arn{};
    /// Overrides of Kinesis's limits (zero fields keep them): max_record_bytes is the stream's
    /// MaxRecordSizeInKiB * 1024 (1 MiB by default, up to 10 MiB).
    batch_limits limits = no_overrides;
    /// Gives a record without a partition key its key (from its data, say); unset: a random key.
    std::function<std::string(const kinesis_record&)> partition_key{};
    /// Records with the same partition key never overtake each other, through throttling and partial
    /// failures: one record per key is in flight at a time (its retries included), other keys go on.
    /// A key's throughput is then one record per request round trip; off by default.
    bool order_by_partition_key = false;
    /// How requests and responses are encoded: wire_protocol::json_1_1 (JSON, Data in base64) or
    /// wire_protocol::cbor_1_1 (CBOR, Data as raw bytes: less to hash, copy and send). AWS accepts
    /// both; so do kinesalite and kinesis-local.
    wire_protocol protocol = wire_protocol::json_1_1;
};

/// Kinesis's per-record error codes (the rest of AWS's throttling and transient codes are known).
[[nodiscard]] inline const error_table& kinesis_errors() noexcept {
    static constexpr error_rule rules[] = {
        {"ProvisionedThroughputExceededException", error_verdict::throttle},
        {"InternalFailure", error_verdict::retry},
        // Not documented per record, but what emulators (and a stream with a smaller
        // MaxRecordSizeInKiB than configured here) answer for a record that is too large.
        {"InvalidArgumentException", error_verdict::reject},
        {"ValidationException", error_verdict::reject},
        {"KMSThrottlingException", error_verdict::throttle},
        {"KMSDisabledException", error_verdict::reject},
        {"KMSInvalidStateException", error_verdict::reject},
        {"KMSAccessDeniedException", error_verdict::reject},
        {"KMSNotFoundException", error_verdict::reject},
        {"KMSOptInRequired", error_verdict::reject},
    };
    static const error_table table{rules, error_verdict::retry};
    return table;
}

namespace detail_kinesis {
/// ExplicitHashKey: 0|([1-9]\d{0,38}), below 2^128 = 340282366920938463463374607431768211456.
inline bool valid_hash_key(std::string_view k) noexcept {
    constexpr std::string_view two_128 = "340282366920938463463374607431768211456";
    if (k.empty() || k.size() > two_128.size()) return false;
    for (char c : k)
        if (c < '0' || c > '9') return false;
    if (k.size() > 1 && k.front() == '0') return false;
    return k.size() < two_128.size() || k < two_128;
}
} // namespace detail_kinesis

/// PutRecords's traits for the batch layer.
class kinesis_service {
public:
    /// What one entry carries.
    using record_type = kinesis_record;
    /// Nothing to remember between a request and its response.
    struct request_state {};
    /// AWS JSON 1.1.
    static constexpr wire_protocol protocol = wire_protocol::json_1_1;
    /// The X-Amz-Target of the operation.
    static constexpr std::string_view target = "Kinesis_20131202.PutRecords";

    /// Throws std::invalid_argument without a stream name or ARN.
    explicit kinesis_service(kinesis_options options)
        : options_(std::move(options)), limits_(kinesis_default_limits().overridden_by(options_.limits)),
          rng_(std::random_device{}()) {
        if (options_.stream_name.empty() && options_.stream_arn.empty())
            throw std::invalid_argument("sluice: Kinesis needs a stream name or ARN");
        if (cbor())
            cbor_head();
        else if (options_.protocol == wire_protocol::json_1_1)
            text::append_exact(request_head_, [&](auto& e) { emit_head(e); });
        else
            throw std::invalid_argument("sluice: Kinesis speaks wire_protocol::json_1_1 or cbor_1_1");
    }

    /// The protocol requests are sent in (kinesis_options::protocol).
    [[nodiscard]] wire_protocol wire() const noexcept { return options_.protocol; }

    /// The stream (its name, else its ARN).
    [[nodiscard]] std::string_view name() const noexcept {
        return options_.stream_name.empty() ? options_.stream_arn : options_.stream_name;
    }
    /// Kinesis's limits with the options' overrides.
    [[nodiscard]] batch_limits limits() const noexcept { return limits_; }
    /// Its documented per-entry error codes and their verdicts.
    [[nodiscard]] const error_table& errors() const noexcept { return kinesis_errors(); }
    /// Base64 of the largest record, the largest key escaped, field names.
    [[nodiscard]] std::size_t max_encoded_record() const noexcept {
        return text::base64_size(limits_.max_record_bytes) + 256 * 4 * 6 + 256;
    }
    /// Identical records are all sent (the service does not de-duplicate).
    [[nodiscard]] duplicate_policy duplicates() const noexcept { return duplicate_policy::keep; }

    /// Gives the record its partition key when it has none; then Kinesis's rules. Empty when valid.
    [[nodiscard]] std::string prepare(kinesis_record& r) {
        if (r.partition_key.empty()) r.partition_key = options_.partition_key ? options_.partition_key(r) : random_key();
        const std::size_t chars = text::utf8_length(r.partition_key);
        if (chars == 0 || chars > 256)
            return "partition key is " + std::to_string(chars) + " characters; Kinesis takes 1 to 256";
        if (auto c = text::check_utf8(r.partition_key); !c.ok()) return text::describe(c, "partition key");
        const std::size_t size = r.data.size() + r.partition_key.size();
        if (size > limits_.max_record_bytes)
            return "record is " + std::to_string(size) + " bytes (data " + std::to_string(r.data.size()) +
                   ", partition key " + std::to_string(r.partition_key.size()) + "), the stream's limit is " +
                   std::to_string(limits_.max_record_bytes);
        if (!r.explicit_hash_key.empty() && !detail_kinesis::valid_hash_key(r.explicit_hash_key))
            return "explicit hash key is not a decimal integer below 2^128";
        return {};
    }

    /// {"Data":"<base64>","PartitionKey":"..."[,"ExplicitHashKey":"..."]}, or the same map in CBOR.
    [[nodiscard]] entry_meta encode_entry(const kinesis_record& r, std::string& out) const {
        if (cbor())
            encode_cbor_entry(r, out);
        else
            encode_json_entry(r, out);
        entry_meta meta;
        meta.counted = r.data.size() + r.partition_key.size();
        if (options_.order_by_partition_key) meta.order_key = r.partition_key;
        return meta;
    }

    /// The record an entry of encode_entry() holds, as sent (with the partition key prepare() chose):
    /// the dispatcher keeps only the entry of a submitted record and rebuilds the record for flush()'s
    /// list when it failed. Throws std::logic_error for text encode_entry() did not write.
    [[nodiscard]] kinesis_record decode_entry(std::string_view entry) const {
        if (!entry.empty() && entry.front() != '{') return decode_cbor_entry(entry);
        simdjson::dom::parser parser;
        simdjson::dom::object fields;
        std::string_view data;
        std::string_view key;
        std::string_view hash;
        if (parser.parse(entry.data(), entry.size()).get(fields) != simdjson::SUCCESS ||
            fields["Data"].get(data) != simdjson::SUCCESS || fields["PartitionKey"].get(key) != simdjson::SUCCESS)
            throw std::logic_error("sluice: not a Kinesis entry");
        if (fields["ExplicitHashKey"].get(hash) != simdjson::SUCCESS) hash = {};
        std::optional<std::string> raw = text::decode_base64(data);
        if (!raw) throw std::logic_error("sluice: a Kinesis entry's Data is not base64");
        return kinesis_record{std::move(*raw), std::string(key), std::string(hash)};
    }

    /// {"StreamName":..,"StreamARN":..,"Records":[ entries ]}: sent without copying the entries.
    bool frame_request(sink_batch, request_frame& frame, request_state&) const {
        frame.head = request_head_;
        frame.tail = cbor() ? std::string_view(&text::cbor::break_byte, 1) : std::string_view("]}");
        frame.separator = cbor() ? std::string_view() : std::string_view(",");
        return true;
    }

    /// The same request as one body.
    [[nodiscard]] request_state encode_request(sink_batch batch, std::string& body) const {
        return encode_framed(*this, batch, body);
    }

    /// Per-entry outcomes from Records[i].ErrorCode, by position.
    [[nodiscard]] batch_result read_response(std::string_view body, sink_batch batch, request_state&) {
        if (cbor()) return reader_.by_position_cbor(body, batch.records.size(), kinesis_errors());
        simdjson::dom::object root;
        if (!reader_.parse(body, root))
            return batch_result::failed(outcome::retry("unreadable PutRecords response (not a JSON object)"));
        return reader_.by_position(root, batch.records.size(), kinesis_errors());
    }

    /// Batches of up to 500 sealed after 100 ms, 8 requests in flight, 8 attempts per record with
    /// backoff from 100 ms to 20 s (shard throttling clears within a second or so).
    [[nodiscard]] delivery_options default_delivery() const {
        delivery_options d;
        d.name = "kinesis";
        d.batch.max_events = 500;
        d.batch.max_bytes = limits_.max_request_bytes;
        d.batch.max_age = std::chrono::milliseconds(100);
        d.retry.max_attempts = 8;
        d.retry.initial_backoff = std::chrono::milliseconds(100);
        d.retry.max_backoff = std::chrono::milliseconds(20'000);
        d.concurrency.max_in_flight = 8;
        return d;
    }

    /// order_by_partition_key: the engine holds a key's next record until the previous one finished
    /// (delivered or given up), so one record per partition key is in flight.
    void adjust(delivery_options& d) const {
        if (options_.order_by_partition_key) d.order_by_key = true;
    }

    /// The options it was made with.
    [[nodiscard]] const kinesis_options& options() const noexcept { return options_; }
    /// Responses whose FailedRecordCount disagreed with their records (the records are trusted).
    [[nodiscard]] std::size_t failed_count_mismatches() const noexcept { return reader_.failed_count_mismatches(); }

private:
    [[nodiscard]] bool cbor() const noexcept { return options_.protocol == wire_protocol::cbor_1_1; }

    // {"StreamName": .., "StreamARN": .., "Records": [_ (an indefinite array: the entries follow).
    void cbor_head() {
        using text::cbor::major;
        const bool name = !options_.stream_name.empty(), arn = !options_.stream_arn.empty();
        text::cbor::append_head(request_head_, major::map, (name ? 1 : 0) + (arn ? 1 : 0) + 1);
        if (name) {
            text::cbor::append_text(request_head_, "StreamName");
            text::cbor::append_text(request_head_, options_.stream_name);
        }
        if (arn) {
            text::cbor::append_text(request_head_, "StreamARN");
            text::cbor::append_text(request_head_, options_.stream_arn);
        }
        text::cbor::append_text(request_head_, "Records");
        request_head_ += text::cbor::indefinite_array;
    }

    static void encode_json_entry(const kinesis_record& r, std::string& out) {
        text::append_exact(out, [&](auto& e) {
            e.raw("{\"Data\":\"");
            e.base64(r.data);
            e.raw("\",\"PartitionKey\":\"");
            e.escaped(r.partition_key);
            if (!r.explicit_hash_key.empty()) {
                e.raw("\",\"ExplicitHashKey\":\"");
                e.raw(r.explicit_hash_key);
            }
            e.raw("\"}");
        });
    }

    // {"Data": h'..', "PartitionKey": "..", ["ExplicitHashKey": ".."]}, sized exactly, written once.
    static void encode_cbor_entry(const kinesis_record& r, std::string& out) {
        using text::cbor::major;
        using text::cbor::string_size;
        constexpr std::string_view data_key = "\x64" "Data", partition_key = "\x6c" "PartitionKey",
                                   hash_key = "\x6f" "ExplicitHashKey";
        const bool hash = !r.explicit_hash_key.empty();
        const std::size_t size = 1 + data_key.size() + string_size(r.data.size()) + partition_key.size() +
                                 string_size(r.partition_key.size()) +
                                 (hash ? hash_key.size() + string_size(r.explicit_hash_key.size()) : 0);
        const std::size_t start = out.size();
        out.resize(start + size);
        char* p = text::cbor::write_head(out.data() + start, major::map, hash ? 3 : 2);
        const auto put = [&p](std::string_view s) { p = static_cast<char*>(std::memcpy(p, s.data(), s.size())) + s.size(); };
        put(data_key);
        p = text::cbor::write_head(p, major::bytes, r.data.size());
        put(r.data);
        put(partition_key);
        p = text::cbor::write_head(p, major::text, r.partition_key.size());
        put(r.partition_key);
        if (hash) {
            put(hash_key);
            p = text::cbor::write_head(p, major::text, r.explicit_hash_key.size());
            put(r.explicit_hash_key);
        }
    }

    // The record of an entry encode_cbor_entry() wrote.
    static kinesis_record decode_cbor_entry(std::string_view entry) {
        using text::cbor::major;
        text::cbor::reader in(entry);
        text::cbor::item map;
        kinesis_record r;
        bool data = false, key = false;
        const auto field = [&](major type, std::string& into, bool* seen) {
            text::cbor::item v;
            if (!in.next(v) || v.type != type || v.indefinite) return false;
            into.assign(v.data);
            if (seen) *seen = true;
            return true;
        };
        const bool read = in.next(map) && in.for_each(map, [&] {
            text::cbor::item k;
            if (!in.next(k) || k.type != major::text) return false;
            if (k.data == "Data") return field(major::bytes, r.data, &data);
            if (k.data == "PartitionKey") return field(major::text, r.partition_key, &key);
            if (k.data == "ExplicitHashKey") return field(major::text, r.explicit_hash_key, nullptr);
            return in.skip();
        });
        if (!read || !data || !key || !in.at_end()) throw std::logic_error("sluice: not a Kinesis entry");
        return r;
    }

    template <class E>
    void emit_head(E& e) const {
        e.raw("{");
        bool first = true;
        if (!options_.stream_name.empty()) {
            e.raw("\"StreamName\":\"");
            e.escaped(options_.stream_name);
            e.raw("\"");
            first = false;
        }
        if (!options_.stream_arn.empty()) {
            e.raw(first ? "\"StreamARN\":\"" : ",\"StreamARN\":\"");
            e.escaped(options_.stream_arn);
            e.raw("\"");
        }
        e.raw(",\"Records\":[");
    }

    /// 32 hex digits: spreads records over the shards as the Kinesis Producer Library's random keys do.
    std::string random_key() {
        static constexpr char hex[] = "0123456789abcdef";
        std::string key(32, '0');
        const std::uint64_t a = rng_(), b = rng_();
        for (int i = 0; i < 16; ++i) {
            key[static_cast<std::size_t>(i)] = hex[(a >> (i * 4)) & 15];
            key[static_cast<std::size_t>(16 + i)] = hex[(b >> (i * 4)) & 15];
        }
        return key;
    }

    kinesis_options options_;
    batch_limits limits_;
    std::string request_head_;
    batch_response_reader reader_{};
    std::mt19937_64 rng_;
};

static_assert(batch_service<kinesis_service>);

/// Kinesis's batch dispatcher: submit / send / flush / stop, as for every AWS batch API.
using kinesis_dispatcher = batch_dispatcher<kinesis_service>;

} // namespace sluice::aws
