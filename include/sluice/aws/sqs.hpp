#pragma once

// SQS batch dispatchers, standard and FIFO: submit messages, they go out in SendMessageBatch requests
// of up to 10 entries (and 1 MiB), signed, retried, and what could not be sent comes back from
// flush() with the reason, as boto3-batch-utils does for Python, but asynchronous.
//
//   submit(message) -> validate (SQS's rules: size, characters, ids, FIFO fields) -> encode the
//   entry once (JSON) -> delivery_pipeline<sqs_sink> (batching by count, bytes and age; memory or
//   disk buffer; per-entry retries of partial failures; rate and concurrency limits) -> sqs_sink
//   (SendMessageBatch through service_client: SigV4, standard retry mode) -> per entry ok / retry /
//   reject -> the message's outcome (send()) or the unprocessed list (flush()).
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

#include <sluice/aws/service_client.hpp>
#include <sluice/aws/sqs_protocol.hpp>
#include <sluice/core/sync_wait.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/pipeline.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/log.hpp>
#include <sluice/queue/collector.hpp>

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sluice::aws {

/// The delivery engine's adapter for SQS: records are entries already encoded by
/// append_sqs_entry_fields; a batch becomes one SendMessageBatch call.
class sqs_sink {
public:
    sqs_sink(service_client& client, std::string queue_url, sqs_limits limits = {})
        : client_(&client), queue_url_(std::move(queue_url)), limits_(limits) {}

    /// Records are JSON-encoded entries, at least as large as what SQS counts, so batching by their
    /// size never exceeds the batch limit (it may close a batch a little early). A single record is
    /// bounded by validation before encoding, not here: escaping can make it several times larger.
    [[nodiscard]] sink_limits limits() const noexcept {
        return {limits_.max_batch_entries, limits_.max_batch_bytes, limits_.max_message_bytes * 6 + 4096};
    }

    [[nodiscard]] task<batch_result> send(std::span<const std::string_view> batch) {
        const auto ids = ids_for(batch.size());
        std::string body;
        std::size_t size = queue_url_.size() + 64;
        for (auto record : batch) size += record.size() + 16;
        body.reserve(size);
        append_send_message_batch_encoded(body, queue_url_, ids, batch);
        auto out = co_await client_->call_json(sqs_send_message_batch_target, body, sqs_json_content_type);
        if (!out.ok()) co_return batch_result::failed(out.failure.to_entry_result());
        co_return parser_.parse(out.response->body, ids);
    }

    [[nodiscard]] const std::string& queue_url() const noexcept { return queue_url_; }

private:
    // Entry ids are positions in the batch: unique within it, and valid whatever the records are.
    std::span<const std::string_view> ids_for(std::size_t n) {
        while (id_views_.size() < n) {
            id_storage_.push_back(std::make_unique<std::string>(std::to_string(id_storage_.size())));
            id_views_.push_back(*id_storage_.back());
        }
        return {id_views_.data(), n};
    }

    service_client* client_;
    std::string queue_url_;
    sqs_limits limits_;
    sqs_batch_response_parser parser_{};
    std::vector<std::unique_ptr<std::string>> id_storage_{};
    std::vector<std::string_view> id_views_{};
};

/// A message that was not sent, or not accepted, and why.
struct sqs_unprocessed {
    sqs_message message;
    std::string reason;
    /// False when it was refused before sending (invalid: too large, bad characters...).
    bool sent = false;
    /// Requests that carried it.
    unsigned attempts = 0;
    /// The whole outcome: kind, the service's error code and request id, dead-lettered.
    outcome details{};
};

/// Thrown by sqs_dispatcher::send() when the message was not delivered: the engine's delivery_error,
/// whose outcome says why (invalid: refused before sending; sent(); attempts()).
using sqs_send_error = delivery_error;

struct sqs_receipt {
    unsigned attempts = 0;
    /// True when another message with the same content was pending and this one was folded into it.
    bool duplicate = false;
};

struct sqs_dispatcher_options {
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

    /// The engine's settings for SQS: batches of 10 sealed after 50 ms, 16 requests in flight
    /// (ordered, one at a time, for FIFO), 5 attempts per entry with backoff from 100 ms to 20 s.
    /// Each attempt is itself a call with the AWS standard retry mode (service_client).
    [[nodiscard]] static delivery_options default_delivery() {
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
};

struct sqs_dispatcher_stats {
    std::uint64_t submitted = 0;  ///< submit() and send() calls
    std::uint64_t invalid = 0;    ///< refused before sending
    std::uint64_t duplicates = 0; ///< dropped as duplicates of a pending message
    std::uint64_t delivered = 0;
    std::uint64_t failed = 0;     ///< sent, but finally not accepted
    std::size_t pending = 0;      ///< submitted, outcome not known yet
};

class sqs_dispatcher {
public:
    sqs_dispatcher(io_loop& loop, service_client& client, sqs_dispatcher_options options)
        : loop_(&loop),
          options_(std::move(options)),
          queue_{options_.fifo.value_or(options_.queue_url.ends_with(".fifo")), options_.content_based_deduplication},
          sink_(client, options_.queue_url, options_.limits),
          pipeline_(loop, sink_, effective_delivery(options_, queue_.fifo)),
          rng_(std::random_device{}()) {
        if (options_.queue_url.empty()) throw std::invalid_argument("sluice: sqs_dispatcher needs a queue URL");
    }

    sqs_dispatcher(const sqs_dispatcher&) = delete;
    sqs_dispatcher& operator=(const sqs_dispatcher&) = delete;

    [[nodiscard]] bool fifo() const noexcept { return queue_.fifo; }
    [[nodiscard]] const std::string& queue_url() const noexcept { return options_.queue_url; }
    [[nodiscard]] delivery_pipeline<sqs_sink>& pipeline() noexcept { return pipeline_; }

    /// Opens the disk buffer when one is configured. Call once on the loop before submitting.
    [[nodiscard]] task<void> start() { return pipeline_.start(); }

    /// Queues `m` and returns at once; batches go out when full (10 entries), when old enough, or at
    /// flush(). An invalid message is never sent: it comes back from the next flush() with the reason.
    /// Any thread (it hops onto the loop).
    void submit(sqs_message m) {
        if (!loop_->in_loop_thread()) {
            auto shared = std::make_shared<sqs_message>(std::move(m));
            loop_->call_soon([this, shared] { submit(std::move(*shared)); });
            return;
        }
        ++stats_.submitted;
        auto admitted = admit(m);
        if (!admitted.entry) {
            outcome why = outcome::make(outcome_kind::invalid, admitted.invalid);
            unprocessed_.push_back(sqs_unprocessed{std::move(m), std::move(admitted.invalid), false, 0, std::move(why)});
            return;
        }
        if (admitted.duplicate) return;
        ++outstanding_;
        loop_->spawn(run(admitted.entry, std::make_unique<sqs_message>(std::move(m))));
    }

    /// Queues `m` and completes when SQS accepted it; throws sqs_send_error when it was refused as
    /// invalid (at once) or finally failed. Any thread (it continues on the loop). Not reported again
    /// by flush().
    [[nodiscard]] task<sqs_receipt> send(sqs_message m) {
        if (!loop_->in_loop_thread()) co_await loop_->schedule();
        ++stats_.submitted;
        auto admitted = admit(m);
        if (!admitted.entry) throw delivery_error(outcome::make(outcome_kind::invalid, admitted.invalid));
        std::shared_ptr<pending> p = admitted.entry;
        if (!admitted.duplicate) {
            ++outstanding_;
            loop_->spawn(run(p, nullptr));
        }
        co_await done_awaiter{p.get()};
        if (!p->ok) {
            outcome failure = p->failure;
            throw delivery_error(std::move(failure));
        }
        co_return sqs_receipt{p->attempts, admitted.duplicate};
    }

    /// Sends everything submitted so far and waits for the outcomes; returns what was not sent or not
    /// accepted since the previous flush(), each with its reason. Call on the loop.
    [[nodiscard]] task<std::vector<sqs_unprocessed>> flush() {
        co_await pipeline_.flush();
        while (outstanding_ != 0) {
            co_await loop_->schedule(); // lets submitted messages reach the pipeline, finished ones report
            co_await pipeline_.flush();
        }
        co_return std::exchange(unprocessed_, {});
    }

    /// flush() for a thread that is not the loop's (the loop must be running elsewhere).
    [[nodiscard]] std::vector<sqs_unprocessed> flush_blocking() {
        if (loop_->in_loop_thread())
            throw std::logic_error("sluice: sqs_dispatcher::flush_blocking() on the loop's thread would wait forever; co_await flush()");
        auto on_loop = [this]() -> task<std::vector<sqs_unprocessed>> {
            co_await loop_->schedule();
            co_return co_await flush();
        };
        return sync_wait(on_loop());
    }

    /// Stops accepting, delivers what it can within `grace`; whatever is left ends unprocessed (or
    /// stays in the disk buffer, when there is one). Call flush() afterwards to collect it.
    [[nodiscard]] task<delivery_report> stop(std::chrono::steady_clock::duration grace = std::chrono::seconds(5)) {
        auto report = co_await pipeline_.stop(grace);
        while (outstanding_ != 0) co_await loop_->schedule();
        co_return report;
    }

    [[nodiscard]] sqs_dispatcher_stats stats() const noexcept {
        sqs_dispatcher_stats s = stats_;
        s.pending = outstanding_;
        return s;
    }

    /// A collector processor sending each payload as one message: `send` on the collector queue then
    /// resolves with that message's SQS outcome (Ok, or an Error with the reason).
    template <class T>
    [[nodiscard]] typename collector<T>::processor_type processor(std::function<sqs_message(const payload<T>&)> to_message) {
        return [this, to_message = std::move(to_message)](const payload<T>& p, collector_context&) -> task<void> {
            sqs_message m = to_message(p);
            co_await send(std::move(m));
        };
    }

private:
    struct pending {
        std::string entry; // the encoded entry (key of the duplicate check)
        bool done = false;
        bool ok = false;
        unsigned attempts = 0;
        outcome failure;
        std::vector<std::coroutine_handle<>> waiters;
    };

    struct admission {
        std::shared_ptr<pending> entry;
        bool duplicate = false;
        std::string invalid;
    };

    struct done_awaiter {
        pending* p;
        bool await_ready() const noexcept { return p->done; }
        void await_suspend(std::coroutine_handle<> h) { p->waiters.push_back(h); }
        void await_resume() const noexcept {}
    };

    static delivery_options effective_delivery(const sqs_dispatcher_options& o, bool fifo) {
        delivery_options d = o.delivery ? *o.delivery : sqs_dispatcher_options::default_delivery();
        if (d.log == nullptr) d.log = o.log;
        if (fifo) d.ordered = true;
        return d;
    }

    // Validates (FIFO deduplication id filled in first), encodes, and checks for a pending twin.
    admission admit(sqs_message& m) {
        admission out;
        if (queue_.fifo && m.deduplication_id.empty() && !queue_.content_based_deduplication)
            m.deduplication_id = unique_id();
        auto check = validate_sqs_message(m, queue_, options_.limits);
        if (!check.ok()) {
            ++stats_.invalid;
            out.invalid = options_.queue_url + ": message not sent: " + check.reason;
            if (options_.log)
                options_.log->warn("sqs", "invalid message not sent",
                                   {field::plain("queue", options_.queue_url), field::plain("reason", check.reason)});
            return out;
        }
        auto p = std::make_shared<pending>();
        p->entry.reserve(sqs_entry_fields_size(m));
        append_sqs_entry_fields(p->entry, m);
        if (options_.drop_duplicates) {
            auto it = pending_.find(std::string_view(p->entry));
            if (it != pending_.end()) {
                ++stats_.duplicates;
                if (options_.log)
                    options_.log->warn("sqs", "duplicate of a pending message dropped",
                                       {field::plain("queue", options_.queue_url)});
                out.entry = it->second;
                out.duplicate = true;
                return out;
            }
            pending_.emplace(std::string_view(p->entry), p);
        }
        out.entry = std::move(p);
        return out;
    }

    // One message through the pipeline; `message` is kept for the unprocessed list (submit()).
    task<void> run(std::shared_ptr<pending> p, std::unique_ptr<sqs_message> message) {
        // The entry stays behind as the duplicate check's key only when there is such a check.
        std::string record;
        if (options_.drop_duplicates)
            record = p->entry;
        else
            record = std::move(p->entry);
        try {
            const delivery_receipt receipt = co_await pipeline_.deliver(std::move(record));
            p->ok = true;
            p->attempts = receipt.attempts;
        } catch (const delivery_error& e) {
            p->failure = e.details();
            p->attempts = e.attempts();
        } catch (const std::exception& e) {
            p->failure = outcome::make(outcome_kind::invalid, e.what());
        }
        if (p->ok) {
            ++stats_.delivered;
        } else {
            ++stats_.failed;
            if (message)
                unprocessed_.push_back(
                    sqs_unprocessed{std::move(*message), p->failure.message, p->failure.sent, p->attempts, p->failure});
        }
        if (options_.drop_duplicates) {
            auto it = pending_.find(std::string_view(p->entry));
            if (it != pending_.end() && it->second == p) pending_.erase(it);
        }
        p->done = true;
        for (auto h : std::exchange(p->waiters, {})) loop_->post(h);
        --outstanding_;
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

    io_loop* loop_;
    sqs_dispatcher_options options_;
    sqs_queue_options queue_;
    sqs_sink sink_;
    delivery_pipeline<sqs_sink> pipeline_;
    std::unordered_map<std::string_view, std::shared_ptr<pending>> pending_{};
    std::vector<sqs_unprocessed> unprocessed_{};
    std::size_t outstanding_ = 0;
    sqs_dispatcher_stats stats_{};
    std::mt19937_64 rng_;
    std::uint64_t id_counter_ = 0;
};

} // namespace sluice::aws
