#pragma once

// The consumer as a collector queue's source (the operators approach): each message is deserialized
// by a serde into a record, sent to the queue, and its result_list decides its fate: all Ok
// acknowledges it, any Error negatively acknowledges it, so it is redelivered and, past the
// dead-letter policy's count, produced to the dead-letter topic. A message that does not
// deserialize (or arrived corrupt) reaches the collectors as a record whose value is an Error, next
// to the raw message: the error stream, routed like any other failure.
//
//     #include <sluice/pulsar/json_serde.hpp>   // json_serde (the other serdes are in serdes.hpp)
//     auto publisher = queue.get_publisher();
//     source_options<json_value> options;   // named: GCC 12 mishandles braced temporaries in co_await
//     options.stop = token;
//     auto stats = co_await run_source(consumer, queue.get_publisher(), json_serde{}, options);

#include <cstddef>
#include <functional>
#include <stop_token>
#include <utility>

#include <sluice/core/async_scope.hpp>
#include <sluice/core/semaphore.hpp>
#include <sluice/pulsar/consumer.hpp>
#include <sluice/pulsar/serdes.hpp>
#include <sluice/queue/payload.hpp>

namespace sluice::pulsar {

/// A consumed message and its deserialized value (an Error when it did not deserialize).
template <class T>
struct record {
    /// The message as received.
    received_message message;
    /// Its value, or why it did not deserialize.
    result<T> value;
};

/// How run_source() feeds a queue.
template <class T>
struct source_options {
    /// Messages sent to the queue and not yet settled (acked or nacked).
    std::size_t max_in_flight = 64;
    /// Stops receiving; what is in flight is still settled before run_source() returns.
    std::stop_token stop{};
    /// Builds the payload (routing); default: broadcast to every collector.
    std::function<payload<record<T>>(record<T>&&)> route{};
};

/// Counters of one run_source() call.
struct source_stats {
    /// Messages received.
    std::size_t received = 0;
    /// Acknowledged (every collector reported Ok).
    std::size_t acked = 0;
    /// Negatively acknowledged (redelivered later, or dead-lettered).
    std::size_t nacked = 0;
    std::size_t undecodable = 0; ///< deserialization errors (and corrupt messages) sent on as Errors
};

namespace detail {
template <class Event>
task<void> settle(consumer& c, Event ev, message_id id, async_semaphore& window, source_stats& stats) {
    const auto& results = co_await ev.wait();
    if (results.all_ok()) {
        c.acknowledge(id);
        ++stats.acked;
    } else {
        c.negative_acknowledge(id);
        ++stats.nacked;
    }
    window.release();
}
} // namespace detail

/// Receives from `c` until `options.stop` fires or the consumer closes, sending each message to the
/// queue through `publisher` and settling it by its results. Returns once everything sent is settled.
template <serde S, class Publisher>
task<source_stats> run_source(consumer& c, Publisher publisher, S serde, source_options<typename S::value_type> options) {
    using T = typename S::value_type;
    source_stats stats;
    async_semaphore window(static_cast<std::ptrdiff_t>(std::max<std::size_t>(1, options.max_in_flight)));
    async_scope settling;
    try {
        for (;;) {
            co_await window.acquire(options.stop);
            received_message m;
            try {
                m = co_await c.receive(options.stop);
            } catch (...) {
                window.release();
                throw;
            }
            ++stats.received;
            const message_id id = m.id;
            result<T> value; // built in plain statements: GCC 12 mishandles temporaries near co_await
            if (m.corrupt) {
                error e;
                e.source = "pulsar";
                e.message = "unreadable message: " + *m.corrupt;
                value = result<T>::failure(std::move(e));
            } else {
                value = serde.deserialize(m.payload);
            }
            if (value.is_error()) ++stats.undecodable;
            record<T> rec{std::move(m), std::move(value)};
            payload<record<T>> p;
            if (options.route)
                p = options.route(std::move(rec));
            else
                p = payload<record<T>>::broadcast(std::move(rec));
            auto ev = co_await publisher.send(std::move(p));
            settling.spawn(detail::settle(c, std::move(ev), id, window, stats));
        }
    } catch (const operation_cancelled&) {
    } catch (const consumer_closed&) {
    }
    co_await settling.join();
    co_return stats;
}

} // namespace sluice::pulsar
