#pragma once

// SQS SendMessageBatch on the shared AWS batch layer: sqs_service is SQS's traits (validation,
// entry and request encoding, the id-keyed response), sqs_dispatcher the batch dispatcher for it.
//
//   submit(message) -> validate (SQS's rules: size, characters, ids, FIFO fields) -> encode the entry
//   once -> delivery_pipeline (batching by count, bytes and age; memory or disk buffer; per-entry
//   retries; rate and concurrency limits) -> batch_sink (SendMessageBatch: SigV4, one attempt per
//   engine attempt) -> per entry an outcome -> send()'s receipt or flush()'s unprocessed list.
//
// FIFO queues (URL ending in ".fifo"): the pipeline runs ordered (one request at a time, retries
// before anything newer), MessageGroupId is required, per-message delays are refused, and a message
// without MessageDeduplicationId gets a unique one (unless the queue deduplicates by content), so a
// retried request is not delivered twice within SQS's 5-minute deduplication window.
// Order within a group holds across requests and their retries; inside one request SQS may accept
// later entries of a group while an earlier one fails, so a per-entry retry can land after them.

#if !SLUICE_HAS_CURL || !SLUICE_HAS_OPENSSL || !SLUICE_HAS_SIMDJSON
#error "sluice/aws/sqs.hpp needs libcurl, OpenSSL and simdjson (SLUICE_HAS_CURL, SLUICE_HAS_OPENSSL, SLUICE_HAS_SIMDJSON)"
#endif

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/aws/batch/dispatcher.hpp>
#include <sluice/aws/batch/service.hpp>
#include <sluice/aws/batch/sink.hpp>
#include <sluice/aws/service_client.hpp>
#include <sluice/aws/sqs_protocol.hpp>

namespace sluice::aws {

/// A message that was not sent, or not accepted, and why.
struct sqs_unprocessed {
    /// The message as it was submitted.
    sqs_message message;
    /// Why, in words (never the message's content).
    std::string reason;
    /// False when it was refused before sending (invalid: too large, bad characters...).
    bool sent = false;
    /// Requests that carried it.
    unsigned attempts = 0;
    /// The whole outcome: kind, the service's error code and request id, dead-lettered.
    outcome details{};
};

/// SendMessageBatch's traits for the batch layer.
class sqs_service {
public:
    /// What one entry carries.
    using record_type = sqs_message;
    /// What flush() lists: sqs_unprocessed names its record `message`.
    using unprocessed_type = sqs_unprocessed;
    /// Entry ids are positions in the batch: nothing to remember between request and response.
    struct request_state {};
    /// AWS JSON 1.0.
    static constexpr wire_protocol protocol = wire_protocol::json_1_0;
    /// The X-Amz-Target of the operation.
    static constexpr std::string_view target = sqs_send_message_batch_target;

    /// Throws std::invalid_argument without a queue URL. `queue` says what validation expects of
    /// messages (FIFO fields); `limits` is SQS's table.
    explicit sqs_service(std::string queue_url, sqs_queue_options queue = {}, sqs_limits limits = {})
        : queue_url_(std::move(queue_url)), queue_(queue), limits_(limits), rng_(std::random_device{}()) {
        if (queue_url_.empty()) throw std::invalid_argument("sluice: SQS needs a queue URL");
    }

    /// The queue URL (what logs and metrics name).
    [[nodiscard]] std::string_view name() const noexcept { return queue_url_; }
    /// The queue every request names.
    [[nodiscard]] const std::string& queue_url() const noexcept { return queue_url_; }
    /// True for a FIFO queue: ordered delivery, MessageGroupId required, no per-message delay.
    [[nodiscard]] bool fifo() const noexcept { return queue_.fifo; }
    /// SQS's whole limit table (attributes, ids, delays), beyond what limits() tells the batch layer.
    [[nodiscard]] const sqs_limits& sqs_table() const noexcept { return limits_; }
    /// The table's entries, request and message bytes, as the batch layer counts them.
    [[nodiscard]] batch_limits limits() const noexcept { return limits_.to_batch_limits(); }
    /// The per-entry error codes SenderFault does not settle, and their verdicts.
    [[nodiscard]] const error_table& errors() const noexcept { return sqs_errors(); }
    /// Escaping can make a message up to six times larger (`\u00XX`), plus the entry's field names.
    [[nodiscard]] std::size_t max_encoded_record() const noexcept { return limits_.max_message_bytes * 6 + 4096; }
    /// A message identical to one pending is dropped (unless the dispatcher's drop_duplicates is off).
    [[nodiscard]] duplicate_policy duplicates() const noexcept { return duplicate_policy::drop_newer; }

