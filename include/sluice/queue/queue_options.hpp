#pragma once

// The knobs and the figures of a collector_queue: its options, its counters, what stop() reports and the
// error thrown on misuse of its life cycle.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sluice/core/result.hpp>

namespace sluice {

class logger;
class metrics_registry;

/// The order in which a backlog is taken: oldest first, newest first, or lowest priority value first
/// (ties in arrival order).
enum class queue_discipline { fifo, lifo, priority };

/// How a collector_queue runs. Every field has a default that works; see the README's queue section.
struct queue_options {
    /// Consumers kept alive even when idle (at least 1 once started is typical; 0 is allowed).
    std::size_t min_consumers = 1;
    /// Upper bound on concurrent consumers: on payloads whose processors are working at once. A call
    /// that released its consumer (collector_context::release_consumer) no longer counts.
    std::size_t max_consumers = 4;
    /// Priority of payloads that set none (priority queues only; lower runs first).
    int default_priority = 0;
    /// Most payloads accepted and not yet answered (waiting, being processed, or awaiting an
    /// acknowledgement after releasing their consumer); 0 means unbounded. When reached, send()
    /// suspends and try_send() refuses.
    std::size_t capacity = 0;
    /// A consumer above min_consumers that waited this long for work retires.
    std::chrono::milliseconds idle_timeout{1000};
    /// After stop's grace period has passed and the stop tokens fired, how long processors still
    /// running get to return before their payloads are answered "abandoned" and stop() returns
    /// without them.
    std::chrono::milliseconds abandon_after{1000};
    /// Called on the loop thread for each Error no caller will see (fire-and-forget payloads, payloads
    /// refused because the queue was not started or had stopped, processors finishing after stop
    /// abandoned them), so failures are never silent. Default: counted only.
    std::function<void(const error&)> on_unobserved_error{};
    /// Where to publish this queue's metrics, labelled name=`name`; none if null.
    metrics_registry* metrics = nullptr;
    /// Where to log (warn) the Errors no caller will see; none if null. Payloads are never logged.
    const logger* log = nullptr;
    /// Labels metrics and logs.
    std::string name = "queue";
};

/// Counters and gauges of one queue. Counters only grow.
struct queue_stats {
    std::uint64_t accepted = 0;   ///< payloads taken in by send/publish
    std::uint64_t rejected = 0;   ///< refused: full (try_send/try_publish), not started, or stopped
    std::uint64_t processed = 0;  ///< payloads fully handled (all collectors reported)
    std::uint64_t deliveries = 0; ///< collector invocations
    std::uint64_t failed = 0;     ///< Error results (processor threw or answered Error, setup failed)
    std::uint64_t unrouted = 0;   ///< keys and topics that matched no collector (a payload matching
                                  ///< none counts once and resolves as an empty Ok)
    std::uint64_t cancelled = 0;  ///< payloads answered "cancelled" at stop (never started)
    std::uint64_t abandoned = 0;  ///< payloads answered "abandoned" at stop (a processor was still running)
    std::uint64_t completed_late = 0; ///< abandoned calls that finished afterwards with Ok
    std::uint64_t failed_late = 0;    ///< abandoned calls that finished afterwards with an Error
    std::size_t pending = 0;      ///< waiting in the queue now
    std::size_t in_flight = 0;    ///< being processed now (including calls that released their consumer)
    std::size_t consumers = 0;    ///< consumer coroutines alive now
    /// Consumers waiting for a payload.
    std::size_t idle_consumers = 0;
    /// The most consumers alive at once (sizing max_consumers).
    std::size_t peak_consumers = 0;
};

/// What stop() reports.
struct stop_report {
    /// True when everything accepted was processed before the deadline.
    bool drained = true;
    /// Payloads answered Error "cancelled" (code operation_canceled) because the deadline passed
    /// before they started: not done, safe to send again.
    std::uint64_t cancelled = 0;
    /// Payloads answered "abandoned" (code operation_in_progress) because a processor was still
    /// running abandon_after past the deadline: it may still complete (see queue_stats::completed_late).
    std::uint64_t abandoned = 0;
    /// Failures of teardown coroutines, one per collector that failed. A collector with an abandoned
    /// call is torn down when that call returns; its failure then goes to on_unobserved_error.
    std::vector<error> teardown_errors;
};

/// Thrown by start() when called twice or after stop.
class queue_state_error : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

} // namespace sluice
