#pragma once

// Amazon Data Firehose PutRecordBatch on the shared AWS batch layer: firehose_service is Firehose's
// traits, firehose_dispatcher the batch dispatcher for it.
//
//   POST / HTTP/1.1
//   Content-Type: application/x-amz-json-1.1
//   X-Amz-Target: Firehose_20150804.PutRecordBatch
//   {"DeliveryStreamName":"events","Records":[{"Data":"eyJhIjoxfQo="},...]}
//   ->
//   {"FailedPutCount":1,"Encrypted":false,"RequestResponses":[{"RecordId":"49543463..."},
//     {"ErrorCode":"ServiceUnavailableException","ErrorMessage":"Slow down."}]}
//
// Limits (AWS, 2026; one table, overridable): 500 records per request, 1,000 KiB (1,024,000 bytes)
// per record before base64, 4 MiB per request (counted before base64 as well). Per-record failures
// come back by position: ServiceUnavailableException is throttling, InternalFailure transient; both
// are retried record by record with backoff.
//
// Two options for what Firehose-to-S3 users usually want:
//   - newline framing: each record gets a '\n' appended (unless it ends with one), so the objects
//     Firehose writes are NDJSON;
//   - aggregation: consecutive records of a request are packed into as few Firehose records as fit
//     (each at most 1,000 KiB), which cuts the record count Firehose bills and throttles by. Each
//     original record takes the outcome of the Firehose record that carried it. Without framing,
//     record boundaries are lost in the aggregate: use it with framing (or self-delimiting data).

#if !SLUICE_HAS_CURL || !SLUICE_HAS_OPENSSL || !SLUICE_HAS_SIMDJSON
#error "sluice/aws/firehose.hpp needs libcurl, OpenSSL and simdjson (SLUICE_HAS_CURL, SLUICE_HAS_OPENSSL, SLUICE_HAS_SIMDJSON)"
#endif

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/aws/batch/dispatcher.hpp>
#include <sluice/aws/batch/response.hpp>
#include <sluice/aws/batch/service.hpp>
#include <sluice/text/base64.hpp>
#include <sluice/text/json_writer.hpp>

namespace sluice::aws {

/// One Firehose record: raw bytes (base64 on the wire; its size counts before encoding).
struct firehose_record {
    /// The record's bytes.
    std::string data;
};

/// Firehose's limits as AWS documents them (2026).
[[nodiscard]] constexpr batch_limits firehose_default_limits() noexcept {
    return {500, 4u << 20, 1'024'000, 0, size_basis::base64};
}

/// Where records go and how they are framed.
struct firehose_options {
    /// The delivery stream's name (1 to 64 characters of [a-zA-Z0-9_.-]).
    std::string delivery_stream{};
    /// Append '\n' to every record that does not end with one (NDJSON objects in S3).
    bool newline = false;
    /// Pack the records of a request into as few Firehose records as fit (see the file comment).
    bool aggregate = false;
    /// With aggregate: records per request as the engine counts them (each is a fraction of a
    /// Firehose record; the 500-record and 4 MiB limits still hold for what is sent).
    std::size_t aggregate_max_entries = 50'000;
    /// Overrides of Firehose's limits (zero fields keep them).
    batch_limits limits = no_overrides;
};

/// Firehose's per-record and per-request error codes.
[[nodiscard]] inline const error_table& firehose_errors() noexcept {
    static constexpr error_rule rules[] = {
        {"ServiceUnavailableException", error_verdict::throttle},
        {"InternalFailure", error_verdict::retry},
        {"InvalidArgumentException", error_verdict::reject},
        {"InvalidKMSResourceException", error_verdict::reject},
        {"InvalidSourceException", error_verdict::reject},
        {"ResourceNotFoundException", error_verdict::reject},
        {"KMSAccessDeniedException", error_verdict::reject},
        {"KMSThrottlingException", error_verdict::throttle},
    };
    static const error_table table{rules, error_verdict::retry};
    return table;
}

/// PutRecordBatch's traits for the batch layer.
class firehose_service {
public:
    /// What one entry carries.
    using record_type = firehose_record;
    /// With aggregation: how many of the batch's entries each Firehose record sent carries.
    struct request_state {
        /// Entries per Firehose record sent, in order.
        std::vector<std::size_t> group_sizes{};
        /// Entries packed into those records (the rest, if any, were not sent).
        std::size_t packed = 0;
    };
    /// AWS JSON 1.1.
    static constexpr wire_protocol protocol = wire_protocol::json_1_1;
    /// The X-Amz-Target of the operation.
    static constexpr std::string_view target = "Firehose_20150804.PutRecordBatch";

