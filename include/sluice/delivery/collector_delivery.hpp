#pragma once

// delivering_processor: a collector's processor that hands each payload to a delivery pipeline and
// answers with the record's acknowledgement, the acknowledged path of
//
//   publisher -> queue -> collector -> delivery_pipeline::submit -> batch -> sink -> result_list
//
// without a coroutine frame per record: the processor is deferred (queue/processor.hpp), it calls
// submit() inline on the consumer, and the pipeline's callback answers the payload. The consumer never
// waits for the acknowledgement, so what is in flight is bounded by the queue's capacity and the
// pipeline's buffer (under when_full::block a record that finds the buffer full waits inside the
// engine), not by max_consumers. Give the queue a capacity (queue_options::capacity; 0, the default,
// bounds nothing) so that a publisher faster than the sink meets backpressure instead of memory growth.

#include <concepts>
#include <string>
#include <type_traits>
#include <utility>

#include <sluice/core/outcome.hpp>
#include <sluice/core/result.hpp>
#include <sluice/delivery/options.hpp>
#include <sluice/queue/collector.hpp>
#include <sluice/queue/payload.hpp>
#include <sluice/queue/processor.hpp>

namespace sluice {

/// The receipt for a successful outcome (ok or persisted), or the Error carrying a failed one (its
/// details() say kind, attempts, whether it was sent, the service's codes).
[[nodiscard]] inline result<delivery_receipt> receipt_of(const outcome& o) {
    if (o.kind == outcome_kind::ok || o.kind == outcome_kind::persisted)
        return result<delivery_receipt>::ok(delivery_receipt{o.attempts, o.kind == outcome_kind::persisted});
    return result<delivery_receipt>::failure(error::from_outcome({}, o));
}

/// A processor for collector<T, delivery_receipt> that makes each payload's record with `encode`
/// (`std::string(const payload<T>&)`) and submits it to `pipeline` (a delivery_pipeline, which must
/// outlive the queue's stop); the payload's result is the receipt, or an Error whose details() is the
/// outcome. A refusal before the record enters (too large, pipeline stopped, a full buffer under
/// drop_newest) answers at once. What `encode` throws is that payload's Error.
template <class T, class Pipeline, class Encode>
    requires std::convertible_to<std::invoke_result_t<Encode&, const payload<T>&>, std::string>
[[nodiscard]] processor_fn<T, delivery_receipt> delivering_processor(Pipeline& pipeline, Encode encode) {
    return [&pipeline, encode = std::move(encode)](const payload<T>& p, collector_context&,
                                                   processor_answer<delivery_receipt> answer) mutable {
        pipeline.submit(std::string(encode(p)), record_options{},
                        [answer](const outcome& o) { answer(receipt_of(o)); });
    };
}

} // namespace sluice