    /// FIFO: a MessageDeduplicationId is made up when the queue needs one and the caller gave none
    /// (once, so every retry carries the same); then SQS's rules. Empty when valid.
    [[nodiscard]] std::string prepare(sqs_message& m) {
        if (queue_.fifo && m.deduplication_id.empty() && !queue_.content_based_deduplication)
            m.deduplication_id = unique_id();
        auto check = validate_sqs_message(m, queue_, limits_);
        return check.ok() ? std::string() : std::move(check.reason);
    }

    /// The entry's fields (without Id and braces), spliced into every attempt's request.
    [[nodiscard]] entry_meta encode_entry(const sqs_message& m, std::string& out) const {
        out.reserve(out.size() + sqs_entry_fields_size(m));
        append_sqs_entry_fields(out, m);
        entry_meta meta;
        meta.counted = sqs_message_size(m);
        if (queue_.fifo) meta.order_key = m.group_id;
        return meta;
    }

    /// {"QueueUrl":..,"Entries":[{"Id":"0",...},{"Id":"1",...}]}: entries behind their positions.
    [[nodiscard]] request_state encode_request(sink_batch batch, std::string& body) const {
        const auto ids = position_ids(batch.records.size());
        std::size_t size = queue_url_.size() + 64;
        for (auto record : batch.records) size += record.size() + 16;
        body.reserve(size);
        append_send_message_batch_encoded(body, queue_url_, ids.views, batch.records);
        return {};
    }

    /// Per-entry outcomes from Successful and Failed, matched by the position ids.
    [[nodiscard]] batch_result read_response(std::string_view body, sink_batch batch, request_state&) {
        const auto ids = position_ids(batch.records.size());
        return parser_.parse(body, ids.views);
    }

    /// The engine's settings for SQS: batches of 10 sealed after 50 ms, 16 requests in flight
    /// (ordered, one at a time, for FIFO), 5 attempts per entry with backoff from 100 ms to 20 s.
    [[nodiscard]] static delivery_options standard_delivery() {
        delivery_options d;
        d.name = "sqs";
        d.batch.max_events = 10;
        d.batch.max_bytes = 1u << 20;
        d.batch.max_age = std::chrono::milliseconds(50);
        d.retry.max_attempts = 5;
        d.retry.initial_backoff = std::chrono::milliseconds(100);
        d.retry.max_backoff = std::chrono::milliseconds(20'000);
        d.concurrency.max_in_flight = 16;
        return d;
    }
    /// standard_delivery(); adjust() orders it for a FIFO queue.
    [[nodiscard]] delivery_options default_delivery() const { return standard_delivery(); }

    /// FIFO queues keep order: one request at a time, retries before anything newer.
    void adjust(delivery_options& d) const {
        if (queue_.fifo) d.ordered = true;
    }

private:
    /// "0", "1", ...: unique within a batch, and valid whatever the records are.
    struct ids_view {
        std::vector<std::string> storage;
        std::vector<std::string_view> views;
    };
    static ids_view position_ids(std::size_t n) {
        ids_view ids;
        ids.storage.reserve(n);
        ids.views.reserve(n);
        for (std::size_t i = 0; i < n; ++i) ids.storage.push_back(std::to_string(i));
        for (const auto& s : ids.storage) ids.views.push_back(s);
        return ids;
    }

    std::string unique_id() {
        static constexpr char hex[] = "0123456789abcdef";
        std::string id(32, '0');
        const std::uint64_t a = rng_(), b = rng_() ^ ++id_counter_;
        for (int i = 0; i < 16; ++i) {
            id[static_cast<std::size_t>(i)] = hex[(a >> (i * 4)) & 15];
            id[static_cast<std::size_t>(16 + i)] = hex[(b >> (i * 4)) & 15];
        }
        return id;
    }

    std::string queue_url_;
    sqs_queue_options queue_;
    sqs_limits limits_;
    sqs_batch_response_parser parser_{};
    std::mt19937_64 rng_;
    std::uint64_t id_counter_ = 0;
};

static_assert(batch_service<sqs_service>);

/// The delivery engine's adapter for SQS on its own (the dispatcher builds one for itself): records
/// are entries encoded by append_sqs_entry_fields; a batch becomes one SendMessageBatch call.
class sqs_sink {
public:
    /// Sends to `queue_url` through `client` (which outlives the sink). Records come encoded, so no
    /// message is validated here: that is the caller's. A FIFO queue (a URL ending in ".fifo") makes
    /// the engine run ordered unless it orders by key (sink_limits::needs_order).
    sqs_sink(service_client& client, std::string queue_url, sqs_limits limits = {})
        : service_(queue_url, sqs_queue_options{queue_url.ends_with(".fifo"), false}, limits), sink_(client, service_) {}
    sqs_sink(const sqs_sink&) = delete;
    sqs_sink& operator=(const sqs_sink&) = delete;