    /// Throws std::invalid_argument for an invalid delivery stream name.
    explicit firehose_service(firehose_options options)
        : options_(std::move(options)), limits_(firehose_default_limits().overridden_by(options_.limits)) {
        if (!valid_stream_name(options_.delivery_stream))
            throw std::invalid_argument("sluice: a Firehose delivery stream name has 1 to 64 characters of [a-zA-Z0-9_.-]");
        text::append_exact(request_head_, [&](auto& e) {
            e.raw("{\"DeliveryStreamName\":\"");
            e.raw(options_.delivery_stream);
            e.raw("\",\"Records\":[");
        });
    }

    /// The delivery stream (what logs and metrics name).
    [[nodiscard]] std::string_view name() const noexcept { return options_.delivery_stream; }
    /// What the engine batches by: with aggregation, many records per request (see the options).
    [[nodiscard]] batch_limits limits() const noexcept {
        batch_limits l = limits_;
        if (options_.aggregate) l.max_entries = options_.aggregate_max_entries;
        return l;
    }
    /// Its documented per-entry error codes and their verdicts.
    [[nodiscard]] const error_table& errors() const noexcept { return firehose_errors(); }
    /// Base64 of the largest record plus its newline, and the entry's field names.
    [[nodiscard]] std::size_t max_encoded_record() const noexcept {
        return text::base64_size(limits_.max_record_bytes + 1) + 16;
    }
    /// Identical records are all sent (the service does not de-duplicate).
    [[nodiscard]] duplicate_policy duplicates() const noexcept { return duplicate_policy::keep; }

    /// Firehose's rules: a record of 1 byte to 1,000 KiB (framing included). Empty when valid.
    [[nodiscard]] std::string prepare(firehose_record& r) const {
        const std::size_t size = framed_size(r.data);
        if (size == 0) return "record is empty; Firehose takes 1 to " + std::to_string(limits_.max_record_bytes) + " bytes";
        if (size > limits_.max_record_bytes)
            return "record is " + std::to_string(size) + " bytes" + (size != r.data.size() ? " with its newline" : "") +
                   ", Firehose's limit is " + std::to_string(limits_.max_record_bytes);
        return {};
    }

    /// {"Data":"<base64>"}, or with aggregation the framed bytes themselves (packed per request).
    [[nodiscard]] entry_meta encode_entry(const firehose_record& r, std::string& out) const {
        const bool add_newline = framed_size(r.data) != r.data.size();
        if (options_.aggregate) {
            out.reserve(out.size() + r.data.size() + 1);
            out += r.data;
            if (add_newline) out += '\n';
        } else if (add_newline) {
            std::string framed;
            framed.reserve(r.data.size() + 1);
            framed += r.data;
            framed += '\n';
            append_data_entry(out, framed);
        } else {
            append_data_entry(out, r.data);
        }
        entry_meta meta;
        meta.counted = framed_size(r.data);
        return meta;
    }

    /// {"DeliveryStreamName":..,"Records":[entries]}; with aggregation the entries are packed first.
    [[nodiscard]] request_state encode_request(sink_batch batch, std::string& body) const {
        request_state state;
        if (options_.aggregate) {
            encode_aggregated(batch, body, state);
            return state;
        }
        return encode_framed(*this, batch, body);
    }

    /// Without aggregation, the entries in a frame, sent without copying them (false: aggregated
    /// requests pack the records into new entries, built by encode_request).
    bool frame_request(sink_batch, request_frame& frame, request_state&) const {
        if (options_.aggregate) return false;
        frame.head = request_head_;
        frame.tail = "]}";
        return true;
    }

