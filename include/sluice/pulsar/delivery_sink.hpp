#pragma once

// pulsar::delivery_sink: Pulsar as a sink of the delivery engine (delivery_pipeline), so a pipeline
// or a collector delivers to Pulsar with the engine's memory or disk buffer, rate limits, retries,
// dead letters and a per-record outcome:
//
//     sluice::pulsar::dynamic_producer producer(pulsar, {.producer = {.topic = "events"}});
//     sluice::pulsar::delivery_sink sink(producer);
//     sluice::delivery_pipeline<sluice::pulsar::delivery_sink> pipeline(loop, sink, options);
//     co_await pipeline.deliver(record);                        // to "events"
//     co_await pipeline.deliver(record, {.batch_key = "audit"}); // the batch key names the topic
//
// Each record is one message (its bytes the payload). A batch's records are enqueued in order on the
// topic's producer, which does Pulsar's own batching, compression and sequence ids, and each record's
// receipt or error becomes its outcome: a refused or timed-out send is retried by the engine. The
// engine's retries resend a record as a new message (at least once): Pulsar de-duplicates resends of
// one producer's connection, not the engine's.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/core/outcome.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/sink.hpp>
#include <sluice/pulsar/producer.hpp>

namespace sluice::pulsar {

/// The delivery engine's sink for Pulsar, on a dynamic_producer the caller owns (and starts and
/// closes); it must outlive the sink.
class delivery_sink {
public:
    /// `limits`: per request and per record. A record above the broker's max_message_size (5 MiB by
    /// default) is refused by the producer anyway; the default here keeps the engine from sending it.
    explicit delivery_sink(dynamic_producer& producer, sink_limits limits = default_limits()) noexcept
        : producer_(&producer), limits_(limits) {}

    /// Pulsar's defaults: 1000 messages (a producer batch) and 5 MiB per request and per record.
    [[nodiscard]] static sink_limits default_limits() noexcept {
        return {.max_batch_entries = 1000, .max_batch_bytes = 5u << 20, .max_record_bytes = 5u << 20};
    }

    /// The batch limits the engine applies before calling send().
    [[nodiscard]] sink_limits limits() const noexcept { return limits_; }

    /// Sends the batch's records to the topic its key names (the producer's default topic when the
    /// key is empty) and answers per record. Does not abandon a send on `cancel`: the producer's
    /// send_timeout bounds it.
    [[nodiscard]] task<batch_result> send(sink_batch batch) {
        std::vector<pending_send> pending;
        pending.reserve(batch.records.size());
        for (const std::string_view record : batch.records) {
            outgoing_message m;
            m.payload = std::string(record);
            if (!batch.key.empty()) m.topic = std::string(batch.key);
            pending.push_back(co_await producer_->enqueue(std::move(m)));
        }
        batch_result r;
        r.entries.reserve(pending.size());
        bool all_ok = true;
        for (auto& p : pending) {
            result<message_id> got = co_await p.wait();
            r.entries.push_back(to_outcome(got));
            all_ok = all_ok && r.entries.back().is_ok();
        }
        if (all_ok) r.entries.clear();
        co_return r;
    }

    /// A send's result as the engine's outcome: ok; a full queue throttles; a timeout, a closed
    /// producer or a broker refusal (after the producer's own retries) is retried; a message too large
    /// or invalid (no topic) is refused for good.
    [[nodiscard]] static outcome to_outcome(const result<message_id>& r) {
        if (r.is_ok()) return outcome::ok();
        const auto& e = r.get_error();
        producer_error::kind k = producer_error::kind::broker;
        try {
            if (e.exception) std::rethrow_exception(e.exception);
        } catch (const producer_error& pe) {
            k = pe.reason();
        } catch (...) {
        }
        switch (k) {
        case producer_error::kind::queue_full: return outcome::throttle(e.message);
        case producer_error::kind::too_large: return outcome::make(outcome_kind::invalid, e.message);
        case producer_error::kind::invalid: return outcome::reject(e.message);
        case producer_error::kind::timeout:
        case producer_error::kind::broker:
        case producer_error::kind::closed: break;
        }
        return outcome::retry(e.message);
    }

private:
    dynamic_producer* producer_;
    sink_limits limits_;
};

static_assert(sink_adapter<delivery_sink>);

} // namespace sluice::pulsar