    /// SQS's limits for the engine: entries, batch bytes, the largest encoded entry; order for FIFO.
    [[nodiscard]] sink_limits limits() const {
        sink_limits l = sink_.limits();
        l.needs_order = service_.fifo();
        return l;
    }
    /// True for a FIFO queue (the URL ends in ".fifo").
    [[nodiscard]] bool fifo() const noexcept { return service_.fifo(); }
    /// One SendMessageBatch call (one attempt): an outcome per entry, or one for the whole request.
    [[nodiscard]] task<batch_result> send(sink_batch batch) { return sink_.send(batch); }
    /// The same for entries without a batch key.
    [[nodiscard]] task<batch_result> send(std::span<const std::string_view> records) {
        return sink_.send(sink_batch{{}, records});
    }
    /// The queue it sends to.
    [[nodiscard]] const std::string& queue_url() const noexcept { return service_.queue_url(); }

private:
    sqs_service service_;
    batch_sink<sqs_service> sink_;
};

using sqs_receipt = batch_receipt;                  ///< how a message sent with send() fared
using sqs_dispatcher_stats = batch_dispatcher_stats; ///< the dispatcher's counters
/// Thrown by sqs_dispatcher::send() when the message was not delivered: delivery_error, whose
/// outcome says why (kind invalid: refused before sending; sent(); attempts()).
using sqs_send_error = delivery_error;

/// What an sqs_dispatcher sends to, and how.
struct sqs_dispatcher_options {
    /// The queue (required); a FIFO queue's ends in ".fifo".
    std::string queue_url;
    /// FIFO queue; by default, when the URL ends in ".fifo".
    std::optional<bool> fifo{};
    /// The queue deduplicates by content (FIFO): messages need no MessageDeduplicationId.
    bool content_based_deduplication = false;
    /// A message identical to one still pending (same body, attributes and FIFO fields) is dropped
    /// with a warning, as boto3-batch-utils does; its outcome is the pending one's.
    bool drop_duplicates = true;
    /// SQS's limits, as AWS documents them today; override when AWS changes them.
    sqs_limits limits{};
    /// Batching, buffering, retries, rate and concurrency: see default_delivery().
    std::optional<delivery_options> delivery{};
    /// Invalid messages, duplicates and final failures are logged here (never message bodies).
    const logger* log = nullptr;

    /// The engine's settings for SQS (sqs_service::standard_delivery()). Each engine attempt is one
    /// HTTP request (the engine owns attempts and backoff).
    [[nodiscard]] static delivery_options default_delivery() { return sqs_service::standard_delivery(); }
};

/// SQS's batch dispatcher, standard or FIFO (see the file comment).
class sqs_dispatcher : public batch_dispatcher<sqs_service> {
public:
    /// Runs on `loop` and sends through `client` (both outlive it); throws std::invalid_argument
    /// without a queue URL.
    sqs_dispatcher(io_loop& loop, service_client& client, const sqs_dispatcher_options& o)
        : batch_dispatcher<sqs_service>(loop, client, make_service(o), common(o)) {}

    /// True when it treats the queue as FIFO (the option, else the URL's ".fifo").
    [[nodiscard]] bool fifo() const noexcept { return service().fifo(); }
    /// The queue it sends to.
    [[nodiscard]] const std::string& queue_url() const noexcept { return service().queue_url(); }

private:
    static sqs_service make_service(const sqs_dispatcher_options& o) {
        const bool fifo = o.fifo.value_or(o.queue_url.ends_with(".fifo"));
        return sqs_service(o.queue_url, sqs_queue_options{fifo, o.content_based_deduplication}, o.limits);
    }
    static batch_dispatcher_options common(const sqs_dispatcher_options& o) {
        batch_dispatcher_options c;
        c.drop_duplicates = o.drop_duplicates;
        c.delivery = o.delivery;
        c.log = o.log;
        return c;
    }
};

} // namespace sluice::aws