    /// Per-entry outcomes from RequestResponses, by position (each aggregated record's result
    /// applies to every entry it carried).
    [[nodiscard]] batch_result read_response(std::string_view body, sink_batch batch, request_state& state) {
        simdjson::dom::object root;
        if (!reader_.parse(body, root))
            return batch_result::failed(outcome::retry("unreadable PutRecordBatch response (not a JSON object)"));
        position_response_fields f;
        f.results = "RequestResponses";
        f.failed_count = "FailedPutCount";
        if (!options_.aggregate) return reader_.by_position(root, batch.records.size(), firehose_errors(), f);
        const batch_result groups = reader_.by_position(root, state.group_sizes.size(), firehose_errors(), f);
        batch_result out = per_entry_of_groups(groups, state.group_sizes);
        if (out.request || state.packed == batch.records.size()) return out;
        if (out.entries.empty()) out.entries.assign(state.packed, outcome::ok());
        out.entries.resize(batch.records.size(), outcome::retry("not sent: the request already held 500 Firehose records"));
        return out;
    }

    /// Batches sealed after 200 ms, 4 requests in flight, 8 attempts per record with backoff from
    /// 100 ms to 20 s.
    [[nodiscard]] delivery_options default_delivery() const {
        delivery_options d;
        d.name = "firehose";
        d.batch.max_events = limits().max_entries;
        d.batch.max_bytes = limits_.max_request_bytes;
        d.batch.max_age = std::chrono::milliseconds(200);
        d.retry.max_attempts = 8;
        d.retry.initial_backoff = std::chrono::milliseconds(100);
        d.retry.max_backoff = std::chrono::milliseconds(20'000);
        d.concurrency.max_in_flight = 4;
        return d;
    }

    /// The options it was made with.
    [[nodiscard]] const firehose_options& options() const noexcept { return options_; }
    /// Responses whose FailedPutCount disagreed with their results (the results are trusted).
    [[nodiscard]] std::size_t failed_count_mismatches() const noexcept { return reader_.failed_count_mismatches(); }

private:
    static bool valid_stream_name(std::string_view s) noexcept {
        if (s.empty() || s.size() > 64) return false;
        for (char c : s) {
            const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                            c == '.' || c == '-';
            if (!ok) return false;
        }
        return true;
    }

    [[nodiscard]] std::size_t framed_size(std::string_view data) const noexcept {
        if (!options_.newline || (!data.empty() && data.back() == '\n')) return data.size();
        return data.size() + 1;
    }

    static void append_data_entry(std::string& out, std::string_view bytes) {
        text::append_exact(out, [&](auto& e) {
            e.raw("{\"Data\":\"");
            e.base64(bytes);
            e.raw("\"}");
        });
    }

    // Packs consecutive entries into Firehose records of at most max_record_bytes; at most
    // max_entries records per request (entries past them are not sent: they answer "retry").
    void encode_aggregated(sink_batch batch, std::string& body, request_state& state) const {
        std::size_t encoded = request_head_.size() + 2;
        for (auto r : batch.records) encoded += text::base64_size(r.size()) + 12;
        body.reserve(encoded);
        body += request_head_;
        std::size_t i = 0;
        while (i < batch.records.size() && state.group_sizes.size() < limits_.max_entries) {
            scratch_.clear();
            std::size_t count = 0;
            while (i < batch.records.size() &&
                   (count == 0 || scratch_.size() + batch.records[i].size() <= limits_.max_record_bytes)) {
                scratch_ += batch.records[i++];
                ++count;
            }
            if (!state.group_sizes.empty()) body += ',';
            append_data_entry(body, scratch_);
            state.group_sizes.push_back(count);
        }
        body += "]}";
        state.packed = i;
    }

    firehose_options options_;
    batch_limits limits_;
    std::string request_head_;
    mutable std::string scratch_; // reused by encode_request, on the loop's thread
    batch_response_reader reader_{};
};

static_assert(batch_service<firehose_service>);

/// Firehose's batch dispatcher: submit / send / flush / stop, as for every AWS batch API.
using firehose_dispatcher = batch_dispatcher<firehose_service>;

} // namespace sluice::aws
